#!/usr/bin/env python
"""The audio-only mouth in a room: the lip-sync matrix's voices as a phone or laptop would hear them.

    .venv/bin/python scripts/probe_rooms.py

Every synthetic voice of `bench lipsync` says each of its three sentences (0.6 s of silence before
and after), as synthesized and through two simulated rooms (bench/rooms.py): "room" (reverberation
0.3 s, direct sound 6 dB over it, noise 30 dB under the voice: a laptop in an office) and "hard
room" (0.5 s, 0 dB, 20 dB). The motion stage hears the audio only (with the recognizer, as
`render --audio` does); its lip opening jaw x (1 - press) is scored like the matrix (bench/lipsync.py
`score`) against the voice's own phone timings. The rooms are drawn from seeds the closure
network's training rooms never use. Prints the means over the 42 utterances (and the worst).
"""

from __future__ import annotations

import numpy as np
from concurrent.futures import ProcessPoolExecutor

from livehuman.bench.lipsync import SENTENCES, MouthTrack, pad_speech, score
from livehuman.bench.options import LIPSYNC_VOICES
from livehuman.bench.rooms import Room, through_room
from livehuman.bench.voices import parse_voice, synthesize
from livehuman.motion.audio_mouth import _mouth_array, audio_mouth_controls
from livehuman.speech.audio import Audio

ROOMS = {"as synthesized": None, "room": Room(0.3, 6.0, 30.0), "hard room": Room(0.5, 0.0, 20.0)}
FIRST_SEED = 10_000  # the training rooms are seeded 0, 1, 2, ...
SYNTHETIC = [v for v in LIPSYNC_VOICES if not v.startswith("wav:")]


def scored(job: tuple[int, str, str, str]) -> tuple[str, float, float, float, float]:
    i, room, voice, text = job
    speech = pad_speech(synthesize(parse_voice(voice), text))
    samples = speech.audio.samples
    if ROOMS[room] is not None:
        samples = through_room(samples, speech.audio.rate, ROOMS[room], np.random.default_rng(FIRST_SEED + i))
    mouth = _mouth_array(audio_mouth_controls(Audio(samples, speech.audio.rate), 25.0))
    gap = mouth[:, 0] * (1.0 - mouth[:, 3])
    s = score(MouthTrack(gap=gap, width=mouth[:, 1] - mouth[:, 2], fps=25.0), speech.phones)
    return room, s.open_vs_closure, s.closure_closed, s.corr_within_20ms, s.silence_open


def main() -> None:
    pairs = [(v, t) for v in SYNTHETIC for t in SENTENCES]
    jobs = [(i, room, v, t) for room in ROOMS for i, (v, t) in enumerate(pairs)]
    with ProcessPoolExecutor() as pool:
        results = list(pool.map(scored, jobs))
    print(f"{len(pairs)} utterances ({len(SYNTHETIC)} voices x {len(SENTENCES)} sentences), audio only; mean (worst)")
    for room in ROOMS:
        r = np.array([x[1:] for x in results if x[0] == room], float)
        print(f"{room:15s} AUC {np.nanmean(r[:, 0]):.3f} ({np.nanmin(r[:, 0]):.2f})  closures closed "
              f"{np.nanmean(r[:, 1]):.3f} ({np.nanmin(r[:, 1]):.2f})  corr ±20 ms {np.nanmean(r[:, 2]):.3f} "
              f"({np.nanmin(r[:, 2]):.2f})  silence open {np.nanmean(r[:, 3]):.3f} ({np.nanmax(r[:, 3]):.2f})")


if __name__ == "__main__":
    main()
