"""The upper face of the cpu engine: eyes (blinks, squints, brows, gaze) and head motion.

Both engines move the eyes and the head with these rigs: the cpu engine after it has warped the
mouth, MuseTalk after it has pasted its generated mouth in (render/musetalk/face_motion.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import cv2
import numpy as np

from livehuman.motion.controls import FaceControls
from livehuman.render.cpu.eyes import EyeRig, build_eye_rig, slide_lids
from livehuman.render.cpu.warp import Crop, PiecewiseWarp, Scratch, slivers, triangulate

HEAD_PAD = 0.9  # the head region reaches this far (face units) beyond the landmarks
HEAD_FEATHER = 0.45  # width of the head mask's soft edge, face units
EYE_EPS = 1e-3
HEAD_EPS = 0.01  # degrees: smaller head angles are no motion


@dataclass
class UpperFaceRigs:
    """What moving one source frame's eyes and head needs, built once per frame."""

    eyes: EyeRig
    eye_warp: PiecewiseWarp
    head: tuple[Crop, np.ndarray, np.ndarray]  # crop, quarter-size feather mask float32, pivot (x, y)


def build_upper_face(points: np.ndarray, size: tuple[int, int]) -> UpperFaceRigs:
    """The eye and head rigs of one frame's landmarks (float64 pixels)."""
    eyes = build_eye_rig(points, size)
    # a triangle that is a sliver in the source frame (near an eye's corner) would smear a dark
    # stroke under the eye as the lids squint; its pixel-thin gap is covered by its neighbours
    triangles = triangulate(eyes.reference.astype(np.float64))
    triangles = triangles[~slivers(eyes.source, triangles)]
    eye_warp = PiecewiseWarp(triangles, eyes.source, Crop.around(eyes.source, size, pad=2))
    return UpperFaceRigs(eyes, eye_warp, _head(points, size, eyes.frame.unit))


def eyes_move(c: FaceControls) -> bool:
    return max(abs(c.blink), abs(c.squint), abs(c.brow), abs(c.brow_inner), abs(c.gaze_x), abs(c.gaze_y)) > EYE_EPS


def head_moves(c: FaceControls) -> bool:
    return max(abs(c.yaw), abs(c.pitch), abs(c.roll)) > HEAD_EPS


def move_upper_face(image: np.ndarray, source: np.ndarray, rigs: UpperFaceRigs, c: FaceControls,
                    head_motion: bool = True, scratch: Scratch | None = None) -> None:
    """Move the eyes and brows of `image` (drawn from `source`), then its head, in place.

    `scratch`: the calling thread's reusable arrays, if it keeps some."""
    if eyes_move(c):
        rigs.eye_warp.apply(image, rigs.eyes.target_pixels(c), scratch)  # squint, brows, gaze
        slide_lids(image, rigs.eyes, c, source)  # then the lids come down over the eyes as they are
    if head_motion and head_moves(c):
        _move_head(image, rigs.head, c, rigs.eyes.frame.unit, scratch or Scratch())


def _head(points: np.ndarray, size: tuple[int, int], unit: float) -> tuple[Crop, np.ndarray, np.ndarray]:
    """The head's region, its feathered motion mask (quarter size) and the pivot at the neck."""
    lo, hi = points.min(0), points.max(0)
    pad = HEAD_PAD * unit
    crop = Crop.around(np.array([lo - pad, hi + pad]), size)
    h, w = crop.shape
    mask = np.zeros((h, w), np.float32)
    centre = (lo + hi) / 2 - (crop.x0, crop.y0)
    axes = (hi - lo) / 2 + 0.35 * unit
    cv2.ellipse(mask, (int(centre[0]), int(centre[1])), (int(axes[0]), int(axes[1])), 0, 0, 360, 1.0, -1)
    # the chin carries less of the motion than the brow, and the neck none
    ys = np.arange(h, dtype=np.float32)[:, None] + crop.y0
    chin, brow = float(points[152, 1]), float(points[10, 1])
    mask *= np.clip(0.35 + 0.65 * (chin - ys) / max(chin - brow, 1.0), 0.0, 1.0)
    # kept at quarter size, with a wide blur: the feather and the motion field are smooth anyway
    small = cv2.resize(mask, (max(w // 4, 2), max(h // 4, 2)), interpolation=cv2.INTER_AREA)
    small = cv2.GaussianBlur(small, (0, 0), HEAD_FEATHER * unit / 8)
    pivot = points[152] + (0, 0.6 * unit)  # the neck, below the chin: the head turns about it
    return crop, small, pivot


def _move_head(image: np.ndarray, head, c: FaceControls, unit: float, scratch: Scratch) -> None:
    """A small similarity motion of the head about the neck, faded out by a wide feathered mask.

    The motion is applied as a smooth displacement field (not a cross-fade), so edges never ghost;
    the field is computed at a quarter of the size and scaled up, being smooth anyway.
    """
    crop, small_mask, pivot = head
    region = image[crop.slices]
    h, w = region.shape[:2]
    sh, sw = small_mask.shape
    # yaw and pitch of a few degrees read, in a single photo, as a shift of the face over the neck
    dx = np.radians(c.yaw) * 1.6 * unit
    dy = -np.radians(c.pitch) * 1.6 * unit
    a = np.radians(c.roll)
    cos, sin = np.cos(a) - 1, np.sin(a)
    p = pivot - (crop.x0, crop.y0)
    xs = (np.arange(sw, dtype=np.float32) * (w / sw))[None, :] - np.float32(p[0])
    ys = (np.arange(sh, dtype=np.float32) * (h / sh))[:, None] - np.float32(p[1])
    # backward map: each output pixel looks back along the (masked) motion
    shift_x = small_mask * (cos * xs - sin * ys + np.float32(dx))
    shift_y = small_mask * (sin * xs + cos * ys + np.float32(dy))
    grid_x, grid_y = _grid(w, h)
    map_x = cv2.resize(shift_x, (w, h), dst=scratch.array("head.map_x", (h, w)), interpolation=cv2.INTER_LINEAR)
    map_y = cv2.resize(shift_y, (w, h), dst=scratch.array("head.map_y", (h, w)), interpolation=cv2.INTER_LINEAR)
    cv2.subtract(grid_x, map_x, dst=map_x)
    cv2.subtract(grid_y, map_y, dst=map_y)
    region[:] = cv2.remap(region, map_x, map_y, cv2.INTER_LINEAR, dst=scratch.array("head.out", region.shape, np.uint8),
                          borderMode=cv2.BORDER_REFLECT)


@lru_cache(maxsize=4)
def _grid(w: int, h: int) -> tuple[np.ndarray, np.ndarray]:
    """Pixel coordinate grids (h, w) float32, read-only (shared between calls)."""
    grids = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    for g in grids:
        g.flags.writeable = False
    return grids[0], grids[1]
