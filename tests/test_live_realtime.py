"""The avatar session driven by a Realtime-protocol brain (`serve --brain realtime|openai`).

The brain is livehuman's own Realtime client talking over WebSocket to a real server that speaks
the protocol (the project's /v1/realtime, with the offline brain behind it): no phone timings cross
the wire, so the lips move from the audio alone, as with OpenAI.
"""

from __future__ import annotations

import asyncio
import time

import numpy as np
import pytest
import pytest_asyncio

from helpers_live import check_voice_stopped, interrupt_answer, start_live_server
from livehuman.live.client import LiveClient, rms

pytestmark = pytest.mark.asyncio(loop_scope="module")

LONG_QUESTION = "What is livehuman?"
SOUND = 30.0  # int16 RMS above decoded digital silence


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def server(netns):
    from livehuman.brain.openai_brain import remote_brain_factory
    from livehuman.live.server import local_brain_factory

    offline = local_brain_factory()
    await asyncio.to_thread(offline.warm_up)  # the server's brains load before any test's clock runs
    live, runner = await start_live_server(netns.addresses[0], max_sessions=2, realtime_brain_factory=offline)
    ws_url = live.url.replace("http://", "ws://") + "/v1"
    live.config.brain_factory = remote_brain_factory("realtime", realtime_url=ws_url, model="livehuman")
    live.runner = runner
    yield live
    await runner.cleanup()
    offline.close()


@pytest_asyncio.fixture(loop_scope="module")
async def client(server):
    c = LiveClient(server.url, record_video=True)
    await c.connect()
    yield c
    await c.close()


def sounding_span(client: LiveClient, since: float) -> tuple[int, int]:
    """Indices of the first and last packets with sound after `since`, up to a half-second silence."""
    packets = [(t, rms(s)) for t, s in client.received.audio]
    first = next(i for i, (t, level) in enumerate(packets) if t >= since and level > 500)
    last = first
    for i in range(first, len(packets)):
        if packets[i][1] > SOUND:
            last = i
        elif i - last >= 25:
            break
    return first, last


async def test_the_answer_arrives_with_lips_moving_from_the_audio_alone(server, client):
    from livehuman.avatar.landmarks import FaceMeshDetector, lip_gap

    await client.wait_for(lambda: client.received.video_count >= 15, 20)
    t = time.monotonic()
    client.send({"type": "text", "text": "Is it free?"})
    answer = await client.wait_for(lambda: client.event("transcript", since=t, role="assistant", final=True), 40)
    assert "free" in answer["text"].lower()
    first = await client.wait_for(lambda: client.first_voiced_after(t), 30)
    await client.wait_for(lambda: client.event("state", since=first, state="listening"), 40)
    assert client.voiced_seconds(t) > 1.5
    idle = [f for ft, f in client.received.video if ft < t][-8:]
    talking = [f for ft, f in client.received.video if first <= ft][:80:2]
    with FaceMeshDetector() as detector:
        idle_gaps = [lip_gap(detector.detect(f.to_ndarray(format="bgr24")).points) for f in idle]
        talk_gaps = [lip_gap(detector.detect(f.to_ndarray(format="bgr24")).points) for f in talking]
    assert max(idle_gaps) < 0.08
    assert max(talk_gaps) > max(idle_gaps) + 0.05 and np.std(talk_gaps) > 0.02, talk_gaps
    # This server speaks espeak-ng's voice: the lips hear it as a synthesizer's.
    assert server.sessions[client.session].renderer.lipsync.voice == "synthetic"


