"""Preparing avatars from real faces: landmarks, boxes, smoothing, gaps, caching, and every refusal."""

from __future__ import annotations

import json
import os

import cv2
import numpy as np
import pytest

from helpers_avatar import astronaut_path, haar_face, no_face_path, read, two_faces, write_video
from livehuman.avatar.boxes import face_boxes
from livehuman.avatar.cache import list_avatars, load_avatar, read_avatar, read_meta
from livehuman.avatar.default import DEFAULT_NAME, default_avatar, grace_hopper_path, head_motion, make_face_video
from livehuman.avatar.landmarks import (
    CHIN,
    LEFT_EYE_CORNERS,
    LOWER_LIP_INNER_MID,
    MOUTH_LEFT,
    MOUTH_RIGHT,
    NOSE_TIP,
    RIGHT_EYE_CORNERS,
    UPPER_LIP_INNER_MID,
    FaceMeshDetector,
    eye_widths,
    face_width,
    inter_ocular,
    lip_gap,
)
from livehuman.avatar.prepare import GOOD_EYE_WIDTHS, GOOD_INTER_OCULAR, MIN_INTER_OCULAR, prepare_avatar, smooth_landmarks
from livehuman.bench.faces import group, turned, write_face
from livehuman.errors import LivehumanError

MOUTH = [UPPER_LIP_INNER_MID, LOWER_LIP_INNER_MID, MOUTH_LEFT, MOUTH_RIGHT]
EYES = list(RIGHT_EYE_CORNERS + LEFT_EYE_CORNERS)


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    return tmp_path_factory.mktemp("avatars")


@pytest.fixture(scope="module")
def grace(root):
    return prepare_avatar(grace_hopper_path(), "grace", cache_root=root, progress=False)


@pytest.fixture(scope="module")
def video30(tmp_path_factory):
    """2 s of Grace Hopper's face with slight synthetic head motion, at 30 fps."""
    return make_face_video(tmp_path_factory.mktemp("video") / "face30.mp4", seconds=2.0, fps=30.0)


@pytest.fixture(scope="module")
def video_avatar(root, video30):
    return prepare_avatar(video30, "video", fps=25.0, cache_root=root, progress=False)


def _check_face_geometry(points: np.ndarray, box: np.ndarray, independent: np.ndarray) -> None:
    """Landmarks sit where a face's parts are: mouth in the box, eyes above the nose above the mouth
    above the chin, and the nose inside a face box found by another detector."""
    x0, y0, x1, y1 = box
    mouth = points[MOUTH]
    assert ((mouth[:, 0] > x0) & (mouth[:, 0] < x1) & (mouth[:, 1] > y0) & (mouth[:, 1] < y1)).all()
    eyes_y = points[EYES, 1].max()
    assert eyes_y < points[NOSE_TIP, 1] < mouth[:, 1].min() and mouth[:, 1].max() < points[CHIN, 1]
    assert points[MOUTH_LEFT, 0] < points[MOUTH_RIGHT, 0]
    hx0, hy0, hx1, hy1 = independent
    assert hx0 < points[NOSE_TIP, 0] < hx1 and hy0 < points[NOSE_TIP, 1] < hy1


def test_photo(grace):
    image = read(grace_hopper_path())
    assert grace.kind == "photo" and grace.n_frames == 1 and grace.size == (512, 600)
    assert np.array_equal(grace.frames[0], image)
    assert grace.landmarks.shape == (1, 478, 2) and grace.landmarks.dtype == np.float32
    assert grace.boxes.shape == (1, 4)
    _check_face_geometry(grace.landmarks[0], grace.boxes[0], haar_face(image))
    assert lip_gap(grace.landmarks[0]) < 0.05  # her mouth is closed


