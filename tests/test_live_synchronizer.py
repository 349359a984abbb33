"""The A/V synchronizer with real speech, the real lip sync and the cpu engine: pairing, pacing, barge-in."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from helpers_motion import espeak_speech
from livehuman.live.clock import SAMPLES_PER_FRAME, SAMPLES_PER_PACKET
from livehuman.live.face_renderer import FaceRenderer
from livehuman.live.synchronizer import AVSynchronizer
from livehuman.motion.stream import IdleMotion, StreamingLipSync
from livehuman.rates import FRAME_MS, REALTIME_RATE, WEBRTC_RATE
from livehuman.speech.audio import StreamResampler, resample

CHUNK = REALTIME_RATE // 10  # 100 ms, as a brain streams a reply


@pytest.fixture(scope="module")
def avatar():
    from livehuman.avatar.cache import load_avatar

    return load_avatar("default")


@pytest.fixture(scope="module")
def speech():
    s = espeak_speech("Hello there, my name is Maya. Please meet me by the park.")
    return s, resample(s.audio, REALTIME_RATE)


class Played:
    """What the clock played: each unit of a reply as it started, and every audio packet taken."""

    def __init__(self):
        self.units = []  # (unit, first)
        self.first_tick: int | None = None
        self.packets: list[tuple[np.ndarray, int]] = []
        self.frames = 0


async def prepared(avatar, speech, played: Played) -> tuple[AVSynchronizer, object, list[asyncio.Task]]:
    """A synchronizer with a whole reply drawn and queued on its (not yet started) clock."""
    from livehuman.render.cpu.engine import CpuEngine

    engine = CpuEngine()
    engine.load(avatar)
    renderer = FaceRenderer(engine, avatar, StreamingLipSync, lambda: IdleMotion(seed=3))

    def on_play(unit, first, t):
        if played.first_tick is None:
            played.first_tick = sync.clock.tick - 1  # the tick that started it
        played.units.append((unit, first))

    sync = AVSynchronizer(renderer, on_play=on_play)
    await sync.start()
    tasks = [asyncio.ensure_future(sync.render_loop()), asyncio.ensure_future(sync.idle_loop())]
    phones, audio24 = speech
    reply = sync.begin("resp_1")
    reply.item_id = "item_1"
    for start in range(0, len(audio24.samples), CHUNK):
        # Phones timed from the reply's first sample, all known when the sentence starts.
        await sync.push_audio(reply, audio24.samples[start : start + CHUNK], audio24.rate,
                              phones.phones if start == 0 else None)
    await sync.end_audio(reply)
    for _ in range(3000):  # drawn and queued before the clock starts: no underrun can blur the test
        if sync.clock.queued == reply.frames:
            break
        await asyncio.sleep(0.01)
    assert sync.clock.queued == reply.frames
    return sync, reply, tasks


def consume(sync: AVSynchronizer, played: Played) -> list[asyncio.Task]:
    """Take the clock's media as the WebRTC tracks do (this starts it, in real time)."""
    async def audio():
        while True:
            played.packets.append(await sync.clock.audio())

    async def video():
        while True:
            await sync.clock.video()
            played.frames += 1

    return [asyncio.ensure_future(audio()), asyncio.ensure_future(video())]


async def stop(sync, tasks):
    sync.close()
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    sync.renderer.close()


