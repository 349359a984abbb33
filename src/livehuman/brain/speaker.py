"""The offline brain's voice: a reply's text cut into sentences, each spoken by espeak-ng, paced."""

from __future__ import annotations

import asyncio
import re
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from livehuman.errors import LivehumanError
from livehuman.rates import REALTIME_RATE
from livehuman.speech.audio import resample
from livehuman.speech.phones import Phone

MAX_SENTENCE_CHARS = 240  # speak a long run-on text in pieces rather than wait for its end
SENTENCE_END = re.compile(r"(?<=[.!?…])\s+|(?<=[。！？])")


@dataclass(frozen=True, eq=False)
class Spoken:
    """One piece of a sentence's speech: its words, its samples at the speaker's rate, its phones
    (seconds from the piece's first sample)."""

    text: str
    samples: np.ndarray
    phones: tuple[Phone, ...]


def is_sayable(sentence: str) -> bool:
    """Whether a piece of text has any word to say (not just punctuation)."""
    return bool(re.search(r"\w", sentence))


class Sentences:
    """A reply's text as it streams in, cut into the sentences to speak one at a time."""

    def __init__(self) -> None:
        self._pending = ""

    def feed(self, piece: str) -> list[str]:
        """The sentences `piece` completes."""
        self._pending += piece
        parts = SENTENCE_END.split(self._pending)
        out, self._pending = parts[:-1], parts[-1]
        if len(self._pending) > MAX_SENTENCE_CHARS and "," in self._pending:
            head, _, self._pending = self._pending.rpartition(",")
            out.append(head + ",")
        return out

    def rest(self) -> str:
        """What is left once the text has ended."""
        rest, self._pending = self._pending, ""
        return rest


def first_sentence(text: str) -> str | None:
    """The first whole sentence of `text`, if it has ended."""
    parts = SENTENCE_END.split(text)
    return parts[0] if len(parts) > 1 else None


class Speaker:
    """espeak-ng speaking sentences at the Realtime rate (24 kHz), with their phones.

    `tts` is any object with `.sentences(text) -> Iterator[Speech]` (None: an espeak-ng voice,
    built on first use). Blocking methods run in worker threads.
    """

    rate = REALTIME_RATE

    def __init__(self, tts: Any = None, voice: str | None = None) -> None:
        self._tts = tts
        self.voice = voice or "en-us"

    @property
    def loaded(self) -> bool:
        return self._tts is not None

    def load(self) -> None:
        """Build the voice now (blocking)."""
        if self._tts is None:
            self._tts = self._make(self.voice)

    def set_voice(self, voice: str) -> None:
        """Speak with another espeak-ng voice (blocking); a voice espeak-ng lacks keeps the current one."""
        if voice != self.voice:
            self._tts = self._make(voice)
            self.voice = voice

    def _make(self, voice: str) -> Any:
        from livehuman.speech.espeak import EspeakTTS

        try:
            return EspeakTTS(voice)
        except LivehumanError:
            # An OpenAI voice name ("marin", "alloy") means nothing to espeak-ng: keep speaking.
            return self._tts if self._tts is not None else EspeakTTS("en-us")

    def synthesize(self, sentence: str) -> list[Spoken]:
        """Each piece of `sentence`'s speech (blocking: call it in a worker thread)."""
        self.load()
        out = []
        for speech in self._tts.sentences(sentence):
            samples = resample(speech.audio, self.rate).samples
            out.append(Spoken((speech.text or sentence).strip(), samples, tuple(speech.phones or ())))
        return out


class Pacer:
    """Keeps a reply's audio at most `ahead_s` ahead of real time (None: as fast as it is made).

    A paced reply stays in flight while it plays, so a barge-in cancels what is still unsaid.
    """

    def __init__(self, ahead_s: float | None) -> None:
        self.ahead_s = ahead_s
        self._t0: float | None = None

    async def wait(self, sent_s: float) -> None:
        """Before sending more: `sent_s` seconds of audio are out already."""
        if self.ahead_s is None:
            return
        now = time.monotonic()
        if self._t0 is None:
            self._t0 = now
        ahead = sent_s - (now - self._t0)
        if ahead > self.ahead_s:
            await asyncio.sleep(ahead - self.ahead_s)
