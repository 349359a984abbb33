"""brain/wire.py: typed events and commands to the Realtime protocol and back, checked against the SDK's types."""

from __future__ import annotations

import asyncio
from dataclasses import replace

import numpy as np
import pytest

from livehuman.brain.base import RequestError, SessionSettings, TurnDetection
from livehuman.brain.events import EventError, error_event, validate_client_event, validate_server_event
from livehuman.brain.speech_events import (
    BrainError,
    InputCleared,
    Notice,
    ReplyAudio,
    ReplyAudioDone,
    ReplyDone,
    ReplyStarted,
    ReplyTranscriptDelta,
    ReplyTranscriptDone,
    ReplyTruncated,
    UserSpeechStarted,
    UserSpeechStopped,
    UserTranscriptDelta,
    UserTranscriptDone,
)
from livehuman.brain.wire import ClientWire, ServerWire, session_config, session_update, settings_of
from livehuman.speech.phones import Phone
from openai.types.realtime import RealtimeClientEvent, RealtimeServerEvent
from pydantic import TypeAdapter

RATE = 24000
SERVER_EVENT = TypeAdapter(RealtimeServerEvent)
CLIENT_EVENT = TypeAdapter(RealtimeClientEvent)


class Recorder:
    """Stands in for a brain behind the wire: it records the commands the wire makes of client events."""

    input_rate = RATE

    def __init__(self) -> None:
        self.settings = SessionSettings(instructions="Be kind.", voice="en-us")
        self.calls: list[tuple] = []

    async def update(self, settings):
        self.calls.append(("update", settings))
        self.settings = settings

    async def push_audio(self, samples, rate):
        self.calls.append(("push_audio", samples, rate))

    async def commit_audio(self):
        self.calls.append(("commit_audio",))

    async def clear_audio(self):
        self.calls.append(("clear_audio",))

    async def add_message(self, text, role="user", item_id=None):
        self.calls.append(("add_message", text, role, item_id))

    async def respond(self, audio=None):
        self.calls.append(("respond", audio))

    async def cancel(self):
        self.calls.append(("cancel",))
        raise RequestError("there is no active response to cancel", code="response_cancel_not_active")

    async def truncate(self, item_id, audio_end_ms):
        self.calls.append(("truncate", item_id, audio_end_ms))


def checked(events: list[dict]) -> list[dict]:
    """Each event strictly valid for the SDK, and parsed by its own discriminated union as the same type."""
    for event in events:
        validate_server_event(event)
        assert SERVER_EVENT.validate_python(event).type == event["type"]
    return events


def tone(seconds: float, rate: int) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (0.5 * np.sin(2 * np.pi * 220 * t)).astype(np.float32)


