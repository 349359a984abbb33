"""Piecewise-affine warping of an image crop from source to target landmark positions."""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass

import cv2
import numpy as np

SUBPIXEL_BITS = 4  # fixed-point bits for cv2's polygon rasterizer
_CROSS = cv2.getStructuringElement(cv2.MORPH_CROSS, (3, 3))


def triangulate(reference: np.ndarray, holes: list[np.ndarray] = ()) -> np.ndarray:
    """Delaunay triangles (k, 3) of the reference points, dropping those inside any hole polygon."""
    tri = _delaunay(reference)
    keep = np.abs(twice_area(reference, tri)) > 2e-3
    centroid = reference[tri].mean(1)
    for hole in holes:
        poly = np.asarray(hole, np.float32)
        inside = np.array([cv2.pointPolygonTest(poly, (float(x), float(y)), False) > 0 for x, y in centroid])
        keep &= ~inside
    return tri[keep].astype(np.int32)


def slivers(points: np.ndarray, triangles: np.ndarray, quality: float = 0.02) -> np.ndarray:
    """(k,) which triangles of `points` are slivers: twice their area under `quality` of their longest
    edge squared (under 0.02: less than 1/50 of it high). Warping onto one is ill-conditioned: a
    landmark's sub-pixel move across it becomes a shear that fetches pixels from far away."""
    a, b, c = (points[triangles[:, i]] for i in range(3))
    longest = np.max([((b - a) ** 2).sum(1), ((c - b) ** 2).sum(1), ((a - c) ** 2).sum(1)], axis=0)
    return np.abs(twice_area(points, triangles)) < quality * np.maximum(longest, 1e-12)


def twice_area(points: np.ndarray, triangles: np.ndarray) -> np.ndarray:
    """(k,) each triangle's signed area, doubled (the cross product of two of its edges)."""
    a, b, c = (points[triangles[:, i]] for i in range(3))
    return (b[:, 0] - a[:, 0]) * (c[:, 1] - a[:, 1]) - (b[:, 1] - a[:, 1]) * (c[:, 0] - a[:, 0])


def _delaunay(points: np.ndarray) -> np.ndarray:
    """Delaunay triangles (k, 3) of 2-D points, with OpenCV's Subdiv2D (duplicates are skipped).

    Unlike qhull it leaves out a few slivers along the convex hull; ours are all between fixed ring
    points, where the warp is the identity anyway."""
    pts = np.ascontiguousarray(points, np.float32)
    lo, hi = pts.min(0) - 10, pts.max(0) + 10
    x0, y0 = np.floor(lo).astype(int)
    width, height = np.ceil(hi - lo).astype(int) + 1
    subdiv = cv2.Subdiv2D((int(x0), int(y0), int(width), int(height)))
    subdiv.insert(pts)
    corners = subdiv.getTriangleList().astype(np.float32).reshape(-1, 2)
    # each corner's point: the first of the points at its place (x + iy sorts by x, then y)
    keys = pts[:, 0] + 1j * pts[:, 1].astype(np.complex64)
    unique, first = np.unique(keys, return_index=True)
    wanted = corners[:, 0] + 1j * corners[:, 1].astype(np.complex64)
    at = np.minimum(np.searchsorted(unique, wanted), len(unique) - 1)
    ours = (unique[at] == wanted).reshape(-1, 3).all(1)  # not Subdiv2D's virtual outer vertices
    return first[at].reshape(-1, 3)[ours].astype(np.int32)


@dataclass
class Crop:
    """A rectangle of the frame: x0, y0, x1, y1 (exclusive)."""

    x0: int
    y0: int
    x1: int
    y1: int

    @classmethod
    def around(cls, points: np.ndarray, size: tuple[int, int], pad: int = 2) -> "Crop":
        width, height = size
        x0, y0 = np.floor(points.min(0)).astype(int) - pad
        x1, y1 = np.ceil(points.max(0)).astype(int) + pad + 1
        return cls(max(x0, 0), max(y0, 0), min(x1, width), min(y1, height))

    @property
    def shape(self) -> tuple[int, int]:
        return self.y1 - self.y0, self.x1 - self.x0

    @property
    def slices(self) -> tuple[slice, slice]:
        return slice(self.y0, self.y1), slice(self.x0, self.x1)


