"""Reply: one offline reply spoken sentence by sentence into speech events, alone (a real espeak-ng voice)."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from livehuman.brain.reply import Reply
from livehuman.brain.speaker import Speaker
from livehuman.brain.speech_events import (
    ReplyAudio,
    ReplyAudioDone,
    ReplyDone,
    ReplyStarted,
    ReplyTranscriptDelta,
    ReplyTranscriptDone,
)

TEXT = ["The sky on Mars ", "is butterscotch by day. ", "At sunset it turns blue. ", "Dust storms can cover the planet."]


async def pieces(text: list[str]):
    for piece in text:
        await asyncio.sleep(0)
        yield piece


async def run(reply: Reply) -> None:
    reply.start()
    await asyncio.wait_for(reply.task, 60)


async def test_a_reply_is_spoken_sentence_by_sentence_with_phones_from_its_start():
    events, ended = [], []
    reply = Reply(pieces(TEXT), Speaker(), events.append, on_end=ended.append)
    await run(reply)
    assert isinstance(events[0], ReplyStarted) and events[0].item_id == reply.item_id
    assert [type(e) for e in events[-3:]] == [ReplyAudioDone, ReplyTranscriptDone, ReplyDone]
    assert events[-1].status == "completed" and ended == [reply]
    deltas = [e.delta.strip() for e in events if isinstance(e, ReplyTranscriptDelta)]
    assert deltas == ["The sky on Mars is butterscotch by day.", "At sunset it turns blue.",
                      "Dust storms can cover the planet."]
    chunks = [e for e in events if isinstance(e, ReplyAudio)]
    assert all(len(c.samples) <= c.rate // 10 for c in chunks)  # 100 ms at most: a cancel stops within it
    audio = np.concatenate([c.samples for c in chunks])
    phones = [p for c in chunks for p in c.phones]
    starts = [p.start for p in phones]
    assert starts == sorted(starts) and phones[-1].end <= len(audio) / 24000 + 0.01
    # Each sentence's phones come with its first chunk, timed from the reply's first sample.
    sent = 0
    for chunk in chunks:
        if chunk.phones:
            assert chunk.phones[0].start >= sent / 24000 - 0.001
        sent += len(chunk.samples)
    # What it said where: three sentences, end to end, over all of its audio.
    segments = reply.said.segments
    assert len(segments) == 3 and segments[0].start_ms == 0
    assert all(a.end_ms == pytest.approx(b.start_ms) for a, b in zip(segments, segments[1:]))
    assert reply.said.audio_ms == pytest.approx(segments[-1].end_ms)
    assert reply.said.audio_ms == pytest.approx(len(audio) * 1000 / 24000)
    assert reply.said.heard(segments[1].voiced[1] + 1) == " ".join(deltas[:2])


async def test_a_cancel_stops_it_between_two_chunks_and_keeps_what_was_said():
    events = []
    reply = Reply(pieces(TEXT), Speaker(), events.append, pace_ahead_s=0.2)
    reply.start()
    while sum(len(e.samples) for e in events if isinstance(e, ReplyAudio)) < 24000:  # a second out
        await asyncio.sleep(0.02)
    await reply.cancel("turn_detected")
    assert events[-1] == ReplyDone(reply.id, "cancelled", "turn_detected")
    said = [e for e in events if isinstance(e, ReplyTranscriptDone)][0].transcript
    assert said == "The sky on Mars is butterscotch by day."  # the sentence it had begun to say
    await asyncio.sleep(0.3)
    assert events[-1] == ReplyDone(reply.id, "cancelled", "turn_detected")  # nothing after it


async def test_a_text_reply_streams_its_words():
    events = []
    reply = Reply(pieces(TEXT), Speaker(), events.append, audio=False)
    await run(reply)
    assert not [e for e in events if isinstance(e, (ReplyAudio, ReplyAudioDone))]
    assert "".join(e.delta for e in events if isinstance(e, ReplyTranscriptDelta)) == "".join(TEXT)
    assert events[-2].transcript == "".join(TEXT).strip()
