"""Per-video-frame acoustic features of speech, computed the same way on a whole file or a stream.

What the mouth can be read from when no phones are known, in any language: loudness (is the
mouth open at all), voicing, the first two formants (F1 rises as the jaw opens; F2 is high for
spread front vowels and low for rounded back ones), brightness, and the levels of four bands in
short windows around the frame's centre (where the lips close: motion/closures.py).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from livehuman.speech.audio import Audio, StreamResampler
from livehuman.speech.vad import WINDOW as VAD_WINDOW
from livehuman.speech.vad import SpeechProbability

RATE = 16000  # analysis rate
WINDOW = 0.04  # s: loudness window around each frame's centre
LPC_WINDOW = 0.03  # s: formant analysis window
LPC_RATE = 10000  # formants are found below 5 kHz: fewer poles to waste on high harmonics
LPC_ORDER = 12
PITCH_RANGE = (50.0, 500.0)  # Hz: the voice pitches looked for
HOP_LOOKAHEAD = WINDOW / 2  # s of audio needed after a frame's centre
FLOOR_DB = -100.0
# Where the lips close is read from the sound's fine timing around a frame's centre: short windows
# at these offsets, each split into bands (a closure silences the band above the voice bar first).
BAND_OFFSETS = (-0.015, -0.010, -0.005, 0.0, 0.005, 0.010, 0.015)  # s
BAND_WINDOW = 0.010  # s
# Hz: the voice bar, F1's region, F2's region (a labial pulls F2 down), frication and bursts
BANDS = ((50.0, 450.0), (450.0, 1500.0), (1500.0, 3000.0), (3000.0, 8000.0))


@dataclass(frozen=True)
class FrameFeatures:
    """The sound around one video frame's centre."""

    level: float  # dBFS, RMS over WINDOW
    voicing: float = 0.0  # 0..1, normalised autocorrelation peak at a voice pitch (PITCH_RANGE)
    f1: float = 0.0  # Hz, 0 when not found
    f2: float = 0.0  # Hz, 0 when not found
    bright: float = 0.0  # dB, energy 2.5-5 kHz over 0.1-1.2 kHz: rounding darkens, spreading brightens
    bands: tuple[float, ...] = ()  # dB of each of BANDS in each BAND_OFFSETS window, offset by offset
    centre: float = FLOOR_DB  # dBFS, RMS over BAND_WINDOW at the frame's centre
    speech: float = 0.0  # 0..1, Silero VAD's probability of speech in the frame's window (its last
    # 32 ms windows that end inside it): loudness and voicing alone take a room's hum for a voice

    @property
    def centre_high(self) -> float:
        """Share of the centre window's energy above 3 kHz (a fricative's, not a closure's)."""
        if not self.bands:
            return 0.0
        at = BAND_OFFSETS.index(0.0) * len(BANDS)
        power = 10.0 ** (np.array(self.bands[at : at + len(BANDS)]) / 10.0)
        return float(power[-1] / power.sum())


def level_db(x: np.ndarray) -> float:
    """The RMS level of samples in [-1, 1], dBFS (FLOOR_DB for none)."""
    if len(x) == 0:
        return FLOOR_DB
    return float(max(FLOOR_DB, 10.0 * np.log10(np.mean(x.astype(np.float64) ** 2) + 1e-12)))


def _lpc(x: np.ndarray, order: int) -> np.ndarray | None:
    n = len(x)
    spectrum = np.fft.rfft(x, 2 * n)
    r = np.fft.irfft(np.abs(spectrum) ** 2)[: order + 1]
    if r[0] <= 1e-10:
        return None
    r = r.copy()
    r[0] *= 1.0 + 1e-9
    a = np.zeros(order + 1)
    a[0] = 1.0
    err = r[0]
    for i in range(1, order + 1):  # Levinson-Durbin
        k = -(r[i] + a[1:i] @ r[1:i][::-1]) / err
        a[1:i] = a[1:i] + k * a[1:i][::-1]
        a[i] = k
        err *= 1.0 - k * k
        if err <= 0:
            return None
    return a


