"""Eyelids and brows: squint, brow raise and gaze as landmark targets (face units); blinks slide the lids."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from livehuman.motion.controls import FaceControls
from livehuman.render.cpu.face import BROWS, EYES, IRISES, LUMA_BGR, N_MESH, FaceFrame, clip_to_image

REGION = (-1.25, 1.25, -0.8, 0.3)  # u0, u1, v0, v1 around the eyes' midpoint, face units
RING_MARGIN = 0.22
BROW_LIFT = 0.07  # face units at brow=1
INNER_LIFT = 0.08  # face units the brows' inner ends rise at brow_inner=1
INNER_IN = 0.02  # face units they are drawn towards each other (the corrugator's pull)
GAZE_TRAVEL = (0.06, 0.03)  # iris travel (u, v) at gaze 1, face units
LASH_MARGIN = 0.04  # face units: the upper lid's edge, lashes included, that slides down unstretched
LID_SKIN = 0.06  # face units of skin above the lid's edge that stretch over the eye (glasses stay put)
GRAIN_SIGMA = 0.02  # face units: finer than this is the skin's grain, coarser its colour
SKIN_AROUND = 0.15  # face units around the lid's box whose skin fills in what is not skin in it
LID_SMOOTH = 0.05  # face units: the stretched lid's colour is smoothed this much across the eye
GRAIN_LIMIT = 12.0  # grey levels: grain stronger than this is an edge (glasses, lashes), not skin
GRAIN_BELOW = 0.15  # face units under the lower lid: the skin whose grain the shut lid takes
GRAIN_PATCH = 0.06  # face units: the half-width of the patch it is measured on
LID_HIGHLIGHT = 0.04  # the lid's middle is this much brighter: it curves over the eyeball
LID_SHADOW = 0.14  # and this much darker at its edge, where it turns in under the lashes
CORNER_SHADOW = 0.1  # and darker towards the eye's corners
DARK_SKIN = 0.75  # around the eye, pixels darker than this share of the skin around them are not skin
FILL = 0.06  # face units: what is not skin is filled with the skin this near it
FAR = 0.01  # and with the typical skin where that skin's weight is under this
RING = 0.12  # face units: the typical skin is the skin this near the open eye
BROW_MIN = 0.08  # face units: what is dark and at least this wide in every direction is a brow (or a shadow)
THIN = 0.2  # face units: darker things narrower than this are lashes, a crease's line, a rim or a brow, not a shadow
GLINT = 1.5  # nor those brighter than this share and nearly colourless (the glints of glasses)
GLINT_CHROMA = 0.25  # "colourless": the channels' spread under this share of the brightness
LASH_WIDTH = 0.04  # face units: the shut lashes' line
LASH_DARKNESS = 0.9  # its opacity at blink 1
LID_OVERLAP = 1.15  # the shut lid's edge comes this far down the eye (x its opening): past the lower lid


@dataclass
class EyeRig:
    """One source frame's eye-region rig: mesh landmarks, fixed ring, per-landmark motion bases."""

    frame: FaceFrame
    index: np.ndarray  # (m,) landmark ids
    source: np.ndarray  # (m + r, 2) pixels: landmarks then ring
    base: np.ndarray  # (m, 2) face units
    close_upper: np.ndarray  # (m,) dv when the upper lids meet the lower ones
    close_lower: np.ndarray  # (m,) dv of the lower lids (their share of the closing)
    brow: np.ndarray  # (m,) dv per unit of brow raise
    iris: np.ndarray  # (m,) 1 for the iris landmarks, which follow the gaze
    reference: np.ndarray  # (m + r, 2) pixels with the eyes opened a little (for triangulating)

    lids: tuple[tuple[np.ndarray, np.ndarray], ...] = ()  # per eye: rows of its upper, lower lid landmarks
    grids: tuple["LidGrid | None", ...] = ()  # per eye: the pixels a blink may change
    inner: np.ndarray | None = None  # (m,) dv per unit of inner-brow raise (None: no such motion)

    def target_uv(self, c: FaceControls) -> np.ndarray:
        """Where the landmarks go (face units) for the squint, brow and gaze; a blink is slid on later."""
        squint = float(np.clip(c.squint, 0, 1)) * (1 - float(np.clip(c.blink, 0, 1)))
        dv = 0.28 * squint * self.close_upper + 0.22 * squint * self.close_lower
        dv -= float(np.clip(c.brow, -1, 1)) * BROW_LIFT * self.brow
        uv = self.base.copy()
        inner = float(np.clip(c.brow_inner, 0, 1))
        if inner > 0 and self.inner is not None:
            # sadness and concern: the inner ends rise and draw together, the outer ends stay
            dv -= inner * INNER_LIFT * self.inner
            uv[:, 0] -= inner * INNER_IN * self.inner * np.sign(self.base[:, 0])
        uv[:, 1] += dv
        # gaze_y > 0 looks up; a blink slides the lids over the irises wherever they look
        uv[:, 0] += self.iris * GAZE_TRAVEL[0] * float(np.clip(c.gaze_x, -1, 1))
        uv[:, 1] -= self.iris * GAZE_TRAVEL[1] * float(np.clip(c.gaze_y, -1, 1))
        return uv

    def target_pixels(self, c: FaceControls) -> np.ndarray:
        """The warp's target: the moving landmarks (`target_uv`) in pixels, then the fixed ring."""
        moving = self.frame.to_pixels(self.target_uv(c))
        return np.concatenate([moving, self.source[len(self.index):]]).astype(np.float32)


