"""The inner mouth drawn wherever the target lips part: cavity, upper and lower teeth, tongue.

An image-based model in the face's own axes (face units, see FaceFrame): the upper teeth hang from
the skull (the closed mouth's lip line), the lower teeth ride on the jaw, the tongue lies behind the
lower teeth and its tip rises with `tongue`. Each row of teeth is an arch of individual teeth seen
in projection, so they narrow and fall into shadow toward the corners; everything is shaded with
the face's own colours and its left-right lighting. One pass of array arithmetic over the small
rectangle around the open lips: a millisecond or two on one core.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from livehuman.motion.controls import FaceControls
from livehuman.render.cpu.face import LOWER_INNER, LOWER_OUTER, LUMA_BGR, UPPER_INNER, UPPER_OUTER, FaceFrame, lip_mask

SHIFT = 4  # fixed-point bits for anti-aliased polygons
DEFAULT_TEETH = np.array([158.0, 186.0, 206.0])  # BGR: warm off-white, not paper white
# A skin's colourfulness (its colour's distance from grey over its brightness) in colour photos is
# 0.17-0.9; under this, a black-and-white or faded photo, the drawn colours fade with it.
FULL_COLOUR = 0.15
LINE_PARTS = (0.04, 0.1)  # face units: the line where cleaned lips meet fades out as they part this far
MIN_TEETH = 10  # pixels: an open source mouth with fewer teeth-like ones shows none (its teeth are drawn)
# How far the jaw opens for a jaw control, on a face whose inner mouth is drawn (knots, linear
# between). Drawn with its lips parted as far as the control says, a drawn mouth is seen more open
# than that at small openings (its teeth and dark cavity make a slit read as a parted mouth) and
# hardly opening further from a fifth to two fifths open (so the face mesh reads ten closed-mouth
# faces): the jaw eases through the small openings and hurries through that stretch, and the mouth
# is seen to open in step with the control. Fitted on the four shipped closed-mouth faces; of nine
# it was not fitted on, eight gain in mean correlation (docs/benchmarks.md, session 27). A mouth of
# the person's own teeth (footage.py) is seen in step as it is.
DRAWN_JAW = ((0.0, 0.2, 0.3, 0.4, 1.0), (0.0, 0.13, 0.23, 0.45, 1.0))

# Teeth, in face units (inter-ocular distance ~63 mm): crown widths along the arch from the middle
# outward (incisors, lateral incisors, canines, premolars, a molar), and the arches' radii.
UPPER_TEETH = np.array([0.135, 0.105, 0.12, 0.11, 0.105, 0.16])
LOWER_TEETH = np.array([0.088, 0.095, 0.11, 0.11, 0.11, 0.17])
UPPER_ARCH, LOWER_ARCH = 0.42, 0.38
# How far each tooth's edge sits above the central incisors' (laterals are shorter, canines pointed).
UPPER_STEP = np.array([0.0, 0.014, 0.006, 0.012, 0.016, 0.02])
UPPER_SHOW = 0.025  # the upper incisors' edge below the closed lips' line at teeth=0, face units
LOWER_SHOW = 0.02  # the lower incisors' edge above the jaw-carried lower lip, face units
CROWN = 0.17  # crown height; above the upper crowns is gum
TONGUE_HALF_WIDTH = 0.34
WET_LIP = 0.04  # the lower lip's inside that shows when the lips part, face units


@dataclass
class MouthColours:
    """Colours (BGR float) sampled from the face, and its lighting across the mouth."""

    lip: np.ndarray
    cavity: np.ndarray
    teeth: np.ndarray
    tongue: np.ndarray
    gum: np.ndarray
    light: float = 0.0  # brightness slope across the face: +0.2 is 20 % brighter one unit image-right

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
        lip = np.median(frame[lips_only].astype(np.float64), 0) if lips_only.sum() > 10 else np.array([90.0, 90.0, 160.0])
        # no teeth in the photo: an off-white as bright as the skin's highlights, tinted by the skin
        sides = [_patch(frame, points[k], 0.12 * unit) for k in (50, 280)]
        cheeks = np.concatenate(sides + [_patch(frame, points[151], 0.12 * unit)])
        skin = cheeks.mean(0) if len(cheeks) else np.array([140.0, 160.0, 200.0])
        skin_luma = float(skin @ LUMA_BGR)
        level = np.clip(1.1 * skin_luma, 140, 215)
        # teeth take part of the photo's colour cast, as real ones would under the same light
        teeth = level * (0.75 * DEFAULT_TEETH / DEFAULT_TEETH.mean() + 0.25 * skin / max(skin.mean(), 1.0))
        gap = np.linalg.norm(points[14] - points[13]) / unit
        inside = frame[inner_mask > 0].astype(np.float64)
        # the cavity: the lips' colour deep in shadow, never quite black (a photo's blacks are lifted)
        cavity = lip * np.array([0.16, 0.14, 0.25]) * np.clip(skin_luma / 150, 0.6, 1.3) + 6
        if gap > 0.06 and len(inside) > 30:
            luma = inside @ LUMA_BGR
            sat = inside.max(1) - inside.min(1)
            # an open source mouth shows its own shadows: the cavity matches them
            shadows = inside[luma <= np.percentile(luma, 15)]
            cavity = 0.5 * cavity + 0.5 * np.median(shadows, 0) * 1.15
            # an open source mouth: its brightest, least saturated pixels are the person's teeth,
            # when it shows any (a smile's barely parted lips show the mesh's inner contour little but lip)
            shows_teeth = _teeth_like(luma, sat, lip).sum() >= MIN_TEETH
            bright = inside[(luma >= np.percentile(luma, 70)) & (sat <= np.percentile(sat, 60))]
            if shows_teeth and len(bright) > 10 and bright.mean() > 120:
                teeth = np.median(bright, 0)
                teeth = 0.85 * teeth + 0.15 * DEFAULT_TEETH * teeth.mean() / DEFAULT_TEETH.mean()
        # left-right lighting from the two cheeks, per unit of distance between them
        lumas = [float(s.mean(0) @ LUMA_BGR) if len(s) else skin_luma for s in sides]
        span = max(abs(float(points[280, 0] - points[50, 0])) / unit, 0.5)
        light = float(np.clip((lumas[1] - lumas[0]) / max(np.mean(lumas), 1.0) / span, -0.5, 0.5))
        tongue = 0.55 * lip + 0.45 * np.array([100.0, 105.0, 185.0]) * lip.mean() / 120.0
        gum = 0.7 * lip + 0.3 * np.array([120.0, 120.0, 200.0]) * lip.mean() / 130.0
        colourful = np.linalg.norm(skin - skin_luma) / max(skin_luma, 1.0) / FULL_COLOUR
        if colourful < 1:  # a black-and-white photo's mouth is grey inside too, not pink with cream teeth
            cavity, teeth, tongue, gum = (_faded(c, colourful) for c in (cavity, teeth, tongue, gum))
        return cls(lip, cavity, np.clip(teeth, 0, 245), np.clip(tongue, 0, 255), np.clip(gum, 0, 255), light)


def drawn_jaw(jaw: float) -> float:
    """The jaw opening a drawn inner mouth is given for control `jaw` (see DRAWN_JAW; past 1, as is)."""
    return float(np.interp(jaw, *DRAWN_JAW)) if jaw < 1 else jaw


@dataclass
class MouthPose:
    """Where the inner mouth's parts go in one frame: 11-point contours in pixels, image-left first."""

    upper: np.ndarray  # the upper inner lip
    lower: np.ndarray  # the lower inner lip
    rest: np.ndarray  # the closed mouth's lip line: fixed to the skull, the upper teeth hang from it
    jaw: np.ndarray  # the lower inner lip as the jaw alone would carry it: the lower teeth ride on it