class Scratch(threading.local):
    """Arrays a thread reuses from frame to frame for its per-frame temporaries.

    Fresh arrays of a few hundred kB cost page faults each time they are allocated (glibc hands them
    back to the system when freed), as much as the arithmetic done on them; each thread keeps its
    own, since an engine may draw for several sessions at once."""

    def __init__(self):
        self._flat: dict[str, np.ndarray] = {}
        self._fixed: dict[tuple, np.ndarray] = {}

    def array(self, name: str, shape: tuple[int, ...], dtype=np.float32) -> np.ndarray:
        """A C-contiguous array of `shape`, contents undefined, valid until the next call for `name`."""
        size = math.prod(shape)
        flat = self._flat.get(name)
        if flat is None or flat.size < size or flat.dtype != dtype:
            flat = self._flat[name] = np.empty(max(size, 0 if flat is None else flat.size), dtype)
        return flat[:size].reshape(shape)

    def constant(self, key: tuple, make) -> np.ndarray:
        """`make()` computed once per `key` (a few kept: a video avatar's crops differ by frame)."""
        array = self._fixed.get(key)
        if array is None:
            if len(self._fixed) >= 8:
                self._fixed.clear()
            array = self._fixed[key] = make()
            array.flags.writeable = False
        return array


class PiecewiseWarp:
    """Backward piecewise-affine warp over a fixed triangulation, confined to one crop."""

    def __init__(self, triangles: np.ndarray, source: np.ndarray, crop: Crop):
        self.triangles = triangles
        self.crop = crop
        self.source = (source - (crop.x0, crop.y0)).astype(np.float64)

    def maps(self, target: np.ndarray, moved_eps: float = 0.02) -> tuple[np.ndarray, np.ndarray] | None:
        """remap() maps for the crop taking target positions back to the source; None if nothing moved."""
        moving = self._moving_maps(target, moved_eps, Scratch())
        if moving is None:
            return None
        (y0, y1, x0, x1), part_x, part_y = moving
        h, w = self.crop.shape
        map_x, map_y = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
        map_x[y0:y1, x0:x1] = part_x
        map_y[y0:y1, x0:x1] = part_y
        return map_x, map_y

    def apply(self, image: np.ndarray, target: np.ndarray, scratch: Scratch | None = None) -> bool:
        """Warp the crop of `image` in place; False when nothing moved.

        `scratch`: the calling thread's reusable arrays, if it keeps some."""
        moving = self._moving_maps(target, 0.02, scratch or Scratch())
        if moving is None:
            return False
        (y0, y1, x0, x1), map_x, map_y = moving
        region = image[self.crop.slices]
        dst = scratch.array("warp.out", map_x.shape + region.shape[2:], np.uint8) if scratch is not None else None
        # the moving part's pixels come from anywhere in the crop
        region[y0:y1, x0:x1] = cv2.remap(region, map_x, map_y, cv2.INTER_LINEAR, dst=dst, borderMode=cv2.BORDER_REPLICATE)
        return True

    def _moving_maps(self, target: np.ndarray, moved_eps: float, scratch: Scratch):
        """The rectangle (y0, y1, x0, x1) of the crop that moves and its remap() maps (the thread's own
        arrays, in the crop's coordinates), or None if nothing moved: outside it the warp is the identity."""
        target = (np.asarray(target, np.float64) - (self.crop.x0, self.crop.y0))
        moved = np.abs(target - self.source).max(1) > moved_eps
        tri = self.triangles[moved[self.triangles].any(1)]
        if len(tri) == 0:
            return None
        affines, ok = _affines(target[tri], self.source[tri])
        affines = affines[ok]  # a collapsed triangle covers no pixel
        corners = target[tri[ok]]
        if len(corners) == 0:
            return None
        # the moving triangles' pixels, and one more around them that the gaps' filling below may take
        h, w = self.crop.shape
        x0, y0 = np.maximum(np.floor(corners.reshape(-1, 2).min(0)).astype(int) - 2, 0)
        x1, y1 = np.minimum(np.ceil(corners.reshape(-1, 2).max(0)).astype(int) + 3, (w, h))
        if x1 <= x0 or y1 <= y0:
            return None
        shape = (y1 - y0, x1 - x0)
        # each pixel's triangle (0: none, 1 + k: the k-th), later ones over earlier ones
        ids = scratch.array("warp.ids", shape)
        ids.fill(0)
        fill = cv2.fillConvexPoly  # hundreds of calls a frame: each lookup and conversion saved counts
        for k, pts in enumerate(list(np.round((corners - (x0, y0)) * (1 << SUBPIXEL_BITS)).astype(np.int32)), 1):
            fill(ids, pts, (k,), cv2.LINE_8, SUBPIXEL_BITS)
        # collapsed triangles (a closed eye or mouth) leave hairline gaps: let neighbours cover them
        grown = cv2.dilate(ids, _CROSS, dst=scratch.array("warp.grown", shape))
        np.copyto(ids, grown, where=ids == 0)
        # each pixel's affine, looked up by its triangle's number (remap is a fast gather), applied to
        # the pixel's (x, y, 1) in the crop
        xy1 = scratch.constant(("warp.xy1", h, w), lambda: _xy1(h, w))[y0:y1, x0:x1]
        zeros = scratch.constant(("warp.zeros", h, w), lambda: np.zeros((h, w), np.float32))[:shape[0], :shape[1]]
        maps = []
        for axis in (0, 1):
            table = np.concatenate([_IDENTITY[axis], affines[:, axis]])[None]  # (1, 1 + k, 3)
            coef = cv2.remap(table, ids, zeros, cv2.INTER_NEAREST, dst=scratch.array(f"warp.coef{axis}", shape + (3,)))
            cv2.multiply(coef, xy1, dst=coef)
            maps.append(cv2.transform(coef, _SUM, dst=scratch.array(f"warp.map{axis}", shape)))
        return (y0, y1, x0, x1), maps[0], maps[1]


