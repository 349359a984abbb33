"""End-of-turn detection: does the user's utterance sound finished? (Smart Turn v3, on onnxruntime)

Smart Turn v3.2 (pipecat, BSD-2-Clause) is a small Whisper-tiny encoder with a classifier head,
quantized to int8, that hears intonation and phrasing rather than words, in 23 languages. It takes
the last 8 s of the user's audio at 16 kHz as Whisper log-mel features and answers the probability
that the turn is complete. The model file ships inside the `pipecat-ai` wheel; set-up extracts it
(scripts/extract_turn_model.py) so livehuman never imports pipecat.
"""

from __future__ import annotations

import os
import sys
from functools import lru_cache
from pathlib import Path

import numpy as np

from livehuman.errors import LivehumanError
from livehuman.rates import LISTEN_RATE

MODEL_NAME = "smart-turn-v3.2-cpu.onnx"
MODEL_ENV = "LIVEHUMAN_TURN_MODEL"
WINDOW_S = 8  # the model hears the last 8 s of the turn; shorter turns are padded with silence before
N_FFT = 400  # Whisper's 25 ms window at 16 kHz
HOP = 160  # and its 10 ms hop: 800 frames in 8 s
N_MELS = 80


def default_model_path() -> Path:
    """Where set-up puts the model: inside the virtual environment, beside its other data."""
    return Path(sys.prefix) / "share" / "livehuman" / "models" / MODEL_NAME


def find_model(path: str | os.PathLike | None = None) -> Path:
    """The model file: `path`, else $LIVEHUMAN_TURN_MODEL, else set-up's copy; a clear error if none."""
    candidate = path or os.environ.get(MODEL_ENV) or default_model_path()
    candidate = Path(candidate).expanduser()
    if not candidate.is_file():
        raise LivehumanError(
            f"the end-of-turn model {candidate} is missing: run `make setup` (it extracts {MODEL_NAME} "
            f"from the pipecat-ai wheel), point {MODEL_ENV} at the file, or use --end-of-turn vad")
    return candidate


def _hz_to_mel(hz: np.ndarray) -> np.ndarray:
    """Slaney's mel scale (Whisper's): linear below 1 kHz, logarithmic above."""
    hz = np.asarray(hz, dtype=np.float64)
    linear = 3.0 * hz / 200.0
    log = 15.0 + np.log(np.maximum(hz, 1e-9) / 1000.0) * (27.0 / np.log(6.4))
    return np.where(hz >= 1000.0, log, linear)


def _mel_to_hz(mel: np.ndarray) -> np.ndarray:
    mel = np.asarray(mel, dtype=np.float64)
    linear = 200.0 * mel / 3.0
    log = 1000.0 * np.exp((mel - 15.0) * (np.log(6.4) / 27.0))
    return np.where(mel >= 15.0, log, linear)


@lru_cache(maxsize=1)
def _mel_filters() -> np.ndarray:
    """Whisper's 80 triangular filters over 0–8 kHz, area-normalized: (N_FFT // 2 + 1, N_MELS)."""
    edges = _mel_to_hz(np.linspace(_hz_to_mel(0.0), _hz_to_mel(LISTEN_RATE / 2), N_MELS + 2))
    bins = np.linspace(0, LISTEN_RATE / 2, N_FFT // 2 + 1)[:, None]
    lower, centre, upper = edges[:-2], edges[1:-1], edges[2:]
    rising = (bins - lower) / (centre - lower)
    falling = (upper - bins) / (upper - centre)
    return np.maximum(0.0, np.minimum(rising, falling)) * (2.0 / (upper - lower))


def log_mel(audio16k: np.ndarray) -> np.ndarray:
    """Whisper's log-mel features of the last 8 s (silence-padded in front): float32 (80, 800)."""
    n = WINDOW_S * LISTEN_RATE
    x = np.asarray(audio16k, dtype=np.float32)[-n:]
    x = np.concatenate([np.zeros(n - len(x), np.float32), x])
    x = (x - x.mean()) / np.sqrt(x.var() + 1e-7)  # the model was trained on normalized waveforms
    padded = np.pad(x.astype(np.float64), N_FFT // 2, mode="reflect")
    frames = np.lib.stride_tricks.sliding_window_view(padded, N_FFT)[::HOP]
    window = np.hanning(N_FFT + 1)[:-1]  # periodic Hann, as torch's
    power = np.abs(np.fft.rfft(frames * window, axis=-1)) ** 2
    mel = np.log10(np.maximum(power @ _mel_filters(), 1e-10)).T[:, :-1]
    mel = np.maximum(mel, mel.max() - 8.0)
    return ((mel + 4.0) / 4.0).astype(np.float32)


class EndOfTurnModel:
    """Smart Turn v3.2: `probability(audio)` that the utterance ending the audio is complete."""

    def __init__(self, path: str | os.PathLike | None = None, threads: int = 1) -> None:
        import onnxruntime as ort

        self.path = find_model(path)
        options = ort.SessionOptions()
        # One thread: sessions run side by side on few cores, and a turn is one 8 s window.
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        try:
            self._session = ort.InferenceSession(str(self.path), sess_options=options,
                                                 providers=["CPUExecutionProvider"])
        except Exception as exc:  # a truncated or foreign file
            raise LivehumanError(f"cannot load the end-of-turn model {self.path}: {exc}") from None
        self._input = self._session.get_inputs()[0].name

    def probability(self, audio16k: np.ndarray) -> float:
        """How likely the user has finished, from the turn's audio at 16 kHz (the end matters most)."""
        features = log_mel(audio16k)[None]
        (out,) = self._session.run(None, {self._input: features})
        return float(np.asarray(out).reshape(-1)[0])
