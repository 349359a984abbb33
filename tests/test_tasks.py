"""MuseTalk-style task files for batch renders."""

from __future__ import annotations

import pytest

from livehuman.errors import LivehumanError
from livehuman.render.tasks import load_tasks


def test_reads_musetalk_shape_relative_to_the_file(tmp_path):
    (tmp_path / "tasks.yaml").write_text(
        "task_0:\n  video_path: faces/a.mp4\n  audio_path: /abs/a.wav\n  bbox_shift: -7\n  result_name: first\n"
        "task_1:\n  video_path: b.png\n  audio_path: b.mp3\n"
    )
    first, second = load_tasks(tmp_path / "tasks.yaml")
    assert first.name == "task_0" and first.bbox_shift == -7 and first.result_name == "first.mp4"
    assert first.video_path == str(tmp_path / "faces/a.mp4") and first.audio_path == "/abs/a.wav"
    assert second.bbox_shift == 0 and second.result_name == "b_b.mp4"


@pytest.mark.parametrize(
    "text, message",
    [
        ("", "holds no tasks"),
        ("task_0: {audio_path: a.wav}", "needs video_path and audio_path"),
        ("task_0: {video_path: a.mp4, audio_path: a.wav, bbox_shift: up}", "whole number"),
        ("task_0: [unclosed", "not valid YAML"),
        ("task_0: {video_path: a.mp4, audio_path: a.wav, bbox_shift: .inf}", "whole number"),
        ("task_0: {video_path: a.mp4, audio_path: a.wav, result_name: ../../escaped.mp4}", "must be a file name"),
        ("task_0: {video_path: a.mp4, audio_path: a.wav, result_name: /tmp/abs.mp4}", "must be a file name"),
        ("task_0: {video_path: a.mp4, audio_path: a.wav, result_name: same}\n"
         "task_1: {video_path: b.mp4, audio_path: b.wav, result_name: same.mp4}", "both name their result"),
    ],
)
def test_bad_task_files_say_what_is_wrong(tmp_path, text, message):
    path = tmp_path / "tasks.yaml"
    path.write_text(text)
    with pytest.raises(LivehumanError, match=message):
        load_tasks(path)


def test_missing_file(tmp_path):
    with pytest.raises(LivehumanError, match="not found"):
        load_tasks(tmp_path / "nope.yaml")


def test_tasks_on_the_same_video_and_audio_keep_each_result(tmp_path):
    """A bbox_shift sweep over one video and one audio (MuseTalk's way): the default names would be
    one file, each task overwriting the last; the later ones are named after their task."""
    (tmp_path / "tasks.yaml").write_text("".join(
        f"task_{k}: {{video_path: face.mp4, audio_path: speech.wav, bbox_shift: {k}}}\n" for k in range(3)))
    assert [t.result_name for t in load_tasks(tmp_path / "tasks.yaml")] == [
        "face_speech.mp4", "face_speech_task_1.mp4", "face_speech_task_2.mp4"]
