"""How someone says it: pitch, loudness and speaking rate against that person's own running normal.

A high, loud, fast utterance means excitement (joy, anger, fear, surprise); a low, soft, slow one
calm or sadness — but only relative to the speaker: a child's normal pitch is a bass's shout. So
each session keeps a `VoiceBaseline` of its user and reads each utterance as z-scores from it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from livehuman.rates import LISTEN_RATE

HOP = 0.01  # s between analysis frames
FRAME = 0.04  # s analysed per frame: two periods of a 50 Hz voice
PITCH_RANGE = (60.0, 450.0)  # Hz
YIN_THRESHOLD = 0.2  # cumulative-mean-normalised difference under which a lag is a period
MIN_VOICED_S = 0.3  # less voiced speech than this says nothing about the voice
SILENCE_DB = -60.0  # dBFS: quieter frames are not speech, however periodic
# Before the baseline has seen much of a user, how far people usually vary (one standard deviation).
PRIOR_SPREAD = {"pitch": 2.0, "loudness": 3.0, "rate": 0.5}  # semitones, dB, syllables per second
PRIOR_WEIGHT = 2.0  # the prior spread counts as this many utterances


@dataclass(frozen=True)
class Prosody:
    """One utterance's voice: median pitch, loudness while voiced, syllables per second."""

    pitch_hz: float
    loudness_db: float
    rate: float
    voiced_s: float


@dataclass(frozen=True)
class VoiceEmotion:
    """An utterance against its speaker's normal: z-scores and arousal (−1 calm … +1 excited);
    confidence grows with the utterances the baseline has heard (0 for the very first)."""

    arousal: float
    pitch_z: float
    loudness_z: float
    rate_z: float
    confidence: float


def _frames(x: np.ndarray, size: int, hop: int) -> np.ndarray:
    if len(x) < size:
        return np.zeros((0, size), np.float64)
    return np.lib.stride_tricks.sliding_window_view(x, size)[::hop].astype(np.float64)


def _pitch(frames: np.ndarray, rate: int) -> np.ndarray:
    """YIN's period per frame (0 where unvoiced), from the cumulative-mean-normalised difference."""
    half = frames.shape[1] // 2
    lo, hi = int(rate / PITCH_RANGE[1]), min(int(rate / PITCH_RANGE[0]), half)
    a = frames[:, :half]
    diffs = np.stack([((a - frames[:, tau : tau + half]) ** 2).sum(axis=1) for tau in range(1, hi + 1)], axis=1)
    cumulative = np.cumsum(diffs, axis=1) / np.arange(1, hi + 1)
    cmnd = diffs / np.maximum(cumulative, 1e-12)
    pitch = np.zeros(len(frames))
    for i, row in enumerate(cmnd):
        below = np.nonzero(row[lo - 1 :] < YIN_THRESHOLD)[0]
        if len(below):
            k = below[0] + lo - 1
            while k + 1 < len(row) and row[k + 1] < row[k]:  # down to the dip's bottom
                k += 1
            pitch[i] = rate / (k + 1)
    return pitch


def _syllable_rate(amplitude: np.ndarray) -> float:
    """Syllables per second, as the centre of the loudness envelope's modulation between 1.5 and
    9 Hz: each syllable is one swell of loudness. Steadier than counting peaks, which splits or
    merges syllables as the voice and the speed change."""
    env = amplitude - amplitude.mean()
    n = max(1024, 1 << int(np.ceil(np.log2(len(env)))))
    power = np.abs(np.fft.rfft(env * np.hanning(len(env)), n)) ** 2
    freq = np.fft.rfftfreq(n, HOP)
    band = (freq >= 1.5) & (freq <= 9.0)
    total = power[band].sum()
    return float((power[band] * freq[band]).sum() / total) if total > 0 else 0.0


def prosody(samples: np.ndarray, rate: int = LISTEN_RATE) -> Prosody | None:
    """The voice of one utterance (mono float samples), or None with too little voiced speech."""
    x = np.asarray(samples, dtype=np.float64)
    frames = _frames(x, int(FRAME * rate), int(HOP * rate))
    if len(frames) == 0:
        return None
    power = (frames ** 2).mean(axis=1)
    level = 10 * np.log10(power + 1e-12)
    audible = (level > level.max() - 30) & (level > SILENCE_DB)
    if not audible.any():
        return None
    pitch = np.where(audible, _pitch(frames, rate), 0.0)
    voiced = pitch > 0
    voiced_s = float(voiced.sum() * HOP)
    if voiced_s < MIN_VOICED_S:
        return None
    first, last = np.nonzero(audible)[0][[0, -1]]
    return Prosody(pitch_hz=float(np.median(pitch[voiced])), loudness_db=float(np.mean(level[voiced])),
                   rate=_syllable_rate(np.sqrt(power[first : last + 1])), voiced_s=voiced_s)


class VoiceBaseline:
    """One speaker's running normal of pitch (in semitones), loudness and rate."""

    def __init__(self) -> None:
        self.count = 0
        self._mean: dict[str, float] = {}
        self._m2: dict[str, float] = {}

    @staticmethod
    def _values(p: Prosody) -> dict[str, float]:
        return {"pitch": 12 * math.log2(p.pitch_hz / 100.0), "loudness": p.loudness_db, "rate": p.rate}

    def read(self, p: Prosody) -> VoiceEmotion:
        """This utterance against the speaker's normal so far; then it joins the normal."""
        values = self._values(p)
        z = dict.fromkeys(values, 0.0)
        if self.count:
            for key, value in values.items():
                # The spread is the speaker's own, pulled toward people's usual one while little is known.
                var = (self._m2[key] + PRIOR_WEIGHT * PRIOR_SPREAD[key] ** 2) / (self.count + PRIOR_WEIGHT)
                z[key] = (value - self._mean[key]) / math.sqrt(var)
        confidence = self.count / (self.count + PRIOR_WEIGHT)
        arousal = float(np.tanh((z["pitch"] + z["loudness"] + z["rate"]) / 3))
        self._learn(values)
        return VoiceEmotion(arousal, z["pitch"], z["loudness"], z["rate"], confidence)

    def _learn(self, values: dict[str, float]) -> None:
        self.count += 1
        for key, value in values.items():  # Welford's running mean and sum of squared deviations
            mean = self._mean.get(key, 0.0)
            delta = value - mean
            mean += delta / self.count
            self._mean[key] = mean
            self._m2[key] = self._m2.get(key, 0.0) + delta * (value - mean)
