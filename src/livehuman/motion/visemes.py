"""Phones to visemes: which mouth shape each speech sound shows.

Explicit tables in the spirit of Rhubarb Lip Sync: every IPA letter belongs to a viseme class
(what the timing rules need to know about it) and has a target `MouthShape` (what the face shows at
the sound's heart). A phone symbol may hold several letters (diphthongs "aɪ", affricates "tʃ"):
`phone_visemes` splits it into parts that share the phone's time, the later ones gliding.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass, fields
from enum import Enum


@dataclass(frozen=True)
class MouthShape:
    """A mouth target, each value 0..1 with the meaning of the same field in FaceControls."""

    jaw: float = 0.0
    spread: float = 0.0
    round: float = 0.0
    press: float = 0.0
    tuck: float = 0.0
    teeth: float = 0.0
    tongue: float = 0.0

    def lerp(self, other: MouthShape, t: float) -> MouthShape:
        """The shape a fraction `t` of the way from this one to `other`."""
        return MouthShape(*(a + (b - a) * t for a, b in zip(self.values(), other.values())))

    def values(self) -> tuple[float, ...]:
        """The values in field order (jaw, spread, round, press, tuck, teeth, tongue)."""
        return tuple(getattr(self, f.name) for f in fields(self))


REST = MouthShape()  # relaxed, lips lightly together: silence


class Viseme(Enum):
    """Viseme classes: the groups of sounds that look alike and follow the same timing rules."""

    CLOSED = "closed"  # p b m: lips pressed; must be seen shut, however short
    LABIODENTAL = "labiodental"  # f v: lower lip under the upper teeth
    DENTAL = "dental"  # θ ð: tongue tip between the teeth
    LATERAL = "lateral"  # l: tongue tip up behind the teeth, mouth a little open
    ROUNDED = "rounded"  # u ʊ o ɔ w: lips rounded and pushed forward
    OPEN = "open"  # a ɑ æ ʌ: the jaw drops
    MID = "mid"  # e ɛ ə ɜ: half open
    SPREAD = "spread"  # i ɪ j: corners pulled wide, jaw nearly closed
    ALVEOLAR = "alveolar"  # s z t d n: teeth close together, lips slightly parted
    POSTALVEOLAR = "postalveolar"  # ʃ ʒ tʃ dʒ: lips rounded forward, teeth showing
    RHOTIC = "rhotic"  # ɹ r: slightly rounded
    FLEXIBLE = "flexible"  # k g ŋ h ʔ: made behind the lips, so they show the neighbours' shape


VOWELS = frozenset({Viseme.OPEN, Viseme.MID, Viseme.SPREAD, Viseme.ROUNDED})


def _s(jaw=0.0, spread=0.0, round=0.0, press=0.0, tuck=0.0, teeth=0.0, tongue=0.0) -> MouthShape:
    return MouthShape(jaw, spread, round, press, tuck, teeth, tongue)


# Vowels. Jaw follows vowel height (F1): open vowels drop the jaw, close ones barely part the lips.
# Front vowels spread the corners, back vowels round them; central ones stay neutral.
_VOWELS: dict[str, tuple[Viseme, MouthShape]] = {
    "a": (Viseme.OPEN, _s(jaw=1.0, spread=0.15, teeth=0.35)),
    "ɑ": (Viseme.OPEN, _s(jaw=1.0, teeth=0.3)),
    "æ": (Viseme.OPEN, _s(jaw=0.85, spread=0.4, teeth=0.5)),
    "ɐ": (Viseme.OPEN, _s(jaw=0.65, spread=0.1, teeth=0.4)),
    "ʌ": (Viseme.OPEN, _s(jaw=0.7, spread=0.1, teeth=0.4)),
    "ɒ": (Viseme.OPEN, _s(jaw=0.85, round=0.35, teeth=0.3)),
    "ɶ": (Viseme.OPEN, _s(jaw=0.85, round=0.4, teeth=0.3)),
    "e": (Viseme.MID, _s(jaw=0.5, spread=0.6, teeth=0.6)),
    "ɛ": (Viseme.MID, _s(jaw=0.6, spread=0.45, teeth=0.55)),
    "ə": (Viseme.MID, _s(jaw=0.5, spread=0.1, teeth=0.4)),
    "ɜ": (Viseme.MID, _s(jaw=0.5, spread=0.1, teeth=0.4)),
    "ɘ": (Viseme.MID, _s(jaw=0.35, spread=0.2, teeth=0.4)),
    "ɚ": (Viseme.MID, _s(jaw=0.42, round=0.35, teeth=0.35)),  # r-coloured: lips pucker a little
    "ɝ": (Viseme.MID, _s(jaw=0.45, round=0.35, teeth=0.35)),
    "ɤ": (Viseme.MID, _s(jaw=0.4, spread=0.2, teeth=0.3)),
    "ø": (Viseme.ROUNDED, _s(jaw=0.35, round=0.75, teeth=0.2)),
    "œ": (Viseme.ROUNDED, _s(jaw=0.55, round=0.55, teeth=0.25)),
    "ɵ": (Viseme.ROUNDED, _s(jaw=0.35, round=0.5, teeth=0.2)),
    "ɞ": (Viseme.ROUNDED, _s(jaw=0.5, round=0.45, teeth=0.2)),
    "i": (Viseme.SPREAD, _s(jaw=0.25, spread=1.0, teeth=0.7)),
    "ɪ": (Viseme.SPREAD, _s(jaw=0.33, spread=0.7, teeth=0.6)),
    "ᵻ": (Viseme.SPREAD, _s(jaw=0.3, spread=0.5, teeth=0.5)),  # espeak's reduced /ɪ/
    "ɨ": (Viseme.SPREAD, _s(jaw=0.25, spread=0.45, teeth=0.5)),
    "y": (Viseme.ROUNDED, _s(jaw=0.15, round=0.9, teeth=0.1)),  # front but rounded (French u)
    "ʏ": (Viseme.ROUNDED, _s(jaw=0.25, round=0.7, teeth=0.1)),
    "ʉ": (Viseme.ROUNDED, _s(jaw=0.2, round=0.75, teeth=0.1)),
    "u": (Viseme.ROUNDED, _s(jaw=0.22, round=1.0)),
    "ʊ": (Viseme.ROUNDED, _s(jaw=0.3, round=0.7, teeth=0.1)),
    "ᵿ": (Viseme.ROUNDED, _s(jaw=0.25, round=0.55, teeth=0.1)),
    "o": (Viseme.ROUNDED, _s(jaw=0.45, round=0.85, teeth=0.1)),
    "ɔ": (Viseme.ROUNDED, _s(jaw=0.65, round=0.55, teeth=0.2)),
    # Japanese /ɯ/ is compressed, not rounded: a close, neutral mouth.
    "ɯ": (Viseme.SPREAD, _s(jaw=0.2, spread=0.25, teeth=0.4)),
}

# Consonants. Only the lips, teeth and tongue tip show; the rest is decided by coarticulation.
_CONSONANTS: dict[str, tuple[Viseme, MouthShape]] = {
    # Bilabial closure: the one shape a viewer always checks.
    "p": (Viseme.CLOSED, _s(press=1.0)),
    "b": (Viseme.CLOSED, _s(press=1.0)),
    "m": (Viseme.CLOSED, _s(press=0.9)),  # a nasal hum: closed, a little less tense
    "ʙ": (Viseme.CLOSED, _s(press=0.8)),
    "ɓ": (Viseme.CLOSED, _s(press=1.0)),
    # Bilabial fricatives (Japanese ふ): lips nearly meet, slightly rounded.
    "ɸ": (Viseme.ROUNDED, _s(jaw=0.05, round=0.6, press=0.3)),
    "β": (Viseme.ROUNDED, _s(jaw=0.05, round=0.5, press=0.3)),
    # Lower lip tucked under the upper teeth.
    "f": (Viseme.LABIODENTAL, _s(jaw=0.08, tuck=1.0, teeth=0.7)),
    "v": (Viseme.LABIODENTAL, _s(jaw=0.08, tuck=0.9, teeth=0.7)),
    "ɱ": (Viseme.LABIODENTAL, _s(jaw=0.05, tuck=0.8, teeth=0.5)),
    "ʋ": (Viseme.LABIODENTAL, _s(jaw=0.1, tuck=0.6, teeth=0.5)),
    # Tongue between the teeth.
    "θ": (Viseme.DENTAL, _s(jaw=0.18, teeth=0.6, tongue=0.9)),
    "ð": (Viseme.DENTAL, _s(jaw=0.18, teeth=0.6, tongue=0.8)),
    # Laterals: tongue tip up, a little open so the tongue can show.
    "l": (Viseme.LATERAL, _s(jaw=0.3, teeth=0.5, tongue=0.5)),
    "ɫ": (Viseme.LATERAL, _s(jaw=0.3, round=0.2, teeth=0.4, tongue=0.4)),
    "ɬ": (Viseme.LATERAL, _s(jaw=0.2, teeth=0.5, tongue=0.4)),
    "ɮ": (Viseme.LATERAL, _s(jaw=0.2, teeth=0.5, tongue=0.4)),
    "ɭ": (Viseme.LATERAL, _s(jaw=0.25, teeth=0.4, tongue=0.4)),
    "ʎ": (Viseme.LATERAL, _s(jaw=0.2, spread=0.3, teeth=0.5, tongue=0.3)),
    # Glides borrow their vowel's shape, a little tighter.
    "w": (Viseme.ROUNDED, _s(jaw=0.1, round=1.0)),
    "ʍ": (Viseme.ROUNDED, _s(jaw=0.1, round=1.0)),
    "ɥ": (Viseme.ROUNDED, _s(jaw=0.1, round=0.9)),
    "j": (Viseme.SPREAD, _s(jaw=0.15, spread=0.75, teeth=0.6)),
    # Sibilants need the teeth nearly together: narrow opening, teeth on show.
    "s": (Viseme.ALVEOLAR, _s(jaw=0.1, spread=0.35, teeth=0.9)),
    "z": (Viseme.ALVEOLAR, _s(jaw=0.1, spread=0.35, teeth=0.9)),
    # Alveolar stops and nasals: tongue behind the teeth, lips relaxed and slightly apart.
    "t": (Viseme.ALVEOLAR, _s(jaw=0.15, spread=0.2, teeth=0.7, tongue=0.1)),
    "d": (Viseme.ALVEOLAR, _s(jaw=0.15, spread=0.2, teeth=0.7, tongue=0.1)),
    "n": (Viseme.ALVEOLAR, _s(jaw=0.15, spread=0.15, teeth=0.6, tongue=0.15)),
    "ɾ": (Viseme.ALVEOLAR, _s(jaw=0.25, spread=0.1, teeth=0.5, tongue=0.2)),  # a flap: a tap between vowels
    "ɗ": (Viseme.ALVEOLAR, _s(jaw=0.18, teeth=0.6, tongue=0.1)),
    "ʈ": (Viseme.ALVEOLAR, _s(jaw=0.18, teeth=0.6)),
    "ɖ": (Viseme.ALVEOLAR, _s(jaw=0.18, teeth=0.6)),
    "ɳ": (Viseme.ALVEOLAR, _s(jaw=0.18, teeth=0.5)),
    "ɲ": (Viseme.ALVEOLAR, _s(jaw=0.18, spread=0.2, teeth=0.5)),
    "c": (Viseme.ALVEOLAR, _s(jaw=0.18, spread=0.2, teeth=0.6)),
    "ɟ": (Viseme.ALVEOLAR, _s(jaw=0.18, spread=0.2, teeth=0.6)),
    # Post-alveolars: lips flared forward (rounded) with the teeth close and visible.
    "ʃ": (Viseme.POSTALVEOLAR, _s(jaw=0.15, round=0.6, teeth=0.85)),
    "ʒ": (Viseme.POSTALVEOLAR, _s(jaw=0.15, round=0.6, teeth=0.85)),
    "ɕ": (Viseme.POSTALVEOLAR, _s(jaw=0.12, spread=0.3, round=0.2, teeth=0.85)),
    "ʑ": (Viseme.POSTALVEOLAR, _s(jaw=0.12, spread=0.3, round=0.2, teeth=0.85)),
    "ʂ": (Viseme.POSTALVEOLAR, _s(jaw=0.15, round=0.5, teeth=0.8)),
    "ʐ": (Viseme.POSTALVEOLAR, _s(jaw=0.15, round=0.5, teeth=0.8)),
    "ç": (Viseme.POSTALVEOLAR, _s(jaw=0.15, spread=0.5, teeth=0.7)),
    "ʝ": (Viseme.POSTALVEOLAR, _s(jaw=0.15, spread=0.5, teeth=0.7)),
    # Rhotics: English /ɹ/ is lip-rounded; trills and uvular r much less.
    "ɹ": (Viseme.RHOTIC, _s(jaw=0.22, round=0.5, teeth=0.3)),
    "ɻ": (Viseme.RHOTIC, _s(jaw=0.22, round=0.4, teeth=0.3)),
    "r": (Viseme.RHOTIC, _s(jaw=0.25, round=0.2, teeth=0.4, tongue=0.2)),
    "ʀ": (Viseme.RHOTIC, _s(jaw=0.3, round=0.15, teeth=0.3)),
    "ʁ": (Viseme.RHOTIC, _s(jaw=0.3, round=0.15, teeth=0.3)),
    "ɽ": (Viseme.RHOTIC, _s(jaw=0.2, round=0.2, teeth=0.4)),
    # Velars, uvulars, glottals: made far back; the lips keep the neighbouring vowel's shape. The
    # shape given is used only when no vowel is near (a word of consonants).
    **{
        c: (Viseme.FLEXIBLE, _s(jaw=0.25, teeth=0.3))
        for c in ("k", "g", "ɡ", "ŋ", "x", "ɣ", "q", "ɢ", "ɴ", "χ", "h", "ɦ", "ʔ", "ħ", "ʕ", "ɰ")
    },
}

# What a flexible consonant keeps of its vowel neighbour: /h/ is a breathy vowel and keeps the
# whole shape; velars raise the tongue body, and the jaw with it, to about half.
FLEXIBLE_JAW = {"h": 0.85, "ɦ": 0.85, "ʔ": 0.7, "ħ": 0.8, "ʕ": 0.8}
FLEXIBLE_JAW_DEFAULT = 0.4

TABLE: dict[str, tuple[Viseme, MouthShape]] = {**_VOWELS, **_CONSONANTS}

# Letters some IPA writers use for the same sounds.
_ALIASES = {"ɡ": "g", "ʤ": "dʒ", "ʧ": "tʃ", "ʦ": "ts", "ʣ": "dz", "ɩ": "ɪ", "ɷ": "ʊ"}

# Marks that change nothing the lips show: stress, length, tones, syllable and tie marks.
_IGNORED = set("ˈˌːˑ'.‿͜͡|‖-_ˀ˞ʼ˺˹ ˥˦˧˨˩↗↘ꜛꜜ0123456789") | {"ʰ", "ʲ", "ʷ", "ˠ", "ˤ", "ⁿ", "ˡ", "ʱ", "ʴ", "ʵ", "ʶ"}

# ARPAbet (CMUdict, pocketsphinx, flite), for callers that pass it unconverted.
ARPABET_TO_IPA = {
    "AA": "ɑ", "AE": "æ", "AH": "ʌ", "AO": "ɔ", "AW": "aʊ", "AX": "ə", "AXR": "ɚ", "AY": "aɪ",
    "B": "b", "CH": "tʃ", "D": "d", "DH": "ð", "DX": "ɾ", "EH": "ɛ", "EL": "l", "EM": "m",
    "EN": "n", "ER": "ɝ", "EY": "eɪ", "F": "f", "G": "g", "HH": "h", "IH": "ɪ", "IX": "ᵻ",
    "IY": "i", "JH": "dʒ", "K": "k", "L": "l", "M": "m", "N": "n", "NG": "ŋ", "NX": "ŋ",
    "OW": "oʊ", "OY": "ɔɪ", "P": "p", "Q": "ʔ", "R": "ɹ", "S": "s", "SH": "ʃ", "T": "t",
    "TH": "θ", "UH": "ʊ", "UW": "u", "UX": "ʉ", "V": "v", "W": "w", "WH": "ʍ", "Y": "j",
    "Z": "z", "ZH": "ʒ",
}  # fmt: skip

# Symbols that mean "no sound": silence is a gap, but recognizers and aligners often name it.
SILENCE_SYMBOLS = frozenset({"", "_", "sil", "SIL", "sp", "SP", "pau", "PAU", "#", "<sil>", "+NSN+", "+SPN+"})


@dataclass(frozen=True)
class VisemePart:
    """One part of a phone: its viseme, shape, share of the phone's time, and the letter it came from.

    `glide` parts move from the previous part's shape to their own over their time (the second
    half of a diphthong) instead of holding it.
    """

    viseme: Viseme
    shape: MouthShape
    share: float
    letter: str
    glide: bool = False

    @property
    def vowel(self) -> bool:
        """True for a vowel (a syllable's nucleus, which carries the jaw); glides such as /w/ are not."""
        return self.letter in _VOWELS


def normalize_symbol(symbol: str) -> str:
    """`symbol` as bare IPA letters: ARPAbet converted; stress, length, tones and diacritics removed."""
    text = symbol.strip()
    if text in SILENCE_SYMBOLS:
        return ""
    arpabet = text.rstrip("012").upper()
    if text[:1].isupper() and text.isascii() and arpabet in ARPABET_TO_IPA:
        return ARPABET_TO_IPA[arpabet]
    for old, new in _ALIASES.items():
        text = text.replace(old, new)
    # NFD splits precomposed letters (ä, õ) into a base letter and combining marks, which go.
    kept = []
    for ch in unicodedata.normalize("NFD", text):
        # Modifier letters and symbols (ʰ ʷ ᵝ ˥) only colour the letter before them.
        if unicodedata.category(ch) in ("Mn", "Me", "Lm", "Sk") or ch in _IGNORED:
            continue
        kept.append(ch)
    return unicodedata.normalize("NFC", "".join(kept))


def letter_viseme(letter: str) -> tuple[Viseme, MouthShape] | None:
    """The viseme class and shape of one IPA letter, or None when it is not a known speech sound."""
    if letter in TABLE:
        return TABLE[letter]
    lower = letter.lower()
    if lower in TABLE:  # loose writers: "A", "E" for a, e
        return TABLE[lower]
    return None


def phone_visemes(symbol: str) -> list[VisemePart]:
    """The viseme parts of one phone symbol, in order; [] for silence.

    Diphthongs ("aɪ", "oʊ") hold their first vowel, then glide to the second; affricates ("tʃ")
    show the stop briefly, then the fricative. Letters no table knows are skipped; a symbol with
    none known at all is treated as a flexible consonant (it takes its neighbours' shape).
    """
    letters = normalize_symbol(symbol)
    if not letters:
        return []
    known = [(ch, *found) for ch in letters if (found := letter_viseme(ch)) is not None]
    if not known:
        return [VisemePart(Viseme.FLEXIBLE, TABLE["h"][1], 1.0, letters)]
    # Merge repeated letters ("nn" in a romanised spelling, "ii"): one longer part.
    merged: list[tuple[str, Viseme, MouthShape]] = []
    for item in known:
        if not merged or merged[-1][0] != item[0]:
            merged.append(item)
    if len(merged) == 1:
        ch, viseme, shape = merged[0]
        return [VisemePart(viseme, shape, 1.0, ch)]
    weights = _part_weights([v for _, v, _ in merged])
    parts = []
    for i, ((ch, viseme, shape), w) in enumerate(zip(merged, weights)):
        # A part after the first that is a vowel or glide moves there smoothly; consonant parts
        # (the release of an affricate) are their own shape at once.
        glide = i > 0 and (viseme in VOWELS or ch in "wjɥ")
        parts.append(VisemePart(viseme, shape, w, ch, glide))
    return parts


def _part_weights(visemes: list[Viseme]) -> list[float]:
    # The nucleus of a diphthong takes most of the time, the off-glide the rest; a stop before a
    # fricative (tʃ, ts) is a brief closure before the longer frication.
    n = len(visemes)
    if visemes[0] in VOWELS:
        first = 0.55 if n == 2 else 0.45
    elif visemes[0] == Viseme.CLOSED or visemes[0] == Viseme.ALVEOLAR and visemes[1] not in VOWELS:
        first = 0.35
    else:
        first = 1.0 / n
    rest = (1.0 - first) / (n - 1)
    return [first] + [rest] * (n - 1)


def is_vowel(letter: str) -> bool:
    """True when the IPA letter is a vowel (it carries the jaw; consonants borrow from it)."""
    return letter in _VOWELS