def _interp(u, cu, cv):
    order = np.argsort(cu)
    return np.interp(u, cu[order], cv[order], left=np.nan, right=np.nan)


def build_eye_rig(points: np.ndarray, image_size: tuple[int, int]) -> EyeRig:
    """The eye-region rig of one source frame (478 landmarks in pixels)."""
    points = np.asarray(points, np.float64)
    centres = [points[np.concatenate(lids)].mean(0) for lids in EYES]
    frame = FaceFrame.of(points, (centres[0] + centres[1]) / 2)
    uv = frame.to_face(points)
    u0, u1, v0, v1 = REGION
    inside = (uv[:, 0] > u0) & (uv[:, 0] < u1) & (uv[:, 1] > v0) & (uv[:, 1] < v1)
    # the irises' centres and side points (their top and bottom hide under the lids), when present
    for iris in IRISES:
        if len(points) > iris.max():
            d = uv[iris] - uv[iris[0]]
            inside[iris] = np.abs(d[:, 1]) <= np.abs(d[:, 0]) + 1e-9
    index = np.nonzero(inside)[0]
    is_iris = index >= N_MESH
    base = uv[index]
    close_upper = np.zeros(len(index))
    close_lower = np.zeros(len(index))
    opened = base.copy()
    for upper_ids, lower_ids in EYES:
        cu = np.concatenate([uv[upper_ids, 0], uv[lower_ids, 0]])
        vu = _interp(base[:, 0], uv[upper_ids, 0], uv[upper_ids, 1])
        vl = _interp(base[:, 0], uv[lower_ids, 0], uv[lower_ids, 1])
        gap = np.nan_to_num(np.maximum(vl - vu, 0))
        # points above the upper lid follow it, less the higher they are (the lid skin stretches)
        above = np.nan_to_num(np.clip((vu - base[:, 1]), 0, None), nan=9)
        below = np.nan_to_num(np.clip((base[:, 1] - vl), 0, None), nan=9)
        within = (base[:, 0] >= cu.min()) & (base[:, 0] <= cu.max())
        on_upper = np.isin(index, upper_ids[1:-1])
        on_lower = np.isin(index, lower_ids[1:-1])
        up_w = np.where(on_upper, 1.0, np.where(within & ~on_lower, np.exp(-above / 0.07), 0))
        lo_w = np.where(on_lower, 1.0, np.where(within & ~on_upper, np.exp(-below / 0.06), 0))
        up_w[base[:, 1] > np.nan_to_num(vl, nan=-9)] *= 0  # nothing under the lower lid follows the upper
        lo_w[base[:, 1] < np.nan_to_num(vu, nan=9)] *= 0
        close_upper += np.where(is_iris, 0, up_w * gap)
        close_lower -= np.where(is_iris, 0, lo_w * gap)
        # an iris sits between the lids: on a blink it goes where they meet, in proportion
        mine = is_iris & within
        f = np.clip((base[:, 1] - vu) / np.maximum(vl - vu, 1e-3), 0, 1)
        close_upper += np.where(mine, (1 - f) * gap, 0)
        close_lower -= np.where(mine, f * gap, 0)
        opened[:, 1] += np.where(on_lower, 0.06, 0)  # triangulate as if open, even on a blink frame
    brow_v = uv[BROWS, 1].mean()
    band = np.exp(-(((base[:, 1] - brow_v) / 0.22) ** 2))
    band[base[:, 1] > brow_v] *= np.exp(-((base[base[:, 1] > brow_v, 1] - brow_v) / 0.12) ** 2)
    brow = band * np.clip(1.35 - np.abs(base[:, 0]) / 1.0, 0, 1)
    # the inner-brow raise: the same band, strongest between the eyes, gone past the brows' middle
    inner = band * _ramp_down(np.abs(base[:, 0]), 0.2, 0.7)
    # the cheeks below the eyes never move, and motion too small to see is none at all
    low = base[:, 1] > 0.2
    brow[is_iris] = 0
    inner[is_iris] = 0
    for field in (close_upper, close_lower, brow, inner):
        field[low] = 0
        field[np.abs(field) < 2e-3] = 0
    ring = _ring(frame, image_size)
    source = np.concatenate([points[index], ring])
    reference = np.concatenate([frame.to_pixels(opened), ring])
    rows = {k: n for n, k in enumerate(index)}
    lids = tuple((np.array([rows[k] for k in up]), np.array([rows[k] for k in lo])) for up, lo in EYES)
    grids = tuple(LidGrid.around(frame, base[up], base[lo], image_size) for up, lo in lids)
    return EyeRig(frame, index, source, base, close_upper, close_lower, brow, is_iris.astype(np.float64), reference,
                  lids, grids, inner)


