"""Listener: the offline brain's VAD and recognizer over real speech, turn by turn, with no brain around it."""

from __future__ import annotations

import numpy as np
import pytest

from helpers_listen import RATE, espeak, flite, silence, voiced_span
from livehuman.brain.base import TurnDetection
from livehuman.brain.listener import Listener, Partial, Paused, SpeechBegan, SpeechEnded
from livehuman.brain.recognizer import AsrPool, knowledge_asr

CHUNK = RATE // 50  # 20 ms, as a microphone sends it


@pytest.fixture(scope="module")
def pool() -> AsrPool:
    return AsrPool(lambda: knowledge_asr(None, None, second_pass=False))


def hear_all(listener: Listener, audio: np.ndarray) -> list:
    heard = []
    for i in range(0, len(audio), CHUNK):
        for event in listener.hear(audio[i : i + CHUNK]):
            heard.append(event)
            if isinstance(event, SpeechBegan):
                first = listener.begin(event.audio)
                if first:
                    heard.append(Partial(first))
    return heard


@pytest.mark.slow  # builds the recognizer the module shares
def test_a_turn_is_found_where_the_speech_is_and_its_words_recognized(pool):
    listener = Listener(pool.acquire, pool.release, TurnDetection(silence_duration_ms=500))
    speech = espeak("What is your name?")
    lead = 1.0
    start, end = voiced_span(speech)
    heard = hear_all(listener, np.concatenate([silence(lead), speech, silence(1.5)]))
    began = [e for e in heard if isinstance(e, SpeechBegan)]
    ended = [e for e in heard if isinstance(e, SpeechEnded)]
    assert len(began) == 1 and len(ended) == 1 and listener.speaking is False
    # The turn's start includes the VAD's 300 ms prefix padding, as the protocol counts it.
    assert began[0].start_ms == pytest.approx((lead + start) * 1000 - 300, abs=120)
    assert ended[0].end_ms == pytest.approx((lead + end) * 1000, abs=150)
    # The recognizer got the speech from its start (the padding included), not from the VAD's decision.
    assert len(began[0].audio) >= 0.2 * RATE
    partials = [e.text for e in heard if isinstance(e, Partial)]
    assert partials  # what was said so far, while the user speaks
    transcript = listener.finish()
    assert transcript.startswith("what is your")
    assert listener.heard_ms == pytest.approx((lead + len(speech) / RATE + 1.5) * 1000, abs=25)
    listener.close()


def test_a_pause_is_reported_before_the_turn_ends(pool):
    listener = Listener(pool.acquire, pool.release, TurnDetection(silence_duration_ms=800), pause_ms=150)
    first, second = flite("What is livehuman"), flite("and is it free?")
    loud = np.flatnonzero(np.abs(first) > 0.01)
    audio = np.concatenate([silence(0.5), first[: loud[-1] + 1], silence(0.4), second, silence(1.5)])
    heard = hear_all(listener, audio)
    kinds = [type(e) for e in heard if not isinstance(e, Partial)]
    assert kinds[0] is SpeechBegan and kinds[-1] is SpeechEnded
    assert Paused in kinds and kinds.count(SpeechEnded) == 1  # one turn, paused in its middle
    listener.close()


def test_manual_turns_keep_the_audio_until_it_is_taken(pool):
    listener = Listener(pool.acquire, pool.release, turn=None)
    assert listener.take_manual() is None  # nothing heard yet
    speech = espeak("What is your name?")
    assert hear_all(listener, np.concatenate([silence(0.3), speech, silence(0.3)])) == []  # no VAD
    audio = listener.take_manual()
    assert audio is not None and len(audio) == pytest.approx(0.6 * RATE + len(speech), abs=CHUNK)
    assert listener.take_manual() is None  # taken
    assert listener.recognize(audio).startswith("what is your")
    listener.close()


def test_a_new_turn_detection_drops_the_turn_in_progress_and_close_returns_the_recognizer(pool):
    taken = []

    def acquire():
        taken.append(pool.acquire())
        return taken[-1]

    listener = Listener(acquire, pool.release)
    speech = espeak("Hello there, how are you today?")
    heard = hear_all(listener, np.concatenate([silence(0.5), speech[: len(speech) // 2]]))
    assert any(isinstance(e, SpeechBegan) for e in heard) and listener.speaking
    listener.configure(TurnDetection(kind="semantic_vad", eagerness="high"))
    assert not listener.speaking
    listener.close()
    assert listener.hear(speech) == [] and listener.hypothesis() is None  # closed: deaf
    assert pool.acquire() is taken[0]  # back in the pool for the next session
    pool.release(taken[0])
