"""The user goes on after a pause the brain took for the end of their turn: the avatar stops, and
the two halves are answered as one question (brain/local.py, GO_ON_MS)."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest
import pytest_asyncio

from helpers_listen import espeak_paused, record_events, silence, speak_into
from livehuman.brain.local import GO_ON_MS
from livehuman.brain.local_factory import LocalBrainFactory
from livehuman.brain.speech_events import ReplyAudio, ReplyTranscriptDone, UserTranscriptDone

RATE = 16000
in_module_loop = pytest.mark.asyncio(loop_scope="module")
FIRST, REST = "I would like to know", "how much it costs."


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def factory():
    make = LocalBrainFactory(asr_second_pass=False)  # `vad` turns: the fixed silence ends the first half
    await asyncio.to_thread(make.warm_up)
    return make


async def paused_question(factory, pause_s: float, holds: bool = False) -> tuple[object, list]:
    """FIRST, `pause_s` of silence, REST, into a fresh brain at real-time pace; its events until the
    second half is answered. `holds`: the brain's player can hold a reply (the live session's)."""
    brain = factory()
    brain.holds_replies = holds
    events, task = record_events(brain)
    first, rest = espeak_paused(FIRST, REST)
    await speak_into(brain, np.concatenate([silence(0.3), first, silence(pause_s), rest, silence(1.0)]))
    for _ in range(100):
        done = [i for i, e in enumerate(events) if isinstance(e, UserTranscriptDone)]
        if len(done) == 2 and any(isinstance(e, ReplyTranscriptDone) for e in events[done[1]:]):
            break
        await asyncio.sleep(0.05)
    await brain.close()
    task.cancel()
    return brain, events


def user_turns(brain) -> list[str]:
    return [m["content"] for m in brain.dialogue.history if m["role"] == "user"]


@pytest.mark.slow
@pytest.mark.parametrize("holds", [False, True], ids=["realtime-client", "live-player"])
@in_module_loop
async def test_going_on_over_the_answer_gets_the_whole_question_answered(factory, holds):
    brain, events = await paused_question(factory, pause_s=1.0, holds=holds)
    turns = [i for i, e in enumerate(events) if isinstance(e, UserTranscriptDone)]
    first, second = (events[i].transcript for i in turns)
    assert first and second  # the fixed silence ended the turn in the pause...
    assert any(isinstance(e, ReplyAudio) for e in events[turns[0]:turns[1]])
    # ...and the reply had begun. One question in the dialogue, both halves, answered once; the
    # reply begun to the first half is not in the history.
    assert user_turns(brain) == [f"{first} {second}"]
    assert [m["role"] for m in brain.dialogue.history] == ["user", "assistant"]
    said = [e.transcript for e in events if isinstance(e, ReplyTranscriptDone)][-1]
    assert brain.dialogue.history[-1]["content"] == said
    assert brain.went_on == 1


@pytest.mark.slow
@in_module_loop
async def test_speech_long_after_the_turn_is_a_turn_of_its_own(factory):
    brain, events = await paused_question(factory, pause_s=GO_ON_MS / 1000 + 0.3)
    first, second = [e.transcript for e in events if isinstance(e, UserTranscriptDone)]
    assert brain.went_on == 0
    assert user_turns(brain) == [first, second]
