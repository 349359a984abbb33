"""Text units for retrieval in languages written without spaces (Chinese, Japanese).

The offline brain's embedding model (all-MiniLM-L6-v2) is English-only, and no multilingual
sentence-embedding model ships in an installable package here. So Chinese and Japanese questions are
matched on character units instead: single characters and overlapping character pairs (bigrams) of
each Han/kana run, plus whole words of any Latin text, weighted by TF-IDF over the knowledge base's
questions and compared by cosine. Bigrams are the classic fallback for CJK retrieval: most Chinese
words are two characters, and a pair also catches Japanese kanji compounds and okurigana.
"""

from __future__ import annotations

import math
import re
from collections import Counter

import numpy as np

_HAN = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_KANA = "\u3040-\u309f\u30a0-\u30ff\u31f0-\u31ff\uff66-\uff9f"
_CJK_RUN = re.compile(f"[{_HAN}{_KANA}ー]+")
_LATIN_WORD = re.compile(r"[a-z0-9]+")
_HAS_CJK = re.compile(f"[{_HAN}{_KANA}]")
_HAS_KANA = re.compile(f"[{_KANA}]")
_HAS_HANGUL = re.compile("[\uac00-\ud7af\u1100-\u11ff]")
_HIRAGANA = re.compile("^[\u3040-\u309fー]+$")
# Chinese function characters and words that say little about what is asked ("how", "what", "can",
# "you"). Japanese grammar (particles, です, ます, ですか) is hiragana: all-hiragana units are
# weighted down instead, while kanji and katakana (loanwords) carry the meaning.
_ZH_FUNCTION = set("的了吗呢吧啊是在有我你他她它们这那么什怎呀哦嘛请问") | {
    "怎么", "什么", "可以", "没有", "有没", "哪里", "哪儿", "你们", "我们", "这个", "那个", "一个",
    "请问", "为什", "多少", "是不", "不是", "的吗", "么样", "么时", "有什", "是什", "在哪", "吗？",
}
_FUNCTION_WEIGHT = 0.15


def has_cjk(text: str) -> bool:
    """Whether `text` holds Chinese characters or Japanese kana."""
    return bool(_HAS_CJK.search(text))


def language_of(text: str, default: str = "en") -> str:
    """A guess of the language `text` is written in: "ja" (kana present), "zh" (Han only), "ko"
    (Hangul), else `default`. Han text without kana is taken as Chinese, as a short Japanese
    sentence of kanji alone is rare."""
    if _HAS_KANA.search(text):
        return "ja"
    if _HAS_CJK.search(text):
        return "zh"
    if _HAS_HANGUL.search(text):
        return "ko"
    return default


def units(text: str) -> list[str]:
    """The retrieval units of `text`: characters and character pairs of its CJK runs, Latin words."""
    text = text.lower()
    out: list[str] = []
    for run in _CJK_RUN.findall(text):
        out.extend(run)
        out.extend(run[i : i + 2] for i in range(len(run) - 1))
    out.extend(_LATIN_WORD.findall(text))
    return out


def _weight(unit: str, idf: float) -> float:
    # A pair carries more meaning than a lone character; grammar almost none.
    if unit in _ZH_FUNCTION or _HIRAGANA.match(unit):
        return _FUNCTION_WEIGHT * idf
    if len(unit) > 1 and (_HIRAGANA.match(unit[0]) or _HIRAGANA.match(unit[1])):
        return idf  # a kanji and its particle or okurigana (店は, 開き): half grammar
    return (1.5 if len(unit) > 1 else 1.0) * idf


class UnitIndex:
    """TF-IDF vectors of character units over a list of texts, searched by cosine similarity."""

    def __init__(self, texts: list[str]) -> None:
        docs = [Counter(units(t)) for t in texts]
        df: Counter[str] = Counter()
        for doc in docs:
            df.update(doc.keys())
        n = len(docs)
        self._vocab = {u: i for i, u in enumerate(sorted(df))}
        self._idf = np.array([math.log((1 + n) / (1 + df[u])) + 1.0 for u in sorted(df)], dtype=np.float32)
        self._matrix = np.stack([self._vector(doc) for doc in docs]) if docs else np.zeros((0, len(df)), np.float32)

    def _vector(self, counts: Counter[str]) -> np.ndarray:
        v = np.zeros(len(self._vocab), dtype=np.float32)
        for unit, count in counts.items():
            i = self._vocab.get(unit)
            if i is not None:
                v[i] = (1.0 + math.log(count)) * _weight(unit, float(self._idf[i]))
        norm = float(np.linalg.norm(v))
        return v / norm if norm else v

    def scores(self, query: str) -> np.ndarray:
        """Cosine similarity of `query` to every indexed text (0 where they share no unit)."""
        return self._matrix @ self._vector(Counter(units(query)))
