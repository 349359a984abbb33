"""Where on a face a point falls (forehead, eyes, cheek, nose, mouth, chin, hair), from its face-mesh landmarks.

Used for touch (live/touch.py): the page says where the video was clicked, and the avatar's own
478 landmarks for the frame shown say which part of the face that is, for any face position, size
or tilt. The geometry is measured in the face's own frame: origin between the eyes, x along the
eyes' line, one unit the distance between the eye centres.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

ZONES = ("forehead", "eyes", "cheek", "nose", "mouth", "chin", "hair")

# mediapipe face-mesh indices (the canonical 468-point topology; the iris points are not needed).
FACE_OVAL = (10, 338, 297, 332, 284, 251, 389, 356, 454, 323, 361, 288, 397, 365, 379, 378, 400, 377, 152,
             148, 176, 149, 150, 136, 172, 58, 132, 93, 234, 127, 162, 21, 54, 103, 67, 109)
RIGHT_EYE = (33, 7, 163, 144, 145, 153, 154, 155, 133, 173, 157, 158, 159, 160, 161, 246)  # the person's right
LEFT_EYE = (362, 382, 381, 380, 374, 373, 390, 249, 263, 466, 388, 387, 386, 385, 384, 398)
BROWS = (46, 53, 52, 65, 55, 70, 63, 105, 66, 107, 276, 283, 282, 295, 285, 300, 293, 334, 296, 336)
NOSE = (168, 6, 197, 195, 5, 4, 1, 19, 94, 2, 98, 97, 326, 327, 294, 278, 344, 440, 275, 45, 220, 115, 48, 64)
LIPS = (61, 146, 91, 181, 84, 17, 314, 405, 321, 375, 291, 409, 270, 269, 267, 0, 37, 39, 40, 185)
NOSE_BOTTOM = 2  # under the nose's tip, where the upper lip begins
LIP_BOTTOM = 17  # the lower lip's lowest point

# Margins around the features, in the face's units (one unit: between the eye centres).
EYE_MARGIN = (0.12, 0.16)  # x, y: the lids and lashes around the eye opening
NOSE_MARGIN = 0.04
MOUTH_MARGIN = 0.06
HAIR_ABOVE = 1.3  # hair reaches this far above the face's top
HAIR_WIDER = 0.15  # and this far past its sides


@dataclass(frozen=True)
class FaceGeometry:
    """A face's outline and features in its own frame (see the module's docstring)."""

    origin: np.ndarray  # (2,) between the eye centres, pixels
    axes: np.ndarray  # (2, 2) rows: unit x (toward the image's right-hand eye) and unit y (down), pixels
    unit: float  # pixels between the eye centres
    oval: np.ndarray  # (k, 2) the face's outline, face units
    eyes: tuple[np.ndarray, np.ndarray]  # each eye's outline with its margin, face units
    nose: np.ndarray  # the nose's hull with its margin
    mouth: np.ndarray  # the lips' outline with its margin
    brow_y: float  # the brows' mean height: above it is forehead
    eye_x: float  # how far from the middle the eyes reach (outer corners)
    eye_y: float  # the lower lids' height
    nose_y: float  # the bottom of the nose
    mouth_x: float  # the mouth's corners
    chin_y: float  # the lower lip's bottom: below it is chin

    def local(self, point: tuple[float, float] | np.ndarray) -> np.ndarray:
        """A point in pixels, in face units."""
        return self.axes @ (np.asarray(point, np.float64) - self.origin) / self.unit

    def zone(self, point: tuple[float, float]) -> str | None:
        """The zone at pixel `point` (x, y), or None off the face and its hair."""
        p = self.local(point)
        x, y = float(p[0]), float(p[1])
        if any(_inside(eye, p) for eye in self.eyes):
            return "eyes"
        if _inside(self.nose, p):
            return "nose"
        if _inside(self.mouth, p):
            return "mouth"
        if _inside(self.oval, p):
            if y < self.brow_y:
                return "forehead"
            if y > self.chin_y:
                return "chin"
            if y < self.eye_y and abs(x) <= self.eye_x:
                return "eyes"  # between the brows and the lids
            if y > self.nose_y and abs(x) <= self.mouth_x:
                return "mouth"  # above the lip, beside the lips
            return "cheek"
        top = float(self.oval[:, 1].min())
        left, right = float(self.oval[:, 0].min()), float(self.oval[:, 0].max())
        wider = HAIR_WIDER * (right - left)
        if top - HAIR_ABOVE <= y < self.eye_y and left - wider <= x <= right + wider:
            return "hair"  # above the forehead, or beside the temples, within the head's width
        return None


def face_geometry(landmarks: np.ndarray) -> FaceGeometry:
    """The geometry of one face from its (468 or 478, 2) landmarks in pixels."""
    points = np.asarray(landmarks, np.float64)[:, :2]
    right_eye, left_eye = points[list(RIGHT_EYE)].mean(0), points[list(LEFT_EYE)].mean(0)
    across = left_eye - right_eye
    unit = float(np.hypot(*across))
    if unit <= 0:
        raise ValueError("the landmarks' eyes coincide: not a face")
    ux = across / unit
    if ux[0] < 0:  # keep x toward the image's right whichever eye lies there
        ux = -ux
    axes = np.array([ux, [-ux[1], ux[0]]])  # y: x turned 90° clockwise on screen, i.e. down
    origin = (right_eye + left_eye) / 2
    local = (points - origin) @ axes.T / unit

    def hull(indices, margin: tuple[float, float] | float) -> np.ndarray:
        part = local[list(indices)]
        centre = part.mean(0)
        mx, my = margin if isinstance(margin, tuple) else (margin, margin)
        out = _convex_hull(part)
        direction = out - centre
        length = np.maximum(np.hypot(*direction.T), 1e-9)[:, None]
        return out + direction / length * np.array([mx, my])

    return FaceGeometry(
        origin=origin, axes=axes, unit=unit, oval=local[list(FACE_OVAL)],
        eyes=(hull(RIGHT_EYE, EYE_MARGIN), hull(LEFT_EYE, EYE_MARGIN)),
        nose=hull(NOSE, NOSE_MARGIN), mouth=hull(LIPS, MOUTH_MARGIN),
        brow_y=float(local[list(BROWS), 1].mean()),
        eye_x=float(np.abs(local[list(RIGHT_EYE + LEFT_EYE), 0]).max()) + EYE_MARGIN[0],
        eye_y=float(local[list(RIGHT_EYE + LEFT_EYE), 1].max()),
        nose_y=float(local[NOSE_BOTTOM, 1]),
        mouth_x=float(np.abs(local[list(LIPS), 0]).max()),
        chin_y=float(local[LIP_BOTTOM, 1]) + MOUTH_MARGIN,
    )


def zone_at(landmarks: np.ndarray, size: tuple[int, int], x: float, y: float) -> str | None:
    """The zone under (x, y), given in 0..1 of a frame `size` (width, height) with these landmarks."""
    width, height = size
    return face_geometry(landmarks).zone((x * width, y * height))


def _inside(polygon: np.ndarray, p: np.ndarray) -> bool:
    """Whether `p` lies inside `polygon` (even-odd rule; the edge counts as inside for convex hulls)."""
    xs, ys = polygon[:, 0], polygon[:, 1]
    x, y = float(p[0]), float(p[1])
    inside = False
    j = len(polygon) - 1
    for i in range(len(polygon)):
        if (ys[i] > y) != (ys[j] > y):
            cross = xs[j] + (y - ys[j]) * (xs[i] - xs[j]) / (ys[i] - ys[j])
            if x < cross:
                inside = not inside
        j = i
    return inside


def _convex_hull(points: np.ndarray) -> np.ndarray:
    """The convex hull of 2-D points, counter-clockwise (Andrew's monotone chain)."""
    pts = sorted(map(tuple, np.asarray(points, np.float64)))

    def turn(o, a, b) -> float:
        return (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0])

    lower: list = []
    upper: list = []
    for p in pts:
        while len(lower) >= 2 and turn(lower[-2], lower[-1], p) <= 0:
            lower.pop()
        lower.append(p)
    for p in reversed(pts):
        while len(upper) >= 2 and turn(upper[-2], upper[-1], p) <= 0:
            upper.pop()
        upper.append(p)
    return np.array(lower[:-1] + upper[:-1])
