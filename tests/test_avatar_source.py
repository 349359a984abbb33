"""Reading avatar sources: photos, videos at any frame rate, image folders, and every bad input."""

from __future__ import annotations

import subprocess

import cv2
import numpy as np
import pytest

from helpers_avatar import astronaut_path, decode_all, read, write_video
from livehuman.avatar import source as source_module
from livehuman.avatar.default import grace_hopper_path, head_motion, make_face_video
from livehuman.avatar.source import MAX_SIDE, open_source, read_source
from livehuman.errors import LivehumanError


@pytest.fixture(scope="module")
def grace():
    return read(grace_hopper_path())


@pytest.fixture(scope="module")
def video30(tmp_path_factory):
    """2 s of a real face moving slightly, at 30 fps."""
    return make_face_video(tmp_path_factory.mktemp("v") / "face30.mp4", seconds=2.0, fps=30.0)


def test_photo_is_one_frame_as_opencv_reads_it(grace):
    kind, frames, notes = read_source(grace_hopper_path())
    assert kind == "photo" and frames.shape == (1, 600, 512, 3) and frames.dtype == np.uint8
    assert np.array_equal(frames[0], grace)
    assert notes == []


@pytest.mark.parametrize("ext", [".webp", ".bmp", ".png", ".JPEG"])
def test_photo_formats(tmp_path, grace, ext):
    path = tmp_path / f"grace{ext}"
    cv2.imwrite(str(path.with_suffix(ext.lower())), grace, [cv2.IMWRITE_WEBP_QUALITY, 101])
    if ext != ext.lower():
        path.with_suffix(ext.lower()).rename(path)
    kind, frames, _ = read_source(path)
    assert kind == "photo" and frames.shape == (1, 600, 512, 3)
    # lossless formats give the photo back exactly; JPEG nearly
    assert np.abs(frames[0].astype(int) - grace).mean() < (3 if ext.lower() == ".jpeg" else 0.01)


@pytest.mark.parametrize("depth", [np.uint8, np.uint16])
def test_a_cut_out_portraits_transparent_background_is_white_and_said(tmp_path, grace, depth):
    # A cut-out: opaque in an oval around the face, transparent (its hidden colour black) outside,
    # half transparent on the oval's edge.
    height, width = grace.shape[:2]
    alpha = np.zeros((height, width), np.uint8)
    cv2.ellipse(alpha, (width // 2, height // 2 - 40), (170, 230), 0, 0, 360, 255, -1)
    edge = cv2.dilate(alpha, np.ones((9, 9), np.uint8)) - alpha
    rgba = np.dstack([grace * (alpha[..., None] > 0), np.where(edge > 0, 128, alpha)]).astype(np.uint8)
    scale = 257 if depth is np.uint16 else 1
    cv2.imwrite(str(tmp_path / "cutout.png"), rgba.astype(depth) * scale)

    kind, frames, notes = read_source(tmp_path / "cutout.png")
    frame = frames[0].astype(int)
    inside, outside, half = alpha > 0, (alpha == 0) & (edge == 0), edge > 0
    assert np.array_equal(frame[inside], grace[inside])  # the face untouched
    assert (frame[outside] == 255).all()  # not the hidden black
    assert np.abs(frame[half] - 127.5).max() <= 1  # black half over white: mid-grey
    assert any("transparent" in note for note in notes)


def test_an_opaque_alpha_channel_changes_nothing(tmp_path, grace):
    cv2.imwrite(str(tmp_path / "opaque.png"), np.dstack([grace, np.full(grace.shape[:2], 255, np.uint8)]))
    _, frames, notes = read_source(tmp_path / "opaque.png")
    assert np.array_equal(frames[0], grace) and notes == []


def test_video_30fps_is_resampled_to_25_by_nearest_frame(video30):
    source_frames, times = decode_all(video30)
    assert len(source_frames) == 60
    reader = open_source(video30, fps=25.0)
    assert reader.kind == "video" and reader.expected_frames == 50
    frames = reader.read()
    assert frames.shape == (50, 512, 512, 3)
    for k, frame in enumerate(frames):
        nearest = int(np.argmin(np.abs(times - k / 25.0)))
        assert np.array_equal(frame, source_frames[nearest]), k
    # the picks really skip one source frame in six
    picks = [int(np.argmin(np.abs(times - k / 25.0))) for k in range(50)]
    assert len(set(picks)) == 50 and picks[-1] == 59


def test_slow_video_is_upsampled_by_repeating_frames(tmp_path):
    path = make_face_video(tmp_path / "face10.mp4", seconds=1.0, fps=10.0)
    source_frames, times = decode_all(path)
    frames = read_source(path, fps=25.0)[1]
    assert len(frames) == 25
    for k, frame in enumerate(frames):
        assert np.array_equal(frame, source_frames[int(np.argmin(np.abs(times - k / 25.0)))])
    assert len({frame.tobytes() for frame in frames}) == 10


def test_rotated_phone_video_is_turned_upright(tmp_path, video30):
    rotated = tmp_path / "rotated.mp4"
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-i", str(video30), "-c", "copy", "-metadata:s:v:0", "rotate=90", str(rotated)],
        check=True,
    )
    upright = read_source(video30)[1][0]
    turned = read_source(rotated)[1][0]
    # rotate=90 means "display turned 90 degrees clockwise", as ffmpeg plays it
    assert np.array_equal(turned, cv2.rotate(upright, cv2.ROTATE_90_COUNTERCLOCKWISE)) or np.array_equal(
        turned, np.ascontiguousarray(np.rot90(upright))
    )
    assert not np.array_equal(turned, upright)


def test_folder_is_sorted_in_natural_order(tmp_path, grace):
    folder = tmp_path / "frames"
    folder.mkdir()
    expected = []
    for k, matrix in enumerate(head_motion(12, 25.0, (512, 600), amount=3.0)):
        image = cv2.warpAffine(grace, matrix, (512, 600), borderMode=cv2.BORDER_REFLECT101)
        cv2.imwrite(str(folder / f"frame{k + 1}.png"), image)
        expected.append(image)
    (folder / "notes.txt").write_text("not an image")
    (folder / ".hidden.png").write_bytes(b"")
    reader = open_source(folder)
    assert reader.kind == "images" and reader.expected_frames == 12
    frames = reader.read()
    assert np.array_equal(frames, np.stack(expected))  # frame2 before frame10


def test_large_photo_is_scaled_down_and_said(tmp_path, grace):
    path = tmp_path / "big.png"
    cv2.imwrite(str(path), cv2.resize(grace, (2048, 2400)))
    kind, frames, notes = read_source(path)
    assert frames.shape == (1, MAX_SIDE, round(2048 * MAX_SIDE / 2400), 3)
    assert len(notes) == 1 and "2048x2400" in notes[0] and str(MAX_SIDE) in notes[0]


def test_long_video_is_cut_and_said(video30, monkeypatch):
    monkeypatch.setattr(source_module, "MAX_SECONDS", 1.0)
    reader = open_source(video30, fps=25.0)
    frames = reader.read()
    assert len(frames) == 25
    assert any("first 25 frames" in note for note in reader.notes)


# ---- bad input: one clear line each


def _error(path, fps=25.0) -> str:
    with pytest.raises(LivehumanError) as info:
        read_source(path, fps)
    message = str(info.value)
    assert "\n" not in message
    return message


def test_missing_path(tmp_path):
    assert "not found" in _error(tmp_path / "nobody.jpg")


def test_text_file_is_not_media(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("hello, this is not a video\n" * 20)
    message = _error(path)
    assert "not a photo" in message and "notes.txt" in message


def test_text_file_named_like_a_video(tmp_path):
    path = tmp_path / "fake.mp4"
    path.write_text("hello, this is not a video\n" * 20)
    assert "cannot read" in _error(path)


def test_damaged_image(tmp_path):
    data = grace_hopper_path().read_bytes()
    path = tmp_path / "broken.jpg"
    path.write_bytes(b"\x00" * 64 + data[2000:6000])
    message = _error(path)
    assert "cannot read image" in message and "broken.jpg" in message


def test_empty_file(tmp_path):
    path = tmp_path / "empty.mp4"
    path.touch()
    assert "empty" in _error(path)


def test_audio_file_is_not_a_video(tmp_path):
    path = tmp_path / "speech.wav"
    subprocess.run(["espeak-ng", "-w", str(path), "hello there"], check=True)
    message = _error(path)
    assert "audio file" in message
    # an MP3 with a face as its cover art is still an audio file
    mp3 = tmp_path / "song.mp3"
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-i", str(path), "-i", str(grace_hopper_path()), "-map", "0", "-map", "1",
         "-c:a", "libmp3lame", "-c:v", "mjpeg", "-disposition:v", "attached_pic", str(mp3)],
        check=True,
    )
    assert "audio file" in _error(mp3)


