"""RealtimeBrain (the openai SDK's realtime client) against livehuman's own /v1/realtime server: typed events out."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest
import pytest_asyncio

from helpers_realtime import RATE, speech_24k
from helpers_speech import espeak_wav
from livehuman.brain.answer import answer
from livehuman.brain.client import RealtimeBrain
from livehuman.brain.local import LocalBrain
from livehuman.brain.local_factory import LocalBrainFactory
from livehuman.brain.server import start_realtime_server
from livehuman.brain.speech_events import (
    BrainError,
    Notice,
    ReplyAudio,
    ReplyDone,
    ReplyTranscriptDelta,
    ReplyTranscriptDone,
    ReplyTruncated,
    UserSpeechStopped,
    UserTranscriptDone,
)
from livehuman.speech.audio import load_audio

pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def served():
    make = LocalBrainFactory()
    await asyncio.to_thread(make.warm_up)
    brains: list[LocalBrain] = []

    def factory(request):
        brains.append(make(request))
        return brains[-1]

    server = await start_realtime_server(factory, api_key="sk-local")
    yield server, brains
    await server.stop()


class Reader:
    """Collects a brain's speech events in the background."""

    def __init__(self, brain: RealtimeBrain) -> None:
        self.brain = brain
        self.events: list = []
        self._new = asyncio.Event()
        self.ended = False
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        async for event in self.brain.events():
            self.events.append(event)
            self._new.set()
        self.ended = True
        self._new.set()

    async def wait_for(self, predicate, timeout: float = 30.0, start: int = 0):
        """The first event from index `start` on that satisfies `predicate`."""
        async def scan():
            seen = start
            while True:
                for event in self.events[seen:]:
                    if predicate(event):
                        return event
                seen = len(self.events)
                if self.ended:
                    raise AssertionError("the brain's events ended")
                self._new.clear()
                await self._new.wait()
        return await asyncio.wait_for(scan(), timeout)

    def of_type(self, kind: type, start: int = 0) -> list:
        return [e for e in self.events[start:] if isinstance(e, kind)]


def is_type(kind: type):
    return lambda event: isinstance(event, kind)


@pytest_asyncio.fixture(loop_scope="module")
async def brain(served):
    server, brains = served
    brain = RealtimeBrain(api_key="sk-local", model="livehuman", websocket_base_url=server.url,
                          instructions="Be brief.", initial_delay=0.05)
    connected = len(brains) + 1
    reader = Reader(brain)  # reading starts the connection
    while len(brains) < connected:
        await asyncio.sleep(0.01)
    yield brain, reader
    await brain.close()
    await asyncio.wait_for(reader._task, 5)


async def ask(brain: RealtimeBrain, text: str) -> None:
    await brain.add_message(text)
    await brain.respond()


@pytest.mark.slow
async def test_text_turn_and_history(brain):
    brain, reader = brain
    await ask(brain, "What is your name?")
    done = await reader.wait_for(is_type(ReplyDone))
    assert done.status == "completed"
    chunks = reader.of_type(ReplyAudio)
    assert {c.response_id for c in chunks} == {done.response_id} and {c.rate for c in chunks} == {RATE}
    audio = np.concatenate([c.samples for c in chunks])
    assert len(audio) / RATE > 0.5 and np.abs(audio).max() > 0.1
    assert all(not c.phones for c in chunks)  # phones never cross the wire
    history = brain.history()
    assert [(i["role"], i["type"]) for i in history] == [("user", "message"), ("assistant", "message")]
    assert history[0]["content"][0]["text"] == "What is your name?"
    assert "Ava" in history[1]["content"][0]["transcript"]
    said = reader.of_type(ReplyTranscriptDone)[0].transcript
    assert said == history[1]["content"][0]["transcript"]
    assert "".join(d.delta for d in reader.of_type(ReplyTranscriptDelta)).strip() == said
    assert not reader.of_type(BrainError) and not reader.of_type(Notice)


