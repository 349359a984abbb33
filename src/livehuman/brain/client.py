"""A Brain backed by any OpenAI Realtime server (OpenAI, Azure, a proxy, livehuman's own /v1/realtime)."""

from __future__ import annotations

import asyncio
import copy
import dataclasses
import json
import logging
import os
import time
from collections.abc import AsyncIterator
from typing import Any

import numpy as np

from livehuman.brain.base import RequestError, SessionSettings
from livehuman.brain.speech_events import (
    BrainError,
    Notice,
    ReplyAudio,
    ReplyDone,
    ReplyTruncated,
    SpeechEvent,
    UserSpeechStopped,
)
from livehuman.brain.wire import (
    ClientWire,
    merge_session,
    session_config,
    session_update,
    settings_of,
)
from livehuman.rates import REALTIME_RATE

log = logging.getLogger(__name__)

DEFAULT_MODEL = "gpt-realtime"
DEFAULT_VOICE = "marin"
DEFAULT_TRANSCRIPTION_MODEL = "gpt-4o-mini-transcribe"
STABLE_S = 5.0  # a connection that lasted this long resets the retry count
MAX_CONTENT_PARTS = 16  # an item's content parts kept (the protocol's messages have one or two)
NOTICE_CHARS = 160  # a notice is one short line on the page
# Close codes after which reconnecting cannot help (policy violation: e.g. a bad key).
_FATAL_CLOSE_CODES = {1008}
_FATAL_HTTP = {401, 403, 404}


def notice(message: str, level: str = "warning") -> Notice:
    """One short line to show the user."""
    message = " ".join(message.split())
    if len(message) > NOTICE_CHARS:
        message = message[: NOTICE_CHARS - 1] + "…"
    return Notice(message, level)


