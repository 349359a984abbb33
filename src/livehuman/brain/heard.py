"""What the user heard of a spoken reply: its sentences' audio spans, and the words played by a time."""

from __future__ import annotations

import re
from dataclasses import dataclass

_WORD = re.compile(r"\S+")


@dataclass
class Segment:
    """One spoken sentence inside a reply: where its audio lies and the words it says."""

    start_ms: float
    end_ms: float
    text: str
    voiced: tuple[float, float]  # first phone start, last phone end (ms, absolute in the item)


def heard_text(segments: list[Segment], end_ms: float) -> str:
    """The words of a reply heard by `end_ms`: whole sentences, then the words of the cut one.

    Within a sentence, words are spread over its voiced span in proportion to their length (the
    TTS reports phones, not words); a word counts as heard once its middle has played.
    """
    words: list[str] = []
    for seg in segments:
        if end_ms >= seg.voiced[1]:
            words += seg.text.split()
            continue
        if end_ms <= seg.voiced[0]:
            break
        tokens = [m.group() for m in _WORD.finditer(seg.text)]
        total = sum(len(t) + 1 for t in tokens) or 1
        span = seg.voiced[1] - seg.voiced[0]
        pos = 0.0
        for token in tokens:
            middle = seg.voiced[0] + span * (pos + len(token) / 2) / total
            if middle > end_ms:
                break
            words.append(token)
            pos += len(token) + 1
        break
    return " ".join(words)