async def test_a_brain_with_a_persons_voice_gets_lips_that_hear_people_and_their_phones(server):
    from livehuman.brain.openai_brain import remote_brain_factory
    from livehuman.brain.recognizer import AsrPool, ProcessPhones

    ws_url = server.url.replace("http://", "ws://") + "/v1"
    factory = server.config.brain_factory
    server.config.brain_factory = remote_brain_factory("realtime", realtime_url=ws_url, model="livehuman",
                                                       natural_voice=True)
    server.config.reply_phones = pool = AsrPool(ProcessPhones)
    c = LiveClient(server.url)
    try:
        await c.connect()
        lipsync = server.sessions[c.session].renderer.lipsync
        assert lipsync.voice == "natural"
        # its replies' phones are heard in a process lent to the session (made now: ~0.6 s)
        await c.wait_for(lambda: isinstance(lipsync.recognizer, ProcessPhones), 30)
        t = time.monotonic()
        c.send({"type": "text", "text": "Is it free?"})
        first = await c.wait_for(lambda: c.first_voiced_after(t), 40)
        held = []  # frames waiting for their phones, whenever something arrives
        await c.wait_for(lambda: held.append(lipsync.held) or c.event("state", since=first, state="listening"), 40)
        assert c.voiced_seconds(t) > 1.0
        # the reply's audio came ahead of its playing (as OpenAI's does): its frames waited for their phones
        assert max(held) > 0
    finally:
        await c.close()
        server.config.brain_factory = factory
        server.config.reply_phones = None
    # the session's end gives the recognizer back, for the next session
    for _ in range(500):
        if pool._idle:
            break
        await asyncio.sleep(0.02)
    assert pool._idle == [lipsync.recognizer]
    pool.close()


async def test_barge_in_truncates_at_what_the_client_received(server, client):
    session = server.sessions[client.session]
    underruns = session.clock.stats.underruns
    t, _, report = await interrupt_answer(client, LONG_QUESTION, 40)
    await asyncio.sleep(1.5)
    first, last = sounding_span(client, t)
    # A machine too starved to draw in time shows idle frames inside the reply: 40 ms of gap each.
    received_ms = (last - first + 1) * 20 - (session.clock.stats.underruns - underruns) * 40
    # audio_end_ms of the truncate (heard_ms) is what left the clock: the client got the same, ±100 ms.
    assert abs(report["heard_ms"] - received_ms) <= 100, (report["heard_ms"], received_ms)
    assert report["heard_ms"] == session.barge_ins[-1]["heard_ms"]
    check_voice_stopped(client, session, report)
    assert not [e for e in client.events("error", since=t)]


async def test_a_dropped_realtime_connection_recovers(server, client):
    from livehuman.brain.server import connections

    app = server.runner.app
    sockets = connections(app)
    assert sockets  # this session's brain is connected over /v1/realtime
    for ws in sockets:
        await ws.close(code=1011, message=b"dropped by the test")
    await asyncio.sleep(1.0)
    t = time.monotonic()
    client.send({"type": "text", "text": "Does it need a GPU?"})
    answer = await client.wait_for(lambda: client.event("transcript", since=t, role="assistant", final=True), 40)
    assert "graphics card" in answer["text"].lower()
    await client.wait_for(lambda: client.first_voiced_after(t), 30)
    assert client.session in server.sessions



async def test_a_refused_remote_brain_hands_the_session_to_the_offline_brain(server):
    """A Realtime server that refuses the session (HTTP 404 here): the page hears why, then the
    offline brain says so out loud and answers from then on."""
    from livehuman.brain.fallback import FALLBACK_NOTICE, with_fallback
    from livehuman.brain.openai_brain import remote_brain_factory
    from livehuman.live.server import local_brain_factory

    nowhere = server.url.replace("http://", "ws://") + "/v1/nowhere"
    saved = server.config.brain_factory
    server.config.brain_factory = with_fallback(
        remote_brain_factory("realtime", realtime_url=nowhere, model="livehuman"), local_brain_factory())
    try:
        t = time.monotonic()
        c = LiveClient(server.url, record_video=True)
        await c.connect()
        said = await c.wait_for(lambda: c.event("transcript", since=t, role="assistant", final=True), 60)
        assert said["text"] == FALLBACK_NOTICE
        why = c.event("notice", since=t) or c.event("error", since=t)  # why, in a short line
        assert why and "404" in why["message"]
        await c.wait_for(lambda: c.first_voiced_after(t), 30)
        t = time.monotonic()
        c.send({"type": "text", "text": "What is your name?"})
        answer = await c.wait_for(lambda: c.event("transcript", since=t, role="assistant", final=True), 40)
        assert "Ava" in answer["text"]
        await c.close()
    finally:
        server.config.brain_factory = saved
