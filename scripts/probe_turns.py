#!/usr/bin/env python
"""Patience and promptness of the offline brain's turn-taking on synthetic speech (issue 14 probe).

Run from the repository root: `PYTHONPATH=src .venv/bin/python scripts/probe_turns.py [train|held-out] [cut|two] [VOICES]`
(VOICES: only the first so many voices of the set; the whole set takes ~10 min on a quiet 2-core machine).
The real Listener, fed 20 ms chunks, with the recognizer `livehuman serve` uses, fixed silence (300 ms)
against model turn-taking (brain/turn_end.py). Paused questions: a sentence cut where a prefix's last
sound ends ("cut": one espeak-ng/flite sentence, so the voice carries on as mid-sentence) or the two
halves said as separate utterances ("two"), 500–900 ms of silence between. Completed questions: the
whole sentence. Prints, for `vad`, `model`, `model` with a 300 ms unsure silence and `auto`: paused questions whose turn ended in
the pause, and how long completed ones waited from the end of their speech to the end of the turn. Each question
follows a greeting in the same voice (since session 21: auto mode needs a turn long enough to tell whose voice it is). The turn_end constants were chosen on
the "train" voices; report the "held-out" ones. See docs/benchmarks.md.
"""
import sys

import numpy as np

from livehuman.brain.base import TurnDetection
from livehuman.brain.knowledge import load_knowledge
from livehuman.brain.listener import Listener, SpeechBegan, SpeechEnded
from livehuman.brain.recognizer import knowledge_asr
from livehuman.brain.turn_end import ModelTurns
from livehuman.speech.audio import resample
from livehuman.speech.end_of_turn import EndOfTurnModel
from livehuman.speech.espeak import EspeakTTS
from livehuman.speech.festival import festival_speech
from livehuman.speech.flite import flite_speech

RATE = 16000
VOICES = {  # ("espeak", voice, words per minute, pitch), ("flite", voice) or ("festival", voice, stretch, pitch)
    "train": [("espeak", "en-us", 160, 50), ("espeak", "en-gb", 140, 50), ("espeak", "en-us", 200, 50),
              ("espeak", "en-us+f3", 170, 60), ("espeak", "en-us+m3", 150, 40), ("flite", "slt"), ("flite", "rms")],
    "held-out": [("espeak", "en-029", 180, 45), ("flite", "kal16"), ("espeak", "en-gb-scotland", 150, 50), ("espeak", "en-gb-x-rp+f2", 165, 70),
                 ("espeak", "en-us+Andrea", 175, 55), ("espeak", "en-us", 130, 30), ("flite", "awb")],
    # festival's diphone voices: a person's recorded diphones (nothing was tuned on them)
    "diphone": [("festival", "ked", 1.0, None), ("festival", "kal", 1.0, None), ("festival", "ked", 1.2, 95),
                ("festival", "kal", 0.8, 200), ("festival", "ked", 0.9, 130), ("festival", "kal", 1.1, 90)],
}
PAUSED = [("I'd like to book", "a table for two."), ("What is", "livehuman?"), ("Can you tell me about the", "price of the pro plan?"),
          ("I would like to know", "how much it costs."), ("How does it work with", "a webcam?"), ("Does it run on", "my laptop?"),
          ("What happens if", "I lose my connection?"), ("Could you explain", "how the avatar moves?"), ("My name is", "Sam."),
          ("I want to", "try the demo."), ("Is there a way to", "change the voice?"), ("Tell me", "about the pricing."),
          ("What is the price of", "the pro plan?"), ("I want to know if", "it runs offline."), ("So, um,", "is it free?")]
DONE = ["What is livehuman?", "Is it free?", "How much does it cost?", "Tell me about your price.", "What can you do?",
        "Can I run it offline?", "Who made you?", "How does it work?", "Thank you.", "Hello.", "Does it work on a phone?",
        "What languages do you speak?", "I would like to book a table for two.", "My name is Sam."]
PAUSES = [0.5, 0.6, 0.7, 0.8, 0.9]
GREETING = "Good morning, I have a question for you."


