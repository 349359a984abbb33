"""Shared helpers for the motion tests: real espeak-ng speech and lip-sync measurements."""

from __future__ import annotations

import functools
import subprocess
import tempfile
from pathlib import Path

import numpy as np

from livehuman.motion.visemes import normalize_symbol
from livehuman.speech.audio import Audio, Speech, load_audio
from livehuman.speech.phones import Phone

FPS = 25.0

OPEN_VOWELS = set("aɑæɐʌɒ")
CLOSURES = set("pbm")
ROUNDED = {"u", "uʊ", "oʊ", "w", "o", "əʊ"}
SPREAD = {"i", "ɪ", "eɪ", "ɪə"}

# Sentences rich in the sounds the tests look at.
TEXTS = {
    "bilabial": "Bob bought a big map, and Pam moved my bamboo mop by the pump.",
    "vowels": "Father saw a cat. We see the green sea. Who knew you'd choose blue shoes?",
    "mixed": "Hello there, my name is Maya. Please meet me by the park at nine.",
}


@functools.cache
def espeak_speech(text: str, voice: str = "en-us", wpm: int = 160) -> Speech:
    """Speech with exact phone timings from espeak-ng's C API."""
    from livehuman.speech.espeak import EspeakTTS

    return EspeakTTS(voice, words_per_minute=wpm).synthesize(text)


@functools.cache
def espeak_wav(text: str, voice: str = "en-us") -> Audio:
    """Audio from the espeak-ng command line (no phones)."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "s.wav"
        subprocess.run(["espeak-ng", "-v", voice, "-w", str(path), text], check=True, capture_output=True)
        return load_audio(path)


def bare(symbol: str) -> str:
    return normalize_symbol(symbol)


def frames_where(phones: list[Phone], pred, n: int, fps: float = FPS) -> np.ndarray:
    """Indices of frames whose centre falls inside a phone for which pred(bare symbol) holds."""
    centres = (np.arange(n) + 0.5) / fps
    mask = np.zeros(n, bool)
    for p in phones:
        if pred(bare(p.symbol)):
            mask |= (centres >= p.start) & (centres < p.end)
    return np.flatnonzero(mask)


def closure_frames(phones: list[Phone], n: int, fps: float = FPS) -> np.ndarray:
    """The frame nearest each P/B/M phone's middle (one per closure)."""
    out = []
    for p in phones:
        if bare(p.symbol) in CLOSURES:
            k = int(((p.start + p.end) / 2) * fps)
            if k < n:
                out.append(k)
    return np.array(sorted(set(out)), int)


def silence_frames(phones: list[Phone], n: int, fps: float = FPS, margin: float = 0.2) -> np.ndarray:
    """Frames whose centre is more than `margin` seconds from any phone."""
    centres = (np.arange(n) + 0.5) / fps
    near = np.zeros(n, bool)
    for p in phones:
        near |= (centres > p.start - margin) & (centres < p.end + margin)
    return np.flatnonzero(~near)


def expected_openness(phones: list[Phone], times: np.ndarray) -> np.ndarray:
    """How open the mouth should be at each time, from the phones alone (a coarse reference)."""
    out = np.zeros(len(times))
    for p in phones:
        s = bare(p.symbol)
        first = s[:1]
        if first in OPEN_VOWELS:
            v = 1.0
        elif first in set("eɛəɜɔoæɚ"):
            v = 0.6
        elif first in set("iɪuʊ"):
            v = 0.3
        elif first in CLOSURES:
            v = 0.0
        else:
            v = 0.15
        out[(times >= p.start) & (times < p.end)] = v
    return out


def best_lag(jaw: np.ndarray, phones: list[Phone], fps: float = FPS) -> tuple[float, float]:
    """The lag (s) in -80..80 ms at which jaw correlates best with the expected openness, and r."""
    centres = (np.arange(len(jaw)) + 0.5) / fps
    best = (0.0, -2.0)
    for lag in np.arange(-0.08, 0.0801, 0.01):
        ref = expected_openness(phones, centres - lag)
        r = float(np.corrcoef(jaw, ref)[0, 1])
        if r > best[1]:
            best = (float(lag), r)
    return best


def prob_greater(a: np.ndarray, b: np.ndarray) -> float:
    """P(x > y) for x from a and y from b (ties count half)."""
    a = np.asarray(a, float)[:, None]
    b = np.asarray(b, float)[None, :]
    return float(((a > b) + 0.5 * (a == b)).mean())
