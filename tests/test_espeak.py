"""espeak-ng through its C API: real speech, phone timings checked against the waveform itself."""

from __future__ import annotations

import os
import subprocess
import threading

import numpy as np
import pytest
from helpers_speech import level_db, quietest_db

from livehuman.errors import LivehumanError
from livehuman.speech.espeak import ESPEAK_RATE, EspeakTTS, list_voices, split_sentences

BILABIAL_TEXT = "Bob bought a big map, maybe more maps. Papa bakes apple pies; my mom made plum pie for Pam."
OPEN_VOWELS = {"a", "æ", "ɑ", "ɑː", "ɔː", "aɪ", "aʊ", "ʌ", "ɛ", "eɪ", "ɐ"}
STRESS = str.maketrans("", "", "ˈˌ \n_|")


@pytest.fixture(scope="module")
def tts():
    return EspeakTTS("en-us")


@pytest.fixture(scope="module")
def bilabial(tts):
    return tts.synthesize(BILABIAL_TEXT)


def cli_ipa(text, voice="en-us", wpm=160):
    out = subprocess.run(["espeak-ng", "-q", "-v", voice, "-s", str(wpm), "--ipa", text],
                         check=True, capture_output=True, text=True).stdout  # fmt: skip
    return out.translate(STRESS)


def test_audio_and_phones_are_well_formed(bilabial):
    audio, phones = bilabial.audio, bilabial.phones
    assert audio.rate == ESPEAK_RATE == 22050
    assert audio.samples.dtype == np.float32 and 3.0 < audio.duration < 12.0
    assert np.abs(audio.samples).max() > 0.1
    assert bilabial.text == BILABIAL_TEXT
    assert phones and all(p.symbol and not p.symbol.startswith("(") for p in phones)
    assert all(0 <= p.start < p.end <= audio.duration + 1e-9 for p in phones)
    assert all(a.end <= b.start + 1e-9 for a, b in zip(phones, phones[1:]))
    # The last phone ends where the sound does (no trailing pause is counted as a phone).
    assert audio.duration - phones[-1].end < 0.05


def test_phones_are_the_ones_the_espeak_program_writes(tts):
    text = "The quick brown fox jumps over the lazy dog. She sells sea shells in a church."
    ours = "".join(p.symbol for p in tts.synthesize(text).phones)
    assert ours == cli_ipa(text)


@pytest.mark.slow
def test_bilabial_closures_are_quiet_and_open_vowels_loud(bilabial):
    phones = bilabial.phones
    closures = [level_db(bilabial, p.start, p.end) for p in phones if p.symbol in ("p", "b", "m")]
    vowels = [
        level_db(bilabial, p.start + p.duration / 4, p.end - p.duration / 4)
        for p in phones
        if p.symbol in OPEN_VOWELS
    ]
    assert len(closures) >= 15 and len(vowels) >= 10
    assert np.median(vowels) - np.median(closures) > 8
    # Every /p/ holds its closure: a stretch of near-silence inside its own interval.
    ps = [p for p in phones if p.symbol == "p"]
    assert ps and all(quietest_db(bilabial, p) < -40 for p in ps)


@pytest.mark.parametrize("voice", ["en-us", "en-us+f3"])  # en-us+f3: the default persona's, with an echo
def test_stop_closures_are_not_left_inside_the_previous_phone(voice):
    # espeak-ng's events mark a stop's burst; the closure silence before it belongs to the stop.
    speech = EspeakTTS(voice).synthesize(BILABIAL_TEXT)
    phones = speech.phones
    checked = 0
    for prev, stop in zip(phones, phones[1:]):
        if stop.symbol in ("p", "t", "k") and abs(prev.end - stop.start) < 1e-6 and prev.duration > 0.03:
            assert level_db(speech, prev.end - 0.01, prev.end) > -40, (prev, stop)
            checked += 1
    assert checked >= 3


ECHO_TEXT = "I bought a map at the top of the hill, and kept it."
PHONE_STARTS = """
import json, sys
from livehuman.speech.espeak import EspeakTTS
phones = EspeakTTS(sys.argv[1], 175).synthesize(sys.argv[2]).phones
print(json.dumps([[p.symbol, p.start] for p in phones]))
"""


