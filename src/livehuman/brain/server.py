"""`GET /v1/realtime`: any Brain served over WebSocket in the OpenAI Realtime GA protocol."""

from __future__ import annotations

import asyncio
import inspect
import json
import logging
import time
import weakref
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from aiohttp import WSMsgType, web

from livehuman.brain.base import Brain
from livehuman.brain.events import EventError, error_event, parse_client_message, validate_server_event
from livehuman.brain.limits import CLOSE_NORMAL, CLOSE_TRY_LATER, Admission, ConnectionLimits, RealtimeLimits
from livehuman.brain.wire import ServerWire

log = logging.getLogger(__name__)

REALTIME_PATH = "/v1/realtime"

BrainFactory = Callable[[web.Request], "Brain | Awaitable[Brain]"]
# Told of each event the server sends and of each refused connection (e.g. to count them as metrics).
EventHook = Callable[[dict], None]
_CONNECTIONS = web.AppKey("livehuman_realtime_connections", weakref.WeakSet)
_ADMISSION = web.AppKey("livehuman_realtime_admission", Admission)


def realtime_routes(app: web.Application, brain_factory: BrainFactory, *, path: str = REALTIME_PATH,
                    api_key: str | None = None, limits: RealtimeLimits | None = None,
                    on_event: EventHook | None = None) -> None:
    """Add the Realtime WebSocket endpoint to `app`; one brain per connection from `brain_factory`.

    `brain_factory(request)` may be sync or async. With `api_key` set, clients must send it as a
    bearer token (the SDK does); without it any token is accepted. The brain's speech events go
    out as the protocol's (livehuman's own, such as notices, do not), each checked against the
    SDK's types. `limits` (brain/limits.py; default RealtimeLimits()) bound what each client may
    ask; `on_event` sees every event sent.
    """
    limits = limits or RealtimeLimits()
    connections: weakref.WeakSet = app.setdefault(_CONNECTIONS, weakref.WeakSet())
    admission = app[_ADMISSION] = Admission(limits)

    async def handler(request: web.Request) -> web.StreamResponse:
        if api_key is not None and request.headers.get("Authorization") != f"Bearer {api_key}":
            raise web.HTTPUnauthorized(text="invalid or missing API key")
        # A message over the limit is never read whole: aiohttp closes with 1009 (message too big).
        ws = web.WebSocketResponse(max_msg_size=limits.max_message_bytes, heartbeat=30)
        if not ws.can_prepare(request).ok:
            raise web.HTTPUpgradeRequired(
                text="/v1/realtime is a WebSocket endpoint: connect with a WebSocket client (e.g. the openai "
                     "SDK's client.realtime.connect)", headers={"Upgrade": "websocket", "Connection": "Upgrade"})
        address = request.remote
        refusal = admission.admit(address)
        try:
            await ws.prepare(request)
        except BaseException as exc:  # a failed handshake gives its place back
            if refusal is None:
                admission.release(address)
            if not isinstance(exc, ConnectionResetError):
                raise
            log.info("a Realtime client from %s left during the handshake", address)
            raise web.HTTPBadRequest(text="the client went away") from None  # read by nobody
        if refusal is not None:
            # After the handshake, so that the client reads why (a refused handshake says only 503).
            log.warning("refused a Realtime connection from %s: %s", address, refusal)
            event = error_event(refusal, type="server_error", code="too_many_connections")
            if on_event is not None:
                on_event(event)
            await ws.send_str(json.dumps(event))
            await ws.close(code=CLOSE_TRY_LATER, message=b"too many connections")
            return ws
        try:
            connections.add(ws)
            try:
                brain = brain_factory(request)
                if inspect.isawaitable(brain):
                    brain = await brain
            except Exception as exc:  # noqa: BLE001 - tell the client, then hang up
                log.exception("cannot start a brain")
                event = error_event(f"cannot start the session: {exc}", type="server_error")
                if on_event is not None:
                    on_event(event)
                await ws.send_str(json.dumps(event))
                await ws.close()
                return ws
            await serve_brain(ws, brain, limits, on_event)
        finally:
            admission.release(address)
        return ws

    app.router.add_get(path, handler)

    async def close_all(app: web.Application) -> None:
        for ws in list(connections):
            await ws.close(code=1001, message=b"server shutdown")

    app.on_shutdown.append(close_all)


def connections(app: web.Application) -> list[web.WebSocketResponse]:
    """The open /v1/realtime WebSockets of `app` (to close them, e.g. on shutdown)."""
    return list(app.get(_CONNECTIONS, ()))


