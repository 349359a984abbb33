"""A simulated room: what a recording made away from the mouth adds to a voice.

A phone or a laptop on a desk hears the voice, its reverberation (the room's echoes, decaying
over a few tenths of a second) and the room's own noise. Reverberation fills a stop's closure
with the sound before it, so the silence a closure leaves in a studio recording is 10-20 dB
shallower there. scripts/probe_rooms.py measures the audio-only mouth in such rooms, and
scripts/train_closures.py --rooms trains the closure network on voices heard through them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Room:
    rt60: float  # s: how long the reverberation takes to fall 60 dB
    direct_db: float  # the direct sound over the reverberation (0 dB: a laptop at arm's length)
    snr_db: float  # the voice over the room's noise


def random_room(rng: np.random.Generator) -> Room:
    """A room from living rooms to offices, a close microphone to one across the desk."""
    return Room(rt60=rng.uniform(0.15, 0.6), direct_db=rng.uniform(0.0, 12.0), snr_db=rng.uniform(20.0, 45.0))


def through_room(samples: np.ndarray, rate: int, room: Room, rng: np.random.Generator) -> np.ndarray:
    """`samples` (mono float) as heard in `room`: the direct sound, an exponentially decaying
    diffuse reverberation, and noise; peak-normalised to 0.5."""
    x = np.asarray(samples, np.float64)
    t = np.arange(int(room.rt60 * rate)) / rate
    tail = rng.normal(size=len(t)) * np.exp(-6.9 * t / room.rt60)  # -60 dB at rt60
    tail[0] = 0.0
    tail /= np.sqrt(np.sum(tail**2))
    heard = 10 ** (room.direct_db / 20) * x + np.convolve(x, tail)[: len(x)]
    voice = heard[np.abs(heard) > 1e-4]
    noise = np.convolve(rng.normal(size=len(heard)), np.ones(4) / 4, mode="same")  # a little duller than white
    if len(voice):
        noise *= np.sqrt(np.mean(voice**2)) * 10 ** (-room.snr_db / 20) / np.sqrt(np.mean(noise**2))
    heard += noise
    return (heard * 0.5 / max(np.max(np.abs(heard)), 1e-9)).astype(np.float32)
