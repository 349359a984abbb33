#!/usr/bin/env python
"""Yes/no questions asked by a person's voice, rising or level: answered at the short pause? (issue 14 probe)

Run from the repository root: `PYTHONPATH=src .venv/bin/python scripts/probe_questions.py [VOICES]`
(VOICES: only the first so many of festival's six diphone voices; all take ~15 min on a quiet 2-core machine).
festival's diphone voices (a person's recorded diphones, heard as a person's voice by `auto`) ask
yes/no questions ending level, as festival's intonation model says them, or rising by 3 or 6
semitones over their last 0.4 s (`festival_speech(rise_st=…)`), each after a greeting in the same
voice; and paused yes/no questions whose first half rises by 4 semitones (a speaker hesitating
with the voice up: "Do you have…↗ a room for tonight?"), 500–900 ms of silence between. The real
Listener in `auto` mode (serve's default) against `vad` (300 ms). The questions are not those
brain/turn_end.py's settings were chosen on. See docs/benchmarks.md.
"""
import sys

import numpy as np
from probe_turns import GREETING, PAUSES, RATE, VOICES, silence, speech, turn_ends

from livehuman.brain.knowledge import load_knowledge
from livehuman.brain.recognizer import knowledge_asr
from livehuman.brain.turn_end import ModelTurns
from livehuman.speech.end_of_turn import EndOfTurnModel

ASKED = ["Is the shop open today?", "Can you book me a table?", "Do you take credit cards?", "Are there any seats left?",
         "Could I pay by phone?", "Will it rain tomorrow?", "Does the price include tax?", "Have you got a smaller size?",
         "Is breakfast included?", "Can I bring my dog?", "Should I bring my passport?", "Would you like to hear a joke?"]
RISES = (0.0, 3.0, 6.0)
PAUSED = [("Do you have", "a room for tonight?"), ("Can I", "change my booking?"), ("Is it possible", "to pay later?"),
          ("Could you send me", "the menu?"), ("Are you", "open on Sunday?"), ("Would you recommend", "the fish?")]
HESITANT_RISE = 4.0


def said(text, voice, rise=0.0):
    return speech(text, voice, rise)[0]


def main(first_voices=None):
    asr = knowledge_asr(load_knowledge(None), None, second_pass=False)
    modes = {"vad": None, "auto": ModelTurns(EndOfTurnModel(), people_only=True)}
    waits = {(m, r): [] for m in modes for r in RISES}
    cut = {m: 0 for m in modes}
    n = 0
    for vi, voice in enumerate(VOICES["diphone"][: int(first_voices) if first_voices else None]):
        greeting = np.concatenate([silence(0.5), said(GREETING, voice), silence(2.0)])
        after_ms = len(greeting) * 1000 / RATE - 1500
        for text in ASKED:
            for rise in RISES:
                spoken = said(text, voice, rise)
                audio = np.concatenate([greeting, spoken, silence(2.6)])
                for mode, turns in modes.items():
                    ends = turn_ends(audio, turns, asr, after_ms)
                    waits[mode, rise].append(ends[0][1] - (len(greeting) + len(spoken)) * 1000 / RATE if ends else float("nan"))
        for k, (prefix, rest) in enumerate(PAUSED):
            pause = PAUSES[(k + vi) % len(PAUSES)]
            first = said(prefix, voice, HESITANT_RISE)
            audio = np.concatenate([greeting, first, silence(pause), said(rest, voice), silence(2.6)])
            resumed_ms = (len(greeting) + len(first)) * 1000 / RATE + pause * 1000
            n += 1
            for mode, turns in modes.items():
                ends = turn_ends(audio, turns, asr, after_ms)
                cut[mode] += bool(ends and ends[0][0] < resumed_ms)
        print(voice, flush=True)
    for mode in modes:
        for rise in RISES:
            w = np.array(waits[mode, rise])
            print(f"{mode}: questions rising {rise:g} st: turn ended {np.nanmedian(w):.0f} ms (median), "
                  f"{np.nanpercentile(w, 95):.0f} ms (p95) after the speech; within 400 ms {int((w < 400).sum())}/{len(w)}")
        print(f"{mode}: paused questions, first half rising: kept whole {n - cut[mode]}/{n}")


if __name__ == "__main__":
    main(*sys.argv[1:])
