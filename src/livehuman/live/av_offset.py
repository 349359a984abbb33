"""The audio/video offset a client sees: how late the received mouth moves against the received voice.

The mouth opening is re-detected on the frames the client received and correlated with the loudness
of the audio it received, over a range of lags; the best lag is the offset (positive: video late).
`livehuman bench live` reports it, and the tests check the method against known delays.
"""

from __future__ import annotations

import asyncio
import contextlib
import time

import numpy as np

AV_QUESTIONS = ["What is livehuman?", "How do I make a lip-synced video?", "What hardware does livehuman need?"]
AV_RECORD_S = 5.0  # seconds of each answer recorded for the audio/video offset
AV_MAX_LAG_S = 0.2
AV_STEP_S = 0.005


def loudness_envelope(audio: list[tuple[float, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    """Per received 20 ms packet: its arrival time and the loudness (dB) of the 40 ms it starts."""
    times = np.array([t for t, _ in audio], float)
    packets = [s.astype(np.float32) for _, s in audio]
    loud = []
    for i in range(len(packets)):
        window = np.concatenate(packets[i : i + 2])
        loud.append(20 * np.log10(np.sqrt(np.mean(window**2)) + 1.0))
    return times, np.array(loud)


def av_offset(video_times: np.ndarray, mouth: np.ndarray, audio_times: np.ndarray, loudness: np.ndarray,
              max_lag: float = AV_MAX_LAG_S, step: float = AV_STEP_S) -> tuple[float, float]:
    """The lag (s; positive: video late) that best correlates mouth opening with loudness, and that correlation.

    Both curves are interpolated onto one `step` grid, so the lag is finer than a 40 ms frame; every
    lag is judged on the same stretch of audio. (nan, nan) when less than a second overlaps.
    """
    video_times, mouth = np.asarray(video_times, float), np.asarray(mouth, float)
    seen = ~np.isnan(mouth)
    video_times, mouth = video_times[seen], mouth[seen]
    audio_times, loudness = np.asarray(audio_times, float), np.asarray(loudness, float)
    if len(video_times) < 2 or len(audio_times) < 2:
        return float("nan"), float("nan")
    start = max(video_times[0], audio_times[0]) + max_lag
    end = min(video_times[-1], audio_times[-1]) - max_lag
    if end - start < 1.0:
        return float("nan"), float("nan")
    grid = np.arange(start, end, step)
    target = np.interp(grid, audio_times, loudness)
    best_lag, best = float("nan"), -np.inf
    for lag in np.arange(-round(max_lag / step), round(max_lag / step) + 1) * step:
        shown = np.interp(grid + lag, video_times, mouth)  # the frame on screen `lag` after the sound
        if np.std(shown) == 0 or np.std(target) == 0:
            continue
        corr = float(np.corrcoef(shown, target)[0, 1])
        if corr > best:
            best_lag, best = float(lag), corr
    return best_lag, (best if np.isfinite(best) else float("nan"))


def mouth_openings(frames: list) -> np.ndarray:
    """Lip gap (landmarks 13-14 over the eye distance) re-detected on each received av.VideoFrame."""
    from livehuman.avatar.landmarks import FaceMeshDetector, lip_gap

    gaps = []
    with FaceMeshDetector(video=True, max_faces=1) as detector:
        for frame in frames:
            face = detector.detect(frame.to_ndarray(format="bgr24"))
            gaps.append(lip_gap(face.points) if face else np.nan)
    return np.array(gaps)


async def record_answers(url: str, turns: int, seconds: float = AV_RECORD_S) -> list[dict]:
    """Ask `turns` typed questions; keep each answer's received audio packets and video frames."""
    from livehuman.live.client import LiveClient

    client = LiveClient(url)
    await client.connect()
    captures = []
    try:
        await client.wait_for(lambda: client.received.video_count > 10, 20)
        for i in range(turns):
            a0, v0, n0 = len(client.received.audio), len(client.received.video), client.received.video_count
            client.record_video = True
            t = time.monotonic()
            client.send({"type": "text", "text": AV_QUESTIONS[i % len(AV_QUESTIONS)]})
            first = await client.wait_for(lambda t=t: client.first_voiced_after(t), 30)
            with contextlib.suppress(TimeoutError):  # a short answer ends sooner
                await client.wait_for(lambda f=first: client.event("state", since=f, state="listening"), seconds)
            client.record_video = False
            got = client.received
            video = got.video[v0:]
            captures.append({"audio": got.audio[a0:], "video": video, "audio_net": got.audio_net[a0:],
                             "video_net": got.video_net[n0 : n0 + len(video)]})
            t = time.monotonic()
            client.send({"type": "interrupt"})
            await client.wait_for(lambda t=t: client.event("state", since=t, state="listening"), 10)
            await asyncio.sleep(0.5)
    finally:
        await client.close()
    return captures


def measure_av_offsets(captures: list[dict], shift: float = 0.0, net: bool = True) -> list[tuple[float, float]]:
    """Per recorded answer: (offset s, correlation); `shift` delays the video.

    net=True times each packet and frame by its RTP packets' arrival at the client; net=False by when
    aiortc's receiver hands it over (after its jitter buffers: audio four packets, video one frame).
    """
    results = []
    for capture in captures:
        if capture.get("mouth") is None:
            capture["mouth"] = mouth_openings([f for _, f in capture["video"]])
        audio_times, loudness = loudness_envelope(capture["audio"])
        video_times = np.array([t for t, _ in capture["video"]])
        if net:
            audio_times, video_times = np.array(capture["audio_net"]), np.array(capture["video_net"])
        audio_ok = ~np.isnan(audio_times)
        results.append(av_offset(video_times + shift, capture["mouth"], audio_times[audio_ok], loudness[audio_ok]))
    return results
