"""Audio-only speech to mouth cues: phone recognition (pocketsphinx) and per-frame loudness/spectra.

OpenAI's voices and user recordings arrive without phone timings. pocketsphinx's all-phone mode
(en-US acoustic model and phone language model, both inside its pip wheel) recovers timed
phones from any English speaker; for other languages the energy envelope and the spectral
features below still tell the motion stage when and how far to open the mouth.
"""

from __future__ import annotations

import multiprocessing
import os
from dataclasses import dataclass

import numpy as np

from livehuman.errors import LivehumanError
from livehuman.forks import Beside, fork_helps
from livehuman.motion.controls import frame_count
from livehuman.speech.arpabet import arpabet_to_ipa
from livehuman.speech.audio import Audio, as_float32, pcm16_bytes, resample
from livehuman.speech.hum import for_listening
from livehuman.speech.phones import Phone

RECOGNIZER_RATE = 16000  # pocketsphinx's en-US model
FRAME_S = 0.01  # pocketsphinx's frame step (frate 100)

# Decoder settings, tuned for phone timing on flite voices (see `livehuman bench phones`, livehuman/bench/phones.py).
DECODER_SETTINGS: dict[str, float | bool] = {
    "beam": 1e-20,
    "pbeam": 1e-20,
    "lw": 2.0,
    "pip": 1.0,
    "wip": 0.65,
}

# Phones whose loudest 10 ms is this far below the speech's loud level, or below the absolute
# floor, are noise the acoustic model mistook for speech.
SILENT_PHONE_BELOW_DB = 50.0
SILENT_PHONE_DBFS = -70.0

# Energy envelope: 1.0 is the speech's loud level, 0.0 is ENVELOPE_RANGE_DB below it or quieter.
ENVELOPE_RANGE_DB = 45.0
ENVELOPE_REFERENCE_PERCENTILE = 95.0
_FLOOR_DB = -100.0


def _model_paths() -> tuple[str, str]:
    try:
        import pocketsphinx
    except ImportError:
        raise LivehumanError("pocketsphinx is not installed: pip install pocketsphinx") from None
    base = os.path.join(pocketsphinx.get_model_path(), "en-us")
    return os.path.join(base, "en-us"), os.path.join(base, "en-us-phone.lm.bin")


def make_decoder(**settings: float | bool):
    """A pocketsphinx decoder in all-phone mode with DECODER_SETTINGS (overridable)."""
    from pocketsphinx import Config, Decoder

    hmm, phone_lm = _model_paths()
    config = Config(hmm=hmm, allphone=phone_lm, lm=None, dict=None, loglevel="FATAL")
    for key, value in {**DECODER_SETTINGS, **settings}.items():
        try:
            config[key] = value
        except (KeyError, ValueError, TypeError):
            raise LivehumanError(f"unknown or invalid pocketsphinx setting {key}={value!r}") from None
    return Decoder(config)


class PhoneRecognizer:
    """Recognizes timed phones in English speech with fixed decoder settings."""

    def __init__(self, **settings: float | bool) -> None:
        self.settings = {**DECODER_SETTINGS, **settings}
        make_decoder(**self.settings)  # fail early on a bad setting

    def recognize(self, audio: Audio) -> list[Phone]:
        """IPA phones with start and end in seconds from the start of `audio`."""
        if len(audio.samples) == 0:
            return []
        samples = audio.samples if audio.rate == RECOGNIZER_RATE else resample(audio, RECOGNIZER_RATE).samples
        # A fresh decoder per utterance (it loads in ~30 ms): its cepstral mean adapts across
        # utterances, which would make the same audio decode differently the second time.
        phones = _decode(make_decoder(**self.settings), samples, offset=0.0)
        return _drop_silent(phones, samples)


def recognize_phones(audio: Audio) -> list[Phone]:
    """Timed IPA phones heard in `audio` (any English speaker), silence and noise left out; a
    recording is heard without its DC offset and mains hum (speech/hum.py)."""
    return PhoneRecognizer().recognize(for_listening(audio)[0])


class PhonesBeside(Beside):
    """`recognize_phones(audio)`, started in a child process so that this one may do other work
    meanwhile (a render's acoustic features and mouth: pocketsphinx holds the GIL, so a thread
    beside it gains nothing). `result()` waits for the phones.

    The child is a fork: it starts in milliseconds and inherits the audio. It is made only where it
    can help and is safe: two cores or more, and no other thread in this process (a fork copies
    only the calling thread, and any lock another holds stays held); elsewhere, and if the child dies,
    `result()` recognizes here. Use it in a `with` block: leaving it ends the child.
    """

    def __init__(self, audio: Audio) -> None:
        self._audio = audio
        if fork_helps():
            receiving, sending = multiprocessing.get_context("fork").Pipe(duplex=False)
            self._fork(receiving, _recognize_into, audio, sending)
            sending.close()

    def result(self) -> list[Phone]:
        if self._child is not None:
            try:
                ok, value = self._channel.recv()
            except (EOFError, OSError):  # the child died (killed, out of memory): recognize here
                ok, value = True, None
            finally:
                self.close()
            if not ok:
                raise value
            if value is not None:
                return value
        return recognize_phones(self._audio)


