"""The page's `events` data channel: what the page may say, and what the session tells it.

From the page: `{"type": "text", "text": "..."}` (the user typed this), `{"type": "say", "text":
"...", "interrupt": true}` (the avatar says this verbatim; the drive API's say, live/drive.py),
`{"type": "interrupt"}` and `{"type": "touch", "x": 0.41, "y": 0.33}` (the face was clicked or
tapped there, in 0..1 of the video frame; live/touch.py); anything else is answered with an error
message. To the page: state, transcript, metrics, notice and error messages, all JSON objects, and
with a persona its name (`persona`), the emotions read in the user's turns and shown by the avatar
(`emotion`) and its reactions to touches (`touch`). What is sent before the channel opens (a greeting, "cannot reach the Realtime API") waits in a small outbox
instead of being lost; watchers (the drive API's event streams) see every message as it is sent.
"""

from __future__ import annotations

import json
import logging
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

MAX_TEXT = 4000  # longest text message accepted from the page
OUTBOX_LIMIT = 64  # messages kept for a page whose data channel has not opened yet


@dataclass(frozen=True)
class SayText:
    """The user typed this (stripped, non-empty)."""

    text: str


@dataclass(frozen=True)
class SpeakText:
    """The avatar is to say this verbatim (stripped, non-empty); `interrupt`: cut what it is saying."""

    text: str
    interrupt: bool = True


@dataclass(frozen=True)
class Interrupt:
    """The user asked the avatar to stop talking."""


@dataclass(frozen=True)
class Touch:
    """The user clicked or tapped the video at (x, y), in 0..1 of its frame (left to right, top to bottom)."""

    x: float
    y: float


@dataclass(frozen=True)
class SwitchPersona:
    """Start a new conversation with another of the server's personas (by its key)."""

    key: str


PageMessage = SayText | SpeakText | Interrupt | Touch | SwitchPersona


class BadMessage(ValueError):
    """A message from the page that cannot be used; its text is the answer for the page."""


def parse_message(message: str | bytes | object) -> PageMessage:
    """One message from the page, checked; raises BadMessage saying what is wrong."""
    try:
        data = json.loads(message) if isinstance(message, (str, bytes)) else None
    except (ValueError, UnicodeDecodeError, RecursionError):  # RecursionError: nested too deep
        data = None
    if not isinstance(data, dict):
        raise BadMessage("messages must be JSON objects such as {\"type\": \"text\", \"text\": \"hello\"}")
    kind = data.get("type")
    if kind in ("text", "say"):
        text = checked_text(data.get("text"), kind)
        if kind == "text":
            return SayText(text)
        interrupt = data.get("interrupt", True)
        if not isinstance(interrupt, bool):
            raise BadMessage("\"interrupt\" must be true or false")
        return SpeakText(text, interrupt)
    if kind == "interrupt":
        return Interrupt()
    if kind == "touch":
        return Touch(*(checked_fraction(data.get(axis), axis) for axis in ("x", "y")))
    if kind == "persona":
        return SwitchPersona(checked_key(data.get("persona")))
    raise BadMessage(f"unknown message type {kind!r}: use \"text\", \"say\", \"interrupt\", \"touch\" or \"persona\"")


def checked_key(key: object) -> str:
    """A persona message's key: a short non-empty string (GET /personas lists them)."""
    if not isinstance(key, str) or not key.strip() or len(key) > 100:
        raise BadMessage("a persona message needs \"persona\": a persona's key (GET /personas lists them)")
    return key.strip()


def checked_fraction(value: object, axis: str) -> float:
    """A touch's coordinate: a number from 0 to 1; raises BadMessage otherwise."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value <= 1.0:
        raise BadMessage(f"a touch message needs \"x\" and \"y\" from 0 to 1 (fractions of the video frame), "
                         f"got {axis}={json.dumps(value)[:40]}")
    return float(value)


def _article(word: str) -> str:
    return "an" if word[:1] in "aeiou" else "a"


def checked_text(text: object, kind: str = "text") -> str:
    """A message's text, stripped; raises BadMessage when it is missing, empty or too long."""
    if not isinstance(text, str) or not text.strip():
        raise BadMessage(f"{_article(kind)} {kind} message needs a non-empty \"text\" string")
    if len(text) > MAX_TEXT:
        raise BadMessage(f"{kind} messages are limited to {MAX_TEXT} characters (this one has {len(text)})")
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:  # JSON may say "\ud800": a half of a UTF-16 pair, no character
            raise BadMessage(f"{_article(kind)} {kind} message's text holds a lone surrogate (such as \\ud800): send "
                             f"valid Unicode") from None
    return text.strip()


class PageChannel:
    """The session's end of the page's data channel (an aiortc RTCDataChannel once attached)."""

    def __init__(self, log: logging.LoggerAdapter | logging.Logger | None = None):
        self.log = log or logging.getLogger("livehuman.live")
        self._channel = None
        self._outbox: deque[dict] = deque(maxlen=OUTBOX_LIMIT)
        self._watchers: list[Callable[[dict], None]] = []

    def watch(self, callback: Callable[[dict], None]) -> Callable[[], None]:
        """Hand every message for the page to `callback` too (the drive API's event streams), as it
        is sent, whether or not a page is attached; returns the function that stops it."""
        self._watchers.append(callback)
        return lambda: self._watchers.remove(callback) if callback in self._watchers else None

    def attach(self, channel, on_message: Callable[[object], None], on_close: Callable[[], None],
               on_open: Callable[[], None] | None = None) -> None:
        """Use `channel`: flush the outbox when it opens (then call `on_open`), hand on what the page sends."""
        self._channel = channel

        @channel.on("open")
        def opened() -> None:
            self._flush()
            if on_open is not None:
                on_open()

        if channel.readyState == "open":
            opened()

        @channel.on("message")
        def on_channel_message(message) -> None:
            on_message(message)

        @channel.on("close")
        def on_channel_close() -> None:
            on_close()

    def send(self, message: dict) -> None:
        """Send one JSON message to the page, if it is still there (held until its channel opens)."""
        for watcher in list(self._watchers):
            watcher(message)
        self._deliver(message)

    def _deliver(self, message: dict) -> None:
        channel = self._channel
        if channel is None or channel.readyState == "connecting":
            self._outbox.append(message)
        elif channel.readyState == "open":
            try:
                channel.send(json.dumps(message))
            except Exception as exc:  # the transport may be going away under us
                self.log.debug("send failed: %s", exc)

    def state(self, state: str) -> None:
        self.send({"type": "state", "state": state})

    def transcript(self, role: str, text: str, final: bool, item: str | None = None) -> None:
        message = {"type": "transcript", "role": role, "text": text, "final": final}
        if item is not None:
            message["item"] = item
        self.send(message)

    def persona(self, key: str, name: str) -> None:
        """Who the page is talking with: its transcript names the avatar's lines by `name`."""
        self.send({"type": "persona", "key": key, "name": name})

    def emotion(self, role: str, label: str, item: str | None = None, **figures: float | None) -> None:
        """The emotion read in a user's turn ("user": valence, arousal) or shown by the avatar
        ("assistant": strength); figures that are None are left out."""
        message: dict = {"type": "emotion", "role": role, "label": label}
        message.update({key: round(float(value), 3) for key, value in figures.items() if value is not None})
        if item is not None:
            message["item"] = item
        self.send(message)

    def notice(self, message: str) -> None:
        self.send({"type": "notice", "message": message})

    def error(self, message: str) -> None:
        self.send({"type": "error", "message": message})

    def _flush(self) -> None:
        while self._outbox:
            self._deliver(self._outbox.popleft())
