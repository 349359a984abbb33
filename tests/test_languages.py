"""Languages of the built-in voice: the voice per --lang, Japanese kanji read as kana, and Chinese
and Japanese batch renders whose re-detected mouth follows the phones espeak-ng spoke."""

from __future__ import annotations

import unicodedata

import numpy as np
import pytest

from livehuman.errors import LivehumanError
from livehuman.speech.espeak import EspeakTTS
from livehuman.speech.kana import kana_reading, speakable
from livehuman.speech.languages import base_language, script_language, voice_for
from livehuman.speech.phones import Phone


@pytest.mark.parametrize(
    "lang, voice",
    [("en", "en-us"), ("zh", "cmn"), ("zh-CN", "cmn"), ("cmn", "cmn"), ("ja", "ja"), ("JA-jp", "ja"),
     ("yue", "yue"), ("en-gb", "en-gb"), ("fr", "fr")],
)
def test_voice_for_each_language(lang, voice):
    assert voice_for(lang) == voice
    EspeakTTS(voice_for(lang))  # and espeak-ng has it


@pytest.mark.parametrize("lang", ["klingon", "xx", ""])
def test_unknown_language_is_one_clear_error(lang):
    with pytest.raises(LivehumanError, match="voice|--lang"):
        voice_for(lang)


@pytest.mark.parametrize("text, language", [
    ("こんにちは、元気ですか", "ja"), ("今日は天気がいいですね", "ja"),  # kana, with or without kanji
    ("我想预订一张两人桌", "zh"), ("안녕하세요", "ko"), ("Привет, как дела?", "ru"), ("Γειά σου κόσμε", "el"),
    ("Hello there", None), ("Ich möchte einen Tisch", None),  # Latin letters: any language
    ("I love 寿司 and ラーメン!", None), ("123 ...", None), ("", None),
])
def test_the_language_a_texts_script_says(text, language):
    assert script_language(text) == language
    if language:
        voice_for(language)  # a voice speaks it


def test_base_language():
    assert [base_language(c) for c in ("zh-CN", "cmn", "zh_tw", "ja-JP", "en-gb", "zh-yue")] == [
        "zh", "zh", "zh", "ja", "en", "yue",
    ]


def test_a_persona_in_another_language_without_a_voice_gets_that_languages_voice(tmp_path):
    from livehuman.brain.local_factory import LocalBrainFactory

    persona = tmp_path / "mei.yaml"
    persona.write_text("name: 小美\nlanguage: zh\n", encoding="utf-8")
    assert LocalBrainFactory(str(persona)).voice == "cmn"
    persona.write_text("name: 小美\nlanguage: zh\nvoice: yue\n", encoding="utf-8")
    assert LocalBrainFactory(str(persona)).voice == "yue"  # its own voice wins
    assert LocalBrainFactory(str(persona), voice="cmn+f2").voice == "cmn+f2"  # and --voice over both
    persona.write_text("name: Sam\nlanguage: en-gb\n", encoding="utf-8")
    assert LocalBrainFactory(str(persona)).voice == "en-us+f3"  # English keeps the default


def test_kanji_are_read_as_spoken_kana():
    # The reading follows the word (今日 "kyō", not 今 "ima" + 日 "hi"), as it is spoken: the
    # particles は and を are "wa" and "o", long vowels are long.
    assert kana_reading("今日は") == "キョーワ"
    assert kana_reading("毎日、本を読みます。") == "マイニチ、ホンオヨミマス。"
    assert kana_reading("東京は大きい町です") == "トーキョーワオーキーマチデス"
    assert speakable("今日は", "ja+f3") == "キョーワ"
    assert speakable("今日は", "cmn") == "今日は"  # only the Japanese voice needs it
    assert speakable("こんにちは", "ja") == "こんにちは"  # kana alone: left to espeak-ng


def _bare(symbol: str) -> str:
    return "".join(ch for ch in unicodedata.normalize("NFD", symbol) if unicodedata.category(ch) not in ("Mn", "Lm", "Sk"))


def test_japanese_kanji_are_spoken_in_japanese_not_spelled_in_english():
    speech = EspeakTTS("ja").synthesize("今日は本を三冊買いました。")
    phones = "".join(_bare(p.symbol) for p in speech.phones)
    # Without the reading espeak-ng says "Chinese letter" (tʃaɪniːz) for every kanji.
    assert "tʃa" not in phones and "niːz" not in phones
    # kyoː wa hoɴ o saɴsatsɯ kaimaɕita (espeak-ng writes the moraic ɴ before s and o as a nasal vowel)
    assert phones.startswith("kowa"), phones
    assert "satsɯ" in phones and phones.endswith("kaimaɕita"), phones


def test_japanese_palatal_glide_stays_with_its_consonant():
    # espeak-ng sends "kʲ" as "k" then "ʲ": the glide must not leave a gap (a closed mouth) in the word.
    phones = EspeakTTS("ja").synthesize("きょう").phones
    assert phones[0].symbol == "kʲ"
    assert all(a.end == pytest.approx(b.start) for a, b in zip(phones, phones[1:]))


# -- renders ----------------------------------------------------------------------------------

SENTENCES = {
    # bàba mǎi le yì bǎi běn shū, māma bú pà máfan: closures and open /a/ in turn.
    "cmn": "爸爸买了一百本书。妈妈不怕麻烦。",
    # mama to papa wa banana o sanbon kaimashita.
    "ja": "ママとパパはバナナを三本買いました。",
}


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    """The built-in face speaking each sentence, rendered to MP4 by the cpu engine and re-measured."""
    from livehuman.avatar.cache import load_avatar
    from livehuman.bench.lipsync import measure_video, pad_speech
    from livehuman.render.batch import render_video
    from livehuman.render.engines import make_engine

    home = tmp_path_factory.mktemp("lang-home")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("LIVEHUMAN_HOME", str(home))
        avatar = load_avatar("default")
        engine = make_engine("cpu")
        out = {}
        for voice, text in SENTENCES.items():
            speech = pad_speech(EspeakTTS(voice).synthesize(text))
            path = home / f"{voice}.mp4"
            render_video(avatar, engine, speech, path, progress=False, head_motion=False, seed=0)
            out[voice] = (measure_video(path), speech.phones)
        return out


@pytest.mark.slow
@pytest.mark.parametrize("voice", list(SENTENCES))
def test_chinese_and_japanese_renders_open_on_vowels_and_close_on_p_b_m(rendered, voice):
    from livehuman.bench.lipsync import score

    track, phones = rendered[voice]
    # The bench's reference classes are plain IPA: drop the tone, lowering and length marks.
    plain = [Phone(_bare(p.symbol), p.start, p.end) for p in phones]
    s = score(track, plain)
    print(voice, s)
    assert s.undetected == 0
    assert sum(p.symbol in ("p", "b", "m") for p in plain) >= 6
    assert s.open_vs_closure >= 0.95
    assert s.closure_closed >= 0.85
    assert s.corr_lag0 >= 0.6
    assert s.silence_max_ratio < 0.25
    # And the gap really moves: the open vowels' median gap is well above the closures'.
    assert s.open_median_gap > 0.05
    assert np.isfinite(s.corr_best)


def test_hearing_notice_only_where_the_recognizer_cannot_hear_the_language():
    from livehuman.speech.languages import hearing_notice

    assert hearing_notice("en", None) is None and hearing_notice("en-gb", None) is None
    assert hearing_notice("zh", "/models/whisper-small") is None  # faster-whisper hears it
    assert "Japanese" in hearing_notice("ja-JP", None)
    assert "type to talk in tlh." in hearing_notice("tlh", None)  # (a language without a name here: its code)
