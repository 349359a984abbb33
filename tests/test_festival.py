"""festival's diphone voices for benchmarks: recorded speech joined, segment times checked against the waveform."""

from __future__ import annotations

import numpy as np
import pytest
from helpers_speech import SEGMENT_TEXT, check_well_formed, closure_and_vowel_levels, level_db

from livehuman.bench.voices import parse_voice, synthesize
from livehuman.errors import LivehumanError
from livehuman.speech.festival import FESTIVAL_VOICES, festival_speech, parse_segments

@pytest.fixture(scope="module", params=FESTIVAL_VOICES)
def speech(request):
    return festival_speech(SEGMENT_TEXT, voice=request.param)


def test_speech_and_phones_are_well_formed(speech):
    check_well_formed(speech, rates=(16000,))


def test_segment_times_match_the_waveform(speech):
    phones = speech.phones
    assert level_db(speech, 0, phones[0].start - 0.02) < -35  # the leading pause is silence
    # Each /p/ and /b/ segment holds its closure; open vowels are loud through their middle.
    closures, vowels = closure_and_vowel_levels(speech)
    assert len(closures) >= 8 and len(vowels) >= 8
    assert np.median(vowels) - np.median(closures) > 25


def test_stretch_and_pitch_change_the_voice():
    plain = festival_speech("Bob bought a big map.", "kal")
    slow_high = festival_speech("Bob bought a big map.", "kal", stretch=1.5, pitch_hz=220)
    assert [p.symbol for p in slow_high.phones] == [p.symbol for p in plain.phones]
    assert slow_high.phones[-1].end == pytest.approx(1.5 * plain.phones[-1].end, rel=0.1)
    assert _pitch(slow_high) > 1.4 * _pitch(plain)  # kal speaks near 110 Hz


def test_a_rise_raises_only_the_end_of_the_sentence():
    from livehuman.brain.turn_end import final_pitch
    from livehuman.speech.audio import resample

    level = festival_speech("Are you open on Sunday?", "kal")
    rising = festival_speech("Are you open on Sunday?", "kal", rise_st=6)
    assert [(p.symbol, p.end) for p in rising.phones] == [(p.symbol, p.end) for p in level.phones]
    before_the_end = int((level.phones[-1].end - 0.6) * level.audio.rate)  # the rise's 0.4 s, and the glide into it
    assert np.array_equal(rising.audio.samples[:before_the_end], level.audio.samples[:before_the_end])
    ends = [final_pitch(resample(s.audio, 16000).samples.astype(np.float32)) for s in (level, rising)]
    assert abs(ends[0]) < 1.0 and ends[1] > ends[0] + 2.0  # festival's yes/no question ends level


def _pitch(speech) -> float:
    """Median pitch (Hz) of the loud 40 ms windows, from the autocorrelation peak in 60-400 Hz."""
    x, rate = speech.audio.samples.astype(np.float64), speech.audio.rate
    found = []
    for i in range(0, len(x) - 640, 320):
        w = x[i : i + 640] - x[i : i + 640].mean()
        if np.sqrt(np.mean(w**2)) < 0.05:
            continue
        ac = np.correlate(w, w, "full")[639:]
        lag = rate // 400 + int(np.argmax(ac[rate // 400 : rate // 60]))
        found.append(rate / lag)
    return float(np.median(found))


def test_bench_voices_name_festival_voices_and_refuse_bad_ones_in_one_line():
    spec = parse_voice("festival:kal@0.8/200")
    assert (spec.kind, spec.voice, spec.stretch, spec.pitch, spec.label) == ("festival", "kal", 0.8, 200, "festival kal 0.8/200")
    assert parse_voice("festival:ked").label == "festival ked"
    said = synthesize(parse_voice("festival:ked"), "a map")
    assert [p.symbol for p in said.phones][-3:] == ["m", "æ", "p"]
    for bad, words in (("festival:bob", "not a festival voice"), ("festival:ked@9", "stretch must lie"),
                       ("festival:kal@1/20", "pitch in 40-500 Hz")):
        with pytest.raises(LivehumanError, match=words):
            parse_voice(bad)
    with pytest.raises(LivehumanError, match="nothing to say"):
        festival_speech("  ")
    with pytest.raises(LivehumanError, match="rise must lie"):
        festival_speech("Is it?", rise_st=30)


def test_parse_segments():
    saved = "#\n0.1600 100 pau\n0.2456 100 b\n0.3531 100 aa\n0.5000 100 pau\n0.6000 100 m\n0.7000 100 pau\n"
    phones = parse_segments(saved, duration=0.65)
    assert [(p.symbol, p.start, p.end) for p in phones] == [("b", 0.16, 0.2456), ("ɑː", 0.2456, 0.3531), ("m", 0.5, 0.6)]
    assert parse_segments("") == []
