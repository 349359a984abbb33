"""The file transport: frames and audio into an MP4 (H.264 + AAC), written atomically."""

from __future__ import annotations

import os
import secrets
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np

from livehuman.errors import LivehumanError
from livehuman.speech.audio import StreamResampler

AAC_FRAME = 1024  # samples per AAC frame
# The rates FFmpeg's AAC encoder takes; audio at any other (192 kHz, 12345 Hz) is resampled to 48 kHz.
AAC_RATES = frozenset({96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000, 7350})
VIDEO_CRF = "18"  # visually lossless for faces; the mouth must not be smeared by the encoder
# Up to this size a frame is encoded by one x264 thread: it keeps pace with the engine drawing the
# next (~2.4 ms a 512x512 frame against the cpu engine's ~4.5 on this project's 2-core machine),
# where x264's own default, a thread per core and more, takes turns with the drawing thread for
# the same cores (`bench render`'s drawing and encoding from audio: 3.07 -> 2.78 s; docs/benchmarks.md).
ONE_THREAD_PIXELS = 640 * 640


def video_frame(image: np.ndarray) -> av.VideoFrame:
    """A BGR image as the encoder's own YUV 4:2:0 frame.

    OpenCV's conversion (BT.601, limited range, like FFmpeg's default) takes a quarter to a half of
    the time the encoder's own conversion from BGR would, per frame of every live session and of
    every render; odd sizes, which 4:2:0 cannot halve, are left to the encoder.
    """
    height, width = image.shape[:2]
    if height % 2 or width % 2:
        return av.VideoFrame.from_ndarray(image, format="bgr24")
    return av.VideoFrame.from_ndarray(cv2.cvtColor(image, cv2.COLOR_BGR2YUV_I420), format="yuv420p")


def check_output(path: str | Path) -> Path:
    """The MP4 path a render will write, checked before any work: an .mp4 in a folder we may write.

    Creates the folder if needed. A render that fails here costs nothing and leaves nothing behind.
    """
    path = Path(path)
    if path.is_dir():
        raise LivehumanError(f"the output {path} is a folder: give a file name such as {path / 'out.mp4'}")
    if path.name.lower() == ".mp4":
        raise LivehumanError(f"the output {path} has no name: give one such as {path.with_name('out.mp4')}")
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
    under a temporary name of its own (two renders to one path do not share it), and `abort()` (or
    an exception inside a `with` block) removes it, so a failed render never leaves a half-written
    output behind. A full disk or a failing write is one LivehumanError naming the output.
    """

    def __init__(self, path: str | Path, width: int, height: int, fps: float, audio_rate: int | None):
        self.path = check_output(path)
        # Named before it exists, so that a Ctrl+C or SIGTERM at any moment after its creation
        # finds the name to remove (one arriving between mkstemp's return and the assignment of its
        # result left the file behind on a loaded machine).
        self._partial = self.path.parent / f".{self.path.stem}.{secrets.token_hex(6)}.partial.mp4"
        try:
            self._partial.touch(exist_ok=False)
            self._open(width, height, fps, audio_rate)
        except FileExistsError as exc:  # another's file of that name (48 random bits: not in practice)
            raise self._failed(exc) from None
        except BaseException as exc:  # (Ctrl+C or SIGTERM included: nothing is left behind)
            self._partial.unlink(missing_ok=True)
            if isinstance(exc, OSError):
                raise self._failed(exc) from None
            raise

    def _open(self, width: int, height: int, fps: float, audio_rate: int | None) -> None:
        # yuv420p needs even dimensions; an odd row or column is cropped off
        self.width, self.height = width - width % 2, height - height % 2
        self.fps = Fraction(fps).limit_denominator(1001)
        self.frames_written = 0
        self._audio_pts = 0
        self._unsent = np.zeros(0, np.float32)  # audio samples short of a whole AAC frame
        try:
            self._container = av.open(str(self._partial), mode="w")
        except OSError as exc:
            raise self._failed(exc) from None
        self._video = self._container.add_stream("libx264", rate=self.fps)
        self._video.width, self._video.height = self.width, self.height
        self._video.pix_fmt = "yuv420p"
        options = {"crf": VIDEO_CRF, "preset": "veryfast"}
        if self.width * self.height <= ONE_THREAD_PIXELS:
            options["threads"] = "1"
        self._video.options = options
        self._audio = None
        self._resampler: StreamResampler | None = None
        if audio_rate:
            if audio_rate not in AAC_RATES:
                self._resampler = StreamResampler(audio_rate, 48000)
                audio_rate = 48000
            self._audio = self._container.add_stream("aac", rate=audio_rate)
            self._audio.layout = "mono"

    def write_frame(self, frame_bgr: np.ndarray) -> None:
        """Append one video frame (BGR uint8)."""
        # (in 4:2:0 converted by OpenCV: it does not hold the GIL, which the engine drawing the next frame wants)
        frame = video_frame(np.ascontiguousarray(frame_bgr[: self.height, : self.width]))
        frame.pts = self.frames_written
        frame.time_base = 1 / self.fps
        for packet in self._video.encode(frame):
            self._container.mux(packet)
        self.frames_written += 1

    def write_audio(self, samples: np.ndarray) -> None:
        """Append mono float32 samples (-1..1) at the stream's rate, any number at a time (a frame's
        worth beside each frame spreads the AAC encoder's work over the render)."""
        if self._audio is None:
            raise ValueError("this writer has no audio stream")
        samples = np.asarray(samples, dtype=np.float32)
        if self._resampler is not None:
            samples = self._resampler.process(samples)
        # AAC takes whole frames of 1024 samples, but for the last: the rest waits for more, or close().
        unsent = np.concatenate([self._unsent, np.clip(samples, -1.0, 1.0)])
        whole = len(unsent) - len(unsent) % AAC_FRAME
        self._encode_audio(unsent[:whole])
        self._unsent = unsent[whole:]

    def _encode_audio(self, samples: np.ndarray) -> None:
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
        try:
            if self._resampler is not None:
                self._unsent = np.concatenate([self._unsent, np.clip(self._resampler.flush(), -1.0, 1.0)])
            self._encode_audio(self._unsent)
            for stream in (self._video, self._audio):
                if stream is not None:
                    for packet in stream.encode(None):
                        self._container.mux(packet)
            self._container.close()
            os.replace(self._partial, self.path)
        except BaseException as exc:  # a full disk, most often, or Ctrl+C: nothing half-written stays
            self.abort()
            if isinstance(exc, OSError):
                raise self._failed(exc) from None
            raise
        return self.path

    def _failed(self, exc: OSError) -> LivehumanError:
        return LivehumanError(f"cannot write {self.path}: {exc.strerror or exc}")

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
            return
        self.abort()
        if isinstance(exc, OSError) and exc.errno is not None:  # a frame or packet that could not be written
            raise self._failed(exc) from None