def test_a_spoken_turn_and_its_reply_go_out_as_the_protocol_says_and_come_back_the_same():
    server, client = ServerWire(Recorder()), ClientWire()
    created = checked([server.created()])[0]
    assert created["session"]["instructions"] == "Be kind."
    assert created["session"]["audio"]["output"]["format"] == {"type": "audio/pcm", "rate": RATE}
    phones = (Phone("h", 0.0, 0.05), Phone("aɪ", 0.05, 0.2))
    said = [
        UserSpeechStarted("item_u", 120), UserTranscriptDelta("item_u", "hel"), UserTranscriptDelta("item_u", "lo"),
        UserSpeechStopped("item_u", 900), UserTranscriptDone("item_u", "hello"),
        ReplyStarted("resp_1", "item_a", True), ReplyTranscriptDelta("resp_1", "item_a", "Hi there."),
        ReplyAudio("resp_1", "item_a", tone(0.1, RATE), RATE, phones), ReplyAudio("resp_1", "item_a", tone(0.1, RATE), RATE),
        ReplyAudioDone("resp_1", "item_a"), ReplyTranscriptDone("resp_1", "item_a", "Hi there."),
        ReplyDone("resp_1", "completed"),
    ]
    out = [checked(server.encode(event)) for event in said]
    kinds = [[e["type"] for e in events] for events in out]
    # The words heard while the user spoke are told once the turn's item exists (deltas name it).
    assert kinds[1] == kinds[2] == []
    assert kinds[4] == ["input_audio_buffer.committed", "conversation.item.added",
                        "conversation.item.input_audio_transcription.delta",
                        "conversation.item.input_audio_transcription.completed", "conversation.item.done"]
    assert kinds[5] == ["response.created", "response.output_item.added", "conversation.item.added",
                        "response.content_part.added"]
    assert kinds[-1] == ["response.content_part.done", "response.output_item.done", "conversation.item.done",
                         "response.done"]
    done = out[-1][-1]["response"]
    assert done["status"] == "completed" and done["output"][0]["content"][0]["transcript"] == "Hi there."
    assert out[4][0]["previous_item_id"] is None and out[5][2]["previous_item_id"] == "item_u"
    # Back through the client's side: the same events (phones never cross the wire).
    back = [client.decode(e) for events in out for e in events]
    back = [e for e in back if e is not None]
    expected = [replace(e, item_id=None) if isinstance(e, ReplyStarted) else e for e in said
                if not isinstance(e, UserTranscriptDelta)]
    expected.insert(2, UserTranscriptDelta("item_u", "hello"))
    assert len(back) == len(expected)
    for got, want in zip(back, expected):
        if isinstance(want, ReplyAudio):
            assert isinstance(got, ReplyAudio) and got.rate == RATE and got.phones == ()
            assert (got.response_id, got.item_id) == (want.response_id, want.item_id)
            assert np.abs(got.samples - want.samples).max() < 1.5 / 32768
        else:
            assert got == want


