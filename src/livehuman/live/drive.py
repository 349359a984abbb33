"""The drive API: a backend makes a live session speak, and follows what happens in it.

A page (or the JS client, web/livehuman.js) learns its session's id from `POST /offer`'s answer
and hands it to its backend, which then uses:

- `GET  /sessions`: the open sessions, `{"sessions": [{"id", "state"}]}`;
- `GET  /sessions/{id}`: one session's state and turns so far;
- `POST /sessions/{id}/say` `{"text": "...", "interrupt": true}`: the avatar says the text verbatim
  (202); with `"interrupt": false` a busy avatar answers 409 instead of being cut;
- `POST /sessions/{id}/ask` `{"text": "..."}`: the text as if the user had typed it: the brain answers;
- `POST /sessions/{id}/interrupt`: stop what the avatar is saying;
- `POST /sessions/{id}/touch` `{"x": 0.5, "y": 0.4}`: the face was touched there (0..1 of the video
  frame): the avatar reacts as to a click on the page; `{"zone": "nose"}`, or `null` off the face or
  too soon after the last touch;
- `POST /sessions/{id}/persona` `{"persona": "KEY"}`: a new conversation with another persona (202;
  `"switched": false` when it is the session's own): the page gets a `switch` event and reconnects
  with it, under a new session id (its `connected` event), and this session ends;
- `GET  /sessions/{id}/events`: server-sent events, one per message the page gets (state,
  transcript, metrics, notice, error; each `event:` named by its type, `data:` its JSON), and a
  last `closed` event when the session ends;
- `GET  /sessions/{id}/ws`: a WebSocket with the same events as JSON text messages, which also takes
  the data channel's commands (`{"type": "say"|"text"|"interrupt"|"touch"|"persona", …}`; what is wrong with one is
  answered there with an `error` message).

These routes are guarded like `/offer` (live/access.py: the token, the origins). Bad input is a 4xx
with `{"error": "..."}` naming what is wrong.
"""

from __future__ import annotations

import asyncio
import functools
import json
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING

import aiohttp
from aiohttp import web

from livehuman.live.access import Access
from livehuman.live.channel import MAX_TEXT, BadMessage, checked_fraction, checked_key, checked_text, parse_message

if TYPE_CHECKING:
    from livehuman.live.session import Session

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
KEEPALIVE_S = 15.0  # a comment line this often keeps proxies from closing a quiet event stream
EVENT_BACKLOG = 256  # events held for a slow reader; beyond this the oldest are dropped


def drive_routes(app: web.Application, sessions: Mapping[str, Session], access: Access) -> None:
    """Add the drive API's routes for the live `sessions` (a server's own dict, read as it changes)."""
    drive = Drive(sessions, listed=lists_sessions(access))
    for method, path, handler in (("GET", "/sessions", drive.list), ("GET", "/sessions/{id}", drive.show),
                                  ("POST", "/sessions/{id}/say", drive.say), ("POST", "/sessions/{id}/ask", drive.ask),
                                  ("POST", "/sessions/{id}/interrupt", drive.interrupt),
                                  ("POST", "/sessions/{id}/touch", drive.touch),
                                  ("POST", "/sessions/{id}/persona", drive.persona),
                                  ("GET", "/sessions/{id}/events", drive.events),
                                  ("GET", "/sessions/{id}/ws", drive.websocket)):
        app.router.add_route(method, path, _answering_refusals(handler))


def lists_sessions(access: Access) -> bool:
    """Whether `GET /sessions` lists the ids. A session's id is all it takes to steer it and read its
    transcripts: without a token, beyond loopback (--no-auth), the ids are not listed, and only a
    page and its backend know one."""
    return access.token is not None or access.loopback_only


NOT_LISTED = ("the list of sessions needs an access token (--token): without one, anyone could "
              "steer and read other visitors' conversations; use the id your page got from /offer")


