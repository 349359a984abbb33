"""How the rendered face looks, measured on pixels: lip thickness, stray dark pixels, inner-mouth brightness,
the expression (mouth corners, brows).

Measurements re-detect the face mesh on the rendered frame, so they judge what a viewer (and a face
tracker) sees, not what the engine meant to draw. Also the harder faces and the side-by-side strips
that docs/cpu-engine.md shows.
"""

from __future__ import annotations

import cv2
import numpy as np

from livehuman.avatar.landmarks import inter_ocular
from livehuman.motion.controls import FaceControls
from livehuman.render.cpu.face import LOWER_INNER, LOWER_OUTER, LUMA_BGR, UPPER_INNER, UPPER_OUTER, FaceFrame

# Mouth shapes for the strips and checks, as motion/visemes.py gives them.
VISEMES = {
    "rest": FaceControls(),
    "ah": FaceControls(jaw=1.0, spread=0.15, teeth=0.35),
    "ee": FaceControls(jaw=0.25, spread=1.0, teeth=0.7),
    "oo": FaceControls(jaw=0.22, round=1.0),
    "f": FaceControls(jaw=0.08, tuck=1.0, teeth=0.7),
    "m": FaceControls(press=0.9),
}
NEAR_BLACK = 40  # every channel below this
LIP_MARGIN = 0.04  # the outer lip contour is dilated this much (face units) before counting
AROUND = 0.3  # dark pixels are counted this far around the lips (face units)


INNER_BROWS = [107, 336, 55, 285]  # the brows' inner ends, upper and lower edge, both sides
OUTER_BROWS = [70, 300, 46, 276]
EYE_CORNERS = [33, 133, 362, 263]


def expression_measures(points: np.ndarray) -> dict[str, float]:
    """The expression of 478 landmarks, in inter-ocular units along the face's own axes (a tilted
    head reads the same): `corners` is how far the mouth corners sit above the lips' meeting point,
    `inner_brows` and `outer_brows` how far those brow points sit above the eye corners' line."""
    frame = FaceFrame.of(points, points[EYE_CORNERS].mean(0))
    uv = frame.to_face(points)
    centre = (uv[13] + uv[14]) / 2
    return {
        "corners": float(centre[1] - uv[[61, 291], 1].mean()),
        "inner_brows": float(-uv[INNER_BROWS, 1].mean()),
        "outer_brows": float(-uv[OUTER_BROWS, 1].mean()),
    }


def lower_lip_thickness(points: np.ndarray) -> float:
    """Lower inner lip (14) to lower outer lip (17) midpoints, over the inter-ocular distance."""
    return float(np.linalg.norm(points[17] - points[14])) / inter_ocular(points)


def _polygon_mask(shape, poly: np.ndarray) -> np.ndarray:
    mask = np.zeros(shape[:2], np.uint8)
    cv2.fillPoly(mask, [np.round(poly).astype(np.int32)], 1)
    return mask


def _disk(radius: float) -> np.ndarray:
    r = max(int(round(radius)), 1)
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))