def formants(x: np.ndarray, rate: int = RATE) -> tuple[float, float]:
    """F1 and F2 (Hz) of a short voiced window by LPC; 0 for any not found."""
    if len(x) < LPC_ORDER * 4:
        return 0.0, 0.0
    x = x.astype(np.float64)
    if rate > LPC_RATE:
        # Band-limit and resample the window in one step: keep the FFT bins below LPC_RATE / 2.
        n = int(round(len(x) * LPC_RATE / rate))
        x = np.fft.irfft(np.fft.rfft(x)[: n // 2 + 1], n) * (n / len(x))
        rate = LPC_RATE
    x = np.append(x[0], x[1:] - 0.7 * x[:-1]) * np.hamming(len(x))
    a = _lpc(x, LPC_ORDER)
    if a is None:
        return 0.0, 0.0
    roots = np.roots(a)
    roots = roots[np.imag(roots) > 0]
    freq = np.angle(roots) * rate / (2 * np.pi)
    bw = -np.log(np.maximum(np.abs(roots), 1e-9)) * rate / np.pi
    ok = (freq > 200) & (freq < rate / 2 - 200) & (bw < 400)
    found = np.sort(freq[ok])
    f1 = next((f for f in found if f < 1200), 0.0)
    f2 = next((f for f in found if f > max(f1 * 1.25, 600) and f < 3500), 0.0)
    return float(f1), float(f2)


def _voicing(x: np.ndarray, rate: int = RATE) -> float:
    """Periodicity 0..1: the normalised autocorrelation peak at a voice pitch.

    Pitches from PITCH_RANGE: a deep voice (espeak-ng at pitch 20 speaks at ~75 Hz) and a high one
    (~400 Hz) must both read as voiced. Each lag is normalised by the energy of the two parts it
    compares, so long lags (fewer products) are not penalised and loud onsets do not inflate it.
    """
    x = x.astype(np.float64) - np.mean(x)
    n = len(x)
    if float(x @ x) <= 1e-9:
        return 0.0
    spec = np.fft.rfft(x, 2 * n)
    ac = np.fft.irfft(np.abs(spec) ** 2)[:n]
    lo, hi = int(rate / PITCH_RANGE[1]), min(int(rate / PITCH_RANGE[0]), n // 2)
    lags = np.arange(lo, hi)
    energy = np.concatenate([[0.0], np.cumsum(x * x)])
    norm = ac[lo:hi] / np.sqrt((energy[n - lags]) * (energy[n] - energy[lags]) + 1e-12)
    return float(np.clip(norm.max(), 0.0, 1.0))


def _brightness(x: np.ndarray, rate: int = RATE) -> float:
    """dB of the energy at 2.5-5 kHz over that at 0.1-1.2 kHz."""
    spec = np.abs(np.fft.rfft(x.astype(np.float64) * np.hanning(len(x)))) ** 2
    if spec.sum() <= 1e-12:
        return 0.0
    bin_of = lambda hz: int(hz * len(x) / rate)  # noqa: E731
    low = spec[bin_of(100) : bin_of(1200)].sum() + 1e-12
    return float(10.0 * np.log10(spec[bin_of(2500) : bin_of(5000)].sum() / low + 1e-12))


def band_levels(win: np.ndarray, centre: int, rate: int = RATE) -> tuple[float, ...]:
    """dBFS of each of BANDS in a BAND_WINDOW window at each of BAND_OFFSETS from sample `centre` of `win`."""
    n = int(BAND_WINDOW * rate)
    taper = np.hanning(n)
    freqs = np.fft.rfftfreq(512, 1.0 / rate)
    masks = [(freqs >= lo) & (freqs < hi) for lo, hi in BANDS]
    out = []
    for offset in BAND_OFFSETS:
        start = centre + int(round(offset * rate)) - n // 2
        power = np.abs(np.fft.rfft(win[start : start + n].astype(np.float64) * taper, 512)) ** 2
        out.extend(10.0 * np.log10(power[m].sum() / n + 1e-10) for m in masks)
    return tuple(float(v) for v in out)


def frame_features(samples: np.ndarray, centre: int, rate: int = RATE, spectra: bool = True) -> FrameFeatures:
    """Features of the frame centred at sample `centre` of 16 kHz `samples` (zero beyond its ends);
    without `spectra`, its level alone."""
    half = int(WINDOW * rate / 2)
    lo, hi = centre - half, centre + half
    win = samples[max(lo, 0) : max(hi, 0)]
    if lo < 0:
        win = np.concatenate([np.zeros(-lo, np.float32), win])
    if len(win) < hi - lo:
        win = np.concatenate([win, np.zeros(hi - lo - len(win), np.float32)])
    level = level_db(win)
    if level < -60 or not spectra:
        return FrameFeatures(level)
    lpc_half = int(LPC_WINDOW * rate / 2)
    f1, f2 = formants(win[half - lpc_half : half + lpc_half], rate)
    n = int(BAND_WINDOW * rate)
    centre = level_db(win[half - n // 2 : half + n - n // 2])
    return FrameFeatures(level, _voicing(win, rate), f1, f2, _brightness(win, rate), band_levels(win, half, rate), centre)


class FeatureStream:
    """Acoustic features for consecutive video frames of a live audio stream (any input rate).

    `speech=False` leaves each frame's `speech` at 0 and skips the VAD (a third of the work), for a
    reader that does not use it (the voice-kind network, asked at every judged pause of a turn);
    `spectra=False` gives each frame's level alone (a tenth of the work), for a reader of loudness;
    `levels_only()` does both from the next frame on."""

    def __init__(self, fps: float = 25.0, speech: bool = True, spectra: bool = True) -> None:
        self.fps = float(fps)
        self._asked = (speech, spectra)
        self.reset()

    def reset(self) -> None:
        """Start again at time 0 with no audio."""
        self._hear_speech, self._spectra = self._asked
        self._resamplers: dict[int, StreamResampler] = {}
        self._vad = SpeechProbability() if self._hear_speech else None
        self._speech: list[float] = []  # each VAD window's probability, from window _speech_first on
        self._speech_first = 0
        self._buf = np.zeros(0, np.float32)
        self._offset = 0  # samples dropped from the front of _buf
        self._next = 0
        self._ended = False

    @property
    def received(self) -> float:
        """Seconds of audio pushed so far."""
        return (self._offset + len(self._buf)) / RATE

    def levels_only(self) -> None:
        """From the next frame on, each frame's level alone (until `reset`): for a reader that has
        come to need nothing more (a live reply whose phones are known, read for its loudness)."""
        self._hear_speech = self._spectra = False
        self._vad = None
        self._speech = []  # (what the VAD heard before says nothing of the frames to come)

    def push(self, samples: np.ndarray, rate: int) -> None:
        """Append the next chunk of mono audio."""
        if rate != RATE:
            resampler = self._resamplers.setdefault(rate, StreamResampler(rate, RATE))
            samples = resampler.process(samples)
        samples = np.asarray(samples, np.float32).reshape(-1)
        self._buf = np.concatenate([self._buf, samples])
        if self._hear_speech:
            self._speech.extend(self._vad.push(samples))

    def end(self) -> None:
        """No more audio: the remaining frames may be computed (zeros past the end)."""
        for r in self._resamplers.values():
            rest = r.flush()
            self._buf = np.concatenate([self._buf, rest])
            if self._hear_speech:
                self._speech.extend(self._vad.push(rest))
        if self._hear_speech:
            self._speech.extend(self._vad.end())
        self._ended = True

    def ready(self) -> list[FrameFeatures]:
        """Features of the frames whose whole window has arrived (all of them after `end`)."""
        out = []
        total = self._offset + len(self._buf)
        half = int(WINDOW * RATE / 2)
        while True:
            centre = int(round((self._next + 0.5) / self.fps * RATE))
            if not self._ended and centre + half > total:
                break
            if self._ended and (self._next / self.fps) * RATE >= total:
                break
            feats = frame_features(self._buf, centre - self._offset, spectra=self._spectra)
            out.append(replace(feats, speech=self._speech_in(centre - half, centre + half)))
            self._next += 1
        # Keep only what the next frame's window can still reach.
        next_start = int(round((self._next + 0.5) / self.fps * RATE)) - half
        keep_from = next_start - self._offset
        if keep_from > 0:
            self._buf = self._buf[keep_from:]
            self._offset += keep_from
        drop = max(next_start, 0) // VAD_WINDOW - self._speech_first
        if drop > 0:
            del self._speech[:drop]
            self._speech_first += drop
        return out

    def _speech_in(self, start: int, end: int) -> float:
        """The most probable speech among the VAD windows that end inside samples [start, end]
        (only those: a stream has not always received the window that straddles `end`)."""
        first = max(start // VAD_WINDOW, self._speech_first)
        last = min(end // VAD_WINDOW, self._speech_first + len(self._speech))  # windows first..last-1
        probs = self._speech[first - self._speech_first : last - self._speech_first]
        return max(probs, default=0.0)


def audio_features(audio: Audio, fps: float = 25.0, frames: int | None = None, speech: bool = True,
                   spectra: bool = True) -> list[FrameFeatures]:
    """Features for every frame of `audio` (or for `frames` frames), as a stream would give them
    (`speech`, `spectra`: see FeatureStream)."""
    stream = FeatureStream(fps, speech, spectra)
    stream.push(audio.samples, audio.rate)
    stream.end()
    feats = stream.ready()
    if frames is not None:
        silent = FrameFeatures(FLOOR_DB)
        feats = feats[:frames] + [silent] * max(0, frames - len(feats))
    return feats
