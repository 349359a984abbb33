#!/usr/bin/env python
"""Patience and promptness of the offline brain's turn-taking on synthetic speech (issue 14 probe).

Run from the repository root: `PYTHONPATH=src .venv/bin/python scripts/probe_turns.py [PAUSE_MS]` (a few minutes).
The Listener alone, fixed silence (300 ms) against the end-of-turn model; see docs/benchmarks.md.
"""
import sys

import numpy as np

sys.path.insert(0, "tests")  # the speech helpers of the tests
from helpers_listen import RATE, espeak, flite, silence  # noqa: E402
from livehuman.brain.base import TurnDetection
from livehuman.brain.knowledge import load_knowledge
from livehuman.brain.listener import Listener, SpeechBegan, SpeechEnded
from livehuman.brain.recognizer import knowledge_asr
from livehuman.brain.turn_end import PAUSE_MS, ModelTurns
from livehuman.speech.end_of_turn import EndOfTurnModel

asr = knowledge_asr(load_knowledge(None), None, second_pass=False)
turns = ModelTurns(EndOfTurnModel(), pause_ms=int(sys.argv[1]) if len(sys.argv) > 1 else PAUSE_MS)  # optional: the pause, ms
VOICES = [("en-us", 160), ("en-gb", 140), ("en-us", 200), ("en-us+f3", 170), ("flite", 0)]
PAUSED = [("I would like to book a", "table for two"), ("Can you tell me about the", "price of the pro plan"),
          ("What is the price of", "the pro plan?"), ("I want to know if", "it runs offline."),
          ("How does it work with", "a webcam?")]
DONE = ["What is livehuman?", "Is it free?", "How much does it cost?", "Tell me about your price.", "What can you do?"]
PAUSES = [0.5, 0.7, 0.9]

def say(text, v, s):
    a = flite(text) if v == "flite" else espeak(text, v, s)
    loud = np.flatnonzero(np.abs(a) > 0.01)
    return a[loud[0]: loud[-1] + 1]

def run(audio, model):
    lis = Listener(lambda: asr, None, TurnDetection(silence_duration_ms=300), pause_ms=150,
                   model_turns=turns if model else None)
    ends = []
    for i in range(0, len(audio), 320):
        for e in lis.hear(audio[i:i + 320]):
            if isinstance(e, SpeechBegan):
                lis.begin(e.audio)
            if isinstance(e, SpeechEnded):
                ends.append((e.end_ms, lis.heard_ms))
                lis.finish()
    return ends, lis.verdicts

cut = {False: 0, True: 0}; n = 0
for v, s in VOICES:
    for k, (a, b) in enumerate(PAUSED):
        p = PAUSES[(k + len(v)) % 3]
        first, second = say(a, v, s), say(b, v, s)
        audio = np.concatenate([silence(0.5), first, silence(p), second, silence(2.6)])
        resume_ms = (0.5 + len(first) / RATE + p) * 1000
        n += 1
        for model in (False, True):
            ends, _ = run(audio, model)
            cut[model] += bool(ends and ends[0][0] < resume_ms)
    print(v, s, "pauses so far", n, cut, flush=True)
prompt = 0; late = []; m = 0
for v, s in VOICES:
    for text in DONE:
        sp = say(text, v, s)
        audio = np.concatenate([silence(0.5), sp, silence(2.6)])
        ends, verdicts = run(audio, True)
        m += 1
        wait = ends[0][1] - (0.5 + len(sp) / RATE) * 1000 if ends else None
        prompt += bool(verdicts and verdicts[0])
        late.append(wait)
    print(v, s, "done so far", m, prompt, flush=True)
print(f"paused questions cut during the pause: vad(300 ms) {cut[False]}/{n}, model {cut[True]}/{n}")
print(f"completed questions ended at the first pause (model): {prompt}/{m}; audio heard past the speech when the turn ended (ms): {sorted(int(w) for w in late if w is not None)}")
