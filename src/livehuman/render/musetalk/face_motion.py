"""Blinks, squints, brows, gaze and head motion on MuseTalk's frames, with the cpu engine's warps.

MuseTalk regenerates only the lower face from audio; the rest of the face would stay frozen, so a
listening avatar would neither blink nor move. The eyes and the head are moved here exactly as the
cpu engine moves them (the same rigs, warps and sliding lids), after the generated mouth is
pasted in: the head's motion then carries the new mouth with it.
"""

from __future__ import annotations

import threading

import numpy as np

from livehuman.avatar.avatar import Avatar
from livehuman.motion.controls import FaceControls
from livehuman.render.cpu.upper_face import (
    UpperFaceRigs,
    build_upper_face,
    eyes_move,
    head_moves,
    move_upper_face,
)


class FaceMotion:
    """One avatar's eye and head motion; safe to share between render threads."""

    def __init__(self, head_motion: bool = True):
        self.head_motion = head_motion
        self._rigs: dict[int, UpperFaceRigs] = {}
        self._lock = threading.Lock()

    def rigs(self, avatar: Avatar, i: int) -> UpperFaceRigs:
        """Source frame `i`'s rigs, built on first use."""
        rigs = self._rigs.get(i)
        if rigs is None:
            with self._lock:
                rigs = self._rigs.get(i)
                if rigs is None:
                    rigs = self._rigs[i] = build_upper_face(avatar.landmarks[i].astype(np.float64), avatar.size)
        return rigs

    def apply(self, image: np.ndarray, avatar: Avatar, i: int, c: FaceControls) -> None:
        """Move the eyes, brows and head of `image` (source frame `i`, mouth already pasted) in place."""
        # Neutral controls change nothing, and need no rigs built.
        if eyes_move(c) or (self.head_motion and head_moves(c)):
            move_upper_face(image, avatar.frames[i], self.rigs(avatar, i), c, self.head_motion)
