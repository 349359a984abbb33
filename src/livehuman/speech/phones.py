"""Timed phones: what the mouth must show, and when."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Phone:
    """One speech sound heard from `start` to `end` seconds after the start of its audio.

    `symbol` is IPA, as espeak-ng writes it ("a", "p", "aɪ", "ʃ", "oʊ"); stress and length marks
    may be present and are ignored by the motion stage. Silence is not a phone: it is the time
    between phones.
    """

    symbol: str
    start: float
    end: float

    @property
    def duration(self) -> float:
        return self.end - self.start
