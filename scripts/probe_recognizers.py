#!/usr/bin/env python
"""How late the final transcript comes when sessions speak at once: recognizers in threads of the
server's process (as before) against a process each (brain/recognizer.py ProcessASR). Issue 14.

Run from the repository root: `PYTHONPATH=src .venv/bin/python scripts/probe_recognizers.py [ROUNDS]`.
N sessions (1, then 4) each feed a spoken question to a Listener (fixed 300 ms silence, the
recognizer `livehuman serve` uses) in 20 ms chunks at real-time pace, all starting together; for each
session: time from its last sample of speech to its final transcript. See docs/benchmarks.md.
"""
import sys
import threading
import time

import numpy as np

from livehuman.brain.base import TurnDetection
from livehuman.brain.knowledge import load_knowledge
from livehuman.brain.listener import Listener, SpeechBegan, SpeechEnded
from livehuman.brain.recognizer import knowledge_asr, process_asr
from livehuman.speech.audio import resample
from livehuman.speech.espeak import EspeakTTS

RATE = 16000
QUESTIONS = [("How much does it cost?", "en-us"), ("What is livehuman?", "en-gb"), ("Can I run it offline?", "en-us+f3"),
             ("Tell me about your price.", "en-us+m3")]


def question(text, voice):
    a = resample(EspeakTTS(voice).synthesize(text).audio, RATE).samples.astype(np.float32)
    loud = np.flatnonzero(np.abs(a) > 0.01)
    return np.concatenate([np.zeros(RATE // 2, np.float32), a[loud[0]:loud[-1] + 1], np.zeros(RATE, np.float32)]), \
        RATE // 2 + loud[-1] - loud[0] + 1


def session(asr, audio, speech_end, start, out):
    listener = Listener(lambda: asr, None, TurnDetection(silence_duration_ms=300))
    for i in range(0, len(audio), 320):
        time.sleep(max(0.0, start + i / RATE - time.monotonic()))  # real time
        for e in listener.hear(audio[i:i + 320]):
            if isinstance(e, SpeechBegan):
                listener.begin(e.audio)
            elif isinstance(e, SpeechEnded):
                text = listener.finish()
                out.append((time.monotonic() - (start + speech_end / RATE), text))
                return


def main(rounds=2):
    knowledge = load_knowledge(None)
    makers = {"threads": lambda: knowledge_asr(knowledge, None, second_pass=False),
              "processes": lambda: process_asr(knowledge, None, second_pass=False)}
    spoken = [question(*q) for q in QUESTIONS]
    for name, make in makers.items():
        recognizers = [make() for _ in range(len(spoken))]
        for n in (1, len(spoken)):
            delays = []
            for _ in range(int(rounds)):
                out, start = [], time.monotonic() + 0.2
                threads = [threading.Thread(target=session, args=(recognizers[k], *spoken[k], start, out)) for k in range(n)]
                for t in threads:
                    t.start()
                for t in threads:
                    t.join()
                delays += [d for d, _ in out]
            print(f"{name}, {n} at once: final transcript {1000 * np.median(delays):.0f} ms (median), "
                  f"{1000 * max(delays):.0f} ms (max) after the end of speech; {[t for _, t in out]}", flush=True)
        for r in recognizers:
            getattr(r, "close", lambda: None)()


if __name__ == "__main__":
    main(*sys.argv[1:])
