"""The lower face's deformation model: controls to target landmark positions, in face units.

Everything is measured in inter-ocular distances in the face's own axes (FaceFrame), so the same
numbers work for any face size and a slightly tilted head. The model starts from a "closed
neutral": the source landmarks with the inner lips brought together (the upper lip down a little,
the lower lip and the jaw up the rest), so that silence is a closed, relaxed mouth even when the
source shows an open smile.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import cv2
import numpy as np

from livehuman.motion.controls import FaceControls
from livehuman.render.cpu.face import (
    LOWER_INNER,
    LOWER_OUTER,
    N_MESH,
    UPPER_INNER,
    UPPER_OUTER,
    FaceFrame,
)

JAW_GAP = 0.27  # lower-lip travel at jaw=1 (the inner-lip gap reaches ~1.1x this: an "ah")
LIP_ROLL = 0.04  # the lower lip's inner edge lags the jaw by this much at jaw=1, face units
UPPER_SHARE = 0.35  # the share of a source gap the upper lip travels when the mouth is closed
CLOSE_BLEND = 0.3  # face units under the lower lip over which closing's rise goes from the lip's to the chin's
CLOSE_BLEND_GAPS = 2.0  # or this many source gaps, if more: a wide-open mouth's skin is squeezed no more
MESH_TOP = -0.62  # landmarks above this (face units from the mouth) stay out of the lower-face mesh
STILL_ABOVE = -0.5  # landmarks above this never move, so the mesh's top edge is seamless
RING_MARGIN = 0.32  # fixed boundary points this far outside the moving landmarks
RING_BELOW = 0.4  # extra margin straight below the chin
RING_POINTS = 32
CORNER_DROP = 0.045  # face units the mouth corners come down at frown=1 (the inner lips stay where they are)
# Rounding the lips draws the corners to the lips' middle line: at round=1 this share of a smile
# at rest (corners above the middle, as on an open-smile photo) is undone, or "oo" stays a crescent.
ROUND_UNSMILE = 0.8
SKIN_FOLLOW = 0.12  # how far outside the lips the skin follows their thickening, face units


def _ramp(x: np.ndarray, a: float, b: float) -> np.ndarray:
    t = np.clip((x - a) / (b - a), 0.0, 1.0)
    return t * t * (3 - 2 * t)


def _clip(x: float, lo: float, hi: float) -> float:
    """A control clipped to its range (np.clip on a number costs ~10 us, more than all of target_uv)."""
    return min(max(float(x), lo), hi)


def _contour_interp(u: np.ndarray, cu: np.ndarray, cv: np.ndarray) -> np.ndarray:
    order = np.argsort(cu)
    return np.interp(u, cu[order], cv[order])


@dataclass
class MouthRig:
    """One source frame's lower-face rig: mesh landmarks, fixed ring, and per-landmark weights."""

    frame: FaceFrame  # origin at the closed mouth's centre
    index: np.ndarray  # (m,) landmark ids in the mesh
    source: np.ndarray  # (m + r, 2) source pixels of mesh landmarks then ring points
    neutral: np.ndarray  # (m, 2) closed-neutral positions, face units
    half_width: float  # half the mouth width, face units
    w: dict  # per-landmark weight arrays, (m,)
    source_gap: float  # the source's inner-lip gap, face units

    @property
    def n_moving(self) -> int:
        return len(self.index)

    def position_of(self, landmark_ids: np.ndarray) -> np.ndarray:
        """Row numbers in `index` of the given landmark ids."""
        lookup = np.full(N_MESH, -1)
        lookup[self.index] = np.arange(len(self.index))
        rows = lookup[landmark_ids]
        assert (rows >= 0).all()
        return rows

    def target_uv(self, c: FaceControls) -> np.ndarray:
        """Target positions of the mesh landmarks in face units."""
        press = _clip(c.press, 0, 1)
        jaw = _clip(c.jaw, 0, 1.3) * (1 - press)
        spread, rnd, tuck = (_clip(x, 0, 1) for x in (c.spread, c.round, c.tuck))
        teeth, smile, frown = _clip(c.teeth, 0, 1), _clip(c.smile, 0, 1), _clip(c.frown, 0, 1)
        # every control moves each landmark along its own fixed direction: one small product per frame
        amounts = np.array([jaw, spread, smile, rnd, frown, press, tuck, teeth])
        basis = self.basis
        return self.neutral + (amounts @ basis.reshape(len(basis), -1)).reshape(basis.shape[1:])

    @cached_property
    def basis(self) -> np.ndarray:
        """(8, m, 2): how far each landmark moves (face units) per unit of jaw, spread, smile, round,
        frown, press, tuck and teeth (the order of `target_uv`'s amounts)."""
        w = self.w
        s, t, r, f = w["sideways"], w["t"], w["r"], w["f"]
        up, lo, lip = w["upper"], w["lower"], w["lip"]
        cheek, wj = w["cheek"], w["jaw"]
        lateral = np.where(lip, t, cheek)  # how much a point follows the mouth corners sideways
        zero = np.zeros_like(t)
        du = {k: zero for k in ("jaw", "spread", "smile", "round", "frown", "press", "tuck", "teeth")}
        dv = dict(du)
        # The jaw: lower lip and chin drop, corners follow half-way, the upper lip lifts a little.
        lip_jaw = np.where(lo, 0.5 + 0.5 * r, 0.5 * (1 - r) - 0.12 * r)
        dv["jaw"] = JAW_GAP * np.where(lip, lip_jaw, wj)
        # the lower lip's wet inside rolls out as it drops: its inner edge lags a little behind
        dv["jaw"] = dv["jaw"] - np.where(lo, LIP_ROLL * (1 - f) * r, 0)
        du["jaw"] = -0.05 * s * lateral
        # Corners: out (spread, smile) or in (round); smile and spread also lift them, a frown lowers them.
        du["spread"], du["smile"], du["round"] = 0.11 * s * lateral, 0.06 * s * lateral, -0.17 * s * lateral
        lift = np.where(lip, t * t, cheek)
        dv["spread"], dv["smile"], dv["frown"] = -0.02 * lift, -0.07 * lift, CORNER_DROP * lift
        # Lip thickness: spread and press thin the lips, round makes them taller and pushed out.
        thick = f * np.where(lip, r, 0)
        apart = np.where(up, 1, np.where(lo, -1, 0)) * thick
        dv["spread"] = dv["spread"] + 0.02 * apart
        dv["press"] = 0.035 * apart
        dv["round"] = -0.04 * apart + np.where(lo, 0.015, 0) * thick
        # the skin just outside the lips makes way for a rounded lip, or its triangles would fold
        dv["round"] = dv["round"] + (0.055 * w["below"] - 0.04 * w["above"]) * r
        rest_lift = -float(self.neutral[self.position_of(np.array([61, 291])), 1].mean())  # (v grows downward)
        dv["round"] = dv["round"] + ROUND_UNSMILE * rest_lift * lift
        # Tuck: the upper lip lifts off the teeth, the lower lip rolls up under them.
        dv["tuck"] = -np.where(up, 0.05 * r, 0) - np.where(lo, 0.07 * f * r, 0)
        dv["teeth"] = -np.where(up, 0.015 * r, 0)
        # Press squeezes the chin up a touch.
        dv["press"] = dv["press"] - np.where(~lip & (w["v"] > 0), 0.012 * wj, 0)
        basis = np.stack([np.stack([du[k], dv[k]], -1) for k in du])
        basis[:, w["v"] < STILL_ABOVE] = 0
        return basis

    def target_pixels(self, c: FaceControls) -> np.ndarray:
        """Target positions of mesh landmarks then ring points, in pixels."""
        moving = self.frame.to_pixels(self.target_uv(c))
        return np.concatenate([moving, self.source[self.n_moving :]]).astype(np.float32)


