"""One question, one spoken answer, from any Brain: what `livehuman render --brain …` needs."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import numpy as np

from livehuman.brain.base import Brain
from livehuman.brain.events import AUDIO_RATE, NOTICE_EVENT, PHONES_EVENT, decode_pcm16, encode_pcm16
from livehuman.errors import LivehumanError
from livehuman.speech.audio import Audio, Speech, resample
from livehuman.speech.phones import Phone

CHUNK_S = 0.5  # audio per input_audio_buffer.append when uploading a whole file


@dataclass
class Answer:
    """The brain's spoken answer (24 kHz, phones when the brain knows them) and what it heard."""

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
    await brain.send({"type": "session.update", "session": {
        "type": "realtime", "output_modalities": ["audio"], "audio": {"input": {"turn_detection": None}}}})
    async for event in events:
        if event["type"] == "session.updated":
            break
        if event["type"] == "error" or (event["type"] == NOTICE_EVENT and event.get("level") == "error"):
            raise LivehumanError(event.get("message") or event["error"].get("message"))
    else:
        raise LivehumanError("the brain closed before answering")
    heard = text or ""
    if text is not None:
        await brain.send({"type": "conversation.item.create", "item": {
            "type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]}})
    else:
        samples = resample(audio, AUDIO_RATE).samples
        step = int(CHUNK_S * AUDIO_RATE)
        for i in range(0, len(samples), step):
            await brain.send({"type": "input_audio_buffer.append", "audio": encode_pcm16(samples[i : i + step])})
        await brain.send({"type": "input_audio_buffer.commit"})
    asked = False
    chunks: list[np.ndarray] = []
    phones: list[Phone] = []
    transcript: list[str] = []
    response_id = None
    async for event in events:
        kind = event["type"]
        if kind == "error":
            raise LivehumanError(f"the brain reported an error: {event['error'].get('message')}")
        if kind == NOTICE_EVENT and event.get("level") == "error":
            raise LivehumanError(event["message"])
        if kind == "conversation.item.input_audio_transcription.completed":
            heard = event.get("transcript") or ""
        if not asked and (
            (text is not None and kind == "conversation.item.done")
            or (text is None and kind == "input_audio_buffer.committed")
        ):
            asked = True
            await brain.send({"type": "response.create"})
        elif kind == "response.created":
            response_id = event["response"]["id"]
        elif kind == PHONES_EVENT and event.get("response_id") == response_id:
            offset = event["audio_start_ms"] / 1000
            phones += [Phone(p["symbol"], offset + p["start"], offset + p["end"]) for p in event["phones"]]
        elif kind == "response.output_audio.delta" and event.get("response_id") == response_id:
            chunks.append(decode_pcm16(event["delta"]))
        elif kind == "response.output_audio_transcript.done" and event.get("response_id") == response_id:
            transcript.append(event.get("transcript", ""))
        elif kind == "response.done" and event["response"].get("id") == response_id:
            status = event["response"].get("status")
            if status != "completed":
                raise LivehumanError(f"the brain's answer ended with status {status!r}")
            break
    else:
        raise LivehumanError("the brain closed before answering")
    samples = np.concatenate(chunks) if chunks else np.zeros(0, np.float32)
    if not len(samples):
        raise LivehumanError("the brain answered without audio")
    speech = Speech(Audio(samples, AUDIO_RATE), phones or None, " ".join(transcript).strip())
    return Answer(speech=speech, heard=heard)
