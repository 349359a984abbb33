"""Speculative replies: prepared while the user pauses, spoken only if the turn ends on the same words.

A pause of `speculate_ms` (shorter than the end-of-turn silence) starts the reply to the
recognizer's hypothesis: the dialogue answers on a fork of its state and the first sentence is
synthesized. Nothing is said until the turn ends; then the reply goes out at once if the final
transcript is the same, and is thrown away otherwise, or as soon as the user speaks on.
"""

from __future__ import annotations

import asyncio
import copy
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

from livehuman.brain.speaker import MAX_SENTENCE_CHARS, Speaker, Spoken, first_sentence, is_sayable

log = logging.getLogger(__name__)


@dataclass
class Speculation:
    """A reply prepared while the user pauses: the fork of the dialogue that answered, its text so far,
    and the first sentence's speech."""

    transcript: str
    audio: bool
    task: asyncio.Task | None = None
    dialogue: Any = None  # the fork that answered
    source: Any = None  # the reply's text stream, to go on with
    pieces: list[str] = field(default_factory=list)  # its text so far
    ended: bool = False
    speech: dict[str, list[Spoken]] = field(default_factory=dict)  # sentence → its speech

    async def resume(self) -> AsyncIterator[str]:
        """The reply's text: what was prepared, then the rest as it comes."""
        for piece in self.pieces:
            yield piece
        if not self.ended and self.source is not None:
            async for piece in self.source:
                yield piece


def fork_dialogue(dialogue: Any) -> Any:
    """A shallow copy of `dialogue` with its own containers (history, topics said): models are shared."""
    clone = copy.copy(dialogue)
    for name, value in vars(dialogue).items():
        if isinstance(value, (list, dict, set)):
            setattr(clone, name, copy.copy(value))
    return clone


class Speculator:
    """At most one prepared reply at a time, and a count of how they fared (used, missed, discarded)."""

    def __init__(self, speaker: Speaker) -> None:
        self._speaker = speaker
        self._spec: Speculation | None = None
        self.counts = {"used": 0, "missed": 0, "discarded": 0}

    def start(self, transcript: str, dialogue: Callable[[], Any], audio: bool) -> None:
        """Prepare the reply to `transcript` on a fork of `dialogue()`'s state (replacing any other).

        `dialogue` is blocking (it may build the dialogue): it runs in a worker thread.
        """
        self.discard(None)
        spec = Speculation(transcript, audio)
        spec.task = asyncio.get_running_loop().create_task(self._prepare(spec, dialogue))
        self._spec = spec

    async def _prepare(self, spec: Speculation, dialogue: Callable[[], Any]) -> None:
        spec.dialogue = fork_dialogue(await asyncio.to_thread(dialogue))
        if spec.audio and not self._speaker.loaded:
            await asyncio.to_thread(self._speaker.load)
        spec.source = spec.dialogue.reply(spec.transcript)
        text = ""
        while first_sentence(text) is None:
            try:
                piece = await spec.source.__anext__()
            except StopAsyncIteration:
                spec.ended = True
                break
            spec.pieces.append(piece)
            text += piece
        first = (first_sentence(text) or text).strip()
        if spec.audio and first and is_sayable(first) and len(first) <= MAX_SENTENCE_CHARS:
            spec.speech[first] = await asyncio.to_thread(self._speaker.synthesize, first)

    def discard(self, outcome: str | None) -> None:
        """Throw the prepared reply away; `outcome` ("missed", "discarded") is counted."""
        spec, self._spec = self._spec, None
        if spec is None:
            return
        if spec.task is not None:
            spec.task.cancel()
        if outcome is not None:
            self.counts[outcome] += 1

    async def take(self, user_text: str, audio: bool) -> Speculation | None:
        """The prepared reply if it answers exactly `user_text` and is ready; else None (dropped)."""
        spec, self._spec = self._spec, None
        if spec is None:
            return None
        if spec.transcript != user_text.strip() or spec.task is None or spec.audio != audio:
            self._spec = spec
            self.discard("missed")
            return None
        try:
            await spec.task
        except asyncio.CancelledError:
            if asyncio.current_task().cancelling():
                raise
            return None
        except Exception:  # the ordinary path will answer, and report any error
            log.exception("speculative reply failed")
            self.counts["missed"] += 1
            return None
        return spec
