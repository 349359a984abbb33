"""Batch task files in the shape MuseTalk users know.

    task_0:
      video_path: data/video/yongen.mp4
      audio_path: data/audio/yongen.wav
      bbox_shift: -7          # optional
      result_name: out0.mp4   # optional
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

from livehuman.errors import LivehumanError


@dataclass
class RenderTask:
    """One video to render: an avatar source and the speech to put in its mouth."""

    name: str
    video_path: str
    audio_path: str
    bbox_shift: int = 0
    result_name: str = ""


def load_tasks(path: str | Path) -> list[RenderTask]:
    """Read a task file; paths inside it are relative to the file's folder."""
    path = Path(path)
    if not path.is_file():
        raise LivehumanError(f"task file {path} not found")
    try:
        data = yaml.safe_load(path.read_text())
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise LivehumanError(f"{path} is not valid YAML: {str(exc).splitlines()[0]}") from None
    if not isinstance(data, dict) or not data:
        raise LivehumanError(f"{path} holds no tasks: expected task_0: {{video_path: …, audio_path: …}}")
    tasks = []
    for name, spec in data.items():
        if not isinstance(spec, dict) or "video_path" not in spec or "audio_path" not in spec:
            raise LivehumanError(f"{path}: task {name!r} needs video_path and audio_path")
        try:
            bbox_shift = int(spec.get("bbox_shift", 0) or 0)
        except (TypeError, ValueError, OverflowError):
            raise LivehumanError(f"{path}: task {name!r} has a bbox_shift that is not a whole number") from None
        video, audio = _resolve(path.parent, spec["video_path"]), _resolve(path.parent, spec["audio_path"])
        given = spec.get("result_name")
        result = str(given or f"{Path(video).stem}_{Path(audio).stem}.mp4")
        if not result.endswith(".mp4"):
            result += ".mp4"
        if Path(result).name != result or result.startswith("."):
            raise LivehumanError(f"{path}: task {name!r}: result_name {result!r} must be a file name (results "
                                 f"are written in --result-dir)")
        taken = {task.result_name: task.name for task in tasks}
        if result in taken:
            if given:
                raise LivehumanError(f"{path}: tasks {taken[result]!r} and {name!r} both name their result "
                                     f"{result!r}: give each its own result_name")
            result = f"{result[:-4]}_{name}.mp4"  # the same video and audio again (a bbox_shift sweep, say)
        tasks.append(RenderTask(str(name), video, audio, bbox_shift, result))
    return tasks


def _resolve(folder: Path, value) -> str:
    path = Path(str(value))
    return str(path if path.is_absolute() else folder / path)