async def test_each_frame_plays_with_its_own_40_ms_of_the_reply(avatar, speech):
    played = Played()
    sync, reply, tasks = await prepared(avatar, speech, played)
    audio24 = speech[1]
    n = reply.frames
    assert n == int(np.ceil(audio24.duration * 1000 / FRAME_MS - 1e-6))
    tasks += consume(sync, played)
    for _ in range(1000):
        if len(played.units) == n and not sync.active:
            break
        await asyncio.sleep(0.01)
    await stop(sync, tasks)

    units = [unit for unit, _ in played.units]
    assert len(units) == n
    assert [first for _, first in played.units] == [True] + [False] * (n - 1)
    assert [u.last for u in units] == [False] * (n - 1) + [True]
    assert all(u.item_id == "item_1" and len(u.audio) == SAMPLES_PER_FRAME for u in units)
    # Each unit's position in the reply: 40 ms more than the last, the last at the audio's end.
    received = int(audio24.duration * 1000)
    assert [u.item_ms for u in units] == [min((k + 1) * FRAME_MS, received) for k in range(n)]
    # The audio, cut into 40 ms slices, is the reply resampled once to the WebRTC rate.
    resampler = StreamResampler(REALTIME_RATE, WEBRTC_RATE)
    whole = np.concatenate([resampler.process(audio24.samples), resampler.flush()])
    expected = np.clip(np.round(whole * 32767.0), -32768, 32767).astype(np.int16)
    joined = np.concatenate([u.audio for u in units])
    assert len(joined) >= len(expected) and np.abs(joined[len(expected):]).max(initial=0) == 0
    assert np.abs(joined[: len(expected)].astype(int) - expected).max() <= 2
    # The mouth moves with the speech: the speaking frames are not all one picture.
    lower = slice(avatar.frames.shape[1] // 2, None)
    spread = np.std(np.stack([u.frame[lower].astype(np.float32) for u in units]), axis=0).mean()
    assert spread > 1.0
    # What was sent is what truncation would be told: the whole reply.
    assert sync.clock.heard_ms("item_1") == received
    # The packets the transport took carry that audio, from the tick the reply started on.
    first = played.first_tick * SAMPLES_PER_PACKET
    sent = np.concatenate([p for p, pts in played.packets if first <= pts < first + n * SAMPLES_PER_FRAME])
    assert np.array_equal(sent, joined)


async def test_a_barge_in_drops_the_rest_and_reports_what_was_really_sent(avatar, speech):
    played = Played()
    sync, reply, tasks = await prepared(avatar, speech, played)
    n = reply.frames
    tasks += consume(sync, played)
    for _ in range(1000):
        if len(played.units) >= 10:
            break
        await asyncio.sleep(0.005)
    cut = sync.interrupt()
    units_played = len(played.units)
    first = played.first_tick * SAMPLES_PER_PACKET
    sent = sum(1 for _, pts in played.packets if pts >= first)
    assert cut.item_id == "item_1" and cut.response_id == "resp_1" and not cut.response_done
    assert cut.dropped == n - units_played
    assert cut.heard_ms == sent * 20  # each packet the transport took is 20 ms heard, no more
    assert 0 < cut.heard_ms <= units_played * FRAME_MS
    assert sync.reply is None and not sync.active
    await asyncio.sleep(0.3)
    assert len(played.units) == units_played  # nothing of the old reply plays after the barge-in
    await stop(sync, tasks)


async def test_a_reply_keeps_one_audio_rate(avatar, speech):
    played = Played()
    from livehuman.render.cpu.engine import CpuEngine

    engine = CpuEngine()
    engine.load(avatar)
    sync = AVSynchronizer(FaceRenderer(engine, avatar, StreamingLipSync, IdleMotion))
    reply = sync.begin("resp_2")
    await sync.push_audio(reply, speech[1].samples[:CHUNK], REALTIME_RATE)
    with pytest.raises(ValueError, match="one rate"):
        await sync.push_audio(reply, speech[1].samples[:CHUNK], WEBRTC_RATE)
    assert not played.units
    sync.renderer.close()


async def test_a_reply_without_phones_waits_for_them_only_while_ahead_and_never_stalls(avatar, speech):
    from livehuman.motion.closures import NATURAL
    from livehuman.motion.phone_blend import LIVE_RECOGNIZER
    from livehuman.motion.recognize import StreamingPhoneRecognizer
    from livehuman.render.cpu.engine import CpuEngine

    engine = CpuEngine()
    engine.load(avatar)
    lipsync = StreamingLipSync(voice=NATURAL, recognizer=StreamingPhoneRecognizer(**LIVE_RECOGNIZER))
    renderer = FaceRenderer(engine, avatar, lambda **_: lipsync, lambda: IdleMotion(seed=3))
    sync = AVSynchronizer(renderer)
    await sync.start()
    tasks = [asyncio.ensure_future(sync.render_loop()), asyncio.ensure_future(sync.idle_loop())]
    _, audio24 = speech
    reply = sync.begin("resp_1")
    held = []
    try:
        # OpenAI's audio comes well ahead of its playing (the clock here has not started at all)
        for start in range(0, len(audio24.samples), CHUNK):
            await sync.push_audio(reply, audio24.samples[start : start + CHUNK], audio24.rate)
            held.append(lipsync.held)
        # the first frames went at once; once half a second was queued, the newest waited for their phones
        assert held[0] == 0 and held[-1] > 0
        # no more audio comes (a stall, or the brain's end is late): the held frames are let go
        # before the queue would run out
        made = reply.frames
        for _ in range(1000):
            if lipsync.held == 0:
                break
            await asyncio.sleep(0.01)
        assert lipsync.held == 0 and reply.frames > made
        await sync.end_audio(reply)
        assert reply.frames == int(np.ceil(audio24.duration * 1000 / FRAME_MS - 1e-6))
    finally:
        for task in tasks:
            task.cancel()
        sync.close()
        renderer.close()
