"""A recording's DC offset and mains hum (speech/hum.py) are taken away before the lip sync hears
it, a quiet one is heard louder, and a voice without them passes unchanged: real voices (festival's
recorded diphones, espeak-ng), hum as a ground loop makes it (a drifting mains frequency, a
swelling amplitude)."""

from __future__ import annotations

import numpy as np
import pytest

from livehuman.bench.lipsync import pad_speech
from livehuman.bench.voices import degraded, voice_level
from livehuman.render.batch import speech_controls
from livehuman.speech.audio import Audio, Speech, resample
from livehuman.speech.espeak import EspeakTTS
from livehuman.speech.festival import festival_speech
from livehuman.speech.hum import LISTEN_RATE, for_listening

SENTENCE = "Maybe Bob will pay a bit more for the big blue map, but not a lot."
LABIALS = ("m", "b", "p")


@pytest.fixture(scope="module")
def kal() -> Speech:
    """A person's recorded diphones, with 0.6 s of digital silence either side."""
    return pad_speech(festival_speech(SENTENCE, "kal"), 0.6)


def with_hum(audio: Audio, mains: float) -> Audio:
    """`audio` with a ground loop's hum throughout, as the lip-sync bench degrades a recording (the
    mains frequency 0.1 % off nominal, 10 dB under the voice, its third harmonic 14 dB under, the
    whole swelling and fading by half every three seconds)."""
    return degraded(audio, f"hum{mains:.0f}")


def labial_jaw(speech: Speech, audio: Audio) -> list[float]:
    """The jaw's opening at the middle of each P, B and M, the mouth made from `audio` alone."""
    jaw = [c.jaw for c in speech_controls(Speech(audio), 25.0)]
    return [jaw[int(round((p.start + p.end) / 2 * 25.0))] for p in speech.phones if p.symbol in LABIALS]


@pytest.mark.parametrize("mains", [50.0, 60.0])
def test_hum_is_found_and_taken_away(kal, mains):
    clean, none = for_listening(kal.audio)
    heard, hum = for_listening(with_hum(kal.audio, mains))
    assert none is None
    assert hum is not None and hum.mains == mains
    assert {1, 3} <= set(hum.lines)
    assert hum.lines[1] == pytest.approx(mains * 1.001, abs=0.02)
    voiced = np.abs(clean.samples) > 0
    left = heard.samples[voiced] - clean.samples[voiced]
    added = resample(with_hum(kal.audio, mains), LISTEN_RATE).samples[voiced] - clean.samples[voiced]
    assert 10 * np.log10(np.mean(left**2) / np.mean(added**2)) < -20  # (dB of the hum left)


def test_a_rectifiers_buzz_without_its_fundamental_is_hum(kal):
    t = np.arange(len(kal.audio.samples)) / kal.audio.rate
    buzz = sum(np.sin(2 * np.pi * 120.06 * k * t + k) / k for k in (1, 2, 3))  # 120, 240, 360 Hz
    level = voice_level(kal.audio.samples) * 10 ** (-15 / 20)
    hum = for_listening(Audio(kal.audio.samples + level * buzz, kal.audio.rate))[1]
    assert hum is not None and hum.mains == 60.0 and 1 not in hum.lines and len(hum.lines) >= 2


def test_a_large_offset_is_taken_away_and_padding_stays_silent(kal):
    clean, _ = for_listening(kal.audio)
    pad = int(0.6 * kal.audio.rate)
    shifted = kal.audio.samples.copy()
    shifted[pad:-pad] += 0.1  # (the recording, not the padding an editor added)
    heard, hum = for_listening(Audio(shifted, kal.audio.rate))
    assert hum is None
    assert np.max(np.abs(heard.samples - clean.samples)) < 0.01


@pytest.mark.parametrize(("voice", "wpm", "pitch"), [("en-us", 175, 0), ("en-us+m3", 120, 10), ("en-gb", 260, 99)])
def test_a_voice_without_hum_passes_unchanged(voice, wpm, pitch):
    # espeak-ng's steadiest, deepest voices: their harmonics are no mains hum
    audio = pad_speech(EspeakTTS(voice, words_per_minute=wpm, pitch=pitch).synthesize(SENTENCE)).audio
    heard, hum = for_listening(audio)
    assert hum is None
    np.testing.assert_array_equal(heard.samples, resample(audio, LISTEN_RATE).samples)


def test_a_deep_recorded_voice_is_not_hum():
    # kal's diphones at a mean pitch of 60 Hz: the mains frequency itself, but it wanders with the intonation
    audio = pad_speech(festival_speech(SENTENCE, "kal", 1.0, 60)).audio
    assert for_listening(audio)[1] is None


@pytest.mark.parametrize("mains", [50.0, 60.0])
def test_lips_close_through_hum(kal, mains):
    # (before the hum was taken away, three of these twelve stayed open, by a third to four fifths)
    assert max(labial_jaw(kal, kal.audio)) < 0.1
    assert max(labial_jaw(kal, with_hum(kal.audio, mains))) < 0.1


def test_lips_close_through_an_offset(kal):
    shifted = Audio(kal.audio.samples + 0.1, kal.audio.rate)  # (the padding too: the converter's zero)
    assert max(labial_jaw(kal, shifted)) < 0.1


def test_a_persons_voice_through_hum_is_still_a_persons(kal):
    from livehuman.motion.voice_kind import guess_voice_kind

    assert guess_voice_kind(with_hum(kal.audio, 50.0)) == guess_voice_kind(kal.audio) == "natural"


def test_a_quiet_recording_moves_the_lips_as_one_at_a_usual_level(kal):
    usual = np.array([c.jaw for c in speech_controls(Speech(kal.audio), 25.0)])
    quiet = Audio(kal.audio.samples * 10 ** (-30 / 20), kal.audio.rate)  # (its loudest 20 ms at -44 dBFS)
    heard = np.array([c.jaw for c in speech_controls(Speech(quiet), 25.0)])
    # (heard at its own level, frames' jaws differed by up to 0.6 and a P/B/M stayed open by 0.45)
    assert np.max(np.abs(heard - usual)) < 0.1
    assert max(labial_jaw(kal, quiet)) < 0.1