def _ramp_down(x: np.ndarray, a: float, b: float) -> np.ndarray:
    """1 below `a`, 0 above `b`, eased in between."""
    t = np.clip((x - a) / (b - a), 0.0, 1.0)
    return 1 - t * t * (3 - 2 * t)


def _ring(frame: FaceFrame, image_size: tuple[int, int]) -> np.ndarray:
    u0, u1, v0, v1 = REGION
    m = RING_MARGIN
    us = np.linspace(u0 - m, u1 + m, 9)
    vs = np.linspace(v0 - m, v1 + m, 5)[1:-1]
    box = np.concatenate([
        np.stack([us, np.full_like(us, v0 - m)], -1),
        np.stack([us, np.full_like(us, v1 + m)], -1),
        np.stack([np.full_like(vs, u0 - m), vs], -1),
        np.stack([np.full_like(vs, u1 + m), vs], -1),
    ])
    return clip_to_image(frame.to_pixels(box), image_size)


@dataclass
class LidGrid:
    """The pixels around one eye that a blink may change, in face units (built once per frame)."""

    x0: int
    y0: int
    u: np.ndarray  # (h, w) float32: each pixel's face coordinates
    v: np.ndarray
    centre: float = 0.0  # u of the eye's middle, face units
    half_width: float = 1.0  # half the eye's width, face units
    lash: np.ndarray | None = None  # BGR of the lashes, sampled on first use
    skin: np.ndarray | None = None  # (h, w, 3) float32: the source's box, skin alone, sampled with them
    brow: np.ndarray | None = None  # (h, w) float32: 1 on a brow, or on anything not skin as wide (a glint)
    grain: np.ndarray | None = None  # (h, w, 3) float32: a grain like the skin's, for the shut lid

    @classmethod
    def around(cls, frame: FaceFrame, upper: np.ndarray, lower: np.ndarray,
               image_size: tuple[int, int]) -> "LidGrid | None":
        """The box from above the lid's moving skin (and a raised brow) to past the lower lid."""
        gap = max(float(lower[:, 1].max() - upper[:, 1].min()), 0.0)
        u0, u1 = min(upper[:, 0].min(), lower[:, 0].min()), max(upper[:, 0].max(), lower[:, 0].max())
        v0 = upper[:, 1].min() - LASH_MARGIN - LID_SKIN - max(BROW_LIFT, INNER_LIFT) - 2 / frame.unit
        v1 = lower[:, 1].max() + (LID_OVERLAP - 1) * gap + 2 / frame.unit
        corners = frame.to_pixels(np.array([[u0, v0], [u1, v0], [u0, v1], [u1, v1]]))
        width, height = image_size
        x0, y0 = np.maximum(np.floor(corners.min(0)).astype(int), 0)
        x1, y1 = np.minimum(np.ceil(corners.max(0)).astype(int) + 1, (width, height))
        if x1 - x0 < 2 or y1 - y0 < 2:
            return None
        xs, ys = np.meshgrid(np.arange(x0, x1, dtype=np.float64), np.arange(y0, y1, dtype=np.float64))
        uv = frame.to_face(np.stack([xs, ys], -1)).astype(np.float32)
        return cls(int(x0), int(y0), uv[..., 0].copy(), uv[..., 1].copy(), (u0 + u1) / 2, max((u1 - u0) / 2, 1e-3))

    def sample(self, image: np.ndarray, upper: np.ndarray, lower: np.ndarray, frame: FaceFrame) -> None:
        """The open eye's lash colour, the box's skin alone (`_skin_only`) and a grain like the skin's
        under the eye (the skin around the lid is mostly lashes, crease, brow and make-up)."""
        h, w = self.u.shape
        region = image[self.y0 : self.y0 + h, self.x0 : self.x0 + w]
        # filled in from the skin around the box too (the cheek, the temple, the nose's side): where
        # a brow sits on the eye, the box itself holds little skin but the lower lid's
        pad = max(1, round(SKIN_AROUND * frame.unit))
        x0, y0 = max(self.x0 - pad, 0), max(self.y0 - pad, 0)
        around = image[y0 : self.y0 + h + pad, x0 : self.x0 + w + pad]
        inside = np.s_[self.y0 - y0 : self.y0 - y0 + h, self.x0 - x0 : self.x0 - x0 + w]  # the box in it
        open_eye = np.zeros(around.shape[:2], bool)
        open_eye[inside] = self._eye_mask(upper, lower)
        skin, brow = _skin_only(around, frame.unit, open_eye)
        self.skin = skin[inside]
        self.brow = cv2.GaussianBlur(brow, (0, 0), max(0.8, GRAIN_SIGMA * frame.unit))[inside]
        under = frame.to_pixels(np.array([lower[:, 0].mean(), lower[:, 1].max() + GRAIN_BELOW]))
        eye = np.round(frame.to_pixels(np.array([self.centre, upper[:, 1].mean()]))).astype(int)
        self.grain = _skin_grain(image, under, (self.x0 - eye[0], self.y0 - eye[1], w, h), frame.unit)
        self.lash = _lash_colour(region, self, upper, lower)  # last: the skin is ready once it is set

    def _eye_mask(self, upper: np.ndarray, lower: np.ndarray) -> np.ndarray:
        """The open eye's pixels: between its upper and lower lid (face units)."""
        top = _interp(self.u, upper[:, 0], upper[:, 1])
        bottom = _interp(self.u, lower[:, 0], lower[:, 1])
        return (self.v > top) & (self.v < bottom)  # beyond the eye's corners top and bottom are NaN


