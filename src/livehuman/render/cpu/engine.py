"""The cpu engine: landmark-driven warping of the lower face, eyes and head, with an inner mouth."""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import lru_cache

import cv2
import numpy as np

from livehuman.avatar.avatar import Avatar
from livehuman.errors import LivehumanError
from livehuman.motion.controls import FaceControls
from livehuman.render.cpu.deform import MouthRig, build_rig
from livehuman.render.cpu.eyes import EyeRig, build_eye_rig, closed_eyes
from livehuman.render.cpu.face import LOWER_INNER, UPPER_INNER
from livehuman.render.cpu.footage import FootageMouths
from livehuman.render.cpu.mouth import MouthColours, draw_mouth
from livehuman.render.cpu.warp import Crop, PiecewiseWarp, triangulate
from livehuman.render.engine import FrameDrive

EXTRA_KEY = "cpu"
HEAD_PAD = 0.9  # the head region reaches this far (face units) beyond the landmarks
HEAD_FEATHER = 0.45  # width of the head mask's soft edge, face units
EYE_EPS = 1e-3
BLINK_CLEAN_FROM = 0.55  # blink value where the cleaned, shut lids start to show
BBOX_SHIFT_GAIN = 0.03  # jaw gain per pixel of bbox_shift: + opens wider, - less, as in MuseTalk


@dataclass
class _FrameRigs:
    """What rendering one source frame needs, built on first use."""

    mouth: MouthRig
    mouth_warp: PiecewiseWarp
    upper_rows: np.ndarray
    lower_rows: np.ndarray
    eyes: EyeRig
    eye_warp: PiecewiseWarp
    head: tuple[Crop, np.ndarray, np.ndarray]  # crop, quarter-size feather mask float32, pivot (x, y)
    shut: tuple[np.ndarray, np.ndarray] | None = None  # the eye crop shut and cleaned, its mask (uint8)


class _AvatarState:
    """The engine's prepared data for one avatar."""

    def __init__(self, avatar: Avatar, own_mouth: bool = True):
        if avatar.n_frames == 0:
            raise LivehumanError(f"avatar {avatar.name!r} has no frames; prepare it again from its source")
        if avatar.landmarks.shape[1:] != (478, 2):
            raise LivehumanError(f"avatar {avatar.name!r} lacks 478-point landmarks; prepare it again with --force")
        first = avatar.landmarks[0]
        from livehuman.avatar.landmarks import inter_ocular

        self.colours = MouthColours.sample(avatar.frames[0], first, inter_ocular(first))
        self.rigs: dict[int, _FrameRigs] = {}
        # a video's open-mouth frames (or a photo's open mouth) lend the person's own teeth
        self.footage = FootageMouths.collect(avatar) if own_mouth else None

    def rigs_for(self, avatar: Avatar, i: int) -> _FrameRigs:
        rigs = self.rigs.get(i)
        if rigs is None:
            rigs = self.rigs[i] = _build(avatar, i)
        return rigs


def _build(avatar: Avatar, i: int) -> _FrameRigs:
    points = avatar.landmarks[i].astype(np.float64)
    size = avatar.size
    rig = build_rig(points, size)
    # triangulate the mouth mesh wide open and spread, so every lip triangle keeps its orientation
    open_ref = rig.target_pixels(FaceControls(jaw=1.0, spread=0.5))
    tri = triangulate(open_ref.astype(np.float64))
    all_targets = np.concatenate([rig.source, open_ref, rig.target_pixels(FaceControls(round=1.0, jaw=0.6))])
    mouth_warp = PiecewiseWarp(tri, rig.source, Crop.around(all_targets, size, pad=3))
    eyes = build_eye_rig(points, size)
    eye_tri = triangulate(eyes.reference.astype(np.float64))
    eye_warp = PiecewiseWarp(eye_tri, eyes.source, Crop.around(eyes.source, size, pad=2))
    return _FrameRigs(
        rig, mouth_warp, rig.position_of(UPPER_INNER), rig.position_of(LOWER_INNER), eyes, eye_warp, _head(points, size)
    )


