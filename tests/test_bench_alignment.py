"""The lip-sync benchmark's ruler for natural recordings: their words aligned to the sound.

Checked where the truth is known: espeak-ng reports when it said each phone, and its words are
aligned here as a recording's would be.
"""

from __future__ import annotations

import numpy as np
import pytest

from livehuman.bench.alignment import aligned_phones, transcript_beside
from livehuman.bench.voices import parse_voice, recording
from livehuman.errors import LivehumanError
from livehuman.speech.audio import Audio, save_wav
from livehuman.speech.espeak import EspeakTTS

SENTENCE = "My mother paid a lot for the cheap pub lunch. Who knew the moon was so bright above the bay?"


@pytest.mark.parametrize("voice", ["en-us", "en-gb-scotland"])
def test_every_lip_closure_is_found_within_a_frame_of_when_it_was_said(voice):
    speech = EspeakTTS(voice).synthesize(SENTENCE)
    phones, words = aligned_phones(speech.audio, SENTENCE)
    assert words == "my mother paid a lot for the cheap pub lunch who knew the moon was so bright above the bay"
    said = [p for p in speech.phones if p.symbol in "pbm"]
    found = [p for p in phones if p.symbol in "pbm"]
    assert len(found) == len(said) == 10
    assert all(min(f.end, s.end) > max(f.start, s.start) for f, s in zip(found, said))  # each overlaps its own
    errors = [abs(f.start - s.start) for f, s in zip(found, said)]
    assert np.median(errors) < 0.02 and max(errors) < 0.08, errors  # the double /p/ of "cheap pub" is one closure
    assert phones[-1].end == pytest.approx(speech.audio.duration, abs=0.1)  # the last word is there


def test_reduced_vowels_are_told_from_the_stressed_one():
    speech = EspeakTTS("en-us").synthesize("Come above the sun.")
    symbols = [p.symbol for p in aligned_phones(speech.audio, "come above the sun")[0]]
    # come: k ʌ m; above: ə b ʌ v; the: ð ə; sun: s ʌ n
    assert symbols == ["k", "ʌ", "m", "ə", "b", "ʌ", "v", "ð", "ə", "s", "ʌ", "n"]


def test_a_recording_is_aligned_to_the_transcript_beside_it(tmp_path):
    speech = EspeakTTS("en-us").synthesize("Bob bought a big map.")
    path = tmp_path / "clip.wav"
    save_wav(path, speech.audio)
    (tmp_path / "clip.txt").write_text("Bob bought a big map.\n", encoding="utf-8")
    assert transcript_beside(path) == "Bob bought a big map."
    take = recording(parse_voice(f"wav:{path}"))
    assert take.text == "bob bought a big map"
    assert [p.symbol for p in take.phones if p.symbol in "pbm"] == ["b", "b", "b", "b", "m", "p"]


def test_words_the_aligner_cannot_use_fail_in_one_line():
    audio = EspeakTTS("en-us").synthesize("Hello there.").audio
    with pytest.raises(LivehumanError) as err:
        aligned_phones(audio, "hello zqxwvj")
    assert "dictionary" in str(err.value) and "\n" not in str(err.value)
    with pytest.raises(LivehumanError, match="no words"):
        aligned_phones(audio, " ... ")
    silence = Audio(np.zeros(16000, np.float32), 16000)
    with pytest.raises(LivehumanError):
        aligned_phones(silence)