@pytest.mark.slow
async def test_spoken_turn_then_interrupt_cancels_and_truncates(brain, served, tmp_path):
    brain, reader = brain
    _, brains = served
    server_brain = brains[-1]
    server_brain.pace_ahead_s = 1.0  # the reply streams as it would play, so it is still in flight
    question = speech_24k(tmp_path, "What can you do?")
    for i in range(0, len(question), 480):
        await brain.push_audio(question[i:i + 480], RATE)
        await asyncio.sleep(0.004)
    stopped = await reader.wait_for(is_type(UserSpeechStopped))
    completed = await reader.wait_for(is_type(UserTranscriptDone))
    assert completed.item_id == stopped.item_id and completed.transcript.strip()
    first = await reader.wait_for(is_type(ReplyAudio))
    start = reader.events.index(first)
    # Let about a second of audio arrive, then the user (heard 700 ms of it) barges in.
    while sum(len(e.samples) for e in reader.of_type(ReplyAudio, start)) < RATE:
        await reader.wait_for(is_type(ReplyAudio), start=len(reader.events))
    assert brain.response_active
    mark = len(reader.events)
    await brain.interrupt(None, heard_ms=700)
    done = await reader.wait_for(is_type(ReplyDone), start=mark)
    assert done.status == "cancelled" and done.reason == "client_cancelled"
    truncated = await reader.wait_for(is_type(ReplyTruncated), start=mark)
    assert truncated.audio_end_ms == 700 and truncated.item_id == first.item_id
    full = (await reader.wait_for(is_type(ReplyTranscriptDone), start=mark)).transcript
    history = server_brain.dialogue.history
    assert history[-1]["role"] == "assistant" and full.startswith(history[-1]["content"])
    assert 0 < len(history[-1]["content"].split()) < len(full.split())
    assert truncated.transcript and full.startswith(truncated.transcript)
    # A second interrupt finds nothing in flight: the truncate goes out, no error comes back.
    mark = len(reader.events)
    await brain.interrupt(first.item_id, heard_ms=500)
    again = await reader.wait_for(is_type(ReplyTruncated), start=mark)
    assert again.audio_end_ms == 500
    await ask(brain, "Thanks!")
    await reader.wait_for(is_type(ReplyDone), start=mark)
    assert not reader.of_type(BrainError) and not reader.of_type(Notice)


async def test_dropped_connection_recovers_with_the_conversation(brain, served):
    brain, reader = brain
    server, brains = served
    await ask(brain, "What is your name?")
    await reader.wait_for(is_type(ReplyDone))
    old_brain = brains[-1]
    old_brain.pace_ahead_s = 0.5  # the next reply is still streaming when the connection drops
    mark = len(reader.events)
    await ask(brain, "What can you do?")
    await reader.wait_for(is_type(ReplyTranscriptDelta), start=mark)
    before = {item["id"] for item in brain.history()}
    assert await server.drop_connections() >= 1
    lost = await reader.wait_for(lambda e: isinstance(e, Notice) and "lost" in e.message, start=mark)
    assert lost.level == "warning"
    failed = await reader.wait_for(is_type(ReplyDone), start=mark)
    assert failed.status == "failed"
    await reader.wait_for(lambda e: isinstance(e, Notice) and e.message == "Reconnected.", start=mark)
    assert brains[-1] is not old_brain and brain.reconnects == 1
    # The new server session got the same settings and the whole conversation back.
    mark = len(reader.events)
    await ask(brain, "Thank you!")
    done = await reader.wait_for(is_type(ReplyDone), start=mark)
    assert done.status == "completed"
    new_brain = brains[-1]
    assert new_brain.settings.instructions == "Be brief."
    history = new_brain.dialogue.history
    assert [m["role"] for m in history] == ["user", "assistant"] * 3
    assert [m["content"] for m in history[0::2]] == ["What is your name?", "What can you do?", "Thank you!"]
    assert "Ava" in history[1]["content"] and history[3]["content"]  # the cut-off reply as far as it got
    # The replayed items kept their ids; the new turn added two.
    after = [item["id"] for item in brain.history()]
    assert before <= set(after) and len(after) == len(before) + 2
    assert not reader.of_type(BrainError)


