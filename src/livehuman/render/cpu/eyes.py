"""Eyelids and brows: blink, squint and brow raise as landmark targets, in face units."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from livehuman.motion.controls import FaceControls
from livehuman.render.cpu.face import BROWS, EYES, IRISES, LUMA_BGR, N_MESH, FaceFrame, clip_to_image

REGION = (-1.25, 1.25, -0.8, 0.3)  # u0, u1, v0, v1 around the eyes' midpoint, face units
RING_MARGIN = 0.22
BROW_LIFT = 0.07  # face units at brow=1
GAZE_TRAVEL = (0.06, 0.03)  # iris travel (u, v) at gaze 1, face units


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

    def target_pixels(self, c: FaceControls) -> np.ndarray:
        blink = float(np.clip(c.blink, 0, 1))
        squint = float(np.clip(c.squint, 0, 1)) * (1 - blink)
        up = 0.9 * blink + 0.28 * squint
        lo = 0.1 * blink + 0.22 * squint
        dv = up * self.close_upper + lo * self.close_lower - float(np.clip(c.brow, -1, 1)) * BROW_LIFT * self.brow
        uv = self.base.copy()
        uv[:, 1] += dv
        # gaze_y > 0 looks up; a blink hides the irises anyway, so they keep their travel
        uv[:, 0] += self.iris * GAZE_TRAVEL[0] * float(np.clip(c.gaze_x, -1, 1))
        uv[:, 1] -= self.iris * GAZE_TRAVEL[1] * float(np.clip(c.gaze_y, -1, 1))
        moving = self.frame.to_pixels(uv)
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
    brow = np.exp(-(((base[:, 1] - brow_v) / 0.22) ** 2)) * np.clip(1.35 - np.abs(base[:, 0]) / 1.0, 0, 1)
    brow[base[:, 1] > brow_v] *= np.exp(-((base[base[:, 1] > brow_v, 1] - brow_v) / 0.12) ** 2)
    # the cheeks below the eyes never move, and motion too small to see is none at all
    low = base[:, 1] > 0.2
    brow[is_iris] = 0
    for field in (close_upper, close_lower, brow):
        field[low] = 0
        field[np.abs(field) < 2e-3] = 0
    ring = _ring(frame, image_size)
    source = np.concatenate([points[index], ring])
    reference = np.concatenate([frame.to_pixels(opened), ring])
    return EyeRig(frame, index, source, base, close_upper, close_lower, brow, is_iris.astype(np.float64), reference)


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


def closed_eyes(frame: np.ndarray, rig: EyeRig, warp) -> tuple[np.ndarray, np.ndarray]:
    """The eye region with both eyes shut, cleaned: (BGR crop, feathered mask (h, w, 1) float32).

    Warping alone leaves whatever the landmarks missed of the iris under the lid line; here that is
    filled from the surrounding lid skin, and a soft line of lashes is drawn where the lids meet.
    """
    crop = warp.crop
    region = frame[crop.slices].copy()
    target = rig.target_pixels(FaceControls(blink=1.0))
    maps = warp.maps(target)
    if maps is not None:
        region = cv2.remap(region, maps[0], maps[1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    origin = np.array([crop.x0, crop.y0], np.float64)
    unit = rig.frame.unit
    holes = np.zeros(region.shape[:2], np.uint8)
    rows = {k: n for n, k in enumerate(rig.index)}
    lashes = []
    source = frame[crop.slices]
    dark = []
    for upper_ids, lower_ids in EYES:
        lids = [rows[k] for k in upper_ids] + [rows[k] for k in lower_ids[::-1]]
        opening = rig.source[lids] - origin
        cv2.fillPoly(holes, [np.round(opening).astype(np.int32)], 255)
        lashes.append(target[[rows[k] for k in lower_ids]] - origin)
        eye_mask = np.zeros(holes.shape, np.uint8)
        cv2.fillPoly(eye_mask, [np.round(opening).astype(np.int32)], 255)
        dark.append(source[eye_mask > 0].reshape(-1, 3))
    grow = max(int(round(0.05 * unit)), 1)
    near = cv2.dilate(holes, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * grow + 1, 2 * grow + 1)))
    # only what is left of the iris and the eye's white needs filling: pixels unlike the lid skin
    luma = cv2.cvtColor(region, cv2.COLOR_BGR2GRAY).astype(np.float32)
    ring = cv2.dilate(near, np.ones((5, 5), np.uint8)) - near
    skin = float(np.median(luma[ring > 0])) if (ring > 0).any() else float(np.median(luma))
    odd = (np.abs(luma - skin) > 0.28 * skin).astype(np.uint8) * 255
    holes = cv2.dilate(odd & near, np.ones((3, 3), np.uint8))
    closed = cv2.inpaint(region, holes, max(3.0, 0.05 * unit), cv2.INPAINT_TELEA)
    pixels = np.concatenate(dark).astype(np.float64)
    if len(pixels):
        luma = pixels @ LUMA_BGR
        lash = pixels[luma <= np.percentile(luma, 15)].mean(0)
    else:
        lash = np.array([40.0, 35.0, 35.0])
    line = np.zeros(holes.shape, np.uint8)
    thickness = 1
    for pts in lashes:
        cv2.polylines(line, [np.round(pts * 16).astype(np.int32)], False, 255, thickness, cv2.LINE_AA, 4)
    a = (cv2.GaussianBlur(line, (0, 0), max(0.5, 0.008 * unit)).astype(np.float32) / 255 * 0.55)[..., None]
    closed = (closed * (1 - a) + lash * a).astype(np.uint8)
    soft = cv2.GaussianBlur(np.maximum(near, line).astype(np.float32) / 255, (0, 0), max(1.0, 0.03 * unit))
    mask = np.clip(soft * 1.5, 0, 1)[..., None]
    return closed, mask
