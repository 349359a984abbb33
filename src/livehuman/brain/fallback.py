"""A remote brain that hands the conversation to the offline brain when it cannot go on.

The Realtime client already reconnects by itself after a dropped connection; it gives up only when
the service refuses it (a bad key, a missing model) or keeps failing. Then the user should not be
left facing a silent face: the offline brain takes over, says so out loud, and answers from then on.
"""

from __future__ import annotations

import inspect
import logging
from typing import Any, AsyncIterator, Awaitable, Callable

import numpy as np

from livehuman.brain.base import Brain, SessionSettings
from livehuman.brain.speech_events import SpeechEvent

log = logging.getLogger(__name__)

FALLBACK_NOTICE = "I have lost my connection to the cloud, so I will answer offline for now."

class FallbackBrain:
    """The primary brain until its events end on their own, then the offline brain."""

    def __init__(self, primary: Brain, make_fallback: Callable[[], Brain | Awaitable[Brain]],
                 notice: str = FALLBACK_NOTICE):
        self.primary = primary
        self.fallback: Brain | None = None
        self._make_fallback = make_fallback
        self._notice = notice
        self._closed = False

    @property
    def active(self) -> Brain:
        return self.fallback or self.primary

    # Commands go to whichever brain holds the conversation now.

    @property
    def input_rate(self) -> int:
        return self.active.input_rate

    @property
    def reads_emotion(self) -> bool:
        """Whether the brain in charge reads the user's emotion itself (the live session tells the others)."""
        return bool(getattr(self.active, "reads_emotion", False))

    @property
    def natural_voice(self) -> bool:
        """Whether the primary brain's voice sounds like a person's (the lip sync, made once per
        session, hears it so; the offline brain's speech comes with its phones)."""
        return bool(getattr(self.primary, "natural_voice", False))

    @property
    def settings(self) -> SessionSettings:
        return self.active.settings

    async def update(self, settings: SessionSettings) -> None:
        # The remote brain's settings (its voice, its turn detection) mean nothing offline.
        if self.fallback is None:
            await self.primary.update(settings)

    async def push_audio(self, samples: np.ndarray, rate: int) -> None:
        await self.active.push_audio(samples, rate)

    async def commit_audio(self) -> None:
        await self.active.commit_audio()

    async def clear_audio(self) -> None:
        await self.active.clear_audio()

    async def add_message(self, text: str, role: str = "user", item_id: str | None = None) -> None:
        await self.active.add_message(text, role, item_id)

    async def respond(self, audio: bool | None = None) -> None:
        await self.active.respond(audio)

    async def cancel(self) -> None:
        await self.active.cancel()

    async def truncate(self, item_id: str, audio_end_ms: int) -> None:
        await self.active.truncate(item_id, audio_end_ms)

    async def interrupt(self, item_id: str | None, heard_ms: float | None) -> None:
        await self.active.interrupt(item_id, heard_ms)

    async def events(self) -> AsyncIterator[SpeechEvent]:
        """The primary's events; when they end without `close()`, the offline brain's."""
        async for event in self.primary.events():
            yield event
        if self._closed:
            return
        log.warning("the remote brain gave up; the offline brain takes over")
        fallback = self._make_fallback()
        if inspect.isawaitable(fallback):
            fallback = await fallback
        self.fallback = fallback
        if self._closed:  # closed while the offline brain was starting
            await fallback.close()
            return
        say: Any = getattr(fallback, "say", None)
        if say is not None:
            await say(self._notice)
        async for event in fallback.events():
            yield event

    async def close(self) -> None:
        """Close both brains (the offline one only if it was started)."""
        self._closed = True
        await self.primary.close()
        if self.fallback is not None:
            await self.fallback.close()


def with_fallback(make_primary: Callable[..., Brain], make_fallback: Callable[..., Any]) -> Callable[..., FallbackBrain]:
    """A brain factory whose brains fall back to `make_fallback`'s when the primary gives up."""

    def make(*request) -> FallbackBrain:
        return FallbackBrain(make_primary(*request), lambda: make_fallback(*request))

    return make
