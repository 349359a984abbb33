"""Rate limits as the Realtime API reports them reach the user as short notices.

OpenAI's rate limiting is out of reach here, so a small WebSocket server plays that part: it
speaks the protocol (every event it sends is validated against the SDK's types) and answers each
response.create with the events the API sends when a limit is hit.
"""

from __future__ import annotations

import asyncio
import json

import pytest
from aiohttp import WSMsgType, web

from livehuman.brain.client import RealtimeBrain
from livehuman.brain.events import error_event, new_id, validate_server_event
from livehuman.brain.speech_events import BrainError, Notice



async def rate_limited(request: web.Request) -> web.WebSocketResponse:
    """Accepts a session, then answers every response.create with a spent rate limit and an error."""
    ws = web.WebSocketResponse()
    await ws.prepare(request)

    async def send(event: dict) -> None:
        validate_server_event(event)
        await ws.send_str(json.dumps(event))

    await send({"type": "session.created", "event_id": new_id("event"), "session": {
        "type": "realtime", "model": "livehuman"}})
    async for msg in ws:
        if msg.type == WSMsgType.TEXT and json.loads(msg.data)["type"] == "response.create":
            await send({"type": "rate_limits.updated", "event_id": new_id("event"), "rate_limits": [
                {"name": "tokens", "limit": 1000, "remaining": 0, "reset_seconds": 12.5}]})
            await send(error_event("Rate limit reached for tokens.", type="invalid_request_error",
                                   code="rate_limit_exceeded"))
    return ws


@pytest.mark.asyncio(loop_scope="module")
async def test_spent_rate_limit_and_rate_limit_error_become_notices():
    app = web.Application()
    app.router.add_get("/v1/realtime", rate_limited)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    brain = RealtimeBrain(api_key="sk-test", model="livehuman", websocket_base_url=f"ws://127.0.0.1:{port}/v1")
    try:
        await brain.respond()
        notices: list[str] = []
        errors: list[BrainError] = []

        async def read():
            async for event in brain.events():
                if isinstance(event, BrainError):
                    errors.append(event)
                if isinstance(event, Notice):
                    notices.append(event.message)
                    if len(notices) == 2:
                        return

        await asyncio.wait_for(read(), 15)
        assert notices[0] == "Rate limit reached (tokens); it resets in 12 s."
        assert notices[1] == "The Realtime API is rate-limiting this session; please wait a moment."
        assert [e.code for e in errors] == ["rate_limit_exceeded"]
        assert brain.reconnects == 0  # a rate limit is not a reason to drop the session
    finally:
        await brain.close()
        await runner.cleanup()


# -- livehuman's own /v1/realtime: what one client may ask of it ---------------------------------
#
# Real WebSocket clients (aiohttp's) against the server with the offline brain behind it; every
# event that comes back is checked against the openai SDK's types. Each test gives the server
# small limits so that they are reached in a moment.

import base64  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402
import pytest_asyncio  # noqa: E402
from aiohttp import ClientSession  # noqa: E402

from livehuman.brain.limits import RealtimeLimits  # noqa: E402
from livehuman.brain.local_factory import LocalBrainFactory  # noqa: E402
from livehuman.brain.server import open_connections, start_realtime_server  # noqa: E402


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def brains():
    make = LocalBrainFactory()
    await asyncio.to_thread(make.warm_up)
    return make


@pytest_asyncio.fixture(loop_scope="module")
async def serve(brains):
    """`await serve(**limits)`: a /v1/realtime server with those limits; its URL."""
    servers = []

    async def start(**limits):
        server = await start_realtime_server(brains, limits=RealtimeLimits(**limits))
        servers.append(server)
        return server

    yield start
    for server in servers:
        await server.stop()


