"""Objects in front of the face near the mouth stay still while the mouth moves (a dark pen on real photos)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from helpers_avatar import astronaut_path, read
from livehuman.avatar.avatar import Avatar
from livehuman.avatar.default import grace_hopper_path
from livehuman.avatar.landmarks import FaceMeshDetector, inter_ocular
from livehuman.motion.controls import FaceControls
from livehuman.render.cpu.appearance import darker_skin, with_pen
from livehuman.render.cpu.deform import build_rig
from livehuman.render.cpu.engine import CpuEngine
from livehuman.render.cpu.occluders import find_occluder
from livehuman.render.cpu.warp import Crop
from livehuman.render.engine import FrameDrive


@pytest.fixture(scope="module")
def photos():
    with FaceMeshDetector() as detector:
        out = {}
        for name, image in (("grace", read(grace_hopper_path())), ("astronaut", read(astronaut_path()))):
            points = detector.detect(image).points
            out[name] = (image, points)
            pen = with_pen(image, points)
            out[name + "_pen"] = (pen, detector.detect(pen).points)
            dark = darker_skin(image)
            out[name + "_dark"] = (dark, detector.detect(dark).points)
            out[name + "_black_pen"] = (with_pen(image, points, colour=(10, 10, 10), stripe=(60, 60, 60)), points)
            for skin in (name, name + "_dark"):
                out[skin + "_crease"] = (with_crease(*out[skin]), out[skin][1])
    return out


def with_crease(image: np.ndarray, points: np.ndarray) -> np.ndarray:
    """A deep fold beside the image-left mouth corner, as an older face has: the skin there in
    shadow, keeping more of its red than of its green and blue (as two real faces' folds did: a
    third to a fifteenth of their skin's blue, about a third of its red)."""
    unit = inter_ocular(points)
    corner = points[61].astype(np.float64)
    fold = np.array([corner + np.array([-dx, 3 * dx * dx]) * unit for dx in np.linspace(0.03, 0.22, 12)])
    mask = np.zeros(image.shape[:2], np.float32)
    cv2.polylines(mask, [np.round(fold).astype(np.int32)], False, 1.0, max(int(0.08 * unit), 4), cv2.LINE_AA)
    alpha = cv2.GaussianBlur(mask, (0, 0), 0.6)[..., None]
    shadow = image * np.array([0.12, 0.18, 0.3], np.float32)
    return np.clip(image * (1 - alpha) + shadow * alpha + 0.5, 0, 255).astype(np.uint8)


def occluder_of(image, points):
    rig = build_rig(points.astype(np.float64))
    return find_occluder(image, points.astype(np.float64), rig.frame, Crop.around(rig.source, (image.shape[1], image.shape[0])))


@pytest.mark.parametrize("name", ["grace", "astronaut", "grace_dark", "astronaut_dark"])
def test_a_plain_face_has_no_object(photos, name):
    assert occluder_of(*photos[name]) is None


@pytest.mark.parametrize("name", ["grace", "astronaut", "grace_dark", "astronaut_dark"])
def test_a_deep_crease_beside_the_mouth_is_skin_not_an_object(photos, name):
    """An older face's fold at a mouth corner is as dark as a pen, but it is the skin's own shadow
    (its hue, and its colour not gone grey): taken for an object, it was kept still while the corner
    moved away from it, a dark wedge with a hard edge beside the open mouth."""
    image, points = photos[name + "_crease"]
    assert np.abs(image.astype(int) - photos[name][0]).max(2).astype(bool).sum() > 0.004 * inter_ocular(points) ** 2
    assert occluder_of(image, points) is None


@pytest.mark.parametrize("pen", ["pen", "black_pen"])
@pytest.mark.parametrize("name", ["grace", "astronaut"])
def test_the_pen_is_found_whole(photos, name, pen):
    """A dark blue pen, and a black one (no hue: it cannot be the skin's shadow)."""
    image, points = photos[f"{name}_{pen}"]
    plain = photos[name][0]
    occluder = occluder_of(image, points)
    assert occluder is not None
    pen = np.abs(image.astype(int) - plain).max(2) > 30  # where the pen was drawn
    found = np.zeros(pen.shape, bool)
    found[occluder.rows, occluder.cols] = occluder.alpha[..., 0] > 0.5
    crop = np.zeros(pen.shape, bool)
    crop[occluder.rows, occluder.cols] = True
    assert (found & pen).sum() > 0.8 * (pen & crop).sum()  # most of the pen inside the warp's reach
    assert (found & ~pen).sum() < 0.25 * found.sum()  # and little else


def test_a_red_pen_of_the_skins_hue_is_no_shadow(photos):
    """A dark red pen on the astronaut's pale skin has her skin's hue, but more colour than her lit
    skin has: no shadow of it is that colourful."""
    image, points = photos["astronaut"]
    pen = with_pen(image, points, colour=(10, 20, 120), stripe=(70, 80, 180))
    drawn = np.abs(pen.astype(int) - image).max(2) > 30
    occluder = occluder_of(pen, points)
    assert occluder is not None
    found = np.zeros(drawn.shape, bool)
    found[occluder.rows, occluder.cols] = occluder.alpha[..., 0] > 0.5
    assert (found & drawn).sum() > 0.5 * drawn[occluder.rows, occluder.cols].sum()


@pytest.mark.parametrize("name", ["grace", "astronaut"])
def test_the_pen_stays_still_while_the_mouth_opens(photos, name, tmp_path):
    image, points = photos[name + "_pen"]
    plain = photos[name][0]
    pen = np.abs(image.astype(int) - plain).max(2) > 30
    box = points.min(0), points.max(0)
    avatar = Avatar(name=name, directory=Path(tmp_path), fps=25, kind="photo", frames=image[None],
                    landmarks=points[None], boxes=np.concatenate(box)[None].astype(np.float32))
    engine = CpuEngine(head_motion=False)
    for controls in (FaceControls(jaw=1.0, spread=0.3, teeth=0.5), FaceControls(jaw=0.3, round=1.0)):
        frame = engine.render(avatar, 0, FrameDrive(controls))
        moved = np.abs(frame.astype(int) - image).max(2)
        assert np.median(moved[pen]) < 8, controls
        assert (moved[pen] > 40).mean() < 0.1, controls