def _head(points: np.ndarray, size: tuple[int, int]) -> tuple[Crop, np.ndarray, np.ndarray]:
    from livehuman.avatar.landmarks import inter_ocular

    unit = inter_ocular(points)
    lo, hi = points.min(0), points.max(0)
    pad = HEAD_PAD * unit
    crop = Crop.around(np.array([lo - pad, hi + pad]), size)
    h, w = crop.shape
    mask = np.zeros((h, w), np.float32)
    centre = (lo + hi) / 2 - (crop.x0, crop.y0)
    axes = (hi - lo) / 2 + 0.35 * unit
    cv2.ellipse(mask, (int(centre[0]), int(centre[1])), (int(axes[0]), int(axes[1])), 0, 0, 360, 1.0, -1)
    # the chin carries less of the motion than the brow, and the neck none
    ys = np.arange(h, dtype=np.float32)[:, None] + crop.y0
    chin, brow = float(points[152, 1]), float(points[10, 1])
    mask *= np.clip(0.35 + 0.65 * (chin - ys) / max(chin - brow, 1.0), 0.0, 1.0)
    # kept at quarter size, with a wide blur: the feather and the motion field are smooth anyway
    small = cv2.resize(mask, (max(w // 4, 2), max(h // 4, 2)), interpolation=cv2.INTER_AREA)
    small = cv2.GaussianBlur(small, (0, 0), HEAD_FEATHER * unit / 8)
    pivot = points[152] + (0, 0.6 * unit)  # the neck, below the chin: the head turns about it
    return crop, small, pivot


class CpuEngine:
    """Lip-sync by warping the avatar's own face; many times faster than realtime on one core."""

    name = "cpu"
    audio_context = (0.0, 0.0)

    def __init__(self, head_motion: bool = True, own_mouth: bool = True):
        self.head_motion = head_motion
        self.own_mouth = own_mouth  # reuse the mouth interior the avatar's own frames show, if any

    def load(self, avatar: Avatar) -> None:
        """Prepare per-avatar data (colours, footage mouths); per-frame rigs are built on first use."""
        if EXTRA_KEY not in avatar.extra:
            avatar.extra[EXTRA_KEY] = _AvatarState(avatar, self.own_mouth)

    def render(self, avatar: Avatar, index: int, drive: FrameDrive) -> np.ndarray:
        """Output frame `index`: the avatar's frame with its face moved by the drive's controls."""
        self.load(avatar)
        state = avatar.extra[EXTRA_KEY]
        i = avatar.source_index(index)
        rigs = state.rigs_for(avatar, i)
        c = drive.controls
        if avatar.bbox_shift:
            gain = float(np.clip(1 + BBOX_SHIFT_GAIN * avatar.bbox_shift, 0.5, 1.5))
            c = replace(c, jaw=c.jaw * gain)
        image = avatar.frames[i].copy()
        target = rigs.mouth.target_pixels(c)
        rigs.mouth_warp.apply(image, target)
        upper, lower = target[rigs.upper_rows].astype(np.float64), target[rigs.lower_rows].astype(np.float64)
        frame = rigs.mouth.frame
        interior = state.footage.painter(upper, lower) if state.footage is not None else None
        draw_mouth(image, upper, lower, frame.unit, frame.ey, state.colours, _teeth(c), c.tongue, interior, c.tuck)
        if max(abs(c.blink), abs(c.squint), abs(c.brow), abs(c.gaze_x), abs(c.gaze_y)) > EYE_EPS:
            rigs.eye_warp.apply(image, rigs.eyes.target_pixels(c))
            _shut_lids(image, avatar.frames[i], rigs, c.blink)
        if self.head_motion and max(abs(c.yaw), abs(c.pitch), abs(c.roll)) > 0.01:
            _move_head(image, rigs.head, c, frame.unit)
        return image


def _shut_lids(image: np.ndarray, source: np.ndarray, rigs: _FrameRigs, blink: float) -> None:
    """Fade in the cleaned, shut lids as the eyes close (the warp alone leaves iris and white between them)."""
    shut = float(np.clip((blink - BLINK_CLEAN_FROM) / (1 - BLINK_CLEAN_FROM), 0, 1))
    if shut <= 0:
        return
    if rigs.shut is None:  # built on this frame's first blink
        patch, mask = closed_eyes(source, rigs.eyes, rigs.eye_warp)
        rigs.shut = (patch, np.round(mask * 255).astype(np.uint8))
    patch, mask = rigs.shut
    region = image[rigs.eye_warp.crop.slices]
    a = mask * np.float32(shut / 255)
    region[:] = (region * (1 - a) + patch * a + 0.5).astype(np.uint8)


def _teeth(c: FaceControls) -> float:
    """Teeth show when asked, and at the top of an F/V tuck."""
    return float(np.clip(max(c.teeth, c.tuck), 0, 1))


def _move_head(image: np.ndarray, head, c: FaceControls, unit: float) -> None:
    """A small similarity motion of the head about the neck, faded out by a wide feathered mask.

    The motion is applied as a smooth displacement field (not a cross-fade), so edges never ghost;
    the field is computed at a quarter of the size and scaled up, being smooth anyway.
    """
    crop, small_mask, pivot = head
    region = image[crop.slices]
    h, w = region.shape[:2]
    sh, sw = small_mask.shape
    # yaw and pitch of a few degrees read, in a single photo, as a shift of the face over the neck
    dx = np.radians(c.yaw) * 1.6 * unit
    dy = -np.radians(c.pitch) * 1.6 * unit
    a = np.radians(c.roll)
    cos, sin = np.cos(a) - 1, np.sin(a)
    p = pivot - (crop.x0, crop.y0)
    xs = (np.arange(sw, dtype=np.float32) * (w / sw))[None, :] - np.float32(p[0])
    ys = (np.arange(sh, dtype=np.float32) * (h / sh))[:, None] - np.float32(p[1])
    # backward map: each output pixel looks back along the (masked) motion
    shift_x = small_mask * (cos * xs - sin * ys + np.float32(dx))
    shift_y = small_mask * (sin * xs + cos * ys + np.float32(dy))
    grid_x, grid_y = _grid(w, h)
    map_x = grid_x - cv2.resize(shift_x, (w, h), interpolation=cv2.INTER_LINEAR)
    map_y = grid_y - cv2.resize(shift_y, (w, h), interpolation=cv2.INTER_LINEAR)
    region[:] = cv2.remap(region, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)


@lru_cache(maxsize=4)
def _grid(w: int, h: int) -> tuple[np.ndarray, np.ndarray]:
    """Pixel coordinate grids (h, w) float32, read-only (shared between calls)."""
    grids = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    for g in grids:
        g.flags.writeable = False
    return grids[0], grids[1]