def test_astronaut_open_smile(root, grace):
    avatar = prepare_avatar(astronaut_path(), "astronaut", cache_root=root, progress=False)
    _check_face_geometry(avatar.landmarks[0], avatar.boxes[0], haar_face(read(astronaut_path())))
    # the open smile shows: the lips are apart, far more than Grace Hopper's
    assert lip_gap(avatar.landmarks[0]) > 0.08 > lip_gap(grace.landmarks[0])


def test_video_30fps_resampled_to_25_follows_the_head(video_avatar, video30):
    avatar = video_avatar
    assert avatar.kind == "video" and avatar.fps == 25.0 and avatar.n_frames == 50
    meta = read_meta(avatar.directory)
    assert meta["n_frames"] == 50 and meta["fps"] == 25.0 and meta["kind"] == "video"
    # ground truth: the photo's landmarks moved by the known head motion of the nearest 30 fps frame
    with FaceMeshDetector() as detector:
        from livehuman.avatar.default import default_portrait

        still = detector.detect(default_portrait()).points
    motion = head_motion(60, 30.0, (512, 512))
    truth = np.stack([cv2.transform(still[None], motion[round(k * 30 / 25)])[0] for k in range(50)])
    error = np.linalg.norm(avatar.landmarks - truth, axis=-1)
    assert np.median(error) < 2.0, np.median(error)
    assert np.abs(avatar.landmarks[:, NOSE_TIP] - truth[:, NOSE_TIP]).max() < 4.0
    for k in (0, 25, 49):
        _check_face_geometry(avatar.landmarks[k], avatar.boxes[k], haar_face(avatar.frames[k]))


def test_smoothing_removes_jitter_without_lag(video_avatar):
    """Jitter added to a real track with a brisk nod is mostly taken out again, and nothing is delayed."""
    t = np.arange(video_avatar.n_frames) / 25.0
    clean = video_avatar.landmarks.copy()
    clean[..., 1] += (8.0 * np.sin(2 * np.pi * 1.5 * t))[:, None]  # nodding 1.5 times a second
    noisy = clean + np.random.default_rng(1).normal(0, 1.0, clean.shape).astype(np.float32)
    smoothed = smooth_landmarks(noisy)
    assert np.linalg.norm(smoothed - clean, axis=-1).mean() < 0.7 * np.linalg.norm(noisy - clean, axis=-1).mean()
    # no lag: the smoothed track lines up with the true one best at a shift of 0 frames
    errors = {s: np.abs(np.roll(smoothed, s, axis=0) - clean)[3:-3].mean() for s in range(-2, 3)}
    assert min(errors, key=errors.get) == 0, errors


def test_smoothing_does_not_cross_a_cut(video_avatar):
    left = video_avatar.landmarks[:20]
    right = left + np.array([150.0, 0.0], dtype=np.float32)  # the face jumps: another shot
    joined = np.concatenate([left, right])
    smoothed = smooth_landmarks(joined)
    assert np.abs(smoothed[19] - left[19]).max() < 1.5 and np.abs(smoothed[20] - right[0]).max() < 1.5


def test_image_folder(root, tmp_path, video30):
    from helpers_avatar import decode_all

    folder = tmp_path / "frames"
    folder.mkdir()
    frames, _ = decode_all(video30)
    for k, frame in enumerate(frames[:12]):
        cv2.imwrite(str(folder / f"img_{k}.png"), frame)
    avatar = prepare_avatar(folder, "folder", cache_root=root, progress=False)
    assert avatar.kind == "images" and avatar.n_frames == 12
    assert np.array_equal(avatar.frames[10], frames[10])  # img_10 after img_9, not after img_1
    for k in (0, 11):
        _check_face_geometry(avatar.landmarks[k], avatar.boxes[k], haar_face(frames[k]))