def test_a_variants_echo_does_not_move_its_phones(tmp_path):
    # The same voice without its echo (a copy of espeak-ng's data with the variant's echo line
    # removed) speaks the same sound; its phones must be where the echoing voice's are. Without
    # the echo taken out for the alignment, the echo's stops came 35-50 ms late.
    import json
    import shutil
    import sys

    from livehuman.speech.espeak import _get_engine

    data = tmp_path / "espeak-ng-data"
    shutil.copytree(_get_engine().data_path, data)
    variant = (data / "voices" / "!v" / "f3").read_text()
    assert "\necho " in variant
    dry = "\n".join(line for line in variant.splitlines() if not line.startswith("echo"))
    (data / "voices" / "!v" / "f3dry").write_text(dry)

    def starts(voice):  # a process each: espeak-ng's data path is read once, at start
        out = subprocess.run([sys.executable, "-c", PHONE_STARTS, voice, ECHO_TEXT], check=True, text=True,
                             capture_output=True, env={**os.environ, "ESPEAK_DATA_PATH": str(data)})  # fmt: skip
        return json.loads(out.stdout)

    wet, dry = starts("en-us+f3"), starts("en-us+f3dry")
    assert [s for s, _ in wet] == [s for s, _ in dry]
    stops = 0
    for (symbol, t_wet), (_, t_dry) in zip(wet, dry):
        # Times from the first phone: espeak-ng's leading silence may differ by a few ms.
        assert abs((t_wet - wet[0][1]) - (t_dry - dry[0][1])) < 0.005, symbol
        stops += symbol in ("p", "t", "k")
    assert stops >= 6


def test_nasal_ends_when_the_mouth_opens(bilabial):
    phones = bilabial.phones
    checked = 0
    for nasal, vowel in zip(phones, phones[1:]):
        if nasal.symbol == "m" and vowel.symbol in OPEN_VOWELS and abs(nasal.end - vowel.start) < 1e-6:
            murmur = level_db(bilabial, nasal.start, nasal.start + nasal.duration / 2)
            assert level_db(bilabial, nasal.end - 0.008, nasal.end) < murmur + 6, (nasal, vowel)
            assert level_db(bilabial, vowel.start, vowel.start + 0.02) > murmur + 3, (nasal, vowel)
            checked += 1
    assert checked >= 4


def test_no_sound_falls_between_phones(tts):
    # espeak-ng sends empty-named events inside some words ("video"); the sound there belongs to a phone
    speech = tts.synthesize("How do I make a lip-synced video? Radio and audio, oh yes.")
    samples, rate = speech.audio.samples, speech.audio.rate
    loud = 0.25 * np.sqrt(np.mean(samples**2))
    for before, after in zip(speech.phones, speech.phones[1:]):
        gap = samples[int(before.end * rate) : int(after.start * rate)]
        if len(gap) > rate // 100:
            assert np.sqrt(np.mean(gap**2)) < loud, (before, after)


def test_rate_and_pitch_change_the_speech():
    slow = EspeakTTS("en-us", words_per_minute=120).synthesize("Remember to buy milk.")
    fast = EspeakTTS("en-us", words_per_minute=260).synthesize("Remember to buy milk.")
    assert slow.audio.duration > 1.5 * fast.audio.duration
    assert [p.symbol for p in slow.phones] == [p.symbol for p in fast.phones]
    low = EspeakTTS("en-us", pitch=10).synthesize("Remember to buy milk.")
    high = EspeakTTS("en-us", pitch=90).synthesize("Remember to buy milk.")
    assert not np.array_equal(low.audio.samples[:2000], high.audio.samples[:2000])


def test_voices_include_english_chinese_japanese():
    voices = list_voices()
    for voice in ("en-us", "en-gb", "cmn", "ja"):
        assert voice in voices
    gb = EspeakTTS("en-gb").synthesize("hello")
    us = EspeakTTS("en-us").synthesize("hello")
    assert [p.symbol for p in gb.phones] != [p.symbol for p in us.phones]  # əʊ vs oʊ


