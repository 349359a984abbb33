"""Languages of the built-in voice: which espeak-ng voice speaks a language, and the text it needs.

espeak-ng 1.51 (Debian) speaks Mandarin ("cmn": Han characters read as pinyin through its
cmn-latn-pinyin variant, see espeak.py), Cantonese ("yue") and Japanese ("ja"). Its Japanese voice
reads kana only: kanji come out as the English words "Chinese letter", so Japanese text is first
turned into its spoken kana (kana.py). Phones from every language are IPA; motion/visemes.py maps them.
"""

from __future__ import annotations

from collections import Counter

from livehuman.errors import LivehumanError

# The voice for each language code `--lang` takes; any other code espeak-ng knows is its own voice.
VOICES = {
    "en": "en-us",
    "zh": "cmn",
    "zh-cn": "cmn",
    "zh-tw": "cmn",
    "cmn": "cmn",
    "yue": "yue",
    "zh-yue": "yue",
    "zh-hk": "yue",
    "ja": "ja",
    "ja-jp": "ja",
}
# Languages the offline brain converses in, besides English (brain/multilingual.py).
CONVERSES = ("en", "zh", "ja")



def base_language(code: str) -> str:
    """"zh" for "zh-CN", "cmn" or "zh_cn"; "ja" for "ja-JP"; "en" for "en-gb"."""
    code = (code or "").strip().lower().replace("_", "-")
    if code in ("cmn", "zh-cmn") or code.startswith("zh-") and code not in ("zh-yue", "zh-hk"):
        return "zh"
    if code in ("zh-yue", "zh-hk"):
        return "yue"
    return code.split("-")[0]


def voice_for(language: str) -> str:
    """The espeak-ng voice that speaks `language` ("zh" -> "cmn"); one clear error if none does."""
    code = (language or "").strip().lower().replace("_", "-")
    if not code:
        raise LivehumanError("empty --lang: give a language code such as en, zh or ja")
    if code in VOICES:
        return VOICES[code]
    from livehuman.speech.espeak import describe_voices

    if describe_voices(code):
        return code
    raise LivehumanError(f"no built-in voice speaks {language!r}: run `livehuman voices` to see the languages")


def persona_voice(voice: str, language: str | None, default_voice: str) -> str:
    """A persona's voice: its own, unless it left the (English) default while speaking another
    language, which then picks the voice ("language: zh" alone speaks Mandarin)."""
    if voice == default_voice and language and base_language(language) != "en":
        return voice_for(language)
    return voice


# Scripts that say which language a text is in (a Latin text could be any of dozens): their letters'
# code point ranges, and the language espeak-ng speaks them in.
SCRIPTS = {
    "kana": ((0x3040, 0x30FF), (0x31F0, 0x31FF)),
    "han": ((0x4E00, 0x9FFF), (0x3400, 0x4DBF), (0xF900, 0xFAFF)),
    "ko": ((0xAC00, 0xD7AF), (0x1100, 0x11FF), (0x3130, 0x318F)),
    "ru": ((0x0400, 0x04FF),),  # Cyrillic: read as Russian
    "el": ((0x0370, 0x03FF), (0x1F00, 0x1FFF)),
    "he": ((0x0590, 0x05FF),),
    "ar": ((0x0600, 0x06FF), (0x0750, 0x077F)),  # Arabic script: read as Arabic
    "hi": ((0x0900, 0x097F),),  # Devanagari: read as Hindi
    "th": ((0x0E00, 0x0E7F),),
}


def _script(char: str) -> str | None:
    code = ord(char)
    for script, ranges in SCRIPTS.items():
        if any(first <= code <= last for first, last in ranges):
            return script
    return None


def script_language(text: str) -> str | None:
    """The language `text`'s script says, when at least half its letters are in that script: "ja"
    for kana (with or without kanji), "zh" for Han characters alone, "ko" for Hangul, and so on;
    None for Latin letters (English or not: the script cannot tell) or a mix."""
    counts = Counter(_script(char) for char in text if char.isalpha())
    letters = sum(counts.values())
    han, kana = counts.pop("han", 0), counts.pop("kana", 0)
    if kana and 2 * (han + kana) >= letters:
        return "ja"
    if han and 2 * han >= letters:
        return "zh"
    counts.pop(None, None)
    script, count = counts.most_common(1)[0] if counts else (None, 0)
    return script if 2 * count >= letters > 0 else None


_NAMES = {"zh": "Chinese", "yue": "Cantonese", "ja": "Japanese", "ko": "Korean", "fr": "French", "de": "German",
          "es": "Spanish", "it": "Italian", "pt": "Portuguese", "ru": "Russian", "el": "Greek", "he": "Hebrew",
          "ar": "Arabic", "hi": "Hindi", "th": "Thai"}


def language_name(code: str) -> str:
    """"Japanese" for "ja"; the code itself for a language without a name here."""
    return _NAMES.get(base_language(code), code)


def hearing_notice(language: str | None, asr_model_dir: str | None) -> str | None:
    """What the page tells the user when the offline recognizer cannot hear the persona's language
    (pocketsphinx has an English model only); None when it can."""
    code = base_language(language or "en")
    if code == "en" or asr_model_dir:
        return None
    return (f"Speech is recognized in English only here: type to talk in {language_name(code)}. "
            "(To be heard in it, start the server with --asr-model and a faster-whisper model.)")
