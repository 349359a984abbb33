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