def test_cache_layout_and_reuse(root, grace):
    directory = root / "grace"
    meta = json.loads((directory / "meta.json").read_text())
    for key in ("name", "source", "kind", "fps", "width", "height", "n_frames", "bbox_shift", "version"):
        assert key in meta
    assert meta["source"]["path"] == str(grace_hopper_path().resolve())
    assert (directory / "landmarks.npy").is_file() and (directory / "boxes.npy").is_file()
    assert not [p for p in root.iterdir() if p.name.startswith(".grace.")]  # no temp folders left
    again = prepare_avatar(grace_hopper_path(), "grace", cache_root=root, progress=False)
    assert read_meta(directory)["prepared_at"] == meta["prepared_at"]  # reused, not prepared again
    assert np.array_equal(again.landmarks, grace.landmarks) and np.array_equal(again.frames, grace.frames)
    loaded = read_avatar(directory)
    assert loaded.name == "grace" and np.array_equal(loaded.boxes, grace.boxes)


def test_force_and_changed_source_prepare_again(root, tmp_path):
    photo = tmp_path / "me.jpg"
    photo.write_bytes(grace_hopper_path().read_bytes())
    prepare_avatar(photo, "me", cache_root=root, progress=False)
    inode = (root / "me" / "meta.json").stat().st_ino
    prepare_avatar(photo, "me", cache_root=root, progress=False)
    assert (root / "me" / "meta.json").stat().st_ino == inode
    prepare_avatar(photo, "me", cache_root=root, progress=False, force=True)
    assert (root / "me" / "meta.json").stat().st_ino != inode
    inode = (root / "me" / "meta.json").stat().st_ino
    cv2.imwrite(str(photo), read(astronaut_path()))  # new content, new size and mtime
    changed = prepare_avatar(photo, "me", cache_root=root, progress=False)
    assert (root / "me" / "meta.json").stat().st_ino != inode and changed.size == (512, 512)


def test_bbox_shift_moves_the_lower_face_region(root, grace):
    base = grace.boxes[0]
    (grace.engine_dir("musetalk") / "latents.npy").write_bytes(b"made from the old boxes")
    down = prepare_avatar(grace_hopper_path(), "grace", bbox_shift=10, cache_root=root, progress=False)
    assert not (root / "grace" / "musetalk").exists()  # engines prepare again from the new boxes
    assert down.bbox_shift == 10 and read_meta(root / "grace")["bbox_shift"] == 10
    assert np.array_equal(down.landmarks, grace.landmarks)  # the mesh was not run again
    # MuseTalk's box: its middle row (where the repainted lower half starts) moves by the shift
    assert np.isclose((down.boxes[0, 1] + down.boxes[0, 3]) / 2, (base[1] + base[3]) / 2 + 10, atol=0.01)
    assert np.isclose(down.boxes[0, 3], base[3]) and np.isclose(down.boxes[0, 1], base[1] + 20, atol=0.01)
    up = load_avatar("grace", bbox_shift=-10, cache_root=root)
    assert np.isclose(up.boxes[0, 1], base[1] - 20, atol=0.01) and np.isclose(up.boxes[0, 3], base[3])
    # the box's x extent never depends on the shift
    assert np.allclose(up.boxes[0, [0, 2]], base[[0, 2]])
    # loading with another shift leaves the prepared avatar as prepared
    assert load_avatar("grace", cache_root=root).bbox_shift == 10
    assert np.array_equal(load_avatar("grace", cache_root=root).boxes, down.boxes)
    with pytest.raises(LivehumanError, match=r"bbox_shift 400 leaves no face box for avatar 'grace'; .* between -\d+ and \d+"):
        load_avatar("grace", bbox_shift=400, cache_root=root)
    back = prepare_avatar(grace_hopper_path(), "grace", bbox_shift=0, cache_root=root, progress=False)
    assert np.array_equal(back.boxes, grace.boxes)
    with pytest.raises(LivehumanError, match=r"bbox_shift 400 leaves no face box .* between -\d+ and \d+"):
        prepare_avatar(grace_hopper_path(), "grace", bbox_shift=400, cache_root=root, progress=False)


