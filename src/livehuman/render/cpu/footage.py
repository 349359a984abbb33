"""The person's own inner mouth, collected from video frames where they open it.

Each patch is stored in a canonical, lip-normalized layout: x runs from one inner mouth corner to
the other (0..1), y from the upper inner lip (0) to the lower one (1) in every column. Any target
mouth shape maps back into that layout with two interpolations, so a patch fits any opening.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from livehuman.avatar.avatar import Avatar

PATCH_SIZE = (96, 40)  # canonical inner-mouth patch, width x height
MIN_OPEN = 0.09  # inner-lip gap (face units) for a frame to lend its mouth
MAX_PATCHES = 10


def _lip_axes(upper: np.ndarray, lower: np.ndarray):
    """Origin, along-unit, across-unit and length of the corner-to-corner axis, and each contour's
    (t along 0..1, offset across in pixels), sorted by t."""
    origin = upper[0]
    axis = upper[-1] - upper[0]
    length = max(float(np.linalg.norm(axis)), 1e-6)
    along = axis / length
    across = np.array([-along[1], along[0]])

    def profile(contour):
        d = contour - origin
        t, off = d @ along / length, d @ across
        order = np.argsort(t)
        return t[order], off[order]

    return origin, along, across, length, profile(upper), profile(lower)


@dataclass
class FootageMouths:
    """Canonical inner-mouth patches with their openness (inner gap over inner width)."""

    patches: list[np.ndarray]
    openness: np.ndarray

    @classmethod
    def collect(cls, avatar: Avatar) -> "FootageMouths | None":
        """Patches from the avatar's open-mouth frames, spread over their openness; None if it never opens."""
        from livehuman.avatar.landmarks import inter_ocular
        from livehuman.render.cpu.face import LOWER_INNER, UPPER_INNER

        lm = avatar.landmarks
        units = np.array([inter_ocular(p) for p in lm])
        gap_px = np.linalg.norm(lm[:, 14] - lm[:, 13], axis=1)
        openness = gap_px / np.maximum(np.linalg.norm(lm[:, 308] - lm[:, 78], axis=1), 1e-6)
        candidates = np.nonzero(gap_px / np.maximum(units, 1e-6) > MIN_OPEN)[0]
        if len(candidates) == 0:
            return None
        order = candidates[np.argsort(openness[candidates])]
        picks = np.unique(np.linspace(0, len(order) - 1, min(MAX_PATCHES, len(order))).round().astype(int))
        chosen = order[picks]
        w, h = PATCH_SIZE
        t = np.linspace(0, 1, w, dtype=np.float64)[None, :]
        s = np.linspace(0.02, 0.92, h, dtype=np.float64)[:, None]  # clear of the lips' own edges
        patches = []
        for i in chosen:
            upper, lower = lm[i, UPPER_INNER].astype(np.float64), lm[i, LOWER_INNER].astype(np.float64)
            origin, along, across, length, (tu, ou), (tl, ol) = _lip_axes(upper, lower)
            up, lo = np.interp(t, tu, ou), np.interp(t, tl, ol)
            off = up + s * (lo - up)
            xs = origin[0] + along[0] * t * length + across[0] * off
            ys = origin[1] + along[1] * t * length + across[1] * off
            patches.append(
                cv2.remap(avatar.frames[i], xs.astype(np.float32), ys.astype(np.float32), cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
            )
        return cls(patches, openness[chosen])

    def painter(self, upper: np.ndarray, lower: np.ndarray):
        """paint(origin, (h, w)) -> (BGR layer, coverage 0..1) from the closest patch, or None.

        The patch keeps its own scale from the upper lip down (the upper teeth hang from it): a more
        open target shows the synthetic cavity below the patch (coverage 0 there; re-detection found
        lower teeth riding up with the lip read as a closing mouth); a more closed one keeps the
        patch's top half under the upper lip and its bottom half on the lower lip, skipping the middle.
        """
        width = float(np.linalg.norm(upper[-1] - upper[0]))
        gap = float(np.linalg.norm(lower[len(lower) // 2] - upper[len(upper) // 2]))
        if width < 2 or gap < 1:
            return None
        want = gap / width
        k = int(np.argmin(np.abs(np.log(self.openness) - np.log(want))))
        scale = want / self.openness[k]
        patch = self.patches[k]
        o, along, across, length, (tu, ou), (tl, ol) = _lip_axes(upper, lower)

        def paint(crop_origin: np.ndarray, shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
            ys, xs = np.mgrid[0 : shape[0], 0 : shape[1]].astype(np.float64)
            dx, dy = xs + crop_origin[0] - o[0], ys + crop_origin[1] - o[1]
            t = (dx * along[0] + dy * along[1]) / length
            off = dx * across[0] + dy * across[1]
            up, lo = np.interp(t, tu, ou), np.interp(t, tl, ol)
            s = (off - up) / np.maximum(lo - up, 0.5)
            top = s * scale
            if scale >= 1:
                row, beyond = top, top - 1
            else:
                bottom = 1 - (1 - s) * scale
                row, beyond = np.where(s < 0.5, top, bottom), np.zeros_like(s)
            w, h = PATCH_SIZE
            map_x = (np.clip(t, 0, 1) * (w - 1)).astype(np.float32)
            map_y = (np.clip(row, 0, 1) * (h - 1)).astype(np.float32)
            layer = cv2.remap(patch, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
            coverage = np.clip(1 - beyond / 0.12, 0, 1).astype(np.float32)
            return layer, coverage

        return paint
