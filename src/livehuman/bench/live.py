"""`livehuman bench live`: a real aiortc client talks to a real server, at real-time pace.

The server runs in a child process (so its CPU time can be measured apart from the client's);
both peers use only the loopback interface (ICE is limited to 127.0.0.1 for the run), so the
bench sends nothing onto any network.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from livehuman.bench.options import LiveOptions, from_args
from livehuman.errors import LivehumanError
from livehuman.live.av_offset import measure_av_offsets, record_answers
from livehuman.live.clock import VIDEO_CLOCK_RATE, VIDEO_PTS_STEP
from livehuman.live.event_loop import run
from livehuman.rates import WEBRTC_RATE

QUESTIONS = ["What is livehuman?", "Is it free?", "Does it need a GPU?", "Does it work offline?",
             "How do I make a lip-synced video?", "What hardware does livehuman need?"]
BARGE_IN = "Wait, is it free?"
LONG_QUESTION = "What is livehuman?"
VOICED = 500.0  # int16 RMS of a 20 ms packet that counts as voiced
SILENT_RUN_S = 0.4  # a pause this long ends the interrupted answer at the client
DRIFT_QUESTION_EVERY_S = 12.0  # answers take 2-10 s: the drift run mixes speech and listening
DRIFT_WINDOW_S = 20.0  # the first and last stretch of a drift run compared


@contextlib.contextmanager
def loopback_ice():
    """Let ICE use 127.0.0.1 (aioice leaves loopback out) so that both peers stay on this machine."""
    import aioice.ice

    original = aioice.ice.get_host_addresses
    aioice.ice.get_host_addresses = lambda use_ipv4, use_ipv6: ["127.0.0.1"] if use_ipv4 else []
    try:
        yield
    finally:
        aioice.ice.get_host_addresses = original


def speech(text: str, directory: Path) -> tuple[np.ndarray, float, float]:
    """espeak-ng's `text` as WebRTC's 48 kHz int16, with its leading and trailing silence in seconds."""
    raw = directory / f"{abs(hash(text))}.wav"
    subprocess.run(["espeak-ng", "-v", "en-us", "-s", "150", "-w", str(raw), text], check=True)
    return recorded_speech(raw, loud=1000)


def recorded_speech(path: str | Path, loud: int | None = None) -> tuple[np.ndarray, float, float]:
    """A recording as WebRTC's 48 kHz int16, with the silence before and after its voice in seconds:
    the voice is the samples above `loud` (None: within 20 dB of the loudest, which a room's hum
    25-30 dB under a natural recording's voice stays below)."""
    from livehuman.speech.audio import load_audio

    return _as_sent(load_audio(path, rate=WEBRTC_RATE).samples, loud)


def voiced_questions(voice: str) -> list[tuple[np.ndarray, float, float]]:
    """QUESTIONS said by a bench voice (bench/voices.py: espeak:…, flite:…, festival:…), each as
    recorded_speech gives a recording; the voice ends at an absolute level, as espeak-ng's questions
    do (a synthetic voice's quiet last consonant is voice, and digital silence follows it)."""
    from livehuman.bench.voices import parse_voice, synthesize
    from livehuman.speech.audio import resample

    spec = parse_voice(voice)
    return [_as_sent(resample(synthesize(spec, text).audio, WEBRTC_RATE).samples, loud=1000) for text in QUESTIONS]


def asked_questions(names: tuple[str, ...]) -> list[tuple[np.ndarray, float, float]]:
    """What `--questions` asks, in turn: a recording as it is, a voice name's QUESTIONS."""
    from livehuman.bench.voices import SYNTHETIC_VOICE_PREFIXES

    asked = []
    for name in names:
        asked += voiced_questions(name) if name.startswith(SYNTHETIC_VOICE_PREFIXES) else [recorded_speech(name)]
    return asked


def _as_sent(samples: np.ndarray, loud: int | None) -> tuple[np.ndarray, float, float]:
    from livehuman.speech.audio import to_pcm16

    pcm = to_pcm16(samples)
    level = np.abs(pcm.astype(np.int32))
    voiced = np.flatnonzero(level > (loud if loud is not None else level.max() / 10))
    lead = voiced[0] / WEBRTC_RATE if len(voiced) else 0.0
    tail = (len(pcm) - voiced[-1]) / WEBRTC_RATE if len(voiced) else 0.0
    return pcm, lead, tail


def _packets_voiced(client, start: float) -> list[tuple[float, bool]]:
    from livehuman.live.client import rms

    return [(t, rms(s) > VOICED) for t, s in client.received.audio if t >= start]


def _voice_stops(client, start: float) -> float | None:
    """When the voice received after `start` stopped: the first voiced packet's end before a long pause."""
    packets = _packets_voiced(client, start)
    last = None
    for t, voiced in packets:
        if voiced:
            last = t
        elif last is not None and t - last >= SILENT_RUN_S:
            return last
    return None


def _quiet(client, start: float) -> bool:
    """Whether the client has received SILENT_RUN_S of silence, the latest packets, since `start`."""
    packets = _packets_voiced(client, start)
    if not packets or packets[-1][0] - start < SILENT_RUN_S:
        return False
    return not any(voiced for t, voiced in packets if t >= packets[-1][0] - SILENT_RUN_S)


async def _run_turns(url: str, turns: int, workdir: Path, recorded: list[tuple] = ()) -> dict:
    """Response latency (speech end as sent → first voiced answer received) and barge-in latency;
    the questions asked are the `recorded` ones (asked_questions'), or espeak-ng's QUESTIONS."""
    from livehuman.live.client import LiveClient

    client = LiveClient(url)
    await client.connect()
    latencies: list[float] = []
    arrivals: list[float] = []  # the same, to the voiced packet's arrival (before aiortc's jitter buffer)
    server_barge: list[float] = []
    server_reaction: list[float] = []
    client_barge: list[float] = []
    barge_pcm, barge_lead, barge_tail = speech(BARGE_IN, workdir)
    try:
        await client.wait_for(lambda: client.received.video_count > 10, 20, "the first video frames")
        for i in range(turns):
            if recorded:
                pcm, _, tail = recorded[i % len(recorded)]
            else:
                pcm, _, tail = speech(QUESTIONS[i % len(QUESTIONS)], workdir)
            sent = await client.say(pcm)
            end = sent - tail  # the end of the user's voice as sent
            first = await client.wait_for(lambda: client.first_voiced_after(end), 30, "the answer's voice")
            latencies.append(first - end)
            arrivals.append(client.first_voiced_arrival_after(end) - end)
            # Barge in one second into the answer, by voice.
            await asyncio.sleep(1.0)
            said = time.monotonic()
            spoken = client.say(barge_pcm)
            voice_at = said + barge_lead
            report = await client.wait_for(lambda: client.event("metrics", since=said, barge_in="speech"), 15,
                                           "the spoken barge-in's report")
            if report.get("speech_to_stop_ms") is not None:
                server_barge.append(report["speech_to_stop_ms"] / 1000)
            if report.get("event_to_stop_ms") is not None:
                server_reaction.append(report["event_to_stop_ms"] / 1000)
            stop = await client.wait_for(lambda: _voice_stops(client, said), 10, "the voice to stop after the barge-in")
            client_barge.append(max(0.0, stop + 0.02 - voice_at))
            # The barge-in question is a turn too.
            end2 = (await spoken) - barge_tail
            first2 = await client.wait_for(lambda: client.first_voiced_after(end2), 30,
                                           "the barge-in question's answer")
            latencies.append(first2 - end2)
            arrivals.append(client.first_voiced_arrival_after(end2) - end2)
            t = time.monotonic()
            client.send({"type": "interrupt"})
            await client.wait_for(lambda: client.event("state", since=t, state="listening"), 10,
                                  "listening after the interrupt")
            await asyncio.sleep(0.5)
    finally:
        await client.close()
    return {"latencies": latencies, "arrivals": arrivals, "server_barge": server_barge, "server_reaction": server_reaction,
            "client_barge": client_barge, "metrics": [e for e in client.events("metrics") if "turn" in e]}


async def _asking_together(url: str, n: int, rounds: int, workdir: Path) -> list[float]:
    """n sessions each ask a spoken question at the same moment, `rounds` times: every answer's
    response latency (the end of its question's voice as sent → its first voiced packet received)."""
    from livehuman.live.client import LiveClient

    await _wait_idle(url)
    clients = [LiveClient(url) for _ in range(n)]
    await asyncio.gather(*(c.connect() for c in clients))
    latencies: list[float] = []
    try:
        await asyncio.gather(*(c.wait_for(lambda c=c: c.received.video_count > 10, 20, "the first video frames")
                               for c in clients))
        for r in range(rounds):
            spoken = [speech(QUESTIONS[(r + k) % len(QUESTIONS)], workdir) for k in range(n)]
            sent = await asyncio.gather(*(c.say(pcm) for c, (pcm, _, _) in zip(clients, spoken)))
            ends = [t - tail for t, (_, _, tail) in zip(sent, spoken)]
            firsts = await asyncio.gather(*(c.wait_for(lambda c=c, end=end: c.first_voiced_after(end), 30,
                                                       "an answer to questions asked together")
                                            for c, end in zip(clients, ends)))
            latencies += [first - end for first, end in zip(firsts, ends)]
            t = time.monotonic()
            for c in clients:  # the next round starts from silence: every answer stopped and heard stopping
                c.send({"type": "interrupt"})
            await asyncio.gather(*(c.wait_for(lambda c=c: c.event("state", since=t, state="listening"), 10,
                                              "listening after the interrupt") for c in clients))
            await asyncio.gather(*(c.wait_for(lambda c=c: _quiet(c, t), 10, "the answers to stop")
                                   for c in clients))
    finally:
        await asyncio.gather(*(c.close() for c in clients))
    return latencies


def _cpu_seconds(pid: int) -> float:
    """CPU seconds used so far by process `pid` and its children (the server's render workers)."""
    total = 0.0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:  # a process that ended meanwhile
            continue
        if stat.parent.name == str(pid) or int(fields[1]) == pid:
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


async def _hold(url: str, n: int, seconds: float, server_pid: int) -> dict:
    """n sessions that keep talking for `seconds`: received fps, frame gaps, server CPU."""
    from livehuman.live.client import LiveClient

    await _wait_idle(url)
    clients = [LiveClient(url) for _ in range(n)]
    await asyncio.gather(*(c.connect() for c in clients))
    try:
        for k, c in enumerate(clients):
            c.send({"type": "text", "text": QUESTIONS[k % len(QUESTIONS)]})
        await asyncio.gather(*(c.wait_for(lambda c=c: c.first_voiced_after(0), 30) for c in clients))
        counts = [c.received.video_count for c in clients]
        lost0 = [await _video_packets_lost(c) for c in clients]
        media0 = await _media_stats(url)
        cpu0, t0 = _cpu_seconds(server_pid), time.monotonic()
        turn = 1
        while time.monotonic() - t0 < seconds:
            await asyncio.sleep(0.5)
            for k, c in enumerate(clients):  # keep every avatar talking
                last = c.events("state")[-1:] if c.events("state") else []
                if last and last[0]["state"] == "listening":
                    c.send({"type": "text", "text": QUESTIONS[(k + turn) % len(QUESTIONS)]})
                    turn += 1
        wall = time.monotonic() - t0
        cpu = _cpu_seconds(server_pid) - cpu0
        media1 = await _media_stats(url)
        lost = sum([await _video_packets_lost(c) for c in clients]) - sum(lost0)
        fps = [(c.received.video_count - n0) / wall for c, n0 in zip(clients, counts)]
        gaps, dropped = [], []
        for c, n0 in zip(clients, counts):
            times = c.received.video_times[n0:]
            gaps.append(max(np.diff(times)) if len(times) > 1 else float("inf"))
            # Frames the server never sent or the client could not decode leave holes in the RTP timestamps.
            dropped.append(_missing(c.received.video_pts[n0:], VIDEO_PTS_STEP))
    finally:
        await asyncio.gather(*(c.close() for c in clients))
    server = _clock_counters(media0, media1, [c.session for c in clients])
    return {"fps": fps, "max_gap": gaps, "dropped": dropped, "cpu": cpu / wall, "server": server, "lost": lost}


def _clock_counters(before: dict, after: dict, sessions: list[str]) -> dict:
    """What the sessions' media clocks counted between two `_media_stats` readings, summed."""
    return {key: sum(after.get(s, {}).get(key, 0) - before.get(s, {}).get(key, 0) for s in sessions)
            for key in ("dropped_frames", "dropped_packets", "underruns", "late_ticks")}


async def _drift(url: str, minutes: float) -> dict:
    """One session answering a question every few seconds for `minutes`: how far its audio and video
    timelines move against the wall clock, and against each other, from the first to the last window."""
    from livehuman.live.client import LiveClient

    await _wait_idle(url)
    client = LiveClient(url)
    await client.connect()
    try:
        await client.wait_for(lambda: client.received.video_count > 10, 20, "the first video frames")
        media0 = await _media_stats(url)
        end, asked = time.monotonic() + minutes * 60, 0
        while time.monotonic() < end:
            client.send({"type": "text", "text": QUESTIONS[asked % len(QUESTIONS)]})
            asked += 1
            await asyncio.sleep(min(DRIFT_QUESTION_EVERY_S, max(0.0, end - time.monotonic())))
        media1 = await _media_stats(url)
    finally:
        await client.close()
    got = client.received
    audio = _timeline_offsets(got.audio_net, got.audio_pts, WEBRTC_RATE)
    video = _timeline_offsets(got.video_net, got.video_pts, VIDEO_CLOCK_RATE)
    clock = _clock_counters(media0, media1, [client.session])
    return {"drift_minutes": minutes, "drift_questions": asked,
            # What the figures stand on: the packets and frames received, and the media time they span.
            "drift_audio_packets": len(got.audio_pts),
            "drift_audio_span_s": round(_span(got.audio_pts) / WEBRTC_RATE, 3),
            "drift_video_frames": len(got.video_pts),
            "drift_video_span_s": round(_span(got.video_pts) / VIDEO_CLOCK_RATE, 3),
            "drift_audio_ms": round((audio[1] - audio[0]) * 1000, 1),
            "drift_video_ms": round((video[1] - video[0]) * 1000, 1),
            "drift_av_ms": round(((video[1] - audio[1]) - (video[0] - audio[0])) * 1000, 1),
            **{f"drift_server_{key}": value for key, value in clock.items()}}


def _span(pts: list[int]) -> int:
    """Media time (clock ticks) from the first timestamp to the last, across 32-bit wrap-arounds."""
    steps = np.diff(np.array(pts, np.int64)) % 2**32
    return int(steps.sum())


def _missing(pts: list[int], step: int) -> int:
    """Frames or packets never received between the first and the last: holes in the timestamps."""
    steps = np.diff(np.array(pts, np.int64)) % 2**32
    return int(np.sum(np.maximum(np.round(steps / step) - 1, 0)))


def _timeline_offsets(arrivals: list[float], pts: list[int], rate: int) -> tuple[float, float]:
    """Arrival time minus media time (s), in the first and the last DRIFT_WINDOW_S of a stream.

    The 5th percentile of each window: network and scheduling delays only ever add to an arrival.
    """
    arrival = np.array(arrivals, float)
    media = np.array(pts, float) / rate
    keep = ~np.isnan(arrival)
    arrival, media = arrival[keep], media[keep]
    offset = arrival - media
    first = offset[media <= media[0] + DRIFT_WINDOW_S]
    last = offset[media >= media[-1] - DRIFT_WINDOW_S]
    return float(np.percentile(first, 5)), float(np.percentile(last, 5))


async def _video_packets_lost(client) -> int:
    """RTP video packets the client's receiver counted as lost so far (not sent, or not read in time)."""
    from aiortc.stats import RTCInboundRtpStreamStats

    report = await client.pc.getStats()
    return sum(int(s.packetsLost) for s in report.values()
               if isinstance(s, RTCInboundRtpStreamStats) and s.kind == "video")


async def _wait_idle(url: str, timeout: float = 15.0) -> None:
    """Wait until the server has let go of earlier sessions (a closed peer takes a moment to notice)."""
    import aiohttp

    deadline = time.monotonic() + timeout
    async with aiohttp.ClientSession() as http:
        while time.monotonic() < deadline:
            async with http.get(f"{url}/healthz") as response:
                if (await response.json()).get("sessions", 0) == 0:
                    return
            await asyncio.sleep(0.2)
    raise LivehumanError(f"the bench server still holds earlier sessions after {timeout:g} s")


async def _media_stats(url: str) -> dict:
    """Each session's MediaClock counters, from the server's /stats (/healthz gives counts only)."""
    import aiohttp

    async with aiohttp.ClientSession() as http:
        async with http.get(f"{url}/stats") as response:
            return (await response.json()).get("media", {})


def _av_figures(captures: list[dict]) -> dict:
    """Audio/video offsets per answer (positive: video late), p50 and spread, and an 80 ms check."""
    figures: dict = {
        "av_offset_time_base": "arrival of each audio packet's / video frame's RTP packets at the client, before "
                               "any jitter buffer; _aiortc_recv: when aiortc's receiver hands them over, after "
                               "its jitter buffers (audio 4 packets, video 1 frame)",
    }
    for suffix, net in (("", True), ("_aiortc_recv", False)):
        measured = measure_av_offsets(captures, net=net)
        offsets = [lag * 1000 for lag, _ in measured if not np.isnan(lag)]
        figures[f"av_offset{suffix}_turns_ms"] = [round(lag * 1000, 1) for lag, _ in measured]
        figures[f"av_offset{suffix}_corr"] = [round(corr, 3) for _, corr in measured]
        if offsets:
            figures[f"av_offset{suffix}_p50_ms"] = float(np.median(offsets))
            figures[f"av_offset{suffix}_spread_ms"] = float(max(offsets) - min(offsets))
    # The method must see video made 80 ms late as 80 ms later.
    figures["av_offset_check_video_late_80ms_turns_ms"] = [
        round(lag * 1000, 1) for lag, _ in measure_av_offsets(captures, shift=0.08)]
    return figures


async def _bench(url: str, server_pid: int, turns: int, max_sessions: int, seconds: float,
                 drift_minutes: float = 0.0, av_turns: int = 3, recorded: list[tuple] = ()) -> dict:
    from livehuman.live.client import LiveClient

    with tempfile.TemporaryDirectory() as tmp:
        warm = LiveClient(url)  # the first session pays for loading the models
        await warm.connect()
        warm.send({"type": "text", "text": "Hello"})
        await warm.wait_for(lambda: warm.first_voiced_after(0), 60)
        await warm.close()
        await _wait_idle(url)  # with --max-sessions 1 the warm-up session would still hold the place
        turns_out = await _run_turns(url, turns, Path(tmp), recorded)
        together, together_error = [], None
        if max_sessions > 1:
            try:
                together = await _asking_together(url, max_sessions, 2, Path(tmp))
            except TimeoutError as exc:  # a machine that cannot answer them all: said, and the rest measured
                together_error = str(exc)
    await _wait_idle(url)
    captures = await record_answers(url, min(av_turns, turns))
    results: dict = {}
    lat = np.array(turns_out["latencies"]) * 1000
    results["response_latency_p50_ms"] = float(np.percentile(lat, 50))
    results["response_latency_p95_ms"] = float(np.percentile(lat, 95))
    results["response_turns"] = len(lat)
    # aiortc's receiver holds four audio packets (80 ms) before handing one on, whatever the
    # network does; a browser's adaptive buffer holds far less on a clean link.
    arrived = np.array(turns_out["arrivals"]) * 1000
    if np.isfinite(arrived).any():
        results["response_latency_arrival_p50_ms"] = float(np.nanpercentile(arrived, 50))
        results["response_latency_arrival_p95_ms"] = float(np.nanpercentile(arrived, 95))
    results["response_latency_turns_ms"] = [round(float(x), 1) for x in lat]
    results["barge_in_server_turns_ms"] = [round(x * 1000, 1) for x in turns_out["server_barge"]]
    results["barge_in_client_turns_ms"] = [round(x * 1000, 1) for x in turns_out["client_barge"]]
    if turns_out["server_barge"]:
        results["barge_in_server_p50_ms"] = float(np.median(turns_out["server_barge"]) * 1000)
    if turns_out["server_reaction"]:
        results["barge_in_server_reaction_p50_ms"] = float(np.median(turns_out["server_reaction"]) * 1000)
    speech_turns = [m for m in turns_out["metrics"] if m.get("source") == "speech"]
    for key in ("asr_final_ms", "first_text_ms", "first_audio_ms", "first_frame_ms"):
        values = [m[key] for m in speech_turns if m.get(key) is not None]
        if values:
            results[f"server_{key[:-3]}_p50_ms"] = float(np.median(values))
    if turns_out["client_barge"]:
        results["barge_in_client_p50_ms"] = float(np.median(turns_out["client_barge"]) * 1000)
    if together:  # every session asking by voice at the same moment
        results[f"together_{max_sessions}_response_latency_p50_ms"] = float(np.median(together) * 1000)
        results[f"together_{max_sessions}_response_latency_turns_ms"] = [round(x * 1000, 1) for x in together]
    if together_error is not None:
        results[f"together_{max_sessions}_error"] = together_error
    holding = holding_received = 0
    for n in range(1, max_sessions + 1):
        hold = await _hold(url, n, seconds, server_pid)
        results[f"sessions_{n}_fps_min"] = float(min(hold["fps"]))
        results[f"sessions_{n}_max_frame_gap_ms"] = float(max(hold["max_gap"]) * 1000)
        results[f"sessions_{n}_dropped_frames"] = int(sum(hold["dropped"]))
        results[f"sessions_{n}_server_cpu_per_session"] = float(hold["cpu"] / n)
        results[f"sessions_{n}_server_frames_not_taken"] = int(hold["server"]["dropped_frames"])
        results[f"sessions_{n}_server_packets_not_taken"] = int(hold["server"]["dropped_packets"])
        results[f"sessions_{n}_server_underruns"] = int(hold["server"]["underruns"])
        results[f"sessions_{n}_server_late_ticks"] = int(hold["server"]["late_ticks"])
        # Lost RTP packets with a clean server clock point at the client's own load (it shares the cores).
        results[f"sessions_{n}_client_video_packets_lost"] = int(hold["lost"])
        # 25 fps held: every session received 25 frames a second and not one frame was lost, and
        # the server kept up: no frame or packet left untaken, no reply gap shown as the idle face.
        received = min(hold["fps"]) >= 24.0 and sum(hold["dropped"]) == 0
        server = hold["server"]
        clean = server["dropped_frames"] == 0 and server["dropped_packets"] == 0 and server["underruns"] == 0
        if received and holding_received == n - 1:
            holding_received = n
        if received and clean and holding == n - 1:
            holding = n
        if not received:
            break
    results["sessions_at_25fps"] = holding
    results["sessions_at_25fps_video_only"] = holding_received  # the client's view alone
    if drift_minutes > 0:
        results.update(await _drift(url, drift_minutes))
    results.update(_av_figures(captures))  # last: re-detecting faces takes the CPU the sessions need
    return results


def bench_live(options: LiveOptions | None = None) -> dict:
    """Drive a live server (child process, loopback only) with real aiortc clients; return figures.

    response_latency: end of the user's speech as sent → first voiced answer audio received
    (response_latency_arrival: → that packet's arrival, before aiortc's fixed 80 ms audio buffer).
    barge_in_server: the user's speech arriving → voiced audio no longer sent (the server's clock).
    barge_in_client: the user's voice starting → the answer's voice stopping at the client.
    sessions_at_25fps: how many simultaneous talking sessions all receive 25 fps, no frame dropped.
    av_offset: per answer, the lag (positive: video late) that best correlates the re-detected mouth
    opening of the received frames with the received audio's loudness, timed by the RTP packets' arrival
    at the client (and, as av_offset_aiortc_recv, by aiortc's hand-over after its jitter buffers).
    drift (with drift_minutes): how far one talking session's audio and video timelines move against
    the client's clock and each other over that long.
    """
    o = options or LiveOptions()
    if shutil.which("espeak-ng") is None:
        raise LivehumanError("bench live needs the espeak-ng command (apt install espeak-ng)")
    # Read and spoken now: a recording that cannot be read is found out before minutes of measuring.
    recorded = asked_questions(o.questions)
    extra = ["--end-of-turn", o.end_of_turn]
    if o.barge_in_ms is not None:
        extra += ["--barge-in-ms", str(o.barge_in_ms)]
    with bench_server(o.avatar, o.max_sessions, o.render_workers, extra) as (url, pid):
        results = run(_bench(url, pid, o.turns, o.max_sessions, o.seconds, o.drift_minutes, recorded=recorded))
    results["end_of_turn"] = o.end_of_turn
    results["questions"] = list(o.questions)  # none: espeak-ng's QUESTIONS at 150 wpm
    if o.plot:
        from livehuman.bench.live_plot import plot_live

        plot_live(results, o.plot)
        results["plot"] = o.plot
    return results


@contextlib.contextmanager
def bench_server(avatar: str, max_sessions: int, render_workers: int | None = None,
                 extra: list[str] | None = None) -> Iterator[tuple[str, int]]:
    """The bench's server in a child process (so that the clients' work is not counted in its
    process), with ICE on loopback: yields (its URL, its pid); stopped on the way out."""
    command = [sys.executable, "-m", "livehuman.bench.live", "--serve", "--avatar", avatar,
               "--max-sessions", str(max_sessions), *(extra or [])]
    if render_workers is not None:
        command += ["--render-workers", str(render_workers)]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline().strip()
        if not line.startswith("http://"):
            raise LivehumanError(f"the bench server did not start: {line or 'no output'}")
        with loopback_ice():
            yield line, proc.pid
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


def bench_live_from_args(args) -> dict:
    """`livehuman bench live` (the CLI's parsed arguments)."""
    return bench_live(from_args(LiveOptions, args))


async def _serve(avatar: str, max_sessions: int, render_workers: int | None = None,
                 barge_in_ms: int | None = None, end_of_turn: str = "auto") -> None:
    from aiohttp import web

    from livehuman.live.server import build_live_server

    # No greeting: the bench times the answers to its questions, from a silent start as before.
    server = build_live_server(avatar=avatar, max_sessions=max_sessions, render_workers=render_workers, greet=False,
                               turn_options={"barge_in_ms": barge_in_ms, "end_of_turn": end_of_turn})
    runner = web.AppRunner(server.app())
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    print(f"http://127.0.0.1:{port}", flush=True)
    # The bench ends its server with SIGTERM: shut down as `livehuman serve` does (render workers
    # stopped, shared memory freed), not with the resource tracker's warnings about leaks.
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await stop.wait()
    await runner.cleanup()


def main() -> None:
    """`python -m livehuman.bench.live [flags of livehuman bench live]`; with --serve, the bench's own
    server (what bench_live starts in a child process)."""
    import argparse

    if "--serve" not in sys.argv[1:]:
        from livehuman.bench import run_as_script

        run_as_script("live")
    parser = argparse.ArgumentParser(description="the live bench's server (started by bench_live)")
    parser.add_argument("--serve", action="store_true")
    parser.add_argument("--avatar", default=LiveOptions.avatar)
    parser.add_argument("--max-sessions", type=int, default=LiveOptions.max_sessions)
    parser.add_argument("--render-workers", type=int)
    parser.add_argument("--barge-in-ms", type=int)
    parser.add_argument("--end-of-turn", default=LiveOptions.end_of_turn)
    args = parser.parse_args()
    with loopback_ice():  # on the loop `serve` runs on
        run(_serve(args.avatar, args.max_sessions, args.render_workers, args.barge_in_ms, args.end_of_turn))


if __name__ == "__main__":
    main()
