"""The emotion in what someone says, from its words: VADER's valence plus livehuman's own cue words.

VADER (MIT, its lexicon ships in the vadersentiment wheel) gives the valence, with its rules for
negation, intensifiers and punctuation. The categories (joy, sadness, anger, surprise, fear) come
from the short cue lists below, written for this project; the NRC emotion lexicon would cover more
words but is licensed for research only, so a product cannot ship it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache

EMOTIONS = ("joy", "sadness", "anger", "surprise", "fear", "neutral")

# A cue ending in "*" is a stem ("excit*": excited, exciting); any other cue is a whole word, or
# a phrase when it has a space or punctuation. Short words are whole words so that "mad" does not
# find "made" nor "fun" "funeral".
CUES: dict[str, tuple[str, ...]] = {
    "joy": ("happy", "happier", "happiest", "happiness", "glad", "great", "wonderful", "awesome", "love", "loved",
            "lovely", "delight*", "excit*", "thrill*", "fantastic", "excellent", "enjoy*", "pleased", "yay",
            "hooray", "celebrat*", "proud", "fun", "amazing", "perfect", "thanks", "thank", "brilliant",
            "cheerful", "joy", "joyful", "won", "promoted", "promotion"),
    "sadness": ("sad", "sadly", "sadness", "unhappy", "depress*", "lonely", "alone", "miss", "missed", "lost",
                "cry", "cried", "crying", "tears", "grief", "grieving", "heartbroken", "sorrow", "hopeless",
                "disappoint*", "miserable", "died", "dead", "death", "passed away", "funeral", "hurts", "broke up"),
    "anger": ("angry", "anger", "furious", "mad", "annoy*", "irritat*", "hate", "hated", "outrag*", "ridiculous",
              "stupid", "useless", "unacceptable", "sick of", "fed up", "damn", "worst", "rude", "frustrat*",
              "pissed"),
    "surprise": ("wow", "whoa", "surpris*", "unexpect*", "unbelievable", "incredible", "no way", "oh my",
                 "can't believe", "cannot believe", "shock*", "astonish*"),
    "fear": ("afraid", "scared", "scary", "fear", "fears", "frighten*", "terrif*", "nervous", "anxious",
             "anxiety", "worried", "worry", "worrying", "panic*", "dread*", "danger*", "threat*", "help me",
             "emergency", "horror"),
}
NEGATIONS = ("not", "no", "never", "n't", "hardly", "without", "nothing")
NEGATION_REACH = 3  # words after a negation that it turns around ("not very happy")
STRONG_CUE = 0.5  # evidence that names a category outright
VALENCE_JOY, VALENCE_SAD = 0.35, -0.35  # without a cue, clear valence still says something


@dataclass(frozen=True)
class TextEmotion:
    """One utterance's emotion: a label from EMOTIONS, valence −1..1 and the evidence per category."""

    label: str
    valence: float
    scores: dict[str, float] = field(default_factory=dict)


@lru_cache(maxsize=1)
def _vader():
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    return SentimentIntensityAnalyzer()


def _words(text: str) -> list[str]:
    # Apostrophes stay inside words ("can't"), "?!" marks stay attached for the surprise cues.
    return re.findall(r"[a-z]+(?:'[a-z]+)?[?!]*|[?!]+", text.lower().replace("’", "'"))


def _negated(words: list[str], i: int) -> bool:
    before = words[max(0, i - NEGATION_REACH) : i]
    return any(w.rstrip("?!") in NEGATIONS or w.endswith("n't") for w in before)


def cue_scores(text: str) -> dict[str, float]:
    """Evidence per category from cue words: each cue adds 0.5, up to 1; a negated joy cue counts
    toward sadness ("not happy"), other negated cues count for nothing ("not afraid")."""
    words = _words(text)
    joined = " ".join(words)
    scores = dict.fromkeys(EMOTIONS[:-1], 0.0)
    bare = [w.rstrip("?!") for w in words]
    for emotion, cues in CUES.items():
        for cue in cues:
            if " " in cue:  # a phrase: looked for in the whole text, negation not applied
                if cue in joined:
                    scores[emotion] += STRONG_CUE
                continue
            for i, word in enumerate(bare):
                if word.startswith(cue[:-1]) if cue.endswith("*") else word == cue:
                    if not _negated(words, i):
                        scores[emotion] += STRONG_CUE
                    elif emotion == "joy":
                        scores["sadness"] += STRONG_CUE
    if re.search(r"\?!|!\?", text):
        scores["surprise"] += STRONG_CUE / 2
    return {emotion: min(1.0, score) for emotion, score in scores.items()}


def text_emotion(text: str) -> TextEmotion:
    """The emotion of `text` (English)."""
    valence = float(_vader().polarity_scores(text)["compound"])
    scores = cue_scores(text)
    best = max(scores, key=scores.get)
    if scores[best] >= STRONG_CUE:
        label = best
    elif valence >= VALENCE_JOY:
        label = "joy"
    elif valence <= VALENCE_SAD:
        label = "sadness"
    else:
        label = "neutral"
    return TextEmotion(label, valence, scores)
