"""A recording as the lip sync hears it: at a usual level, without a large DC offset or mains hum.

A cheap recording chain adds two things a voice never has: an offset (the converter's zero is not
the signal's, so every window, silence too, has energy near 0 Hz) and mains hum (a steady 50 or
60 Hz tone and its harmonics, from a ground loop). Both sit in the band the mouth is read from: they
read as loudness in silence (an open mouth) and fill the voice bar's band that a closure empties
(lips that stay open on P, B and M). And a recording made at a low gain falls under the lip sync's
absolute floors, which are a quiet room's.

The offset is the median of the samples. The hum is found in the whole recording's spectrum, as the
narrow lines it makes there (a steady tone over seconds is a bin or two wide; a voice's harmonics
wander with its pitch and are spread), only at a mains frequency's own harmonics, and only when
the family has its fundamental or two of its harmonics (no voice is pitched at 50 or 60 Hz, nor
holds a pitch for seconds; a rectifier's buzz has no fundamental): each line's tone is then
measured, its amplitude and phase as they drift, and taken away. A fixed notch filter would not
do: mains frequency and a recorder's clock are each off by up to a few tenths of a percent, as wide
as a notch that leaves the voice alone. A recording at a usual level without hum passes unchanged.

Only what is heard is cleaned: a render's soundtrack is the recording as it was.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from livehuman.speech.audio import SILENCE_DBFS, Audio, loudest_dbfs, resample

LISTEN_RATE = 16000  # Hz: the rate the lip sync's features and the phone recognizer read
# An offset under 1 % of full scale (-40 dBFS) is left: the lip sync hears it as a quiet room's noise,
# as it was tuned (removing the 0.7 % of some audiobook recordings cost them 0.01 of correlation).
OFFSET = 0.01
# A recording whose loudest 20 ms is under QUIET dBFS is heard louder, its loudest 20 ms at SPEAKING (a
# usual recording's; people's and synthesizers' peak at -5 to -22): the lip sync's absolute floors
# (silence under -58 dBFS, no spectrum under -60) are a quiet room's, not a quiet recording's.
QUIET = -24.0
SPEAKING = -12.0
MAINS = (50.0, 60.0)  # Hz
HARMONICS = 8  # looked for up to 8 x 60 Hz: higher, a voice's own harmonics swamp any hum
DRIFT = 0.005  # a harmonic is looked for within this share of its nominal frequency
LINE_DB = 12.0  # a line stands this far above the spectrum around it (the median within NEAR)
NEAR = 5.0  # Hz either side of a harmonic: the spectrum a line is judged against
DIGITAL_SILENCE = 0.01  # s of samples exactly zero: an editor's padding, not a voice crossing zero
CHUNK = 60.0  # s: a longer recording is cleaned in parts as long (its memory bounded; a hum may change)
TRACK = 0.25  # s: a hum's amplitude and phase are followed through windows twice this long


@dataclass(frozen=True)
class Hum:
    """Mains hum found in a recording."""

    mains: float  # Hz: 50 or 60
    lines: dict[int, float]  # harmonic (1: the mains frequency) -> its frequency as measured, Hz


def for_listening(audio: Audio) -> tuple[Audio, Hum | None]:
    """`audio` as the lip sync hears it: at LISTEN_RATE, without a large DC offset or mains hum, a
    quiet recording raised to a usual level; and the hum found (in its first minute that has any;
    None: none)."""
    heard = resample(audio, LISTEN_RATE)
    x = heard.samples.astype(np.float64)
    # Digital silence has no offset and no hum: it stays as it was.
    silent = _digital_silence(x)
    if silent.all():
        return heard, None
    offset = float(np.median(x[~silent]))  # (not the mean: a clipped voice's loud waves are lopsided)
    if abs(offset) >= OFFSET:
        x -= offset
    hum = None
    for part in np.array_split(x, int(np.ceil(len(x) / (CHUNK * LISTEN_RATE)))):  # (views: cleaned in place)
        found = find_hum(part) if len(part) >= LISTEN_RATE else None  # (under a second no line stands out)
        for hz in found.lines.values() if found else ():
            part -= _tone(part, hz)
        hum = hum or found
    loudest = loudest_dbfs(Audio(x, LISTEN_RATE))
    if SILENCE_DBFS <= loudest < QUIET:  # (under SILENCE_DBFS it is silence, speech/audio.is_silent)
        x *= 10 ** ((SPEAKING - loudest) / 20)
    x[silent] = 0.0
    return Audio(x, LISTEN_RATE), hum


def find_hum(x: np.ndarray) -> Hum | None:
    """The mains hum in samples `x` at LISTEN_RATE, or None."""
    nfft = 1 << (len(x) - 1).bit_length()  # (a length with large prime factors is ten times slower)
    power = np.abs(np.fft.rfft(x * np.hanning(len(x)), nfft)) ** 2
    hz_per_bin = LISTEN_RATE / nfft
    for mains in MAINS:  # (one mains per recording)
        lines = {k: _line(power, k * mains, hz_per_bin) for k in range(1, HARMONICS + 1)}
        found = {k: hz for k, hz in lines.items() if hz is not None}
        if 1 in found or len(found) >= 2:
            return Hum(mains, found)
    return None


def _line(power: np.ndarray, hz: float, hz_per_bin: float) -> float | None:
    """The frequency (Hz) of a spectral line near `hz` standing LINE_DB over its surroundings, or None."""
    lo, hi = int(hz * (1 - DRIFT) / hz_per_bin), int(np.ceil(hz * (1 + DRIFT) / hz_per_bin)) + 1
    peak = lo + int(np.argmax(power[lo:hi]))
    near = int(NEAR / hz_per_bin)
    # (the window's main lobe, two bins either side of the search, is neither line nor surroundings)
    around = np.concatenate([power[max(peak - near, 0) : lo - 2], power[hi + 2 : peak + near + 1]])
    if len(around) == 0 or power[peak] < np.median(around) * 10 ** (LINE_DB / 10):
        return None
    # Between bins: the top of the parabola through the peak's log power and its neighbours'.
    left, mid, right = np.log(power[peak - 1 : peak + 2] + 1e-30)
    curve = left - 2 * mid + right
    return (peak + (0.5 * (left - right) / curve if curve < 0 else 0.0)) * hz_per_bin


def _tone(x: np.ndarray, hz: float) -> np.ndarray:
    """The steady tone at `hz` in `x`, as a lock-in amplifier hears it: `x` turned down by the tone's
    frequency, averaged over a window (the tone's amplitude and phase, as they drift with what the
    mains feed), and turned back up."""
    turn = np.exp(2j * np.pi * hz / LISTEN_RATE * np.arange(len(x)))
    width = int(TRACK * LISTEN_RATE)
    amplitude = _moving_mean(_moving_mean(x * turn.conj(), width), width)  # (a triangle: no ripple)
    return 2.0 * np.real(amplitude * turn)


def _moving_mean(v: np.ndarray, width: int) -> np.ndarray:
    """Each sample's mean over the `width` samples centred on it (fewer at either end)."""
    total = np.concatenate([[0], np.cumsum(v)])
    at = np.arange(len(v)) - width // 2
    lo, hi = np.clip(at, 0, len(v)), np.clip(at + width, 0, len(v))
    return (total[hi] - total[lo]) / (hi - lo)


def _digital_silence(x: np.ndarray) -> np.ndarray:
    """Where `x` (at LISTEN_RATE) is exactly zero for DIGITAL_SILENCE or longer."""
    zero = np.concatenate([[False], x == 0.0, [False]])
    edges = np.flatnonzero(np.diff(zero.astype(np.int8)))
    silent = np.zeros(len(x), bool)
    for start, stop in zip(edges[::2], edges[1::2]):
        if stop - start >= DIGITAL_SILENCE * LISTEN_RATE:
            silent[start:stop] = True
    return silent
