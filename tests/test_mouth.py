"""The cpu engine's inner mouth and lips, judged on rendered frames re-detected with the face mesh.

Real faces: Grace Hopper (closed mouth), the astronaut (open smile at rest), a darker-skinned Grace
and a small astronaut made from them.
"""

from __future__ import annotations

from dataclasses import replace

import cv2
import numpy as np
import pytest

from helpers_avatar import astronaut_path, read
from livehuman.avatar.avatar import Avatar
from livehuman.avatar.default import grace_hopper_path
from livehuman.avatar.landmarks import FaceMeshDetector, inter_ocular
from livehuman.motion.controls import FaceControls
from livehuman.render.cpu.appearance import (
    VISEMES,
    bright_lower_inner,
    darker_skin,
    expression_measures,
    inner_mouth_mask,
    with_pen,
    lower_lip_thickness,
    strip,
    stray_dark_pixels,
)
from livehuman.motion.synthetic import speech_like_controls
from livehuman.bench.faces import LAUGH_CROP, lipstick
from livehuman.render.cpu.engine import CpuEngine
from livehuman.render.cpu.face import LUMA_BGR, UPPER_INNER, UPPER_OUTER, lip_mask
from livehuman.render.cpu.mouth import MouthColours, clean_lips
from livehuman.render.engine import FrameDrive

OPEN = ("ah", "ee")


@pytest.fixture(scope="module")
def detector():
    with FaceMeshDetector() as det:
        yield det


@pytest.fixture(scope="module")
def faces(detector, tmp_path_factory):
    grace, astronaut = read(grace_hopper_path()), read(astronaut_path())
    images = {
        "grace": grace,
        "astronaut": astronaut,
        "grace_dark": darker_skin(grace),
        "astronaut_small": cv2.resize(astronaut, None, fx=0.45, fy=0.45, interpolation=cv2.INTER_AREA),
        "grace_pen": with_pen(grace, detector.detect(grace).points),
        "astronaut_pen": with_pen(astronaut, detector.detect(astronaut).points),
    }
    out = {}
    for name, image in images.items():
        face = detector.detect(image)
        assert face is not None, name
        out[name] = Avatar(
            name=name, directory=tmp_path_factory.mktemp(name), fps=25, kind="photo",
            frames=image[None], landmarks=face.points[None], boxes=face.box[None],
        )
    return out


def render(avatar: Avatar, controls: FaceControls, own_mouth: bool = True) -> np.ndarray:
    engine = CpuEngine(head_motion=False, own_mouth=own_mouth)
    return engine.render(avatar, 0, FrameDrive(controls))


@pytest.fixture(scope="module")
def rendered(faces, detector, test_output):
    """Each face under each viseme: the frame and its re-detected landmarks; strips for people to see."""
    out = {}
    for name, avatar in faces.items():
        engine = CpuEngine(head_motion=False)
        frames = []
        for label, controls in VISEMES.items():
            frame = engine.render(avatar, 0, FrameDrive(controls))
            face = detector.detect(frame)
            assert face is not None, f"{name} {label}: the face mesh lost the rendered face"
            out[name, label] = (frame, face.points)
            frames.append(frame)
        cv2.imwrite(str(test_output / f"mouth_{name}.png"), strip(avatar.frames[0], frames, avatar.landmarks[0]))
    return out


@pytest.mark.parametrize("name", ["grace", "astronaut", "grace_dark", "astronaut_small"])
def test_lower_lip_keeps_its_thickness_when_the_jaw_opens(rendered, name):
    rest = lower_lip_thickness(rendered[name, "rest"][1])
    for label in OPEN:
        ratio = lower_lip_thickness(rendered[name, label][1]) / rest
        assert ratio >= 0.8, f"{name} {label}: lower lip {ratio:.2f} of its rest thickness"


