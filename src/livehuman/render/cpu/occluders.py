"""Objects in front of the face near the mouth (a pen, a microphone, a finger's nail): kept still.

The lower-face warp would drag anything near the mouth along with the skin, bending it. Pixels around
the mouth whose colour is far from the face's skin (in Lab, against the skin's own spread) are
taken for an object in front: the skin behind them is inpainted before warping, and the object is
put back on top, unmoved, after.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from livehuman.render.cpu.face import LOWER_OUTER, UPPER_OUTER, FaceFrame
from livehuman.render.cpu.warp import Crop

# the search runs from this far above the lips (nostrils stay out) to this far below them (the
# chin's shadow stays out), face units, inside the face's oval
ABOVE, BELOW = 0.25, 0.3
LIP_CLEARANCE = 0.05  # the lips and this much around them move with the mouth: never an object
CHROMA_SIGMAS = 6.0  # a colour this many robust spreads from the skin's is not skin
DARKER = 0.35  # or this much of the skin's lightness and below (shadows between wrinkles are lighter)
# ...unless it is the skin's own deep shadow (a crease at a mouth corner, a nostril): under this share
# of the skin's lightness, of the skin's hue within SHADOW_HUE degrees, and with at least
# SHADOW_CHROMA of colour. A dark object is greyer, of another hue, or more colourful than the skin.
SHADOW_DARKER = 0.5
SHADOW_HUE = 30.0
SHADOW_CHROMA = 8.0
# mediapipe's face oval, around the face: what lies outside it is background, hair or clothes
FACE_OVAL = np.array([10, 338, 297, 332, 284, 251, 389, 356, 454, 323, 361, 288, 397, 365, 379, 378, 400, 377,
                      152, 148, 176, 149, 150, 136, 172, 58, 132, 93, 234, 127, 162, 21, 54, 103, 67, 109])
NEAR = 0.2  # an object reaches this close to the lips (face units)
MIN_AREA = 0.004  # objects smaller than this (face units squared) are specks of the skin itself


@dataclass
class Occluder:
    """An object in front of the face, in a crop of the source frame."""

    rows: slice
    cols: slice
    behind: np.ndarray  # the crop with the object inpainted away: the skin the warp moves
    front: np.ndarray  # the crop's original pixels
    alpha: np.ndarray  # (h, w, 1) float32: how much of `front` goes back on top

    def remove(self, image: np.ndarray) -> None:
        image[self.rows, self.cols] = self.behind

    def restore(self, image: np.ndarray) -> None:
        region = image[self.rows, self.cols]
        now = region.astype(np.float32)
        region[:] = np.clip(now + (self.front.astype(np.float32) - now) * self.alpha + 0.5, 0, 255).astype(np.uint8)


def _skin_shadow(colour: np.ndarray, skin: np.ndarray) -> bool:
    """Whether a region's median Lab colour (OpenCV's 8-bit scale) is the skin's own shadow.

    Skin in shadow is darker, keeps its hue, and keeps more of its colour than of its lightness
    (light scattered under the skin is coloured by it), though no more than the lit skin has (a red
    object is more colourful). A grey photo has no hue to go by: its dark regions stay objects."""
    a, b = float(colour[1]) - 128, float(colour[2]) - 128
    skin_a, skin_b = float(skin[1]) - 128, float(skin[2]) - 128
    chroma, skin_chroma = np.hypot(a, b), np.hypot(skin_a, skin_b)
    if skin_chroma < SHADOW_CHROMA or float(colour[0]) > SHADOW_DARKER * float(skin[0]):
        return False
    turn = abs(np.degrees(np.arctan2(a * skin_b - b * skin_a, a * skin_a + b * skin_b)))
    darkened = skin_chroma * float(colour[0]) / max(float(skin[0]), 1.0)
    return turn <= SHADOW_HUE and max(SHADOW_CHROMA, darkened) <= chroma <= skin_chroma


def find_occluder(frame: np.ndarray, points: np.ndarray, face: FaceFrame, crop: Crop) -> Occluder | None:
    """The object in front of the face near the mouth in one source frame, or None.

    `crop` is where the lower-face warp moves pixels: everything in it below the nose is searched."""
    lips = np.concatenate([UPPER_OUTER, LOWER_OUTER[::-1][1:-1]])
    lips_v = face.to_face(points[lips])[:, 1]
    top, bottom = float(lips_v.min()) - ABOVE, float(lips_v.max()) + BELOW
    y0, y1, x0, x1 = crop.y0, crop.y1, crop.x0, crop.x1
    if x1 - x0 < 8 or y1 - y0 < 8:
        return None
    origin = np.array([x0, y0])
    crop = frame[y0:y1, x0:x1]
    xs, ys = np.arange(x0, x1)[None, :], np.arange(y0, y1)[:, None]
    v = ((xs - face.origin[0]) * face.ey[0] + (ys - face.origin[1]) * face.ey[1]) / face.unit
    region = ((v > top) & (v < bottom)).astype(np.uint8)
    lip_mask = np.zeros_like(region)
    cv2.fillPoly(lip_mask, [np.round(points[lips] - origin).astype(np.int32)], 1)
    r = max(int(round(LIP_CLEARANCE * face.unit)), 1)
    lip_mask = cv2.dilate(lip_mask, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1)))
    search = (region > 0) & (lip_mask == 0)
    # an object lies over the face: a good part of it inside the face's oval (not the background
    # or the collar that the warp's crop reaches)
    oval = np.zeros_like(region)
    cv2.fillPoly(oval, [np.round(points[FACE_OVAL] - origin).astype(np.int32)], 1)
    r = max(int(round(0.08 * face.unit)), 1)
    oval = cv2.erode(oval, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1)))
    lab = cv2.cvtColor(crop, cv2.COLOR_BGR2LAB).astype(np.float32)
    search &= oval > 0
    skin = lab[search]
    if len(skin) < 50:
        return None
    median = np.median(skin, 0)
    spread = 1.4826 * np.median(np.abs(skin - median), 0) + np.array([2.0, 1.5, 1.5])
    a, b = ((lab[..., c] - float(median[c])) / float(spread[c]) for c in (1, 2))
    not_skin = (np.sqrt(a * a + b * b) > CHROMA_SIGMAS) | (lab[..., 0] < DARKER * float(median[0]))
    found = search & not_skin
    found = cv2.morphologyEx(found.astype(np.uint8), cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))
    n, labels, stats, _ = cv2.connectedComponentsWithStats(found, connectivity=8)
    keep = np.zeros(n, bool)
    keep[1:] = stats[1:, cv2.CC_STAT_AREA] >= MIN_AREA * face.unit**2
    # and it reaches close to the lips, where the warp moves most (a far shadow is the face's own)
    dist = cv2.distanceTransform((lip_mask == 0).astype(np.uint8), cv2.DIST_L2, 3)
    keep &= np.bincount(labels[dist <= NEAR * face.unit], minlength=n) > 0
    for k in np.nonzero(keep)[0]:  # (the few left near the lips)
        keep[k] = not _skin_shadow(np.median(lab[labels == k], 0), median)
    if not keep.any():
        return None
    mask = keep[labels].astype(np.uint8)
    # the object goes on outside the searched region (a pen's far end): follow it through the warp's
    # crop by its own colour, so the warp does not drag skin over the rest of it
    core = cv2.erode(mask, np.ones((3, 3), np.uint8))
    core = core if core.sum() >= 10 else mask
    colour = np.median(lab[core > 0], 0)
    spread_obj = 1.4826 * np.median(np.abs(lab[core > 0] - colour), 0) + np.array([4.0, 3.0, 3.0])
    alike = ((np.abs(lab - colour) / spread_obj).max(-1) < 3) & not_skin
    n2, labels2 = cv2.connectedComponents((alike | (mask > 0)).astype(np.uint8), connectivity=8)
    touched = np.unique(labels2[mask > 0])
    mask = np.isin(labels2, touched[touched > 0]).astype(np.uint8)
    grown = cv2.dilate(mask, np.ones((5, 5), np.uint8))
    behind = cv2.inpaint(crop, grown, max(3.0, 0.05 * face.unit), cv2.INPAINT_TELEA)
    # inpainting is smooth; the skin it stands for has grain: add the skin's own, at its strength
    detail = crop.astype(np.float32) - cv2.GaussianBlur(crop, (0, 0), 1.5).astype(np.float32)
    grain = float(np.median(np.abs(detail[search & (grown == 0)]))) * 1.4826
    noise = np.random.default_rng(0).normal(0.0, grain, crop.shape[:2]).astype(np.float32)
    noise = cv2.GaussianBlur(noise, (0, 0), 0.7) * 1.6  # skin grain is a little coarser than a pixel
    behind = np.clip(behind + (noise * grown)[..., None], 0, 255).astype(np.uint8)
    alpha = cv2.GaussianBlur(cv2.dilate(mask, np.ones((3, 3), np.uint8)).astype(np.float32), (0, 0), 0.8)
    # keep only the object's own rectangle (a video keeps one per frame)
    ys, xs = np.nonzero(cv2.dilate(grown, np.ones((5, 5), np.uint8)))
    r0, r1, c0, c1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
    return Occluder(
        slice(y0 + r0, y0 + r1), slice(x0 + c0, x0 + c1), behind[r0:r1, c0:c1], crop[r0:r1, c0:c1].copy(),
        np.clip(alpha[r0:r1, c0:c1], 0, 1)[..., None],
    )