def _skin_only(region: np.ndarray, unit: float, eye: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """`region` (float32) with what is not skin (the eye itself, `eye` true there; glasses' rims and
    glints, lashes, a crease's line, a brow that sits on the eye) filled in from the skin around it:
    the lid that stretches over the eye is made of it. And where what was filled in is as wide as
    a brow (float32, 0 or 1): lashes and a crease's line come down with the lid, a brow stays.

    Dark is judged against the skin around each pixel (a closing wider than a lash or a rim puts it
    in their place), not against the whole box: a deep eye socket's or eye shadow's broad shade is
    the lid's own, and a shut lid painted in the cheek's light would stand out of it as a pale oval."""
    pixels = region.astype(np.float32)
    luma = pixels @ LUMA_BGR.astype(np.float32)
    median = np.median(luma)
    size = 2 * max(1, round(THIN * unit / 2)) + 1
    # (the eye's white is no skin to judge by)
    around = cv2.morphologyEx(np.where(eye, 0, luma), cv2.MORPH_CLOSE,
                              cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (size, size)))
    # a glint is bright and colourless; bright skin keeps its colour
    glint = (luma > GLINT * median) & (pixels.max(-1) - pixels.min(-1) < GLINT_CHROMA * luma)
    dark = ((luma < DARK_SKIN * around) | glint).astype(np.uint8)
    wide = 2 * max(1, round(BROW_MIN * unit / 2)) + 1
    brow = cv2.morphologyEx(dark, cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (wide, wide)))
    edge = 2 * max(1, round(0.015 * unit)) + 1  # (with their soft edges)
    odd = cv2.dilate(dark | eye.astype(np.uint8), np.ones((edge, edge), np.uint8))
    if odd.any() and not odd.all():  # (with no skin at all, there is none to fill with)
        # each filled pixel is the skin near it, averaged (inpainting smeared a big hole's edges into
        # it), or the typical skin by the eye far from any
        known = 1 - odd.astype(np.float32)
        reach = 2 * max(1, round(RING * unit)) + 1
        by_eye = cv2.dilate(eye.astype(np.uint8), cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (reach, reach)))
        ring = (by_eye > 0) & (known > 0)
        typical = np.median(pixels[ring if ring.sum() >= 10 else known > 0], axis=0)
        near = cv2.GaussianBlur(known, (0, 0), FILL * unit)[..., None] + FAR
        fill = (cv2.GaussianBlur(pixels * known[..., None], (0, 0), FILL * unit) + FAR * typical) / near
        pixels = np.where(odd[..., None] > 0, fill, pixels)
    return pixels, brow.astype(np.float32)


