"""The page's data-channel protocol: what the page may send, and the outbox before the channel opens."""

from __future__ import annotations

import json

import pytest
from pyee.asyncio import AsyncIOEventEmitter

from livehuman.live.channel import (
    MAX_TEXT,
    OUTBOX_LIMIT,
    BadMessage,
    Interrupt,
    PageChannel,
    SayText,
    SpeakText,
    SwitchPersona,
    parse_message,
)


def test_text_say_and_interrupt_are_understood():
    assert parse_message('{"type": "text", "text": "  hello there \\n"}') == SayText("hello there")
    assert parse_message(b'{"type": "interrupt"}') == Interrupt()
    assert parse_message('{"type": "say", "text": " Welcome! "}') == SpeakText("Welcome!", interrupt=True)
    assert parse_message('{"type": "say", "text": "Next", "interrupt": false}') == SpeakText("Next", interrupt=False)
    assert parse_message('{"type": "persona", "persona": " max "}') == SwitchPersona("max")


@pytest.mark.parametrize("message, answer", [
    ("not json", "messages must be JSON objects"),
    ("[1, 2]", "messages must be JSON objects"),
    (b"\xff\xfe", "messages must be JSON objects"),
    (42, "messages must be JSON objects"),
    ('{"type": "text"}', "needs a non-empty \"text\" string"),
    ('{"type": "text", "text": "   "}', "needs a non-empty \"text\" string"),
    ('{"type": "text", "text": 7}', "needs a non-empty \"text\" string"),
    (json.dumps({"type": "text", "text": "a" * (MAX_TEXT + 1)}), f"limited to {MAX_TEXT} characters"),
    ('{"type": "say", "text": ""}', "a say message needs a non-empty \"text\" string"),
    ('{"type": "say", "text": "hi", "interrupt": "yes"}', "\"interrupt\" must be true or false"),
    ('{"type": "persona"}', "a persona message needs \"persona\": a persona's key"),
    ('{"type": "persona", "persona": 3}', "a persona message needs \"persona\": a persona's key"),
    ('{"type": "persona", "persona": " "}', "a persona message needs \"persona\": a persona's key"),
    ('{"type": "dance"}', "unknown message type 'dance': use \"text\", \"say\", \"interrupt\", \"touch\" or \"persona\""),
])
def test_bad_messages_get_one_clear_answer(message, answer):
    with pytest.raises(BadMessage, match=answer.replace("(", r"\(").replace("[", r"\[")):
        parse_message(message)


class Channel(AsyncIOEventEmitter):
    """The transport's side of a data channel as aiortc's RTCDataChannel shows it: events, a state, send."""

    def __init__(self, state: str = "connecting"):
        super().__init__()
        self.readyState = state
        self.sent: list[dict] = []

    def send(self, data: str) -> None:
        assert self.readyState == "open"
        self.sent.append(json.loads(data))

    def open(self) -> None:
        self.readyState = "open"
        self.emit("open")


async def test_messages_wait_for_the_channel_to_open_and_keep_their_order():
    page = PageChannel()
    page.notice("a greeting before the page is there")
    channel = Channel()
    received, closed = [], []
    page.attach(channel, on_message=received.append, on_close=lambda: closed.append(True))
    page.state("thinking")
    page.transcript("assistant", "Hi", final=False, item="item_1")
    assert channel.sent == []
    channel.open()
    assert channel.sent == [
        {"type": "notice", "message": "a greeting before the page is there"},
        {"type": "state", "state": "thinking"},
        {"type": "transcript", "role": "assistant", "text": "Hi", "final": False, "item": "item_1"},
    ]
    page.error("oops")
    page.transcript("user", "hello", final=True)
    assert channel.sent[-2:] == [{"type": "error", "message": "oops"},
                                 {"type": "transcript", "role": "user", "text": "hello", "final": True}]
    channel.emit("message", '{"type": "interrupt"}')
    channel.emit("close")
    assert received == ['{"type": "interrupt"}'] and closed == [True]


async def test_the_outbox_keeps_only_the_latest_messages_and_a_closed_channel_drops_them():
    page = PageChannel()
    for k in range(OUTBOX_LIMIT + 10):
        page.send({"type": "metrics", "turn": k})
    channel = Channel("open")
    page.attach(channel, on_message=lambda m: None, on_close=lambda: None)  # already open: flushed now
    assert [m["turn"] for m in channel.sent] == list(range(10, OUTBOX_LIMIT + 10))
    channel.readyState = "closed"
    page.state("listening")
    assert len(channel.sent) == OUTBOX_LIMIT


# -- fuzzing: whatever the page sends, one clear answer --------------------------------------------

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from helpers_fuzz import FUZZ_EXAMPLES, JSON  # noqa: E402

MESSAGES = st.one_of(
    st.text(max_size=200), st.binary(max_size=200),
    JSON.map(json.dumps),
    st.fixed_dictionaries({"type": st.sampled_from(["text", "say", "interrupt", "TEXT", ""]) | st.text(max_size=8)},
                          optional={"text": JSON | st.text(max_size=MAX_TEXT + 50), "interrupt": JSON}).map(json.dumps),
    st.integers(), st.none(), st.floats(),
)


@settings(max_examples=FUZZ_EXAMPLES, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(MESSAGES)
def test_any_message_is_understood_or_refused_with_bad_message(message):
    try:
        parsed = parse_message(message)
    except BadMessage as exc:
        assert str(exc)  # the answer the page gets
        return
    assert isinstance(parsed, (SayText, SpeakText, Interrupt))
    if isinstance(parsed, (SayText, SpeakText)):
        assert parsed.text and parsed.text == parsed.text.strip() and len(parsed.text) <= MAX_TEXT


@pytest.mark.parametrize("depth", [100, 5000, 200_000])
def test_deeply_nested_json_is_refused_like_any_other_bad_message(depth):
    with pytest.raises(BadMessage, match="JSON objects"):
        parse_message("[" * depth + "]" * depth)
    with pytest.raises(BadMessage):
        parse_message('{"type": "text", "text": ' + "[" * depth + "]" * depth + "}")
async def test_watchers_see_every_message_once_whether_or_not_a_page_is_attached():
    page = PageChannel()
    seen, also = [], []
    unwatch = page.watch(seen.append)
    page.watch(also.append)
    page.notice("before the page")
    channel = Channel()
    page.attach(channel, on_message=lambda m: None, on_close=lambda: None)
    page.state("speaking")
    channel.open()  # the outbox is flushed to the page, not shown to the watchers again
    unwatch()
    page.state("listening")
    assert seen == [{"type": "notice", "message": "before the page"}, {"type": "state", "state": "speaking"}]
    assert also == seen + [{"type": "state", "state": "listening"}]
    assert channel.sent == also
