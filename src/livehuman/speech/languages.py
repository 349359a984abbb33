"""Languages of the built-in voice: which espeak-ng voice speaks a language, and the text it needs.

espeak-ng 1.51 (Debian) speaks Mandarin ("cmn": Han characters read as pinyin through its
cmn-latn-pinyin variant, see espeak.py), Cantonese ("yue") and Japanese ("ja"). Its Japanese voice
reads kana only: kanji come out as the English words "Chinese letter", so Japanese text is first
turned into its spoken kana (kana.py). Phones from every language are IPA; motion/visemes.py maps them.
"""

from __future__ import annotations

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


_NAMES = {"zh": "Chinese", "yue": "Cantonese", "ja": "Japanese", "ko": "Korean", "fr": "French", "de": "German",
          "es": "Spanish", "it": "Italian", "pt": "Portuguese", "ru": "Russian"}


def hearing_notice(language: str | None, asr_model_dir: str | None) -> str | None:
    """What the page tells the user when the offline recognizer cannot hear the persona's language
    (pocketsphinx has an English model only); None when it can."""
    code = base_language(language or "en")
    if code == "en" or asr_model_dir:
        return None
    name = _NAMES.get(code, f"'{language}'")
    return (f"Speech is recognized in English only here: type to talk in {name}. "
            "(To be heard in it, start the server with --asr-model and a faster-whisper model.)")