def stray_dark_pixels(frame: np.ndarray, source: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Near-black pixels around the mouth, outside its outer lip contour, that the source lacks there.

    `points` are the face mesh re-detected on `frame`. Counted within AROUND face units of the lips
    (the region the mouth's drawing could reach) and outside the outer lips dilated by LIP_MARGIN; a
    pixel near-black in the source within one pixel (a moved shadow) does not count. Returns the mask."""
    unit = inter_ocular(points)
    outer = np.concatenate([points[UPPER_OUTER], points[LOWER_OUTER[::-1][1:-1]]])
    lips = _polygon_mask(frame.shape, outer)
    inside = cv2.dilate(lips, _disk(LIP_MARGIN * unit))
    around = cv2.dilate(lips, _disk(AROUND * unit))
    dark = (frame < NEAR_BLACK).all(2)
    was_dark = cv2.dilate((source < NEAR_BLACK).all(2).astype(np.uint8), np.ones((3, 3), np.uint8)) > 0
    return dark & ~was_dark & (around > 0) & (inside == 0)


def inner_mouth_mask(shape, points: np.ndarray) -> np.ndarray:
    """The inside of the re-detected inner lips (uint8 0/1)."""
    inner = np.concatenate([points[UPPER_INNER], points[LOWER_INNER[::-1][1:-1]]])
    return _polygon_mask(shape, inner)


def bright_lower_inner(frame: np.ndarray, points: np.ndarray) -> float:
    """Share of the inner mouth's lower third (above the lower lip) that is light and unsaturated:
    the lower teeth when they show."""
    mask = inner_mouth_mask(frame.shape, points) > 0
    ys, xs = np.nonzero(mask)
    if len(ys) < 10:
        return 0.0
    # rows of the lower third, measured across the face (the face's own vertical)
    down = points[14] - points[13]
    length = max(float(np.linalg.norm(down)), 1e-6)
    down = down / length
    depth = ((np.stack([xs, ys], 1) - points[13]) @ down) / length
    sel = depth > 2 / 3
    if sel.sum() < 5:
        return 0.0
    pix = frame[ys[sel], xs[sel]].astype(np.float64)
    luma = pix @ LUMA_BGR
    sat = pix.max(1) - pix.min(1)
    skin = float(np.median(frame[cv2.dilate(mask.astype(np.uint8), _disk(0.3 * inter_ocular(points))) > 0] @ LUMA_BGR))
    return float(((luma > 0.75 * skin) & (sat < 0.45 * luma + 10)).mean())


def darker_skin(image: np.ndarray) -> np.ndarray:
    """The photo as a darker-skinned face: lower lightness, warmer and richer colour (in Lab)."""
    lab = cv2.cvtColor(image, cv2.COLOR_BGR2LAB).astype(np.float32)
    lab[..., 0] = 0.48 * lab[..., 0] + 8
    lab[..., 1] = 128 + 0.9 * (lab[..., 1] - 128) + 2
    lab[..., 2] = 128 + 0.9 * (lab[..., 2] - 128) + 2
    return cv2.cvtColor(np.clip(lab, 0, 255).astype(np.uint8), cv2.COLOR_LAB2BGR)


def with_pen(image: np.ndarray, points: np.ndarray, colour=(38, 22, 18), stripe=(90, 70, 60)) -> np.ndarray:
    """A dark pen (BGR `colour`) held against the cheek, its tip near the image-right mouth corner."""
    unit = inter_ocular(points)
    corner = points[291].astype(np.float64)
    direction = np.array([np.cos(np.radians(35)), np.sin(np.radians(35))])
    tip = corner + np.array([0.12, 0.02]) * unit
    end = tip + direction * 1.2 * unit
    out = image.copy()
    thickness = max(int(0.09 * unit), 2)
    cv2.line(out, tuple(np.round(tip).astype(int)), tuple(np.round(end).astype(int)), colour, thickness, cv2.LINE_AA)
    # a lighter stripe along it, so it reads as a round object lit from above
    shift = np.array([0, -0.25 * thickness])
    cv2.line(out, tuple(np.round(tip + shift).astype(int)), tuple(np.round(end + shift).astype(int)), stripe, max(thickness // 4, 1), cv2.LINE_AA)
    return out


def strip(source: np.ndarray, frames: list[np.ndarray], points: np.ndarray, tile_width: int = 200) -> np.ndarray:
    """Side-by-side tiles of the lower face, the source first: the mouth and its surroundings."""
    unit = inter_ocular(points)
    centre = (points[13] + points[14]) / 2
    half = 0.75 * unit
    x0, y0 = int(round(centre[0] - half)), int(round(centre[1] - 0.7 * half))
    x1, y1 = int(round(centre[0] + half)), int(round(centre[1] + 0.85 * half))
    tiles = []
    for image in [source, *frames]:
        pad = cv2.copyMakeBorder(image, 200, 200, 200, 200, cv2.BORDER_REPLICATE)
        crop = pad[y0 + 200 : y1 + 200, x0 + 200 : x1 + 200]
        height = int(round(tile_width * crop.shape[0] / crop.shape[1]))
        tiles.append(cv2.resize(crop, (tile_width, height), interpolation=cv2.INTER_AREA if crop.shape[1] > tile_width else cv2.INTER_CUBIC))
    return np.hstack(tiles)


def measure(avatar, engine, detector) -> dict:
    """Re-detected lower-lip thickness ratios (open over rest) and stray dark pixels per viseme, and the frames."""
    from livehuman.render.engine import FrameDrive

    out, frames = {}, []
    rest = None
    for label, controls in VISEMES.items():
        frame = engine.render(avatar, 0, FrameDrive(controls))
        frames.append(frame)
        face = detector.detect(frame)
        if face is None:
            out[label] = None
            continue
        thickness = lower_lip_thickness(face.points)
        rest = thickness if label == "rest" else rest
        out[label] = {
            "thickness": round(thickness / rest, 3) if rest else None,
            "stray_dark": int(stray_dark_pixels(frame, avatar.frames[0], face.points).sum()),
        }
    return {"visemes": out, "frames": frames}
