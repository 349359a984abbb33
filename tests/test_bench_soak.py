"""`livehuman bench soak`, run short inside a namespace of its own: its figures, and nothing left behind."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from livehuman.bench.netns import NetNamespace


def soak(*args: str, timeout: float = 400) -> dict:
    command = [str(Path(sys.executable).parent / "livehuman"), "bench", "soak", "--json", *args]
    with NetNamespace() as ns:  # the bench's server and clients talk over this namespace's loopback
        run = subprocess.run(ns.command(command), capture_output=True, text=True, timeout=timeout)
    assert run.returncode == 0, run.stderr[-3000:]
    assert "CandidatePair" not in run.stderr  # aioice's ICE checks are not shown without --debug
    return json.loads(run.stdout)


@pytest.mark.netns
def test_bench_soak_reports_its_figures_and_the_server_lets_go_of_threads_and_descriptors(tmp_path):
    results = soak("--minutes", "0.75", "--sessions", "2", "--plot", str(tmp_path / "soak.png"))
    print(json.dumps({k: v for k, v in results.items() if k != "samples"}))  # shown when an assertion fails
    # Two clients, each at least once connected, asked and answered, hung up (a loaded machine may time one out).
    assert results["sessions_opened"] >= 2 and results["turns"] >= 2 and results["failures"] <= results["sessions_opened"] // 2
    assert 0 < results["response_latency_p50_ms"] <= max(results["response_latency_p95_first_half_ms"] or 0,
                                                         results["response_latency_p95_second_half_ms"] or 0)
    assert results["samples"] and all(s["rss_mb"] > 0 and s["threads"] > 0 and s["fds"] > 0 for s in results["samples"])
    # Once every session has gone, the server holds no more threads or descriptors than after the
    # first round. (Memory is reported, not asserted: a few sessions say little about its trend.)
    assert results["fds_end"] <= results["fds_start"] + 2
    assert results["threads_end"] <= results["threads_start"] + 2
    assert results["rss_growth_percent"] is not None
    # Each session's frame rate, and the latency's p95 in each sixth of the run.
    at_full, fps_counted = map(int, results["sessions_at_25fps"].split("/"))
    assert 1 <= fps_counted <= results["sessions_opened"] and 0 <= at_full <= fps_counted
    assert 0 < results["session_fps_min"] <= results["session_fps_p50"] < 40
    assert len(results["response_latency_p95_by_window_ms"]) == 6
    assert len(results["latencies"]) == results["turns"]
    # Each one an answer's: no question is timed to the previous answer's tail (the client's jitter
    # buffer alone holds 80 ms).
    assert min(ms for _, ms in results["latencies"]) >= 50, results["latencies"]
    assert results["worker_restarts"] == {"render": 0, "asr": 0, "phones": 0}  # nothing crashed
    assert (tmp_path / "soak.png").read_bytes()[:4] == b"\x89PNG"


@pytest.mark.netns
def test_sessions_opened_and_closed_in_a_row_are_each_timed_and_leave_nothing_behind(tmp_path):
    results = soak("--in-a-row", "6", "--plot", str(tmp_path / "row.png"))
    print(json.dumps(results))
    assert results["sessions_opened"] + results["failures"] == 6 and results["sessions_opened"] >= 5
    assert len(results["first_frame_ms"]) == results["sessions_opened"]
    # A session's first frame cannot come before its offer was answered; a minute is the timeout.
    assert all(0 < ms < 60000 for ms in results["first_frame_ms"])
    assert results["first_frame_first_tenth_p50_ms"] == results["first_frame_ms"][0]
    assert results["first_frame_last_tenth_p50_ms"] == results["first_frame_ms"][-1]
    assert results["threads_end"] <= results["threads_start"] + 2
    assert results["fds_end"] <= results["fds_start"] + 2
    assert [s["session"] for s in results["samples"]] == [0]  # one sample every ten sessions
    assert (tmp_path / "row.png").read_bytes()[:4] == b"\x89PNG"


def test_in_a_row_must_not_be_negative():
    run = subprocess.run([str(Path(sys.executable).parent / "livehuman"), "bench", "soak", "--in-a-row", "-1"],
                         capture_output=True, text=True, timeout=60)
    assert run.returncode != 0 and "--in-a-row" in run.stderr and "Traceback" not in run.stderr
