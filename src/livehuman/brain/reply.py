"""One reply of the offline brain: its text spoken sentence by sentence, as speech events.

A reply runs as its own task, so that a barge-in or a cancel stops it between two 100 ms chunks;
the text-to-speech runs in worker threads, a sentence at a time.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

from livehuman.brain.events import new_id
from livehuman.brain.heard import Segment, heard_text
from livehuman.brain.speaker import Pacer, Sentences, Speaker, Spoken, is_sayable
from livehuman.brain.speech_events import (
    BrainError,
    ReplyAudio,
    ReplyAudioDone,
    ReplyDone,
    ReplyStarted,
    ReplyTranscriptDelta,
    ReplyTranscriptDone,
    SpeechEvent,
)
from livehuman.speech.phones import Phone

log = logging.getLogger(__name__)

CHUNK_MS = 100  # reply audio per ReplyAudio: a cancel stops it within this


@dataclass
class Said:
    """What one reply said where: its sentences' audio spans, for truncation."""

    segments: list[Segment] = field(default_factory=list)
    audio_ms: float = 0.0

    def heard(self, end_ms: float) -> str:
        """The words heard by `end_ms` into the reply's audio."""
        return heard_text(self.segments, end_ms)


class Reply:
    """One reply in flight: `text` (an async stream of pieces) spoken by `speaker`, its events to `emit`.

    `audio` False: text only. `prepared` holds sentences already spoken (a speculative reply's
    first). `on_audio()` is called as the first chunk goes out, `on_end(reply)` once the reply has
    ended, however it ended (not when the task is cancelled by closing the brain).
    """

    def __init__(self, text: AsyncIterator[str], speaker: Speaker, emit: Callable[[SpeechEvent], None], *,
                 audio: bool = True, pace_ahead_s: float | None = None,
                 prepared: dict[str, list[Spoken]] | None = None,
                 on_audio: Callable[[], None] | None = None,
                 on_end: Callable[[Reply], None] | None = None) -> None:
        self.id = new_id("resp")
        self.item_id = new_id("item")
        self.audio = audio
        self.said = Said()
        self.task: asyncio.Task | None = None
        self._text = text
        self._speaker = speaker
        self._emit = emit
        self._pacer = Pacer(pace_ahead_s)
        self._prepared = prepared or {}
        self._on_audio = on_audio
        self._on_end = on_end
        self._words: list[str] = []
        self._samples = 0  # audio sent, at the speaker's rate
        self._ended = False

    def start(self) -> None:
        self._emit(ReplyStarted(self.id, self.item_id, self.audio))
        self.task = asyncio.get_running_loop().create_task(self._run())

    async def cancel(self, reason: str) -> None:
        """Stop it now (between two chunks); it ends "cancelled" for `reason`."""
        task = self.task
        if task is not None and task is not asyncio.current_task():
            task.cancel()
            with contextlib.suppress(BaseException):
                await task
        self._finish("cancelled", reason)

    async def _run(self) -> None:
        try:
            await self._generate()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a failed reply must end the reply, not the session
            log.exception("local brain reply failed")
            self._finish("failed", None)
            self._emit(BrainError(f"the reply failed: {exc}"))
            return
        self._finish("completed", None)

    def _finish(self, status: str, reason: str | None) -> None:
        if self._ended:
            return
        self._ended = True
        if self.audio:
            self._emit(ReplyAudioDone(self.id, self.item_id))
        self._emit(ReplyTranscriptDone(self.id, self.item_id, "".join(self._words).strip()))
        self._emit(ReplyDone(self.id, status, reason))
        if self._on_end is not None:
            self._on_end(self)

    async def _generate(self) -> None:
        if not self.audio:
            async for piece in self._text:
                self._words.append(piece)
                self._emit(ReplyTranscriptDelta(self.id, self.item_id, piece))
            return
        if not self._speaker.loaded:
            await asyncio.to_thread(self._speaker.load)
        sentences = Sentences()
        async for piece in self._text:
            for sentence in sentences.feed(piece):
                await self._speak(sentence)
        await self._speak(sentences.rest())

    async def _speak(self, sentence: str) -> None:
        sentence = sentence.strip()
        if not sentence or not is_sayable(sentence):
            return
        spoken = self._prepared.pop(sentence, None)
        if spoken is None:
            spoken = await asyncio.to_thread(self._speaker.synthesize, sentence)
        rate = self._speaker.rate
        step = rate * CHUNK_MS // 1000
        for piece in spoken:
            start_s = self._samples / rate
            end_ms = (start_s + len(piece.samples) / rate) * 1000
            phones = piece.phones
            voiced = ((start_s + phones[0].start) * 1000, (start_s + phones[-1].end) * 1000) if phones else (start_s * 1000, end_ms)
            self.said.segments.append(Segment(start_s * 1000, end_ms, piece.text, voiced))
            delta = (" " if self._words else "") + piece.text
            self._words.append(delta)
            self._emit(ReplyTranscriptDelta(self.id, self.item_id, delta))
            # Phones timed from the reply's first sample, with the first chunk of their sentence.
            timed = tuple(Phone(p.symbol, start_s + p.start, start_s + p.end) for p in phones)
            for i in range(0, len(piece.samples), step):
                await self._pacer.wait(self._samples / rate)
                if self._samples == 0 and self._on_audio is not None:
                    self._on_audio()
                chunk = piece.samples[i : i + step]
                self._emit(ReplyAudio(self.id, self.item_id, chunk, rate, timed if i == 0 else ()))
                self._samples += len(chunk)
                self.said.audio_ms = self._samples * 1000 / rate
            # Let the consumer (and a barge-in) run between sentences.
            await asyncio.sleep(0)
