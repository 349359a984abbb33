"""The audio/video offset measured at a client: the method on synthetic curves, then on a real session."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import av
import numpy as np
import pytest
import pytest_asyncio
from helpers_live import start_live_server

from livehuman.live.av_offset import (
    av_offset,
    loudness_envelope,
    measure_av_offsets,
    mouth_openings,
    record_answers,
)


def speechlike(times: np.ndarray, seed: int) -> np.ndarray:
    """A loudness-like curve: syllables (3-6 Hz bumps) with pauses, sampled at `times`."""
    rng = np.random.default_rng(seed)
    grid = np.arange(0, times[-1] + 1, 0.01)
    curve = np.zeros_like(grid)
    t = 0.2
    while t < grid[-1]:
        length = rng.uniform(0.12, 0.3)
        curve += rng.uniform(0.5, 1.0) * np.exp(-0.5 * ((grid - t - length / 2) / (length / 4)) ** 2)
        t += length + (rng.uniform(0.2, 0.5) if rng.random() < 0.2 else rng.uniform(0, 0.05))
    return np.interp(times, grid, curve)


@pytest.mark.parametrize("delay_ms", [0, 80, -60, 25])
def test_av_offset_finds_a_known_delay_to_a_few_ms(delay_ms):
    rng = np.random.default_rng(delay_ms + 1000)
    # Audio packets every 20 ms and frames every 40 ms, each with a few ms of arrival jitter.
    audio_t = np.arange(0, 6, 0.02) + rng.uniform(0, 0.004, 300)
    frame_t = np.arange(0, 6, 0.04)
    loud = speechlike(np.arange(0, 6, 0.02), seed=7)
    mouth = speechlike(frame_t, seed=7) + rng.normal(0, 0.02, len(frame_t))  # the picture of the sound at t…
    shown = frame_t + delay_ms / 1000 + rng.uniform(0, 0.004, len(frame_t))  # …arrives delay_ms later
    lag, corr = av_offset(shown, mouth, audio_t, loud)
    assert abs(lag * 1000 - delay_ms) <= 10, lag
    assert corr > 0.9


def test_av_offset_needs_a_second_of_overlap():
    t = np.arange(0, 0.8, 0.04)
    lag, corr = av_offset(t, np.sin(t), t, np.sin(t))
    assert np.isnan(lag) and np.isnan(corr)


def test_loudness_envelope_is_louder_for_speech_than_silence():
    quiet, loud = np.zeros(960, np.int16), (np.sin(np.arange(960) / 5) * 8000).astype(np.int16)
    times, envelope = loudness_envelope([(0.0, quiet), (0.02, quiet), (0.04, loud), (0.06, loud)])
    assert list(times) == [0.0, 0.02, 0.04, 0.06]
    assert envelope[0] < 1 and envelope[2] > 70 and envelope[1] < envelope[2]


@pytest.mark.slow
def test_a_batch_render_in_step_measures_near_zero(tmp_path):
    """The method's own bias: on a render whose sound and picture are in step, mouth vs loudness peaks near 0."""
    video = tmp_path / "render.mp4"
    text = "Livehuman is an open source digital human. It listens and answers with a lip synced face, in real time."
    subprocess.run([str(Path(sys.executable).parent / "livehuman"), "render", "--text", text, "-o", str(video)],
                   check=True, capture_output=True)
    with av.open(str(video)) as container:
        frames = list(container.decode(container.streams.video[0]))
    with av.open(str(video)) as container:
        resampler = av.AudioResampler(format="s16", layout="mono", rate=48000)
        pcm = np.concatenate([r.to_ndarray().reshape(-1) for f in container.decode(container.streams.audio[0])
                              for r in resampler.resample(f)])
    packets = [(i * 0.02, pcm[i * 960 : (i + 1) * 960]) for i in range(len(pcm) // 960)]
    frame_times = np.arange(len(frames)) * 0.04
    mouth = mouth_openings(frames)
    lag, corr = av_offset(frame_times, mouth, *loudness_envelope(packets))
    assert corr > 0.4 and abs(lag) <= 0.015, (lag, corr)
    late, _ = av_offset(frame_times + 0.08, mouth, *loudness_envelope(packets))
    assert abs(late - lag - 0.08) <= 0.01


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def captures(netns):
    live, runner = await start_live_server(netns.addresses[0], max_sessions=1)
    try:
        yield await record_answers(live.url, turns=1, seconds=4.0)
    finally:
        await runner.cleanup()


def realtime_or_skip(capture: dict) -> None:
    """The offset is a property of a real-time session: on a machine that could not deliver one
    (a starved VM: hypervisor steal took half its CPU and the client got ~10 fps, video seconds
    behind), the measure says nothing about the pairing. Said as a skip, with the figures."""
    video = np.array([t for t, _ in capture["video"]])
    audio = np.array([t for t, _ in capture["audio"]])
    assert len(audio) >= 100, f"only {len(audio)} audio packets of the answer arrived"
    seconds = audio[-1] - audio[0]
    fps = (len(video) - 1) / (video[-1] - video[0]) if len(video) > 1 and video[-1] > video[0] else 0.0
    packets = (len(audio) - 1) / seconds
    if fps < 20 or len(video) < 50 or not 45 <= packets <= 55:
        pytest.skip(f"this machine did not hold real time while measuring: {len(video)} frames at {fps:.1f} fps, "
                    f"audio {packets:.1f} packets/s over {seconds:.1f} s (real time: 25 and 50)")


@pytest.mark.parametrize("net", [True, False], ids=["rtp-arrival", "aiortc-recv"])
def test_real_session_offset_is_small_and_a_shifted_video_is_seen_late(captures, net):
    (capture,) = captures
    realtime_or_skip(capture)
    if net:  # every received packet and frame is matched with its RTP packets' arrival
        assert not np.isnan(capture["audio_net"]).any() and not np.isnan(capture["video_net"]).any()
    [(lag, corr)] = measure_av_offsets(captures, net=net)
    print(f"received answer ({'rtp arrival' if net else 'aiortc recv'}): offset {lag * 1000:+.0f} ms, corr {corr:.2f}")
    # The mouth follows the loudness clearly, and the server keeps them paired: a small offset
    # (aiortc's receiver holds audio 80 ms and video ~40 ms, so its hand-over shows video ~40 ms early).
    assert corr > 0.4
    assert abs(lag) <= 0.08
    # Delaying the same frames by 80 ms moves the measured offset by 80 ms.
    [(late, _)] = measure_av_offsets(captures, shift=0.08, net=net)
    assert abs((late - lag) - 0.08) <= 0.015