async def test_error_event_is_surfaced_as_a_short_notice(brain):
    brain, reader = brain
    await brain.truncate("item_missing", 100)
    error = await reader.wait_for(is_type(BrainError))
    assert error.code == "item_not_found" and "item_missing" in error.message
    shown = await reader.wait_for(is_type(Notice))
    assert shown.level == "error" and "item_missing" in shown.message and len(shown.message) <= 160
    # The session goes on.
    await ask(brain, "Hello!")
    assert (await reader.wait_for(is_type(ReplyDone))).status == "completed"


async def test_refused_key_gives_up_with_a_message(served):
    server, _ = served
    brain = RealtimeBrain(api_key="sk-wrong", model="livehuman", websocket_base_url=server.url,
                          initial_delay=0.05)
    reader = Reader(brain)
    await asyncio.wait_for(reader._task, 10)
    assert reader.of_type(BrainError)[0].code == "connection_lost"
    assert "401" in reader.of_type(Notice)[0].message
    await brain.close()


async def test_unreachable_server_gives_up_after_retries():
    brain = RealtimeBrain(api_key="x", model="livehuman", websocket_base_url="ws://127.0.0.1:9/v1",
                          max_retries=2, initial_delay=0.05)
    reader = Reader(brain)
    await asyncio.wait_for(reader._task, 10)
    assert [type(e) for e in reader.events] == [BrainError, Notice]
    assert reader.events[1].level == "error"
    await brain.close()


async def test_answer_to_a_spoken_question_over_the_wire(served, tmp_path):
    server, _ = served
    brain = RealtimeBrain(api_key="sk-local", model="livehuman", websocket_base_url=server.url)
    path = espeak_wav(tmp_path / "q.wav", "What is your name?")
    result = await answer(brain, audio=load_audio(path))  # 22050 Hz, resampled on the way in
    await brain.close()
    assert result.heard.strip()
    assert result.speech.audio.duration > 0.5 and np.abs(result.speech.audio.samples).max() > 0.1
    assert result.speech.text and result.speech.phones is None  # phones never cross the wire


async def test_remote_brain_options_are_checked_up_front(monkeypatch):
    from livehuman.brain.openai_brain import openai_brain, remote_brain_factory
    from livehuman.errors import LivehumanError

    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(LivehumanError, match="OPENAI_API_KEY"):
        remote_brain_factory("openai")
    with pytest.raises(LivehumanError, match="--realtime-url"):
        remote_brain_factory("realtime")
    with pytest.raises(LivehumanError, match="ws://"):
        remote_brain_factory("realtime", realtime_url="localhost:8080")
    with pytest.raises(LivehumanError, match="noise reduction"):
        openai_brain(api_key="sk-x", noise_reduction="loud")
    brain = remote_brain_factory("realtime", realtime_url="ws://127.0.0.1:1/v1/realtime", voice="cedar",
                                 turn="semantic_vad")()
    assert str(brain._client.websocket_base_url).rstrip("/") == "ws://127.0.0.1:1/v1"
    assert brain.session["audio"]["output"]["voice"] == "cedar"
    assert brain.session["audio"]["input"]["turn_detection"] == {"type": "semantic_vad"}
    assert brain.settings.voice == "cedar" and brain.settings.turn_detection.kind == "semantic_vad"
    # Whose voice the lips hear: OpenAI's sound like people; any other server's (livehuman's own
    # speaks espeak-ng's) is taken for a synthesizer unless the user says otherwise.
    assert not brain.natural_voice
    assert openai_brain(api_key="sk-x").natural_voice
    assert remote_brain_factory("realtime", realtime_url="ws://127.0.0.1:1/v1", natural_voice=True)().natural_voice