class RealtimeBrain:
    """A Brain that talks to a Realtime server through the official openai SDK.

    Commands go out and speech events come in through brain/wire.py's ClientWire. It keeps the
    conversation's items so that, when the connection drops, it reconnects, sends its
    session.update again and re-creates the items (with their ids) before going on. Errors, rate
    limits and connection trouble also come out as `Notice` events: short lines for the user.
    The API key stays in this process.
    """

    def __init__(
        self,
        api_key: str | None = None,
        model: str = DEFAULT_MODEL,
        *,
        base_url: str | None = None,
        websocket_base_url: str | None = None,
        voice: str | None = DEFAULT_VOICE,
        instructions: str | None = None,
        turn_detection: dict | None | str = "server_vad",
        transcription_model: str | None = DEFAULT_TRANSCRIPTION_MODEL,
        noise_reduction: str | None = None,
        speed: float | None = None,
        output_modalities: list[str] | None = None,
        session: dict | None = None,
        max_retries: int = 5,
        initial_delay: float = 0.5,
        max_delay: float = 8.0,
        client: Any = None,
        natural_voice: bool = False,
    ) -> None:
        if client is None:
            from openai import AsyncOpenAI

            # No key: OPENAI_API_KEY, as the SDK does; a local server accepts any.
            client = AsyncOpenAI(api_key=api_key or os.environ.get("OPENAI_API_KEY") or "unused",
                                 base_url=base_url, websocket_base_url=websocket_base_url)
        self._client = client
        self.model = model
        self.natural_voice = natural_voice  # its voice sounds like a person's (the lip sync hears it so)
        self.session = session if session is not None else session_config(
            voice=voice, instructions=instructions, turn_detection=turn_detection,
            transcription_model=transcription_model, noise_reduction=noise_reduction, speed=speed,
            output_modalities=output_modalities,
        )
        self.max_retries = max_retries
        self.initial_delay = initial_delay
        self.max_delay = max_delay
        self._out: asyncio.Queue[SpeechEvent | None] = asyncio.Queue()
        self._wire = ClientWire()
        self._conn: Any = None
        self._connected = asyncio.Event()
        self._task: asyncio.Task | None = None
        self._closed = False
        self._backlog: list[dict] = []  # client events waiting for a connection
        # Conversation state, from the server's own events.
        self._items: dict[str, dict] = {}
        self._audio_ms: dict[str, float] = {}
        self._streamed: dict[str, str] = {}  # transcript/text deltas so far, per item
        self._replaying: set[str] = set()
        self._response_id: str | None = None
        self._playing_item: str | None = None
        self._cancels_sent: set[str] = set()
        self._stopped_at: float | None = None
        self.turn_latencies: list[float] = []  # speech_stopped → first audio delta, seconds
        self.reconnects = 0
        self._ever_connected = False

    # -- the Brain interface ---------------------------------------------------------------

    input_rate = REALTIME_RATE

    @property
    def settings(self) -> SessionSettings:
        return settings_of(self.session)

    async def update(self, settings: SessionSettings) -> None:
        event = session_update(self.session, settings)
        if event is not None:
            await self._send(event)

    async def push_audio(self, samples: np.ndarray, rate: int) -> None:
        await self._send(self._wire.append_audio(samples, rate))

    async def commit_audio(self) -> None:
        await self._send(self._wire.commit_audio())

    async def clear_audio(self) -> None:
        await self._send(self._wire.clear_audio())

    async def add_message(self, text: str, role: str = "user", item_id: str | None = None) -> None:
        await self._send(self._wire.add_message(text, role, item_id))

    async def respond(self, audio: bool | None = None) -> None:
        await self._send(self._wire.respond(audio))

    async def cancel(self) -> None:
        if self._response_id is None:
            raise RequestError("there is no active response to cancel", code="response_cancel_not_active")
        self._cancels_sent.add(self._response_id)
        await self._send(self._wire.cancel(self._response_id))

    async def truncate(self, item_id: str, audio_end_ms: int) -> None:
        await self._send(self._wire.truncate(item_id, audio_end_ms))

    async def interrupt(self, item_id: str | None, heard_ms: float | None) -> None:
        """The user barged in: stop the response and cut the reply to what was heard.

        Sends response.cancel while a response is in flight (a server that already cancelled it
        answers `response_cancel_not_active`, which is swallowed), then conversation.item.truncate
        with `audio_end_ms` = what the user actually heard, capped at the audio received.
        """
        if self._response_id is not None:
            await self.cancel()
        item_id = item_id or self._playing_item
        if item_id is not None and heard_ms is not None and item_id in self._items:
            end = int(max(0, min(float(heard_ms), self._audio_ms.get(item_id, 0.0))))
            await self.truncate(item_id, end)

    async def events(self) -> AsyncIterator[SpeechEvent]:
        """The speech events (and notices) until `close()` or a connection given up on."""
        self._start()
        while (event := await self._out.get()) is not None:
            yield event

    async def close(self) -> None:
        """Close the connection and end `events()`."""
        if self._closed:
            return
        self._closed = True
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                await conn.close()
            except Exception:  # noqa: BLE001
                pass
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except BaseException:  # noqa: BLE001
                pass
        self._out.put_nowait(None)

    async def _send(self, event: dict) -> None:
        """Send a client event; while reconnecting, input audio is dropped and the rest waits."""
        if self._closed:
            return
        self._start()
        if event.get("type") == "session.update":
            merge_session(self.session, copy.deepcopy(event.get("session") or {}))
        conn = self._conn
        if not self._connected.is_set() or conn is None:
            # Audio from before the first connection is the start of the user's turn: keep it;
            # audio from a reconnection's gap is stale, and the new session starts afresh.
            if event.get("type") != "input_audio_buffer.append" or not self._ever_connected:
                self._backlog.append(event)
            return
        try:
            await conn.send(event)
        except Exception as exc:  # noqa: BLE001 - the reader notices the drop and reconnects
            log.info("send failed (%s); it will be retried after reconnecting", exc)
            if event.get("type") != "input_audio_buffer.append":
                self._backlog.append(event)

    @property
    def response_active(self) -> bool:
        """Whether a response is in flight (response.created seen, response.done not yet)."""
        return self._response_id is not None

    def history(self) -> list[dict]:
        """The conversation's items as the server last described them."""
        return [copy.deepcopy(item) for item in self._items.values()]

    # -- connection --------------------------------------------------------------------------

    def _start(self) -> None:
        if self._task is None and not self._closed:
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        attempt = 0
        first = True
        while not self._closed:
            try:
                await self._connect(replay=not first)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001
                status = _http_status(exc)
                attempt += 1
                if status in _FATAL_HTTP or attempt > self.max_retries:
                    reason = f"HTTP {status}" if status else str(exc) or type(exc).__name__
                    self._give_up(f"Cannot reach the Realtime API ({reason}).")
                    return
                await asyncio.sleep(min(self.max_delay, self.initial_delay * 2 ** (attempt - 1)))
                continue
            if not first:
                self.reconnects += 1
                self._put(notice("Reconnected.", "info"))
            first = False
            connected_at = time.monotonic()
            code = await self._read()
            self._connected.clear()
            self._conn = None
            if self._closed:
                return
            if code in _FATAL_CLOSE_CODES:
                self._give_up("The Realtime server closed the session.")
                return
            self._lost()
            # A connection that dies at once counts as a failed attempt: no tight reconnect loop.
            attempt = attempt + 1 if time.monotonic() - connected_at < STABLE_S else 0
            if attempt > self.max_retries:
                self._give_up("The Realtime API keeps closing the connection.")
                return
            if attempt:
                await asyncio.sleep(min(self.max_delay, self.initial_delay * 2 ** (attempt - 1)))

    async def _connect(self, replay: bool) -> None:
        manager = self._client.realtime.connect(model=self.model)
        conn = await manager.enter()
        try:
            await conn.send({"type": "session.update", "session": self.session})
            if replay:
                for item in self._replay_items():
                    self._replaying.add(item["id"])
                    await conn.send({"type": "conversation.item.create", "item": item})
            self._conn = conn
            # Events sent meanwhile join the backlog; flush until it stays empty, then go live
            # with no await in between, so nothing is left behind or overtaken.
            while self._backlog:
                await conn.send(self._backlog.pop(0))
            self._ever_connected = True
        except BaseException:
            self._conn = None
            try:
                await conn.close()
            except Exception:  # noqa: BLE001
                pass
            raise
        self._connected.set()

    async def _read(self) -> int | None:
        """Read events until the connection ends; returns the close code (None when unknown)."""
        from websockets.exceptions import ConnectionClosed

        conn = self._conn
        try:
            while True:
                self.take_message(await conn.recv_bytes())
        except ConnectionClosed as exc:
            return exc.rcvd.code if exc.rcvd is not None else None
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - any transport failure is a dropped connection
            log.info("Realtime connection failed: %s", exc)
            return None

    def _lost(self) -> None:
        self._put(notice("Connection to the Realtime API lost; reconnecting…"))
        if self._response_id is not None:
            # The response died with the connection; tell the consumer so it can stop waiting.
            self._put(ReplyDone(self._response_id, "failed", "connection lost"))
            self._response_id = None

    def _give_up(self, message: str) -> None:
        self._put(BrainError(message, "connection_lost"))
        self._put(notice(message, "error"))
        self._out.put_nowait(None)

    def _replay_items(self) -> list[dict]:
        items = []
        for item_id, item in self._items.items():
            if item.get("type") != "message":
                continue
            text = " ".join(t for t in (_text_of(part) for part in item.get("content") or []) if t).strip()
            text = text or self._streamed.get(item_id, "").strip()  # a reply cut off by the drop
            if not text:
                continue
            role = item.get("role")
            kind = "output_text" if role == "assistant" else "input_text"
            items.append({"id": item_id, "type": "message", "role": role,
                          "content": [{"type": kind, "text": text}]})
        return items

    # -- server events -------------------------------------------------------------------------

    def take_message(self, raw: bytes | str) -> None:
        """One message from the server. One that is not a well-formed event is logged and skipped:
        failing on it would drop the connection, and a reconnect would replay the conversation
        to a server that may well send it again."""
        try:
            event = json.loads(raw)
        except (ValueError, RecursionError):
            log.warning("ignoring a message from the Realtime server that is not JSON")
            return
        if not isinstance(event, dict):
            log.warning("ignoring a message from the Realtime server that is not an event")
            return
        try:
            self._on_event(event)
        except (AttributeError, KeyError, IndexError, TypeError, ValueError, OverflowError) as exc:
            # A field missing or of another type than the protocol's (ValueError: bad audio too).
            log.warning("ignoring a malformed %.40r event from the Realtime server: %s", event.get("type"), exc)

    def _on_event(self, event: dict) -> None:
        """Keep the conversation's state from one server event; pass on the speech event it says."""
        kind = event.get("type", "")
        if kind in ("conversation.item.added", "conversation.item.done", "conversation.item.created"):
            item = event.get("item") or {}
            item_id = item.get("id")
            if item_id in self._replaying:
                if kind == "conversation.item.done" or kind == "conversation.item.created":
                    self._replaying.discard(item_id)
                return  # the consumer already saw this item the first time
            if item_id:
                old = self._items.get(item_id)
                merged = copy.deepcopy(item)
                if old is not None:
                    _keep_transcripts(old, merged)
                self._items[item_id] = merged
            return
        if kind == "conversation.item.input_audio_transcription.completed":
            _set_part(self._items.get(event.get("item_id")), event.get("content_index", 0),
                      "transcript", event.get("transcript", ""))
        elif kind == "response.output_audio_transcript.done":
            _set_part(self._items.get(event.get("item_id")), event.get("content_index", 0),
                      "transcript", event.get("transcript", ""))
        elif kind == "response.output_text.done":
            _set_part(self._items.get(event.get("item_id")), event.get("content_index", 0), "text", event.get("text", ""))
        elif kind in ("response.output_audio_transcript.delta", "response.output_text.delta"):
            item_id = event.get("item_id")
            self._streamed[item_id] = self._streamed.get(item_id, "") + event.get("delta", "")
        elif kind == "conversation.item.deleted":
            self._items.pop(event.get("item_id"), None)
        elif kind == "response.created":
            self._response_id = (event.get("response") or {}).get("id")
        elif kind == "response.done":
            if (event.get("response") or {}).get("id") == self._response_id:
                self._response_id = None
        elif kind == "rate_limits.updated":
            for limit in event.get("rate_limits") or []:
                if limit.get("remaining") == 0:
                    wait = limit.get("reset_seconds")
                    when = f"; it resets in {wait:.0f} s" if isinstance(wait, (int, float)) else ""
                    self._put(notice(f"Rate limit reached ({limit.get('name', 'requests')}){when}."))
            return
        elif kind == "error":
            error = event.get("error") or {}
            if error.get("code") == "response_cancel_not_active" and self._cancels_sent:
                self._cancels_sent.clear()
                return  # our interrupt() raced the server's own cancel: nothing went wrong
            self._put(self._wire.decode(event))
            self._put(notice(_error_line(error), "error"))
            return
        said = self._wire.decode(event)
        match said:
            case None:
                return
            case ReplyAudio(item_id=item_id):
                self._audio_ms[item_id] = self._audio_ms.get(item_id, 0.0) + said.duration_ms
                self._playing_item = item_id
                if self._stopped_at is not None:
                    self.turn_latencies.append(time.monotonic() - self._stopped_at)
                    self._stopped_at = None
            case UserSpeechStopped():
                self._stopped_at = time.monotonic()
            case ReplyTruncated(item_id=item_id, audio_end_ms=heard):
                said = dataclasses.replace(said, transcript=self._truncated(item_id, heard))
        self._put(said)

    def _truncated(self, item_id: str, heard_ms: float) -> str:
        """The server drops the unheard transcript; keep the share of words that was heard."""
        item, total = self._items.get(item_id), self._audio_ms.get(item_id, 0.0)
        kept = ""
        if item is not None and total > 0:
            for part in item.get("content") or []:
                if part.get("transcript"):
                    words = part["transcript"].split()
                    part["transcript"] = kept = " ".join(words[: int(len(words) * min(1.0, heard_ms / total))])
        return kept

    def _put(self, event: SpeechEvent) -> None:
        self._out.put_nowait(event)


def _error_line(error: dict) -> str:
    code = error.get("code") or ""
    if "rate_limit" in code:
        return "The Realtime API is rate-limiting this session; please wait a moment."
    message = error.get("message") or "unknown error"
    return f"Realtime API error: {message}"


def _text_of(part: dict) -> str:
    return part.get("text") or part.get("transcript") or ""


def _set_part(item: dict | None, index: int, key: str, value: str) -> None:
    if item is None or not isinstance(index, int) or not 0 <= index < MAX_CONTENT_PARTS:
        return  # an index from the server is never trusted to size a list
    content = item.setdefault("content", [])
    while len(content) <= index:
        content.append({})
    content[index][key] = value


def _keep_transcripts(old: dict, new: dict) -> None:
    # conversation.item.done may come before the transcription: keep what we already know.
    for i, part in enumerate(old.get("content") or []):
        if i < len(new.get("content") or []):
            for key in ("transcript", "text"):
                if part.get(key) and not new["content"][i].get(key):
                    new["content"][i][key] = part[key]


def _http_status(exc: BaseException) -> int | None:
    response = getattr(exc, "response", None)
    status = getattr(response, "status_code", None)
    return status if isinstance(status, int) else None
