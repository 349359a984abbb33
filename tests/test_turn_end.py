"""The word rule of model turn-taking: which last words leave an utterance unfinished (brain/turn_end.py)."""

from __future__ import annotations

import numpy as np
import pytest

from livehuman.brain.turn_end import ModelTurns, complete, last_words, unfinished


@pytest.mark.parametrize("text", [
    "I would like to book a", "can you tell me about the", "what is the price of", "I want to know if",
    "how does it work with", "I'd like", "and um", "uh", "it's free and", "tell me about your", "I think",
    "What, exactly, is THE",  # case and punctuation do not matter
])
def test_an_utterance_ending_on_a_word_that_cannot_end_a_sentence_is_unfinished(text):
    assert unfinished(text)


@pytest.mark.parametrize("text", [
    "What is livehuman?", "Is it free?", "tell me about your price", "a table for two", "what can you do",
    "I would like that", "where is it", "", "   ",
    "about the", "thank you",  # a rule on the last words only: "the" must be last
])
def test_an_utterance_ending_on_a_content_word_is_left_to_the_model(text):
    assert unfinished(text) is (text == "about the")


def test_the_words_overrule_a_sure_model_but_not_an_unsure_one():
    assert complete(0.99, "what is livehuman") and not complete(0.99, "I would like to book a")
    assert not complete(0.2, "what is livehuman")
    assert complete(0.3, "what is livehuman", threshold=0.25)


def test_last_words_keep_apostrophes_and_drop_punctuation():
    assert last_words("I'd like, um... THE") == ["i'd", "like", "um", "the"]


class Heard:
    """An end-of-turn model stand-in that records what it was asked (the rule's caller is under test,
    the model's own judgement is tested on real speech in test_listener.py and test_end_of_turn.py)."""

    def __init__(self, probability: float) -> None:
        self.p, self.asked = probability, 0

    def probability(self, audio16k: np.ndarray) -> float:
        self.asked += 1
        return self.p


def test_model_turns_ask_the_model_only_when_the_words_leave_it_open():
    sure = Heard(0.9)
    turns = ModelTurns(sure)
    audio = np.zeros(16000, np.float32)
    assert not turns.complete(audio, "book a table for the") and sure.asked == 0
    assert turns.complete(audio, "book a table for two") and sure.asked == 1
    assert not ModelTurns(Heard(0.1)).complete(audio, "book a table for two")
