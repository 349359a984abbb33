"""Latency marks of one conversational turn, for the page's `metrics` messages and the logs."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Turn:
    """Latency marks of one turn, in monotonic seconds; `end` is the end of the user's speech."""

    number: int
    end: float
    source: str  # "speech", "text" or "brain" (a reply nobody asked for, such as a greeting)
    asr_final: float | None = None
    first_text: float | None = None
    first_audio: float | None = None
    first_frame: float | None = None
    reported: bool = False

    def metrics(self) -> dict:
        """The `metrics` event for this turn: each mark in ms after the end of the user's speech."""
        def ms(t: float | None) -> float | None:
            return None if t is None else round((t - self.end) * 1000, 1)

        return {"type": "metrics", "turn": self.number, "source": self.source,
                "asr_final_ms": ms(self.asr_final), "first_text_ms": ms(self.first_text),
                "first_audio_ms": ms(self.first_audio), "first_frame_ms": ms(self.first_frame)}