def draw_mouth(
    image: np.ndarray,
    pose: MouthPose,
    frame: FaceFrame,
    colours: MouthColours,
    controls: FaceControls,
    interior=None,
) -> None:
    """Paint the inner mouth between the pose's upper and lower inner lips, in place.

    `interior`, when given, paints the person's own mouth from their footage:
    interior(origin, (h, w)) -> (BGR layer, coverage); the synthetic mouth fills whatever it does not cover.
    """
    upper, lower = pose.upper, pose.lower
    gaps = (lower - upper) @ frame.ey
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
    mask = _fill(shape, poly - origin)
    at = _coords(shape, origin, pose, frame)
    if interior is not None:
        layer, coverage = interior(origin, shape)
        # the person's own teeth recede into shadow behind rounded lips (a third darker read as a
        # grey band across an open smile's "oo")
        layer = layer.astype(np.float32) * np.float32(1 - 0.5 * _unit(controls.round))
        if (coverage[mask > 0] < 1).any():
            synthetic = _synthetic(at, colours, controls)
            layer = synthetic + (layer - synthetic) * coverage[..., None]
    else:
        layer = _synthetic(at, colours, controls)
    m = mask[..., None]
    region[:] = np.clip(region * (1 - m) + layer * m + 0.5, 0, 255).astype(np.uint8)


