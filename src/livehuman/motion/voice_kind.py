"""Whose voice is it: a formant synthesizer's, or one that sounds like a person's?

The lips hear closures with one pair of networks for synthesizers' voices and another for
people's (closures.py), and each is the wrong listener for the other kind. A live session knows
its brain's voice; a recording handed to `render --audio` says nothing of itself, so its kind is
guessed from the sound: a small network of the closure networks' shape, reading the same band
levels around each voiced frame (and the frame's voicing, brightness and loudness), learnt from
the closure networks' own training voices (espeak-ng's and flite's against festival's diphone
voices: scripts/train_voice_kind.py). The utterance is a person's when its voiced frames say so
on average. Held out, it tells every espeak-ng voice tried from every natural recording; flite's
kal (a diphone voice) and awb it takes for people's, where the two pairs of networks hear them
about equally well (docs/benchmarks.md, session 20).
"""

from __future__ import annotations

import functools

import numpy as np

from livehuman.motion.acoustics import audio_features
from livehuman.motion.audio_mouth import closure_inputs, loudest_near
from livehuman.motion.closures import NATURAL, SYNTHETIC, ClosureModel, load_closure_model
from livehuman.speech.hum import for_listening

MODEL_FILE = "voice_kind.npz"
MIN_VOICING = 0.3  # frames with less voice in them say nothing of the voice
MIN_FRAMES = 10  # fewer voiced frames than this: too little to tell, a synthesizer's is assumed


def voice_inputs(feats: list) -> np.ndarray:
    """The network's inputs for each voiced frame of `feats` (acoustics.FrameFeatures), one row each."""
    if not feats:
        return np.zeros((0, 0))
    peak = max(f.level for f in feats)
    rows = [np.concatenate([closure_inputs(feats, k, loudest_near(feats, k)), [f.voicing, f.bright, f.level - peak]])
            for k, f in enumerate(feats) if f.bands and f.voicing >= MIN_VOICING]
    return np.array(rows)


@functools.lru_cache(maxsize=1)
def shipped_voice_kind_network() -> ClosureModel:
    """The network (closures.ClosureModel's shape: P(a person's voice) per frame); read once per process."""
    return load_closure_model(name=MODEL_FILE)


def person_probability(feats: list) -> float | None:
    """The mean over the voiced frames of P(a person's voice); None with too few of them."""
    p, voiced = person_evidence(feats)
    return None if voiced < MIN_FRAMES else p


def person_evidence(feats: list) -> tuple[float, int]:
    """The mean over the voiced frames of P(a person's voice), and how many voiced frames there were
    (none: 0.5, 0)."""
    x = voice_inputs(feats)
    if len(x) == 0:
        return 0.5, 0
    return float(shipped_voice_kind_network().probability(x).mean()), len(x)


def person_in(feats: list) -> bool | None:
    """Whether the voice of these frames' features (acoustics.FrameFeatures, with or without the
    VAD's) sounds like a person's; None with too little voice to tell."""
    p = person_probability(feats)
    return None if p is None else p > 0.5


def guess_voice_kind(audio, fps: float = 25.0) -> str:
    """NATURAL or SYNTHETIC for speech `audio` (speech.audio.Audio), from its sound as the lip sync
    hears it (speech/hum.py; too little voice to tell: SYNTHETIC)."""
    return voice_kind_in(audio_features(for_listening(audio)[0], fps, speech=False))  # (the network reads no VAD)


def voice_kind_in(feats: list) -> str:
    """`guess_voice_kind` from features already computed (acoustics.FrameFeatures)."""
    return NATURAL if person_in(feats) else SYNTHETIC
