"""`livehuman bench prepare`: `livehuman prepare` of a 10 s, 25 fps, 512x512 face video (target: at most 10 s in all).

Run: livehuman bench prepare [--seconds 10] [--fps 25] [--runs 3] [--json]
The video is a real face (the default portrait) with synthetic head motion (avatar.default.make_face_video).
Each figure is measured in a fresh process, so imports and model start-up count, as they do for a user;
the best of --runs is shown, with the CPU time that process used (steadier when other jobs share the cores).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from livehuman.bench.options import PrepareOptions, from_args

CHILD = """
import sys, time
started = time.perf_counter()
from livehuman.avatar.prepare import prepare_avatar
from livehuman.avatar.cache import read_avatar
avatar = prepare_avatar(sys.argv[1], "bench", fps=float(sys.argv[2]), cache_root=sys.argv[3], force=True, progress=False)
prepared = time.perf_counter() - started
started = time.perf_counter()
read_avatar(avatar.directory)
print(prepared, time.perf_counter() - started, avatar.n_frames)
"""


def bench_prepare(options: PrepareOptions | None = None) -> dict:
    """The best of `runs` preparations, each in a fresh process, and the load from the cache."""
    from livehuman.avatar.default import make_face_video

    o = options or PrepareOptions()
    with tempfile.TemporaryDirectory() as folder:
        video = make_face_video(Path(folder) / "face.mp4", o.seconds, o.fps)
        runs = []
        for _ in range(o.runs):
            before = os.times()
            out = subprocess.run(
                [sys.executable, "-c", CHILD, str(video), str(o.fps), str(Path(folder) / "cache")],
                capture_output=True, text=True, check=True,
            ).stdout.split()
            after = os.times()
            cpu = (after.children_user - before.children_user) + (after.children_system - before.children_system)
            runs.append((float(out[0]), float(out[1]), int(out[2]), cpu))
        frames_format = json.loads((Path(folder) / "cache" / "bench" / "meta.json").read_text())["frames_format"]
    best = min(runs)
    return {
        "video": f"{o.seconds:g} s, {o.fps:g} fps, 512x512",
        "frames": best[2],
        "prepare_s": round(best[0], 2),
        "prepare_s_runs": [round(r[0], 2) for r in runs],
        "frames_per_s": round(best[2] / best[0], 1),
        "cpu_s": round(best[3], 2),  # CPU seconds of the whole process, less sensitive to other jobs
        "load_s": round(best[1], 3),
        "frames_format": frames_format,
        "target_s": 10.0,
    }


def bench_prepare_from_args(args) -> dict:
    """`livehuman bench prepare [--seconds S] [--fps F] [--runs N]`."""
    return bench_prepare(from_args(PrepareOptions, args))


if __name__ == "__main__":
    from livehuman.bench import run_as_script

    run_as_script("prepare")
