"""The cpu engine: landmark-driven warping of the lower face, eyes and head, with an inner mouth."""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass, replace

import numpy as np

from livehuman.avatar.avatar import Avatar
from livehuman.errors import LivehumanError
from livehuman.motion.controls import FaceControls
from livehuman.render.cpu.deform import MouthRig, build_rig
from livehuman.render.cpu.face import LOWER_INNER, UPPER_INNER
from livehuman.render.cpu.footage import FootageMouths
from livehuman.render.cpu.mouth import MouthColours, MouthPose, clean_lips, draw_lip_line, draw_mouth, drawn_jaw
from livehuman.render.cpu.occluders import Occluder, find_occluder
from livehuman.render.cpu.rest import RestPose, rest_pose
from livehuman.render.cpu.rigs_beside import RigsBeside
from livehuman.render.cpu.upper_face import (
    UpperFaceRigs,
    build_upper_face,
    move_upper_face,
)
from livehuman.render.cpu.warp import Crop, PiecewiseWarp, Scratch, triangulate
from livehuman.render.engine import FrameDrive

EXTRA_KEY = "cpu"
BBOX_SHIFT_GAIN = 0.03  # jaw gain per pixel of bbox_shift: + opens wider, - less, as in MuseTalk
REST_PHOTO_BELOW_PX = 40  # inter-ocular distance under which an open mouth is closed into a rest photo


@dataclass
class _FrameRigs:
    """What rendering one source frame needs, built on first use."""

    mouth: MouthRig
    mouth_warp: PiecewiseWarp
    upper_rows: np.ndarray
    lower_rows: np.ndarray
    rest_line: np.ndarray  # (11, 2) pixels: the closed mouth's lip line, where the upper teeth hang
    cleaned: tuple | None  # an open source mouth's lips without its teeth: (rows, cols), crop
    occluder: Occluder | None  # an object in front of the face near the mouth, kept still
    upper: UpperFaceRigs  # eyes and head
    rest: RestPose | None  # the frame with its mouth closed, when the source's is open


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
        self.scratch = Scratch()  # each drawing thread's reusable per-frame arrays
        self.beside: RigsBeside | None = None  # a render's rigs being built in a child (rigs_ahead)

    def rigs_for(self, avatar: Avatar, i: int) -> _FrameRigs:
        rigs = self.rigs.get(i)
        if rigs is None:
            rigs = self.beside.take(i) if self.beside is not None else None
            if rigs is None:
                rigs = _build(avatar, i, self.colours)
            self.rigs[i] = rigs
        return rigs


def _build(avatar: Avatar, i: int, colours: MouthColours) -> _FrameRigs:
    points = avatar.landmarks[i].astype(np.float64)
    size = avatar.size
    source = avatar.frames[i]
    # A small open source mouth is closed once into a rest photo, and the mouth is driven from that:
    # at this size the lips are a few pixels thick, too few to clean of the teeth between them.
    rig = build_rig(points)
    rest = rest_pose(source, points) if rig.frame.unit < REST_PHOTO_BELOW_PX else None
    if rest is not None:
        source, points = rest.frame(source), rest.points.astype(np.float64)
        rig = build_rig(points)
    # triangulate the mouth mesh wide open and spread, so every lip triangle keeps its orientation
    open_ref = rig.target_pixels(FaceControls(jaw=1.0, spread=0.5))
    tri = triangulate(open_ref.astype(np.float64))
    all_targets = np.concatenate([rig.source, open_ref, rig.target_pixels(FaceControls(round=1.0, jaw=0.6))])
    mouth_warp = PiecewiseWarp(tri, rig.source, Crop.around(all_targets, size, pad=3))
    upper_rows = rig.position_of(UPPER_INNER)
    rest_line = rig.frame.to_pixels(rig.neutral[upper_rows])
    cleaned = clean_lips(source, points, rig.frame.unit, colours)
    if cleaned is not None:
        source = source.copy()
        source[cleaned[0]] = cleaned[1]
    occluder = find_occluder(source, points, rig.frame, mouth_warp.crop)
    return _FrameRigs(rig, mouth_warp, upper_rows, rig.position_of(LOWER_INNER), rest_line, cleaned, occluder,
                      build_upper_face(avatar.landmarks[i].astype(np.float64), size), rest)



