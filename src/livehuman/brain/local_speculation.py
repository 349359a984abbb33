"""Speculative replies: prepared while the user pauses, spoken only if the turn ends on the same words.

A pause of `speculate_ms` (shorter than the end-of-turn silence) starts the reply to the
recognizer's hypothesis: the dialogue answers on a fork of its state and the first sentence is
synthesized. Nothing is emitted until the turn ends; then the reply goes out at once if the final
transcript is the same, and is thrown away otherwise, or as soon as the user speaks on.
"""

from __future__ import annotations

import asyncio
import copy
import logging
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from livehuman.brain.local_responses import MAX_SENTENCE_CHARS, SENTENCE_END

log = logging.getLogger("livehuman.brain.local")  # one logger for the whole offline brain


@dataclass
class Speculation:
    """A reply prepared while the user pauses; it is spoken only if the turn ends on the same words.

    Nothing of it is emitted before then: the dialogue answers on a fork of its state, and the
    first sentence's speech waits here.
    """

    transcript: str
    modalities: list[str]
    task: asyncio.Task | None = None
    dialogue: Any = None  # the fork that answered
    source: Any = None  # the reply's text stream, to go on with
    pieces: list[str] = field(default_factory=list)  # its text so far
    ended: bool = False
    speech: dict[str, list] = field(default_factory=dict)  # sentence → its synthesized speech

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


class Speculating:
    """LocalBrain's speculative replies (a mixin sharing LocalBrain's state); off without `speculate_ms`."""

    def _init_speculation(self, speculate_ms: int | None) -> None:
        self.speculate_ms = speculate_ms  # the VAD reports a pause this long
        self._spec: Speculation | None = None
        self.speculations = {"used": 0, "missed": 0, "discarded": 0}  # how prepared replies fared

    async def _speculate(self) -> None:
        """The user paused: prepare the reply to what they said so far, emitting nothing."""
        turn = self._turn or {}
        if (self._speaking_item is None or self._response is not None or self._pending_user
                or not turn.get("create_response", True)):
            return
        self._discard_speculation(None)
        transcript = (await asyncio.to_thread(self._hypothesis) or "").strip()
        if not transcript or self._speaking_item is None:
            return
        spec = Speculation(transcript, self._modalities)
        spec.task = asyncio.get_running_loop().create_task(self._prepare(spec))
        self._spec = spec

    async def _prepare(self, spec: Speculation) -> None:
        if self._dialogue is None:
            await asyncio.to_thread(self._ensure_dialogue)
        audio = "audio" in spec.modalities
        if audio:
            await self._load_tts()
        spec.dialogue = fork_dialogue(self._dialogue)
        spec.source = spec.dialogue.reply(spec.transcript)
        pending = ""
        while len(SENTENCE_END.split(pending)) < 2:  # until the first sentence is whole
            try:
                piece = await spec.source.__anext__()
            except StopAsyncIteration:
                spec.ended = True
                break
            spec.pieces.append(piece)
            pending += piece
        first = SENTENCE_END.split(pending)[0].strip()
        if audio and first and re.search(r"\w", first) and len(first) <= MAX_SENTENCE_CHARS:
            spec.speech[first] = await asyncio.to_thread(self._synthesize, first)

    def _discard_speculation(self, outcome: str | None) -> None:
        spec, self._spec = self._spec, None
        if spec is None:
            return
        if spec.task is not None:
            spec.task.cancel()
        if outcome is not None:
            self.speculations[outcome] += 1

    async def _take_speculation(self, user_text: str) -> Speculation | None:
        """The prepared reply if it answers exactly `user_text` and is ready; else None (dropped)."""
        spec, self._spec = self._spec, None
        if spec is None:
            return None
        modalities = self._modalities
        if spec.transcript != user_text.strip() or spec.task is None or spec.modalities != modalities:
            self._spec = spec
            self._discard_speculation("missed")
            return None
        try:
            await spec.task
        except asyncio.CancelledError:
            if asyncio.current_task().cancelling():
                raise
            return None
        except Exception:  # the ordinary path will answer, and report any error
            log.exception("speculative reply failed")
            self.speculations["missed"] += 1
            return None
        return spec
