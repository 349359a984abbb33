"""The openness network (motion/audio_mouth.py OPENNESS_FILE): in a person's voice it tells how open
the jaw is on voiced frames better than F1 alone, on rates, pitches and a sentence it never heard,
and the tracker uses it for people's voices only."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from livehuman.bench.lipsync import pad_speech
from livehuman.motion.audio_mouth import AudioMouthTracker
from livehuman.motion.closures import NATURAL, SYNTHETIC
from livehuman.speech.festival import festival_speech

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
import train_openness  # noqa: E402

SENTENCE = "Father and Anna walked along the road, talking about the old farm by the lake."
# A person's recorded diphones at rates and pitches the network never heard (festival voice, stretch, pitch Hz).
HELD_OUT_PEOPLE = [("ked", 1.2, 150), ("kal", 0.95, 125), ("ked", 0.8, 210)]


def test_the_held_out_rates_pitches_and_sentence_are_not_in_the_training_set():
    trained = set(train_openness.TRAIN_SENTENCES + train_openness.OPEN_SENTENCES)
    assert SENTENCE not in trained
    voices = set(train_openness.NATURAL_TRAIN_VOICES)
    assert not voices & {f"festival:{v}@{s:g}/{p}" for v, s, p in HELD_OUT_PEOPLE}


@pytest.fixture(scope="module")
def held_out_frames() -> list[tuple[np.ndarray, float, float]]:
    rows = []
    for voice, stretch, pitch in HELD_OUT_PEOPLE:
        rows += train_openness.voiced_frames(pad_speech(festival_speech(SENTENCE, voice, stretch, pitch)))
    return rows


def test_a_persons_voiced_frames_open_as_their_phones_do(held_out_frames):
    from livehuman.motion.audio_mouth import OPENNESS_FILE
    from livehuman.motion.closures import load_closure_model

    x, want, f1 = (np.array([r[i] for r in held_out_frames]) for i in range(3))
    assert len(want) >= 100
    heard = load_closure_model(name=OPENNESS_FILE).probability(x)
    # Open vowels, mid and close vowels and the voiced consonants between them, in order...
    r_network = np.corrcoef(heard, want)[0, 1]
    assert r_network >= 0.6, r_network
    # ...better than F1 between the speaker's extremes, the rule it replaced for people's voices.
    r_f1 = np.corrcoef(f1, want)[0, 1]
    assert r_network > r_f1 + 0.03, (r_network, r_f1)


def test_only_a_persons_voice_is_heard_by_the_network():
    # The rule F1 gives synthesizers' voices (their formants keep to it) is theirs still.
    assert AudioMouthTracker(voice=SYNTHETIC).openness is None
    assert AudioMouthTracker(voice=NATURAL).openness is not None
