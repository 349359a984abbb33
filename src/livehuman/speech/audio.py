"""Audio in memory: decoding any media file, resampling (whole or streamed), PCM16 and WAV."""

from __future__ import annotations

import wave
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np

from livehuman.errors import LivehumanError
from livehuman.speech.phones import Phone

# Loudest 20 ms window below this level means there is nothing to lip-sync.
SILENCE_DBFS = -50.0
_SILENCE_WINDOW_S = 0.02


@dataclass
class Audio:
    """Mono float32 samples in -1..1 at `rate` Hz."""

    samples: np.ndarray
    rate: int

    def __post_init__(self) -> None:
        self.samples = np.ascontiguousarray(self.samples, dtype=np.float32).reshape(-1)
        self.rate = int(self.rate)

    @property
    def duration(self) -> float:
        return len(self.samples) / self.rate if self.rate else 0.0


@dataclass
class Speech:
    """Spoken audio with, when known, its phones (IPA, seconds from the audio's start)."""

    audio: Audio
    phones: list[Phone] | None = None
    text: str = ""


def load_audio(path: str | Path, rate: int | None = None) -> Audio:
    """Decode the first audio stream of any audio or video file to mono, resampled to `rate` if given."""
    path = Path(path)
    if not path.exists():
        raise LivehumanError(f"audio file not found: {path}")
    if path.is_dir():
        raise LivehumanError(f"{path} is a directory, not an audio file")
    try:
        container = av.open(str(path))
    except (av.FFmpegError, UnicodeDecodeError, ValueError) as exc:
        raise LivehumanError(f"cannot read {path} as audio or video ({_reason(exc)})") from None
    with container:
        if not container.streams.audio:
            raise LivehumanError(f"{path} has no audio stream")
        stream = container.streams.audio[0]
        native_rate = stream.codec_context.sample_rate or stream.rate
        if not native_rate:
            raise LivehumanError(f"{path}: the audio stream has no sample rate")
        chunks: list[np.ndarray] = []
        try:
            for frame in container.decode(stream):
                chunks.append(_frame_to_mono(frame))
        except av.FFmpegError as exc:
            if not chunks:
                raise LivehumanError(f"cannot decode the audio of {path} ({_reason(exc)})") from None
            # A damaged tail (e.g. a truncated download) still leaves usable audio before it.
    samples = np.concatenate(chunks) if chunks else np.zeros(0, np.float32)
    if len(samples) == 0:
        raise LivehumanError(f"{path} contains no audio samples (zero-length audio)")
    if not np.isfinite(samples).all():  # a float WAV may hold NaN or Inf: no sound, and poison to every filter
        samples = np.nan_to_num(samples, nan=0.0, posinf=1.0, neginf=-1.0)
    audio = Audio(samples, native_rate)
    if rate is not None and rate != native_rate:
        audio = resample(audio, rate)
    return audio


def is_silent(audio: Audio, threshold_dbfs: float = SILENCE_DBFS) -> bool:
    """True when no 20 ms window of `audio` is louder than `threshold_dbfs` (RMS)."""
    return len(audio.samples) == 0 or loudest_dbfs(audio) < threshold_dbfs


def loudest_dbfs(audio: Audio) -> float:
    """The RMS level (dBFS) of `audio`'s loudest 20 ms window (of all of it, if shorter); not empty."""
    x = audio.samples.astype(np.float64)
    win = max(1, int(audio.rate * _SILENCE_WINDOW_S))
    n = len(x) // win
    if n == 0:
        loudest = np.sqrt(np.mean(x**2))
    else:
        loudest = np.sqrt((x[: n * win].reshape(n, win) ** 2).mean(axis=1)).max()
    return float(20 * np.log10(loudest + 1e-12))


def resample(audio: Audio, rate: int) -> Audio:
    """The same sound at another sample rate (libswresample's windowed-sinc filter)."""
    if rate == audio.rate:
        return Audio(audio.samples.copy(), rate)
    stream = StreamResampler(audio.rate, rate)
    # In pieces (5-16 s of sound): given a whole recording at once, swresample holds ~30 bytes a
    # sample while it works (385 MB for ten minutes of speech) and takes 7 times as long; the pieces
    # come out the same, to the bit.
    piece = 1 << 18
    out = np.concatenate([stream.process(audio.samples[i : i + piece]) for i in range(0, len(audio.samples), piece)]
                         + [stream.flush()])
    # swresample rounds its delay: trim or pad the last sample or two so durations match exactly.
    want = int(round(len(audio.samples) * rate / audio.rate))
    if len(out) >= want:
        out = out[:want]
    else:
        out = np.concatenate([out, np.zeros(want - len(out), np.float32)])
    return Audio(out, rate)