def test_chinese_characters_are_spoken_in_mandarin():
    speech = EspeakTTS("cmn").synthesize("你好，我是小明。")
    symbols = [p.symbol for p in speech.phones]
    # Mandarin phones (h as χ, the diphthong ɑu), not English-spelled pinyin ("ni three").
    assert "χ" in symbols and "ɑu" in symbols and "θ" not in symbols
    assert symbols[:2] == ["n", "i"]
    assert cli_ipa("你好，我是小明。", "cmn-latn-pinyin").startswith("niɜχɑu2")


def test_japanese_kana_are_spoken():
    speech = EspeakTTS("ja").synthesize("こんにちは。")
    assert [p.symbol for p in speech.phones][:2] == ["k", "o̞"]
    assert 0.5 < speech.audio.duration < 3


def test_sentences_come_one_by_one(tts):
    parts = list(tts.sentences("Hello there. How are you today? I am fine!"))
    assert [p.text for p in parts] == ["Hello there.", "How are you today?", "I am fine!"]
    for part in parts:
        assert part.phones and part.phones[-1].end <= part.audio.duration
    cjk = list(EspeakTTS("cmn").sentences("你好。我是小明！"))
    assert [p.text for p in cjk] == ["你好。", "我是小明！"]


def test_split_sentences():
    assert split_sentences("One. Two!  Three?") == ["One.", "Two!", "Three?"]
    assert split_sentences("こんにちは。元気ですか？はい") == ["こんにちは。", "元気ですか？", "はい"]
    assert split_sentences("3.14 is pi") == ["3.14 is pi"]
    assert split_sentences("  ") == []


def test_threads_share_the_one_engine_safely():
    jobs = [("en-us", "The first session speaks."), ("ja", "こんにちは。"), ("en-gb", "A second one talks."),
            ("cmn", "你好。")] * 2  # fmt: skip
    expected = {job: EspeakTTS(job[0]).synthesize(job[1]) for job in set(jobs)}
    results: list = [None] * len(jobs)

    def work(i, voice, text):
        results[i] = EspeakTTS(voice).synthesize(text)

    threads = [threading.Thread(target=work, args=(i, *job)) for i, job in enumerate(jobs)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # espeak-ng's timing varies by a few percent from call to call, so compare closely,
    # not bit for bit: a mix-up between sessions would swap or splice whole utterances.
    for job, got in zip(jobs, results):
        want = expected[job]
        assert got.text == job[1]
        assert [p.symbol for p in got.phones] == [p.symbol for p in want.phones]
        assert got.phones[-1].end == pytest.approx(want.phones[-1].end, rel=0.05)
        assert max(abs(a.start - b.start) for a, b in zip(got.phones, want.phones)) < 0.06


@pytest.mark.parametrize("voice", ["nosuchvoice", "", "xx-yy"])
def test_bad_voice_says_how_to_list_voices(voice):
    with pytest.raises(LivehumanError, match="livehuman voices"):
        EspeakTTS(voice)


@pytest.mark.parametrize("text", ["", "   ", "\n"])
def test_empty_text_is_refused(tts, text):
    with pytest.raises(LivehumanError, match="empty"):
        tts.synthesize(text)
    with pytest.raises(LivehumanError, match="empty"):
        list(tts.sentences(text))


def test_text_without_speech_is_refused_or_skipped(tts):
    with pytest.raises(LivehumanError, match="no speech"):
        tts.synthesize("...")
    assert [s.text for s in tts.sentences("Hi there. ... Bye now.")] == ["Hi there.", "Bye now."]
    # The C API stops at a NUL byte: the words after it must still be spoken.
    assert "".join(p.symbol for p in tts.synthesize("Hello\0world").phones).endswith("wɜːld")


def test_bad_settings_are_refused():
    with pytest.raises(LivehumanError, match="words per minute"):
        EspeakTTS("en-us", words_per_minute=5)
    with pytest.raises(LivehumanError, match="pitch"):
        EspeakTTS("en-us", pitch=200)