def open_connections(app: web.Application) -> int:
    """How many /v1/realtime connections of `app` hold a place now."""
    admission = app.get(_ADMISSION)
    return 0 if admission is None else admission.open


async def serve_brain(ws: web.WebSocketResponse, brain: Brain, limits: RealtimeLimits | None = None,
                      on_event: EventHook | None = None) -> None:
    """Pump one brain through one prepared WebSocket until either side ends (or its time is up)."""
    limits = limits or RealtimeLimits()
    budget = ConnectionLimits(limits, time.monotonic())
    lock = asyncio.Lock()
    wire = ServerWire(brain, max_items=limits.max_items)

    async def send(event: dict) -> None:
        try:
            validate_server_event(event)
        except EventError as exc:
            # A bug in a brain must not break strict clients: report it and drop the event.
            log.error("invalid %s event for the wire: %s", event.get("type"), exc.message)
            event = error_event(f"internal error: {exc.message}", type="server_error")
        if on_event is not None:
            on_event(event)
        async with lock:
            if not ws.closed:
                await ws.send_str(json.dumps(event))

    async def pump() -> None:
        async for speech_event in brain.events():
            for event in wire.encode(speech_event):
                await send(event)
        # The brain ended by itself (e.g. its upstream connection was given up): hang up too.
        if not ws.closed:
            await ws.close()

    await send(wire.created())
    pumping = asyncio.create_task(pump())
    try:
        while not pumping.done():
            try:
                msg = await ws.receive(timeout=budget.wait_s(time.monotonic()))
            except asyncio.TimeoutError:
                expired = budget.expired(time.monotonic())
                if expired is None:
                    continue
                await send(expired)
                await ws.close(code=CLOSE_NORMAL, message=b"session expired")
                break
            if msg.type in (WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED, WSMsgType.ERROR):
                break
            if msg.type not in (WSMsgType.TEXT, WSMsgType.BINARY):
                continue
            now = time.monotonic()
            refusal = budget.message(len(msg.data), now)
            if refusal is None:
                try:
                    event = parse_client_message(msg.data)
                except EventError as exc:
                    refusal = error_event(exc.message, code=exc.code, param=exc.param, event_id=exc.event_id)
                else:
                    refusal = budget.event(event, now)
            if refusal is not None:
                await send(refusal)
                continue
            try:
                answers = await wire.handle(event)
            except Exception as exc:  # noqa: BLE001 - a bug must not end the conversation
                log.exception("/v1/realtime: handling %s failed", event.get("type"))
                answers = [error_event(f"internal error handling {event.get('type')}: {type(exc).__name__}",
                                       type="server_error", event_id=event.get("event_id"))]
            for answer in answers:
                await send(answer)
    finally:
        await brain.close()
        try:
            await asyncio.wait_for(pumping, 2.0)
        except (asyncio.TimeoutError, Exception):  # noqa: BLE001
            pumping.cancel()
        if not ws.closed:
            await ws.close()


@dataclass
class RealtimeServer:
    """A running standalone /v1/realtime server (see `start_realtime_server`)."""

    runner: web.AppRunner
    app: web.Application
    host: str
    port: int

    @property
    def url(self) -> str:
        """The base URL clients pass as `websocket_base_url` (the SDK appends /realtime)."""
        return f"ws://{self.host}:{self.port}/v1"

    async def drop_connections(self, code: int = 1011) -> int:
        """Close every client's WebSocket now (as a crash or network failure would); returns how many."""
        open_ws = connections(self.app)
        for ws in open_ws:
            await ws.close(code=code, message=b"connection dropped")
        return len(open_ws)

    async def stop(self) -> None:
        """Close all connections and stop listening."""
        await self.runner.cleanup()


async def start_realtime_server(brain_factory: BrainFactory, host: str = "127.0.0.1", port: int = 0,
                                api_key: str | None = None, limits: RealtimeLimits | None = None) -> RealtimeServer:
    """Serve /v1/realtime on host:port (port 0: any free port) in the running event loop."""
    app = web.Application()
    realtime_routes(app, brain_factory, api_key=api_key, limits=limits)
    runner = web.AppRunner(app, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    sockets = site._server.sockets if site._server is not None else ()  # type: ignore[union-attr]
    bound = sockets[0].getsockname()[1] if sockets else port
    return RealtimeServer(runner=runner, app=app, host=host, port=bound)
