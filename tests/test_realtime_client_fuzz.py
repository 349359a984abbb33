"""Events from a Realtime server, fuzzed: whatever the server sends, RealtimeBrain keeps the
conversation going, skips what it cannot read, and passes on only typed speech events.

The examples are the protocol's own (checked against the openai SDK's types below); the fuzz
changes, removes or adds a field anywhere in them, or sends JSON of any shape. Then a real
connection: a server that speaks the protocol but mixes malformed events into a reply.
"""

from __future__ import annotations

import asyncio
import json

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from helpers_fuzz import FUZZ_EXAMPLES, JSON, mutated
from helpers_realtime import pcm16_b64
from livehuman.brain.client import RealtimeBrain
from livehuman.brain.events import validate_server_event
from livehuman.brain.speech_events import Notice, ReplyAudio, ReplyDone, ReplyStarted, SpeechEvent

AUDIO = pcm16_b64(np.sin(np.arange(480) / 5.0).astype(np.float32) * 0.3)  # 20 ms at 24 kHz
ITEM = {"id": "item_1", "type": "message", "role": "assistant", "status": "in_progress", "object": "realtime.item",
        "content": [{"type": "output_audio", "transcript": "Hello there."}]}
RESPONSE = {"id": "resp_1", "object": "realtime.response", "status": "in_progress", "output": [],
            "output_modalities": ["audio"]}


def reply(response_id: str = "resp_1", item_id: str = "item_1") -> list[dict]:
    """A spoken reply as a Realtime server sends it."""
    ids = {"response_id": response_id, "item_id": item_id, "output_index": 0, "content_index": 0}
    return [
        {"type": "response.created", "event_id": "e1", "response": {**RESPONSE, "id": response_id}},
        {"type": "conversation.item.added", "event_id": "e2", "previous_item_id": None, "item": {**ITEM, "id": item_id}},
        {"type": "response.output_audio_transcript.delta", "event_id": "e3", **ids, "delta": "Hello there."},
        {"type": "response.output_audio.delta", "event_id": "e4", **ids, "delta": AUDIO},
        {"type": "response.output_audio.done", "event_id": "e5", **ids},
        {"type": "response.output_audio_transcript.done", "event_id": "e6", **ids, "transcript": "Hello there."},
        {"type": "conversation.item.done", "event_id": "e7", "previous_item_id": None,
         "item": {**ITEM, "id": item_id, "status": "completed"}},
        {"type": "response.done", "event_id": "e8", "response": {**RESPONSE, "id": response_id, "status": "completed"}},
    ]


VALID = reply() + [
    {"type": "input_audio_buffer.speech_started", "event_id": "e9", "audio_start_ms": 120, "item_id": "item_u"},
    {"type": "input_audio_buffer.speech_stopped", "event_id": "e10", "audio_end_ms": 900, "item_id": "item_u"},
    {"type": "conversation.item.input_audio_transcription.completed", "event_id": "e11", "item_id": "item_u",
     "content_index": 0, "transcript": "Hi.", "usage": {"type": "duration", "seconds": 0.8}},
    {"type": "conversation.item.truncated", "event_id": "e12", "item_id": "item_1", "content_index": 0,
     "audio_end_ms": 10},
    {"type": "conversation.item.deleted", "event_id": "e13", "item_id": "item_1"},
    {"type": "rate_limits.updated", "event_id": "e14",
     "rate_limits": [{"name": "tokens", "limit": 100, "remaining": 0, "reset_seconds": 2.5}]},
    {"type": "error", "event_id": "e15", "error": {"type": "invalid_request_error", "code": "bad", "message": "No."}},
]


def test_the_examples_are_the_protocols_events():
    for event in VALID:
        validate_server_event(event)


def taken(brain: RealtimeBrain) -> list:
    out = []
    while not brain._out.empty():
        out.append(brain._out.get_nowait())
    return out


@settings(max_examples=FUZZ_EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.lists(st.one_of(mutated(VALID).map(json.dumps), JSON.map(json.dumps), st.text(max_size=60),
                          st.binary(max_size=60)), min_size=1, max_size=6))
def test_any_server_messages_are_read_or_skipped_and_the_next_reply_still_plays(messages):
    brain = RealtimeBrain(client=object())  # never connects: the messages are handed to it
    for message in messages:
        brain.take_message(message)
    said = taken(brain)
    assert all(isinstance(event, SpeechEvent) or event is None for event in said)
    # Whatever came before, a well-formed reply is heard whole.
    for event in reply("resp_9", "item_9"):
        brain.take_message(json.dumps(event))
    said = taken(brain)
    assert [type(e) for e in said if isinstance(e, (ReplyStarted, ReplyAudio, ReplyDone))] == [ReplyStarted, ReplyAudio, ReplyDone]
    audio = next(e for e in said if isinstance(e, ReplyAudio))
    assert audio.item_id == "item_9" and len(audio.samples) == 480


def test_a_content_index_cannot_size_a_list():
    brain = RealtimeBrain(client=object())
    brain.take_message(json.dumps(reply()[1]))
    brain.take_message(json.dumps({"type": "response.output_audio_transcript.done", "item_id": "item_1",
                                   "response_id": "resp_1", "content_index": 10**12, "transcript": "x"}))
    assert len(brain.history()[0]["content"]) == 1


@pytest.mark.asyncio
async def test_malformed_events_in_a_live_reply_are_skipped_without_reconnecting():
    """A server that speaks the protocol over a WebSocket and slips broken events into a reply:
    the reply comes through, and the connection is kept (no reconnect, no 'connection lost')."""
    from websockets.asyncio.server import serve

    broken = ['{"type": "response.output_audio.delta", "delta": 5}', "not json", "[1, 2]",
              '{"type": "conversation.item.added", "item": "x"}', '{"type": "response.created", "response": 5}',
              '{"type": "input_audio_buffer.speech_started"}', "[" * 100000 + "]" * 100000]

    async def server(ws):
        session = json.loads(await ws.recv())
        assert session["type"] == "session.update"
        await ws.send(json.dumps({"type": "session.created", "event_id": "e0",
                                  "session": {"type": "realtime", "object": "realtime.session", "id": "sess_1"}}))
        events = reply()
        for good, bad in zip(events, broken + [None] * len(events)):
            await ws.send(json.dumps(good))
            if bad is not None:
                await ws.send(bad)
        await ws.wait_closed()

    async with serve(server, "127.0.0.1", 0, max_size=None) as ws_server:
        port = ws_server.sockets[0].getsockname()[1]
        brain = RealtimeBrain(api_key="sk-local", websocket_base_url=f"ws://127.0.0.1:{port}/v1")
        said = []
        try:
            await brain.respond()  # starts the connection
            async with asyncio.timeout(20):
                async for event in brain.events():
                    said.append(event)
                    if isinstance(event, ReplyDone):
                        break
        finally:
            await brain.close()
    assert [type(e) for e in said if isinstance(e, (ReplyStarted, ReplyAudio, ReplyDone))] == [ReplyStarted, ReplyAudio, ReplyDone]
    assert brain.reconnects == 0 and not [e for e in said if isinstance(e, Notice)]
