"""The interface every render engine implements."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

from livehuman.avatar.avatar import Avatar
from livehuman.motion.controls import FaceControls
from livehuman.rates import LISTEN_RATE

# Every FrameDrive's audio is at LISTEN_RATE. The old name stays until live/reply_audio.py moves onto
# livehuman.rates (another change owns that file).
AUDIO_RATE = LISTEN_RATE


@dataclass
class FrameDrive:
    """Everything that drives one output frame; each engine uses what it needs.

    `audio` is 16 kHz mono float32 covering the engine's `audio_context` around the frame's centre
    (zero-padded before the start and after the end of the speech).
    """

    controls: FaceControls
    audio: np.ndarray | None = None


class Engine(Protocol):
    """A lip-sync renderer. `load` once per avatar, then `render` any frame in any order."""

    name: str
    # Seconds of audio the engine wants before and after each frame's centre (0, 0 for none).
    audio_context: tuple[float, float]

    def load(self, avatar: Avatar) -> None:
        """Prepare (or load from the avatar's cache) what rendering this avatar needs."""

    def render(self, avatar: Avatar, index: int, drive: FrameDrive) -> np.ndarray:
        """Output frame `index` (BGR uint8, the avatar's whole frame); the engine maps `index` onto
        the avatar's source frames with `avatar.source_index`, so any output length works."""
