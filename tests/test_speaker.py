"""Speaker: a reply's text cut into sentences, spoken by espeak-ng at 24 kHz with its phones, and paced."""

from __future__ import annotations

import asyncio
import time

import numpy as np

from livehuman.brain.speaker import MAX_SENTENCE_CHARS, Pacer, Sentences, Speaker, first_sentence, is_sayable


def test_sentences_come_out_as_soon_as_they_end():
    cut = Sentences()
    assert cut.feed("Hello there") == []
    assert cut.feed(". How are") == ["Hello there."]
    assert cut.feed(" you? I am fine! Good") == ["How are you?", "I am fine!"]
    assert cut.rest() == "Good" and cut.rest() == ""
    # A run-on text is spoken in pieces at a comma rather than waited for to its end.
    long = "word " * (MAX_SENTENCE_CHARS // 5) + ", and more"
    pieces = cut.feed(long)
    assert len(pieces) == 1 and pieces[0].endswith(",") and cut.rest() == " and more"
    assert first_sentence("One. Two") == "One." and first_sentence("One") is None
    assert is_sayable("Yes.") and not is_sayable(" … ")


def test_a_sentence_is_spoken_with_phones_inside_its_audio():
    speaker = Speaker(voice="en-us")
    spoken = speaker.synthesize("The sky on Mars is butterscotch.")
    assert spoken and all(piece.samples.dtype == np.float32 for piece in spoken)
    piece = spoken[0]
    duration = len(piece.samples) / speaker.rate
    assert speaker.rate == 24000 and duration > 1.0
    assert piece.text.startswith("The sky")
    assert piece.phones and all(0 <= p.start < p.end <= duration + 0.01 for p in piece.phones)
    # Sound where the phones are, as espeak-ng placed them (at this rate, not the engine's own).
    a, b = int(piece.phones[0].start * speaker.rate), int(piece.phones[-1].end * speaker.rate)
    assert np.sqrt(np.mean(piece.samples[a:b] ** 2)) > 0.05


def test_an_unknown_voice_keeps_the_current_one():
    speaker = Speaker(voice="en-gb")
    speaker.load()
    speaker.set_voice("marin")  # an OpenAI voice: nothing to espeak-ng
    assert speaker.synthesize("Still here.")[0].samples.size > 0


async def test_pacing_keeps_the_audio_at_most_so_far_ahead():
    pacer = Pacer(0.1)
    start = time.monotonic()
    for i in range(6):  # six 100 ms chunks
        await pacer.wait(i * 0.1)
    # The last chunk may go out 100 ms ahead of its time (0.5 s), not before.
    assert time.monotonic() - start >= 0.5 - 0.1 - 0.02
    unpaced = Pacer(None)
    start = time.monotonic()
    await asyncio.gather(*(unpaced.wait(s) for s in (1.0, 2.0, 3.0)))
    assert time.monotonic() - start < 1.0  # no pacing: it never waits
