"""The official openai SDK against livehuman's /v1/realtime, served by the offline brain."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest
import pytest_asyncio
from openai import AsyncOpenAI

from helpers_listen import voiced_span
from helpers_realtime import RATE, StrictConnection, first_index, of_type, pcm16_decode, speech_24k
from livehuman.brain.base import SessionSettings
from livehuman.brain.local import LocalBrain
from livehuman.brain.speech_events import InputCleared, Notice, UserSpeechStopped
from livehuman.brain.local_factory import LocalBrainFactory
from livehuman.brain.server import start_realtime_server
from livehuman.speech.audio import Audio, resample

pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def served(tmp_path_factory):
    """A /v1/realtime server on loopback; `brains` lists the brain behind each connection."""
    make = LocalBrainFactory()
    await asyncio.to_thread(make.warm_up)  # models load once, before any test's clock runs
    brains: list[LocalBrain] = []

    def factory(request):
        brains.append(make(request))
        return brains[-1]

    server = await start_realtime_server(factory)
    yield server, brains
    await server.stop()


@pytest_asyncio.fixture(loop_scope="module")
async def conn(served):
    server, _ = served
    client = AsyncOpenAI(api_key="test", websocket_base_url=server.url)
    async with client.realtime.connect(model="livehuman") as connection:
        strict = StrictConnection(connection)
        created = await strict.recv()
        assert created["type"] == "session.created"
        assert created["session"]["audio"]["output"]["format"] == {"type": "audio/pcm", "rate": 24000}
        yield strict


@pytest.fixture(scope="module")
def question(tmp_path_factory) -> np.ndarray:
    return speech_24k(tmp_path_factory.mktemp("speech"), "What is your name?")


async def test_spoken_question_gets_a_spoken_answer(conn, question):
    await conn.speak(question)
    events = await conn.until("response.done", timeout=40)
    started = of_type(events, "input_audio_buffer.speech_started")
    stopped = of_type(events, "input_audio_buffer.speech_stopped")
    assert len(started) == 1 and len(stopped) == 1
    onset, offset = voiced_span(resample(Audio(question, RATE), 16000).samples)
    assert onset * 1000 - 800 <= started[0]["audio_start_ms"] <= onset * 1000
    assert abs(stopped[0]["audio_end_ms"] - offset * 1000) < 400
    user_item = started[0]["item_id"]
    assert stopped[0]["item_id"] == user_item
    assert of_type(events, "input_audio_buffer.committed")[0]["item_id"] == user_item
    done = [e for e in of_type(events, "conversation.item.input_audio_transcription.completed")]
    assert done and done[0]["item_id"] == user_item and done[0]["transcript"].strip()

    # The answer: one response, its audio voiced, its transcript the deltas joined.
    order = [first_index(events, k) for k in (
        "input_audio_buffer.speech_stopped", "response.created", "response.output_item.added",
        "response.content_part.added", "response.output_audio.delta", "response.output_audio.done",
        "response.output_audio_transcript.done", "response.done")]
    assert order == sorted(order)
    response_id = of_type(events, "response.created")[0]["response"]["id"]
    deltas = of_type(events, "response.output_audio.delta")
    assert {d["response_id"] for d in deltas} == {response_id}
    audio = np.concatenate([pcm16_decode(d["delta"]) for d in deltas])
    assert len(audio) / RATE > 0.5
    frames = audio[: len(audio) // 480 * 480].reshape(-1, 480)
    rms = np.sqrt((frames**2).mean(axis=1))
    assert (rms > 0.02).mean() > 0.3  # mostly voiced, not silence or a click
    transcript = "".join(d["delta"] for d in of_type(events, "response.output_audio_transcript.delta"))
    final = of_type(events, "response.output_audio_transcript.done")[0]["transcript"]
    assert transcript.strip() == final.strip() and len(final.split()) >= 2
    response = of_type(events, "response.done")[0]["response"]
    assert response["status"] == "completed"
    assert response["output"][0]["content"][0]["transcript"] == final


async def test_barge_in_cancels_and_truncate_cuts_history(conn, served, question):
    _, brains = served
    brains[-1].pace_ahead_s = 1.0  # stream the reply like a live session plays it, so it can be cut
    await conn.send({"type": "conversation.item.create", "item": {
        "type": "message", "role": "user",
        "content": [{"type": "input_text", "text": "What can you do?"}]}})
    await conn.send({"type": "response.create"})
    events = []
    audio_ms = 0.0
    while audio_ms < 1500:
        event = await conn.recv()
        events.append(event)
        if event["type"] == "response.output_audio.delta":
            audio_ms += len(pcm16_decode(event["delta"])) * 1000 / RATE
        assert event["type"] != "response.done", "the reply was too short to interrupt"
    item_id = of_type(events, "response.output_item.added")[0]["item"]["id"]
    # The user speaks over the reply: the server cuts it at once.
    await conn.speak(question[: int(1.6 * RATE)], pace=8)
    more = await conn.until("input_audio_buffer.speech_started")
    more += await conn.until("response.done")
    done = of_type(more, "response.done")[0]["response"]
    assert done["status"] == "cancelled"
    assert done["status_details"]["reason"] == "turn_detected"
    assert first_index(more, "input_audio_buffer.speech_started") < first_index(more, "response.done")
    full = done["output"][0]["content"][0]["transcript"]
    # The client heard 800 ms of it.
    await conn.send({"type": "conversation.item.truncate", "item_id": item_id, "content_index": 0,
                     "audio_end_ms": 800})
    truncated = of_type(await conn.until("conversation.item.truncated"), "conversation.item.truncated")[0]
    assert truncated["item_id"] == item_id and truncated["audio_end_ms"] == 800
    await conn.send({"type": "conversation.item.retrieve", "item_id": item_id})
    item = of_type(await conn.until("conversation.item.retrieved"), "conversation.item.retrieved")[0]["item"]
    heard = item["content"][0]["transcript"]
    assert heard and full.startswith(heard) and len(heard.split()) < len(full.split())
    history = brains[-1].dialogue.history
    assert {"role": "assistant", "content": heard} in history
    assert not any(m["content"] == full for m in history)
    # The rest of the interruption still makes a turn of its own, answered in full.
    brains[-1].pace_ahead_s = None
    await conn.speak(np.zeros(RATE, np.float32), pace=8)
    await conn.until("input_audio_buffer.speech_stopped")
    assert (await conn.until("response.done"))[-1]["response"]["status"] == "completed"


async def test_text_only_turn(conn):
    await conn.send({"type": "session.update", "session": {"type": "realtime", "output_modalities": ["text"]}})
    updated = (await conn.until("session.updated"))[-1]
    assert updated["session"]["output_modalities"] == ["text"]
    await conn.send({"type": "conversation.item.create", "item": {
        "type": "message", "role": "user", "content": [{"type": "input_text", "text": "What is your name?"}]}})
    await conn.send({"type": "response.create"})
    events = await conn.until("response.done")
    assert not of_type(events, "response.output_audio.delta")
    text = "".join(e["delta"] for e in of_type(events, "response.output_text.delta"))
    assert "Ava" in text
    done = of_type(events, "response.done")[0]["response"]
    assert done["status"] == "completed" and done["output_modalities"] == ["text"]
    assert done["output"][0]["content"][0] == {"type": "output_text", "text": text.strip()}


async def test_manual_turns_commit_then_respond(conn, question):
    await conn.send({"type": "session.update", "session": {
        "type": "realtime", "audio": {"input": {"turn_detection": None}}}})
    await conn.until("session.updated")
    await conn.speak(question, pace=20)
    # Push-to-talk: commit and ask at once. The committed turn comes first and is what is answered.
    await conn.send({"type": "input_audio_buffer.commit", "event_id": "commit_1"})
    await conn.send({"type": "response.create"})
    events = await conn.until("response.done")
    assert not of_type(events, "input_audio_buffer.speech_started")  # no server VAD now
    kinds = [e["type"] for e in events]
    assert kinds.index("input_audio_buffer.committed") < kinds.index("response.created")
    assert kinds.index("conversation.item.input_audio_transcription.completed") < kinds.index("response.created")
    user = of_type(events, "input_audio_buffer.committed")[0]["item_id"]
    assert of_type(events, "conversation.item.input_audio_transcription.completed")[0]["transcript"].strip()
    answer = [e for e in of_type(events, "conversation.item.added") if e["item"]["role"] == "assistant"][0]
    assert answer["previous_item_id"] == user
    assert of_type(events, "response.output_audio.delta")
    assert events[-1]["response"]["status_details"] is None  # completed, as OpenAI's say
    # An empty buffer cannot be committed.
    await conn.send({"type": "input_audio_buffer.commit", "event_id": "commit_2"})
    error = (await conn.until("error"))[-1]["error"]
    assert error["event_id"] == "commit_2"


@pytest.mark.parametrize("message, code, event_id", [
    ("{not json", "invalid_json", None),
    ('{"type": "response.explode", "event_id": "e1"}', "invalid_event_type", "e1"),
    ('{"type": "conversation.item.truncate", "event_id": "e2", "item_id": "x", "content_index": "0",'
     ' "audio_end_ms": 10}', "invalid_value", "e2"),
    ('{"type": "response.create", "event_id": "e3", "response": {"voice_of_god": true}}', "unknown_parameter", "e3"),
    ('{"type": "conversation.item.truncate", "event_id": "e4", "item_id": "item_nope", "content_index": 0,'
     ' "audio_end_ms": 10}', "item_not_found", "e4"),
    ('{"type": "response.cancel", "event_id": "e5"}', "response_cancel_not_active", "e5"),
    ('{"type": "input_audio_buffer.append", "event_id": "e6", "audio": "%%%"}', "invalid_value", "e6"),
])
async def test_bad_events_get_errors_and_the_connection_survives(conn, message, code, event_id):
    await conn.send_raw(message)
    error = (await conn.until("error"))[-1]["error"]
    assert error["type"] == "invalid_request_error"
    assert error["code"] == code
    assert error.get("event_id") == event_id
    await conn.send({"type": "session.update", "session": {"type": "realtime", "instructions": "Be brief."}})
    assert (await conn.until("session.updated"))[-1]["session"]["instructions"] == "Be brief."


class _SloppyBrain:
    """A brain with a bug of its own (an event without its item's id): the server must keep it off the wire."""

    input_rate = RATE
    settings = SessionSettings()

    def __init__(self) -> None:
        self.queue: asyncio.Queue = asyncio.Queue()
        self.got: list[str] = []

    async def clear_audio(self) -> None:
        self.got.append("clear")
        self.queue.put_nowait(Notice("for the page, not the wire"))
        self.queue.put_nowait(UserSpeechStopped(None, 0))  # no item id: invalid
        self.queue.put_nowait(InputCleared())

    async def events(self):
        while (event := await self.queue.get()) is not None:
            yield event

    async def close(self) -> None:
        self.queue.put_nowait(None)


async def test_server_keeps_invalid_and_private_events_off_the_wire():
    brains: list[_SloppyBrain] = []
    server = await start_realtime_server(lambda request: brains.append(_SloppyBrain()) or brains[-1])
    try:
        client = AsyncOpenAI(api_key="test", websocket_base_url=server.url)
        async with client.realtime.connect(model="livehuman") as connection:
            conn = StrictConnection(connection)
            assert (await conn.recv())["type"] == "session.created"
            await conn.send({"type": "input_audio_buffer.clear", "event_id": "c1"})
            first = await conn.recv()
            assert first["type"] == "error" and first["error"]["type"] == "server_error"
            assert (await conn.recv())["type"] == "input_audio_buffer.cleared"
        assert brains[0].got == ["clear"]
    finally:
        await server.stop()