@pytest.mark.parametrize("name", ["grace", "astronaut", "grace_dark", "astronaut_small", "grace_pen", "astronaut_pen"])
def test_no_dark_pixels_appear_around_the_lips(faces, detector, name):
    avatar = faces[name]
    engine = CpuEngine(head_motion=False)
    controls = list(VISEMES.values()) + [replace(speech_like_controls(k), blink=0.0) for k in range(0, 60, 4)]
    for c in controls:
        frame = engine.render(avatar, 0, FrameDrive(c))
        points = detector.detect(frame).points
        stray = int(stray_dark_pixels(frame, avatar.frames[0], points).sum())
        assert stray == 0, f"{name} {c}: {stray} near-black pixels around the lips"


def test_stray_dark_pixels_are_found_when_drawn(faces, detector):
    """The check above can fail: a dark smudge beside the mouth corner is counted."""
    avatar = faces["grace"]
    frame = render(avatar, VISEMES["ah"])
    points = detector.detect(frame).points
    unit = inter_ocular(points)
    smudge = frame.copy()
    corner = points[291] + np.array([0.12 * unit, 0])
    cv2.circle(smudge, tuple(np.round(corner).astype(int)), 3, (10, 10, 10), -1)
    assert stray_dark_pixels(smudge, avatar.frames[0], points).sum() >= 20


@pytest.mark.parametrize("name", ["grace", "grace_dark"])
def test_lower_teeth_show_on_a_wide_vowel_not_a_small_round_one(rendered, name):
    wide = max(bright_lower_inner(*rendered[name, label]) for label in OPEN)
    rounded = bright_lower_inner(*rendered[name, "oo"])
    # the lower teeth are a row above the lower lip: a part of the lower third (the old mouth's
    # faint row: none at all)
    assert wide > 0.08, f"{name}: lower teeth cover {wide:.2f} of the lower inner mouth"
    assert rounded < 0.02 and rounded < 0.3 * wide, (name, rounded, wide)


@pytest.mark.parametrize("name", ["astronaut", "astronaut_small"])
def test_an_open_smiles_oo_is_round_not_a_grin(rendered, name):
    """Rounded lips draw the corners of a smiling photo down to the lips' middle line."""
    rest, rounded = (expression_measures(rendered[name, label][1])["corners"] for label in ("rest", "oo"))
    # (before: the rest pose's grin on "oo" too, 0.086 of 0.097 on the astronaut)
    assert rest > 0.05 and abs(rounded) < 0.4 * rest, (rest, rounded)


def inner_luma(frame, points) -> float:
    mask = inner_mouth_mask(frame.shape, points) > 0
    return float((frame[mask].astype(np.float64) @ LUMA_BGR).mean())


def test_visemes_look_different_inside_the_mouth(faces, detector):
    """Same opening, different shapes: each gives its own inner mouth."""
    avatar = faces["grace"]
    jaw = 0.5
    shapes = {
        "open": FaceControls(jaw=jaw, teeth=0.3),
        "spread": FaceControls(jaw=jaw, spread=1.0, teeth=0.8),
        "round": FaceControls(jaw=jaw, round=1.0),
        "tongue": FaceControls(jaw=jaw, teeth=0.3, tongue=1.0),
    }
    frames = {k: render(avatar, c, own_mouth=False) for k, c in shapes.items()}
    points = {k: detector.detect(f).points for k, f in frames.items()}
    mask = inner_mouth_mask(frames["open"].shape, points["open"]) > 0
    assert mask.sum() > 200
    names = list(frames)
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            diff = np.abs(frames[a].astype(np.float64) - frames[b])[mask].mean()
            assert diff > 6, f"{a} and {b} look alike inside the mouth ({diff:.1f})"
    # a rounded mouth is a deeper, darker cavity than an open one
    assert inner_luma(frames["round"], points["round"]) < 0.8 * inner_luma(frames["open"], points["open"])
    # the raised tongue fills the upper half of the opening where the open mouth shows its throat
    ys = np.nonzero(mask)[0]
    upper_half = mask & (np.arange(mask.shape[0])[:, None] < np.median(ys))
    red = lambda f: (f[..., 2].astype(int) - f[..., 0])[upper_half].mean()  # noqa: E731
    assert red(frames["tongue"]) > red(frames["open"]) + 10


