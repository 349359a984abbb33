"""The Brain interface: one conversation, typed commands in, typed speech events out.

In-process consumers (the live session, `render --brain`) use it directly. The OpenAI Realtime
protocol is spoken only at the wire: `/v1/realtime` (brain/server.py) serves any Brain, and
RealtimeBrain (brain/client.py) is a Brain on any Realtime server; both translate through
brain/wire.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import AsyncIterator, Protocol, runtime_checkable

import numpy as np

from livehuman.brain.speech_events import SpeechEvent


class RequestError(ValueError):
    """A command the brain refuses (nothing to cancel, no such item…); the conversation goes on.

    `code` and `param` are what the Realtime protocol's `error` event reports for it.
    """

    def __init__(self, message: str, *, code: str = "invalid_value", param: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.param = param


@dataclass(frozen=True)
class TurnDetection:
    """When the user's turn ends (the brain's voice activity detection), as the protocol defines it.

    `kind` "server_vad" ends a turn after `silence_duration_ms` of silence; "semantic_vad" by
    `eagerness` ("low", "medium", "high", "auto"). `prefix_padding_ms` of audio before the speech
    belong to the turn. `create_response`: answer each turn; `interrupt_response`: speech cuts the
    reply in flight.
    """

    kind: str = "server_vad"
    threshold: float = 0.5
    prefix_padding_ms: int = 300
    silence_duration_ms: int = 500
    eagerness: str = "auto"
    create_response: bool = True
    interrupt_response: bool = True


@dataclass(frozen=True)
class SessionSettings:
    """What a client may change mid-conversation. `turn_detection` None: manual turns (commit_audio)."""

    instructions: str = ""
    voice: str | None = None
    turn_detection: TurnDetection | None = TurnDetection()
    audio: bool = True  # reply in speech (False: text only)


@runtime_checkable
class Brain(Protocol):
    """One conversation. Commands are methods; what the brain says comes out of `events()`.

    A command the brain refuses raises RequestError; failures while it works come out as
    BrainError events.
    """

    input_rate: int  # the sample rate push_audio takes without resampling

    @property
    def settings(self) -> SessionSettings:
        """The session's settings now."""

    async def update(self, settings: SessionSettings) -> None:
        """Apply new settings (e.g. turn detection, voice) from the next turn on."""

    async def push_audio(self, samples: np.ndarray, rate: int) -> None:
        """The microphone: float32 mono samples at `rate` Hz, as they come."""

    async def commit_audio(self) -> None:
        """Manual turns: the audio pushed so far is the user's turn."""

    async def clear_audio(self) -> None:
        """Throw away the input audio not yet committed."""

    async def add_message(self, text: str, role: str = "user", item_id: str | None = None) -> None:
        """Add a message to the conversation: the user's typed text, a replayed reply ("assistant"),
        instructions ("system"); `item_id` names its item (None: the brain does)."""

    async def respond(self, audio: bool | None = None) -> None:
        """Reply to the conversation so far (`audio` None: as the settings say)."""

    async def cancel(self) -> None:
        """Stop the reply in flight."""

    async def truncate(self, item_id: str, audio_end_ms: int) -> None:
        """The user heard only `audio_end_ms` of reply `item_id`: keep what they heard."""

    async def interrupt(self, item_id: str | None, heard_ms: float | None) -> None:
        """Barge-in: stop the reply in flight and cut `item_id` to what was heard. Never raises."""

    def events(self) -> AsyncIterator[SpeechEvent]:
        """The brain's speech events, in order; ends when the brain is closed. One consumer only."""

    async def close(self) -> None:
        """Stop all work and end `events()`."""
