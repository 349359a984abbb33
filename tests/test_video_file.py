"""The MP4 transport: H.264 + AAC, audio and video of one length, nothing left behind on failure."""

from __future__ import annotations

import av
import numpy as np
import pytest

from livehuman.errors import LivehumanError
from livehuman.render.video_file import Mp4Writer


def _tone(seconds: float, rate: int) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32)


def test_writes_h264_and_aac_of_equal_length(tmp_path):
    path = tmp_path / "out.mp4"
    fps, rate, n = 25, 22050, 50
    frame = np.zeros((64, 96, 3), np.uint8)
    with Mp4Writer(path, 96, 64, fps, rate) as writer:
        for k in range(n):
            frame[:] = (k * 5) % 255
            writer.write_frame(frame)
        writer.write_audio(_tone(n / fps, rate))
    with av.open(str(path)) as container:
        video, audio = container.streams.video[0], container.streams.audio[0]
        assert video.codec_context.name == "h264" and audio.codec_context.name == "aac"
        frames = list(container.decode(video))
        assert len(frames) == n
        assert (frames[0].width, frames[0].height) == (96, 64)
        container.seek(0)
        samples = np.concatenate([f.to_ndarray().ravel() for f in container.decode(audio)])
    # AAC's priming samples are trimmed by the MP4 edit list: the audio lasts as long as the video
    assert abs(len(samples) / rate - n / fps) < 0.05
    # and the tone survives the encoder (the content, not just the length)
    spectrum = np.abs(np.fft.rfft(samples[: rate // 2]))
    assert abs(np.argmax(spectrum) * 2 - 220) <= 4


def test_colours_and_a_face_come_back_as_they_were_drawn(tmp_path):
    from livehuman.avatar.default import default_portrait

    face = default_portrait()[128:384, 128:384]
    frame = face.copy()
    patches = [(255, 0, 0), (0, 255, 0), (0, 0, 255), (90, 140, 200), (30, 30, 30)]  # BGR: blue, green, red, skin, dark
    for i, colour in enumerate(patches):
        frame[16 : 48, 16 + 48 * i : 48 + 48 * i] = colour
    path = tmp_path / "colours.mp4"
    with Mp4Writer(path, 256, 256, 25, None) as writer:
        writer.write_frame(frame)
    with av.open(str(path)) as container:
        out = next(container.decode(video=0)).to_ndarray(format="bgr24").astype(float)
    for i, colour in enumerate(patches):
        got = out[24 : 40, 24 + 48 * i : 40 + 48 * i].reshape(-1, 3).mean(0)
        assert np.abs(got - colour).max() < 8, (colour, got)
    rest = np.ones(frame.shape[:2], bool)
    rest[:64] = False
    error = out[rest] - frame[rest]  # the face: the encoder's loss, no shift of its colours
    assert np.abs(error).mean() < 6 and np.abs(error.mean(0)).max() < 2.5


@pytest.mark.parametrize("rate", [22050, 44056])  # (44056: resampled to 48 kHz)
def test_audio_written_in_pieces_is_the_audio_written_whole(tmp_path, rate):
    tone = _tone(1.3, rate) * np.linspace(0.2, 1.0, int(1.3 * rate), dtype=np.float32)
    decoded = []
    for name, pieces in (("whole", [tone]), ("pieces", np.array_split(tone, np.arange(0, len(tone), 882)[1:]))):
        path = tmp_path / f"{name}.mp4"
        with Mp4Writer(path, 64, 64, 25, rate) as writer:
            writer.write_frame(np.zeros((64, 64, 3), np.uint8))
            for piece in pieces:
                writer.write_audio(piece)
        with av.open(str(path)) as container:
            decoded.append(np.concatenate([f.to_ndarray().ravel() for f in container.decode(audio=0)]))
    assert len(decoded[0]) > 0.9 * 1.3 * min(rate, 48000)
    assert np.array_equal(decoded[0], decoded[1])


def test_odd_sizes_are_cropped_to_even(tmp_path):
    path = tmp_path / "odd.mp4"
    with Mp4Writer(path, 97, 65, 25, None) as writer:
        writer.write_frame(np.full((65, 97, 3), 128, np.uint8))
    with av.open(str(path)) as container:
        frame = next(container.decode(video=0))
    assert (frame.width, frame.height) == (96, 64)


def test_failure_leaves_no_file(tmp_path):
    path = tmp_path / "broken.mp4"
    with pytest.raises(RuntimeError):
        with Mp4Writer(path, 32, 32, 25, 16000) as writer:
            writer.write_frame(np.zeros((32, 32, 3), np.uint8))
            raise RuntimeError("the engine failed")
    assert list(tmp_path.iterdir()) == []


def test_rejects_other_extensions(tmp_path):
    with pytest.raises(LivehumanError, match=r"\.mp4"):
        Mp4Writer(tmp_path / "out.avi", 32, 32, 25, None)


def test_audio_at_a_rate_aac_cannot_take_is_resampled(tmp_path):
    """192 kHz (a studio recorder's) or an odd 12345 Hz: AAC takes neither; the tone arrives at 48 kHz."""
    for rate in (192000, 12345):
        path = tmp_path / f"r{rate}.mp4"
        with Mp4Writer(path, 32, 32, 25, rate) as writer:
            for _ in range(25):
                writer.write_frame(np.zeros((32, 32, 3), np.uint8))
            writer.write_audio(_tone(1.0, rate))
        with av.open(str(path)) as container:
            audio = container.streams.audio[0]
            assert audio.rate == 48000
            samples = np.concatenate([f.to_ndarray().ravel() for f in container.decode(audio)])
        assert abs(len(samples) / 48000 - 1.0) < 0.05
        spectrum = np.abs(np.fft.rfft(samples[:24000]))
        assert abs(np.argmax(spectrum) * 2 - 220) <= 4


def test_two_writers_to_one_path_do_not_share_their_unfinished_file(tmp_path):
    """Two renders to one output (two terminals, or two tasks' default names): each writes its own
    temporary file, and the output is whichever finished last, whole."""
    path = tmp_path / "same.mp4"
    first, second = Mp4Writer(path, 32, 32, 25, None), Mp4Writer(path, 32, 32, 25, None)
    for k in range(30):
        first.write_frame(np.full((32, 32, 3), 10, np.uint8))
        if k < 5:
            second.write_frame(np.full((32, 32, 3), 200, np.uint8))
    second.close()
    first.close()
    with av.open(str(path)) as container:
        frames = list(container.decode(video=0))
    assert len(frames) == 30 and frames[0].to_ndarray(format="gray").mean() < 50
    assert [p.name for p in tmp_path.iterdir()] == ["same.mp4"]


def test_a_write_that_fails_is_one_clear_error_and_leaves_nothing(tmp_path):
    path = tmp_path / "out.mp4"
    writer = Mp4Writer(path, 32, 32, 25, None)
    writer.write_frame(np.zeros((32, 32, 3), np.uint8))
    path.mkdir()  # a folder took the output's name meanwhile: the last step, the move, fails
    (path / "kept.txt").write_text("mine")
    with pytest.raises(LivehumanError, match=r"cannot write .*out\.mp4"):
        writer.close()
    assert [p.name for p in tmp_path.iterdir()] == ["out.mp4"] and (path / "kept.txt").read_text() == "mine"