def _skin_grain(image: np.ndarray, at: np.ndarray, box: tuple[int, int, int, int], unit: float) -> np.ndarray:
    """(h, w, 3) grain as strong as the skin's at pixel `at` (what a GRAIN_SIGMA blur takes away
    there, its spread per channel), with no structure of its own, over `box` (x0, y0, w, h, from the
    eye's middle).

    Grain taken from the photo carries its lines: reflected down a lid, a crease or the edge of eye
    shadow repeated as stripes. The noise is a function of the pixel's place from the eye's middle,
    so every render of a frame, and a video's next frames, show the same grain on the lid."""
    sigma = max(0.8, GRAIN_SIGMA * unit)
    r, pad = max(2, round(GRAIN_PATCH * unit)), int(3 * sigma) + 1
    x, y = np.round(at).astype(int)
    patch = image[max(y - r - pad, 0) : y + r + pad + 1, max(x - r - pad, 0) : x + r + pad + 1].astype(np.float32)
    spread = np.zeros(3, np.float32)  # (under the eye lies outside the frame: a plain lid)
    if min(patch.shape[:2]) > 2 * pad:
        spread = (patch - cv2.GaussianBlur(patch, (0, 0), sigma))[pad:-pad, pad:-pad].reshape(-1, 3).std(0)
    x0, y0, w, h = box
    noise = _hashed(*np.meshgrid(np.arange(x0, x0 + w), np.arange(y0, y0 + h)))
    noise = cv2.GaussianBlur(noise, (0, 0), 0.6)  # a pixel's grain, not a pixel's noise
    noise -= cv2.GaussianBlur(noise, (0, 0), sigma)
    noise /= max(float(noise.std()), 1e-6)
    return noise[..., None] * np.minimum(spread, GRAIN_LIMIT).astype(np.float32)


