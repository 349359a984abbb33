"""The cpu engine on real faces, measured by re-detecting the rendered mouth with mediapipe's face mesh.

grace_hopper.jpg has a closed mouth and a large face; astronaut.png an open smile with teeth and a
small face. Every frame checked here is the engine's real output, re-detected from pixels.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest

from livehuman.avatar.avatar import Avatar
from livehuman.avatar.landmarks import FaceMeshDetector, inter_ocular, lip_gap, mouth_width
from livehuman.errors import LivehumanError
from livehuman.motion.controls import FaceControls
from livehuman.motion.synthetic import speech_like_controls
from livehuman.render.cpu.appearance import expression_measures
from livehuman.render.cpu.engine import CpuEngine
from livehuman.render.cpu.face import LOWER_INNER, UPPER_INNER
from livehuman.render.cpu.mouth import drawn_jaw
from livehuman.render.engine import FrameDrive

JAWS = (0.0, 0.33, 0.66, 1.0)


@pytest.fixture(scope="module")
def detector():
    with FaceMeshDetector() as det:
        yield det


def make_avatar(image: np.ndarray, detector, directory: Path, name: str) -> Avatar:
    face = detector.detect(image)
    assert face is not None
    return Avatar(
        name=name, directory=directory, fps=25, kind="photo",
        frames=image[None], landmarks=face.points[None], boxes=face.box[None],
    )


@pytest.fixture(scope="module")
def avatars(detector, grace_hopper_path, astronaut_path, tmp_path_factory):
    out = {}
    for name, path in (("grace", grace_hopper_path), ("astronaut", astronaut_path)):
        image = cv2.imread(str(path), cv2.IMREAD_COLOR)
        out[name] = make_avatar(image, detector, tmp_path_factory.mktemp(name), name)
    return out


@pytest.fixture(scope="module")
def engine(avatars):
    engine = CpuEngine()
    for avatar in avatars.values():
        engine.load(avatar)
    return engine


def teeth_pixels(image: np.ndarray, detector) -> int:
    """Light, unsaturated pixels inside the re-detected inner lips."""
    points = detector.detect(image).points
    inner = np.concatenate([points[UPPER_INNER], points[LOWER_INNER[::-1]]])
    mask = np.zeros(image.shape[:2], np.uint8)
    cv2.fillPoly(mask, [np.round(inner).astype(np.int32)], 1)
    hsv = cv2.cvtColor(image, cv2.COLOR_BGR2HSV)
    return int(((hsv[..., 2] > 150) & (hsv[..., 1] < 90) & (mask > 0)).sum())


def render(engine, avatar, **controls) -> np.ndarray:
    return engine.render(avatar, 0, FrameDrive(FaceControls(**controls)))


@pytest.fixture(scope="module")
def measured(avatars, engine, detector, test_output):
    """Re-detected lip gap and mouth width of each face under a grid of controls."""
    grid = {f"jaw={j}": dict(jaw=j, teeth=0.5) for j in JAWS}
    grid.update(
        rest={},
        press=dict(press=1.0),
        press_jaw=dict(press=1.0, jaw=0.6),
        round=dict(round=1.0, jaw=0.3),
        spread=dict(spread=1.0, jaw=0.3, teeth=0.6),
        tuck=dict(tuck=1.0, jaw=0.1),
    )
    out = {}
    for name, avatar in avatars.items():
        tiles = []
        for label, controls in grid.items():
            frame = render(engine, avatar, **controls)
            face = detector.detect(frame)
            assert face is not None, f"{name} {label}: the face mesh lost the rendered face"
            out[name, label] = (lip_gap(face.points), mouth_width(face.points))
            x0, y0, x1, y1 = avatar.boxes[0].astype(int)
            tiles.append(cv2.resize(frame[y0:y1, x0:x1], (200, 230)))
        cv2.imwrite(str(test_output / f"cpu_engine_{name}.png"), np.hstack(tiles))
    print("\n".join(f"{k[0]:10s} {k[1]:10s} gap {g:.3f} width {w:.3f}" for k, (g, w) in out.items()))
    return out


@pytest.mark.parametrize("name", ["grace", "astronaut"])
def test_jaw_opens_monotonically_to_an_ah(measured, name):
    gaps = [measured[name, f"jaw={j}"][0] for j in JAWS]
    assert all(b > a for a, b in zip(gaps, gaps[1:])), gaps
    assert 0.2 <= gaps[-1] <= 0.45, f"jaw=1 should open like an 'ah': {gaps[-1]:.3f} of the inter-ocular distance"


@pytest.mark.parametrize("name", ["grace", "astronaut"])
@pytest.mark.parametrize("label", ["rest", "press", "press_jaw"])
def test_lips_closed_at_rest_and_on_press(measured, name, label):
    open_gap = measured[name, "jaw=1.0"][0]
    gap = measured[name, label][0]
    assert gap < 0.25 * open_gap and gap < 0.05, f"{name} {label}: gap {gap:.3f} vs open {open_gap:.3f}"


def test_open_smile_photo_closes_at_rest(measured, avatars):
    source_gap = lip_gap(avatars["astronaut"].landmarks[0])
    assert source_gap > 0.1, "the astronaut photo shows an open smile"
    assert measured["astronaut", "rest"][0] < 0.2 * source_gap


@pytest.mark.parametrize("name", ["grace", "astronaut"])
def test_round_narrower_than_spread(measured, name):
    rest_w = measured[name, "rest"][1]
    round_w, spread_w = measured[name, "round"][1], measured[name, "spread"][1]
    assert round_w < 0.85 * spread_w, (round_w, spread_w)
    assert round_w < rest_w < spread_w, (round_w, rest_w, spread_w)


@pytest.mark.parametrize("name", ["grace", "astronaut"])
def test_tuck_parts_the_lips_a_little(measured, name):
    gap = measured[name, "tuck"][0]
    assert gap < 0.5 * measured[name, "jaw=1.0"][0]


def test_output_is_a_whole_bgr_frame_and_leaves_the_source_alone(avatars, engine):
    for avatar in avatars.values():
        before = avatar.frames.copy()
        frame = render(engine, avatar, jaw=0.8, round=0.5, blink=1.0, yaw=3.0)
        assert frame.dtype == np.uint8 and frame.shape == avatar.frames[0].shape
        assert np.array_equal(avatar.frames, before)
        assert np.abs(frame.astype(int) - before[0]).max() > 40  # the face did move


@pytest.mark.parametrize("name", ["grace", "astronaut"])
def test_threads_drawing_at_once_draw_what_one_thread_draws(avatars, engine, name):
    # the engine keeps per-thread arrays between frames; sessions drawing in threads must not share them
    avatar = avatars[name]
    controls = [speech_like_controls(k) for k in range(16)]
    alone = [engine.render(avatar, k, FrameDrive(c)) for k, c in enumerate(controls)]
    jobs = list(enumerate(controls)) * 4
    with ThreadPoolExecutor(4) as pool:
        together = list(pool.map(lambda job: engine.render(avatar, job[0], FrameDrive(job[1])), jobs))
    assert len({frame.tobytes() for frame in alone}) == len(alone)  # every frame differs: a mix-up would show
    for (k, _), frame in zip(jobs, together):
        assert np.abs(frame.astype(int) - alone[k]).max() <= 1


@pytest.mark.parametrize("name", ["grace", "astronaut"])
def test_upper_face_untouched_by_mouth_controls(avatars, engine, name):
    avatar = avatars[name]
    points = avatar.landmarks[0]
    top = int(points[[168, 6, 197]][:, 1].max())  # the upper half of the nose and everything above
    mouth_only = (dict(jaw=1.0, teeth=1.0), dict(spread=1.0, smile=1.0), dict(round=1.0, jaw=0.5), dict(press=1.0, tuck=1.0))
    for controls in mouth_only:
        frame = render(engine, avatar, **controls)
        assert np.array_equal(frame[:top], avatar.frames[0][:top]), controls
        changed = np.abs(frame.astype(int) - avatar.frames[0]).max(2) > 0
        assert changed.any()


@pytest.mark.parametrize("name", ["grace", "astronaut"])
def test_no_seam_where_the_warp_ends(avatars, engine, name):
    avatar = avatars[name]
    source = avatar.frames[0]
    frame = render(engine, avatar, jaw=1.0, spread=0.5, teeth=1.0)
    diff = np.abs(frame.astype(np.int32) - source).max(2)
    contours, _ = cv2.findContours((diff > 0).astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    region = np.zeros(diff.shape, np.uint8)
    cv2.drawContours(region, [max(contours, key=cv2.contourArea)], -1, 1, -1)
    unit = inter_ocular(avatar.landmarks[0])
    assert region.sum() > 0.5 * unit * unit
    # the band just inside the changed region's outline: a cut would show a jump, and new edges
    band = (region - cv2.erode(region, np.ones((5, 5), np.uint8))) > 0
    assert diff[band].mean() < 5, diff[band].mean()

    def edges(image):
        return np.abs(cv2.Laplacian(cv2.cvtColor(image, cv2.COLOR_BGR2GRAY).astype(np.float32), cv2.CV_32F))[band].mean()

    assert edges(frame) < 1.15 * edges(source)


@pytest.mark.parametrize("name", ["grace", "astronaut"])
def test_blink_closes_the_eyes(avatars, engine, detector, name):
    avatar = avatars[name]

    def eye_opening(points):
        return (np.linalg.norm(points[145] - points[159]) + np.linalg.norm(points[374] - points[386])) / inter_ocular(points)

    open_eyes = eye_opening(detector.detect(render(engine, avatar)).points)
    closed = detector.detect(render(engine, avatar, blink=1.0))
    assert closed is not None
    assert eye_opening(closed.points) < 0.6 * open_eyes


def test_eye_controls_move_the_eyes_and_leave_the_mouth_alone(avatars, engine):
    avatar = avatars["grace"]
    points = avatar.landmarks[0]
    blink = render(engine, avatar, blink=1.0, brow=0.5)
    rest = render(engine, avatar)
    mouth_top = int(points[1, 1])
    assert np.array_equal(blink[mouth_top:], rest[mouth_top:])
    eye_rows = slice(int(points[[159, 386]][:, 1].min()) - 2, int(points[[145, 374]][:, 1].max()) + 2)
    assert not np.array_equal(blink[eye_rows], avatar.frames[0][eye_rows])


@pytest.mark.parametrize("name", ["grace", "astronaut"])
def test_inner_brow_raise_lifts_the_inner_ends_and_leaves_the_mouth_alone(avatars, engine, detector, name):
    avatar = avatars[name]
    points = avatar.landmarks[0]
    rest, sad = render(engine, avatar), render(engine, avatar, brow_inner=1.0)
    mouth_top = int(points[1, 1])
    assert np.array_equal(sad[mouth_top:], rest[mouth_top:])
    between = slice(int(points[[107, 336], 1].min()) - 10, int(points[[33, 263], 1].min()))
    assert np.abs(sad[between].astype(int) - rest[between]).mean() > 0.5
    if name == "grace":
        return  # her brows hide behind her glasses' frames, where the mesh cannot find them
    before, after = (expression_measures(detector.detect(f).points) for f in (rest, sad))
    inner = after["inner_brows"] - before["inner_brows"]
    outer = after["outer_brows"] - before["outer_brows"]
    assert inner > 0.02 and outer < 0.5 * inner, (inner, outer)


@pytest.mark.parametrize("name", ["grace", "astronaut"])
def test_smile_lifts_and_frown_lowers_the_corners_with_the_lips_still_closed(avatars, engine, detector, name):
    measures = {}
    for label, controls in (("rest", {}), ("smile", dict(smile=1.0)), ("frown", dict(frown=1.0))):
        found = detector.detect(render(engine, avatars[name], **controls))
        measures[label] = (expression_measures(found.points)["corners"], lip_gap(found.points))
    (rest, rest_gap), (smile, smile_gap), (frown, frown_gap) = (measures[k] for k in ("rest", "smile", "frown"))
    assert smile - rest > 0.03 and rest - frown > 0.015, measures
    assert max(smile_gap, frown_gap) < rest_gap + 0.015, measures


def test_gaze_moves_the_irises(avatars, engine, detector):
    avatar = avatars["astronaut"]

    def iris_offset(points):
        """Each iris centre's position between its eye's corners, -0.5..0.5, averaged over both eyes."""
        offsets = []
        for centre, (a, b) in ((468, (33, 133)), (473, (362, 263))):
            axis = points[b] - points[a]
            offsets.append(float((points[centre] - points[a]) @ axis / (axis @ axis)) - 0.5)
        return np.mean(offsets)

    left, right = (iris_offset(detector.detect(render(engine, avatar, gaze_x=g)).points) for g in (-1.0, 1.0))
    assert right - left > 0.06, (left, right)


def test_head_motion_flag(avatars):
    avatar = avatars["grace"]
    still = CpuEngine(head_motion=False)
    moving = CpuEngine(head_motion=True)
    assert np.array_equal(render(still, avatar, yaw=4.0, roll=3.0), render(still, avatar))
    assert not np.array_equal(render(moving, avatar, yaw=4.0, roll=3.0), render(moving, avatar))


def test_same_opening_at_any_face_size(avatars, engine, detector, tmp_path):
    big = avatars["grace"]
    small_image = cv2.resize(big.frames[0], None, fx=0.5, fy=0.5, interpolation=cv2.INTER_AREA)
    small = make_avatar(small_image, detector, tmp_path, "small")
    gaps = []
    for avatar in (big, small):
        face = detector.detect(render(engine, avatar, jaw=0.8, teeth=0.5))
        gaps.append(lip_gap(face.points))
    assert abs(gaps[0] - gaps[1]) < 0.3 * gaps[0], gaps


def test_bbox_shift_opens_wider_or_less_as_in_musetalk(avatars, engine, detector):
    base = avatars["grace"]
    gaps = []
    for shift in (-8, 0, 8):
        avatar = replace(base, bbox_shift=shift, extra={})
        gaps.append(lip_gap(detector.detect(render(engine, avatar, jaw=0.6)).points))
    assert gaps[0] < gaps[1] < gaps[2], gaps


def test_video_avatar_reuses_its_own_open_mouth(avatars, engine, detector, tmp_path):
    """Footage where the person opens their mouth lends its inside (here the astronaut's real teeth)."""
    photo = avatars["astronaut"]
    closed = render(engine, photo)
    frames = np.stack([closed, photo.frames[0]])
    landmarks = np.stack([detector.detect(f).points for f in frames])
    video = Avatar(
        name="clip", directory=tmp_path, fps=25, kind="video",
        frames=frames, landmarks=landmarks, boxes=photo.boxes.repeat(2, 0),
    )
    video_engine = CpuEngine(head_motion=False)
    video_engine.load(video)
    # teeth=0: the synthetic mouth would be a dark cavity; the footage's mouth shows real teeth
    with_footage = video_engine.render(video, 0, FrameDrive(FaceControls(jaw=0.45)))
    synthetic = CpuEngine(head_motion=False)
    alone = replace(video, name="still", kind="photo", frames=frames[:1], landmarks=landmarks[:1], extra={})
    alone.boxes = photo.boxes
    # the drawn mouth eases its jaw (mouth.DRAWN_JAW): the control that opens it as far, 0.45
    synthetic_frame = synthetic.render(alone, 0, FrameDrive(FaceControls(jaw=0.4)))
    assert drawn_jaw(0.4) == pytest.approx(0.45)

    assert teeth_pixels(with_footage, detector) > 3 * max(teeth_pixels(synthetic_frame, detector), 5)
    face = detector.detect(with_footage)
    assert lip_gap(face.points) > 0.08


def test_open_mouth_photo_lends_its_own_teeth_and_the_synthetic_mouth_also_works(avatars, detector, tmp_path):
    photo = avatars["astronaut"]
    own, synthetic = CpuEngine(own_mouth=True), CpuEngine(own_mouth=False)
    own_avatar, synthetic_avatar = replace(photo, extra={}), replace(photo, extra={})
    gaps = [lip_gap(detector.detect(render(synthetic, synthetic_avatar, jaw=j)).points) for j in (0.0, 0.5, 1.0)]
    assert gaps[0] < 0.05 < gaps[1] < gaps[2], gaps
    # teeth=0: the synthetic mouth is a dark cavity, the photo's own mouth shows her real teeth
    real = teeth_pixels(render(own, own_avatar, jaw=0.5), detector)
    assert real > 3 * max(teeth_pixels(render(synthetic, synthetic_avatar, jaw=0.5), detector), 5)


def test_bad_avatar_is_a_clear_error(tmp_path):
    frames = np.zeros((1, 64, 64, 3), np.uint8)
    landmarks = np.zeros((1, 68, 2), np.float32)  # a 68-point detector's, not the face mesh's
    avatar = Avatar(
        name="bad", directory=tmp_path, fps=25, kind="photo", frames=frames, landmarks=landmarks, boxes=np.zeros((1, 4))
    )
    with pytest.raises(LivehumanError, match="landmarks"):
        CpuEngine().load(avatar)


def test_a_sliver_triangle_fetches_pixels_from_far_away_and_the_eye_warp_has_none(avatars):
    """Warping onto a sliver (three nearly collinear source points) is ill-conditioned: a sub-pixel
    move of one corner becomes a shear that fetches pixels from several pixels away (on a
    real photo a dark stroke appeared under an eye as it squinted). The eye warp leaves slivers of
    its source frame out; their pixel-thin gaps are covered by their neighbours."""
    from livehuman.render.cpu.upper_face import build_upper_face
    from livehuman.render.cpu.warp import Crop, PiecewiseWarp, slivers

    # a fan around point 2, the sliver (0, 2, 1) drawn last, over its neighbours
    points = np.array([[2.0, 2.5], [30, 2.5], [16, 2.7], [2, 30], [30, 30], [16, -10]])
    triangles = np.array([[0, 3, 2], [2, 3, 4], [2, 4, 1], [0, 2, 5], [2, 1, 5], [0, 2, 1]])
    assert slivers(points, triangles).tolist() == [False] * 5 + [True]
    moved = points.copy()
    moved[2] += (0.5, -0.1)  # half a pixel along the sliver
    step = float(np.hypot(0.5, 0.1))

    def farthest_fetch(kept: np.ndarray) -> float:
        map_x, map_y = PiecewiseWarp(kept, points, Crop(-5, -12, 40, 40)).maps(moved)
        return float(np.hypot(map_x - np.arange(45)[None, :], map_y - np.arange(52)[:, None]).max())

    assert farthest_fetch(triangles) > 3 * step
    assert farthest_fetch(triangles[~slivers(points, triangles)]) < 1.2 * step
    for avatar in avatars.values():
        rigs = build_upper_face(avatar.landmarks[0].astype(np.float64), avatar.size)
        assert not slivers(rigs.eyes.source, rigs.eye_warp.triangles).any()
