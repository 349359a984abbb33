"""The mouth-appearance measurements and the harder faces, on a real photo (Grace Hopper)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from helpers_avatar import read
from livehuman.avatar.default import grace_hopper_path
from livehuman.avatar.landmarks import FaceMeshDetector, inter_ocular
from livehuman.render.cpu.appearance import (
    darker_skin,
    inner_mouth_mask,
    lower_lip_thickness,
    strip,
    stray_dark_pixels,
    with_pen,
)
from livehuman.render.cpu.face import LUMA_BGR


@pytest.fixture(scope="module")
def grace():
    image = read(grace_hopper_path())
    with FaceMeshDetector() as detector:
        return image, detector.detect(image).points


def test_lower_lip_thickness_is_in_inter_ocular_units(grace):
    _, points = grace
    thickness = lower_lip_thickness(points)
    assert 0.08 < thickness < 0.3
    doubled = points * 2.0  # the same face twice as large: the same thickness
    assert lower_lip_thickness(doubled) == pytest.approx(thickness, rel=1e-5)
    thicker = points.copy()
    thicker[17] += (points[17] - points[14]) * 0.5
    assert lower_lip_thickness(thicker) == pytest.approx(1.5 * thickness, rel=1e-3)


def test_stray_dark_pixels_count_only_new_dark_pixels_around_the_lips(grace):
    image, points = grace
    unit = inter_ocular(points)
    assert not stray_dark_pixels(image, image, points).any()
    spoiled = image.copy()
    beside = np.round(points[291] + (0.15 * unit, 0)).astype(int)
    cv2.circle(spoiled, tuple(beside), 3, (5, 5, 5), -1)
    inside = np.round((points[13] + points[14]) / 2).astype(int)
    cv2.circle(spoiled, tuple(inside), 2, (5, 5, 5), -1)  # in the mouth: allowed
    far = np.round(points[152] + (0, 0.6 * unit)).astype(int)
    cv2.circle(spoiled, tuple(far), 3, (5, 5, 5), -1)  # far below the chin: not the mouth's doing
    found = stray_dark_pixels(spoiled, image, points)
    ys, xs = np.nonzero(found)
    assert len(ys) >= 20
    assert np.all(np.hypot(xs - beside[0], ys - beside[1]) <= 4)
    # dark in the source already (a moved shadow): not counted
    assert not stray_dark_pixels(spoiled, spoiled, points).any()


def test_inner_mouth_mask_lies_between_the_inner_lips(grace):
    image, points = grace
    open_points = points.copy()
    open_points[[14, 87, 178, 88, 95, 317, 402, 318, 324]] += (0, 20)
    mask = inner_mouth_mask(image.shape, open_points)
    assert mask[int(points[13, 1]) + 8, int(points[13, 0])] == 1
    assert mask[int(points[13, 1]) - 8, int(points[13, 0])] == 0


def test_harder_faces(grace):
    image, points = grace
    dark = darker_skin(image)
    cheek = (slice(int(points[50, 1]) - 5, int(points[50, 1]) + 5), slice(int(points[50, 0]) - 5, int(points[50, 0]) + 5))
    assert (dark[cheek] @ LUMA_BGR).mean() < 0.65 * (image[cheek] @ LUMA_BGR).mean()
    pen = with_pen(image, points)
    changed = np.abs(pen.astype(int) - image).max(2) > 30
    unit = inter_ocular(points)
    ys, xs = np.nonzero(changed)
    assert changed.sum() > 0.05 * unit * unit
    # it starts just beside the image-right mouth corner and leads away from it
    near = np.hypot(xs - points[291, 0], ys - points[291, 1]).min()
    assert near < 0.2 * unit


def test_strip_has_one_tile_per_frame(grace):
    image, points = grace
    out = strip(image, [image, image], points, tile_width=120)
    assert out.shape[1] == 3 * 120 and out.shape[2] == 3
    assert np.array_equal(out[:, :120], out[:, 120:240])
