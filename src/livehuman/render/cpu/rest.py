"""The rest pose of a source frame whose mouth is open (an open smile, a mouth hanging open).

The deformation model drives the mouth from a closed neutral, and from a closed source photo it
closes perfectly. From an open one, every closed frame would collapse the band of teeth between the
inner lips onto one line, and resampling smears those teeth along it: a light seam that reads as a
parted mouth, worst on small faces (at 45 px across, the face mesh sees a quarter-open mouth in
silence). So such a frame is closed once, here, into a photo of the person with closed lips: the
closed neutral warped in, and the line where the lips meet drawn in the lips' own darker colour.
The engine then drives that closed photo exactly as it drives a closed-mouth source.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from livehuman.motion.controls import FaceControls
from livehuman.render.cpu.deform import build_rig
from livehuman.render.cpu.face import LOWER_INNER, LOWER_OUTER, LUMA_BGR, UPPER_INNER, UPPER_OUTER
from livehuman.render.cpu.warp import Crop, PiecewiseWarp, triangulate

# An inner-lip gap (face units) above which the source frame is closed into a rest photo; a
# closed mouth's landmarks part by a few thousandths, a slightly parted one by about 0.03.
OPEN_AT_REST = 0.03
SEAM_SHADE = 0.55  # the lip-meeting line's colour, as a share of the lips' own
SHIFT = 4  # fixed-point bits for the anti-aliased seam


@dataclass
class RestPose:
    """A source frame with its mouth closed: the changed region and the closed landmarks."""

    crop: Crop  # where the rest photo differs from the source frame
    patch: np.ndarray  # (h, w, 3) uint8, the rest photo inside the crop
    points: np.ndarray  # (478, 2) landmarks of the rest photo, pixels

    def frame(self, source: np.ndarray) -> np.ndarray:
        """The whole rest photo (a new array)."""
        image = source.copy()
        image[self.crop.slices] = self.patch
        return image


def rest_pose(image: np.ndarray, points: np.ndarray) -> RestPose | None:
    """The closed-mouth rest photo of a frame whose mouth is open, or None when it is closed already."""
    points = np.asarray(points, np.float64)
    size = (image.shape[1], image.shape[0])
    rig = build_rig(points)
    if rig.source_gap <= OPEN_AT_REST:
        return None
    target = rig.target_pixels(FaceControls()).astype(np.float64)
    crop = Crop.around(np.concatenate([rig.source, target]), size, pad=3)
    # no triangle spans the open mouth: its teeth and cavity fold away between the lips
    rows = rig.position_of(np.concatenate([UPPER_INNER, LOWER_INNER[::-1][1:-1]]))
    warp = PiecewiseWarp(triangulate(rig.source, [rig.source[rows]]), rig.source, crop)
    closed = image.copy()
    map_x, map_y = warp.maps(target)
    # a pixel on a hairline between two triangles takes a neighbour's affine, which near a collapsed
    # triangle can reach far (a stray light pixel); the displacement field is smooth but for the
    # lips' seam, and a median keeps that step while dropping the strays
    h, w = map_x.shape
    xs, ys = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    map_x = cv2.medianBlur(np.ascontiguousarray(map_x - xs), 3) + xs
    map_y = cv2.medianBlur(np.ascontiguousarray(map_y - ys), 3) + ys
    region = closed[crop.slices]
    region[:] = cv2.remap(region, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    rest_points = points.copy()
    rest_points[rig.index] = target[: rig.n_moving]
    _draw_seam(closed, rest_points, rig.frame.unit)
    # keep only the pixels that changed: a video avatar holds one patch per open-mouthed frame
    ys, xs = np.nonzero((closed[crop.slices] != image[crop.slices]).any(2))
    if len(xs):
        crop = Crop(crop.x0 + int(xs.min()), crop.y0 + int(ys.min()), crop.x0 + int(xs.max()) + 1, crop.y0 + int(ys.max()) + 1)
    return RestPose(crop, np.ascontiguousarray(closed[crop.slices]), rest_points.astype(np.float32))


def _draw_seam(image: np.ndarray, points: np.ndarray, unit: float) -> None:
    """Where the closed lips meet: what is left of the teeth (pixels lighter than the lips) takes
    the lips' colour, and a thin line a little darker than the lips runs along the seam."""
    seam = points[UPPER_INNER]
    outer = np.concatenate([points[UPPER_OUTER], points[LOWER_OUTER[::-1][1:-1]]])
    box = Crop.around(outer, (image.shape[1], image.shape[0]), pad=4)
    region = image[box.slices]
    offset = np.array([box.x0, box.y0], np.float64)
    mask = np.zeros(region.shape[:2], np.uint8)
    cv2.fillPoly(mask, [np.round(outer - offset).astype(np.int32)], 255)
    band = np.zeros(region.shape[:2], np.uint8)
    reach = max(2, round(0.04 * unit))
    cv2.polylines(band, [np.round(seam - offset).astype(np.int32)], False, 255, 2 * reach + 1)
    lips = region[(mask > 0) & (band == 0)].astype(np.float32)
    if len(lips) < 10:
        return
    lip = np.median(lips, 0)
    body = region.astype(np.float32)
    near = cv2.GaussianBlur(band.astype(np.float32) / 255, (0, 0), 0.5 * reach) * (mask > 0)
    lighter = np.clip((body @ LUMA_BGR.astype(np.float32) - float(lip @ LUMA_BGR) - 4) / 25, 0, 1)
    weight = (near * lighter)[..., None]
    body = body * (1 - weight) + lip * weight
    line = np.zeros(region.shape[:2], np.float32)
    pts = np.round((seam - offset) * (1 << SHIFT)).astype(np.int32)
    cv2.polylines(line, [pts], False, 1.0, max(1, round(0.015 * unit)), cv2.LINE_AA, SHIFT)
    line = cv2.GaussianBlur(line, (0, 0), 0.5)[..., None] * (1 - SEAM_SHADE)
    body = body * (1 - line) + SEAM_SHADE * lip * line
    region[:] = np.clip(body, 0, 255).astype(np.uint8)
