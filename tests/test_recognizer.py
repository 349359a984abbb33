"""Recognizers for the offline brain (brain/recognizer.py): in a process of their own, the same words."""

from __future__ import annotations

import numpy as np
import pytest

from helpers_listen import espeak, flite
from livehuman.brain.knowledge import load_knowledge
from livehuman.brain.recognizer import AsrPool, knowledge_asr, process_asr, vocabulary_of
from livehuman.errors import LivehumanError


@pytest.fixture(scope="module")
def knowledge():
    return load_knowledge(None)


def _stream(asr, audio: np.ndarray) -> tuple[list[str], str | None, str]:
    partials = [p for i in range(0, len(audio), 320) if (p := asr.accept(audio[i:i + 320]))]
    return partials, asr.hypothesis(), asr.finish()


def test_a_recognizer_in_its_own_process_hears_what_one_in_this_process_hears(knowledge):
    here = knowledge_asr(knowledge, None, second_pass=False)
    there = process_asr(knowledge, None, second_pass=False)
    try:
        for audio in (espeak("How much does it cost?"), flite("What is livehuman?")):
            expected = _stream(here, audio)
            assert expected[2]  # it heard words
            assert _stream(there, audio) == expected
        # reset drops an utterance half heard, there as here
        there.accept(espeak("Tell me about your price.")[:8000])
        there.reset()
        assert there.finish() == ""
        # a pool hands it out and takes it back like any recognizer
        pool = AsrPool(lambda: there)
        assert pool.acquire() is there
        pool.release(there)
    finally:
        there.close()
    assert not there._process.is_alive()
    with pytest.raises(LivehumanError, match="was closed"):
        there.finish()


def test_a_recognizer_that_cannot_be_built_there_is_one_clear_error_here(knowledge, tmp_path):
    with pytest.raises(LivehumanError, match="whisper model directory not found"):
        process_asr(knowledge, str(tmp_path / "no-such-model"))


def test_the_vocabulary_is_the_questions_and_their_other_wordings(knowledge):
    vocabulary = vocabulary_of(knowledge)
    entry = knowledge.entries[0]
    assert entry.question in vocabulary and all(also in vocabulary for also in entry.also)
    assert vocabulary_of(None) is None


def test_a_recognizer_whose_process_died_starts_another_and_hears_again(knowledge):
    asr = process_asr(knowledge, None, second_pass=False)
    try:
        dead = asr._process.pid
        asr._process.kill()
        asr._process.join(5)
        with pytest.raises(LivehumanError, match="process ended.*another was started"):
            asr.accept(espeak("Is it free?")[:3200])  # the utterance under way is lost
        assert asr._process.pid != dead and asr.restarts == 1
        audio = espeak("Is it free?")
        heard = _stream(asr, audio)
        assert heard[2] and heard == _stream(knowledge_asr(knowledge, None, second_pass=False), audio)
        asr._process.kill()
        asr._process.join(5)
        asr.reset()  # a reset needs nothing from the dead one
        assert asr.restarts == 2 and asr.finish() == ""
    finally:
        asr.close()


class RecognizerThatCannotReset:
    """A recognizer whose reset fails (one whose restart failed too, say)."""

    restarts = 0
    closed = False

    def reset(self) -> None:
        raise RuntimeError("cannot reset")

    def close(self) -> None:
        self.closed = True


def test_a_pool_closes_its_recognizers_and_replaces_one_that_cannot_reset(knowledge):
    made = []

    def make():
        made.append(process_asr(knowledge, None, second_pass=False) if not made else RecognizerThatCannotReset())
        return made[-1]

    pool = AsrPool(make)
    first, broken = pool.acquire(), pool.acquire()
    pool.release(broken)  # cannot be reset: closed, not pooled
    assert broken.closed and pool.restarts == 1
    pool.release(first)
    assert pool.acquire() is first
    pool.release(first)
    pool.close()
    assert not first._process.is_alive()
    assert pool.restarts == 1  # a counter: closing takes nothing back