def test_video_with_no_frames(tmp_path, video30):
    empty = tmp_path / "noframes.mp4"
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "color=c=gray:s=64x64:d=1", "-frames:v", "0",
         "-c:v", "libx264", str(empty)],
        check=True,
    )
    assert "no video" in _error(empty)
    # the same container and index as a good video, but every frame's data wiped
    data = bytearray(video30.read_bytes())
    at = data.find(b"mdat")
    size = int.from_bytes(data[at - 4 : at], "big")
    data[at + 4 : at - 4 + size] = bytes(size - 8)
    wiped = tmp_path / "wiped.mp4"
    wiped.write_bytes(bytes(data))
    message = _error(wiped)
    assert "cannot decode any frame" in message and "damaged" in message


def test_empty_folder(tmp_path):
    (tmp_path / "readme.txt").write_text("no images here")
    message = _error(tmp_path)
    assert "no images in folder" in message


def test_folder_with_mixed_sizes(tmp_path, grace):
    cv2.imwrite(str(tmp_path / "001.png"), grace)
    cv2.imwrite(str(tmp_path / "002.png"), read(astronaut_path()))
    message = _error(tmp_path)
    assert "differ in size" in message and "512x600" in message and "512x512" in message


def test_bad_fps(video30):
    assert "fps" in _error(video30, fps=0)
    assert "fps" in _error(video30, fps=1000)


def test_cut_short_video_keeps_what_decodes_and_says_so(tmp_path, video30):
    whole = tmp_path / "faststart.mp4"  # index first, as for streaming: a cut file still opens
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(video30), "-c", "copy", "-movflags", "+faststart", str(whole)], check=True)
    data = whole.read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: len(data) // 2])
    reader = open_source(cut)
    frames = reader.read()
    assert 0 < len(frames) < 50
    assert any("cut short" in note for note in reader.notes)


def test_write_video_helper_roundtrip(tmp_path, grace):
    frames = [grace[:600:2, ::2].copy() for _ in range(3)]
    path = write_video(tmp_path / "three.mp4", frames, 25)
    assert len(read_source(path)[1]) == 3
