"""`livehuman bench soak`: K real aiortc clients talk in turns, hang up and come back, for N minutes.

The server is bench live's (a child process, loopback only). After one round that lets the
server's pools reach their size (each client connects, asks once, hangs up), each client connects,
asks two typed questions (each answer heard to its end), hangs up and connects again, until the
time is up. Every
few seconds the server's resident memory (its own and its render workers'), threads and open file
descriptors are read from /proc. What it says: whether memory, threads and descriptors come back
to where they started once the sessions are gone, and whether answers get slower over the run.
"""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

import numpy as np

from livehuman.bench.live import QUESTIONS, _wait_idle, bench_server
from livehuman.bench.options import SoakOptions, from_args

SAMPLE_EVERY_S = 5.0
ANSWER_TIMEOUT_S = 60.0


def process_figures(pid: int) -> dict:
    """Resident memory (MB) of `pid` and of its children, its threads and open descriptors."""
    own = _rss_mb(pid)
    children = [int(p) for p in _children(pid)]
    return {"rss_mb": own, "rss_workers_mb": sum(_rss_mb(c) for c in children),
            "threads": len(os.listdir(f"/proc/{pid}/task")), "fds": len(os.listdir(f"/proc/{pid}/fd"))}


def _rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:  # gone meanwhile
        pass
    return 0.0


def _children(pid: int) -> list[str]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == pid:
                found.append(stat.parent.name)
        except (OSError, IndexError, ValueError):
            continue
    return found


async def _talker(url: str, k: int, end: float, latencies: list[tuple[float, float]], counts: dict,
                  questions: int = 2) -> None:
    """One client until `end`: connect, `questions` questions, hang up, again (at least once)."""
    from livehuman.live.client import LiveClient

    turn = k
    while True:
        client = LiveClient(url)
        try:
            await client.connect()
            counts["sessions"] += 1
            for _ in range(questions):
                t = time.monotonic()
                client.send({"type": "text", "text": QUESTIONS[turn % len(QUESTIONS)]})
                turn += 1
                first = await client.wait_for(lambda: client.first_voiced_after(t), ANSWER_TIMEOUT_S)
                latencies.append((t, first - t))
                counts["turns"] += 1
                try:  # heard to its end; one that does not end in time is cut by the next question
                    await client.wait_for(lambda: client.event("state", since=first, state="listening"),
                                          ANSWER_TIMEOUT_S / 2)
                except TimeoutError:
                    counts["unfinished"] += 1
            counts["frames"] += client.received.video_count
        except (ConnectionError, TimeoutError) as exc:
            counts["failures"] += 1
            counts.setdefault("failure_reasons", []).append(str(exc)[:120])
            await asyncio.sleep(1.0)
        finally:
            await client.close()
        if time.monotonic() >= end:
            return


async def _soak(url: str, pid: int, o: SoakOptions) -> dict:
    await _wait_idle(url)
    # One round first: pools of threads and workers that grow once to their size are not leaks.
    warm = {"sessions": 0, "turns": 0, "failures": 0, "frames": 0, "unfinished": 0}
    await asyncio.gather(*(_talker(url, k, 0.0, [], warm, questions=1) for k in range(o.sessions)))
    await _wait_idle(url, timeout=30)
    await asyncio.sleep(5.0)
    start = process_figures(pid)
    t0 = time.monotonic()
    end = t0 + o.minutes * 60
    latencies: list[tuple[float, float]] = []
    counts = {"sessions": 0, "turns": 0, "failures": 0, "frames": 0, "unfinished": 0}
    samples: list[dict] = []

    async def sample() -> None:
        while True:
            samples.append({"t": round(time.monotonic() - t0, 1), **process_figures(pid)})
            await asyncio.sleep(SAMPLE_EVERY_S)

    sampling = asyncio.create_task(sample())
    try:
        await asyncio.gather(*(_talker(url, k, end, latencies, counts) for k in range(o.sessions)))
    finally:
        sampling.cancel()
    await _wait_idle(url, timeout=30)
    await asyncio.sleep(5.0)  # closed peers' last timers, and the collection after the last session
    after = process_figures(pid)
    half = t0 + o.minutes * 30
    first = [lat for t, lat in latencies if t < half]
    second = [lat for t, lat in latencies if t >= half]

    def p95(values: list[float]) -> float | None:
        return round(float(np.percentile(values, 95)) * 1000, 1) if values else None

    total_start = start["rss_mb"] + start["rss_workers_mb"]
    total_end = after["rss_mb"] + after["rss_workers_mb"]
    return {
        "minutes": o.minutes, "sessions": o.sessions,
        "sessions_opened": counts["sessions"], "turns": counts["turns"], "failures": counts["failures"],
        "answers_not_finished_in_time": counts["unfinished"], "warm_up_failures": warm["failures"],
        "failure_reasons": counts.get("failure_reasons", [])[:5],
        "response_latency_p95_first_half_ms": p95(first), "response_latency_p95_second_half_ms": p95(second),
        "response_latency_p50_ms": round(float(np.median([lat for _, lat in latencies])) * 1000, 1) if latencies else None,
        "rss_start_mb": round(start["rss_mb"], 1), "rss_end_mb": round(after["rss_mb"], 1),
        "rss_peak_mb": round(max(s["rss_mb"] for s in samples), 1) if samples else None,
        "rss_with_workers_start_mb": round(total_start, 1), "rss_with_workers_end_mb": round(total_end, 1),
        "rss_growth_percent": round((total_end - total_start) / total_start * 100, 2) if total_start else None,
        "threads_start": start["threads"], "threads_end": after["threads"],
        "fds_start": start["fds"], "fds_end": after["fds"],
        "samples": samples,
    }


def bench_soak(options: SoakOptions | None = None) -> dict:
    """Run the soak against bench live's server in a child process; return its figures."""
    o = options or SoakOptions()
    with bench_server(o.avatar, o.sessions, o.render_workers) as (url, pid):
        return asyncio.run(_soak(url, pid, o))


def bench_soak_from_args(args) -> dict:
    """`livehuman bench soak` (the CLI's parsed arguments)."""
    return bench_soak(from_args(SoakOptions, args))


if __name__ == "__main__":
    from livehuman.bench import run_as_script

    run_as_script("soak")
