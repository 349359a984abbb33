"""Phone timings for a natural recording, by forced alignment of its words (the benchmark's ruler).

A recording comes without timings. Its words are known (a transcript beside it, `CLIP.txt`) or
taken from pocketsphinx's own word recognition (its default en-US language model: a sentence's
worth of context, unlike the all-phone decoding the audio-only path uses); pocketsphinx then
aligns those words' dictionary pronunciations to the sound, phone by phone.

The dictionary writes every /ʌ/ and every schwa as AH; which is which decides whether a frame
counts as an open vowel. In running speech a function word's vowel is reduced ("of", "was",
"but": /ə/); in any other word espeak-ng's pronunciation, which marks reduced vowels, settles it
vowel by vowel ("above": /əbʌv/). Where the two do not count the same vowels, /ə/.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from itertools import product
from pathlib import Path

import numpy as np

from livehuman.errors import LivehumanError
from livehuman.speech.arpabet import arpabet_to_ipa
from livehuman.speech.audio import Audio, pcm16_bytes, resample
from livehuman.speech.phones import Phone

RATE = 16000  # pocketsphinx's en-US model
FRAME_S = 0.01  # pocketsphinx's frame step
# The aligner now and then loses an utterance's last word (by chance: 0.3 s of silence after it is
# enough for one sentence and not for another, and a few samples' difference in the sound changes
# it), and digital silence (synthetic voices, padding) has no spectrum to score: silence is added
# and dithered (noise at -60 dBFS or so, seeded), other lengths and levels tried in turn.
EDGES_S = (0.5, 0.8, 0.3, 1.2)
DITHERS = (1e-3, 3e-3, 3e-4)


def transcript_beside(path: str | Path) -> str | None:
    """The words of recording `path` if a transcript `PATH.txt` (same stem) lies beside it."""
    text_path = Path(path).with_suffix(".txt")
    if not text_path.is_file():
        return None
    return text_path.read_text(encoding="utf-8").strip() or None


@dataclass(frozen=True)
class AlignedWord:
    """One word of a recording, where its sound begins and ends (s), and its phones."""

    word: str
    start: float
    end: float
    phones: tuple[Phone, ...]


def aligned_phones(audio: Audio, words: str | None = None) -> tuple[list[Phone], str]:
    """IPA phones of `audio` timed by forced alignment of `words` (recognized if None), and the words."""
    aligned, words = align_words(audio, words)
    return [p for w in aligned for p in w.phones], words


def align_words(audio: Audio, words: str | None = None) -> tuple[list[AlignedWord], str]:
    """`words` (recognized if None) aligned to `audio`, each with its phones, and the words."""
    if audio.rate != RATE:
        audio = resample(audio, RATE)
    if words is None:
        hyp = _Decoder().decode(pcm16_bytes(audio.samples)).hyp()  # as recorded: padding changes the words
        words = hyp.hypstr if hyp is not None else ""
    words = " ".join(re.findall(r"[a-z']+", words.lower()))
    if not words:
        raise LivehumanError("no words heard in the recording: nothing to align")
    for dither, edge in product(DITHERS, EDGES_S):
        alignment = _align(audio.samples, words, edge, dither)
        said = [(word, parts) for word, parts in alignment if not word.startswith(("<", "[", "+"))]
        if len(said) == len(words.split()):
            break
    else:
        raise LivehumanError(f"could not align all of {words!r} to the recording")

    def seconds(frame: int) -> float:
        return max(0.0, frame * FRAME_S - edge)

    aligned = []
    for word, parts in said:
        symbols = _word_symbols(word, [name for name, _, _ in parts])
        phones = tuple(Phone(symbol, seconds(start), seconds(start + duration))
                       for (_, start, duration), symbol in zip(parts, symbols) if symbol)  # fmt: skip
        first, last = parts[0], parts[-1]
        aligned.append(AlignedWord(word.split("(")[0], seconds(first[1]), seconds(last[1] + last[2]), phones))
    return aligned, words


class _Decoder:
    """pocketsphinx's word decoder (its default en-US model and dictionary), one whole utterance at a time."""

    def __init__(self) -> None:
        from pocketsphinx import Decoder, get_model_path

        base = os.path.join(get_model_path(), "en-us")
        self.ps = Decoder(hmm=os.path.join(base, "en-us"), lm=os.path.join(base, "en-us.lm.bin"),
                          dict=os.path.join(base, "cmudict-en-us.dict"), samprate=RATE, loglevel="FATAL")

    def decode(self, pcm: bytes):
        self.ps.start_utt()
        self.ps.process_raw(pcm, full_utt=True)
        self.ps.end_utt()
        return self.ps


