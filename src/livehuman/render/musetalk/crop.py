"""MuseTalk's face crop and the soft lower-face mask that pastes its output back, from face-mesh landmarks."""

from __future__ import annotations

import cv2
import numpy as np

from livehuman.errors import LivehumanError

CROP_SIZE = 256  # MuseTalk's face resolution (latents are 32 x 32)
NOSE_RIDGE = 195  # mid-ridge of the nose: the face mesh's counterpart of the 68-point scheme's #29
EXTRA_MARGIN = 10  # v1.5 extends the crop this many pixels below the chin, room for the opening jaw
# mediapipe's face oval, clockwise from the forehead's top (FACEMESH_FACE_OVAL as one closed loop).
FACE_OVAL = (
    10, 338, 297, 332, 284, 251, 389, 356, 454, 323, 361, 288, 397, 365, 379, 378, 400, 377,
    152, 148, 176, 149, 150, 136, 172, 58, 132, 93, 234, 127, 162, 21, 54, 103, 67, 109,
)
JAW_DROP = 0.12  # the mask reaches this fraction of the crop's height below the jaw line
FEATHER = 0.1  # Gaussian feather width as a fraction of the crop's height (MuseTalk blurs 0.1 x size)


def crop_box(points: np.ndarray, frame_size: tuple[int, int], version: str = "v15", bbox_shift: int = 0,
             extra_margin: int = EXTRA_MARGIN) -> np.ndarray:
    """MuseTalk's face box: landmarks' x range, chin at the bottom, the top mirrored around the nose.

    v1 moves the nose point by `bbox_shift` (down when positive), which moves the masked half; v1.5
    instead lowers the bottom edge by `extra_margin`. Returns int x0, y0, x1, y1 inside the frame.
    """
    width, height = frame_size
    pts = np.asarray(points, np.float32)
    nose_y = float(pts[NOSE_RIDGE, 1]) + (bbox_shift if version == "v1" else 0)
    bottom = float(pts[:, 1].max())
    top = nose_y - (bottom - nose_y)
    if version == "v15":
        bottom += extra_margin
    x0, x1 = float(pts[:, 0].min()), float(pts[:, 0].max())
    box = np.array([round(x0), round(top), round(x1), round(bottom)], np.int64)
    box[[0, 2]] = np.clip(box[[0, 2]], 0, width)
    box[[1, 3]] = np.clip(box[[1, 3]], 0, height)
    if box[2] - box[0] < 16 or box[3] - box[1] < 16:
        raise LivehumanError(f"the face box {box.tolist()} is too small for MuseTalk: use a bigger, frontal face")
    return box


def crop_face(frame: np.ndarray, box: np.ndarray) -> np.ndarray:
    """The box's pixels resized to 256 x 256 (BGR uint8), as MuseTalk resizes them (Lanczos)."""
    x0, y0, x1, y1 = (int(v) for v in box)
    return cv2.resize(frame[y0:y1, x0:x1], (CROP_SIZE, CROP_SIZE), interpolation=cv2.INTER_LANCZOS4)


def lower_face_mask(points: np.ndarray, box: np.ndarray) -> np.ndarray:
    """The blending mask over the box (float32 0..1, the box's height x width): the face below the
    box's middle line (the nose, where MuseTalk's masked half begins), from cheek to cheek and a
    little below the jaw, Gaussian-feathered inwards so it is exactly 0 at and above that line and
    at the box's edges (nothing outside the regenerated half can change)."""
    x0, y0, x1, y1 = (int(v) for v in box)
    w, h = x1 - x0, y1 - y0
    pts = np.asarray(points, np.float32)[list(FACE_OVAL)] - [x0, y0]
    # Push the oval outward from the face's centre so that a jaw that opens stays inside it.
    centre = pts.mean(0)
    grown = centre + (pts - centre) * (1.0 + JAW_DROP)
    canvas = np.zeros((h, w), np.uint8)
    cv2.fillPoly(canvas, [np.round(grown).astype(np.int32)], 255)
    canvas[: h // 2] = 0
    k = max(3, int(FEATHER * h) // 2 * 2 + 1)
    # Erode by the blur's radius first: the feather then stays inside the region and the box.
    canvas[:, [0, -1]] = 0
    canvas[[0, -1], :] = 0
    eroded = cv2.erode(canvas, np.ones((k, k), np.uint8), borderType=cv2.BORDER_CONSTANT, borderValue=0)
    mask = cv2.GaussianBlur(eroded.astype(np.float32) / 255.0, (k, k), 0, borderType=cv2.BORDER_CONSTANT)
    mask[: h // 2] = 0.0
    return mask
