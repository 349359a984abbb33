"""CMU ARPAbet phone names (flite, pocketsphinx) written in IPA as espeak-ng's en-us voice writes them."""

from __future__ import annotations

from collections.abc import Iterable

from livehuman.speech.phones import Phone

# Long vowels keep espeak-ng's length mark so that both sources agree symbol for symbol.
ARPABET_TO_IPA: dict[str, str] = {
    "aa": "ɑː", "ae": "æ", "ah": "ʌ", "ao": "ɔː", "aw": "aʊ", "ax": "ə", "axr": "ɚ", "ay": "aɪ",
    "eh": "ɛ", "er": "ɜː", "ey": "eɪ", "ih": "ɪ", "ix": "ɪ", "iy": "iː", "ow": "oʊ", "oy": "ɔɪ",
    "uh": "ʊ", "uw": "uː", "ux": "uː",
    "b": "b", "ch": "tʃ", "d": "d", "dh": "ð", "dx": "ɾ", "el": "l", "em": "m", "en": "n",
    "f": "f", "g": "ɡ", "hh": "h", "h": "h", "jh": "dʒ", "k": "k", "l": "l", "m": "m", "n": "n",
    "ng": "ŋ", "nx": "n", "p": "p", "q": "ʔ", "r": "ɹ", "s": "s", "sh": "ʃ", "t": "t", "th": "θ",
    "v": "v", "w": "w", "wh": "w", "y": "j", "z": "z", "zh": "ʒ",
}  # fmt: skip

# Silence, pauses and pocketsphinx's filler models (+NSN+ noise, +SPN+ speech-like noise, ...).
SILENCE = {"pau", "sil", "h#", "sp", "<s>", "</s>", "<sil>"}


def arpabet_to_ipa(name: str) -> str | None:
    """The IPA for an ARPAbet phone ("AA1", "hh", "SIL"); None for silence, fillers and unknowns."""
    base = name.strip().lower().rstrip("012")
    if not base or base in SILENCE or base.startswith("+"):
        return None
    return ARPABET_TO_IPA.get(base)


# espeak-ng's en-us IPA in pocketsphinx's 39 phones (its model has no flap, schwa or syllabic
# consonants of its own: they fold into their nearest phones, as CMUdict writes them).
IPA_TO_POCKETSPHINX: dict[str, str] = {
    "ɑː": "AA", "ɑ": "AA", "æ": "AE", "a": "AE", "ʌ": "AH", "ə": "AH", "ɐ": "AH", "ɔː": "AO", "ɔ": "AO",
    "oː": "AO", "aʊ": "AW", "aɪ": "AY", "ɛ": "EH", "e": "EH", "ɜː": "ER", "ɜ": "ER", "ɚ": "ER",
    "eɪ": "EY", "ɪ": "IH", "ᵻ": "IH", "iː": "IY", "i": "IY", "oʊ": "OW", "o": "OW", "ɔɪ": "OY",
    "ɪɹ": "IY R",  # "here", "ear": CMUdict's vowel before R
    "ʊ": "UH", "uː": "UW", "u": "UW",
    "b": "B", "tʃ": "CH", "d": "D", "ð": "DH", "ɾ": "T", "f": "F", "ɡ": "G", "g": "G", "h": "HH",
    "dʒ": "JH", "k": "K", "x": "K", "l": "L", "m": "M", "n": "N", "ŋ": "NG", "p": "P", "ɹ": "R",
    "r": "R", "s": "S", "ʃ": "SH", "t": "T", "θ": "TH", "v": "V", "w": "W", "j": "Y", "z": "Z",
    "ʒ": "ZH",
}  # fmt: skip
# Stress, a lone length mark, glottal stop; syllabic, tie and nasal marks.
_IGNORED = set("ˈˌːʔ\u0329\u0361\u0303")


def ipa_to_pocketsphinx(symbols: list[str]) -> list[str] | None:
    """pocketsphinx phones for espeak-ng's IPA phones (some, like "ɑːɹ", are two); None when one
    has no counterpart."""
    out: list[str] = []
    for symbol in symbols:
        rest = symbol
        while rest:
            # The longest known prefix: "aɪ" before "a", "ɑː" before "ɑ".
            for size in (2, 1):
                phones = IPA_TO_POCKETSPHINX.get(rest[:size])
                if phones is not None:
                    for phone in phones.split():
                        if not (phone == "R" and out[-1:] == ["R"]):  # "ʊɹ" then "ɹ": one R
                            out.append(phone)
                    rest = rest[size:]
                    break
            else:
                if rest[0] not in _IGNORED:
                    return None
                rest = rest[1:]
    return out or None


def phones_from_ends(segments: Iterable[tuple[str, str]], duration: float | None = None) -> list[Phone]:
    """Phones (IPA) from a synthesizer's segments as (ARPAbet name, end time text), in order: each
    starts where the one before ended; pauses and fillers are not phones, unreadable times are
    skipped, and ends are clipped to the audio's `duration` (diphone voices cut the last pause short)."""
    phones: list[Phone] = []
    start = 0.0
    for name, end_text in segments:
        try:
            end = float(end_text)
        except ValueError:
            continue
        if duration is not None:
            end = min(end, duration)
        symbol = arpabet_to_ipa(name)
        if symbol is not None and end > start:
            phones.append(Phone(symbol, start, end))
        start = max(start, end)
    return phones
