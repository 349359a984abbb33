"""Has the user finished their turn? The end-of-turn model's verdict, checked against their last word.

The offline brain's "model" turn-taking: after a short pause (PAUSE_MS) the turn's audio goes to
Smart Turn (speech/end_of_turn.py), which hears whether the utterance sounds finished; the turn ends
if it does, else the listener keeps listening up to a longer silence (LIMIT_MS). Smart Turn hears
intonation, and synthetic voices (espeak-ng, flite) carry little of it, so a plain rule on the
recognizer's words overrules it: an utterance that ends on a word that cannot end a sentence (an
article, a preposition, a conjunction, a possessive, a filler: "book a", "tell me about the",
"and um") is unfinished whatever the model hears.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the CLI imports this module's settings: no numpy at start-up
    import numpy as np

MODES = ("vad", "model")  # fixed silence, or the end-of-turn model with the word rule
PAUSE_MS = 180  # model mode: after this much silence, ask whether the turn is complete
LIMIT_MS = 2200  # model mode: after this much silence the turn ends whatever the verdict
THRESHOLD = 0.5  # the model's probability from which a turn counts as complete (pipecat's)
MIN_PAUSE_MS = 100  # below this, every breath between two words would be a pause

# Words after which an English sentence cannot stop. Deliberately short and unambiguous: words
# that often end a sentence ("up", "in", "out", "her", "like", "it") are left to the model.
UNFINISHED_WORDS = frozenset({
    # articles and determiners
    "a", "an", "the", "every", "some", "any", "this", "these", "those",
    # possessives
    "my", "your", "our", "their", "its",
    # prepositions
    "to", "of", "for", "with", "from", "at", "by", "about", "into", "onto", "than", "between", "during",
    "without", "towards", "toward",
    # conjunctions
    "and", "but", "or", "nor", "so", "because", "if", "although", "though", "unless", "whether",
    "while", "whereas",
    # fillers
    "um", "uh", "er", "erm", "uhm", "umm", "uhh",
    # contractions that need a verb or object after them
    "i'm", "i'd", "i'll", "you're", "we're", "they're", "it's", "let's",
})
# Endings of two or more words that ask for more ("I'd like", "can you", "could I").
UNFINISHED_PHRASES = (
    ("i'd", "like"), ("would", "like"), ("i", "want"), ("i", "need"), ("can", "you"), ("could", "you"),
    ("would", "you"), ("can", "i"), ("could", "i"), ("i", "think"), ("such", "as"), ("as", "well", "as"),
)


def last_words(text: str) -> list[str]:
    """The transcript's words, lower case, punctuation dropped (apostrophes kept)."""
    return re.findall(r"[a-z]+(?:'[a-z]+)?", text.lower())


def unfinished(text: str) -> bool:
    """Whether the words end where no sentence can (the rule; see UNFINISHED_WORDS)."""
    words = last_words(text)
    if not words:
        return False
    if words[-1] in UNFINISHED_WORDS:
        return True
    return any(tuple(words[-len(p):]) == p for p in UNFINISHED_PHRASES)


def complete(probability: float, text: str, threshold: float = THRESHOLD) -> bool:
    """The verdict: the model hears a finished utterance and the words do not say otherwise."""
    return probability >= threshold and not unfinished(text)


@dataclass(frozen=True)
class ModelTurns:
    """Model-mode turn-taking for a Listener: `model.probability(audio16k)` (EndOfTurnModel, shared
    between sessions: onnxruntime runs are thread-safe), asked after `pause_ms` of silence; the turn
    ends anyway after `limit_ms`."""

    model: Any
    pause_ms: int = PAUSE_MS
    limit_ms: int = LIMIT_MS
    threshold: float = THRESHOLD

    def __post_init__(self) -> None:
        from livehuman.errors import LivehumanError

        if not MIN_PAUSE_MS <= self.pause_ms < self.limit_ms:
            raise LivehumanError(f"the end-of-turn pause ({self.pause_ms} ms) must be at least {MIN_PAUSE_MS} ms "
                                 f"and shorter than the limit ({self.limit_ms} ms)")

    def complete(self, audio16k: np.ndarray, text: str) -> bool:
        """Whether the turn whose audio and words these are is finished (the model runs only when the
        words leave it open)."""
        if unfinished(text):
            return False
        return complete(self.model.probability(audio16k), text, self.threshold)
