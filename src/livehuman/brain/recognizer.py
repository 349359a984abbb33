"""Speech recognizers for the offline brain: biased to the knowledge base, pooled between sessions."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any


def knowledge_asr(knowledge: Any, model_dir: str | None, *, second_pass: bool = True) -> Any:
    """A StreamingASR biased to the knowledge base's questions (blocking: building one takes seconds)."""
    from livehuman.speech.asr import make_asr

    vocabulary = []
    for entry in getattr(knowledge, "entries", None) or []:
        vocabulary += [entry.question, *entry.also]
    return make_asr(model_dir, vocabulary=vocabulary or None, second_pass=second_pass)


class AsrPool:
    """Recognizers shared by sessions: one per concurrent session, reused after a session ends.

    Building a biased pocketsphinx recognizer takes seconds; a pool pays that once per
    concurrent session rather than once per connection.
    """

    def __init__(self, make: Callable[[], Any]) -> None:
        self._make = make
        self._idle: list[Any] = []
        self._lock = threading.Lock()

    def acquire(self) -> Any:
        """An idle recognizer, or a new one (blocking: call it off the event loop)."""
        with self._lock:
            if self._idle:
                return self._idle.pop()
        return self._make()

    def release(self, asr: Any) -> None:
        """Give a recognizer back for the next session."""
        asr.reset()
        with self._lock:
            self._idle.append(asr)
