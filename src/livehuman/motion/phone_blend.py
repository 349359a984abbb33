"""The sound's mouth blended with the mouth of phones recognized in it: one rule for a file and a stream.

Speech without phone timings (a person's recording, OpenAI's voices) moves the mouth by its sound
alone (motion/audio_mouth.py); pocketsphinx's phones, put through the phone timing rules, add what
the sound tells poorly (a person's closures above all). Where a phone covers a frame the two mouths
are averaged; a closure heard by either shuts the lips. The phones are trusted only when there are
enough of them and their jaw agrees with the sound's: otherwise (another language, noise) the
sound's mouth is kept alone.

`blend_mouths` is the rule on whole tracks (a render); `PhoneBlend` applies it frame by frame to a
live reply as its phones become final, with the trust judged on the reply so far.
"""

from __future__ import annotations

import math

import numpy as np

from livehuman.motion.lipsync import ANTICIPATION, COARTIC_REACH, MouthTracker, Timeline
from livehuman.motion.recognize import RECOGNIZER_RATE
from livehuman.motion.visemes import MouthShape, phone_visemes
from livehuman.speech.audio import StreamResampler
from livehuman.speech.phones import Phone

MIN_SOUNDING = 5  # frames of sound heard before the phones may be trusted at all
MIN_PHONE_RATE = 4.0  # recognized phones per second of sound
MIN_AGREEMENT = 0.2  # correlation of the two jaw tracks over the sounding frames
RECOGNIZED_WEIGHT = 0.5  # share of the recognized-phone mouth in the blend
# The streaming recognizer's settings for a live reply: a decode every half second of audio, over
# the audio since its last final phone and half a second before it (2.6 times the audio's length);
# phones final 0.3 s behind the newest audio. On 17 recordings of people, the reply's frames that
# wait for their phones follow the speech as a render does (correlation 0.784, a render 0.787, the
# sound alone 0.746); the recognizer's defaults (a decode every 0.25 s) do no better (0.782).
LIVE_RECOGNIZER = {"hop": 0.5, "holdback": 0.3, "context": 0.5}


def blend_mouths(sound: np.ndarray, heard: np.ndarray, covered: np.ndarray) -> np.ndarray:
    """(frames, 7) mouths in MouthShape's field order: `sound`'s and `heard`'s (the recognized
    phones') averaged where `covered` (a phone at the frame's centre), `sound`'s alone elsewhere;
    closed wherever either closes the lips."""
    w = np.where(covered, RECOGNIZED_WEIGHT, 0.0)[:, None]
    blend = (1.0 - w) * sound + w * heard
    # Closures are the union: the recognizer misses most P/B/M of a formant voice (espeak-ng) and
    # hears its closures as vowels, while the sound's closures look at the frame's centre only.
    closed = (heard[:, 3] > 0.5) | (sound[:, 3] > 0.5)
    blend[closed, 0] = 0.0
    blend[closed, 3] = np.maximum(sound[closed, 3], heard[closed, 3])
    blend[closed, 4:] = 0.0
    return np.clip(blend, 0.0, 1.0)


def phones_trusted(sound_jaw: np.ndarray, heard_jaw: np.ndarray, phones: int, fps: float) -> bool:
    """Whether recognized phones may be blended in, from the two mouths' jaws over the sounding
    frames and the number of phones heard: enough of them, and a jaw that agrees with the sound's."""
    n = len(sound_jaw)
    if n < MIN_SOUNDING or phones < MIN_PHONE_RATE * n / fps:
        return False
    if np.std(sound_jaw) == 0 or np.std(heard_jaw) == 0:
        return False
    return bool(np.corrcoef(sound_jaw, heard_jaw)[0, 1] >= MIN_AGREEMENT)


def phones_cover(phones: list[Phone], n: int, fps: float) -> np.ndarray:
    """(n,) which frames' centres fall inside a phone that moves the mouth."""
    centres = (np.arange(n) + 0.5) / fps
    mask = np.zeros(n, bool)
    for p in phones:
        if phone_visemes(p.symbol):
            mask |= (centres >= p.start) & (centres < p.end)
    return mask


class PhoneBlend:
    """`blend_mouths` for a live reply, frame by frame, as the phones heard in it become final.

    `recognizer` hears 16 kHz audio: `hear(samples) -> (phones now final, time before which all are)`,
    `flush() -> the rest`, `reset()` (motion/recognize.py's StreamingPhoneRecognizer, or one in a
    process of its own). Frame k can take its phones once `ready(k)`; `frame` must be called for
    k = 0, 1, 2, ... in order, ready or not (a frame not ready gets the sound's mouth).
    """

    def __init__(self, recognizer, fps: float) -> None:
        self.recognizer = recognizer
        self.fps = float(fps)
        self.recognizer.reset()
        self._timeline = Timeline()
        self._mouth = MouthTracker(self._timeline, fps)
        self._heard = 0  # phones recognized so far
        self._phones: list[Phone] = []  # those that move the mouth, in order
        self._resampler: StreamResampler | None = None
        self.final_until = 0.0  # s: every phone before this is known
        self._jaws: tuple[list[float], list[float]] = ([], [])  # the sound's and the phones' on sounding frames

    def hear(self, samples: np.ndarray, rate: int) -> None:
        """The reply's next audio (any rate)."""
        if self._resampler is None:
            self._resampler = StreamResampler(rate, RECOGNIZER_RATE)
        phones, self.final_until = self.recognizer.hear(self._resampler.process(np.asarray(samples, np.float32)))
        self._add(phones)

    def hear_rest(self) -> None:
        """The reply's audio is complete: every phone is final."""
        if self._resampler is not None:
            phones, _ = self.recognizer.hear(self._resampler.flush())
            self._add(phones)
        self._add(self.recognizer.flush())
        self.final_until = math.inf

    def ready(self, k: int) -> bool:
        """Whether frame k's phones (and those it anticipates) are all known."""
        return (k + 1) / self.fps + ANTICIPATION + COARTIC_REACH <= self.final_until

    def frame(self, k: int, sound: MouthShape, energy: float) -> MouthShape:
        """Frame k's mouth from the sound's `sound` (its loudness `energy`, 0 where no speech was heard)."""
        heard = self._mouth.step(k, energy)  # (every frame, in order: the tracker has momentum)
        if not self.ready(k):
            return sound
        a, r = np.array(sound.values()), np.array(heard.values())
        if energy > 0:
            self._jaws[0].append(a[0])
            self._jaws[1].append(r[0])
        # trusted as a render trusts a whole file, on the reply so far
        if not phones_trusted(np.array(self._jaws[0]), np.array(self._jaws[1]), self._heard, self.fps):
            return sound
        covered = np.array([self._covers((k + 0.5) / self.fps)])
        return MouthShape(*blend_mouths(a[None], r[None], covered)[0])

    def _add(self, phones: list[Phone]) -> None:
        self._timeline.extend(phones)
        self._heard += len(phones)
        self._phones += [p for p in phones if phone_visemes(p.symbol)]

    def _covers(self, t: float) -> bool:
        for p in reversed(self._phones):  # the frame's phone is among the last known ones
            if p.start <= t < p.end:
                return True
            if p.end <= t:
                return False
        return False
