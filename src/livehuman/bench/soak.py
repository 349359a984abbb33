"""`livehuman bench soak`: K real aiortc clients talk in turns, hang up and come back, for N minutes.

The server is bench live's (a child process, loopback only). After one round that lets the
server's pools reach their size (each client connects, asks once, hangs up), each client connects,
asks two typed questions (each answer heard to its end), hangs up and connects again, until the
time is up. Every few seconds the server's resident memory (its own and its render workers'),
threads and open file descriptors are read from /proc. What it says: whether memory, threads and
descriptors come back to where they started once the sessions are gone, whether answers get slower
over the run (the p95 in each sixth of it), and whether every session got its 25 frames a second.

`--in-a-row N` measures the other way a server wears out: N sessions opened and closed one after
another, each timed from its offer to its first video frame, the last against the first.
"""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

import numpy as np

from livehuman.bench.live import QUESTIONS, _missing, _quiet, _wait_idle, bench_server
from livehuman.bench.options import SoakOptions, from_args
from livehuman.live.clock import VIDEO_PTS_STEP
from livehuman.live.event_loop import run
from livehuman.live.loop_errors import quiet_closed_peers

SAMPLE_EVERY_S = 5.0
SAMPLE_EVERY_SESSIONS = 10  # --in-a-row
ANSWER_TIMEOUT_S = 60.0
WINDOWS = 6  # the run's latencies are compared in this many stretches of time
FULL_FPS = 24.0  # a session that received this many frames a second held the 25 fps


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


def _frame_rate(client) -> tuple[float | None, int]:
    """The frames a second a session received (None: too few to tell) and the frames missing
    between its first and last (holes in the RTP timestamps)."""
    times, pts = client.received.video_times, client.received.video_pts
    if len(times) < 2 or times[-1] <= times[0]:
        return None, 0
    return (len(times) - 1) / (times[-1] - times[0]), _missing(pts, VIDEO_PTS_STEP)


async def _talker(url: str, k: int, end: float, latencies: list[tuple[float, float]], counts: dict,
                  questions: int = 2, frame_rates: list[float] | None = None) -> None:
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
                    # The state comes before the answer's last packets have left the client's
                    # jitter buffer: a question asked now would be timed to the old answer's tail.
                    await client.wait_for(lambda: _quiet(client, first), ANSWER_TIMEOUT_S / 2)
                except TimeoutError:
                    counts["unfinished"] += 1
            counts["frames"] += client.received.video_count
            fps, missing = _frame_rate(client)
            counts["frames_missing"] += missing
            if fps is not None and frame_rates is not None:
                frame_rates.append(fps)
        except (ConnectionError, TimeoutError) as exc:
            counts["failures"] += 1
            counts.setdefault("failure_reasons", []).append(str(exc)[:120])
            await asyncio.sleep(1.0)
        finally:
            await client.close()
        if time.monotonic() >= end:
            return