def test_face_boxes_match_musetalk_formula(grace):
    points = grace.landmarks[0]
    box = face_boxes(points[None], 0)[0]
    half = points[168, 1] + (points[4, 1] - points[168, 1]) * 2 / 3
    assert np.isclose(box[3], points[:, 1].max()) and np.isclose(box[1], 2 * half - points[:, 1].max(), atol=0.01)
    assert np.isclose(box[0], points[:, 0].min()) and np.isclose(box[2], points[:, 0].max())


def test_load_by_name_path_and_directory(root, grace, capsys):
    assert load_avatar("grace", cache_root=root).name == "grace"
    by_dir = load_avatar(str(root / "grace"), cache_root=root)
    assert by_dir.name == "grace"
    by_path = load_avatar(str(astronaut_path()), cache_root=root)
    assert by_path.name.startswith("astronaut-") and len(by_path.name) == len("astronaut-") + 8
    assert by_path.name in list_avatars(root)
    assert load_avatar(str(astronaut_path()), cache_root=root).directory == by_path.directory
    with pytest.raises(LivehumanError) as info:
        load_avatar("nobody", cache_root=root)
    message = str(info.value)
    assert "nobody" in message and "grace" in message and "livehuman prepare --name" in message


def test_unknown_avatar_with_empty_cache(tmp_path):
    with pytest.raises(LivehumanError, match="no avatars are prepared yet"):
        load_avatar("nobody", cache_root=tmp_path)


def test_bad_names(root):
    for name in ("", "../escape", "a/b", ".hidden", "x" * 200):
        with pytest.raises(LivehumanError, match="invalid avatar name"):
            prepare_avatar(grace_hopper_path(), name, cache_root=root, progress=False)


def test_several_faces_takes_the_largest_and_says_so(root, tmp_path, capsys):
    image, split = two_faces()
    path = tmp_path / "two.png"
    cv2.imwrite(str(path), image)
    avatar = prepare_avatar(path, "two", cache_root=root, progress=False)
    assert (avatar.landmarks[0, :, 0] > split).all()  # Grace Hopper's larger face, on the right
    err = capsys.readouterr().err
    assert "2 faces visible; using the largest, on the right" in err
    assert any("2 faces" in note for note in read_meta(root / "two")["notes"])


def test_group_photo_takes_the_largest_face_and_says_so(root, tmp_path, capsys):
    # three faces far from the camera: the face mesh's own detector sees none of them
    with FaceMeshDetector() as detector:
        assert detector._meshed(detector._mesh, cv2.cvtColor(group(), cv2.COLOR_BGR2RGB)) == []
    avatar = prepare_avatar(write_face("group", tmp_path), "group", cache_root=root, progress=False)
    points = avatar.landmarks[0]
    assert 0.4 < points[:, 0].mean() / 1280 < 0.6 and face_width(points) == pytest.approx(140, rel=0.1)
    _check_face_geometry(points, avatar.boxes[0], haar_face(avatar.frames[0][150:450, 450:830]) + [450, 150, 450, 150])
    err = capsys.readouterr().err
    assert "3 faces visible; using the largest, in the middle" in err


def test_group_video_follows_the_largest_face(root, tmp_path):
    # in every frame the face mesh's own detector misses the faces: each is found in a crop
    image = group()
    video = make_face_video(tmp_path / "group.mp4", seconds=1.0, fps=25.0, source_image=image)
    avatar = prepare_avatar(video, "group-video", cache_root=root, progress=False)
    with FaceMeshDetector() as detector:
        still = detector.detect(image, thorough=True).points
    truth = np.stack([cv2.transform(still[None], m)[0] for m in head_motion(25, 25.0, (1280, 720))])
    error = np.linalg.norm(avatar.landmarks - truth, axis=-1)
    assert avatar.n_frames == 25 and np.median(error) < 0.03 * inter_ocular(still), np.median(error)