class Drive:
    """The drive API's handlers over a server's sessions."""

    def __init__(self, sessions: Mapping[str, Session], listed: bool = True):
        self.sessions = sessions
        self.listed = listed  # see lists_sessions

    async def list(self, request: web.Request) -> web.Response:
        if not self.listed:
            raise Refused(403, NOT_LISTED)
        return web.json_response({"sessions": [{"id": s.id, "state": s.state}
                                               for s in self.sessions.values() if not s.ending]})

    async def show(self, request: web.Request) -> web.Response:
        session = self._session(request)
        return web.json_response({"id": session.id, "state": session.state, "turns": len(session.turns)})

    async def say(self, request: web.Request) -> web.Response:
        from livehuman.live.session import Declined  # the session's module loads the brain's types

        session = self._session(request)
        body = await _body(request)
        text = _text(body, "say")
        interrupt = body.get("interrupt", True)
        if not isinstance(interrupt, bool):
            raise Refused(400, "\"interrupt\" must be true or false")
        try:
            await session.speak(text, interrupt)
        except Declined as exc:
            raise Refused(exc.status, str(exc)) from None
        return web.json_response({"session": session.id, "state": session.state}, status=202)

    async def ask(self, request: web.Request) -> web.Response:
        session = self._session(request)
        text = _text(await _body(request), "ask")
        await session.say(text)
        return web.json_response({"session": session.id, "state": session.state}, status=202)

    async def interrupt(self, request: web.Request) -> web.Response:
        session = self._session(request)
        await session.barge_in("api")
        return web.json_response({"session": session.id, "state": session.state})

    async def touch(self, request: web.Request) -> web.Response:
        session = self._session(request)
        body = await _body(request)
        x, y = (_checked(checked_fraction, body.get(axis), axis) for axis in ("x", "y"))
        zone = await session.touch(x, y)
        return web.json_response({"session": session.id, "zone": zone})

    async def persona(self, request: web.Request) -> web.Response:
        from livehuman.live.session import Declined

        session = self._session(request)
        body = await _body(request)
        key = _checked(checked_key, body.get("persona"))
        try:
            switched = session.switch_persona(key)
        except Declined as exc:
            raise Refused(exc.status, str(exc)) from None
        return web.json_response({"session": session.id, "persona": key, "switched": switched}, status=202)

    async def events(self, request: web.Request) -> web.StreamResponse:
        session = self._session(request)
        outgoing = _Outgoing(session)
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache",
                                               "X-Accel-Buffering": "no"})  # nginx: pass each event on at once
        try:
            await response.prepare(request)
            await _send(response, {"type": "session", "session": session.id, "state": session.state})
            while True:
                try:
                    message = await asyncio.wait_for(outgoing.get(), KEEPALIVE_S)
                except asyncio.TimeoutError:
                    await response.write(b": keep-alive\n\n")
                    continue
                if message is None:
                    await _send(response, {"type": "closed", "session": session.id})
                    break
                await _send(response, message)
        except (ConnectionResetError, asyncio.CancelledError):
            pass  # the reader went away
        finally:
            outgoing.close()
        return response

    async def websocket(self, request: web.Request) -> web.StreamResponse:
        from livehuman.live.session import Declined

        session = self._session(request)
        ws = web.WebSocketResponse(heartbeat=KEEPALIVE_S, max_msg_size=MAX_TEXT * 8)
        await ws.prepare(request)
        outgoing = _Outgoing(session)  # the events, in order, by one sender
        sender = asyncio.ensure_future(self._send_events(ws, outgoing, session.id))
        try:
            async for frame in ws:
                if frame.type == aiohttp.WSMsgType.BINARY:
                    outgoing.put({"type": "error", "message": "send commands as JSON text frames, e.g. "
                                                              "{\"type\": \"say\", \"text\": \"Hello!\"}"})
                if frame.type != aiohttp.WSMsgType.TEXT:
                    continue
                try:
                    await session.carry_out(parse_message(frame.data), "api")
                except (BadMessage, Declined) as exc:
                    outgoing.put({"type": "error", "message": str(exc)})
        finally:
            outgoing.close()
            sender.cancel()
        return ws

    @staticmethod
    async def _send_events(ws: web.WebSocketResponse, outgoing: _Outgoing, session_id: str) -> None:
        try:
            await ws.send_json({"type": "session", "session": session_id, "state": outgoing.session.state})
            while (message := await outgoing.get()) is not None:
                await ws.send_json(message)
            await ws.send_json({"type": "closed", "session": session_id})
            await ws.close()
        except (ConnectionResetError, RuntimeError):  # the socket closed meanwhile
            pass

    def _session(self, request: web.Request) -> Session:
        session_id = request.match_info["id"]
        session = self.sessions.get(session_id)
        if session is None or session.ending:
            raise Refused(404, f"no session {session_id!r}: it ended, or the id is not one that POST /offer "
                              f"answered (GET /sessions lists the open ones)")
        return session


async def _body(request: web.Request) -> dict:
    if request.content_type != "application/json":
        raise Refused(415, "send a JSON body (Content-Type: application/json), e.g. {\"text\": \"Hello!\"}")
    try:
        body = await request.json()
    except web.HTTPRequestEntityTooLarge:
        raise Refused(413, f"the body is too large (texts are limited to {MAX_TEXT} characters)") from None
    except ValueError:
        raise Refused(400, "the body is not valid JSON; send e.g. {\"text\": \"Hello!\"}") from None
    if not isinstance(body, dict):
        raise Refused(400, "the body must be a JSON object, e.g. {\"text\": \"Hello!\"}")
    return body


def _text(body: dict, kind: str) -> str:
    return _checked(checked_text, body.get("text"), kind)


def _checked(check: Callable, *args):
    """`check(*args)` (one of live/channel.py's checks), its BadMessage answered as a 400 about the request."""
    try:
        return check(*args)
    except BadMessage as exc:
        raise Refused(400, str(exc).replace("message", "request")) from None


async def _send(response: web.StreamResponse, message: dict) -> None:
    data = json.dumps(message)  # ASCII: a lone surrogate in a text is escaped, not unencodable
    await response.write(f"event: {message.get('type', 'message')}\ndata: {data}\n\n".encode())


class _Outgoing:
    """What a session's page is told, queued for one reader of the API; None once the session ended."""

    def __init__(self, session: Session):
        self.session = session
        self._queue: asyncio.Queue[dict | None] = asyncio.Queue()
        self._unwatch = session.page.watch(self.put)
        self._ended = asyncio.ensure_future(session.closed.wait())
        self._ended.add_done_callback(lambda _: self._queue.put_nowait(None))

    def put(self, message: dict) -> None:
        if self._queue.qsize() >= EVENT_BACKLOG:  # a reader that stopped reading: keep the newest
            self._queue.get_nowait()
        self._queue.put_nowait(message)

    async def get(self) -> dict | None:
        return await self._queue.get()

    def close(self) -> None:
        self._unwatch()
        self._ended.cancel()


class Refused(Exception):
    """A request the API refuses: answered with `status` and `{"error": message}`."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


def _answering_refusals(handler: Handler) -> Handler:
    @functools.wraps(handler)
    async def answer(request: web.Request) -> web.StreamResponse:
        try:
            return await handler(request)
        except Refused as exc:
            return web.json_response({"error": str(exc)}, status=exc.status)

    return answer
