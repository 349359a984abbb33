"""The drive API through a cluster's front door: each request passes on to the machine whose
session it names.

A backend knows only the front door. Every node serves the same drive API as one machine does
(live/drive.py) for its own sessions, on its cluster address, behind a token of its own that it
reports to the front door (cluster/node.py). The front door passes each `/sessions/{id}/…` request
on to the node it placed that session on, the answer coming back as it is written (the event stream
as each event comes) and a WebSocket joined to the node's WebSocket message by message, so every
answer, error and event is the one machine's own.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

import aiohttp
from aiohttp import web

from livehuman.cluster.placement import NodeLoad
from livehuman.live.channel import MAX_TEXT
from livehuman.live.drive import KEEPALIVE_S, NOT_LISTED

NodeOf = Callable[[str], NodeLoad | None]  # the node a session was placed on (None: no such session)
MAX_MESSAGE = MAX_TEXT * 8  # as live/drive.py's WebSocket takes
PASSED_HEADERS = ("Content-Type", "Cache-Control", "X-Accel-Buffering")  # of a node's answer, back to the caller


class DriveProxy:
    """The front door's `/sessions…` routes: the list from every node, the rest from the session's node."""

    def __init__(self, node_of: NodeOf, nodes: Callable[[], list[NodeLoad]], listed: bool):
        self._node_of = node_of
        self._nodes = nodes
        self._listed = listed  # live/drive.py's lists_sessions
        self._http: aiohttp.ClientSession | None = None

    def routes(self, app: web.Application) -> None:
        app.router.add_get("/sessions", self.list)
        app.router.add_get("/sessions/{id}/ws", self.websocket)
        app.router.add_route("*", "/sessions/{id}", self.pass_on)
        app.router.add_route("*", "/sessions/{id}/{action}", self.pass_on)

    async def close(self) -> None:
        if self._http is not None:
            await self._http.close()

    @property
    def http(self) -> aiohttp.ClientSession:
        if self._http is None:  # made on the loop that serves the requests
            self._http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=None, connect=5))
        return self._http

    async def list(self, request: web.Request) -> web.Response:
        """`GET /sessions`: the open sessions of every node, in one list (a node that does not
        answer is left out: its sessions are being lost anyway)."""
        if not self._listed:
            return _error(403, NOT_LISTED)
        nodes = [node for node in self._nodes() if node.drive_url]
        answers = await asyncio.gather(*(self._get_list(node) for node in nodes), return_exceptions=True)
        return web.json_response({"sessions": [s for a in answers if isinstance(a, list) for s in a]})

    async def _get_list(self, node: NodeLoad) -> list:
        async with self.http.get(f"{node.drive_url}/sessions", headers=_auth(node)) as response:
            return (await response.json())["sessions"]

    async def pass_on(self, request: web.Request) -> web.StreamResponse:
        """Any other `/sessions/{id}…` request, to the session's node; its answer streamed back."""
        node = self._node(request)
        if isinstance(node, web.Response):
            return node
        try:
            body = await request.read()
        except web.HTTPRequestEntityTooLarge:
            return _error(413, "the body is too large")
        headers = {**_auth(node), **({"Content-Type": request.content_type} if body else {})}
        response: web.StreamResponse | None = None
        try:
            async with self.http.request(request.method, node.drive_url + request.rel_url.path_qs,
                                         data=body, headers=headers) as answer:
                response = web.StreamResponse(status=answer.status, headers={
                    k: answer.headers[k] for k in PASSED_HEADERS if k in answer.headers})
                await response.prepare(request)
                async for chunk in answer.content.iter_any():
                    await response.write(chunk)
                await response.write_eof()
        except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
            if response is None:
                return _error(502, f"the machine serving session {request.match_info['id']!r} did not answer "
                                   f"({type(exc).__name__}); try again, or connect again if it was lost")
            # Cut off mid-answer (the machine was lost during an event stream): the stream just ends.
        except ConnectionResetError:
            pass  # the caller went away (closed its event stream)
        return response

    async def websocket(self, request: web.Request) -> web.StreamResponse:
        """`GET /sessions/{id}/ws`: joined to the node's WebSocket for that session, both ways."""
        node = self._node(request)
        if isinstance(node, web.Response):
            return node
        try:
            upstream = await self.http.ws_connect(f"{node.drive_url}{request.path}", headers=_auth(node),
                                                  max_msg_size=MAX_MESSAGE)
        except aiohttp.WSServerHandshakeError as exc:
            if exc.status == 404:  # it ended between the front door's last report and now
                return _error(404, f"no session {request.match_info['id']!r}: it ended")
            return _error(502, f"the machine serving session {request.match_info['id']!r} refused ({exc.status})")
        except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
            return _error(502, f"the machine serving session {request.match_info['id']!r} did not answer "
                               f"({type(exc).__name__})")
        caller = web.WebSocketResponse(heartbeat=KEEPALIVE_S, max_msg_size=MAX_MESSAGE)
        await caller.prepare(request)
        relay = asyncio.ensure_future(_relay(upstream, caller))
        try:
            await _relay(caller, upstream)
        finally:
            relay.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await relay
            await upstream.close()
            await caller.close()
        return caller

    def _node(self, request: web.Request) -> NodeLoad | web.Response:
        session_id = request.match_info["id"]
        node = self._node_of(session_id)
        if node is None or not node.drive_url:
            return _error(404, f"no session {session_id!r}: it ended, or the id is not one that POST /offer "
                               f"answered (GET /sessions lists the open ones)")
        return node


async def _relay(source, sink) -> None:
    """Text messages from one WebSocket to the other until the source closes."""
    async for message in source:
        if message.type == aiohttp.WSMsgType.TEXT:
            await sink.send_str(message.data)
        elif message.type in (aiohttp.WSMsgType.ERROR, aiohttp.WSMsgType.CLOSE):
            break
    await sink.close()


def _auth(node: NodeLoad) -> dict:
    return {"Authorization": f"Bearer {node.drive_token}"}


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)
