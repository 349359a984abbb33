"""The file transport: frames and audio into an MP4 (H.264 + AAC), written atomically."""

from __future__ import annotations

import os
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from livehuman.errors import LivehumanError

AAC_FRAME = 1024  # samples per AAC frame
VIDEO_CRF = "18"  # visually lossless for faces; the mouth must not be smeared by the encoder


def check_output(path: str | Path) -> Path:
    """The MP4 path a render will write, checked before any work: an .mp4 in a folder we may write.

    Creates the folder if needed. A render that fails here costs nothing and leaves nothing behind.
    """
    path = Path(path)
    if path.is_dir():
        raise LivehumanError(f"the output {path} is a folder: give a file name such as {path / 'out.mp4'}")
    if path.suffix.lower() != ".mp4":
        raise LivehumanError(f"the output must be an .mp4 file, not {path.name!r}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise LivehumanError(f"cannot create the folder {path.parent} for the output: {exc.strerror or exc}") from None
    if not os.access(path.parent, os.W_OK | os.X_OK):
        raise LivehumanError(f"cannot write the output {path}: the folder {path.parent} is not writable")
    if path.exists() and not os.access(path, os.W_OK):
        raise LivehumanError(f"cannot write the output {path}: the file exists and is read-only")
    return path


class Mp4Writer:
    """Writes BGR frames and one mono audio track to an MP4.

    The file appears at `path` only when `close()` succeeds: until then it is written beside it
    under a temporary name, and `abort()` (or an exception inside a `with` block) removes it, so a
    failed render never leaves a half-written output behind.
    """

    def __init__(self, path: str | Path, width: int, height: int, fps: float, audio_rate: int | None):
        self.path = check_output(path)
        self._partial = self.path.with_name(f".{self.path.stem}.partial.mp4")
        # yuv420p needs even dimensions; an odd row or column is cropped off
        self.width, self.height = width - width % 2, height - height % 2
        self.fps = Fraction(fps).limit_denominator(1001)
        self.frames_written = 0
        self._audio_pts = 0
        try:
            self._container = av.open(str(self._partial), mode="w")
        except OSError as exc:
            raise LivehumanError(f"cannot write {self.path}: {exc.strerror or exc}") from None
        self._video = self._container.add_stream("libx264", rate=self.fps)
        self._video.width, self._video.height = self.width, self.height
        self._video.pix_fmt = "yuv420p"
        self._video.options = {"crf": VIDEO_CRF, "preset": "veryfast"}
        self._audio = None
        if audio_rate:
            self._audio = self._container.add_stream("aac", rate=audio_rate)
            self._audio.layout = "mono"

    def write_frame(self, frame_bgr: np.ndarray) -> None:
        """Append one video frame (BGR uint8)."""
        frame = av.VideoFrame.from_ndarray(
            np.ascontiguousarray(frame_bgr[: self.height, : self.width]), format="bgr24"
        )
        frame.pts = self.frames_written
        frame.time_base = 1 / self.fps
        for packet in self._video.encode(frame):
            self._container.mux(packet)
        self.frames_written += 1

    def write_audio(self, samples: np.ndarray) -> None:
        """Append mono float32 samples (-1..1) at the stream's rate."""
        if self._audio is None:
            raise ValueError("this writer has no audio stream")
        samples = np.clip(np.asarray(samples, dtype=np.float32), -1.0, 1.0)
        for start in range(0, len(samples), AAC_FRAME):
            chunk = samples[start : start + AAC_FRAME]
            frame = av.AudioFrame.from_ndarray(chunk[None, :], format="fltp", layout="mono")
            frame.sample_rate = self._audio.rate
            frame.pts = self._audio_pts
            frame.time_base = Fraction(1, self._audio.rate)
            self._audio_pts += len(chunk)
            for packet in self._audio.encode(frame):
                self._container.mux(packet)

    def close(self) -> Path:
        """Flush the encoders and move the finished file into place."""
        for stream in (self._video, self._audio):
            if stream is not None:
                for packet in stream.encode(None):
                    self._container.mux(packet)
        self._container.close()
        os.replace(self._partial, self.path)
        return self.path

    def abort(self) -> None:
        """Drop everything written so far."""
        try:
            self._container.close()
        except Exception:  # the container may be half-initialised; removing the file is what matters
            pass
        self._partial.unlink(missing_ok=True)

    def __enter__(self) -> "Mp4Writer":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()
