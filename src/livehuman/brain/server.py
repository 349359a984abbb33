"""`GET /v1/realtime`: any Brain served over WebSocket in the OpenAI Realtime GA protocol."""

from __future__ import annotations

import asyncio
import inspect
import json
import logging
import weakref
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from aiohttp import WSMsgType, web

from livehuman.brain.base import Brain
from livehuman.brain.events import EventError, error_event, parse_client_message, validate_server_event
from livehuman.brain.wire import ServerWire

log = logging.getLogger(__name__)

REALTIME_PATH = "/v1/realtime"
MAX_MESSAGE_BYTES = 16 * 1024 * 1024  # the SDK sends no limit; a minute of base64 24 kHz audio is ~4 MB

BrainFactory = Callable[[web.Request], "Brain | Awaitable[Brain]"]
_CONNECTIONS = web.AppKey("livehuman_realtime_connections", weakref.WeakSet)


def realtime_routes(app: web.Application, brain_factory: BrainFactory, *, path: str = REALTIME_PATH,
                    api_key: str | None = None) -> None:
    """Add the Realtime WebSocket endpoint to `app`; one brain per connection from `brain_factory`.

    `brain_factory(request)` may be sync or async. With `api_key` set, clients must send it as a
    bearer token (the SDK does); without it any token is accepted. The brain's speech events go
    out as the protocol's (livehuman's own, such as notices, do not), each checked against the
    SDK's types.
    """
    connections: weakref.WeakSet = app.setdefault(_CONNECTIONS, weakref.WeakSet())

    async def handler(request: web.Request) -> web.StreamResponse:
        if api_key is not None and request.headers.get("Authorization") != f"Bearer {api_key}":
            raise web.HTTPUnauthorized(text="invalid or missing API key")
        ws = web.WebSocketResponse(max_msg_size=MAX_MESSAGE_BYTES, heartbeat=30)
        await ws.prepare(request)
        connections.add(ws)
        try:
            brain = brain_factory(request)
            if inspect.isawaitable(brain):
                brain = await brain
        except Exception as exc:  # noqa: BLE001 - tell the client, then hang up
            log.exception("cannot start a brain")
            await ws.send_str(json.dumps(error_event(f"cannot start the session: {exc}", type="server_error")))
            await ws.close()
            return ws
        await serve_brain(ws, brain)
        return ws

    app.router.add_get(path, handler)

    async def close_all(app: web.Application) -> None:
        for ws in list(connections):
            await ws.close(code=1001, message=b"server shutdown")

    app.on_shutdown.append(close_all)


def connections(app: web.Application) -> list[web.WebSocketResponse]:
    """The open /v1/realtime WebSockets of `app` (to close them, e.g. on shutdown)."""
    return list(app.get(_CONNECTIONS, ()))


async def serve_brain(ws: web.WebSocketResponse, brain: Brain) -> None:
    """Pump one brain through one prepared WebSocket until either side ends."""
    lock = asyncio.Lock()
    wire = ServerWire(brain)

    async def send(event: dict) -> None:
        try:
            validate_server_event(event)
        except EventError as exc:
            # A bug in a brain must not break strict clients: report it and drop the event.
            log.error("invalid %s event for the wire: %s", event.get("type"), exc.message)
            event = error_event(f"internal error: {exc.message}", type="server_error")
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
        async for msg in ws:
            if msg.type in (WSMsgType.TEXT, WSMsgType.BINARY):
                try:
                    event = parse_client_message(msg.data)
                except EventError as exc:
                    await send(error_event(exc.message, code=exc.code, param=exc.param, event_id=exc.event_id))
                    continue
                for answer in await wire.handle(event):
                    await send(answer)
            elif msg.type == WSMsgType.ERROR:
                break
            if pumping.done():
                break
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
                                api_key: str | None = None) -> RealtimeServer:
    """Serve /v1/realtime on host:port (port 0: any free port) in the running event loop."""
    app = web.Application()
    realtime_routes(app, brain_factory, api_key=api_key)
    runner = web.AppRunner(app, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    sockets = site._server.sockets if site._server is not None else ()  # type: ignore[union-attr]
    bound = sockets[0].getsockname()[1] if sockets else port
    return RealtimeServer(runner=runner, app=app, host=host, port=bound)
