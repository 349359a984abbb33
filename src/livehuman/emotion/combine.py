"""The user's emotion from both what they said and how they said it."""

from __future__ import annotations

from dataclasses import dataclass

from livehuman.emotion.text import STRONG_CUE, TextEmotion
from livehuman.emotion.voice import VoiceEmotion

EXCITED, CALM = 0.4, -0.4  # voice arousal that changes how a bare valence is read


@dataclass(frozen=True)
class UserEmotion:
    """One utterance's emotion: label, valence −1..1 (words), arousal −1..1 (voice, 0 unknown)."""

    label: str
    valence: float
    arousal: float
    text: TextEmotion
    voice: VoiceEmotion | None = None


def combine(text: TextEmotion, voice: VoiceEmotion | None = None) -> UserEmotion:
    """Words name the emotion when they can; the voice says how strongly, and settles what a bare
    valence means: negative and excited is anger, negative and calm is sadness."""
    arousal = voice.arousal * voice.confidence if voice is not None else 0.0
    label = text.label
    named = max(text.scores.values(), default=0.0) >= STRONG_CUE
    if not named and text.valence < 0 and arousal >= EXCITED:
        label = "anger"
    elif not named and text.valence < 0 and arousal <= CALM:
        label = "sadness"
    return UserEmotion(label, text.valence, arousal, text, voice)
