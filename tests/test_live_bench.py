"""`livehuman bench live`, run short inside a namespace of its own: every figure it promises, and its plot."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import cv2

from netns import NetNamespace


def test_bench_live_reports_every_figure_and_plots_them(tmp_path):
    png = tmp_path / "live.png"
    command = [str(Path(sys.executable).parent / "livehuman"), "bench", "live", "--json", "--turns", "1",
               "--max-sessions", "1", "--seconds", "3", "--drift-minutes", "0.5", "--plot", str(png)]
    with NetNamespace() as ns:  # the bench's server and clients talk over this namespace's loopback
        run = subprocess.run(ns.command(command), capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    results = json.loads(run.stdout)
    # One question and the question that barges into its answer: two turns, one barge-in.
    assert results["response_turns"] == 2 and len(results["response_latency_turns_ms"]) == 2
    assert all(x > 0 for x in results["response_latency_turns_ms"])
    assert results["response_latency_p50_ms"] <= results["response_latency_p95_ms"]
    assert len(results["barge_in_client_turns_ms"]) == 1 and len(results["barge_in_server_turns_ms"]) == 1
    for key in ("server_asr_final_p50_ms", "server_first_audio_p50_ms", "server_first_frame_p50_ms",
                "sessions_1_fps_min", "sessions_1_server_cpu_per_session", "av_offset_p50_ms"):
        assert key in results, key
    assert results["sessions_1_fps_min"] > 10  # media flowed (the cores are shared: no speed claim)
    assert results["sessions_at_25fps"] in (0, 1)
    # Half a minute of one session: the timelines' first and last 20 s compared (they overlap here).
    assert results["drift_questions"] >= 2
    for key in ("drift_audio_ms", "drift_video_ms", "drift_av_ms"):
        assert abs(results[key]) < 1000, (key, results[key])  # measured, finite (no figure is promised here)
    assert results["plot"] == str(png)
    image = cv2.imread(str(png))
    assert image is not None and image.shape == (336, 1200, 3)  # three panels, 15 × 4.2 in at 80 dpi
    assert image.std() > 20  # drawn, not blank


def test_a_plot_that_cannot_be_written_is_refused_before_measuring(tmp_path):
    livehuman = str(Path(sys.executable).parent / "livehuman")
    run = subprocess.run([livehuman, "bench", "live", "--plot", str(tmp_path / "missing" / "live.png")],
                         capture_output=True, text=True, timeout=60)
    assert run.returncode != 0
    assert run.stderr.strip().splitlines() == [f"livehuman: error: cannot write the plot to {tmp_path}/missing/live.png: its folder does not exist"]
