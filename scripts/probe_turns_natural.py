#!/usr/bin/env python
"""Turn-taking on natural speech: is a speaker cut off where they could pause mid-sentence? (issue 14 probe)

Run from the repository root: `PYTHONPATH=src .venv/bin/python scripts/probe_turns_natural.py CLIP.wav [CLIP.wav ...]`
(natural English recordings: /work/shared/media's radio clips, a video's soundtrack). Each clip's
words are aligned to it (bench/alignment.py); the clip is cut at the end of each word and followed
by 2.6 s of silence, as if the speaker stopped there, and the real Listener judges the pause with
`serve`'s recognizer, in `vad` mode (the fixed silence) and `model` mode (brain/turn_end.py).
Prints, per cut, the word and the silence each mode waited before ending the turn; a cut
mid-sentence where a mode waits its shortest silence is a speaker it would interrupt if they
paused there. Which cuts end a sentence is for the reader to say (the words are printed).
"""
import sys

import numpy as np

from livehuman.bench.alignment import align_words
from livehuman.brain.base import TurnDetection
from livehuman.brain.knowledge import load_knowledge
from livehuman.brain.listener import Listener, SpeechBegan, SpeechEnded
from livehuman.brain.recognizer import knowledge_asr
from livehuman.brain.turn_end import ModelTurns
from livehuman.speech.audio import load_audio, resample
from livehuman.speech.end_of_turn import EndOfTurnModel

RATE = 16000
AFTER_S = 2.6


def first_turn_wait(audio, cut_s, turns, asr):
    """Silence (ms) after `cut_s` until the Listener ended the turn that was speaking there (None: never)."""
    listener = Listener(lambda: asr, None, TurnDetection(silence_duration_ms=300), model_turns=turns)
    for i in range(0, len(audio), 320):
        for e in listener.hear(audio[i:i + 320]):
            if isinstance(e, SpeechBegan):
                listener.begin(e.audio)
            elif isinstance(e, SpeechEnded):
                listener.finish()
                if listener.heard_ms >= cut_s * 1000:
                    return listener.heard_ms - cut_s * 1000
    return None


def main(paths):
    asr = knowledge_asr(load_knowledge(None), None, second_pass=False)
    model = EndOfTurnModel()
    modes = {"vad": None, "model": ModelTurns(model)}
    for path in paths:
        audio = load_audio(path)
        audio = resample(audio, RATE) if audio.rate != RATE else audio
        samples = audio.samples.astype(np.float32)
        aligned, words = align_words(audio)
        print(f"# {path}: {words}")
        for word in aligned:
            cut = int(round((word.end + 0.01) * RATE))
            heard = np.concatenate([samples[:cut], np.zeros(int(AFTER_S * RATE), np.float32)])
            waits = {m: first_turn_wait(heard, cut / RATE, t, asr) for m, t in modes.items()}
            shown = "  ".join(f"{m} {w:5.0f}" if w is not None else f"{m}  none" for m, w in waits.items())
            print(f"{word.end:5.2f}  {word.word:16s} {shown}", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
