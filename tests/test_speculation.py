"""Speculator: a reply prepared on a fork of the dialogue, spoken only if the turn ends on the same words."""

from __future__ import annotations

import asyncio

import pytest

from livehuman.brain.local_factory import LocalBrainFactory
from livehuman.brain.speaker import Speaker
from livehuman.brain.speculation import Speculator, fork_dialogue


@pytest.fixture(scope="module")
def factory() -> LocalBrainFactory:
    make = LocalBrainFactory()
    make.dialogue()  # the embedding model loads once for the module
    return make


async def test_a_prepared_reply_is_the_reply_and_leaves_the_dialogue_alone(factory):
    dialogue = factory.dialogue()
    speculator = Speculator(Speaker())
    speculator.start("What can you do?", lambda: dialogue, audio=True)
    spec = await speculator.take("What can you do? ", audio=True)  # the final transcript, the same words
    assert spec is not None and speculator.counts == {"used": 0, "missed": 0, "discarded": 0}
    assert dialogue.history == []  # the fork answered, not the dialogue
    (sentence, speech), = spec.speech.items()  # the first sentence, already spoken
    assert speech and len(speech[0].samples) > 0.5 * 24000 and speech[0].phones
    said = "".join([piece async for piece in spec.resume()])
    assert said.startswith(sentence)
    expected = "".join([piece async for piece in factory.dialogue().reply("What can you do?")])
    assert said == expected  # the same words as without speculation
    assert spec.dialogue.history[-1] == {"role": "assistant", "content": said}


async def test_other_words_or_a_new_pause_throw_it_away(factory):
    dialogue = factory.dialogue()
    speculator = Speculator(Speaker())
    speculator.start("What is livehuman?", lambda: dialogue, audio=False)
    assert await speculator.take("What is livehuman and is it free?", audio=False) is None
    assert speculator.counts["missed"] == 1
    speculator.start("Is it free?", lambda: dialogue, audio=False)
    speculator.discard("discarded")  # the user spoke on
    assert await speculator.take("Is it free?", audio=False) is None
    assert speculator.counts == {"used": 0, "missed": 1, "discarded": 1}
    speculator.start("Is it free?", lambda: dialogue, audio=False)
    assert await speculator.take("Is it free?", audio=True) is None  # prepared as text, wanted as speech
    await asyncio.sleep(0)
    assert dialogue.history == []


def test_a_fork_has_its_own_history_and_shares_its_models(factory):
    dialogue = factory.dialogue()
    dialogue.history.append({"role": "user", "content": "Hello"})
    fork = fork_dialogue(dialogue)
    fork.history.append({"role": "assistant", "content": "Hi!"})
    assert dialogue.history == [{"role": "user", "content": "Hello"}]
    assert fork.knowledge is dialogue.knowledge and fork._embedder is dialogue._embedder