def _over(base: np.ndarray, top: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """`top` laid over `base` with coverage `alpha` (h, w)."""
    out = top - base
    out *= alpha[..., None]
    out += base
    return out


# The mouth's rectangle is small (a thousand pixels or so): each array operation costs more in
# numpy's call overhead than in arithmetic, so this module clips with two ufuncs (np.clip's
# wrapper alone costs several of them) and keeps everything float32.
def _clip(x: np.ndarray, lo: float, hi: float) -> np.ndarray:
    return np.minimum(np.maximum(x, lo), hi)


def _unit(x: float) -> float:
    """A control clipped to 0..1."""
    return min(max(float(x), 0.0), 1.0)


def _smooth(x: np.ndarray) -> np.ndarray:
    x = _clip(x, 0.0, 1.0)
    return x * x * (3 - 2 * x)


def _arch(u: np.ndarray, radius: float, widths: np.ndarray, bounds: np.ndarray):
    """Where a pixel column falls on an arch of teeth seen from the front.

    Returns the width of the tooth there, the position across that tooth (0..1), the cosine of the
    arch's turn (1 facing the camera, 0 at the side) and the tooth's number from the middle."""
    s = _clip(np.abs(u) * np.float32(1 / radius), 0.0, 0.999)
    along = np.arcsin(s)
    along *= np.float32(radius)  # arc length from the middle
    k = np.searchsorted(bounds, along, side="right")
    k -= 1
    k = _clip(k, 0, len(widths) - 1)
    width = widths[k]
    q = _clip((along - bounds[k]) / width, 0.0, 1.0)
    return width, q, np.sqrt(1 - s * s), k


def _cumulative(widths: np.ndarray) -> np.ndarray:
    return np.concatenate([[0.0], np.cumsum(widths)]).astype(np.float32)


_UPPER = (UPPER_TEETH.astype(np.float32), _cumulative(UPPER_TEETH))
_LOWER = (LOWER_TEETH.astype(np.float32), _cumulative(LOWER_TEETH))
_UPPER_STEP = UPPER_STEP.astype(np.float32)


@dataclass
class _Coords:
    """Every pixel of the mouth's rectangle in face units, and the contours under each pixel's column."""

    u: np.ndarray  # across, from the mouth's middle
    v: np.ndarray  # down the face
    up: np.ndarray  # the upper inner lip
    lo: np.ndarray  # the lower inner lip
    rest: np.ndarray  # the closed mouth's lip line
    jaw: np.ndarray  # the lower inner lip carried by the jaw alone
    half: float  # half the inner mouth's width
    gap: float  # the widest opening
    px: float  # one pixel


def _coords(shape, origin, pose: MouthPose, frame: FaceFrame) -> _Coords:
    h, w = shape
    unit = frame.unit
    px = 1.0 / unit  # one pixel in face units, for anti-aliased edges
    # every pixel in face units (u across, v down) from the face frame's origin
    ex, ey = frame.ex * px, frame.ey * px
    up, lo, rest, jaw = (frame.to_face(p) for p in (pose.upper, pose.lower, pose.rest, pose.jaw))
    centre = 0.5 * (up[0, 0] + up[-1, 0])
    half = max(0.5 * abs(up[-1, 0] - up[0, 0]), 2 * px)
    dx = np.arange(w, dtype=np.float32) + np.float32(origin[0] - frame.origin[0])
    dy = np.arange(h, dtype=np.float32)[:, None] + np.float32(origin[1] - frame.origin[1])
    # u is measured from the mouth's middle
    u = dx * np.float32(ex[0]) + (dy * np.float32(ex[1]) - np.float32(centre))
    v = dx * np.float32(ey[0]) + dy * np.float32(ey[1])

    def along(contour):
        order = np.argsort(contour[:, 0])
        return np.interp(u, contour[order, 0] - centre, contour[order, 1]).astype(np.float32)

    gap = float(np.max(lo[:, 1] - up[:, 1]))
    return _Coords(u, v, along(up), along(lo), along(rest), along(jaw), half, gap, px)


def _synthetic(at: _Coords, colours: MouthColours, c: FaceControls) -> np.ndarray:
    u, v, v_up, v_lo, v_rest, v_jaw = at.u, at.v, at.up, at.lo, at.rest, at.jaw
    half, gap, px, unit = at.half, at.gap, at.px, 1.0 / at.px
    teeth = _unit(max(c.teeth, c.tuck))
    rnd, spread = _unit(c.round), _unit(c.spread)
    tuck, tongue = _unit(c.tuck), _unit(c.tongue)
    cavity, tongue_colour, lip_colour, gum_colour = (
        x.astype(np.float32) for x in (colours.cavity, colours.tongue, colours.lip, colours.gum))
    light = 1 + np.float32(colours.light) * u
    across = _clip(u * np.float32(1 / half), -1.0, 1.0)

    # Cavity: darkest at the corners and far back, deeper still when the lips are rounded.
    open_light = 0.75 + 0.35 * min(gap / 0.3, 1.0)
    # the throat, far back in the middle, is darker than the cheeks' insides near the teeth
    throat = np.exp(-np.square(u * np.float32(1 / 0.25))
                    - np.square((v - 0.5 * (v_up + v_lo)) * np.float32(1 / max(0.4 * gap, 0.02))))
    shade = (0.55 + 0.6 * (1 - across * across)) * np.float32(open_light * (1 - 0.4 * rnd)) * (1 - 0.45 * throat)
    layer = cavity * (shade * light)[..., None]

    # Tongue: a mound behind the lower teeth; its tip rises toward the upper teeth with `tongue`.
    dome = np.sqrt(_clip(1 - np.square(u * np.float32(1 / TONGUE_HALF_WIDTH)), 0.0, 1.0))
    rise = (0.04 + 0.22 * min(gap, 0.4)) * (1 - 0.6 * rnd) + tongue * max(gap - 0.04, 0.0) * 0.9
    tip = np.exp(-np.square(u * np.float32(1 / (0.12 + 0.1 * (1 - tongue)))))
    v_tongue = v_jaw - (0.6 * dome + 0.4 * tip * dome) * np.float32(rise)
    below_tongue = v - v_tongue
    t_alpha = _clip(below_tongue * np.float32(1 / (1.5 * px)), 0.0, 1.0) * _smooth(dome * 4)
    t_shade = (0.6 + 0.4 * dome) * (1 - 0.12 * np.exp(-np.square(u * np.float32(1 / 0.025))))  # the central groove
    # the mound's top is its back, going into shadow; its front, near the teeth, catches the light
    t_shade *= (0.5 + 0.45 * _smooth(below_tongue * np.float32(1 / 0.05)) + np.float32(0.3 * tongue) * tip) * np.float32(1 - 0.35 * rnd)
    t_layer = tongue_colour * (t_shade * light)[..., None]
    front = min(max((tongue - 0.35) / 0.4, 0.0), 1.0)
    front = front * front * (3 - 2 * front)  # a high tongue comes forward, over the lower teeth

    if front < 1:
        layer = _over(layer, t_layer, t_alpha * np.float32(1 - front))

    # the lower lip's wet inside shows as it parts from the upper: a band of lip colour, so the lip
    # keeps its thickness instead of its crease's shadow reading as mouth
    wet = _smooth(1 - (v_lo - v) * np.float32(1 / WET_LIP)) * np.float32(min(gap / (3 * WET_LIP), 1.0))
    lip = lip_colour * ((0.85 + 0.23 * wet) * light)[..., None]
    layer = _over(layer, lip, 0.9 * wet)

    # Lower teeth ride on the jaw; the lower lip covers them unless spread, open or the teeth bared.
    width, q, facing, _ = _arch(u, LOWER_ARCH, *_LOWER)
    show = (LOWER_SHOW + 0.05 * min(_unit(c.jaw), 1) + 0.03 * spread) * (0.15 + 0.85 * teeth) * (1 - 0.9 * rnd)
    show = show * (1 - 0.8 * tuck) + 0.6 * WET_LIP * (show > 0.005)
    v_lt = v_jaw - np.float32(show) + 0.006 * np.square(np.square(2 * q - 1)) + 0.08 * (1 - facing)
    # the lower lip's wet inside is in front of the teeth' roots
    below_edge = v - v_lt
    lt_alpha = _clip(below_edge * np.float32(unit) + 0.5, 0.0, 1.0) * _smooth((facing - 0.5) * np.float32(1 / 0.3)) * (1 - wet)
    lt = _teeth_shade(q, facing, width, unit) * np.float32(1.0 - 0.45 * rnd)
    lt *= 0.8 + 0.2 * _smooth(below_edge * np.float32(1 / 0.03))
    layer = _over(layer, _tooth_colour(colours, lt, light), lt_alpha)
    if front > 0:
        layer = _over(layer, t_layer, t_alpha * np.float32(front))

    # Upper teeth hang from the skull; `teeth` bares more, a tuck rests them on the lower lip.
    width, q, facing, k = _arch(u, UPPER_ARCH, *_UPPER)
    step = _UPPER_STEP[k] + 0.01 * np.square(np.square(2 * q - 1))
    step -= np.where(k == 2, 0.012 * (1 - np.abs(2 * q - 1)), 0)
    v_ut = v_rest + np.float32((UPPER_SHOW + 0.04 * teeth) * (1 - 0.5 * rnd)) - step - 0.06 * (1 - facing)
    if tuck > 0:
        v_ut += np.float32(tuck) * np.maximum(v_lo + 0.01 - v_ut, 0)
    # a tongue between the teeth (/θ ð/) covers the upper incisors' edges
    if front > 0:
        v_ut -= np.float32(front * 0.5) * tip * np.maximum(v_ut - v_up, 0)
    above_edge = v_ut - v
    ut_alpha = _clip(above_edge * np.float32(unit) + 0.5, 0.0, 1.0) * _smooth((facing - 0.3) * np.float32(1 / 0.3))
    ut = _teeth_shade(q, facing, width, unit)
    ut *= 1 - 0.25 * np.exp(-np.square(np.maximum(above_edge, 0) * np.float32(1 / 0.012)))  # translucent edge
    ut *= np.float32(1 - 0.45 * rnd)
    gum_alpha = _clip((above_edge - CROWN) * np.float32(unit) + 0.5, 0.0, 1.0)
    u_layer = _over(_tooth_colour(colours, ut, light), gum_colour * light[..., None], gum_alpha)
    layer = _over(layer, u_layer, ut_alpha)

    # The lips' inner edges shade what is just inside them, the upper lip most.
    lip_shadow = (0.5 + 0.5 * _smooth((v - v_up) * np.float32(1 / 0.05))) * (0.85 + 0.15 * _smooth((v_lo - v) * np.float32(1 / 0.02)))
    layer *= lip_shadow[..., None]
    return layer


def _tooth_colour(colours: MouthColours, shade: np.ndarray, light: np.ndarray) -> np.ndarray:
    """Teeth at a brightness 0..1: in shadow they take the warm colour of the mouth around them."""
    s = _clip(shade * light, 0.0, 1.3)[..., None]
    dark = np.maximum(1 - s, 0)
    out = colours.teeth.astype(np.float32) * s
    out += colours.cavity.astype(np.float32) * dark
    return out


def _teeth_shade(q: np.ndarray, facing: np.ndarray, width: np.ndarray, unit: float) -> np.ndarray:
    """Brightness of each tooth: rounded faces, dark seams between them, shadow as the arch turns away.

    `width` is each pixel's tooth's width (face units)."""
    rounded = 0.8 + 0.2 * (1 - np.square(2 * q - 1))
    seam_w = max(0.006, 0.6 / unit)  # at least a pixel wide, or small faces get no seams
    edge = np.minimum(q, 1 - q) * width * facing
    seam = 1 - 0.3 * np.exp(-np.square(edge * np.float32(1 / seam_w)))
    return rounded * seam * (0.25 + 0.75 * facing * facing * facing)


def _teeth_like(luma: np.ndarray, sat: np.ndarray, lip: np.ndarray) -> np.ndarray:
    """Which pixels (their brightness and channel spread) look like teeth beside lips of colour
    `lip`: brighter than the lips and greyer."""
    return (luma > float(lip @ LUMA_BGR) + 15) & (sat < 0.7 * float(lip.max() - lip.min()))


def _faded(colour: np.ndarray, keep: float) -> np.ndarray:
    """A BGR colour as bright, with `keep` (0..1) of its distance from grey."""
    grey = float(colour @ LUMA_BGR)
    return grey + (colour - grey) * keep


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


def clean_lips(frame: np.ndarray, points: np.ndarray, unit: float, colours: MouthColours) -> tuple[tuple[slice, slice], np.ndarray] | None:
    """An open source mouth with its teeth and shadows painted out of the lips, for closing it.

    The face mesh's inner-lip contour rarely hugs the visible lip edge of an open mouth: teeth and
    dark corners just outside it would be warped along with the lips and show as a pale band and
    dark wedges when the mouth closes. Pixels near the inner contour that are lighter or much darker
    than the lips are inpainted from the lips around them. Returns (rows, cols) and the cleaned
    crop, or None when the source mouth is closed."""
    gap = float(np.linalg.norm(points[14] - points[13])) / unit
    if gap < 0.03:
        return None
    inner = np.concatenate([points[UPPER_INNER], points[LOWER_INNER[::-1][1:-1]]])
    outer = np.concatenate([points[UPPER_OUTER], points[LOWER_OUTER[::-1][1:-1]]])
    height, width = frame.shape[:2]
    pad = int(0.1 * unit) + 3
    x0, y0 = np.maximum(np.floor(outer.min(0)).astype(int) - pad, 0)
    x1, y1 = np.minimum(np.ceil(outer.max(0)).astype(int) + pad, (width, height))
    crop = frame[y0:y1, x0:x1]
    origin = np.array([x0, y0])
    mask_inner = np.zeros(crop.shape[:2], np.uint8)
    cv2.fillPoly(mask_inner, [np.round(inner - origin).astype(np.int32)], 1)
    mask_outer = np.zeros_like(mask_inner)
    cv2.fillPoly(mask_outer, [np.round(outer - origin).astype(np.int32)], 1)
    r = max(int(round(0.06 * unit)), 1)
    near = cv2.dilate(mask_inner, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1)))
    pixels = crop.astype(np.float32)
    luma = pixels @ LUMA_BGR.astype(np.float32)
    sat = pixels.max(2) - pixels.min(2)
    lip_luma = float(colours.lip @ LUMA_BGR)
    teeth_like = _teeth_like(luma, sat, colours.lip)
    # "Much darker" is judged against each lip's own brightness: a smile's thin upper lip is often in
    # shadow, far darker than the lit lower lip, and painting it out leaves skin where the lip was.
    dark = np.zeros_like(teeth_like)
    for band in (lip_mask(points, UPPER_OUTER, UPPER_INNER, crop.shape, origin),
                 lip_mask(points, LOWER_OUTER, LOWER_INNER, crop.shape, origin)):
        own = luma[band & ~teeth_like]
        own_luma = min(float(np.median(own)), lip_luma) if len(own) > 10 else lip_luma
        dark |= band & (luma < 0.6 * own_luma)
    bad = ((near > 0) & (mask_outer > 0) & (teeth_like | dark)) | (mask_inner > 0)
    bad = cv2.dilate(bad.astype(np.uint8), np.ones((3, 3), np.uint8))
    cleaned = cv2.inpaint(crop, bad, max(2.0, 0.04 * unit), cv2.INPAINT_TELEA)
    return (slice(y0, y1), slice(x0, x1)), cleaned


