"""Live audio windows for listening engines: the same windows as a batch render, and MuseTalk
moving the mouth from them (tiny random weights in MuseTalk's layout, a real face and real speech)."""

from __future__ import annotations

import subprocess

import numpy as np
import pytest

from livehuman.avatar.default import grace_hopper_path
from livehuman.render.batch import audio_window
from livehuman.render.engine import AUDIO_RATE, FrameDrive
from livehuman.motion.controls import FaceControls
from livehuman.live.reply_audio import ReplyAudio
from livehuman.speech.audio import load_audio, resample

CONTEXT = (0.5, 0.12)


@pytest.fixture(scope="module")
def speech24(tmp_path_factory):
    path = tmp_path_factory.mktemp("reply") / "reply.wav"
    subprocess.run(["espeak-ng", "-w", str(path), "Maybe, but the map of Paris is better."], check=True)
    return resample(load_audio(path), 24000)


def streamed(speech24, chunk: int) -> ReplyAudio:
    reply = ReplyAudio(CONTEXT)
    samples = speech24.samples
    for start in range(0, len(samples), chunk):
        reply.push(samples[start : start + chunk])
    reply.finish()
    return reply


@pytest.mark.parametrize("chunk", [480, 2400, 7001])
def test_windows_match_the_batch_windows(speech24, chunk):
    reply = streamed(speech24, chunk)
    whole = resample(speech24, AUDIO_RATE).samples
    assert abs(reply.duration - len(whole) / AUDIO_RATE) < 0.005
    for frame in (0, 1, 20, int(reply.duration * 25) - 1, int(reply.duration * 25) + 3):
        got, want = reply.window(frame), audio_window(whole, (frame + 0.5) / 25, CONTEXT)
        assert got.shape == want.shape
        assert np.abs(got - want).max() < 0.02  # the streaming resampler's edges only


def test_audio_not_yet_arrived_is_silence_and_reset_starts_afresh(speech24):
    reply = ReplyAudio(CONTEXT)
    reply.push(speech24.samples[:2400])  # 100 ms
    window = reply.window(10)  # centred at 420 ms: it spans -80 .. 540 ms, and only 0 .. 100 ms has come
    arrived = int(0.18 * AUDIO_RATE)
    assert np.abs(window[arrived + 32 :]).max() == 0.0
    assert np.abs(window[: int(0.08 * AUDIO_RATE)]).max() == 0.0  # before the reply began
    assert np.abs(window[int(0.08 * AUDIO_RATE) : arrived]).max() > 0.01
    assert np.abs(reply.window(0)).max() > 0.01
    reply.reset()
    assert reply.duration == 0 and np.abs(reply.window(0)).max() == 0.0


@pytest.mark.slow
def test_musetalk_moves_the_mouth_from_live_windows(tmp_path, speech24):
    from livehuman.avatar.photo import photo_avatar
    from livehuman.render.musetalk.engine import MuseTalkEngine
    from livehuman.render.musetalk.tiny import write_tiny_models

    engine = MuseTalkEngine(write_tiny_models(tmp_path / "models"), device="cpu", batch_size=1)
    avatar = photo_avatar(grace_hopper_path(), tmp_path / "avatar")
    engine.load(avatar)
    reply = streamed(speech24, 2400)
    loud = max(range(int(reply.duration * 25)), key=lambda k: np.abs(reply.window(k)).mean())
    speaking = engine.render(avatar, loud, FrameDrive(FaceControls(), reply.window(loud)))
    silent = engine.render(avatar, loud, FrameDrive(FaceControls(), ReplyAudio(CONTEXT).window(loud)))
    source = avatar.frames[0]
    assert np.array_equal(silent, source)  # silence shows the avatar's own mouth
    changed = np.abs(speaking.astype(int) - source.astype(int)).sum(axis=2) > 0
    rows = np.nonzero(changed.any(axis=1))[0]
    eyes_y = avatar.landmarks[0][[33, 133, 362, 263], 1].max()
    assert len(rows) and rows.min() > eyes_y  # speech changes the lower face only, never the eyes


def test_a_session_renderer_gives_musetalk_the_reply_audio(tmp_path, speech24):
    """The live session's renderer, fed a reply in 100 ms chunks as a brain streams it."""
    from livehuman.live.face_renderer import FaceRenderer
    from livehuman.motion.stream import IdleMotion, StreamingLipSync
    from livehuman.render.cpu.engine import CpuEngine
    from livehuman.avatar.photo import photo_avatar
    from livehuman.render.musetalk.engine import MuseTalkEngine
    from livehuman.render.musetalk.tiny import write_tiny_models

    avatar = photo_avatar(grace_hopper_path(), tmp_path / "avatar")
    assert FaceRenderer(CpuEngine(), avatar, StreamingLipSync, IdleMotion).reply_audio() is None
    engine = MuseTalkEngine(write_tiny_models(tmp_path / "models"), device="cpu", batch_size=1)
    engine.load(avatar)
    # No head sway, so that the listening frame's lower face can be compared pixel for pixel.
    renderer = FaceRenderer(engine, avatar, StreamingLipSync, lambda: IdleMotion(head_motion=False))
    listen = renderer.reply_audio(speech24.rate)
    mouths = []
    for start in range(0, len(speech24.samples), 2400):
        mouths += renderer.motion(speech24.samples[start : start + 2400], speech24.rate, None, listen)
    mouths += renderer.finish(listen)
    loud = max(range(len(mouths)), key=lambda k: np.abs(listen.window(k)).mean())
    source = avatar.frames[0].astype(int)
    lower = slice(int(avatar.landmarks[0][1][1]), None)
    speaking = renderer.render(mouths[loud], listen, loud)
    idle = renderer.render(None, listen, loud)  # listening: no reply audio reaches the engine
    assert np.abs(speaking.astype(int) - source)[lower].mean() > 0.5
    assert np.array_equal(idle[lower], avatar.frames[0][lower])  # the avatar's own mouth (eyes may blink)
