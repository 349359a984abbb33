"""Real speech for tests: WAVs spoken by the espeak-ng and flite command-line programs, and checks of a voice family's segment times."""

from __future__ import annotations

import subprocess
import wave
from pathlib import Path

import numpy as np


def espeak_wav(path: Path, text: str, voice: str = "en-us", words_per_minute: int = 160) -> Path:
    """Speak `text` with the espeak-ng program (not the library under test) into a WAV file."""
    subprocess.run(
        ["espeak-ng", "-v", voice, "-s", str(words_per_minute), "-w", str(path), text],
        check=True, capture_output=True,
    )  # fmt: skip
    return path


def flite_wav(path: Path, text: str, voice: str = "slt") -> Path:
    """Speak `text` with the flite program into a WAV file."""
    subprocess.run(["flite", "-voice", voice, "-t", text, "-o", str(path)], check=True, capture_output=True)
    return path


def ffmpeg(*args: str) -> None:
    """Run ffmpeg quietly (to make MP3/M4A/OGG/MP4 files from a WAV)."""
    subprocess.run(["ffmpeg", "-loglevel", "error", "-y", *args], check=True, capture_output=True)


def read_wav(path: Path) -> tuple[np.ndarray, int]:
    """A 16-bit WAV as float samples (channels last) and its rate, read with the standard library."""
    with wave.open(str(path)) as w:
        data = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").astype(np.float32) / 32768.0
        return data.reshape(-1, w.getnchannels()), w.getframerate()


def write_wav(path: Path, samples: np.ndarray, rate: int) -> Path:
    """Write float samples (frames x channels, or mono) as a 16-bit WAV with the standard library."""
    x = np.asarray(samples, dtype=np.float32)
    if x.ndim == 1:
        x = x[:, None]
    with wave.open(str(path), "wb") as w:
        w.setnchannels(x.shape[1])
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(np.round(np.clip(x, -1, 1) * 32767).astype("<i2").tobytes())
    return path


def best_lag(a: np.ndarray, b: np.ndarray, max_lag: int) -> int:
    """The shift (in samples) of `b` against `a` that correlates best, within ±max_lag."""
    n = min(len(a), len(b)) - 2 * max_lag
    ref = a[max_lag : max_lag + n]
    scores = [float(np.dot(ref, b[max_lag + k : max_lag + k + n])) for k in range(-max_lag, max_lag + 1)]
    return int(np.argmax(scores)) - max_lag


def level_db(speech, t0: float, t1: float) -> float:
    """RMS level of speech between t0 and t1, in dB below its loudest 20 ms."""
    x, rate = speech.audio.samples.astype(np.float64), speech.audio.rate
    win = int(0.02 * rate)
    loudest = max(np.sqrt(np.mean(x[i : i + win] ** 2)) for i in range(0, len(x) - win, win // 2))
    seg = x[int(t0 * rate) : max(int(t1 * rate), int(t0 * rate) + 1)]
    return 20 * np.log10(np.sqrt(np.mean(seg**2)) / loudest + 1e-9)


def quietest_db(speech, phone, win: float = 0.01) -> float:
    """The quietest `win`-long stretch inside a phone, in dB below the speech's loudest 20 ms."""
    starts = np.arange(phone.start, max(phone.start, phone.end - win) + 1e-9, 0.002)
    return min(level_db(speech, t, t + win) for t in starts)


# A sentence full of p, b, m and open vowels, for checking a voice family's segment times.
SEGMENT_TEXT = "Bob bought a big map, maybe more maps. Papa bakes apple pies."
OPEN_VOWELS = {"ɑː", "æ", "ʌ", "ɔː", "aɪ", "aʊ", "eɪ", "ɛ"}


def check_well_formed(speech, rates: tuple[int, ...]) -> None:
    """SEGMENT_TEXT spoken at one of `rates`, its phones IPA, inside the audio, in order, from its first word."""
    from livehuman.speech.arpabet import ARPABET_TO_IPA

    audio, phones = speech.audio, speech.phones
    assert audio.rate in rates and 2.0 < audio.duration < 8.0
    assert np.abs(audio.samples).max() > 0.05
    assert phones and all(p.symbol in ARPABET_TO_IPA.values() for p in phones)
    assert all(0 <= p.start < p.end <= audio.duration + 1e-9 for p in phones)
    assert all(a.end <= b.start + 1e-9 for a, b in zip(phones, phones[1:]))
    assert [p.symbol for p in phones[:3]] == ["b", "ɑː", "b"]
    assert speech.text == SEGMENT_TEXT


def closure_and_vowel_levels(speech) -> tuple[list[float], list[float]]:
    """The quietest 10 ms of each /p/ and /b/ segment, and the middle half of each open vowel (dB
    under the loudest 20 ms): a closure held where the segment says is far quieter."""
    phones = speech.phones
    closures = [quietest_db(speech, p) for p in phones if p.symbol in ("p", "b")]
    vowels = [level_db(speech, p.start + p.duration / 4, p.end - p.duration / 4)
              for p in phones if p.symbol in OPEN_VOWELS]  # fmt: skip
    return closures, vowels