def test_small_face_is_prepared_with_a_warning_naming_its_size(root, tmp_path, capsys):
    avatar = prepare_avatar(write_face("thumbnail", tmp_path), "thumbnail", cache_root=root, progress=False)
    err = capsys.readouterr().err
    eyes = inter_ocular(avatar.landmarks[0])
    assert avatar.size == (112, 112) and MIN_INTER_OCULAR <= eyes < GOOD_INTER_OCULAR
    assert f"the face is small (eyes {eyes:.0f} px apart, about {face_width(avatar.landmarks[0]):.0f} px across)" in err
    assert f"at least {GOOD_INTER_OCULAR:.0f} px apart" in err and err.count("\n") == 1
    assert any("the face is small" in note for note in read_meta(root / "thumbnail")["notes"])


def test_a_face_turned_far_to_the_side_is_prepared_with_a_warning(root, tmp_path, capsys):
    path = tmp_path / "profile.png"
    cv2.imwrite(str(path), turned(60))
    avatar = prepare_avatar(path, "profile", cache_root=root, progress=False)
    err = capsys.readouterr().err
    widths = eye_widths(avatar.landmarks[0])
    assert widths < GOOD_EYE_WIDTHS
    assert f"the face is turned far to the side (its far eye looks {widths:.2f} as wide as the near one)" in err
    assert "less than about 45 degrees" in err and err.count("\n") == 1
    # the harder faces' 25 degrees is no such face
    prepare_avatar(write_face("turned", tmp_path), "turned", cache_root=root, progress=False)
    assert capsys.readouterr().err == ""


def test_no_face(root):
    with pytest.raises(LivehumanError, match=r"no face found in .*coffee\.png"):
        prepare_avatar(no_face_path(), "cup", cache_root=root, progress=False)
    assert "cup" not in list_avatars(root)


def test_face_too_small(root, tmp_path):
    path = tmp_path / "tiny.png"
    cv2.imwrite(str(path), cv2.resize(read(grace_hopper_path()), (100, 117), interpolation=cv2.INTER_AREA))
    with pytest.raises(LivehumanError, match=rf"too small.*at least {MIN_INTER_OCULAR:.0f} px"):
        prepare_avatar(path, "tiny", cache_root=root, progress=False)
    with pytest.raises(LivehumanError, match=rf"too small to animate: its eyes are 1\d px apart, at least {MIN_INTER_OCULAR:.0f}"):
        prepare_avatar(write_face("tiny", tmp_path), "tiny", cache_root=root, progress=False)
    assert "tiny" not in list_avatars(root)


def test_failed_prepare_keeps_the_old_avatar(root, grace):
    with pytest.raises(LivehumanError):
        prepare_avatar(no_face_path(), "grace", cache_root=root, progress=False, force=True)
    assert np.array_equal(read_avatar(root / "grace").frames, grace.frames)


@pytest.fixture(scope="module")
def face_and_cup(video30):
    from helpers_avatar import decode_all

    frames, _ = decode_all(video30)
    cup = cv2.resize(read(no_face_path()), (512, 512))
    return frames, cup


def test_short_gap_is_interpolated(root, tmp_path, face_and_cup, capsys):
    frames, cup = face_and_cup
    sequence = list(frames[:20])
    sequence[9] = sequence[10] = cup  # 2 frames (67 ms) where the face is hidden
    path = write_video(tmp_path / "gap.mp4", sequence, 30.0)
    avatar = prepare_avatar(path, "gap", fps=30.0, cache_root=root, progress=False)
    assert avatar.n_frames == 20 and not np.isnan(avatar.landmarks).any()
    nose = avatar.landmarks[:, NOSE_TIP]
    assert np.linalg.norm(nose[9] - (2 * nose[8] + nose[11]) / 3) < 2.5
    assert "interpolated" in capsys.readouterr().err


def test_faceless_ends_are_left_out(root, tmp_path, face_and_cup):
    frames, cup = face_and_cup
    sequence = [cup] * 5 + list(frames[:20]) + [cup] * 3
    path = write_video(tmp_path / "ends.mp4", sequence, 25.0)
    avatar = prepare_avatar(path, "ends", cache_root=root, progress=False)
    assert avatar.n_frames == 20
    assert np.array_equal(avatar.frames[0], read_avatar(root / "ends").frames[0])
    assert "first 5 and the last 3" in " ".join(read_meta(root / "ends")["notes"])


