"""CMU ARPAbet phone names (flite, pocketsphinx) written in IPA as espeak-ng's en-us voice writes them."""

from __future__ import annotations

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