def _recognize_into(audio: Audio, pipe) -> None:
    """The child of PhonesBeside: the phones, or the error that recognizing them raised."""
    try:
        pipe.send((True, recognize_phones(audio)))
    except Exception as exc:  # noqa: BLE001 (raised again in the parent, where the caller is)
        pipe.send((False, exc))
    finally:
        pipe.close()


def _decode(decoder, samples16k: np.ndarray, offset: float) -> list[Phone]:
    decoder.start_utt()
    decoder.process_raw(pcm16_bytes(samples16k), no_search=False, full_utt=True)
    decoder.end_utt()
    phones: list[Phone] = []
    for seg in decoder.seg():
        symbol = arpabet_to_ipa(seg.word)
        if symbol is None:
            continue
        start = offset + seg.start_frame * FRAME_S
        end = offset + (seg.end_frame + 1) * FRAME_S
        phones.append(Phone(symbol, start, end))
    return phones


def _drop_silent(phones: list[Phone], samples16k: np.ndarray) -> list[Phone]:
    # The acoustic model hears phones in digital silence ("s" in all zeros): keep only phones
    # with sound in them, relative to the utterance's loud level and above an absolute floor.
    x = samples16k.astype(np.float64)
    hop = int(FRAME_S * RECOGNIZER_RATE)
    n = len(x) // hop
    if n == 0:
        return []
    levels = 10 * np.log10((x[: n * hop].reshape(n, hop) ** 2).mean(axis=1) + 1e-12)
    loud = float(np.percentile(levels, ENVELOPE_REFERENCE_PERCENTILE))
    floor = max(SILENT_PHONE_DBFS, loud - SILENT_PHONE_BELOW_DB)
    kept = []
    for p in phones:
        i, j = int(p.start / FRAME_S), max(int(p.end / FRAME_S), int(p.start / FRAME_S) + 1)
        if len(levels[i:j]) and levels[i:j].max() >= floor:
            kept.append(p)
    return kept


class StreamingPhoneRecognizer:
    """Phones of a live 16 kHz stream, each returned once, at most `hop + holdback` s (plus a chunk) late.

    Every `hop` seconds it decodes the audio since the last final phone (plus `context` seconds
    before it, so the decoder hears the phone's lead-in). A phone becomes final once it ends
    `holdback` seconds before the newest audio: later phones may still change with more sound.
    """

    def __init__(self, hop: float = 0.25, holdback: float = 0.3, context: float = 0.5,
                 **settings: float | bool) -> None:  # fmt: skip
        if hop <= 0 or holdback < 0 or context < 0:
            raise LivehumanError("streaming recognizer: hop must be positive, holdback and context not negative")
        self._settings = settings
        self._hop = int(hop * RECOGNIZER_RATE)
        self._holdback = holdback
        self._context = context
        self.reset()

    def reset(self) -> None:
        """Start a new stream (with a fresh decoder: its cepstral mean adapts to what it heard)."""
        self._decoder = make_decoder(**self._settings)
        self._audio = np.zeros(0, np.float32)
        self._audio_start = 0  # stream sample index of self._audio[0]
        self._received = 0  # stream samples so far
        self._since_decode = 0
        self._committed = 0.0  # seconds: everything before this has been returned (or was silence)

    @property
    def received(self) -> float:
        """Seconds of audio pushed so far."""
        return self._received / RECOGNIZER_RATE

    def push(self, samples16k: np.ndarray) -> list[Phone]:
        """Add samples (float32 or int16 mono, 16 kHz); returns the phones that became final."""
        samples = as_float32(samples16k)
        self._audio = np.concatenate([self._audio, samples])
        self._received += len(samples)
        self._since_decode += len(samples)
        if self._since_decode < self._hop:
            return []
        self._since_decode = 0
        return self._decode(horizon=self.received - self._holdback)

    def flush(self) -> list[Phone]:
        """Every phone still pending, at the end of the stream."""
        return self._decode(horizon=float("inf"))

    @property
    def final_until(self) -> float:
        """Seconds from the stream's start before which every phone has been returned."""
        return self._committed

    def hear(self, samples16k: np.ndarray) -> tuple[list[Phone], float]:
        """`push`, and `final_until` after it (one call for a recognizer in another process)."""
        return self.push(samples16k), self.final_until

    def _decode(self, horizon: float) -> list[Phone]:
        start = self._audio_start / RECOGNIZER_RATE
        if self._received == self._audio_start:
            return []
        phones = _decode(self._decoder, self._audio, offset=start)
        phones = [Phone(p.symbol, p.start - start, p.end - start) for p in phones]
        phones = [Phone(p.symbol, p.start + start, p.end + start) for p in _drop_silent(phones, self._audio)]
        out: list[Phone] = []
        pending_from = horizon
        for p in phones:
            if (p.start + p.end) / 2 < self._committed:
                continue  # returned by an earlier decode (or heard only as context)
            if p.end > horizon:
                pending_from = min(pending_from, p.start)
                break
            out.append(Phone(p.symbol, max(p.start, self._committed), p.end))
        # Past the last final phone there is silence up to the first pending one (or the horizon).
        last = out[-1].end if out else self._committed
        self._committed = max(self._committed, last, min(pending_from, horizon, self.received))
        keep_from = int(max(0.0, self._committed - self._context) * RECOGNIZER_RATE)
        if keep_from > self._audio_start:
            self._audio = self._audio[keep_from - self._audio_start :]
            self._audio_start = keep_from
        return out