def test_across_a_long_gap_the_longest_stretch_with_a_face_is_kept_and_said(root, tmp_path, face_and_cup):
    frames, cup = face_and_cup
    # 1 s of face, 1 s without (the person turned away), 1.2 s of face with a short gap in it
    later = list(frames[25:55])
    later[10] = cup
    path = write_video(tmp_path / "long_gap.mp4", list(frames[:25]) + [cup] * 25 + later, 25.0)
    avatar = prepare_avatar(path, "long_gap", cache_root=root, progress=False)
    assert avatar.n_frames == 30 and not np.isnan(avatar.landmarks).any()
    from helpers_avatar import decode_all

    decoded, _ = decode_all(path)
    assert np.array_equal(avatar.frames[0], decoded[50]) and np.array_equal(avatar.frames[-1], decoded[79])
    notes = " ".join(read_meta(root / "long_gap")["notes"])
    assert "no face from 1.00 s to 2.00 s" in notes and "from 2.00 s to 3.20 s (30 frames)" in notes
    assert "interpolated" in notes  # the short gap inside what is kept


def test_no_stretch_with_a_face_long_enough_is_refused(root, tmp_path, face_and_cup):
    frames, cup = face_and_cup
    sequence = list(frames[:20]) + [cup] * 25 + list(frames[20:40]) + [cup] * 20 + list(frames[40:50])
    path = write_video(tmp_path / "flicker.mp4", sequence, 25.0)
    with pytest.raises(LivehumanError, match=r"no face found in .* from 0\.80 s to 1\.80 s, from 2\.60 s to 3\.40 s "
                                             r"\(more than 0\.5 s\), and no stretch with a face lasts 1 s"):
        prepare_avatar(path, "flicker", cache_root=root, progress=False)


def test_progress_bar_on_stderr(root, video30, capsys):
    prepare_avatar(video30, "bar", cache_root=root, progress=True)
    err = capsys.readouterr().err
    assert "preparing bar" in err and "/50 [" in err and "frame/s" in err  # a count of 50 with rate and ETA


def test_default_avatar_is_built_on_first_use(tmp_path):
    avatar = load_avatar(DEFAULT_NAME, cache_root=tmp_path)
    assert avatar.name == DEFAULT_NAME and avatar.kind == "photo" and avatar.size == (512, 512)
    assert list_avatars(tmp_path) == [DEFAULT_NAME]
    x0, y0, x1, y1 = avatar.boxes[0]
    # a head-and-shoulders portrait: the face is centred, takes a fair part of the picture, and has room below
    assert 200 < (x0 + x1) / 2 < 312 and 150 < x1 - x0 < 300 and avatar.landmarks[0, CHIN, 1] < 400
    _check_face_geometry(avatar.landmarks[0], avatar.boxes[0], haar_face(avatar.frames[0]))
    again = default_avatar(cache_root=tmp_path)
    assert np.array_equal(again.frames, avatar.frames)
    assert not (tmp_path / ".sources").name in list_avatars(tmp_path)


def test_cache_root_from_environment(tmp_path, monkeypatch):
    from livehuman.avatar.cache import avatar_root

    monkeypatch.setenv("LIVEHUMAN_HOME", str(tmp_path))
    assert avatar_root() == tmp_path / "avatars"
    monkeypatch.delenv("LIVEHUMAN_HOME")
    assert avatar_root() == __import__("pathlib").Path.home() / ".cache" / "livehuman" / "avatars"


