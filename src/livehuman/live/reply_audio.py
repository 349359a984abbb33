"""A reply's audio as the engines that listen (MuseTalk) want it: a 16 kHz window per frame."""

from __future__ import annotations

import numpy as np

from livehuman.render.batch import audio_window
from livehuman.rates import FPS, LISTEN_RATE, REALTIME_RATE
from livehuman.speech.audio import StreamResampler


class ReplyAudio:
    """The audio of the reply being spoken, resampled to 16 kHz as it streams in.

    Frame k of the reply is centred at (k + 0.5) / fps seconds from the reply's first sample, as
    in a batch render; its window spans the engine's `audio_context` around that centre. Audio
    that has not arrived yet reads as silence (the brains stream faster than real time, so in
    practice the window is whole by the time its frame is due).
    """

    def __init__(self, context: tuple[float, float], fps: float = FPS, rate: int = REALTIME_RATE):
        self.context = context
        self.fps = fps
        self.rate = rate
        self.reset()

    def reset(self) -> None:
        """Forget the reply: the next audio starts a new one."""
        self._resampler = StreamResampler(self.rate, LISTEN_RATE)
        self._buffer = np.zeros(LISTEN_RATE * 4, dtype=np.float32)  # grows by doubling
        self._length = 0

    def push(self, samples: np.ndarray) -> None:
        """Append the reply's next samples (float32 or int16 at `rate`)."""
        self._append(self._resampler.process(samples))

    def finish(self) -> None:
        """The reply's audio is complete: let the resampler's tail out."""
        self._append(self._resampler.flush())

    def window(self, frame: int) -> np.ndarray:
        """Frame `frame`'s window of 16 kHz audio, zero-padded where there is none."""
        return audio_window(self._buffer[: self._length], (frame + 0.5) / self.fps, self.context)

    @property
    def duration(self) -> float:
        return self._length / LISTEN_RATE

    def _append(self, samples: np.ndarray) -> None:  # float32, as the resampler gives them
        # The lip-sync thread appends while the render thread cuts windows: samples are written
        # before the length grows, so a window never reads samples that are not there yet.
        end = self._length + len(samples)
        if end > len(self._buffer):
            grown = np.zeros(max(end, 2 * len(self._buffer)), dtype=np.float32)
            grown[: self._length] = self._buffer[: self._length]
            self._buffer = grown
        self._buffer[self._length : end] = samples
        self._length = end
