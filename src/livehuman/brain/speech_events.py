"""What a brain says, as typed events: the one shape in-process consumers (the live session, render) read.

Audio is float32 samples in -1..1 with their rate; a reply's phones are timed in seconds from the
reply's first sample (not from the chunk that carries them), so that nobody between the brain and
the lip sync converts them. The OpenAI Realtime protocol's JSON and base64 exist only at the wire
(brain/wire.py), which maps these events to and from its server events.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Union

import numpy as np

from livehuman.speech.phones import Phone


@dataclass(frozen=True)
class UserSpeechStarted:
    """The user began to speak; `audio_start_ms` is where the turn's audio begins in the input
    (the VAD's prefix padding included, as the Realtime protocol counts it)."""

    item_id: str
    audio_start_ms: int


@dataclass(frozen=True)
class UserSpeechStopped:
    """The user's turn ended `audio_end_ms` into the input audio."""

    item_id: str
    audio_end_ms: int


@dataclass(frozen=True)
class UserTranscriptDelta:
    """More of what the user is saying (deltas only append; the final transcript may differ)."""

    item_id: str
    delta: str


@dataclass(frozen=True)
class UserTranscriptDone:
    """The user's turn, committed to the conversation with its final transcript."""

    item_id: str
    transcript: str


@dataclass(frozen=True)
class InputCleared:
    """The input audio not yet committed was thrown away (the client asked to)."""


@dataclass(frozen=True)
class ReplyStarted:
    """A reply began; `item_id` is its conversation item when the brain knows it already.

    `audio` False: the reply comes as text only (transcript deltas, no ReplyAudio).
    """

    response_id: str
    item_id: str | None = None
    audio: bool = True


@dataclass(frozen=True)
class ReplyTranscriptDelta:
    """More of the reply's words (its text, for a text-only reply)."""

    response_id: str
    item_id: str
    delta: str


@dataclass(frozen=True, eq=False)  # numpy arrays have no single truth value to compare by
class ReplyAudio:
    """A chunk of the reply's speech: float32 samples at `rate` Hz, with the phones they start.

    `phones` are timed in seconds from the reply's first sample (they may run past this chunk's
    end: a sentence's phones come with its first chunk).
    """

    response_id: str
    item_id: str
    samples: np.ndarray
    rate: int
    phones: tuple[Phone, ...] = ()

    def __post_init__(self) -> None:
        if self.samples.dtype != np.float32 or self.samples.ndim != 1:
            raise ValueError(f"reply audio must be mono float32 samples, got {self.samples.dtype} {self.samples.shape}")

    @property
    def duration_ms(self) -> float:
        return len(self.samples) * 1000 / self.rate


@dataclass(frozen=True)
class ReplyAudioDone:
    """The reply's audio is complete."""

    response_id: str
    item_id: str


@dataclass(frozen=True)
class ReplyTranscriptDone:
    """The reply's whole transcript (its text, for a text-only reply)."""

    response_id: str
    item_id: str
    transcript: str


@dataclass(frozen=True)
class ReplyDone:
    """The reply ended: `status` "completed", "cancelled", "failed" or "incomplete"; `reason` says why."""

    response_id: str
    status: str
    reason: str | None = None


@dataclass(frozen=True)
class ReplyTruncated:
    """A reply was cut at `audio_end_ms` (what the user heard); `transcript` is the words kept."""

    item_id: str
    audio_end_ms: int
    transcript: str


@dataclass(frozen=True)
class ReplyHeld:
    """A sound over the reply may be an interruption: a player that can should pause the reply
    where it is (no sound, the listening face) until ReplyResumed, or UserSpeechStarted (then it
    stops). Only brains told that their player holds send it (LocalBrain.holds_replies)."""


@dataclass(frozen=True)
class ReplyResumed:
    """The sound was no interruption: play the held reply on from where it paused."""


@dataclass(frozen=True)
class Notice:
    """One short line for the user (a reconnection, a rate limit, the offline brain taking over)."""

    message: str
    level: str = "warning"  # "info", "warning" or "error"


@dataclass(frozen=True)
class BrainError:
    """Something failed; the conversation goes on unless the brain's events end.

    `code` is the Realtime protocol's error code when there is one (e.g. "response_cancel_not_active").
    """

    message: str
    code: str | None = None


SpeechEvent = Union[
    UserSpeechStarted, UserSpeechStopped, UserTranscriptDelta, UserTranscriptDone, InputCleared,
    ReplyStarted, ReplyTranscriptDelta, ReplyAudio, ReplyAudioDone, ReplyTranscriptDone, ReplyDone,
    ReplyTruncated, ReplyHeld, ReplyResumed, Notice, BrainError,
]
