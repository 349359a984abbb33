"""Whose voice is it (motion/voice_kind.py): espeak-ng's formant voices are told from a person's
recorded speech by the sound alone, on voices and a sentence the network never heard."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from livehuman.bench import voices as bench_voices
from livehuman.bench.lipsync import pad_speech
from livehuman.motion.acoustics import audio_features
from livehuman.motion.closures import NATURAL, SYNTHETIC
from livehuman.motion.voice_kind import guess_voice_kind, person_probability, voice_inputs
from livehuman.speech.audio import Audio
from livehuman.speech.espeak import EspeakTTS
from livehuman.speech.festival import festival_speech

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
import train_closures  # noqa: E402
import train_voice_kind  # noqa: E402

SENTENCE = "Maybe Bob will pay a bit more for the big blue map, but not a lot."
SYNTHESIZERS = [("en-us+m4", 250, 35), ("en-gb+grandma", 150, 60), ("en-us+Andy", 300, 80), ("en-us", 175, 99)]
PEOPLE = [("ked", 1.2, 150), ("kal", 0.95, 125), ("ked", 0.8, 100)]  # festival's diphone voices


def test_the_voices_and_sentence_checked_were_never_trained_on():
    trained = set(train_closures.TRAIN_VOICES) | set(train_closures.NATURAL_TRAIN_VOICES)
    assert not trained & {f"espeak:{v}@{w}/{p}" for v, w, p in SYNTHESIZERS}
    assert not {v.split("@")[0] for v in trained if v.startswith("espeak:")} & {f"espeak:{v}" for v, _, _ in SYNTHESIZERS[:3]}
    assert not trained & {f"festival:{v}@{s:g}/{p}" for v, s, p in PEOPLE}
    assert not trained & set(train_voice_kind.CHECK_VOICES)
    assert SENTENCE not in train_closures.TRAIN_SENTENCES


@pytest.mark.parametrize(("voice", "wpm", "pitch"), SYNTHESIZERS, ids=[v for v, _, _ in SYNTHESIZERS])
def test_espeak_ng_is_heard_as_a_synthesizer(voice, wpm, pitch):
    audio = pad_speech(EspeakTTS(voice, words_per_minute=wpm, pitch=pitch).synthesize(SENTENCE)).audio
    assert person_probability(audio_features(audio, 25.0)) < 0.4
    assert guess_voice_kind(audio) == SYNTHETIC


@pytest.mark.parametrize(("voice", "stretch", "pitch"), PEOPLE, ids=[f"{v}@{s}/{p}" for v, s, p in PEOPLE])
def test_a_persons_recorded_speech_is_heard_as_a_person(voice, stretch, pitch):
    audio = pad_speech(festival_speech(SENTENCE, voice, stretch, pitch)).audio
    assert person_probability(audio_features(audio, 25.0)) > 0.6
    assert guess_voice_kind(audio) == NATURAL


def with_hiss(audio: Audio, db: float) -> Audio:
    return bench_voices.with_hiss(audio, np.random.default_rng(0), db)


@pytest.mark.parametrize(("voice", "stretch", "pitch"), PEOPLE, ids=[f"{v}@{s}/{p}" for v, s, p in PEOPLE])
def test_a_persons_speech_with_a_microphones_hiss_is_still_a_persons(voice, stretch, pitch):
    # (the network learnt only clean voices before: one of these three was heard as a synthesizer's)
    audio = pad_speech(festival_speech(SENTENCE, voice, stretch, pitch)).audio
    assert guess_voice_kind(with_hiss(audio, 25.0)) == NATURAL


@pytest.mark.parametrize(("voice", "wpm", "pitch"), SYNTHESIZERS, ids=[v for v, _, _ in SYNTHESIZERS])
def test_a_synthesizers_voice_with_hiss_is_still_a_synthesizers(voice, wpm, pitch):
    audio = pad_speech(EspeakTTS(voice, words_per_minute=wpm, pitch=pitch).synthesize(SENTENCE)).audio
    assert guess_voice_kind(with_hiss(audio, 20.0)) == SYNTHETIC


def test_too_little_voice_to_tell_is_taken_for_a_synthesizer():
    rng = np.random.default_rng(0)
    hiss = Audio((0.01 * rng.normal(size=16000)).astype(np.float32), 16000)  # a second of noise, no voice
    assert person_probability(audio_features(hiss, 25.0)) is None
    assert guess_voice_kind(hiss) == SYNTHETIC


def test_one_row_of_inputs_per_voiced_frame():
    speech = pad_speech(EspeakTTS("en-us").synthesize("Hello there."))
    feats = audio_features(speech.audio, 25.0)
    x = voice_inputs(feats)
    voiced = sum(1 for f in feats if f.bands and f.voicing >= 0.3)
    assert x.shape == (voiced, 3 * 28 + 3) and voiced > 5


def test_the_network_reads_no_vad_so_its_features_are_made_without_it():
    from dataclasses import replace

    speech = pad_speech(EspeakTTS("en-us").synthesize("Hello there."))
    heard, lean = audio_features(speech.audio, 25.0), audio_features(speech.audio, 25.0, speech=False)
    assert any(f.speech > 0.5 for f in heard) and all(f.speech == 0.0 for f in lean)
    assert [replace(f, speech=0.0) for f in heard] == lean  # the rest is the same, frame for frame
    np.testing.assert_array_equal(voice_inputs(heard), voice_inputs(lean))
