"""One question, one spoken answer, from any Brain: what `livehuman render --brain …` needs."""

from __future__ import annotations

import asyncio
import dataclasses
from dataclasses import dataclass

import numpy as np

from livehuman.brain.base import Brain
from livehuman.brain.speech_events import (
    BrainError,
    Notice,
    ReplyAudio,
    ReplyDone,
    ReplyStarted,
    ReplyTranscriptDone,
    UserTranscriptDone,
)
from livehuman.errors import LivehumanError
from livehuman.rates import REALTIME_RATE
from livehuman.speech.audio import Audio, Speech, resample
from livehuman.speech.phones import Phone

CHUNK_S = 0.5  # audio per push when handing over a whole file


@dataclass
class Answer:
    """The brain's spoken answer (at its rate, phones when the brain knows them) and what it heard."""

    speech: Speech
    heard: str  # the question's transcript (the text itself for a text question)


async def answer(brain: Brain, *, text: str | None = None, audio: Audio | None = None,
                 timeout: float = 120.0) -> Answer:
    """Ask `brain` one question (text, or audio at any rate) and collect its whole spoken answer."""
    if (text is None) == (audio is None):
        raise ValueError("give exactly one of text or audio")
    if text is not None and not text.strip():
        raise LivehumanError("the question is empty: pass some text with --text")
    try:
        return await asyncio.wait_for(_answer(brain, text, audio), timeout)
    except asyncio.TimeoutError:
        raise LivehumanError(f"the brain gave no complete answer within {timeout:.0f} s") from None


async def _answer(brain: Brain, text: str | None, audio: Audio | None) -> Answer:
    events = brain.events()
    # Manual turns: the whole question is one turn, answered once, in audio.
    await brain.update(dataclasses.replace(brain.settings, turn_detection=None, audio=True))
    heard = text or ""
    if text is not None:
        await brain.add_message(text)
        await brain.respond()
    else:
        samples = resample(audio, brain.input_rate).samples
        step = int(CHUNK_S * brain.input_rate)
        for i in range(0, len(samples), step):
            await brain.push_audio(samples[i : i + step], brain.input_rate)
        await brain.commit_audio()
    response_id = None
    chunks: list[np.ndarray] = []
    rate = REALTIME_RATE
    phones: list[Phone] = []
    transcript: list[str] = []
    async for event in events:
        match event:
            case BrainError(message=message):
                raise LivehumanError(f"the brain reported an error: {message}")
            case Notice(level="error", message=message):
                raise LivehumanError(message)
            case UserTranscriptDone(transcript=said) if text is None and response_id is None:
                heard = said
                await brain.respond()
            case ReplyStarted(response_id=rid) if response_id is None:
                response_id = rid
            case ReplyAudio(response_id=rid) if rid == response_id:
                chunks.append(event.samples)
                rate = event.rate
                phones += event.phones  # timed from the reply's start already
            case ReplyTranscriptDone(response_id=rid) if rid == response_id:
                transcript.append(event.transcript)
            case ReplyDone(response_id=rid, status=status) if rid == response_id:
                if status != "completed":
                    raise LivehumanError(f"the brain's answer ended with status {status!r}")
                break
    else:
        raise LivehumanError("the brain closed before answering")
    samples = np.concatenate(chunks) if chunks else np.zeros(0, np.float32)
    if not len(samples):
        raise LivehumanError("the brain answered without audio")
    speech = Speech(Audio(samples, rate), phones or None, " ".join(transcript).strip())
    return Answer(speech=speech, heard=heard)
