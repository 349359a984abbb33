#!/usr/bin/env python
"""The listening face's cues on spoken turns: does the avatar nod in a thinking pause, and not before an answer?

Run from the repository root: `PYTHONPATH=src .venv/bin/python scripts/probe_listening.py [VOICE_SET] [CLIP.wav ...]`
(VOICE_SET: one of probe_turns.py's sets, `diphone` by default: festival's voices, which `auto` judges
as people's). As the live session does: the real Listener (serve's recognizer, `auto` and `vad` modes)
hears 20 ms chunks and opens and closes the user's turn, and motion/listening.py hears the same chunks
with that turn. Paused questions (probe_turns.py's, cut mid-sentence, 500-900 ms of silence): in how
many pauses the turn was held and a nod came, and how far into the pause; finished questions: how many
got a nod before their turn ended (the answer should come instead). CLIPs: natural recordings heard
whole; nods that came while the voice went on within the same turn (its own pauses) are listed.
"""
import sys

import numpy as np

from probe_turns import DONE, GREETING, PAUSED, PAUSES, RATE, VOICES, halves, silence, speech
from livehuman.brain.base import TurnDetection
from livehuman.brain.knowledge import load_knowledge
from livehuman.brain.listener import Listener, SpeechBegan, SpeechEnded
from livehuman.brain.recognizer import knowledge_asr
from livehuman.brain.turn_end import ModelTurns
from livehuman.motion.listening import ListeningCues
from livehuman.speech.audio import load_audio, resample
from livehuman.speech.end_of_turn import EndOfTurnModel

CHUNK = 320  # 20 ms at 16 kHz, the live session's chunks


def hear(audio, turns, asr):
    """(turn ends, nods), both in s of audio, as a live session would see them."""
    listener = Listener(lambda: asr, None, TurnDetection(silence_duration_ms=300), model_turns=turns)
    cues = ListeningCues()
    turn_open = False
    ends, nods = [], []
    for i in range(0, len(audio) - CHUNK + 1, CHUNK):
        chunk = audio[i:i + CHUNK]
        for e in listener.hear(chunk):
            if isinstance(e, SpeechBegan):
                listener.begin(e.audio)
                turn_open = True
            elif isinstance(e, SpeechEnded):
                listener.finish()
                turn_open = False
                ends.append((i + CHUNK) / RATE)
        if cues.hear(chunk, turn_open):
            nods.append((i + CHUNK) / RATE)
    return ends, nods


def main(which="diphone", *clips):
    asr = knowledge_asr(load_knowledge(None), None, second_pass=False)
    model = EndOfTurnModel()
    modes = {"auto": ModelTurns(model, people_only=True), "vad": None}
    if which == "held-out":  # synthesizers' voices: `auto` is `vad` for them; `model` judges them
        modes = {"model": ModelTurns(model), "vad": None}
    for mode, turns in modes.items():
        held = nodded = 0
        into, missed = [], []
        finished = before_answer = 0
        for vi, voice in enumerate(VOICES[which]):
            greeting = np.concatenate([silence(0.5), speech(GREETING, voice)[0], silence(2.0)])
            start = len(greeting) / RATE
            for k, (prefix, rest) in enumerate(PAUSED):
                pause = PAUSES[(k + vi) % len(PAUSES)]
                first, second = halves(prefix, rest, voice, "cut")
                audio = np.concatenate([greeting, first, silence(pause), second, silence(2.6)])
                paused_at = start + len(first) / RATE
                ends, nods = hear(audio, turns, asr)
                if any(paused_at <= t < paused_at + pause for t in ends):
                    continue  # the turn was cut: no pause held
                held += 1
                in_pause = [t - paused_at for t in nods if paused_at <= t < paused_at + pause]
                nodded += bool(in_pause)
                into += in_pause[:1]
                if not in_pause:
                    missed.append(f"{voice[1]} {prefix!r} ({pause} s)")
            for text in DONE:
                spoken = speech(text, voice)[0]
                ends, nods = hear(np.concatenate([greeting, spoken, silence(2.6)]), turns, asr)
                done_at = start + len(spoken) / RATE
                end = next((t for t in ends if t > done_at), None)
                finished += 1
                before_answer += any(done_at <= t < (end or np.inf) for t in nods)
        print(f"{mode}: thinking pauses held {held}; a nod in {nodded} ({100 * nodded / max(held, 1):.0f} %), "
              f"median {1000 * np.median(into) if into else float('nan'):.0f} ms into the pause; finished "
              f"questions with a nod before their turn ended: {before_answer}/{finished}", flush=True)
        if missed:
            print("  held without a nod:", "; ".join(missed))
        for clip in clips:
            audio = resample(load_audio(clip), RATE).samples.astype(np.float32)
            audio = np.concatenate([silence(0.5), audio, silence(2.6)])
            ends, nods = hear(audio, turns, asr)
            print(f"  {clip}: turn ends {[round(t, 2) for t in ends]}, nods {[round(t, 2) for t in nods]}")


if __name__ == "__main__":
    main(*sys.argv[1:])
