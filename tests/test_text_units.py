"""Character units for Chinese and Japanese retrieval: what they are, and that they find the question."""

from __future__ import annotations

import numpy as np
import pytest

from livehuman.brain.text_units import UnitIndex, has_cjk, language_of, units


def test_units_are_characters_and_pairs_of_each_run_and_latin_words():
    assert units("你好") == ["你", "好", "你好"]
    assert units("价格，WiFi 呢") == ["价", "格", "价格", "呢", "wifi"]
    assert units("") == []


@pytest.mark.parametrize(
    "text, language",
    [("你们几点开门？", "zh"), ("何時に開きますか", "ja"), ("カード", "ja"), ("안녕하세요", "ko"), ("hello", "en"), ("123", "en")],
)
def test_language_of(text, language):
    assert language_of(text) == language


def test_has_cjk():
    assert has_cjk("livehuman 是什么") and has_cjk("ですか") and not has_cjk("what is it?")


def test_a_paraphrase_scores_highest_and_an_unrelated_question_low():
    index = UnitIndex(["你们几点开门？", "书店在哪里？", "可以刷卡吗？", "有没有儿童书？"])
    s = index.scores("书店早上几点开门")
    assert int(np.argmax(s)) == 0 and s[0] > 0.5
    # Shares only function words ("什么", "吗") and single characters with the questions.
    assert index.scores("今天天气怎么样？").max() < 0.2
    assert np.allclose(index.scores("xyz"), 0.0)


def test_japanese_grammar_counts_less_than_the_words():
    # "…はありますか" ends both; the kanji and katakana decide.
    index = UnitIndex(["子供の本はありますか？", "カードで払えますか？", "駐車場はありますか？"])
    assert int(np.argmax(index.scores("クレジットカードは使えますか"))) == 1
    assert int(np.argmax(index.scores("絵本や子供の本は？"))) == 0
    assert index.scores("天気はどうですか").max() < 0.2
