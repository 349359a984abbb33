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

pytestmark = pytest.mark.asyncio


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