def _lip_classes(uv: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Which landmarks are upper lip, lower lip, and their depth from the inner contour (0..1)."""
    n = len(uv)
    outer = np.concatenate([uv[UPPER_OUTER], uv[LOWER_OUTER[::-1][1:-1]]]).astype(np.float32)
    lo, hi = outer.min(0) - 0.02, outer.max(0) + 0.02
    near = np.nonzero(((uv >= lo) & (uv <= hi)).all(1))[0]
    inside = np.zeros(n, bool)
    inside[near] = [cv2.pointPolygonTest(outer, (float(uv[i, 0]), float(uv[i, 1])), True) > -0.01 for i in near]
    inside[N_MESH:] = False
    ui, li = uv[UPPER_INNER], uv[LOWER_INNER]
    mid = _contour_interp(uv[:, 0], (ui[:, 0] + li[:, 0]) / 2, (ui[:, 1] + li[:, 1]) / 2)
    upper = inside & (uv[:, 1] <= mid)
    lower = inside & (uv[:, 1] > mid)
    upper[LOWER_OUTER] = upper[LOWER_INNER] = lower[UPPER_OUTER] = lower[UPPER_INNER] = False
    upper[UPPER_OUTER] = upper[UPPER_INNER] = True
    lower[LOWER_OUTER] = lower[LOWER_INNER] = True
    for corner in (61, 291, 78, 308):  # corners belong to both lips; the jaw profile meets there
        upper[corner], lower[corner] = False, True
    uin = _contour_interp(uv[:, 0], ui[:, 0], ui[:, 1])
    uout = _contour_interp(uv[:, 0], uv[UPPER_OUTER, 0], uv[UPPER_OUTER, 1])
    lin = _contour_interp(uv[:, 0], li[:, 0], li[:, 1])
    lout = _contour_interp(uv[:, 0], uv[LOWER_OUTER, 0], uv[LOWER_OUTER, 1])
    f_up = np.clip((uin - uv[:, 1]) / np.maximum(uin - uout, 1e-3), 0, 1)
    f_lo = np.clip((uv[:, 1] - lin) / np.maximum(lout - lin, 1e-3), 0, 1)
    f = np.where(upper, f_up, np.where(lower, f_lo, 0))
    f[UPPER_OUTER] = 1
    f[LOWER_OUTER] = 1
    f[UPPER_INNER] = 0
    f[LOWER_INNER] = 0
    return upper, lower, f


def _close_lips(uv: np.ndarray, upper: np.ndarray, lower: np.ndarray, f: np.ndarray, below_w) -> tuple[np.ndarray, float]:
    """Move the inner lips together: the closed-neutral landmarks and the source's central gap.

    `f` is each lip point's depth in its lip (0 on the inner contour, 1 on the outer)."""
    ui, li = uv[UPPER_INNER], uv[LOWER_INNER]
    gaps = np.maximum(li[:, 1] - ui[:, 1], 0)
    gaps[[0, -1]] = 0
    cu = (ui[:, 0] + li[:, 0]) / 2
    gap_at = _contour_interp(uv[:, 0], cu, gaps)  # the gap straight above or below a point
    centre_gap = float(gaps[len(gaps) // 2])
    # A lip point closes by the gap at its place along the lip, corner to corner of its own contour
    # (inner, outer, or between by its depth), not by the gap straight above it: where the outer
    # corners lie beyond the inner ones (a laugh, a turned face's near side) the lip's end would
    # otherwise stay where it was, hanging below the closed mouth.
    place = (1 - f) * _along(uv[:, 0], uv[78, 0], uv[308, 0]) + f * _along(uv[:, 0], uv[61, 0], uv[291, 0])
    lip_gap = _contour_interp(np.clip(place, 0, 1), _along(cu, uv[78, 0], uv[308, 0]), gaps)
    out = uv.copy()
    out[:, 1] += np.where(upper, UPPER_SHARE * lip_gap, 0)
    out[:, 1] -= np.where(lower, (1 - UPPER_SHARE) * lip_gap, 0)
    # The skin and chin under the lower lip rise with the jaw, but just under the lip only as far as
    # the lip above them rises: near the corners the lip rises little, and skin that rose with the
    # chin would pass it (folded triangles: torn corners on a wide-open photo).
    below_lip = uv[:, 1] - _contour_interp(uv[:, 0], uv[LOWER_OUTER, 0], uv[LOWER_OUTER, 1])
    chin = _ramp(below_lip, 0.0, max(CLOSE_BLEND, CLOSE_BLEND_GAPS * centre_gap))
    others = ~(upper | lower)
    rise = (1 - chin) * np.minimum(gap_at, centre_gap * below_w) + chin * centre_gap * below_w
    out[:, 1] -= np.where(others, (1 - UPPER_SHARE) * rise, 0)
    # the inner contours now coincide; make them exactly equal so the closed mouth has no sliver
    meet = (out[UPPER_INNER] + out[LOWER_INNER]) / 2
    out[UPPER_INNER] = meet
    out[LOWER_INNER] = meet
    return out, centre_gap


def _along(u: np.ndarray, left: float, right: float) -> np.ndarray:
    """Where `u` lies between a contour's two corners: 0 at the image-left one, 1 at the other."""
    return (u - left) / max(right - left, 1e-6)


def _side(u: np.ndarray, left: float, right: float) -> np.ndarray:
    """Each point's half of the mouth's width: from the lips' middle to the corner on its own side,
    `left` (image-left, negative) or `right`."""
    return np.where(u < 0, max(-left, 1e-3), max(right, 1e-3))


def _jaw_weights(uv: np.ndarray, half_width: np.ndarray) -> np.ndarray:
    """How much a non-lip landmark follows the jaw: the chin fully, cheeks beside the mouth partly."""
    u, v = np.abs(uv[:, 0]), uv[:, 1]
    side = _ramp(u, 0.75 * half_width, 1.35 * half_width)
    above = _ramp(v, STILL_ABOVE, 0.1) * side
    under_lip = np.where(u <= half_width, 0.5 + 0.5 * np.sqrt(np.clip(1 - (u / half_width) ** 2, 0, 1)), 0.5 + 0.35 * side)
    below = under_lip + (1 - under_lip) * _ramp(v, 0.0, 0.45)
    w = np.where(v < 0, above, below)
    return w * (1 - 0.5 * _ramp(u, 0.6, 1.1))


def build_rig(points: np.ndarray) -> MouthRig:
    """The lower-face rig of one source frame (478 landmarks in pixels)."""
    points = np.asarray(points, np.float64)
    mouth = (points[13] + points[14]) / 2
    frame = FaceFrame.of(points, mouth)
    uv = frame.to_face(points)
    upper, lower, f = _lip_classes(uv)
    half_width = float(abs(uv[291, 0] - uv[61, 0])) / 2
    jaw_src = _jaw_weights(uv, _side(uv[:, 0], uv[61, 0], uv[291, 0]))
    neutral_all, source_gap = _close_lips(uv, upper, lower, f, jaw_src)
    # re-centre on the closed mouth so weights are measured from where the lips meet
    shift = neutral_all[13].copy()
    frame = FaceFrame(frame.origin + frame.vector_to_pixels(shift), frame.ex, frame.ey, frame.unit)
    neutral_all -= shift
    uv_src = uv - shift
    index = np.nonzero((neutral_all[:N_MESH, 1] > MESH_TOP))[0]
    nu = neutral_all[index]
    lip = upper[index] | lower[index]
    # a lip point's place along its lip, 0 in the middle to 1 at the corner of its own contour on its
    # own side (a turned face's far side is the shorter: measured against half the whole mouth,
    # its corner stayed short of 1, and the lips there tore apart as the jaw opened)
    inner_half = _side(nu[:, 0], neutral_all[78, 0], neutral_all[308, 0])
    side_half = _side(nu[:, 0], neutral_all[61, 0], neutral_all[291, 0])
    ring_half = inner_half + (side_half - inner_half) * f[index]
    t = np.where(lip, np.clip(np.abs(nu[:, 0]) / ring_half, 0, 1), np.clip(np.abs(nu[:, 0]) / side_half, 0, 1))
    corners = neutral_all[[61, 291]]
    dist = np.min(np.linalg.norm(nu[:, None, :] - corners[None], axis=-1), axis=1)
    cheek = np.exp(-((dist / 0.3) ** 2))
    cheek[nu[:, 1] < STILL_ABOVE] = 0
    # non-lip points close outside the lips' outer contours: they follow the lips' own thickening
    lout = _contour_interp(nu[:, 0], neutral_all[LOWER_OUTER, 0], neutral_all[LOWER_OUTER, 1])
    uout = _contour_interp(nu[:, 0], neutral_all[UPPER_OUTER, 0], neutral_all[UPPER_OUTER, 1])
    beside = 1 - _ramp(np.abs(nu[:, 0]), 0.9 * side_half, 1.3 * side_half)
    below = np.where(~lip & (nu[:, 1] > lout), np.exp(-(((nu[:, 1] - lout) / SKIN_FOLLOW) ** 2)), 0) * beside
    above = np.where(~lip & (nu[:, 1] < uout), np.exp(-(((uout - nu[:, 1]) / SKIN_FOLLOW) ** 2)), 0) * beside
    w = {
        "below": below,
        "above": above,
        # sideways motions point out from the middle, and on a turned face the far side's are
        # foreshortened as its half of the mouth is
        "sideways": np.sign(nu[:, 0]) * side_half / half_width,
        "t": t,
        "r": np.sqrt(np.clip(1 - t * t, 0, 1)),
        "f": f[index],
        "upper": upper[index],
        "lower": lower[index],
        "lip": lip,
        "cheek": np.where(lip, 0, cheek),
        "jaw": np.where(lip, 0, _jaw_weights(nu, side_half)),
        "v": nu[:, 1],
    }
    ring = _ring(uv_src[index], frame)
    source = np.concatenate([frame.to_pixels(uv_src[index]), ring])
    return MouthRig(frame, index, source, nu, half_width, w, source_gap)


def _ring(uv: np.ndarray, frame: FaceFrame) -> np.ndarray:
    """Fixed points around the moving landmarks, below MESH_TOP. Not clipped to the image: on a face
    the frame's edge cuts, landmarks lie beyond it too, and a ring clipped inside them made the mesh
    fold (the cheek tore as the mouth moved); the warp reads only the image's own pixels."""
    hull = cv2.convexHull(uv.astype(np.float32)).reshape(-1, 2).astype(np.float64)
    centre = hull.mean(0)
    closed = np.concatenate([hull, hull[:1]])
    seg = np.linalg.norm(np.diff(closed, axis=0), axis=1)
    pos = np.concatenate([[0], np.cumsum(seg)])
    samples = np.linspace(0, pos[-1], RING_POINTS, endpoint=False)
    pts = np.stack([np.interp(samples, pos, closed[:, 0]), np.interp(samples, pos, closed[:, 1])], -1)
    out = pts - centre
    out /= np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-6)
    # more room below the chin: the jaw travels furthest there, and the neck takes up the motion
    out = pts + (RING_MARGIN + RING_BELOW * np.clip(out[:, 1:], 0, 1)) * out
    out[:, 1] = np.maximum(out[:, 1], MESH_TOP - 0.05)
    return frame.to_pixels(out)
