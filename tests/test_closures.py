"""The closure networks (motion/closures.py): the shipped weights hear lip closures in voices they
were not trained on, those for people's voices hear a person's closures better than those for
synthesizers, and the loading and training code round-trips a model the test makes."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from livehuman.bench.lipsync import OPEN_VOWELS, base_symbol, pad_speech
from livehuman.motion.acoustics import audio_features
from livehuman.motion.audio_mouth import CLOSED_P, closure_inputs, loudest_near
from livehuman.errors import LivehumanError
from livehuman.motion.closures import (
    FLOOR,
    NATURAL,
    SYNTHETIC,
    ClosureModel,
    check_voice_kind,
    load_closure_model,
    shipped_closure_networks,
)
from livehuman.speech.espeak import EspeakTTS
from livehuman.speech.festival import festival_speech

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
import train_closures  # noqa: E402

FPS = 25.0
# Neither voice nor sentence is in scripts/train_closures.py's training set (checked below).
HELD_OUT = [("en-us+m4", 250, 35), ("en-gb+grandma", 150, 60), ("en-us+Andy", 300, 80)]
SENTENCE = "Maybe Bob will pay a bit more for the big blue map, but not a lot."
# A person's recorded diphones at rates and pitches the natural networks never heard (festival:NAME@STRETCH/PITCH).
HELD_OUT_PEOPLE = [("ked", 1.2, 150), ("kal", 0.95, 125), ("ked", 0.8, 100)]


def network_inputs(voice: str, wpm: int, pitch: int) -> tuple[np.ndarray, np.ndarray]:
    """SENTENCE in an espeak-ng voice: its labelled_inputs."""
    return labelled_inputs(pad_speech(EspeakTTS(voice, words_per_minute=wpm, pitch=pitch).synthesize(SENTENCE)))


def labelled_inputs(speech) -> tuple[np.ndarray, np.ndarray]:
    """(kind of each frame inside a phone, the network's inputs there)."""
    feats = audio_features(speech.audio, FPS)
    kinds, rows = [], []
    for k, f in enumerate(feats):
        t = (k + 0.5) / FPS
        phone = next((p for p in speech.phones if p.start <= t < p.end), None)
        if phone is None or not f.bands:
            continue
        s = base_symbol(phone.symbol)
        kinds.append("closure" if s in "pbm" else "open" if s in OPEN_VOWELS else "other")
        rows.append(closure_inputs(feats, k, loudest_near(feats, k)))
    return np.array(kinds), np.array(rows)


def test_the_held_out_voices_and_sentence_are_not_in_the_training_set():
    names = {v.split(":", 1)[1].split("@")[0] for v in train_closures.TRAIN_VOICES}
    assert not names & {v for v, _, _ in HELD_OUT}
    assert SENTENCE not in train_closures.TRAIN_SENTENCES


@pytest.mark.parametrize(("voice", "wpm", "pitch"), HELD_OUT, ids=[v for v, _, _ in HELD_OUT])
def test_the_shipped_networks_hear_closures_in_voices_they_never_heard(voice, wpm, pitch):
    kinds, x = network_inputs(voice, wpm, pitch)
    p = shipped_closure_networks().probability(x)
    closures, vowels = p[kinds == "closure"], p[kinds == "open"]
    assert len(closures) >= 6 and len(vowels) >= 6
    # Nearly every closure frame scores above nearly every open-vowel frame...
    auc = (closures[:, None] > vowels[None, :]).mean()
    assert auc >= 0.9, auc
    # ...and the tracker's threshold splits them.
    assert (closures > CLOSED_P).mean() >= 0.75
    assert (vowels > CLOSED_P).mean() <= 0.15


def test_the_natural_networks_never_heard_the_held_out_people_nor_the_matrix_voices():
    heard = set(train_closures.NATURAL_TRAIN_VOICES)
    assert not heard & {f"festival:{v}@{s:g}/{p}" for v, s, p in HELD_OUT_PEOPLE}
    assert not heard & {"festival:ked", "festival:kal@0.8/200"}  # the lip-sync matrix's


def test_a_persons_closures_are_heard_better_by_the_networks_for_people():
    # festival's diphone voices: a person's recordings joined, their segments timed exactly.
    people = [labelled_inputs(pad_speech(festival_speech(SENTENCE, v, s, p))) for v, s, p in HELD_OUT_PEOPLE]
    kinds = np.concatenate([k for k, _ in people])
    closed = {}
    for voice in (NATURAL, SYNTHETIC):
        p = np.concatenate([shipped_closure_networks(voice).probability(x) for _, x in people])
        closures, vowels = p[kinds == "closure"], p[kinds == "open"]
        closed[voice] = (closures > CLOSED_P).mean()
        if voice == NATURAL:
            assert len(closures) >= 50 and len(vowels) >= 40
            assert (closures[:, None] > vowels[None, :]).mean() >= 0.95
            assert (vowels > CLOSED_P).mean() <= 0.1
    # The synthesizers' pair misses about a quarter of a person's closures, the people's a tenth.
    assert closed[NATURAL] >= 0.8 and closed[NATURAL] >= closed[SYNTHETIC] + 0.1, closed


def test_an_unknown_kind_of_voice_is_one_clear_line():
    assert check_voice_kind(NATURAL) == NATURAL
    with pytest.raises(LivehumanError, match="natural: a person's"):
        check_voice_kind("person")


def test_inputs_of_a_silent_neighbour_read_as_the_floor():
    loud = (-20.0,) * 12
    x = ClosureModel.inputs([(), loud, (-100.0,) * 12], loudest_near=-20.0)
    assert x.shape == (36,)
    assert np.all(x[:12] == FLOOR) and np.all(x[12:24] == 0.0) and np.all(x[24:] == FLOOR)


def test_a_trained_model_saves_and_loads_the_same(tmp_path, monkeypatch):
    # Tiny, separable data: the loading and training code, not the shipped weights.
    rng = np.random.default_rng(1)
    closed = rng.random(400) < 0.3
    x = rng.normal(-10.0, 3.0, (400, 12))
    x[closed, :4] -= 25.0  # a closure silences the first bands
    monkeypatch.setattr(train_closures, "STEPS", 300)
    model = train_closures.train(x, closed)
    p = model.probability(x)
    assert p[closed].min() > p[~closed].max() - 0.5 and p[closed].mean() > 0.8 > 0.2 > p[~closed].mean()
    path = tmp_path / "tiny.npz"
    model.save(path, voices="test")
    loaded = load_closure_model(str(path))
    assert np.array_equal(loaded.probability(x), p)
