"""Time `livehuman prepare` on a 10 s, 25 fps, 512x512 face video (target: at most 10 s in all).

Run: .venv/bin/python bench/bench_prepare.py [--seconds 10] [--fps 25] [--json]
The video is a real face (the default portrait) with synthetic head motion (avatar.default.make_face_video).
Each figure is measured in a fresh process, so imports and model start-up count, as they do for a user;
the best of --runs is shown, with the CPU time that process used (steadier when other jobs share the cores).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--fps", type=float, default=25.0)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    from livehuman.avatar.default import make_face_video

    with tempfile.TemporaryDirectory() as folder:
        video = make_face_video(Path(folder) / "face.mp4", args.seconds, args.fps)
        runs = []
        for _ in range(args.runs):
            before = os.times()
            out = subprocess.run(
                [sys.executable, "-c", CHILD, str(video), str(args.fps), str(Path(folder) / "cache")],
                capture_output=True, text=True, check=True,
            ).stdout.split()
            after = os.times()
            cpu = (after.children_user - before.children_user) + (after.children_system - before.children_system)
            runs.append((float(out[0]), float(out[1]), int(out[2]), cpu))
        frames_format = json.loads((Path(folder) / "cache" / "bench" / "meta.json").read_text())["frames_format"]
    best = min(runs)
    result = {
        "video": f"{args.seconds:g} s, {args.fps:g} fps, 512x512",
        "frames": best[2],
        "prepare_s": round(best[0], 2),
        "prepare_s_runs": [round(r[0], 2) for r in runs],
        "cpu_s": round(best[3], 2),  # CPU seconds of the whole process, less sensitive to other jobs
        "load_s": round(best[1], 3),
        "frames_format": frames_format,
        "target_s": 10.0,
    }
    if args.json:
        print(json.dumps(result))
    else:
        print(
            f"prepare {result['video']}: {result['prepare_s']:.2f} s in a fresh process (runs: "
            f"{', '.join(map(str, result['prepare_s_runs']))}; target {result['target_s']:.0f} s), "
            f"{best[2] / best[0]:.0f} frames/s, {result['cpu_s']:.2f} CPU s; load from cache ({frames_format}): {result['load_s']:.3f} s"
        )


if __name__ == "__main__":
    main()
