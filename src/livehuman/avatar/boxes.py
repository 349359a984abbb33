"""MuseTalk-style face crop boxes from face-mesh landmarks, and the bbox_shift that moves them."""

from __future__ import annotations

import numpy as np

from livehuman.errors import LivehumanError

# MuseTalk centres its crop box vertically on the 68-point landmark 29, two thirds of the way down the
# nose bridge; mediapipe's mesh has the bridge top (168) and the nose tip (4).
NOSE_BRIDGE_TOP = 168
NOSE_TIP = 4
BRIDGE_FRACTION = 2.0 / 3.0
MIN_BOX_HEIGHT = 4  # pixels: a shorter box has no face left in it


def half_face_y(landmarks: np.ndarray) -> np.ndarray:
    """The row that splits MuseTalk's box into upper and lower face, before any bbox_shift."""
    top = landmarks[..., NOSE_BRIDGE_TOP, 1]
    tip = landmarks[..., NOSE_TIP, 1]
    return top + BRIDGE_FRACTION * (tip - top)


def face_boxes(landmarks: np.ndarray, bbox_shift: int = 0, size: tuple[int, int] | None = None) -> np.ndarray:
    """(n, 4) float32 boxes x0, y0, x1, y1, as MuseTalk's get_landmark_and_bbox draws them.

    The box spans the face's width, ends at the chin, and is centred vertically on the half-face row
    moved by bbox_shift pixels: positive moves the lower face region (the box's lower half, the
    part MuseTalk repaints) down and shrinks the box, negative moves it up. `size` (width, height)
    clips the boxes to the frame.
    """
    landmarks = np.asarray(landmarks, dtype=np.float32)
    half = half_face_y(landmarks) + bbox_shift
    chin = landmarks[..., 1].max(-1)
    top = half - (chin - half)
    boxes = np.stack([landmarks[..., 0].min(-1), top, landmarks[..., 0].max(-1), chin], axis=-1)
    if size is not None:
        width, height = size
        boxes[..., [0, 2]] = boxes[..., [0, 2]].clip(0, width)
        boxes[..., [1, 3]] = boxes[..., [1, 3]].clip(0, height)
    return boxes.astype(np.float32)


def bbox_shift_range(landmarks: np.ndarray) -> tuple[int, int]:
    """The bbox_shift values that keep the split row on the nose (MuseTalk prints the same range):
    up to the bridge's midpoint, down to the tip."""
    landmarks = np.asarray(landmarks, dtype=np.float32).reshape(-1, *landmarks.shape[-2:])
    top = np.median(landmarks[:, NOSE_BRIDGE_TOP, 1])
    tip = np.median(landmarks[:, NOSE_TIP, 1])
    half = top + BRIDGE_FRACTION * (tip - top)
    middle = (top + half) / 2
    return -int(round(half - middle)), int(round(tip - half))


def checked_face_boxes(landmarks: np.ndarray, bbox_shift: int, size: tuple[int, int], where: str) -> np.ndarray:
    """face_boxes, refusing a bbox_shift that leaves a box with no face in it (`where`: which face)."""
    boxes = face_boxes(landmarks, bbox_shift, size)
    if ((boxes[:, 3] - boxes[:, 1]) < MIN_BOX_HEIGHT).any():
        low, high = bbox_shift_range(landmarks)
        raise LivehumanError(f"bbox_shift {bbox_shift} leaves no face box {where}; use a value between {low} and {high}")
    return boxes
