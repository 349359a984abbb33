"""The inner mouth drawn wherever the target lips part: cavity, teeth and tongue."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from livehuman.render.cpu.face import LOWER_INNER, LOWER_OUTER, LUMA_BGR, UPPER_INNER, UPPER_OUTER

SHIFT = 4  # fixed-point bits for anti-aliased polygons
DEFAULT_TEETH = np.array([158.0, 186.0, 206.0])  # BGR: warm off-white, not paper white
TEETH_HEIGHT = 0.12  # the upper incisors' visible height at teeth=1, face units
LOWER_TEETH_HEIGHT = 0.035


@dataclass
class MouthColours:
    """Colours (BGR float) sampled from the face: lips, cavity, teeth, tongue."""

    lip: np.ndarray
    cavity: np.ndarray
    teeth: np.ndarray
    tongue: np.ndarray

    @classmethod
    def sample(cls, frame: np.ndarray, points: np.ndarray, unit: float) -> "MouthColours":
        """Sample from one source frame and its 478 landmarks (pixels)."""
        outer = np.concatenate([points[UPPER_OUTER], points[LOWER_OUTER[::-1][1:-1]]])
        inner = np.concatenate([points[UPPER_INNER], points[LOWER_INNER[::-1][1:-1]]])
        lips_mask = np.zeros(frame.shape[:2], np.uint8)
        cv2.fillPoly(lips_mask, [np.round(outer).astype(np.int32)], 255)
        inner_mask = np.zeros_like(lips_mask)
        cv2.fillPoly(inner_mask, [np.round(inner).astype(np.int32)], 255)
        lips_only = (lips_mask > 0) & (inner_mask == 0)
        lip = frame[lips_only].astype(np.float64).mean(0) if lips_only.sum() > 10 else np.array([90.0, 90.0, 160.0])
        # no teeth in the photo: an off-white as bright as the skin's highlights, tinted by the skin
        cheeks = np.concatenate([_patch(frame, points[k], 0.12 * unit) for k in (50, 280, 151)])
        skin = cheeks.mean(0) if len(cheeks) else np.array([140.0, 160.0, 200.0])
        level = np.clip(1.1 * (skin @ LUMA_BGR), 140, 215)
        # teeth take part of the photo's colour cast, as real ones would under the same light
        teeth = level * (0.55 * DEFAULT_TEETH / DEFAULT_TEETH.mean() + 0.45 * skin / max(skin.mean(), 1.0))
        gap = np.linalg.norm(points[14] - points[13]) / unit
        inside = frame[inner_mask > 0].astype(np.float64)
        if gap > 0.06 and len(inside) > 30:
            # an open source mouth: its brightest, least saturated pixels are the person's teeth
            luma = inside @ LUMA_BGR
            sat = inside.max(1) - inside.min(1)
            bright = inside[(luma >= np.percentile(luma, 70)) & (sat <= np.percentile(sat, 60))]
            if len(bright) > 10 and bright.mean() > 120:
                teeth = np.median(bright, 0)
                teeth = 0.85 * teeth + 0.15 * DEFAULT_TEETH * teeth.mean() / DEFAULT_TEETH.mean()
        cavity = lip * np.array([0.11, 0.10, 0.17]) + 4
        tongue = (0.5 * lip + 0.5 * np.array([95.0, 100.0, 175.0]) * lip.mean() / 120.0) * 0.75
        return cls(lip, cavity, np.clip(teeth, 0, 245), np.clip(tongue, 0, 255))


def draw_mouth(
    image: np.ndarray,
    upper: np.ndarray,
    lower: np.ndarray,
    unit: float,
    down: np.ndarray,
    colours: MouthColours,
    teeth: float,
    tongue: float,
    interior=None,
    tuck: float = 0.0,
) -> None:
    """Paint the inner mouth between the upper and lower inner-lip contours (11 points each, pixels).

    `down` is the face's downward unit vector; `interior`, when given, paints the person's own mouth
    from their footage: interior(origin, (h, w)) -> (BGR layer, coverage); the synthetic mouth fills
    whatever it does not cover.
    """
    gaps = (lower - upper) @ down
    if gaps.max() < 0.35:
        return
    poly = np.concatenate([upper, lower[::-1][1:-1]])
    height, width = image.shape[:2]
    x0, y0 = np.maximum(np.floor(poly.min(0)).astype(int) - 2, 0)
    x1, y1 = np.minimum(np.ceil(poly.max(0)).astype(int) + 3, (width, height))
    if x1 - x0 < 2 or y1 - y0 < 2:
        return
    origin = np.array([x0, y0], np.float64)
    region = image[y0:y1, x0:x1]
    shape = region.shape[:2]
    upper, lower, poly = upper - origin, lower - origin, poly - origin
    mask = _fill(shape, poly)
    if interior is not None:
        layer, coverage = interior(origin, shape)
        layer = layer.astype(np.float32)
        if (coverage[mask > 0] < 1).any():
            synthetic = _synthetic(shape, upper, lower, gaps, unit, down, colours, teeth, tongue, tuck)
            layer = synthetic + (layer - synthetic) * coverage[..., None]
    else:
        layer = _synthetic(shape, upper, lower, gaps, unit, down, colours, teeth, tongue, tuck)
    # the lips' inner edges cast a soft shadow into the mouth
    soft = cv2.GaussianBlur(mask, (0, 0), max(0.025 * unit, 0.6))
    layer = layer * (0.7 + 0.3 * np.clip(soft, 0, 1))[..., None]
    m = mask[..., None]
    region[:] = np.clip(region * (1 - m) + layer * m + 0.5, 0, 255).astype(np.uint8)


def _synthetic(shape, upper, lower, gaps, unit, down, colours, teeth, tongue, tuck) -> np.ndarray:
    h, w = shape
    centre = (upper[5] + lower[5]) / 2
    half_w = max(np.linalg.norm(upper[-1] - upper[0]) / 2, 1.0)
    gap = max(gaps.max(), 1.0)
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    qx = (xs - centre[0]) / half_w
    order = np.argsort(upper[:, 0])
    top = np.interp(xs[0], upper[order, 0], upper[order, 1])[None, :]  # the upper lip's edge per column
    # soft shading: darker toward the corners and under the lips, lighter low in the middle
    depth = np.clip((ys - top) / gap, 0, 1)
    shade = np.clip(1.0 - 0.6 * qx * qx + 0.35 * depth, 0.3, 1.25)
    layer = colours.cavity.astype(np.float32)[None, None, :] * shade[..., None]
    t = np.abs(np.linspace(-1, 1, len(upper)))
    edge = np.sqrt(np.clip(1 - t * t, 0, 1))
    # tongue: a low mound filling the bottom of the cavity, raised toward the teeth for /θ l/
    lift = (0.22 + 0.3 * tongue) * edge
    tongue_top = lower - down * (gaps * lift)[:, None]
    tongue_poly = np.concatenate([tongue_top[1:-1], lower[::-1][1:-1]])
    tm = _fill(shape, tongue_poly, blur=max(0.03 * unit, 0.7))
    tongue_alpha = (0.35 + 0.55 * tongue) * tm
    tongue_shade = np.clip(1.0 - 0.7 * qx * qx, 0.3, 1.0)
    tongue_layer = colours.tongue.astype(np.float32)[None, None, :] * tongue_shade[..., None]
    layer = layer * (1 - tongue_alpha[..., None]) + tongue_layer * tongue_alpha[..., None]
    if teeth > 0.01:
        # lower teeth: a faint, shadowed row just above the lower lip in the middle
        lo_h = np.minimum(LOWER_TEETH_HEIGHT * unit * teeth, 0.18 * gaps) * edge
        lo_poly = np.concatenate([lower[2:-2], (lower - down * lo_h[:, None])[2:-2][::-1]])
        lm = _fill(shape, lo_poly) * (0.35 * np.clip(1 - 1.5 * qx * qx, 0, 1))
        lo_col = colours.teeth.astype(np.float32) * 0.55
        layer = layer * (1 - lm[..., None]) + lo_col * lm[..., None]
        # upper teeth: a band hanging from the upper lip, receding into shadow toward the corners
        up_h = np.minimum(TEETH_HEIGHT * unit * teeth, 0.6 * gaps) * (0.35 + 0.65 * edge)
        up_h = np.maximum(up_h, np.clip(tuck, 0, 1) * 1.05 * gaps)  # F/V: the teeth rest on the lower lip
        bottom = upper + down * up_h[:, None]
        # start the teeth a pixel under the lip, so the lip's anti-aliased edge blends into teeth
        up_poly = np.concatenate([(upper - down)[1:-1], bottom[1:-1][::-1]])
        um = _fill(shape, up_poly)
        tooth_shade = np.clip(1.05 - 0.95 * qx * qx, 0.18, 1.0)
        # a touch of shadow under the upper lip and faint gaps between the front teeth
        top_shadow = np.clip(0.75 + 0.25 * (ys - top) / max(0.03 * unit, 1.0), 0.75, 1.0)
        tooth_x = np.abs(qx) * half_w / unit
        seams = 1 - 0.10 * np.exp(-(np.minimum(tooth_x % 0.09, 0.09 - tooth_x % 0.09) / 0.008) ** 2)
        tooth_layer = colours.teeth.astype(np.float32)[None, None, :] * (tooth_shade * top_shadow * seams)[..., None]
        layer = layer * (1 - um[..., None]) + tooth_layer * um[..., None]
    return layer


def _patch(frame: np.ndarray, centre: np.ndarray, radius: float) -> np.ndarray:
    """The pixels (n, 3) of a small square around a point."""
    r = max(int(radius), 1)
    x, y = int(centre[0]), int(centre[1])
    return frame[max(y - r, 0) : y + r + 1, max(x - r, 0) : x + r + 1].reshape(-1, 3).astype(np.float64)


def _fill(shape: tuple[int, int], poly: np.ndarray, blur: float = 0.0) -> np.ndarray:
    """An anti-aliased float mask (0..1) of a polygon, optionally softened."""
    mask = np.zeros(shape, np.uint8)
    pts = np.round(poly * (1 << SHIFT)).astype(np.int32)
    cv2.fillPoly(mask, [pts], 255, cv2.LINE_AA, SHIFT)
    out = mask.astype(np.float32) * (1 / 255)
    if blur > 0:
        out = cv2.GaussianBlur(out, (0, 0), blur)
    return out