class CpuEngine:
    """Lip-sync by warping the avatar's own face; many times faster than realtime on one core."""

    name = "cpu"
    audio_context = (0.0, 0.0)

    def __init__(self, head_motion: bool = True, own_mouth: bool = True):
        self.head_motion = head_motion
        self.own_mouth = own_mouth  # reuse the mouth interior the avatar's own frames show, if any

    def load(self, avatar: Avatar) -> None:
        """Prepare per-avatar data (colours, footage mouths) and the first frame's rigs; the other
        frames' rigs are built on first use. The first rigs a process builds cost ~150 ms more
        (OpenCV fills its Lab colour tables): paid here, at a server's start or a render worker's,
        not by the first visitor's first frame."""
        if EXTRA_KEY not in avatar.extra:
            state = avatar.extra[EXTRA_KEY] = _AvatarState(avatar, self.own_mouth)
            state.rigs_for(avatar, 0)

    def build_next_rigs(self, avatar: Avatar) -> bool:
        """Build the rigs of the first source frame without them; False once every frame has them. A
        render worker calls it while it waits for a frame to draw, so that a live session's first loop
        through a video avatar's footage draws each frame without building its rigs first."""
        self.load(avatar)
        state = avatar.extra[EXTRA_KEY]
        for i in range(avatar.n_frames):
            if i not in state.rigs:
                state.rigs_for(avatar, i)
                return True
        return False

    @contextmanager
    def rigs_ahead(self, avatar: Avatar, frames: int):
        """For a render of output frames 0 to `frames` - 1, in order, by one thread: inside this block
        the rigs of the source frames it will use first are built beside it, in a child process
        (RigsBeside; a photo has one, built by `load`)."""
        self.load(avatar)
        state = avatar.extra[EXTRA_KEY]
        first_uses = dict.fromkeys(avatar.source_index(k) for k in range(frames))
        order = [i for i in first_uses if i not in state.rigs]
        with RigsBeside(order, lambda i: _build(avatar, i, state.colours)) as beside:
            state.beside = beside
            try:
                yield
            finally:
                state.beside = None

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
        if state.footage is None:  # no teeth of the person's own: the inner mouth is drawn
            c = replace(c, jaw=drawn_jaw(c.jaw))
        image = avatar.frames[i].copy()
        if rigs.rest is not None:  # an open source mouth, closed into its rest photo
            image[rigs.rest.crop.slices] = rigs.rest.patch
        if rigs.cleaned is not None:  # an open source mouth: warp its lips without the teeth between
            image[rigs.cleaned[0]] = rigs.cleaned[1]
        if rigs.occluder is not None:  # the skin behind an object near the mouth is what moves
            rigs.occluder.remove(image)
        target = rigs.mouth.target_pixels(c)
        rigs.mouth_warp.apply(image, target, state.scratch)
        upper, lower = target[rigs.upper_rows].astype(np.float64), target[rigs.lower_rows].astype(np.float64)
        frame = rigs.mouth.frame
        # the lower teeth ride on the jaw alone, not on what the lips do around them
        jaw = frame.to_pixels(rigs.mouth.target_uv(FaceControls(jaw=c.jaw, press=c.press))[rigs.lower_rows])
        pose = MouthPose(upper, lower, rigs.rest_line, jaw)
        interior = state.footage.painter(upper, lower) if state.footage is not None else None
        draw_mouth(image, pose, frame, state.colours, c, interior)
        if rigs.cleaned is not None:  # the cleaned lips lost the line where they meet: draw it back
            draw_lip_line(image, upper, lower, frame, state.colours)
        if rigs.occluder is not None:
            rigs.occluder.restore(image)
        move_upper_face(image, avatar.frames[i], rigs.upper, c, self.head_motion, state.scratch)
        return image
