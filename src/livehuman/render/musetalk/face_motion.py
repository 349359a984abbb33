"""Blinks, squints, brows, gaze and head motion on MuseTalk's frames, with the cpu engine's warps.

MuseTalk regenerates only the lower face from audio; the rest of the face would stay frozen, so a
listening avatar would neither blink nor move. The eyes and the head are moved here exactly as the
cpu engine moves them (the same rigs, warps and cleaned shut lids), after the generated mouth is
pasted in: the head's motion then carries the new mouth with it.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np

from livehuman.avatar.avatar import Avatar
from livehuman.motion.controls import FaceControls
from livehuman.render.cpu.engine import (
    BLINK_CLEAN_FROM,
    EYE_EPS,
    _head,
    _move_head,
    _shut_lids,
)
from livehuman.render.cpu.eyes import EyeRig, build_eye_rig, closed_eyes
from livehuman.render.cpu.warp import Crop, PiecewiseWarp, triangulate

HEAD_EPS = 0.01  # degrees: smaller head angles are no motion (as in the cpu engine)


@dataclass
class _Rigs:
    """One source frame's eye and head rigs (the attribute names the cpu engine's helpers read)."""

    eyes: EyeRig
    eye_warp: PiecewiseWarp
    head: tuple
    shut: tuple[np.ndarray, np.ndarray] | None = None  # the eye crop shut and cleaned, and its mask


def moves_face(c: FaceControls, head_motion: bool = True) -> bool:
    """Whether the controls move the eyes, brows or head at all (neutral controls change nothing)."""
    eyes = max(abs(c.blink), abs(c.squint), abs(c.brow), abs(c.gaze_x), abs(c.gaze_y)) > EYE_EPS
    return eyes or (head_motion and max(abs(c.yaw), abs(c.pitch), abs(c.roll)) > HEAD_EPS)


class FaceMotion:
    """One avatar's eye and head motion; safe to share between render threads."""

    def __init__(self, head_motion: bool = True):
        self.head_motion = head_motion
        self._rigs: dict[int, _Rigs] = {}
        self._lock = threading.Lock()

    def rigs(self, avatar: Avatar, i: int) -> _Rigs:
        """Source frame `i`'s rigs, built on first use."""
        rigs = self._rigs.get(i)
        if rigs is None:
            with self._lock:
                rigs = self._rigs.get(i)
                if rigs is None:
                    rigs = self._rigs[i] = _build(avatar, i)
        return rigs

    def apply(self, image: np.ndarray, avatar: Avatar, i: int, c: FaceControls) -> None:
        """Move the eyes, brows and head of `image` (source frame `i`, mouth already pasted) in place."""
        if not moves_face(c, self.head_motion):
            return
        rigs = self.rigs(avatar, i)
        if max(abs(c.blink), abs(c.squint), abs(c.brow), abs(c.gaze_x), abs(c.gaze_y)) > EYE_EPS:
            rigs.eye_warp.apply(image, rigs.eyes.target_pixels(c))
            if c.blink > BLINK_CLEAN_FROM and rigs.shut is None:
                with self._lock:  # built once, on this frame's first blink, by one thread
                    if rigs.shut is None:
                        patch, mask = closed_eyes(avatar.frames[i], rigs.eyes, rigs.eye_warp)
                        rigs.shut = (patch, np.round(mask * 255).astype(np.uint8))
            _shut_lids(image, avatar.frames[i], rigs, c.blink)
        if self.head_motion and max(abs(c.yaw), abs(c.pitch), abs(c.roll)) > HEAD_EPS:
            _move_head(image, rigs.head, c, rigs.eyes.frame.unit)


def _build(avatar: Avatar, i: int) -> _Rigs:
    points = avatar.landmarks[i].astype(np.float64)
    size = avatar.size
    eyes = build_eye_rig(points, size)
    warp = PiecewiseWarp(triangulate(eyes.reference.astype(np.float64)), eyes.source, Crop.around(eyes.source, size, pad=2))
    return _Rigs(eyes, warp, _head(points, size))
