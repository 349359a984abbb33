"""Japanese text as espeak-ng can read it: its Japanese voice reads kana only.

Kanji are turned into their spoken kana with the MeCab morphological analyser (fugashi, MIT) and its
UniDic dictionary (unidic-lite, BSD), the `livehuman[ja]` extra: the reading follows the word, and
the particle は is read "wa".
"""

from __future__ import annotations

import functools
import re
import threading

from livehuman.errors import LivehumanError

_KANJI = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff々]")
_JAPANESE_VOICES = {"ja", "jpx/ja", "japanese"}
_TAGGER_LOCK = threading.Lock()  # one MeCab tagger per process; replies speak from worker threads


def is_japanese_voice(voice: str) -> bool:
    """Whether `voice` (with any "+variant") is espeak-ng's Japanese voice."""
    return voice.split("+", 1)[0].strip().lower() in _JAPANESE_VOICES


def speakable(text: str, voice: str) -> str:
    """`text` as `voice` can read it: Japanese kanji turned into their spoken kana; else unchanged."""
    if is_japanese_voice(voice) and _KANJI.search(text):
        return kana_reading(text)
    return text


def kana_reading(text: str) -> str:
    """Japanese `text` as spoken katakana ("今日は" -> "キョーワ"), punctuation kept."""
    tagger = _tagger()
    with _TAGGER_LOCK:
        words = tagger(text)
    out = []
    for word in words:
        pron = getattr(word.feature, "pron", None)
        out.append(pron if pron and pron != "*" else word.surface)
        if word.white_space:
            out.insert(len(out) - 1, word.white_space)
    return "".join(out)


@functools.cache
def _tagger():
    try:
        import fugashi
        import unidic_lite  # noqa: F401  (the dictionary fugashi finds by itself)
    except ImportError:
        raise LivehumanError(
            "Japanese text with kanji needs a reading dictionary (espeak-ng reads kana only): "
            "pip install 'livehuman[ja]'"
        ) from None
    return fugashi.Tagger()