class StreamResampler:
    """Resamples a live mono stream chunk by chunk, keeping the filter state between chunks.

    Output lags input by the filter's delay (about 1 ms); `flush()` returns what is still held.
    """

    def __init__(self, in_rate: int, out_rate: int) -> None:
        self.in_rate = int(in_rate)
        self.out_rate = int(out_rate)
        self._resampler = (
            av.AudioResampler(format="flt", layout="mono", rate=self.out_rate)
            if self.in_rate != self.out_rate
            else None
        )

    def process(self, samples: np.ndarray) -> np.ndarray:
        """Resample the next chunk (float32 or int16 mono); returns float32 samples at `out_rate`."""
        samples = as_float32(samples)
        if self._resampler is None:
            return samples.copy()
        if len(samples) == 0:
            return np.zeros(0, np.float32)
        frame = av.AudioFrame.from_ndarray(samples.reshape(1, -1), format="flt", layout="mono")
        frame.sample_rate = self.in_rate
        return _join(self._resampler.resample(frame))

    def flush(self) -> np.ndarray:
        """The samples still inside the filter, at the end of the stream."""
        if self._resampler is None:
            return np.zeros(0, np.float32)
        out = _join(self._resampler.resample(None))
        self._resampler = av.AudioResampler(format="flt", layout="mono", rate=self.out_rate)
        return out


def save_wav(path: str | Path, audio: Audio) -> None:
    """Write `audio` as a 16-bit mono WAV file."""
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(audio.rate)
        w.writeframes(pcm16_bytes(audio.samples))


def to_pcm16(samples: np.ndarray) -> np.ndarray:
    """Float samples (-1..1) as signed 16-bit PCM, rounded and clipped (int16 samples as they are)."""
    samples = np.asarray(samples).reshape(-1)
    if samples.dtype == np.int16:
        return samples
    return np.round(np.clip(samples.astype(np.float32), -1.0, 1.0) * 32767.0).astype(np.int16)


def as_float32(samples: np.ndarray) -> np.ndarray:
    """Samples as float32 in -1..1, one dimension: signed 16-bit PCM scaled, floats as they are."""
    samples = np.asarray(samples).reshape(-1)
    if samples.dtype == np.int16:
        return samples.astype(np.float32) / 32768.0
    return np.ascontiguousarray(samples, dtype=np.float32)


def pcm16_bytes(samples: np.ndarray) -> bytes:
    """Float samples (-1..1) as little-endian signed 16-bit PCM bytes, clipped (int16 samples as they are)."""
    return to_pcm16(samples).astype("<i2").tobytes()


def from_pcm16(data: bytes) -> np.ndarray:
    """Little-endian signed 16-bit PCM bytes as float32 samples in -1..1."""
    if len(data) % 2:
        raise LivehumanError(f"PCM16 audio must have an even number of bytes, got {len(data)}")
    return np.frombuffer(data, dtype="<i2").astype(np.float32) / 32768.0


def _frame_to_mono(frame: av.AudioFrame) -> np.ndarray:
    # Average the channels ourselves: swresample's downmix matrix depends on the layout's names,
    # and unnamed layouts (e.g. 3 unknown channels) would be dropped, not mixed.
    x = frame.to_ndarray()
    fmt = frame.format
    channels = len(frame.layout.channels) or 1
    if not fmt.is_planar:
        x = x.reshape(-1, channels).T
    x = x.reshape(channels, -1)
    if np.issubdtype(x.dtype, np.integer):
        x = x.astype(np.float32) / float(np.iinfo(x.dtype).max + 1)
        if fmt.name.startswith("u8"):
            x = x * 2.0 - 1.0
    return x.astype(np.float32).mean(axis=0)


def _join(frames: list[av.AudioFrame]) -> np.ndarray:
    if not frames:
        return np.zeros(0, np.float32)
    return np.concatenate([f.to_ndarray().reshape(-1) for f in frames]).astype(np.float32)


def _reason(exc: Exception) -> str:
    text = getattr(exc, "strerror", None) or str(exc)
    return str(text).splitlines()[0] if text else type(exc).__name__