def speech(text, voice, rise_st=0.0):
    """16 kHz audio from its first to its last loud sample, and its phones' ends (s, same origin);
    festival's voices may end rising by `rise_st` semitones."""
    if voice[0] == "festival":
        s = festival_speech(text, *voice[1:], rise_st=rise_st)
    elif voice[0] == "flite":
        s = flite_speech(text, voice[1])
    else:
        s = EspeakTTS(*voice[1:]).synthesize(text)
    a = resample(s.audio, RATE).samples.astype(np.float32)
    loud = np.flatnonzero(np.abs(a) > 0.01)
    return a[loud[0]:loud[-1] + 1], [p.end - loud[0] / RATE for p in s.phones]


def halves(prefix, rest, voice, style):
    if style == "two":
        return speech(prefix, voice)[0], speech(rest, voice)[0]
    whole, ends = speech(f"{prefix} {rest}", voice)
    k = int(round(ends[len(speech(prefix, voice)[1]) - 1] * RATE))
    return whole[:k], whole[k:]


def silence(s):
    return np.zeros(int(s * RATE), np.float32)


def turn_ends(audio, turns, asr, after_ms=0):
    """(end of speech, audio heard when the turn ended), ms, for each turn the Listener ended after `after_ms`."""
    listener = Listener(lambda: asr, None, TurnDetection(silence_duration_ms=300), pause_ms=150, model_turns=turns)
    ends = []
    for i in range(0, len(audio), 320):
        for e in listener.hear(audio[i:i + 320]):
            if isinstance(e, SpeechBegan):
                listener.begin(e.audio)
            elif isinstance(e, SpeechEnded):
                if e.end_ms > after_ms:
                    ends.append((e.end_ms, listener.heard_ms))
                listener.finish()
    return ends


def main(which="held-out", style="cut", first_voices=None):
    asr = knowledge_asr(load_knowledge(None), None, second_pass=False)
    model = EndOfTurnModel()
    modes = {"vad": None, "model": ModelTurns(model), "model-unsure300": ModelTurns(model, unsure_ms=300),
             "auto": ModelTurns(model, people_only=True)}
    cut = {m: 0 for m in modes}
    waits = {m: [] for m in modes}
    n = 0
    for vi, voice in enumerate(VOICES[which][: int(first_voices) if first_voices else None]):
        # Each question follows a greeting in the same voice, as in a session (auto mode goes by the
        # last turn long enough to tell whose voice it is); only what comes after it is counted.
        greeting = np.concatenate([silence(0.5), speech(GREETING, voice)[0], silence(2.0)])
        after_ms = len(greeting) * 1000 / RATE - 1500
        for k, (prefix, rest) in enumerate(PAUSED):
            pause = PAUSES[(k + vi) % len(PAUSES)]
            first, second = halves(prefix, rest, voice, style)
            audio = np.concatenate([greeting, first, silence(pause), second, silence(2.6)])
            resumed_ms = (len(greeting) + len(first)) * 1000 / RATE + pause * 1000
            n += 1
            for mode, turns in modes.items():
                ends = turn_ends(audio, turns, asr, after_ms)
                cut[mode] += bool(ends and ends[0][0] < resumed_ms)
        for text in DONE:
            spoken = speech(text, voice)[0]
            audio = np.concatenate([greeting, spoken, silence(2.6)])
            for mode, turns in modes.items():
                ends = turn_ends(audio, turns, asr, after_ms)
                waits[mode].append(ends[0][1] - (len(greeting) + len(spoken)) * 1000 / RATE if ends else float("nan"))
        print(voice, {m: f"{cut[m]}/{n} cut" for m in modes}, flush=True)
    for mode in modes:
        w = np.array(waits[mode])
        print(f"{mode}: paused questions kept whole {n - cut[mode]}/{n} ({100 * (n - cut[mode]) / n:.0f} %); completed "
              f"questions: turn ended {np.nanmedian(w):.0f} ms (median), {np.nanpercentile(w, 95):.0f} ms (p95) after the "
              f"speech, {int(np.isnan(w).sum())} never; at the limit: {int((w > 2000).sum())}/{len(w)}")


if __name__ == "__main__":
    main(*sys.argv[1:])
