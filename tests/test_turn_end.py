"""Model turn-taking's judges (brain/turn_end.py): the word rule, the final pitch, and the silence they ask for."""

from __future__ import annotations

import numpy as np
import pytest

from livehuman.brain.turn_end import (
    LIMIT_MS,
    PAUSE_MS,
    UNSURE_MS,
    ModelTurns,
    VoiceKind,
    end_pitch,
    final_pitch,
    formula,
    holding_on,
    last_words,
    object_to_come,
    silence_needed,
    unfinished,
    yes_no_question,
)
from livehuman.rates import LISTEN_RATE
from livehuman.speech.audio import resample
from livehuman.speech.espeak import EspeakTTS
from livehuman.speech.festival import festival_speech


@pytest.mark.parametrize("text", [
    "I would like to book a", "can you tell me about the", "what is the price of", "I want to know if",
    "how does it work with", "I'd like", "and um", "uh", "it's free and", "tell me about your", "I think",
    "What, exactly, is THE",  # case and punctuation do not matter
    "so what's", "I think there's", "and you'll", "they've",  # contractions that need more
    "I was wondering", "So basically", "well", "and, um, actually",  # words that only lead into a sentence
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


@pytest.mark.parametrize(("text", "open_"), [
    # a determiner that is a pronoun as often is left to the model; an article is not
    ("What is this?", False), ("Can I have some?", False), ("Do you have any", False), ("I'll take these", False),
    ("Can you tell me about this", False), ("Can you tell me about every", True), ("Do you have an", True),
])
def test_a_determiner_that_can_stand_as_a_pronoun_is_not_unfinished(text, open_):
    assert unfinished(text) is open_
    # "some" and "any" usually have their noun to come ("I'd like some… coffee"): unsure, not the limit
    assert object_to_come(text) is (last_words(text)[-1] in ("some", "any"))


@pytest.mark.parametrize(("text", "open_"), [
    # the preposition's object, a wh-word, moved to the front: the question is whole
    ("Where are you from?", False), ("What are you looking for?", False), ("Who did you talk to?", False),
    ("What is it about", False), ("What's it for?", False), ("Which hotel did you stay at", False),
    ("What are you so worried about?", False), ("That's what I'm here for.", False), ("Who should I give it to", False),
    # or the word a clause describes, before it ("the one I'm looking for", "nothing to talk about")
    ("Which one are you talking about", False), ("He is the one I'm looking for", False),
    ("There's nothing to talk about.", False), ("That's all I can think of", False),
    # the object still to come: after a noun phrase, a wh-word that is not its object, an infinitive's "to"
    ("What is the price of", True), ("What about", True), ("How does it work with", True),
    ("What would you like to", True), ("What is the best way to", True), ("Where do I need to", True),
    ("Tell me something about", True), ("I'm looking for", True), ("I need one for", True),
    ("what are the prices for the", True), ("to", True), ("of", True),
])
def test_a_preposition_ends_a_sentence_whose_object_was_moved_before_it(text, open_):
    assert unfinished(text) is open_


@pytest.mark.parametrize(("text", "open_"), [
    # a wh-phrase ("how much", "what time") and its verb, its subject still to come
    ("How much is", True), ("What time does", True), ("How long will", True), ("so which one is", True),
    ("Do you know how much it is", False), ("How much is it", False), ("I know what time it is", False),
    ("Do you know where London is", False),
])
def test_a_verb_after_a_wh_phrase_waits_for_its_subject(text, open_):
    assert unfinished(text) is open_


@pytest.mark.parametrize(("text", "open_"), [
    # "be" last waits for what it says of its subject
    ("What is", True), ("My name is", True), ("the price of the pro plan is", True), ("So, um, where are", True),
    ("is", True), ("What I really need is", True), ("so what we want is", True),  # a wh-clause its subject
    # unless its subject, the rest left out, or a clause a wh-word opened, comes before it
    ("Yes, it is.", False), ("I know where it is", False), ("I think there is", False),
    ("is that what this is", False), ("Do you know where the station is", False),
])
def test_be_at_the_end_is_unfinished_unless_its_subject_or_a_wh_clause_comes_before(text, open_):
    assert unfinished(text) is open_


@pytest.mark.parametrize(("text", "open_"), [
    ("How does", True), ("so what can", True), ("How do I", True), ("What time does it", True),
    ("So, um, where can we", True), ("how much should I", True), ("Can I", True),  # (the last: UNFINISHED_PHRASES)
    ("What can you do", False), ("what can do", False),  # "do" the verb
    ("Why do you", False),  # can stand alone
    ("How do I reset it", False), ("Where is it", False), ("yes I do", False), ("no, they can", False),
    ("I know how it", False),  # not a wh-question: left to the model
])
def test_a_do_or_modal_waits_for_its_verb_after_a_wh_word_or_a_wh_questions_subject(text, open_):
    assert unfinished(text) is open_


@pytest.mark.parametrize(("text", "open_"), [
    ("I think so", False), ("I hope so.", False), ("a week or so", False), ("and so", True), ("so", True),
])
def test_so_standing_for_what_was_said_ends_a_sentence_and_a_conjunction_does_not(text, open_):
    assert unfinished(text) is open_


@pytest.mark.parametrize(("text", "to_come"), [
    ("I'd like to book", True), ("I would like to know", True), ("so I need to find", True),
    ("we're going to order", True),
    ("Could you explain", True), ("can you tell me", True), ("Would you show us", True),
    ("Does it run on", True), ("it depends on", True),
    # a wh-word is the object; an object said; a verb that stands alone; no wish or request before it
    ("What would you like to know?", False), ("Which one can you show me", False), ("I'd like to book it", False),
    ("Tell me", True), ("please, explain", True),  # a request said as a command
    ("Could you remind me", True), ("Could you please tell me", True),
    ("Do you have", True), ("so can I have", True), ("does it have", True),  # a question's "have", its object to come
    ("I have", False), ("you should have", False), ("have you", False),  # "have" that may stand
    ("My daughter wants", True), ("I'm going to need", True), ("could you bring", True), ("so are there", True),
    ("if you want", False), ("as you prefer", False), ("What do you need", False), ("It's all I want", False),
    ("there are", False), ("Yes, is there", False),
    ("I want to go", False), ("can you help", False), ("I know", False), ("you tell me", False), ("you know", False),
    ("they get", False),
    ("What does it run on", False), ("can you turn it on", False), ("go on", False), ("on", False),
    ("Good to know.", False), ("It's easy to use", False),  # the subject is the object
    ("", False),
])
def test_a_wish_or_request_ending_on_a_verb_before_its_object_has_an_object_to_come(text, to_come):
    assert object_to_come(text) is to_come


def test_an_object_to_come_waits_the_unsure_silence_whatever_the_voice_and_model_say():
    # "I'd like to book." said as a whole sentence, falling, the model sure: a thinking pause may
    # follow ("…a table for two"), but it may stand too: not the limit.
    assert silence_needed("I'd like to book", 0.95, -4.0) == UNSURE_MS
    assert silence_needed("could you explain", 0.9, -2.0, rise=2.5) == UNSURE_MS
    assert silence_needed("I'd like to book it", 0.95, -4.0) == PAUSE_MS


@pytest.mark.parametrize(("text", "holds"), [
    ("Let me think", True), ("um, let me see", True), ("Hold on", True), ("just a second", True), ("hmm", True),
    ("so how do I put it", True),
    ("let me think about it", False), ("I see", False), ("one more", False), ("", False),
])
def test_words_that_ask_for_time_to_think_wait_for_the_limit_whatever_the_voice_and_model_say(text, holds):
    assert holding_on(text) is holds
    if holds:
        assert silence_needed(text, 0.99, -4.0) == LIMIT_MS


def test_unfinished_words_wait_for_the_limit_a_fall_ends_at_the_pause_and_the_rest_waits_longer():
    # The words hold the turn, unless the voice fell deeply or the model is sure (misheard words).
    assert silence_needed("I would like to book a", 0.8, -2.0) == LIMIT_MS
    assert silence_needed("I would like to book a", 0.8, -4.0) == UNSURE_MS
    assert silence_needed("how are you to the", 0.95, -2.0) == UNSURE_MS
    # Final lowering ends it at the short silence, sure model or not; not if the model is sure it goes on.
    assert silence_needed("what is livehuman", 0.1, -2.0) == PAUSE_MS
    assert silence_needed("who do not know", 0.02, -2.0) == UNSURE_MS
    # A sure model is believed if the voice fell a little; not if it stayed level or rose.
    assert silence_needed("what is livehuman", 0.9, -0.8) == PAUSE_MS
    assert silence_needed("what is livehuman", 0.9, 0.5) == UNSURE_MS
    # Too little voice to hear a pitch: the model alone.
    assert silence_needed("yes", 0.9, None) == PAUSE_MS and silence_needed("yes", 0.3, None) == UNSURE_MS
    # The settings given are the ones used.
    assert silence_needed("what is livehuman", 0.1, 0.0, pause_ms=150, unsure_ms=1200, limit_ms=3000) == 1200
    assert silence_needed("tell me about the", 0.1, 0.0, pause_ms=150, unsure_ms=1200, limit_ms=3000) == 3000


@pytest.mark.parametrize(("text", "asks"), [
    ("Is it free?", True), ("can you hear me", True), ("Don't you have one?", True), ("so um are you open", True),
    ("Well, could I pay later?", True), ("What is it?", False), ("it is free", False), ("I can pay", False),
    ("So what do you do", False), ("", False), ("um so", False),
])
def test_a_yes_no_question_begins_with_an_auxiliary_after_any_openers(text, asks):
    assert yes_no_question(text) is asks


@pytest.mark.parametrize(("text", "whole"), [
    ("Hello.", True), ("Thank you very much!", True), ("oh, okay", True), ("Yes, please.", True), ("so, bye", True),
    ("Thanks so much!", True), ("Yes, that's right.", True), ("Okay, bye then", True), ("Sounds good to me", True),
    ("you", False), ("well", False), ("thank you for", False), ("hello, I'd like", False), ("", False),
    ("No, the other one.", False), ("so much", False),
])
def test_a_formula_said_level_ends_at_the_pause_when_the_model_leans_to_finished(text, whole):
    assert formula(text) is whole
    if whole:  # said level (no fall, no rise): ended by a model leaning to finished, else unsure
        assert silence_needed(text, 0.7, 0.0, 0.0) == PAUSE_MS
        assert silence_needed(text, 0.3, 0.0, 0.0) == UNSURE_MS


def test_a_rising_yes_no_question_ends_at_the_pause_when_the_model_leans_to_finished():
    assert silence_needed("are you open on sunday", 0.6, 1.0, rise=2.5) == PAUSE_MS
    assert silence_needed("are you open on sunday", 0.6, 0.0, rise=0.3) == UNSURE_MS  # level: unsure, as before
    assert silence_needed("are you open on sunday", 0.3, 1.0, rise=2.5) == UNSURE_MS  # the model hears it go on
    assert silence_needed("you are open on sunday", 0.9, 1.0, rise=2.5) == UNSURE_MS  # a rise on a statement: "…and"?
    assert silence_needed("are you open on the", 0.85, 1.0, rise=2.5) == LIMIT_MS  # the words still hold it open


def test_a_yes_no_question_the_model_is_sure_of_ends_at_the_pause_however_its_voice_ends():
    assert silence_needed("is breakfast included", 0.95, 0.1, rise=0.2) == PAUSE_MS  # level
    assert silence_needed("is breakfast included", 0.85, 0.1, rise=0.2) == UNSURE_MS  # the model less sure
    assert silence_needed("breakfast is included", 0.95, 0.1, rise=0.2) == UNSURE_MS  # a statement, level
    assert silence_needed("would you recommend", 0.97, 0.0, rise=0.0) == UNSURE_MS  # its object to come
    assert silence_needed("is there a way to", 0.97, 0.0, rise=0.0) == UNSURE_MS  # doubted words: a sure model


def _glide(hz_from: float, hz_to: float, seconds: float = 1.5, glide_s: float = 0.3) -> np.ndarray:
    """A steady tone whose pitch slides from `hz_from` to `hz_to` over its last `glide_s`."""
    t = np.arange(int(seconds * 16000)) / 16000
    hz = np.where(t < seconds - glide_s, hz_from, hz_from + (t - (seconds - glide_s)) / glide_s * (hz_to - hz_from))
    return (0.3 * np.sin(2 * np.pi * np.cumsum(hz) / 16000)).astype(np.float32)


def test_final_pitch_hears_a_fall_a_rise_and_a_level_voice():
    fall = final_pitch(_glide(200, 160))  # the last 200 ms lie between ~187 and 160 Hz
    assert -3.9 < fall < -1.2
    assert 1.2 < final_pitch(_glide(160, 200)) < 3.9
    assert abs(final_pitch(_glide(180, 180))) < 0.2
    assert final_pitch(np.zeros(16000, np.float32)) is None  # no voice, no pitch
    noise = 0.1 * np.random.default_rng(0).standard_normal(16000).astype(np.float32)
    assert final_pitch(noise) is None


def test_the_rise_is_heard_from_the_voices_low_point_at_its_end():
    assert 1.2 < end_pitch(_glide(160, 200))[1] < 3.9  # rose from 160 Hz
    assert end_pitch(_glide(200, 160))[1] < 0.5 and abs(end_pitch(_glide(180, 180))[1]) < 0.2  # fell; level
    # A rise after a dip, from a voice level with the turn's median: the fall rule hears no rise there.
    t = np.arange(24000) / 16000
    hz = np.interp(t, [0, 1.0, 1.15, 1.5], [180, 180, 150, 200])
    dipped = (0.3 * np.sin(2 * np.pi * np.cumsum(hz) / 16000)).astype(np.float32)
    fall, rise = end_pitch(dipped)
    assert abs(fall) < 1.0 and rise > 1.5
    assert end_pitch(np.zeros(16000, np.float32)) == (None, None)


def test_a_synthetic_statement_falls_at_its_end_and_not_in_its_middle():
    from helpers_listen import espeak

    speech = espeak("That is all I wanted to know.")
    speech = speech[: np.flatnonzero(np.abs(speech) > 0.01)[-1] + 1]
    whole, half = final_pitch(speech), final_pitch(speech[: len(speech) // 2])
    assert whole < -1.0 and whole < half - 0.5


def test_the_word_rules_judge_any_one_or_two_words_of_their_lists_without_failing():
    # A turn of one word the rules look back from ("to", "is") once raised an IndexError in the Listener.
    import itertools

    from livehuman.brain import turn_end

    vocabulary = sorted(turn_end.UNFINISHED_WORDS | turn_end.BE | turn_end.DO_OR_MODAL | turn_end.WH_WORDS
                        | turn_end.MARKERS | turn_end.HEADS | turn_end.PRONOUNS | {"have", "some", "please", "on"})
    for size in (1, 2):
        for words in itertools.product(vocabulary, repeat=size):
            assert silence_needed(" ".join(words), 0.5, None) in (PAUSE_MS, UNSURE_MS, LIMIT_MS)


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


def test_model_turns_ask_the_model_unless_an_object_is_to_come():
    sure = Heard(0.9)
    turns = ModelTurns(sure)
    level = _glide(180, 180)  # a level voice: the model decides
    assert turns.wait_ms(level, "book a table for the") == UNSURE_MS and sure.asked == 1  # misheard, likely
    assert turns.wait_ms(level, "book a table for two") == UNSURE_MS and sure.asked == 2
    assert turns.wait_ms(level, "I'd like to book") == UNSURE_MS and sure.asked == 2  # its object to come
    assert ModelTurns(Heard(0.5)).wait_ms(level, "book a table for the") == LIMIT_MS
    assert turns.wait_ms(_glide(200, 185), "book a table for two") == PAUSE_MS  # a small fall with a sure model
    assert ModelTurns(Heard(0.1), unsure_ms=1500).wait_ms(level, "book a table for two") == 1500


def _heard(kind: VoiceKind, audio: np.ndarray) -> VoiceKind:
    """`audio` given to `kind` as a microphone's 20 ms chunks."""
    for i in range(0, len(audio), LISTEN_RATE // 50):
        kind.hear(audio[i : i + LISTEN_RATE // 50])
    return kind


def test_auto_mode_tells_a_persons_voice_from_a_synthesizers_by_a_sessions_sound():
    def said(speech) -> np.ndarray:
        return resample(speech.audio, LISTEN_RATE).samples

    def kind_of(audio: np.ndarray) -> bool | None:
        return _heard(VoiceKind(), audio).person(len(audio) / LISTEN_RATE)

    question = "Could you tell me how much the pro plan costs?"  # a turn, not a paragraph
    person = said(festival_speech(question, "kal", 1.1, 140))  # a person's recorded diphones
    assert kind_of(person) is True
    synthetic = [said(EspeakTTS(voice, words_per_minute=wpm, pitch=pitch).synthesize(question))
                 for voice, wpm, pitch in [("en-us", 175, 50), ("en-gb-x-rp+f2", 150, 70)]]
    assert [kind_of(audio) for audio in synthetic] == [False, False]
    assert kind_of(person[: LISTEN_RATE // 4]) is None  # a quarter second: too little voice to tell
    assert kind_of(np.zeros(LISTEN_RATE, np.float32)) is None

    # Heard as it comes: asked at a pause, the voice is the one heard up to the pause, whatever came
    # after it in the same pile of audio.
    after = np.concatenate(synthetic)
    kind = _heard(VoiceKind(), np.concatenate([person, after[: 3 * LISTEN_RATE // 2]]))
    assert kind.person(len(person) / LISTEN_RATE) is True
    _heard(kind, after[3 * LISTEN_RATE // 2 :])
    assert kind.person((len(person) + len(after)) / LISTEN_RATE) is False  # its last KIND_S
    kind.begin()
    assert kind.person(0.0) is False  # a new turn with no voice yet: the last turn's

    # A turn is heard with the session's earlier ones: a short one goes by the voice heard before it,
    # a long one by its own.
    short = synthetic[0][: 7 * LISTEN_RATE // 10]
    assert kind_of(short) is False
    kind = _heard(VoiceKind(), person)
    kind.begin()
    assert _heard(kind, short).person(len(short) / LISTEN_RATE) is True
    kind = _heard(VoiceKind(), person)
    kind.begin()
    assert _heard(kind, synthetic[0]).person(len(synthetic[0]) / LISTEN_RATE) is False