_IDENTITY = np.array([[[1, 0, 0]], [[0, 1, 0]]], np.float32)  # per axis: no triangle, no motion
_SUM = np.ones((1, 3), np.float32)


def _xy1(h: int, w: int) -> np.ndarray:
    """(h, w, 3) float32: each pixel's x, y and 1."""
    out = np.ones((h, w, 3), np.float32)
    out[..., 0] = np.arange(w, dtype=np.float32)[None, :]
    out[..., 1] = np.arange(h, dtype=np.float32)[:, None]
    return out


def _affines(dst: np.ndarray, src: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(k, 2, 3) affines taking each dst triangle onto its src triangle, and which are non-degenerate."""
    d1, d2 = dst[:, 1] - dst[:, 0], dst[:, 2] - dst[:, 0]
    s1, s2 = src[:, 1] - src[:, 0], src[:, 2] - src[:, 0]
    det = d1[:, 0] * d2[:, 1] - d2[:, 0] * d1[:, 1]
    ok = np.abs(det) > 1e-2  # twice the area in pixels: below this the triangle covers nothing
    inv = np.where(ok, 1.0 / np.where(ok, det, 1.0), 0.0)
    # inverse of D = [d1 d2] (columns), then L = S @ D^-1 with S = [s1 s2]
    i00, i01, i10, i11 = d2[:, 1] * inv, -d2[:, 0] * inv, -d1[:, 1] * inv, d1[:, 0] * inv
    out = np.empty((len(dst), 2, 3), np.float64)
    out[:, :, 0] = s1 * i00[:, None] + s2 * i10[:, None]
    out[:, :, 1] = s1 * i01[:, None] + s2 * i11[:, None]
    out[:, :, 2] = src[:, 0] - out[:, :, 0] * dst[:, 0, :1] - out[:, :, 1] * dst[:, 0, 1:]
    out[~ok] = ((1, 0, 0), (0, 1, 0))
    return out.astype(np.float32), ok