def _padded(samples: np.ndarray, edge: float, dither: float) -> bytes:
    """16-bit PCM of `samples` with `edge` s of silence each side, dithered."""
    pad = np.zeros(int(edge * RATE), np.float32)
    padded = np.concatenate([pad, samples, pad])
    padded += np.random.default_rng(0).normal(0.0, dither, len(padded)).astype(np.float32)
    return pcm16_bytes(padded)


def _align(samples: np.ndarray, words: str, edge: float, dither: float) -> list[tuple[str, list[tuple[str, int, int]]]]:
    """pocketsphinx's alignment of `words` to `samples` padded by `edge` s (it may stop short): each
    word with its phones' names, first frames and lengths in frames."""
    decoder = _Decoder()
    pcm = _padded(samples, edge, dither)
    try:
        decoder.ps.set_align_text(words)
    except (RuntimeError, ValueError):
        raise LivehumanError(f"cannot align {words!r}: a word is not in pocketsphinx's dictionary") from None
    try:
        decoder.decode(pcm)
        decoder.ps.set_alignment()
        # Read at once: the entries are views of one iterator.
        return [(word.name, [(p.name, p.start, p.duration) for p in word])
                for word in decoder.decode(pcm).get_alignment() or []]  # fmt: skip
    except RuntimeError:  # pocketsphinx found no path through all the words
        return []


def _word_symbols(word: str, names: list[str]) -> list[str]:
    """IPA for each of a word's ARPAbet phones ("" for silence and noise), schwas told from /ʌ/."""
    spoken = word.split("(")[0]  # pocketsphinx names a word's other pronunciations "word(2)"
    wedges = _wedges(spoken, sum(1 for n in names if n in _VOWELS)) if "AH" in names else set()
    out = []
    vowel = 0
    for name in names:
        if name.startswith("+") or name == "SIL":
            out.append("")
        elif name == "AH":
            out.append("ʌ" if vowel in wedges else "ə")
        else:
            out.append(arpabet_to_ipa(name))
        vowel += name in _VOWELS
    return out


_VOWELS = {"AA", "AE", "AH", "AO", "AW", "AY", "EH", "ER", "EY", "IH", "IY", "OW", "OY", "UH", "UW"}
FUNCTION_WORDS = {
    "a", "an", "the", "of", "to", "was", "but", "from", "us", "some", "does", "what", "just", "must",
    "and", "that", "than", "as", "at", "for", "or", "can", "could", "would", "should", "them", "his",
    "her", "your", "you", "are", "were", "has", "have", "had", "is", "in", "on", "with", "by", "up",
}


def _wedges(word: str, vowels: int) -> set[int]:
    """Which of `word`'s `vowels` vowels (0-based) are /ʌ/ as espeak-ng (en-us) says the word."""
    from livehuman.bench.lipsync import base_symbol
    from livehuman.speech.espeak import EspeakTTS

    if word in FUNCTION_WORDS:
        return set()
    said = [base_symbol(p.symbol) for p in EspeakTTS(voice="en-us").synthesize(word).phones]
    said_vowels = [s for s in said if s[0] in "aeiouæɐɑɒɔəɚɛɜɝɪʊʌ"]
    if len(said_vowels) != vowels:
        return set()
    return {i for i, s in enumerate(said_vowels) if s == "ʌ"}