class Client:
    """One raw WebSocket client; every event received is validated by the SDK's types."""

    def __init__(self, http: ClientSession, ws) -> None:
        self.http, self.ws = http, ws

    @classmethod
    async def connect(cls, server) -> "Client":
        http = ClientSession()
        ws = await http.ws_connect(f"http://{server.host}:{server.port}/v1/realtime", max_msg_size=0)
        return cls(http, ws)

    async def send(self, event: dict | str) -> None:
        await self.ws.send_str(event if isinstance(event, str) else json.dumps(event))

    async def recv(self, timeout: float = 20.0) -> dict | None:
        """The next event, or None once the server has closed the connection."""
        msg = await self.ws.receive(timeout=timeout)
        if msg.type != WSMsgType.TEXT:
            return None
        event = json.loads(msg.data)
        validate_server_event(event)
        return event

    async def until(self, kind: str, timeout: float = 20.0) -> list[dict]:
        got = []
        while (event := await self.recv(timeout)) is not None:
            got.append(event)
            if event["type"] == kind:
                return got
        raise AssertionError(f"closed before {kind}: {[e['type'] for e in got]}")

    async def close(self) -> None:
        await self.ws.close()
        await self.http.close()


async def places_taken(server, expected: int) -> None:
    """Wait until the server holds `expected` places (it frees one once the brain has closed)."""
    for _ in range(250):
        if open_connections(server.app) == expected:
            return
        await asyncio.sleep(0.02)
    assert open_connections(server.app) == expected


def audio_b64(seconds: float, rate: int = 24000) -> str:
    return base64.b64encode(np.zeros(int(seconds * rate), "<i2").tobytes()).decode()


async def works(server) -> None:
    """A new client gets its session and an answer to a session.update: the server serves."""
    client = await Client.connect(server)
    try:
        assert (await client.recv())["type"] == "session.created"
        await client.send({"type": "session.update", "session": {"type": "realtime", "instructions": "Be brief."}})
        updated = await client.until("session.updated")
        assert updated[-1]["session"]["instructions"] == "Be brief."
    finally:
        await client.close()


@pytest.mark.asyncio(loop_scope="module")
async def test_a_message_over_the_size_limit_closes_with_1009_and_others_are_served(serve):
    server = await serve(max_message_bytes=64 * 1024)
    client = await Client.connect(server)
    assert (await client.recv())["type"] == "session.created"
    await client.send({"type": "input_audio_buffer.append", "audio": audio_b64(1.5)})  # 96 kB of base64: over
    assert await client.recv() is None
    assert client.ws.close_code == 1009  # message too big
    await client.close()
    await works(server)


@pytest.mark.asyncio(loop_scope="module")
async def test_audio_faster_than_real_time_is_refused_past_the_allowance(serve):
    server = await serve(audio_ahead_s=3.0)
    client = await Client.connect(server)
    try:
        assert (await client.recv())["type"] == "session.created"
        for i in range(5):  # 5 s of audio at once: the first 3 s are taken, the rest refused
            await client.send({"type": "input_audio_buffer.append", "event_id": f"a{i}", "audio": audio_b64(1.0)})
        errors = []
        while len(errors) < 2:
            event = await client.recv()
            assert event is not None and event["type"] == "error"
            errors.append(event["error"])
        assert [e["event_id"] for e in errors] == ["a3", "a4"]
        assert {e["code"] for e in errors} == {"rate_limit_exceeded"}
        assert "faster than it is spoken" in errors[0]["message"]
        # The connection goes on: at real time, audio is taken again.
        await asyncio.sleep(1.2)
        await client.send({"type": "input_audio_buffer.append", "event_id": "a5", "audio": audio_b64(1.0)})
        await client.send({"type": "session.update", "session": {"type": "realtime"}})
        assert [e["type"] for e in await client.until("session.updated")] == ["session.updated"]
    finally:
        await client.close()