def test_open_smile_closes_without_teeth_or_dark_corners_in_the_lips(faces, detector):
    """The astronaut's closed rest mouth: no light teeth band or dark wedge left between the lips."""
    avatar = faces["astronaut"]
    frame = render(avatar, FaceControls())
    points = detector.detect(frame).points
    from livehuman.render.cpu.face import LOWER_OUTER, UPPER_OUTER

    lips = np.zeros(frame.shape[:2], np.uint8)
    cv2.fillPoly(lips, [np.round(np.concatenate([points[UPPER_OUTER], points[LOWER_OUTER[::-1][1:-1]]])).astype(np.int32)], 1)
    pixels = frame[lips > 0].astype(np.float64)
    luma = pixels @ LUMA_BGR
    sat = pixels.max(1) - pixels.min(1)
    lip_luma = np.median(luma)
    teeth = ((luma > lip_luma + 30) & (sat < 60)).sum()
    dark = (luma < 0.5 * lip_luma).sum()
    # before the lips were cleaned of the photo's teeth: 12 % teeth-like and 2 % dark pixels
    assert teeth < 0.08 * len(pixels) and dark < 0.01 * len(pixels), (teeth, dark, len(pixels))


def test_f_rests_the_upper_teeth_on_the_lower_lip(faces, detector):
    """An F/V tuck fills the small opening with the upper teeth down to the lower lip."""
    avatar = faces["grace"]

    def teeth_share(controls):
        frame = render(avatar, controls, own_mouth=False)
        points = detector.detect(frame).points
        pixels = frame[inner_mouth_mask(frame.shape, points) > 0].astype(np.float64)
        return float(((pixels @ LUMA_BGR) > 110).mean())

    tucked = teeth_share(FaceControls(jaw=0.2, tuck=1.0, teeth=0.7))
    parted = teeth_share(FaceControls(jaw=0.2, teeth=0.7))
    hidden = teeth_share(FaceControls(jaw=0.2))
    assert tucked > 0.5 and tucked > parted + 0.1, (tucked, parted)
    assert hidden < parted, (hidden, parted)  # `teeth` bares them


def test_a_shadowed_upper_lip_is_not_painted_out_with_the_teeth(detector):
    """An open smile in red lipstick, the thin upper lip in shadow, half as bright as the lower one
    (as in many portraits; real video frames measure 0.35-0.5). Before closing such a mouth the
    engine paints the teeth and the dark corners out of the lips; the upper lip, far darker than the
    two lips' median, was taken for a dark corner and painted over from the skin around it: a pale
    bite out of the closed lips (94 % of this upper lip repainted; now the pixels along the teeth)."""
    x0, y0, x1, y1 = LAUGH_CROP
    image = cv2.resize(read(astronaut_path())[y0:y1, x0:x1], None, fx=2, fy=2, interpolation=cv2.INTER_CUBIC)
    painted = lipstick(image, detector.detect(image).points, upper_light=0.5)
    points = detector.detect(painted).points.astype(np.float64)
    unit = inter_ocular(points)
    where, cleaned = clean_lips(painted, points, unit, MouthColours.sample(painted, points, unit))
    after = painted.copy()
    after[where] = cleaned
    upper = lip_mask(points, UPPER_OUTER, UPPER_INNER, painted.shape)
    repainted = (np.abs(after.astype(int) - painted.astype(int)).max(2) > 20) & upper
    assert repainted.sum() < 0.5 * upper.sum(), (int(repainted.sum()), int(upper.sum()))


