"""flite voices as a second family: real speech, segment times checked against the waveform."""

from __future__ import annotations

import numpy as np
import pytest
from helpers_speech import SEGMENT_TEXT, check_well_formed, closure_and_vowel_levels, level_db

from livehuman.errors import LivehumanError
from livehuman.speech.arpabet import arpabet_to_ipa
from livehuman.speech.flite import FLITE_VOICES, flite_speech, parse_psdur

@pytest.fixture(scope="module", params=FLITE_VOICES)
def speech(request):
    return flite_speech(SEGMENT_TEXT, voice=request.param)


def test_speech_and_phones_are_well_formed(speech):
    check_well_formed(speech, rates=(8000, 16000))


@pytest.mark.slow
def test_segment_times_match_the_waveform(speech):
    phones = speech.phones
    # flite starts and ends with a pause ("pau", dropped): silence outside the phones.
    assert level_db(speech, 0, phones[0].start - 0.02) < -35
    assert level_db(speech, phones[-1].end + 0.03, speech.audio.duration) < -35
    # Each /p/ and /b/ segment holds its closure; open vowels are loud through their middle.
    closures, vowels = closure_and_vowel_levels(speech)
    assert len(closures) >= 8 and len(vowels) >= 8
    assert np.median(vowels) - np.median(closures) > 30
    assert max(vowels) > -10 and np.median(closures) < -35


def test_parse_psdur():
    phones = parse_psdur("pau:0.193 b:0.224 aa:0.435 pau:0.500 m:0.600 pau:0.700\n", duration=0.65)
    assert [(p.symbol, p.start, p.end) for p in phones] == [
        ("b", 0.193, 0.224),
        ("ɑː", 0.224, 0.435),
        ("m", 0.5, 0.6),
    ]
    assert parse_psdur("") == []


def test_arpabet_to_ipa():
    assert arpabet_to_ipa("AA1") == "ɑː"
    assert arpabet_to_ipa("hh") == "h" and arpabet_to_ipa("NG") == "ŋ" and arpabet_to_ipa("y") == "j"
    for silent in ("SIL", "pau", "+NSN+", "+SPN+", "+BREATH+", ""):
        assert arpabet_to_ipa(silent) is None


def test_text_that_looks_like_an_option_or_a_file_is_spoken():
    speech = flite_speech("-help me", voice="kal")
    assert [p.symbol for p in speech.phones] == ["h", "ɛ", "l", "p", "m", "iː"]


def test_bad_input():
    with pytest.raises(LivehumanError, match="unknown flite voice"):
        flite_speech("hello", voice="nobody")
    with pytest.raises(LivehumanError, match="empty"):
        flite_speech("  ")
