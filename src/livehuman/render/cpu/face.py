"""Face-mesh landmark groups and the face-normalized frame the cpu engine deforms in."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from livehuman.avatar.landmarks import LEFT_EYE_CORNERS, RIGHT_EYE_CORNERS

# Lip contours of mediapipe's face mesh, each from the image-left corner to the image-right corner.
UPPER_OUTER = np.array([61, 185, 40, 39, 37, 0, 267, 269, 270, 409, 291])
LOWER_OUTER = np.array([61, 146, 91, 181, 84, 17, 314, 405, 321, 375, 291])
UPPER_INNER = np.array([78, 191, 80, 81, 82, 13, 312, 311, 310, 415, 308])
LOWER_INNER = np.array([78, 95, 88, 178, 87, 14, 317, 402, 318, 324, 308])

# Eyelids, each from the outer corner to the inner corner (image-left eye first).
EYES = (
    (np.array([33, 246, 161, 160, 159, 158, 157, 173, 133]), np.array([33, 7, 163, 144, 145, 153, 154, 155, 133])),
    (np.array([263, 466, 388, 387, 386, 385, 384, 398, 362]), np.array([263, 249, 390, 373, 374, 380, 381, 382, 362])),
)
BROWS = np.array([70, 63, 105, 66, 107, 55, 65, 52, 53, 46, 300, 293, 334, 296, 336, 285, 295, 282, 283, 276])
IRISES = (np.arange(468, 473), np.arange(473, 478))
NOSE_TIP = 1
N_MESH = 468  # the face mesh proper; 468..477 are the irises
LUMA_BGR = np.array([0.114, 0.587, 0.299])  # BT.601 brightness of a BGR pixel


def lip_mask(points: np.ndarray, outer: np.ndarray, inner: np.ndarray, shape: tuple[int, ...],
             origin: tuple[float, float] | np.ndarray = (0, 0)) -> np.ndarray:
    """One lip of 478 landmarks (pixels), between its outer and inner contours (UPPER_OUTER and
    UPPER_INNER, or LOWER_…), corner to corner: a bool mask of `shape` whose pixel (0, 0) lies at `origin`."""
    mask = np.zeros(shape[:2], np.uint8)
    polygon = np.concatenate([points[outer], points[inner][::-1]]) - np.asarray(origin)
    cv2.fillPoly(mask, [np.round(polygon).astype(np.int32)], 1)
    return mask > 0


@dataclass
class FaceFrame:
    """A face's own axes: origin, unit vectors along and across the eyes, and the inter-ocular unit."""

    origin: np.ndarray  # (2,) pixels
    ex: np.ndarray  # (2,) from the image-left eye to the image-right eye
    ey: np.ndarray  # (2,) perpendicular, pointing down the face
    unit: float  # inter-ocular distance in pixels

    @classmethod
    def of(cls, points: np.ndarray, origin: np.ndarray) -> "FaceFrame":
        """The frame of a face's 478 landmarks (pixels), with its origin at `origin`."""
        right = points[list(RIGHT_EYE_CORNERS)].mean(0)
        left = points[list(LEFT_EYE_CORNERS)].mean(0)
        axis = (left - right).astype(np.float64)
        unit = float(np.linalg.norm(axis))
        ex = axis / max(unit, 1e-6)
        ey = np.array([-ex[1], ex[0]])
        return cls(np.asarray(origin, np.float64), ex, ey, max(unit, 1e-6))

    def to_face(self, points: np.ndarray) -> np.ndarray:
        """Pixels to face units (u right, v down, origin at `origin`)."""
        d = np.asarray(points, np.float64) - self.origin
        return np.stack([d @ self.ex, d @ self.ey], -1) / self.unit

    def to_pixels(self, uv: np.ndarray) -> np.ndarray:
        """Face units to pixels (the inverse of `to_face`)."""
        uv = np.asarray(uv, np.float64) * self.unit
        return self.origin + uv[..., :1] * self.ex + uv[..., 1:] * self.ey

    def vector_to_pixels(self, duv: np.ndarray) -> np.ndarray:
        """A displacement in face units to pixels (turned and scaled, not moved by the origin)."""
        duv = np.asarray(duv, np.float64) * self.unit
        return duv[..., :1] * self.ex + duv[..., 1:] * self.ey


def clip_to_image(px: np.ndarray, image_size: tuple[int, int]) -> np.ndarray:
    """`px` (n, 2) clipped in place to the pixels of an image of `image_size` (width, height)."""
    width, height = image_size
    px[:, 0] = np.clip(px[:, 0], 0, width - 1)
    px[:, 1] = np.clip(px[:, 1], 0, height - 1)
    return px
