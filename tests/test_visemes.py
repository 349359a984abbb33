"""Phones to visemes: the tables, symbol clean-up, diphthongs and affricates, any IPA espeak-ng writes."""

from __future__ import annotations

import pytest

from livehuman.motion.visemes import (
    TABLE,
    MouthShape,
    Viseme,
    letter_viseme,
    normalize_symbol,
    phone_visemes,
)
from livehuman.speech.espeak import EspeakTTS


def single(symbol: str):
    parts = phone_visemes(symbol)
    assert len(parts) == 1, parts
    return parts[0]


@pytest.mark.parametrize(
    ("raw", "bare"),
    [("ˈaː", "a"), ("ˌiː", "i"), ("ɪ5", "ɪ"), ("o̞", "o"), ("ä", "a"), ("n̩", "n"), ("tʰ", "t"),
     ("AY1", "aɪ"), ("HH", "h"), ("sil", ""), ("_", ""), ("ʧ", "tʃ"), ("ɡ", "g")],
)  # fmt: skip
def test_symbols_lose_stress_length_tone_and_diacritics(raw, bare):
    assert normalize_symbol(raw) == bare


def test_bilabials_close_the_lips_with_the_jaw_shut():
    for symbol in ("p", "b", "m", "ˈb"):
        part = single(symbol)
        assert part.viseme == Viseme.CLOSED
        assert part.shape.press >= 0.9 and part.shape.jaw == 0


def test_vowel_height_orders_the_jaw():
    open_ = single("ɑː").shape.jaw
    mid = single("ɛ").shape.jaw
    close = single("iː").shape.jaw
    assert open_ > mid > close
    assert single("a").viseme == Viseme.OPEN


def test_rounded_and_spread_vowels_differ_in_the_lips():
    u, i = single("uː").shape, single("iː").shape
    assert u.round > u.spread and i.spread > i.round
    assert single("w").shape.round >= 0.9


def test_consonant_classes_show_their_articulators():
    assert single("f").shape.tuck >= 0.9 and single("v").viseme == Viseme.LABIODENTAL
    assert single("θ").shape.tongue >= 0.8 and single("ð").viseme == Viseme.DENTAL
    s = single("s").shape
    assert s.teeth >= 0.8 and s.jaw < 0.2
    assert single("ʃ").shape.round > 0.4 and single("ʃ").shape.teeth > 0.5
    for velar in ("k", "ɡ", "ŋ", "h"):
        assert single(velar).viseme == Viseme.FLEXIBLE


def test_diphthongs_glide_from_their_first_vowel_to_the_second():
    parts = phone_visemes("aɪ")
    assert [p.letter for p in parts] == ["a", "ɪ"]
    assert parts[0].share > parts[1].share and parts[1].glide and not parts[0].glide
    assert abs(sum(p.share for p in parts) - 1.0) < 1e-9
    assert [p.letter for p in phone_visemes("oʊ")] == ["o", "ʊ"]


def test_affricates_end_in_their_fricative():
    parts = phone_visemes("tʃ")
    assert [p.viseme for p in parts] == [Viseme.ALVEOLAR, Viseme.POSTALVEOLAR]
    assert parts[1].share > parts[0].share and not parts[1].glide


def test_silence_and_unknown_symbols():
    assert phone_visemes("") == [] and phone_visemes("sil") == []
    unknown = phone_visemes("☃")
    assert len(unknown) == 1 and unknown[0].viseme == Viseme.FLEXIBLE
    # It takes the shape of /h/ (used only with no vowel near) and the whole phone's time.
    assert unknown[0].shape == TABLE["h"][1] and unknown[0].share == 1.0 and unknown[0].letter == "☃"


def test_every_shape_stays_in_range():
    for letter, (_, shape) in TABLE.items():
        assert all(0.0 <= v <= 1.0 for v in shape.values()), letter
    mid = MouthShape(jaw=0.0).lerp(MouthShape(jaw=1.0, round=0.5), 0.5)
    assert mid.jaw == 0.5 and mid.round == 0.25


@pytest.mark.parametrize(
    ("voice", "text"),
    [("en-us", "Thank you for the lovely afternoon, George; judge the azure vision."),
     ("fr", "Bonjour tout le monde, une huître et un peu de pain."),
     ("de", "Zwei Bücher über schöne Städte und Flüsse."),
     ("cmn", "你好，我们明天去北京吃饭。"),
     ("ja", "こんにちは、ありがとうございます。")],
)  # fmt: skip
def test_every_letter_espeak_ng_speaks_has_a_viseme(voice, text):
    speech = EspeakTTS(voice).synthesize(text)
    assert speech.phones, "espeak-ng gave no phones"
    for phone in speech.phones:
        letters = normalize_symbol(phone.symbol)
        unknown = [ch for ch in letters if letter_viseme(ch) is None]
        assert not unknown, f"{voice}: {phone.symbol!r} has letters with no viseme: {unknown}"
        assert phone_visemes(phone.symbol), phone.symbol