@pytest.mark.asyncio(loop_scope="module")
async def test_long_texts_are_refused_with_the_parameter_named(serve):
    server = await serve(max_text_chars=1000)
    client = await Client.connect(server)
    try:
        assert (await client.recv())["type"] == "session.created"
        await client.send({"type": "session.update", "event_id": "s1",
                           "session": {"type": "realtime", "instructions": "x" * 1001}})
        await client.send({"type": "conversation.item.create", "event_id": "c1", "item": {
            "type": "message", "role": "user", "content": [{"type": "input_text", "text": "hello " * 200}]}})
        first, second = await client.recv(), await client.recv()
        assert (first["error"]["code"], first["error"]["param"], first["error"]["event_id"]) == (
            "string_above_max_length", "session.instructions", "s1")
        assert (second["error"]["code"], second["error"]["param"]) == ("string_above_max_length",
                                                                      "item.content.0.text")
        # Within the limit, the same events are taken.
        await client.send({"type": "session.update", "session": {"type": "realtime", "instructions": "x" * 1000}})
        assert (await client.until("session.updated"))[-1]["session"]["instructions"] == "x" * 1000
    finally:
        await client.close()


@pytest.mark.asyncio(loop_scope="module")
async def test_connections_past_the_limit_are_told_and_closed_and_a_freed_place_is_free_at_once(serve):
    server = await serve(max_connections=2)
    first, second = await Client.connect(server), await Client.connect(server)
    for client in (first, second):
        assert (await client.recv())["type"] == "session.created"
    third = await Client.connect(server)
    refused = await third.recv()
    assert refused["type"] == "error" and refused["error"]["code"] == "too_many_connections"
    assert await third.recv() is None and third.ws.close_code == 1013  # try again later
    await third.close()
    assert open_connections(server.app) == 2
    await first.close()
    await places_taken(server, 1)
    await works(server)
    await second.close()