def test_large_video_frames_are_stored_as_jpeg(root, tmp_path, monkeypatch, video_avatar):
    from livehuman.avatar import store

    monkeypatch.setattr(store, "FRAMES_NPY_MAX_BYTES", 1 << 20)
    avatar = prepare_avatar(tmp_path_video := make_face_video(tmp_path / "v.mp4", 1.0, 25.0), "jpeg", cache_root=root, progress=False)
    assert read_meta(root / "jpeg")["frames_format"] == "jpg"
    assert len(os.listdir(root / "jpeg" / "frames")) == 25
    loaded = read_avatar(root / "jpeg")
    assert loaded.frames.shape == avatar.frames.shape
    psnr = 10 * np.log10(255**2 / np.mean((loaded.frames.astype(float) - avatar.frames) ** 2))
    assert psnr > 38 and tmp_path_video.exists()


def test_load_at_another_fps(root, video_avatar, grace):
    again = load_avatar("video", fps=30.0, cache_root=root)
    assert again.fps == 30.0 and again.n_frames == 60 and read_meta(root / "video")["fps"] == 30.0
    photo = load_avatar("grace", fps=30.0, cache_root=root)
    assert photo.fps == 30.0 and photo.n_frames == 1 and read_meta(root / "grace")["fps"] == 25.0


def test_cache_from_another_version_is_prepared_again(root, grace):
    meta_path = root / "grace" / "meta.json"
    meta = json.loads(meta_path.read_text())
    meta_path.write_text(json.dumps({**meta, "version": 0}))
    with pytest.raises(LivehumanError, match="another livehuman version"):
        read_avatar(root / "grace")
    avatar = load_avatar("grace", cache_root=root)
    assert read_meta(root / "grace")["version"] == meta["version"] and avatar.n_frames == 1


def test_large_photo_is_detected_scaled_down_and_mapped_back(root, tmp_path, grace):
    path = tmp_path / "large.png"
    cv2.imwrite(str(path), cv2.resize(read(grace_hopper_path()), (1600, 1875), interpolation=cv2.INTER_CUBIC))
    avatar = prepare_avatar(path, "large", cache_root=root, progress=False)
    assert avatar.size == (1600, 1875)
    expected = grace.landmarks[0] * np.array([1600 / 512, 1875 / 600], dtype=np.float32)
    eyes = np.linalg.norm(expected[263] - expected[33])
    assert np.median(np.linalg.norm(avatar.landmarks[0] - expected, axis=-1)) < 0.03 * eyes


def test_source_errors_reach_the_caller_through_prepare(root, tmp_path):
    cv2.imwrite(str(tmp_path / "1.png"), read(grace_hopper_path()))
    cv2.imwrite(str(tmp_path / "2.png"), read(astronaut_path()))
    with pytest.raises(LivehumanError, match="differ in size"):
        prepare_avatar(tmp_path, "mixed", cache_root=root, progress=False)
    with pytest.raises(LivehumanError, match="not found"):
        prepare_avatar(tmp_path / "missing.mp4", "missing", cache_root=root, progress=False)
    assert "mixed" not in list_avatars(root) and "missing" not in list_avatars(root)
    assert not [p for p in root.iterdir() if ".tmp-" in p.name]


@pytest.mark.slow
def test_two_processes_preparing_one_avatar_do_it_once(tmp_path, video30):
    import subprocess
    import sys

    script = (
        "import sys\n"
        "from livehuman.avatar.prepare import prepare_avatar\n"
        "from livehuman.avatar.cache import read_meta\n"
        "a = prepare_avatar(sys.argv[1], 'shared', cache_root=sys.argv[2], progress=False)\n"
        "print(read_meta(a.directory)['prepared_at'], a.n_frames, a.directory.stat().st_ino)\n"
    )
    runs = [
        subprocess.Popen([sys.executable, "-c", script, str(video30), str(tmp_path)], stdout=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    outputs = [run.communicate(timeout=120)[0].split() for run in runs]
    assert [run.returncode for run in runs] == [0, 0]
    assert outputs[0] == outputs[1]  # the second found the first's avatar, the same folder
    assert outputs[0][1] == "50"