@pytest.mark.parametrize("name", ["grace", "astronaut"])
def test_a_black_and_white_photo_keeps_a_grey_mouth(faces, detector, tmp_path, name):
    """The drawn mouth takes the photo's colourfulness: in a black-and-white photo the teeth, tongue
    and throat are grey like the rest, not cream and pink (channels 30-45 grey levels apart before)."""
    grey = cv2.cvtColor(cv2.cvtColor(faces[name].frames[0], cv2.COLOR_BGR2GRAY), cv2.COLOR_GRAY2BGR)
    face = detector.detect(grey)
    avatar = Avatar(name="grey", directory=tmp_path, fps=25, kind="photo", frames=grey[None],
                    landmarks=face.points[None], boxes=face.box[None])
    for shape in ("ah", "ee", "f"):
        for own_mouth in (True, False):
            frame = render(avatar, VISEMES[shape], own_mouth=own_mouth).astype(int)
            assert (frame.max(2) - frame.min(2)).max() <= 2, (shape, own_mouth)
    # a colour photo's mouth keeps its colours
    frame = render(faces[name], VISEMES["ah"], own_mouth=False).astype(int)
    mask = inner_mouth_mask(frame.shape, detector.detect(frame.astype(np.uint8)).points) > 0
    assert (frame.max(2) - frame.min(2))[mask].mean() > 15


def test_parted_lips_without_teeth_get_drawn_teeth_not_lip_coloured_ones(faces, detector):
    """A source mouth open a little with no teeth in it (a smile's barely parted lips: the mesh's
    inner contour holds lip and shadow) is given drawn teeth, not its lips' colour as teeth (pink
    teeth on real photos before)."""
    grace = faces["grace"]
    opened = render(grace, FaceControls(jaw=0.45), own_mouth=False)
    points = detector.detect(opened).points
    unit = inter_ocular(points)
    colours = MouthColours.sample(grace.frames[0], grace.landmarks[0], inter_ocular(grace.landmarks[0]))
    inner = inner_mouth_mask(opened.shape, points) > 0
    # the opening filled with the lips' colour: paler and sheened near the lips, in shade in the middle
    depth = cv2.GaussianBlur(inner.astype(np.float32), (0, 0), 0.04 * unit)[..., None]
    shade = colours.lip * (1.2 - 0.7 * depth)
    sheen = shade + ((shade @ LUMA_BGR)[..., None] - shade) * 0.6 * (1 - depth)
    parted = np.where(inner[..., None], np.clip(sheen, 0, 255), opened).astype(np.uint8)
    assert np.linalg.norm(points[14] - points[13]) / unit > 0.1
    teeth = MouthColours.sample(parted, points, unit).teeth
    # drawn teeth are as bright as the skin's highlights, well above the lips (lip-coloured: 3 under them)
    assert teeth @ LUMA_BGR > colours.lip @ LUMA_BGR + 25, (teeth, colours.lip)


def test_the_line_where_cleaned_lips_meet_fades_as_they_part():
    """An open photo's cleaned lips get back the dark line where they meet; as they part it fades
    out, or it crossed the teeth of every open frame as a grey line."""
    from livehuman.render.cpu.face import FaceFrame
    from livehuman.render.cpu.mouth import draw_lip_line

    frame = FaceFrame(np.array([200.0, 100.0]), np.array([1.0, 0.0]), np.array([0.0, 1.0]), 100.0)
    colours = MouthColours(*(np.array(c, np.float64) for c in ([90, 100, 180], [20, 20, 50], [200, 215, 230],
                                                                [100, 110, 190], [120, 120, 200])))
    u = np.linspace(-0.4, 0.4, 11)

    def darkening(gap: float) -> float:
        upper = frame.to_pixels(np.stack([u, np.full_like(u, -gap / 2)], -1))
        lower = frame.to_pixels(np.stack([u, np.full_like(u, gap / 2)], -1))
        image = np.full((200, 400, 3), 200, np.uint8)
        draw_lip_line(image, upper, lower, frame, colours)
        return float(200 - image[97:104, 180:220].astype(np.float64).mean())

    closed, parting, apart = darkening(0.0), darkening(0.07), darkening(0.15)
    assert closed > 8
    assert 0 < parting < closed
    assert apart == 0