async def _soak(url: str, pid: int, o: SoakOptions) -> dict:
    quiet_closed_peers(asyncio.get_running_loop())  # the clients hang up mid-send as often as the server
    await _wait_idle(url)
    # One round first: pools of threads and workers that grow once to their size are not leaks.
    warm = {"sessions": 0, "turns": 0, "failures": 0, "frames": 0, "frames_missing": 0, "unfinished": 0}
    await asyncio.gather(*(_talker(url, k, 0.0, [], warm, questions=1) for k in range(o.sessions)))
    start = await _settled(url, pid)
    t0 = time.monotonic()
    end = t0 + o.minutes * 60
    latencies: list[tuple[float, float]] = []
    counts = {"sessions": 0, "turns": 0, "failures": 0, "frames": 0, "frames_missing": 0, "unfinished": 0}
    frame_rates: list[float] = []
    samples: list[dict] = []

    async def sample() -> None:
        while True:
            samples.append({"t": round(time.monotonic() - t0, 1), **process_figures(pid)})
            await asyncio.sleep(SAMPLE_EVERY_S)

    sampling = asyncio.create_task(sample())
    try:
        await asyncio.gather(*(_talker(url, k, end, latencies, counts, frame_rates=frame_rates)
                               for k in range(o.sessions)))
    finally:
        sampling.cancel()
    after = await _settled(url, pid)
    half = t0 + o.minutes * 30
    first = [lat for t, lat in latencies if t < half]
    second = [lat for t, lat in latencies if t >= half]
    window = o.minutes * 60 / WINDOWS
    by_window = [[lat for t, lat in latencies if k * window <= t - t0 < (k + 1) * window] for k in range(WINDOWS)]
    return {
        "minutes": o.minutes, "sessions": o.sessions,
        "sessions_opened": counts["sessions"], "turns": counts["turns"], "failures": counts["failures"],
        "answers_not_finished_in_time": counts["unfinished"], "warm_up_failures": warm["failures"],
        "failure_reasons": counts.get("failure_reasons", [])[:5],
        "response_latency_p95_first_half_ms": _ms(first, 95), "response_latency_p95_second_half_ms": _ms(second, 95),
        "response_latency_p50_ms": _ms([lat for _, lat in latencies]),
        "response_latency_p95_by_window_ms": [_ms(w, 95) for w in by_window],
        "session_fps_min": round(min(frame_rates), 2) if frame_rates else None,
        "session_fps_p50": round(float(np.median(frame_rates)), 2) if frame_rates else None,
        "sessions_at_25fps": f"{sum(f >= FULL_FPS for f in frame_rates)}/{len(frame_rates)}",
        "frames_missing": counts["frames_missing"],
        "rss_start_mb": round(start["rss_mb"], 1), "rss_end_mb": round(after["rss_mb"], 1),
        "rss_peak_mb": round(max(s["rss_mb"] for s in samples), 1) if samples else None,
        **_wear(start, after),
        "worker_restarts": await _worker_restarts(url),
        "samples": samples,
        "latencies": [[round(t - t0, 1), round(lat * 1000, 1)] for t, lat in latencies],
    }


async def _settled(url: str, pid: int) -> dict:
    """The server's figures once every session has gone: closed peers' last timers have run, and
    the collection that follows a session."""
    await _wait_idle(url, timeout=30)
    await asyncio.sleep(5.0)
    return process_figures(pid)


def _wear(start: dict, after: dict) -> dict:
    """Memory (server and workers), threads and descriptors from `start` to `after`."""
    total_start = start["rss_mb"] + start["rss_workers_mb"]
    total_end = after["rss_mb"] + after["rss_workers_mb"]
    return {
        "rss_with_workers_start_mb": round(total_start, 1), "rss_with_workers_end_mb": round(total_end, 1),
        "rss_growth_percent": round((total_end - total_start) / total_start * 100, 2) if total_start else None,
        "threads_start": start["threads"], "threads_end": after["threads"],
        "fds_start": start["fds"], "fds_end": after["fds"],
    }


async def _worker_restarts(url: str) -> dict[str, int]:
    """Worker processes the server had to start again (render, asr), from its /metrics."""
    import aiohttp
    from prometheus_client.parser import text_string_to_metric_families

    async with aiohttp.ClientSession() as http:
        async with http.get(f"{url}/metrics") as response:
            text = await response.text()
    return {sample.labels["kind"]: int(sample.value)
            for family in text_string_to_metric_families(text) if family.name == "livehuman_worker_restarts"
            for sample in family.samples if sample.name.endswith("_total")}


def _ms(seconds: list[float], q: float = 50) -> float | None:
    """The q-th percentile of `seconds`, in ms (None: no values)."""
    return round(float(np.percentile(seconds, q)) * 1000, 1) if seconds else None


async def _open_and_close(url: str) -> float:
    """One session: offer, first video frame, hang up; seconds from the offer to that frame."""
    from livehuman.live.client import LiveClient

    client = LiveClient(url)
    t = time.monotonic()
    try:
        await client.connect()
        await client.wait_for(lambda: client.received.video_count > 0, ANSWER_TIMEOUT_S, "the first video frame")
        return client.received.video_times[0] - t
    finally:
        await client.close()


