"""When the remote Realtime brain gives up, the offline brain takes over and says so out loud."""

from __future__ import annotations

import asyncio

import pytest
import pytest_asyncio

from livehuman.brain.base import SessionSettings
from livehuman.brain.client import RealtimeBrain
from livehuman.brain.fallback import FALLBACK_NOTICE, FallbackBrain, with_fallback
from livehuman.brain.local import LocalBrain
from livehuman.brain.local_factory import LocalBrainFactory
from livehuman.brain.server import start_realtime_server
from livehuman.brain.speech_events import BrainError, Notice, ReplyAudio, ReplyDone, ReplyTranscriptDone

pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def local_factory():
    make = LocalBrainFactory()
    await asyncio.to_thread(make.warm_up)
    return make


async def collect_until(events, done, limit: float = 30.0) -> list:
    """Events until `done(event)` is true (inclusive)."""
    seen: list = []

    async def run():
        async for event in events:
            seen.append(event)
            if done(event):
                return

    await asyncio.wait_for(run(), limit)
    return seen


def transcripts(events: list) -> list[str]:
    return [e.transcript for e in events if isinstance(e, ReplyTranscriptDone)]


def is_done(event) -> bool:
    return isinstance(event, ReplyDone)


async def test_refused_remote_hands_over_to_the_offline_brain(local_factory):
    server = await start_realtime_server(local_factory, api_key="sk-right")
    try:
        remote = lambda *_: RealtimeBrain(api_key="sk-wrong", model="livehuman",  # noqa: E731
                                          websocket_base_url=server.url, initial_delay=0.05, natural_voice=True)
        brain = with_fallback(remote, local_factory)()
        assert brain.natural_voice  # the primary's, for the session's lip sync (made once)
        stream = brain.events().__aiter__()
        # The remote gives up (401): the user sees why, then hears the offline brain say so.
        first = await collect_until(stream, is_done)
        assert isinstance(first[0], BrainError)
        assert "401" in next(e for e in first if isinstance(e, Notice)).message
        assert transcripts(first) == [FALLBACK_NOTICE]
        assert any(isinstance(e, ReplyAudio) for e in first)
        assert isinstance(brain.fallback, LocalBrain)

        # From then on the conversation goes on offline; remote-only settings are not passed on.
        voice = brain.settings.voice
        await brain.update(SessionSettings(voice="marin"))
        assert brain.settings.voice == voice
        await brain.add_message("What is your name?")
        await brain.respond()
        second = await collect_until(stream, is_done)
        assert not [e for e in second if isinstance(e, BrainError)]
        assert "Ava" in " ".join(transcripts(second))
        assert any(isinstance(e, ReplyAudio) and e.phones for e in second)  # the offline voice's exact timings
        await brain.close()
    finally:
        await server.stop()


async def test_closing_before_any_failure_never_starts_the_offline_brain(local_factory):
    server = await start_realtime_server(local_factory, api_key="sk-right")
    started = []
    try:
        brain = FallbackBrain(
            RealtimeBrain(api_key="sk-right", model="livehuman", websocket_base_url=server.url),
            lambda: started.append(1),
        )
        reader = asyncio.create_task(collect_until(brain.events(), lambda e: False, limit=10))
        await brain.add_message("Hello")
        await asyncio.sleep(0.5)
        await brain.close()
        await asyncio.wait_for(reader, 10)  # the stream ends with the close, not with a hand-over
        assert started == [] and brain.fallback is None
    finally:
        await server.stop()
