"""A prepared avatar: the source frames and, per frame, where the face is."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np


@dataclass
class Avatar:
    """A face ready to be animated, loaded from its on-disk cache.

    Frames are the source's whole frames (BGR, uint8) at the avatar's frame rate; a photo is one
    frame. Landmarks are mediapipe's 478-point face mesh (refined irises) in pixels of the frame.
    """

    name: str
    directory: Path  # the on-disk cache; engines keep their own prepared data under directory/engine
    fps: float
    kind: str  # "photo", "video" or "images"
    frames: np.ndarray  # (n, height, width, 3) uint8, BGR
    landmarks: np.ndarray  # (n, 478, 2) float32, x and y in pixels
    boxes: np.ndarray  # (n, 4) float32 face box x0, y0, x1, y1 in pixels
    bbox_shift: int = 0  # moves the lower face region down (+) or up (-), in pixels, as MuseTalk's
    extra: dict = field(default_factory=dict)  # engine-specific prepared data, loaded lazily

    @property
    def n_frames(self) -> int:
        return len(self.frames)

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) of every frame."""
        return int(self.frames.shape[2]), int(self.frames.shape[1])

    def source_index(self, k: int) -> int:
        """The source frame shown as output frame k: a video plays forward then backward, on a loop,
        so that a reply longer than the footage never jumps."""
        n = self.n_frames
        if n == 1:
            return 0
        period = 2 * n - 2
        k %= period
        return k if k < n else period - k

    def engine_dir(self, engine: str) -> Path:
        path = self.directory / engine
        path.mkdir(parents=True, exist_ok=True)
        return path