def draw_lip_line(image: np.ndarray, upper: np.ndarray, lower: np.ndarray, frame: FaceFrame, colours: MouthColours) -> None:
    """The soft dark line where closed lips meet, along the middle of the inner contours; it fades
    out where they part (across an open mouth it would be a grey line over the teeth)."""
    line = (upper + lower) / 2
    lo, hi = LINE_PARTS
    apart = np.clip(((lower - upper) @ frame.ey / frame.unit - lo) / (hi - lo), 0, 1)
    h, w = image.shape[:2]
    x0, y0 = np.maximum(np.floor(line.min(0)).astype(int) - 3, 0)
    x1, y1 = np.minimum(np.ceil(line.max(0)).astype(int) + 4, (w, h))
    if x1 - x0 < 2 or y1 - y0 < 2:
        return
    region = image[y0:y1, x0:x1]
    mask = np.zeros(region.shape[:2], np.uint8)
    pts = np.round((line - (x0, y0)) * (1 << SHIFT)).astype(np.int32)
    width = max(int(round(0.012 * frame.unit)), 1)
    for k in range(len(pts) - 1):  # each segment as dark as its ends are closed
        shade = int(round(255 * (1 - (apart[k] + apart[k + 1]) / 2)))
        if shade > 0:
            cv2.line(mask, tuple(pts[k]), tuple(pts[k + 1]), shade, width, cv2.LINE_AA, SHIFT)
    # strongest in the middle of the mouth, fading into the corners
    alpha = cv2.GaussianBlur(mask.astype(np.float32) * (0.55 / 255), (0, 0), max(0.01 * frame.unit, 0.5))
    tone = (colours.lip * 0.55).astype(np.float32)
    region[:] = np.clip(region + (tone - region) * alpha[..., None] + 0.5, 0, 255).astype(np.uint8)