@pytest.mark.asyncio(loop_scope="module")
async def test_requests_that_never_become_websockets_take_no_place(serve):
    """A plain GET (or HEAD) of /v1/realtime is told to upgrade; a client that leaves mid-handshake
    gives its place back. Either used to keep a place for good: four of them shut the endpoint."""
    server = await serve(max_connections=2)
    url = f"http://{server.host}:{server.port}/v1/realtime"
    async with ClientSession() as http:
        for _ in range(3):
            async with http.get(url) as response:
                assert response.status == 426 and "WebSocket" in await response.text()
            async with http.head(url) as response:
                assert response.status in (405, 426)
    for _ in range(3):  # the handshake's request sent, the connection closed before the answer
        reader, writer = await asyncio.open_connection(server.host, server.port)
        writer.write(f"GET /v1/realtime HTTP/1.1\r\nHost: {server.host}\r\nUpgrade: websocket\r\n"
                     "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                     "Sec-WebSocket-Version: 13\r\n\r\n".encode())
        await writer.drain()
        writer.transport.abort()
    await places_taken(server, 0)
    first, second = await Client.connect(server), await Client.connect(server)
    for client in (first, second):
        assert (await client.recv())["type"] == "session.created"
    await first.close()
    await second.close()


@pytest.mark.asyncio(loop_scope="module")
async def test_a_flood_of_messages_is_refused_past_the_rate(serve):
    server = await serve(messages_per_s=5.0, message_burst=10)
    client = await Client.connect(server)
    try:
        assert (await client.recv())["type"] == "session.created"
        start = time.monotonic()
        for i in range(40):
            await client.send({"type": "conversation.item.retrieve", "event_id": f"r{i}", "item_id": "item_none"})
        elapsed = time.monotonic() - start
        codes = [(await client.recv())["error"]["code"] for _ in range(40)]
        handled = codes.count("item_not_found")
        assert codes.count("rate_limit_exceeded") == 40 - handled
        assert 10 <= handled <= 10 + 5 * elapsed + 2  # the burst, and what refilled meanwhile
    finally:
        await client.close()


@pytest.mark.asyncio(loop_scope="module")
async def test_an_idle_connection_is_told_and_closed(serve):
    server = await serve(idle_timeout_s=0.5)
    client = await Client.connect(server)
    assert (await client.recv())["type"] == "session.created"
    expired = await client.recv(timeout=5)
    assert expired["type"] == "error" and expired["error"]["code"] == "session_expired"
    assert await client.recv() is None and client.ws.close_code == 1000
    await client.close()
    await places_taken(server, 0)


@pytest.mark.asyncio(loop_scope="module")
async def test_absurd_voice_detection_numbers_are_refused_without_a_traceback(serve, caplog):
    server = await serve()
    client = await Client.connect(server)
    try:
        assert (await client.recv())["type"] == "session.created"
        for key, value in (("threshold", 1e308), ("silence_duration_ms", 10**12), ("prefix_padding_ms", -5)):
            await client.send({"type": "session.update", "session": {"type": "realtime", "audio": {"input": {
                "turn_detection": {"type": "server_vad", key: value}}}}})
            error = (await client.recv())["error"]
            assert error["param"] == f"session.audio.input.turn_detection.{key}" and error["code"] == "invalid_value"
        await client.send({"type": "session.update", "session": {"type": "realtime", "audio": {"input": {
            "turn_detection": {"type": "server_vad", "threshold": 0.7}}}}})
        updated = (await client.until("session.updated"))[-1]
        assert updated["session"]["audio"]["input"]["turn_detection"]["threshold"] == 0.7
        assert not [r for r in caplog.records if r.levelname in ("ERROR", "CRITICAL")]
    finally:
        await client.close()


@pytest.mark.asyncio(loop_scope="module")
async def test_the_conversation_keeps_at_most_max_items(serve):
    server = await serve(max_items=3)
    client = await Client.connect(server)
    try:
        assert (await client.recv())["type"] == "session.created"
        for i in range(6):
            await client.send({"type": "conversation.item.create", "item": {
                "id": f"item_{i}", "type": "message", "role": "user",
                "content": [{"type": "input_text", "text": f"note {i}"}]}})
            await client.until("conversation.item.done")
        for i in range(6):
            await client.send({"type": "conversation.item.retrieve", "item_id": f"item_{i}"})
            event = await client.recv()
            if i < 3:  # forgotten, oldest first
                assert event["type"] == "error" and event["error"]["code"] == "item_not_found"
            else:
                assert event["type"] == "conversation.item.retrieved" and event["item"]["id"] == f"item_{i}"
    finally:
        await client.close()


# -- fuzzing the endpoint itself: whatever arrives, the server answers and keeps serving -----------

import threading  # noqa: E402

from hypothesis import HealthCheck, example, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from websockets.sync.client import connect as ws_connect  # noqa: E402

from helpers_fuzz import FUZZ_EXAMPLES, JSON, mutated_events  # noqa: E402


@pytest.fixture(scope="module")
def fuzzed_server(brains):
    """A /v1/realtime server in a thread of its own (the fuzz test is synchronous), one client on it."""
    loop = asyncio.new_event_loop()
    started = threading.Event()
    box = {}

    def run():
        asyncio.set_event_loop(loop)
        box["server"] = loop.run_until_complete(start_realtime_server(brains))
        started.set()
        loop.run_forever()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    assert started.wait(30)
    server = box["server"]
    with ws_connect(f"ws://{server.host}:{server.port}/v1/realtime", max_size=None) as client:
        created = json.loads(client.recv(timeout=60))
        assert created["type"] == "session.created"
        yield server, client
    asyncio.run_coroutine_threadsafe(server.stop(), loop).result(30)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(10)


@settings(max_examples=max(50, FUZZ_EXAMPLES // 5), deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(st.one_of(mutated_events().map(json.dumps), JSON.map(json.dumps), st.text(max_size=100)))
@example("[" * 200_000 + "]" * 200_000)  # nested past Python's recursion limit
@example('{"type": "session.update", "session": {"type": "realtime", "tools": ' + "[" * 900 + "]" * 900 + "}}")
def test_any_message_gets_valid_events_back_and_the_connection_goes_on(fuzzed_server, message):
    server, client = fuzzed_server
    client.send(message)
    # A marker after it: everything up to the marker's answer is what the message caused (or a reply's events).
    client.send(json.dumps({"type": "conversation.item.retrieve", "event_id": "marker", "item_id": "item_none"}))
    while True:
        event = json.loads(client.recv(timeout=60))
        validate_server_event(event)
        if event["type"] == "error" and event["error"].get("event_id") == "marker":
            assert event["error"]["code"] == "item_not_found"
            return
        if event["type"] == "error":
            assert event["error"]["type"] == "invalid_request_error", event  # a refusal, never an internal error
