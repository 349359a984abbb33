"""Where the lips close, read from the fine timing of the sound around a frame's centre.

A lip closure (p, b, m) silences the sound above the voice bar for 30-120 ms; a fast voice's
closure is barely longer than one video frame, and its edges decide whether that frame shows the
lips shut. Hand-written thresholds on one window missed a third of a fast, high voice's closures
and pressed the lips on half the t, d, s and th frames (docs/motion.md), so a small network reads
the levels of four bands in seven 10 ms windows around this frame's centre and its two neighbours'
(acoustics.band_levels) against the loudest sound nearby. scripts/train_closures.py trained it on
synthetic voices' own phone timings (40 espeak-ng variants, rates and pitches; flite slt and rms),
none of them the lip-sync matrix's held-out voices. Two networks ship, their probabilities
averaged: one learnt from the voices as synthesized, one from them also heard through simulated
rooms, whose reverberation fills a closure that the first then misses (docs/motion.md).

People close their lips otherwise than espeak-ng and flite do (a natural rise from /t/ or /n/ into
a vowel sounds like a /b/ opening to networks that learnt from synthesizers), and one network
trained on both kinds lands between them. So a second pair, learnt the same two ways from
festival's diphone voices (a person's recorded diphones joined, with exact timings), hears voices
known or guessed to be people's (NATURAL: a recording of someone, OpenAI's voices;
motion/voice_kind.py guesses); SYNTHETIC voices get the first pair. The weights ship with the
package (data/closures*.npz, ~30 kB each), nothing is downloaded.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np

from livehuman.errors import LivehumanError

FLOOR = -60.0  # dB under the loudest nearby frame: quieter than this reads as this
MODEL_FILE = "closures.npz"  # learnt from voices as synthesized
ROOMS_MODEL_FILE = "closures_rooms.npz"  # learnt from them as synthesized and heard through rooms
NATURAL_MODEL_FILE = "closures_natural.npz"  # learnt from people's recorded diphones (festival's voices)
NATURAL_ROOMS_MODEL_FILE = "closures_natural_rooms.npz"  # and from them heard through rooms
SYNTHETIC, NATURAL = "synthetic", "natural"  # the kinds of voice the lips are heard for
AUTO = "auto"  # the kind guessed from the sound (motion/voice_kind.py)
VOICE_KINDS = {SYNTHETIC: (MODEL_FILE, ROOMS_MODEL_FILE), NATURAL: (NATURAL_MODEL_FILE, NATURAL_ROOMS_MODEL_FILE)}


@dataclass(frozen=True)
class ClosureModel:
    """One hidden layer (ReLU), a logistic output: P(lips closed at this frame's centre)."""

    mean: np.ndarray
    scale: np.ndarray
    w1: np.ndarray
    b1: np.ndarray
    w2: np.ndarray
    b2: float

    @staticmethod
    def inputs(bands: list[tuple[float, ...]], loudest_near: float) -> np.ndarray:
        """The network's inputs from the band levels of the frames before, at and after this one
        (acoustics.FrameFeatures.bands; empty for a silent frame): each relative to the loudest
        frame nearby, floored."""
        size = max(len(b) for b in bands)
        rows = [np.asarray(b, np.float64) if len(b) else np.full(size, loudest_near + FLOOR) for b in bands]
        return np.maximum(np.concatenate(rows) - loudest_near, FLOOR)

    def probability(self, x: np.ndarray) -> np.ndarray:
        """P(closed) for inputs `x` (one row per frame, or one frame)."""
        z = (np.asarray(x, np.float64) - self.mean) / self.scale
        hidden = np.maximum(z @ self.w1 + self.b1, 0.0)
        return 1.0 / (1.0 + np.exp(-(hidden @ self.w2 + self.b2)))

    def save(self, path: str | Path, **about: str) -> None:
        np.savez(path, mean=self.mean, scale=self.scale, w1=self.w1, b1=self.b1, w2=self.w2,
                 b2=np.array([self.b2]), **{k: np.array(v) for k, v in about.items()})


@dataclass(frozen=True)
class ClosureNetworks:
    """Several networks heard together: the mean of their probabilities."""

    models: tuple[ClosureModel, ...]

    def probability(self, x: np.ndarray) -> np.ndarray:
        return np.mean([m.probability(x) for m in self.models], axis=0)


def check_voice_kind(voice: str) -> str:
    """`voice` if it is a kind of voice the lips can be heard for; one clear line if not."""
    if voice not in VOICE_KINDS:
        raise LivehumanError(f"unknown kind of voice {voice!r}: use {' or '.join(VOICE_KINDS)} "
                             "(natural: a person's or OpenAI's; synthetic: espeak-ng, flite)")
    return voice


@functools.lru_cache(maxsize=len(VOICE_KINDS))
def shipped_closure_networks(voice: str = SYNTHETIC) -> ClosureNetworks:
    """The networks the tracker hears closures with in a `voice` of that kind; read once per process."""
    return ClosureNetworks(tuple(load_closure_model(name=name) for name in VOICE_KINDS[check_voice_kind(voice)]))


@functools.lru_cache(maxsize=8)
def load_closure_model(path: str | None = None, name: str = MODEL_FILE) -> ClosureModel:
    """A shipped model by file `name` (or one at `path`); read once per process, it never changes."""
    source = resources.files("livehuman") / "data" / name if path is None else Path(path)
    with source.open("rb") as f, np.load(f) as data:
        return ClosureModel(mean=data["mean"], scale=data["scale"], w1=data["w1"], b1=data["b1"],
                            w2=data["w2"], b2=float(data["b2"][0]))
