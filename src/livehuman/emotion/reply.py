"""Emotion out, chosen: which expression the avatar shows for a reply, and how strongly.

The reply's own words say it (`text.text_emotion`), read as a listener would show them: an
avatar that tells someone "that sounds frustrating" looks concerned, not angry. A reply with no
emotion of its own, or a comforting one, to a user who is sad, angry or afraid shows concern. The persona's
expressiveness scales it all (0: a still face).
"""

from __future__ import annotations

from livehuman.emotion.text import text_emotion

# The user's (or the words') emotion → the avatar's expression (motion/expression.py's names).
SHOWN = {"joy": "joy", "sadness": "concern", "anger": "concern", "fear": "concern", "surprise": "surprise",
         "neutral": "neutral"}
EMPATHY_FOR = ("sadness", "anger", "fear")  # the user's emotions that every reply answers with concern
EMPATHY_EVIDENCE = 0.6  # how much concern such a neutral reply shows, before expressiveness
BASE = 0.5  # the share of the expression shown on the least evidence; the rest grows with it
GREETING_SMILE = 0.8  # a greeting smiles this much, before expressiveness


def reply_expression(reply_text: str, user_emotion: str | None = None,
                     expressiveness: float = 1.0) -> tuple[str, float]:
    """(expression name, strength 0..1) for a reply saying `reply_text` to a user who feels `user_emotion`."""
    words = text_emotion(reply_text)
    name = SHOWN.get(words.label, "neutral")
    evidence = max(words.scores.get(words.label, 0.0), abs(words.valence))
    if user_emotion in EMPATHY_FOR and name != "concern":
        # Comfort ("if it helps…") reads as mildly positive, but nobody smiles at someone's grief.
        name, evidence = "concern", EMPATHY_EVIDENCE
    if name == "neutral":
        return "neutral", 0.0
    strength = (BASE + (1.0 - BASE) * min(1.0, evidence)) * _unit(expressiveness)
    return name, round(strength, 3)


def greeting_expression(expressiveness: float = 1.0) -> tuple[str, float]:
    """A greeting's expression: a smile, as large as the persona's expressiveness allows."""
    return "joy", round(GREETING_SMILE * _unit(expressiveness), 3)


def _unit(x: float) -> float:
    return min(max(float(x), 0.0), 1.0)
