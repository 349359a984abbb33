"""Rate limits as the Realtime API reports them reach the user as short notices.

OpenAI's rate limiting is out of reach here, so a small brain behind the project's real
/v1/realtime server plays that part: it speaks the protocol (every event it sends is validated
against the SDK's types by the server) and answers each response.create with the events the API
sends when a limit is hit.
"""

from __future__ import annotations

import asyncio

import pytest

from livehuman.brain.client import RealtimeBrain
from livehuman.brain.events import NOTICE_EVENT, error_event, new_id
from livehuman.brain.server import start_realtime_server

pytestmark = pytest.mark.asyncio


class RateLimitedBrain:
    """Accepts a session, then answers every response.create with a spent rate limit and an error."""

    def __init__(self) -> None:
        self.out: asyncio.Queue = asyncio.Queue()
        self.out.put_nowait({"type": "session.created", "event_id": new_id("event"), "session": {
            "type": "realtime", "model": "livehuman"}})

    async def send(self, event: dict) -> None:
        if event["type"] == "response.create":
            self.out.put_nowait({"type": "rate_limits.updated", "event_id": new_id("event"), "rate_limits": [
                {"name": "tokens", "limit": 1000, "remaining": 0, "reset_seconds": 12.5}]})
            self.out.put_nowait(error_event("Rate limit reached for tokens.", type="invalid_request_error",
                                            code="rate_limit_exceeded"))

    async def events(self):
        while (event := await self.out.get()) is not None:
            yield event

    async def close(self) -> None:
        self.out.put_nowait(None)


async def test_spent_rate_limit_and_rate_limit_error_become_notices():
    server = await start_realtime_server(lambda *_: RateLimitedBrain())
    brain = RealtimeBrain(api_key="sk-test", model="livehuman", websocket_base_url=server.url)
    try:
        await brain.send({"type": "response.create"})
        notices: list[str] = []

        async def read():
            async for event in brain.events():
                if event["type"] == NOTICE_EVENT:
                    notices.append(event["message"])
                    if len(notices) == 2:
                        return

        await asyncio.wait_for(read(), 15)
        assert notices[0] == "Rate limit reached (tokens); it resets in 12 s."
        assert notices[1] == "The Realtime API is rate-limiting this session; please wait a moment."
        assert brain.reconnects == 0  # a rate limit is not a reason to drop the session
    finally:
        await brain.close()
        await server.stop()