async def _in_a_row(url: str, pid: int, n: int) -> dict:
    """`n` sessions opened and closed one after another, each as soon as the last has hung up."""
    quiet_closed_peers(asyncio.get_running_loop())
    await _wait_idle(url)
    await _open_and_close(url)  # the first session's start-up costs are not the server wearing out
    start = await _settled(url, pid)
    times: list[float] = []
    failures: list[str] = []
    samples = [{"session": 0, **start}]
    for k in range(1, n + 1):
        try:
            times.append(await _open_and_close(url))
        except (ConnectionError, TimeoutError) as exc:
            failures.append(str(exc)[:120])
        if k % SAMPLE_EVERY_SESSIONS == 0:
            samples.append({"session": k, **process_figures(pid)})
    after = await _settled(url, pid)
    tenth = max(1, len(times) // 10)

    return {
        "in_a_row": n, "sessions_opened": len(times), "failures": len(failures), "failure_reasons": failures[:5],
        "first_frame_p50_ms": _ms(times), "first_frame_p95_ms": _ms(times, 95),
        # "The last as fast as the first": the first and the last tenth of the sessions.
        "first_frame_first_tenth_p50_ms": _ms(times[:tenth]), "first_frame_last_tenth_p50_ms": _ms(times[-tenth:]),
        **_wear(start, after),
        "worker_restarts": await _worker_restarts(url),
        "first_frame_ms": [round(t * 1000, 1) for t in times],
        "samples": samples,
    }


def bench_soak(options: SoakOptions | None = None) -> dict:
    """Run the soak against bench live's server in a child process; return its figures."""
    o = options or SoakOptions()
    with bench_server(o.avatar, max(o.sessions, 2), o.render_workers) as (url, pid):
        # Two places for one client in a row: a hung-up session's place is free once the server notices.
        results = run(_in_a_row(url, pid, o.in_a_row) if o.in_a_row else _soak(url, pid, o))
    if o.plot:
        plot_soak(results, o.plot)
        results["plot"] = o.plot
    return results


def plot_soak(results: dict, path: str) -> None:
    """The run over time: memory, threads and descriptors, and each answer's latency (or, for
    --in-a-row, each session's time to its first frame)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (memory, latency) = plt.subplots(1, 2, figsize=(12, 4.2))
    if "in_a_row" in results:
        samples = results["samples"]
        memory.plot([s["session"] for s in samples], [s["rss_mb"] + s["rss_workers_mb"] for s in samples],
                    label="server + workers (MB)")
        memory.plot([s["session"] for s in samples], [s["rss_mb"] for s in samples], label="server (MB)")
        memory.set_xlabel("sessions")
        memory.legend(fontsize=8)
        memory.set_title(f"memory {results['rss_growth_percent']:+.1f} %; threads {results['threads_start']} → "
                         f"{results['threads_end']}, descriptors {results['fds_start']} → {results['fds_end']}",
                         fontsize=9)
        latency.plot(range(1, len(results["first_frame_ms"]) + 1), results["first_frame_ms"], ".")
        latency.set_xlabel("session")
        latency.set_title(f"{results['in_a_row']} sessions in a row: offer → first video frame (ms)", fontsize=9)
    else:
        samples = results["samples"]
        t = [s["t"] / 60 for s in samples]
        memory.plot(t, [s["rss_mb"] + s["rss_workers_mb"] for s in samples], label="server + workers (MB)")
        memory.plot(t, [s["rss_mb"] for s in samples], label="server (MB)")
        memory.set_xlabel("minutes")
        counts = memory.twinx()
        counts.plot(t, [s["threads"] for s in samples], color="tab:green", label="threads")
        counts.plot(t, [s["fds"] for s in samples], color="tab:red", label="descriptors")
        memory.legend(loc="upper left", fontsize=8)
        counts.legend(loc="lower right", fontsize=8)
        memory.set_title(f"{results['sessions']} clients for {results['minutes']:g} min: memory "
                         f"{results['rss_growth_percent']:+.1f} %", fontsize=9)
        latency.plot([t / 60 for t, _ in results["latencies"]], [ms for _, ms in results["latencies"]], ".", label="answer")
        window = results["minutes"] / WINDOWS
        for k, p95 in enumerate(results["response_latency_p95_by_window_ms"]):
            if p95 is not None:
                latency.hlines(p95, k * window, (k + 1) * window, color="tab:orange", label="p95" if k == 0 else None)
        latency.set_xlabel("minutes")
        latency.legend(fontsize=8)
        latency.set_title(f"question → first voiced answer (ms); sessions at 25 fps {results['sessions_at_25fps']}",
                          fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def bench_soak_from_args(args) -> dict:
    """`livehuman bench soak` (the CLI's parsed arguments)."""
    return bench_soak(from_args(SoakOptions, args))


if __name__ == "__main__":
    from livehuman.bench import run_as_script

    run_as_script("soak")
