"""Voice activity detection with silero-vad's ONNX model, run by onnxruntime (no torch)."""

from __future__ import annotations

import functools
import importlib.util
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from livehuman.errors import LivehumanError
from livehuman.rates import LISTEN_RATE
from livehuman.speech.audio import as_float32

WINDOW = 512  # samples per model call at 16 kHz (32 ms); the model accepts no other size
CONTEXT = 64  # samples of the previous window the model sees before each new one
# Speech ends when the probability falls this far below the start threshold (hysteresis,
# as in silero's own VADIterator): a single soft window inside a word must not end speech.
END_MARGIN = 0.15


@dataclass
class VadEvent:
    """Speech started, stopped, paused or resumed, at `time` seconds of audio since the start (or reset)."""

    kind: Literal["speech_started", "speech_stopped", "speech_paused", "speech_resumed"]
    time: float


def model_path() -> str:
    """Path of the silero-vad ONNX model that ships inside the silero-vad wheel."""
    # The package is found, not imported: importing it imports torch (~1.2 s and ~230 MB in every
    # process that listens), which the ONNX model does not need.
    spec = importlib.util.find_spec("silero_vad")
    if spec is None or not spec.submodule_search_locations:
        raise LivehumanError("silero-vad is not installed: pip install silero-vad")
    path = Path(spec.submodule_search_locations[0]) / "data" / "silero_vad.onnx"
    if not path.is_file():
        raise LivehumanError(f"silero-vad's model is missing at {path}: reinstall silero-vad")
    return str(path)


@functools.lru_cache(maxsize=1)
def _shared_session():
    """One onnxruntime session for every detector: each keeps its own state and passes it in.

    Building a session holds the GIL for ~150 ms (a stall for every live session on the event
    loop); `run` is thread-safe, so all detectors share one.
    """
    import onnxruntime

    opts = onnxruntime.SessionOptions()
    # Many sessions share two cores: one thread each, no spinning.
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return onnxruntime.InferenceSession(model_path(), sess_options=opts, providers=["CPUExecutionProvider"])


class SpeechProbability:
    """Silero's probability of speech for each 32 ms window of a 16 kHz stream, in order.

    The windows are cut from the start of the stream, so the same audio gives the same
    probabilities however it is chunked.
    """

    def __init__(self) -> None:
        self._session = _shared_session()
        self._sr = np.array(LISTEN_RATE, dtype=np.int64)
        self.reset()

    def reset(self) -> None:
        """Forget all audio."""
        self._state = np.zeros((2, 1, 128), dtype=np.float32)
        self._context = np.zeros(CONTEXT, dtype=np.float32)
        self._pending = np.zeros(0, dtype=np.float32)

    def _window(self, window: np.ndarray) -> float:
        """The probability for the next WINDOW samples (float32)."""
        x = np.concatenate([self._context, window])[None, :]
        out, self._state = self._session.run(None, {"input": x, "state": self._state, "sr": self._sr})
        self._context = window[-CONTEXT:].copy()
        return float(out[0, 0])

    def push(self, samples: np.ndarray) -> list[float]:
        """The probabilities of the windows these samples complete."""
        buf = np.concatenate([self._pending, np.asarray(samples, np.float32).reshape(-1)])
        n = len(buf) // WINDOW
        out = [self._window(buf[i * WINDOW : (i + 1) * WINDOW]) for i in range(n)]
        self._pending = buf[n * WINDOW :].copy()
        return out

    def end(self) -> list[float]:
        """The last, partial window's probability (zeros after the end), if one is pending."""
        if not self._pending.size:
            return []
        return self.push(np.zeros(WINDOW - self._pending.size, np.float32))


class SileroVAD:
    """Streaming speech start/stop detector over 16 kHz float32 audio of any chunk size.

    speech_started.time is the start of speech minus `prefix_padding_ms` (the audio a recognizer
    should begin from); speech_stopped.time is the end of speech, reported once `min_silence_ms`
    of silence has followed it. `speech_pad_ms` is the audio after the end of speech that a
    recognizer should still be given (see `speech_pad`): the model's probability falls a little
    before soft word endings fade out.

    With `pause_ms`, a silence inside speech that lasts that long (but not yet `min_silence_ms`)
    is reported as speech_paused (its time: where the silence began), and speech coming back
    after it as speech_resumed: a listener can start preparing its answer before the turn ends.
    """

    def __init__(
        self,
        threshold: float = 0.5,
        min_silence_ms: int = 500,
        speech_pad_ms: int = 300,
        prefix_padding_ms: int = 300,
        pause_ms: int | None = None,
    ) -> None:
        if not 0.0 < threshold < 1.0:
            raise LivehumanError(f"VAD threshold must lie between 0 and 1, got {threshold}")
        self.threshold = threshold
        self.min_silence = min_silence_ms / 1000
        self.speech_pad = speech_pad_ms / 1000
        self.prefix_padding = prefix_padding_ms / 1000
        self.pause = None if pause_ms is None else pause_ms / 1000
        self._model = SpeechProbability()
        self.reset()

    def reset(self) -> None:
        """Forget all audio: model state, buffered samples, the clock and the speech state."""
        self._model.reset()
        self._samples = 0  # samples already run through the model
        self.probability = 0.0
        self.speaking = False
        self._silence_since: float | None = None
        self._paused = False
        self._stop_after: float | None = None  # this silence's own length to end speech (end_silence_after)

    def end_silence_after(self, since: float, seconds: float) -> None:
        """Let the silence that began at `since` (a speech_paused's time) end speech after `seconds`
        instead of `min_silence_ms`; speech resuming forgets it, and a silence already over ignores it."""
        if self.speaking and self._silence_since == since:
            self._stop_after = seconds

    @property
    def time(self) -> float:
        """Seconds of audio analysed so far."""
        return self._samples / LISTEN_RATE

    def process(self, samples: np.ndarray) -> list[VadEvent]:
        """Feed 16 kHz mono audio (float in [-1, 1], or int16); return the events it completes."""
        events = (self._heard(p) for p in self._model.push(as_float32(samples)))
        return [e for e in events if e is not None]

    def _lasted(self, duration: float) -> bool:
        """Whether the silence has lasted `duration` s, to the nearest 32 ms window (not the next one:
        300 ms is 288 ms of windows, not 320)."""
        return self._samples / LISTEN_RATE - self._silence_since >= duration - WINDOW / LISTEN_RATE / 2

    def _heard(self, p: float) -> VadEvent | None:
        """The event, if any, that the next window's probability `p` completes."""
        start = self._samples / LISTEN_RATE
        self._samples += WINDOW
        self.probability = p

        if p >= self.threshold:
            self._silence_since = self._stop_after = None
            if self._paused:
                self._paused = False
                return VadEvent("speech_resumed", start)
            if not self.speaking:
                self.speaking = True
                return VadEvent("speech_started", max(0.0, start - self.prefix_padding))
        elif self.speaking and p < self.threshold - END_MARGIN:
            if self._silence_since is None:
                self._silence_since = start
            if self._lasted(self.min_silence if self._stop_after is None else self._stop_after):
                self.speaking = False
                self._paused = False
                stopped = self._silence_since
                self._silence_since = self._stop_after = None
                return VadEvent("speech_stopped", stopped)
            if self.pause is not None and not self._paused and self._lasted(self.pause):
                self._paused = True
                return VadEvent("speech_paused", self._silence_since)
        return None
