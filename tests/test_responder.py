"""Responder: the offline brain's words (the dialogue, what the user is owed, each reply's text), alone."""

from __future__ import annotations

import pytest

from livehuman.brain.local_factory import LocalBrainFactory
from livehuman.brain.responder import FOLLOW_UP, Responder


@pytest.fixture(scope="module")
def factory() -> LocalBrainFactory:
    make = LocalBrainFactory()
    make.dialogue()  # the embedding model loads once for the module
    return make


async def text_of(pieces) -> str:
    return "".join([piece async for piece in pieces])


async def test_the_dialogue_is_built_on_first_need_with_the_instructions(factory):
    built = []

    def make():
        built.append(factory.dialogue())
        return built[-1]

    responder = Responder(dialogue_factory=make, instructions="Answer in one sentence.")
    assert responder.dialogue is None and built == []
    assert responder.ensure() is responder.ensure() is built[0]
    assert built[0].instructions == "Answer in one sentence."
    responder.set_instructions("Be brief.")
    assert built[0].instructions == "Be brief."


async def test_what_the_user_said_is_owed_a_reply_until_it_is_taken(factory):
    responder = Responder(factory.dialogue())
    assert not responder.waiting and responder.take() == ""
    responder.heard("What is your name?")
    responder.heard("   ")  # nothing said
    responder.heard("And what can you do?")
    assert responder.waiting and responder.owed() == "What is your name? And what can you do?"
    assert responder.take() == "What is your name? And what can you do?" and not responder.waiting


async def test_replies_greet_invite_speak_scripts_and_answer(factory):
    responder = Responder(factory.dialogue())
    dialogue = responder.dialogue
    assert await text_of(responder.reply("")) == dialogue.persona.greeting
    assert await text_of(responder.reply("", greeted=True)) == FOLLOW_UP
    assert await text_of(responder.reply("", script="The network is down.")) == "The network is down."
    assert [m["content"] for m in dialogue.history] == [dialogue.persona.greeting, FOLLOW_UP, "The network is down."]
    answer = await text_of(responder.reply("What is your name?"))
    assert "Ava" in answer and dialogue.history[-2:] == [{"role": "user", "content": "What is your name?"},
                                                          {"role": "assistant", "content": answer}]
    # A reply answered elsewhere (replayed after a reconnection) joins the history with what it answered.
    responder.heard("Is it free?")
    responder.replayed("Yes, it is free.")
    assert dialogue.history[-2:] == [{"role": "user", "content": "Is it free?"},
                                     {"role": "assistant", "content": "Yes, it is free."}]
    assert not responder.waiting
    responder.truncate_last_reply("Yes,")
    assert dialogue.history[-1]["content"] == "Yes,"