def _hashed(xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
    """White noise in -0.5..0.5 (float32) that is a fixed function of integer pixel coordinates."""
    h = (xs.astype(np.uint64) * np.uint64(374761393) + ys.astype(np.uint64) * np.uint64(668265263)) & np.uint64(0xFFFFFFFF)
    h = ((h ^ (h >> np.uint64(13))) * np.uint64(1274126177)) & np.uint64(0xFFFFFFFF)
    h ^= h >> np.uint64(16)
    return (h.astype(np.float32) / np.float32(2**32) - np.float32(0.5))


def slide_lids(image: np.ndarray, rig: EyeRig, c: FaceControls, source: np.ndarray | None = None) -> None:
    """Close the eyes by `c.blink` in place: each upper lid slides down over its eye, lashes first.

    The eyeball stays where it is and the lid covers it from the top down (no cross-fade, no
    squeezed iris). The lid's edge (lashes included) moves down rigidly; the face's own skin above
    it stretches to follow, less the higher it is, as the lid unfolds. Where it stretches, the lid
    is that skin's colour (glasses' rims and glints, lashes and creases left out) with a grain as
    strong as the skin's under the eye, shaded as a lid curving over the eyeball: lighter mid-lid,
    darker towards its edge and the eye's corners. Closing lashes gather into a dark crescent along
    the edge, thickest mid-eye, their tips soft below it. At blink 1 the edge reaches just past the
    lower lid. The lashes' colour is sampled from `source` (the avatar's own frame; `image` when
    not given) once per rig, so every render agrees.
    """
    blink = float(np.clip(c.blink, 0, 1))
    if blink <= 0:
        return
    uv = rig.target_uv(c)
    frame = rig.frame
    ey = frame.ey.astype(np.float32)  # the lids come down the face, however it is tilted
    unit = np.float32(frame.unit)
    for (upper_rows, lower_rows), grid in zip(rig.lids, rig.grids):
        if grid is None:
            continue
        upper, lower = uv[upper_rows], uv[lower_rows]
        gap_max = float(np.nanmax(_interp(upper[:, 0], lower[:, 0], lower[:, 1]) - upper[:, 1], initial=0.0))
        if not gap_max > 0:
            continue  # already shut in the source frame
        if grid.lash is None:  # sampled from the open eye (two threads may both sample: same result)
            grid.sample(source if source is not None else image, rig.base[upper_rows], rig.base[lower_rows], frame)
        u, v = grid.u, grid.v
        top = _interp(u, upper[:, 0], upper[:, 1]).astype(np.float32)
        bottom = _interp(u, lower[:, 0], lower[:, 1]).astype(np.float32)
        gap = np.nan_to_num(np.maximum(bottom - top, 0))
        top = np.nan_to_num(top)
        drop = np.float32(blink * LID_OVERLAP) * gap  # how far the lid's edge has come down in this column
        t = top + drop - v  # height above the moving lid edge, face units
        # The lash margin moves down rigidly. The band of skin above it (height k) stretches over the
        # eye: a source height y*k above the margin lands at (y + r*smoothstep(y))*k, r = drop/k,
        # so the stretch fades out at both ends (no kink at the lashes or the still skin); inverted
        # here by Newton's method (the map is monotonic).
        k = np.float32(LID_SKIN)
        r = drop / k
        tau = np.maximum((t - np.float32(LASH_MARGIN)) / k, 0)
        inside = tau < 1 + r
        y = np.clip(tau / (1 + r), 0, 1)
        for _ in range(3):
            f = y + r * y * y * (3 - 2 * y) - tau
            y = np.clip(y - f / (1 + 6 * r * y * (1 - y)), 0, 1)
        stretch = np.where(inside, 1 + 6 * r * y * (1 - y), 1)
        moved = np.where(inside, drop - (tau - y) * k, 0) * unit  # pixels each bit of skin came down
        h, w = u.shape
        map_x = np.arange(grid.x0, grid.x0 + w, dtype=np.float32)[None, :] - moved * ey[0]
        map_y = np.arange(grid.y0, grid.y0 + h, dtype=np.float32)[:, None] - moved * ey[1]
        region = image[grid.y0 : grid.y0 + h, grid.x0 : grid.x0 + w]
        lid = cv2.remap(image, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE).astype(np.float32)
        # Skin stretched several times over is the skin's colour without its grain (or with the
        # photo's grain drawn into streaks): keep its colour, smoothed, and give it back a grain as
        # strong as the skin's (`LidGrid.grain`), shaded as a lid curving over the eyeball: lighter
        # mid-lid, darker towards its edge and the corners.
        # The colour is the source frame's skin alone, or rims, glints and lashes would smear over
        # the lid (squints and brows barely move the skin right above the eye).
        skin = cv2.remap(grid.skin, map_x - grid.x0, map_y - grid.y0, cv2.INTER_LINEAR,
                         borderMode=cv2.BORDER_REPLICATE)
        # stretched down its columns, the skin's colour varies from column to column: smooth across them
        sigma = max(0.8, GRAIN_SIGMA * frame.unit)
        smooth = cv2.GaussianBlur(skin, (0, 0), max(sigma, LID_SMOOTH * frame.unit))
        depth = np.maximum(t - np.float32(LASH_MARGIN), 0)  # height above the lash margin
        # the lid's grain comes down with it
        shift = drop * unit
        grain = cv2.remap(grid.grain, np.arange(w, dtype=np.float32)[None, :] - shift * ey[0],
                          np.arange(h, dtype=np.float32)[:, None] - shift * ey[1], cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_REFLECT)
        s = np.clip(1 - depth / np.maximum(drop, np.float32(1e-4)), 0, 1)  # 0 at the lid's top, 1 at its edge
        across = np.clip(np.abs(u - np.float32(grid.centre)) / np.float32(grid.half_width), 0, 1)
        shade = (1 + np.float32(LID_HIGHLIGHT) * np.sin(np.pi * s) * (1 - across**2)
                 - np.float32(LID_SHADOW) * s**3 - np.float32(CORNER_SHADOW) * across**4)
        # this lid takes over from the stretched photo where the skin stretches more than a little
        wt = np.clip((stretch - 1.2) / 1.0, 0, 1)
        lid += (smooth * shade[..., None] + grain - lid) * wt[..., None]
        # closing lashes turn down and gather into one dark line along the lid's edge: a crescent,
        # thickest mid-eye, sharp above (the lid's rim) and soft below (the lashes' tips)
        taper = np.sqrt(np.minimum(gap / np.float32(gap_max), 1))
        thick = np.float32(max(LASH_WIDTH, 0.6 / frame.unit)) * (0.35 + 0.65 * taper)
        x = (t - 0.5 * thick) / (0.5 * thick)
        line = np.exp(-0.5 * np.where(x > 0, 2 * x, x) ** 2)
        line *= np.float32(LASH_DARKNESS * blink**2) * taper
        line[(line < 0.02) | (drop <= 0)] = 0
        # the lid covers what is below its edge, anti-aliased over a pixel; elsewhere the eye shows
        cover = np.clip(t * unit + 0.5, 0, 1)
        cover[drop <= 0] = 0
        # above the open eye, a brow that sits on it stays where it is
        cover *= 1 - grid.brow * (1 - _ramp_down(top - v, np.float32(LASH_MARGIN), np.float32(2 * LASH_MARGIN)))
        a = cover[..., None]
        out = region + (lid - region) * a
        out += (grid.lash - out) * line[..., None]  # the lashes' tips hang over what is below the edge
        region[:] = np.clip(out + 0.5, 0, 255).astype(np.uint8)


def _lash_colour(region: np.ndarray, grid: LidGrid, upper: np.ndarray, lower: np.ndarray) -> np.ndarray:
    """The colour of the darkest, greyest pixels along the open upper lid (lashes, or the pupil's
    shadow). An iris may be darker than the lashes, but it is coloured: by darkness alone, violet
    irises shut into violet lashes."""
    top = _interp(grid.u, upper[:, 0], upper[:, 1])
    gap = np.nan_to_num(_interp(grid.u, lower[:, 0], lower[:, 1]) - top)
    above = np.nan_to_num(top) - grid.v
    near = (gap > 0) & (above < 0.03) & (above > -0.5 * gap)
    pixels = region[near].astype(np.float32)
    if len(pixels) < 4:
        return np.array([40.0, 35.0, 35.0], np.float32)
    lash_like = pixels @ LUMA_BGR.astype(np.float32) + 2 * (pixels.max(1) - pixels.min(1))  # dark and grey
    return pixels[lash_like <= np.percentile(lash_like, 15)].mean(0)