def test_audio_at_another_rate_is_resampled_once_per_reply_and_truncation_is_bounded_by_it():
    server = ServerWire(Recorder())
    checked(server.encode(ReplyStarted("resp_1", "item_a")))
    deltas = []
    for _ in range(5):
        deltas += checked(server.encode(ReplyAudio("resp_1", "item_a", tone(0.1, 16000), 16000)))
    client = ClientWire()
    audio = np.concatenate([client.decode(e).samples for e in deltas if e["type"] == "response.output_audio.delta"])
    assert abs(len(audio) - 0.5 * RATE) <= 0.002 * RATE  # 24 kHz now; the filter holds back ~1 ms
    # The tone carries over chunk boundaries without clicks: a stream, not five resamplings.
    steps = np.abs(np.diff(audio[RATE // 100:]))
    assert steps.max() < 0.05
    checked(server.encode(ReplyDone("resp_1", "cancelled", "turn_detected")))
    truncated = checked(server.encode(ReplyTruncated("item_a", 300, "Hi")))
    assert truncated[0]["type"] == "conversation.item.truncated" and truncated[0]["audio_end_ms"] == 300


def test_text_replies_errors_and_notices():
    server, client = ServerWire(Recorder()), ClientWire()
    checked(server.encode(ReplyStarted("resp_t", "item_t", audio=False)))
    delta = checked(server.encode(ReplyTranscriptDelta("resp_t", "item_t", "Hello.")))[0]
    assert delta["type"] == "response.output_text.delta"
    assert client.decode(delta) == ReplyTranscriptDelta("resp_t", "item_t", "Hello.")
    done = checked(server.encode(ReplyTranscriptDone("resp_t", "item_t", "Hello.")))[0]
    assert done == {**done, "type": "response.output_text.done", "text": "Hello."}
    end = checked(server.encode(ReplyDone("resp_t", "completed")))[-1]["response"]
    assert end["output_modalities"] == ["text"] and end["output"][0]["content"][0] == {"type": "output_text", "text": "Hello."}
    error = checked(server.encode(BrainError("speech input failed", "oops")))[0]
    assert error["error"]["type"] == "server_error" and client.decode(error) == BrainError("speech input failed", "oops")
    assert server.encode(Notice("for the page only")) == []
    cleared = checked(server.encode(InputCleared()))[0]
    assert client.decode(cleared) == InputCleared()


async def test_commands_cross_the_wire_as_the_same_commands():
    brain = Recorder()
    server, client = ServerWire(brain), ClientWire()
    session = session_config(voice="marin", transcription_model="gpt-4o-mini-transcribe", instructions="Be kind.")
    wanted = SessionSettings(instructions="Be brief.", voice="cedar",
                             turn_detection=TurnDetection(kind="semantic_vad", eagerness="high"), audio=False)
    update = session_update(session, wanted)
    assert session_update(session, settings_of(session)) is None  # nothing changed: nothing to send
    speech = tone(0.02, 16000)
    sent = [update, client.append_audio(speech, 16000), client.commit_audio(), client.clear_audio(),
            client.add_message("What is your name?", "user"), client.add_message("I am Ava.", "assistant", "item_x"),
            client.respond(), client.respond(False), client.truncate("item_x", 250)]
    for event in sent:
        validate_client_event(event)
        assert CLIENT_EVENT.validate_python(event).type == event["type"]
    answers = [await server.handle(event) for event in sent]
    calls = brain.calls
    assert calls[0] == ("update", replace(wanted, voice="cedar"))
    assert checked(answers[0])[0]["session"]["audio"]["input"]["turn_detection"] == {
        "type": "semantic_vad", "eagerness": "high", "create_response": True, "interrupt_response": True}
    name, samples, rate = calls[1]
    assert name == "push_audio" and rate == RATE and abs(len(samples) - 0.02 * RATE) <= 24
    assert [c[0] for c in calls[2:4]] == ["commit_audio", "clear_audio"]
    assert calls[4][:3] == ("add_message", "What is your name?", "user")
    assert calls[5] == ("add_message", "I am Ava.", "assistant", "item_x")
    assert [e["type"] for e in checked(answers[5])] == ["conversation.item.added", "conversation.item.done"]
    assert calls[6:8] == [("respond", False), ("respond", False)]  # the session is text-only now
    # A truncate of an item with no audio is refused at the wire, with the client's event id.
    error = checked(answers[8])[0]["error"]
    assert error["param"] == "item_id" and len(calls) == 8


async def test_refusals_become_error_events_that_name_the_client_event():
    server = ServerWire(Recorder())
    bad = [({"type": "response.cancel", "event_id": "c1"}, "response_cancel_not_active"),
           ({"type": "input_audio_buffer.append", "event_id": "c2", "audio": "%%%"}, "invalid_value"),
           ({"type": "conversation.item.retrieve", "event_id": "c3", "item_id": "nope"}, "item_not_found"),
           ({"type": "session.update", "event_id": "c4", "session": {"type": "realtime", "audio": {
               "input": {"format": {"type": "audio/pcm", "rate": 16000}}}}}, "invalid_value"),
           ({"type": "conversation.item.create", "event_id": "c6", "previous_item_id": "item_nope", "item": {
               "type": "message", "role": "user", "content": [{"type": "input_text", "text": "Hi"}]}}, "item_not_found"),
           ({"type": "response.create", "event_id": "c7", "response": {"conversation": "none"}}, "invalid_value"),
           ({"type": "response.create", "event_id": "c8", "response": {"audio": {"output": {
               "format": {"type": "audio/pcmu"}}}}}, "invalid_value"),
           ({"type": "session.update", "event_id": "c5", "session": {"type": "realtime", "audio": None}},
            "invalid_value")]
    params = []
    for event, code in bad:
        error = checked(await server.handle(event))[0]["error"]
        assert (error["code"], error["event_id"]) == (code, event["event_id"])
        params.append(error.get("param"))
    assert params[-4:] == ["previous_item_id", "response.conversation", "response.audio.output.format", "session.audio"]
    assert not server._items  # nothing refused was added
    assert server.session["audio"]["output"]["format"]["rate"] == 24000  # the refused update changed nothing
    # A custom voice object (OpenAI's, which the SDK allows) is refused by name, not by a crash.
    voice = {"type": "session.update", "session": {"type": "realtime", "audio": {"output": {"voice": {"id": "x"}}}}}
    error = checked(await server.handle(voice))[0]["error"]
    assert error["param"] == "session.audio.output.voice" and "custom voice" in error["message"]


@pytest.mark.parametrize(("event", "param", "words"), [
    ({"type": "conversation.item.create", "item": {"type": "message", "role": "bogus",
                                                    "content": [{"type": "input_text", "text": "hi"}]}},
     "item.role", "'system' or 'user'"),
    ({"type": "conversation.item.create", "item": {"type": "message", "role": "user",
                                                    "content": [{"type": "input_txt", "text": "hi"}]}},
     "item.content.0.type", "'input_text', 'input_audio' or 'input_image'"),
    ({"type": "session.update", "session": {"type": "realtime", "audio": {"input": {"turn_detection": {
        "type": "semantic_vad", "eagerness": "bogus"}}}}},
     "session.audio.input.turn_detection.eagerness", "'low', 'medium', 'high' or 'auto'"),
])
def test_a_refusal_names_the_field_meant_among_the_types_it_may_take(event, param, words):
    """A conversation item may be one of several types, and pydantic refuses the data once for each:
    the error names the field as the client wrote it (no type names in the path) and every value that
    would have done, not the first type's ("should be 'system'" for a user's role)."""
    with pytest.raises(EventError) as refused:
        validate_client_event(event)
    assert refused.value.param == param and words in str(refused.value), str(refused.value)


def test_a_cut_reply_keeps_the_words_heard_for_retrieval():
    server = ServerWire(Recorder())
    for event in (ReplyStarted("resp_1", "item_a"), ReplyTranscriptDelta("resp_1", "item_a", "One two three."),
                  ReplyAudio("resp_1", "item_a", tone(0.5, RATE), RATE), ReplyTranscriptDone("resp_1", "item_a", "One two three."),
                  ReplyDone("resp_1", "cancelled", "client_cancelled"), ReplyTruncated("item_a", 200, "One")):
        checked(server.encode(event))
    item = checked(asyncio.run(server.handle({"type": "conversation.item.retrieve", "item_id": "item_a"})))[0]["item"]
    assert item["status"] == "incomplete" and item["content"][0]["transcript"] == "One"


# -- fuzzing: any client message is handled or refused with a valid error event -------------------

import json  # noqa: E402

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from helpers_fuzz import FUZZ_EXAMPLES, JSON, mutated_events  # noqa: E402
from livehuman.brain.events import parse_client_message  # noqa: E402
from livehuman.brain.limits import ConnectionLimits, RealtimeLimits  # noqa: E402


def _wire_with_an_answer() -> ServerWire:
    """A wire whose conversation holds an assistant item with audio (item_a), as after a reply."""
    wire = ServerWire(Recorder())
    for event in (ReplyStarted("resp_1", "item_a"), ReplyAudio("resp_1", "item_a", tone(0.2, RATE), RATE),
                  ReplyTranscriptDone("resp_1", "item_a", "Hello."), ReplyDone("resp_1", "completed")):
        wire.encode(event)
    return wire


@settings(max_examples=FUZZ_EXAMPLES, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(mutated_events().map(json.dumps), JSON.map(json.dumps), st.text(max_size=100), st.binary(max_size=100)))
def test_any_client_message_is_handled_or_refused_with_a_valid_error_event(message):
    try:
        event = parse_client_message(message)
    except EventError as exc:
        checked([error_event(exc.message, code=exc.code, param=exc.param, event_id=exc.event_id)])
        return
    refusal = ConnectionLimits(RealtimeLimits(max_text_chars=20), 0.0).event(event, 0.0)
    if refusal is not None:
        checked([refusal])
    loop = asyncio.new_event_loop()
    try:
        answers = loop.run_until_complete(_wire_with_an_answer().handle(event))
    finally:
        loop.close()
    checked(answers)
    for answer in answers:
        if answer["type"] == "error":
            assert answer["error"]["message"] and answer["error"].get("event_id") == event.get("event_id")


def test_deeply_nested_messages_are_refused_as_invalid():
    for depth in (50, 900, 5000, 200_000):
        nested = "[" * depth + "]" * depth
        message = '{"type": "session.update", "session": {"type": "realtime", "tools": ' + nested + "}}"
        with pytest.raises(EventError):
            parse_client_message(message)
