"""What one /v1/realtime client may ask of the server: sizes, rates, counts and times.

Without them one connection could take gigabytes (minutes of audio appended in a second, megabytes
of instructions) and fifty connections every core. Each refusal is what the protocol has for it:
an `error` event (the message is dropped, the conversation goes on), or for the connection as a
whole an `error` event and then a close code. Plain functions and small classes; the WebSocket
side (brain/server.py) applies them.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from livehuman.brain.events import error_event
from livehuman.rates import REALTIME_RATE

# Close codes (RFC 6455): a message over max_message_bytes gets 1009 from aiohttp itself.
CLOSE_TRY_LATER = 1013  # too many connections
CLOSE_NORMAL = 1000  # the session's time is up


@dataclass(frozen=True)
class RealtimeLimits:
    """The limits of one /v1/realtime endpoint (None: no limit of that kind).

    `audio_ahead_s`: input audio may arrive this many seconds ahead of real time (a burst, such as
    a recording sent at once), and then only as fast as it is spoken. `max_items`: conversation
    items the server keeps per connection (the oldest are forgotten, as the API's truncation does).
    """

    max_connections: int = 8
    max_connections_per_address: int | None = None  # behind a reverse proxy every client shares one
    max_message_bytes: int = 1 << 20  # ~16 s of base64 PCM16 at 24 kHz in one append
    messages_per_s: float = 200.0  # 20 ms audio chunks are 50 a second
    message_burst: int = 1000
    audio_ahead_s: float = 60.0
    max_text_chars: int = 20_000  # instructions, or one message's text
    max_items: int = 200
    idle_timeout_s: float | None = 600.0  # nothing from the client this long: hang up
    max_session_s: float | None = 3600.0

    def __post_init__(self) -> None:
        for name in ("max_connections", "max_message_bytes", "message_burst", "max_text_chars", "max_items"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1")


class TokenBucket:
    """Up to `capacity` at once, refilled at `rate` per second; `now` is any monotonic clock."""

    def __init__(self, capacity: float, rate: float, now: float) -> None:
        self.capacity = capacity
        self.rate = rate
        self.level = capacity
        self._at = now

    def take(self, amount: float, now: float) -> bool:
        """Take `amount` if there is that much; False (and nothing taken) otherwise."""
        self.level = min(self.capacity, self.level + (now - self._at) * self.rate)
        self._at = now
        if amount > self.level:
            return False
        self.level -= amount
        return True


class Admission:
    """Open connections in all and per client address, against the limits."""

    def __init__(self, limits: RealtimeLimits) -> None:
        self.limits = limits
        self.open = 0
        self._by_address: Counter[str] = Counter()

    def admit(self, address: str | None) -> str | None:
        """Take a place for a connection from `address`; None when taken, else why not."""
        limits = self.limits
        if self.open >= limits.max_connections:
            return f"the server is busy ({limits.max_connections} Realtime connections at once); try again later"
        per_address = limits.max_connections_per_address
        if per_address is not None and address is not None and self._by_address[address] >= per_address:
            return f"too many Realtime connections from {address} (at most {per_address} at once)"
        self.open += 1
        self._by_address[address or ""] += 1
        return None

    def release(self, address: str | None) -> None:
        self.open -= 1
        key = address or ""
        self._by_address[key] -= 1
        if self._by_address[key] <= 0:
            del self._by_address[key]


class ConnectionLimits:
    """One connection's budgets: messages, audio, text, and its idle and total time."""

    def __init__(self, limits: RealtimeLimits, now: float) -> None:
        self.limits = limits
        self._messages = TokenBucket(limits.message_burst, limits.messages_per_s, now)
        self._audio = TokenBucket(limits.audio_ahead_s, 1.0, now)
        self._started = now
        self._heard = now  # the client's last message

    def message(self, size: int, now: float) -> dict | None:
        """A message of `size` bytes arrived: None to go on with it, or the `error` event refusing it."""
        self._heard = now
        if not self._messages.take(1, now):
            return error_event(f"too many messages: at most {self.limits.messages_per_s:g} a second "
                               f"(bursts of {self.limits.message_burst}); this one was dropped",
                               code="rate_limit_exceeded")
        return None

    def event(self, event: dict, now: float) -> dict | None:
        """A valid client event: None to handle it, or the `error` event refusing it."""
        kind = event.get("type")
        event_id = event.get("event_id")
        if kind == "input_audio_buffer.append":
            seconds = audio_seconds(event.get("audio") or "")
            if not self._audio.take(seconds, now):
                return error_event(f"input audio arrives faster than it is spoken (more than "
                                   f"{self.limits.audio_ahead_s:g} s ahead of real time); this "
                                   f"{seconds:.1f} s was dropped: send audio as it is recorded",
                                   code="rate_limit_exceeded", param="audio", event_id=event_id)
            return None
        for param, text in texts(event):
            if len(text) > self.limits.max_text_chars:
                return error_event(f"{param} is {len(text)} characters long: at most "
                                   f"{self.limits.max_text_chars} are allowed",
                                   code="string_above_max_length", param=param, event_id=event_id)
        return None

    def wait_s(self, now: float) -> float | None:
        """Seconds until the connection's idle or total time runs out (None: never)."""
        ends = []
        if self.limits.idle_timeout_s is not None:
            ends.append(self._heard + self.limits.idle_timeout_s)
        if self.limits.max_session_s is not None:
            ends.append(self._started + self.limits.max_session_s)
        # Never 0: aiohttp reads a timeout of 0 as none at all.
        return max(0.001, min(ends) - now) if ends else None

    def expired(self, now: float) -> dict | None:
        """The `error` event that ends the connection once its time is up, else None."""
        limits = self.limits
        if limits.max_session_s is not None and now - self._started >= limits.max_session_s:
            return error_event(f"the session reached its maximum duration of {limits.max_session_s:g} s",
                               code="session_expired")
        if limits.idle_timeout_s is not None and now - self._heard >= limits.idle_timeout_s:
            return error_event(f"nothing was received for {limits.idle_timeout_s:g} s: the session ended",
                               code="session_expired")
        return None


def audio_seconds(b64: str) -> float:
    """Seconds of 24 kHz PCM16 in a base64 string, from its length alone (nothing decoded)."""
    return len(b64) * 3 / 4 / 2 / REALTIME_RATE


def texts(event: dict) -> list[tuple[str, str]]:
    """(param, text) for each free text a client event carries: instructions, a message's parts."""
    kind = event.get("type")
    found: list[tuple[str, str]] = []
    if kind == "session.update":
        instructions = (event.get("session") or {}).get("instructions")
        if isinstance(instructions, str):
            found.append(("session.instructions", instructions))
    elif kind == "conversation.item.create":
        for i, part in enumerate((event.get("item") or {}).get("content") or []):
            for key in ("text", "transcript"):
                if isinstance(part, dict) and isinstance(part.get(key), str):
                    found.append((f"item.content.{i}.{key}", part[key]))
    elif kind == "response.create":
        instructions = (event.get("response") or {}).get("instructions")
        if isinstance(instructions, str):
            found.append(("response.instructions", instructions))
    return found