def energy_envelope(audio: Audio, fps: float) -> np.ndarray:
    """Loudness per video frame in 0..1, linear in dB and independent of the recording's gain.

    Frame k covers [k/fps, (k+1)/fps) and is measured with a Hann window two frames wide centred on
    it (smooth, no frame-rate flicker). 1.0 is the speech's loud level (its 95th percentile frame),
    0.0 is ENVELOPE_RANGE_DB below that or quieter, e.g. silence.
    """
    db = frame_levels_db(audio, fps)
    if len(db) == 0:
        return np.zeros(0)
    loud = db[db > _FLOOR_DB + 1]
    if len(loud) == 0:
        return np.zeros(len(db))
    reference = float(np.percentile(loud, ENVELOPE_REFERENCE_PERCENTILE))
    return np.clip(1.0 + (db - reference) / ENVELOPE_RANGE_DB, 0.0, 1.0)


def frame_levels_db(audio: Audio, fps: float) -> np.ndarray:
    """RMS level in dBFS per video frame (Hann window two frames wide, centred on the frame)."""
    if fps <= 0:
        raise LivehumanError(f"frames per second must be positive, got {fps}")
    n = frame_count(audio.duration, fps)
    x = audio.samples.astype(np.float64)
    half = max(1, int(round(audio.rate / fps)))
    window = np.hanning(2 * half + 1)[1:-1]
    window /= window.sum()
    power = np.convolve(x * x, window, mode="same") if len(x) else x
    centres = np.minimum(((np.arange(n) + 0.5) / fps * audio.rate).astype(int), max(len(x) - 1, 0))
    levels = power[centres] if len(x) else np.zeros(n)
    return np.maximum(_FLOOR_DB, 10 * np.log10(levels + 1e-12))


@dataclass
class SpectralFrames:
    """Per-video-frame spectral shape: what the mouth is doing when the phones are unknown.

    All arrays have one value per frame, 0..1:
      flatness  — spectral flatness (1 = noise: fricatives, breath; near 0 = voiced vowels)
      low_ratio — share of 100..1000 Hz energy among 100..8000 Hz (high for open vowels and nasals,
                  low for /s/, /ʃ/, /f/)
      centroid  — spectral centroid divided by 4 kHz, capped at 1 (rises for spread front
                  vowels and fricatives, falls for rounded back vowels)
      voicing   — normalised autocorrelation peak at a voice pitch (70..400 Hz)
    """

    flatness: np.ndarray
    low_ratio: np.ndarray
    centroid: np.ndarray
    voicing: np.ndarray


def spectral_frames(audio: Audio, fps: float) -> SpectralFrames:
    """Spectral flatness, low-band ratio, centroid and voicing for each video frame of `audio`."""
    if fps <= 0:
        raise LivehumanError(f"frames per second must be positive, got {fps}")
    a = audio if audio.rate == RECOGNIZER_RATE else resample(audio, RECOGNIZER_RATE)
    x = a.samples.astype(np.float64)
    n = frame_count(audio.duration, fps)
    size = 512  # 32 ms at 16 kHz
    pad = np.concatenate([np.zeros(size), x, np.zeros(size)])
    window = np.hanning(size)
    freqs = np.fft.rfftfreq(size, 1 / RECOGNIZER_RATE)
    band = (freqs >= 100) & (freqs <= 8000)
    low = (freqs >= 100) & (freqs <= 1000)
    out = np.zeros((4, n))
    for k in range(n):
        centre = int((k + 0.5) / fps * RECOGNIZER_RATE) + size
        seg = pad[centre - size // 2 : centre + size // 2]
        if np.sqrt(np.mean(seg**2)) < 1e-4:  # about -80 dBFS: nothing to analyse
            continue
        spec = np.abs(np.fft.rfft(seg * window)) ** 2 + 1e-12
        s = spec[band]
        out[0, k] = np.exp(np.mean(np.log(s))) / np.mean(s)
        out[1, k] = spec[low].sum() / s.sum()
        out[2, k] = min(1.0, (freqs[band] * s).sum() / s.sum() / 4000.0)
        out[3, k] = _voicing(seg)
    return SpectralFrames(*(np.clip(row, 0.0, 1.0) for row in out))


def _voicing(seg: np.ndarray) -> float:
    seg = seg - seg.mean()
    r = np.correlate(seg, seg, mode="full")[len(seg) - 1 :]
    if r[0] <= 0:
        return 0.0
    lo, hi = RECOGNIZER_RATE // 400, RECOGNIZER_RATE // 70
    return float(max(0.0, r[lo:hi].max() / r[0]))
