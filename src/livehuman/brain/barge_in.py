"""Is this sound an interruption? The offline brain's barge-in verdict on sound heard while it speaks.

The VAD starts a turn on any sound it takes for speech, and until now that alone stopped the
reply. People do not stop for a cough, a knock or an "mm-hm": they go on, and stop only when the
other person keeps talking. So a sound that starts while the avatar speaks is judged first, from
its own audio since the VAD's start and the recognizer's words so far:

- it interrupts once it has gone on for `confirm_ms`, with at least `min_voiced_ms` of voiced
  (periodic) sound and still sounding then (judged frame by frame, however the audio came in),
  and its words are not only backchannel words ("yeah", "okay", "mm-hm"…);
- whatever its words, it interrupts once it holds `long_ms` of voiced sound (someone talking over
  the avatar that long means it);
- otherwise it waits; a sound that ends first (the VAD's end of speech) was no interruption, and
  is no turn either: the brain forgets it (unless only its words held it back and its whole
  transcript is more than backchannel words: then it is the user's turn, see LocalBrain).

A player that can pause the reply (the live session) gets a better deal, the one LiveKit Agents
calls resuming after a false interruption: the reply is *held* as soon as the sound looks like
speech (`hold_ms` of sound with `hold_voiced_ms` of voice, ~80 ms after the voice starts: the
avatar falls silent as fast as a person does), and the verdict waits for the whole sound:

- it interrupts once it holds `hold_long_ms` of voiced sound, or when it ends with at least
  `hold_min_voiced_ms` of voice and a transcript with a word that is neither a backchannel nor a
  function word (`interrupts`): "wait stop", "what", "stop please";
- otherwise it was no interruption: the reply plays on from where it paused.

The whole sound's words are far better than its first 240 ms' (pocketsphinx hears "I see",
"okay", "right", "yes" right once it has them all), and a wrong "wait" only costs a pause. What
still fools it is a backchannel that the recognizer turns into a word that bids ("mm-hm" heard as
"who", "sure" as "fool"): docs/benchmarks.md "Barge-in: hold, then decide".

Coughs, knocks and breaths are mostly unvoiced (aperiodic): they seldom reach `min_voiced_ms`.
Backchannels are voiced and short. A real interruption is sustained voiced speech. The
recognizer's first words after a few hundred ms are unreliable (pocketsphinx hears "wait" as
"what" or "we're", "mm-hm" as "you" or "them"), so they can only hold back a sound that does look
like a backchannel; the timing does the rest. Plain numpy, no state beyond one sound.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the CLI imports this module's settings: no numpy at start-up
    import numpy as np

CONFIRM_MS = 240  # the default confirm time (see BargeInRule)
RATE = 16000  # the listener's rate
FRAME = 512  # 32 ms analysis frames (two pitch periods at 60 Hz)
HOP = 256  # every 16 ms
MIN_LAG, MAX_LAG = RATE // 400, RATE // 60  # pitch between 60 and 400 Hz
LOUD_DB = 20.0  # a frame counts as part of the sound within this many dB of its loudest frame
TONE = 0.97  # a frame with this share of its energy in one spectral peak is a lone tone, not a voice
SILENT = 1e-7  # mean square below this (about -70 dBFS) is silence whatever the sound's peak

# Said while listening, to show it: not a bid for the turn. Words alone or repeated ("yeah yeah",
# "oh okay"); a few phrases whole ("i see": "i" alone starts many interruptions).
BACKCHANNELS = frozenset({
    "mm", "mhm", "hm", "hmm", "mmm", "mm-hm", "mm-hmm", "uh-huh", "uh", "huh", "um", "ah", "aha", "oh",
    "yeah", "yes", "yep", "yup", "ya", "okay", "ok", "right", "alright", "sure", "cool", "nice",
    "great", "wow", "really", "true", "exactly", "indeed", "fine", "good", "see",
})
BACKCHANNEL_PHRASES = frozenset({"i see", "got it", "uh huh", "mm hm", "i know", "of course", "that's right"})
# Words that carry no bid for the turn alone: what the recognizer makes of a hum or a breath
# ("you", "the", "it you"). Question words are left out: "what?" does interrupt.
FUNCTION_WORDS = frozenset({
    "a", "an", "the", "of", "to", "in", "on", "at", "for", "with", "from", "and", "or", "but", "so", "if",
    "as", "not", "all", "that", "this", "which",
    "i", "you", "he", "she", "it", "we", "they", "me", "him", "her", "us", "them", "my", "his", "its",
    "their", "there", "i'm", "it's",
    "is", "are", "was", "be", "can", "do", "does", "did", "have", "has", "had", "will", "would",
})


@dataclass(frozen=True)
class BargeInRule:
    """When a sound heard while the avatar speaks stops it (see the module's doc); times in ms of
    the sound's audio from the VAD's start of speech. `confirm_ms` 0: any speech stops it at once
    (the VAD's start alone, as before)."""

    confirm_ms: int = CONFIRM_MS
    min_voiced_ms: int = 120
    long_ms: int = 600
    # With a player that holds the reply (see the module's doc):
    hold_ms: int = 60
    hold_voiced_ms: int = 48
    hold_min_voiced_ms: int = 300
    hold_long_ms: int = 1000
    gap_ms: int = 64  # the sound counts as still going if it was loud within this long
    voicing: float = 0.5  # normalised autocorrelation at the pitch period from which a frame is voiced
    backchannels: frozenset[str] = field(default=BACKCHANNELS)

    def __post_init__(self) -> None:
        from livehuman.errors import LivehumanError

        if min(self.confirm_ms, self.min_voiced_ms, self.long_ms, self.gap_ms, self.hold_ms, self.hold_voiced_ms,
               self.hold_min_voiced_ms, self.hold_long_ms) < 0:
            raise LivehumanError("barge-in times must be 0 ms or more")
        if not 0.0 < self.voicing < 1.0:
            raise LivehumanError(f"the barge-in voicing threshold must lie between 0 and 1, got {self.voicing}")


def _words(text: str) -> list[str]:
    """The text's words, lower case ("mm-hm" and "i'm" whole)."""
    return re.findall(r"[a-z]+(?:[-'][a-z]+)*", text.lower())


def backchannel(words: str, vocabulary: frozenset[str] = BACKCHANNELS) -> bool:
    """Whether `words` are only backchannel words (and at least one)."""
    found = _words(words)
    return bool(found) and (" ".join(found) in BACKCHANNEL_PHRASES or all(w in vocabulary for w in found))


def bids_for_turn(words: str, vocabulary: frozenset[str] = BACKCHANNELS) -> bool:
    """Whether `words` hold a word that is neither a backchannel nor a function word (and are not
    a backchannel phrase): what a whole sound heard over the reply must say to interrupt it."""
    if backchannel(words, vocabulary):
        return False
    return any(len(w) > 1 and w not in vocabulary and w not in FUNCTION_WORDS for w in _words(words))


def frame_features(frames: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each frame's mean square and voicing: the highest normalised autocorrelation at a pitch lag,
    0 for a lone tone (a knock's ringing is as periodic as a vowel, but has no harmonics)."""
    import numpy as np

    x = frames - frames.mean(axis=1, keepdims=True)
    power = np.mean(x * x, axis=1)
    spectrum = np.abs(np.fft.rfft(x * np.hanning(FRAME), n=2 * FRAME, axis=1)) ** 2
    peak = spectrum.argmax(axis=1)
    # The share of the frame's energy in its strongest peak's main lobe (±4 bins of 15.6 Hz).
    lobes = np.stack([spectrum[np.arange(len(x)), np.clip(peak + k, 0, FRAME)] for k in range(-4, 5)]).sum(axis=0)
    tone = lobes / np.maximum(spectrum.sum(axis=1), 1e-20) >= TONE
    ac = np.fft.irfft(spectrum, axis=1)[:, : MAX_LAG + 1]
    # Unbiased by the window's own autocorrelation, so that a steady vowel scores near 1.
    w = np.hanning(FRAME)
    wac = np.correlate(w, w, "full")[FRAME - 1 : FRAME + MAX_LAG]
    normalised = ac / np.maximum(ac[:, :1], 1e-20) * (wac[0] / wac)
    voicing = np.where(tone, 0.0, normalised[:, MIN_LAG:].max(axis=1))
    return power, np.clip(voicing, 0.0, 1.0)


class BargeIn:
    """One sound heard while the avatar speaks, judged as it goes on.

    `audio` is the sound from the VAD's start (16 kHz float32); `hear` adds what follows;
    `verdict(words)` says "interrupt" or "wait", with the recognizer's words so far.
    """

    def __init__(self, rule: BargeInRule, audio: np.ndarray) -> None:
        import numpy as np

        self.rule = rule
        self._pending = np.zeros(0, np.float32)
        self._power: list[float] = []
        self._voiced: list[bool] = []
        self._peak = 0.0
        self.heard_ms = 0.0
        self.ripe = False  # at some frame it had gone on long enough, voiced enough and was sounding
        self.holds = False  # at some frame it had gone on `hold_ms`, voiced `hold_voiced_ms`, and was sounding
        self.hear(audio)

    @property
    def voiced_ms(self) -> float:
        return sum(self._voiced) * HOP * 1000 / RATE

    @property
    def sounding(self) -> bool:
        """Whether the sound was loud within the last `gap_ms`."""
        recent = max(1, round(self.rule.gap_ms * RATE / 1000 / HOP))
        floor = max(self._peak * 10 ** (-LOUD_DB / 10), SILENT)
        return any(p >= floor for p in self._power[-recent:])

    def hear(self, samples: np.ndarray) -> None:
        import numpy as np

        samples = np.asarray(samples, np.float32).reshape(-1)
        self.heard_ms += len(samples) * 1000 / RATE
        buf = np.concatenate([self._pending, samples])
        n = max(0, (len(buf) - FRAME) // HOP + 1)
        if n:
            frames = np.lib.stride_tricks.sliding_window_view(buf, FRAME)[::HOP][:n]
            power, voicing = frame_features(frames)
            for p, v in zip(power.tolist(), voicing.tolist()):
                self._peak = max(self._peak, p)
                self._power.append(p)
                # Against the peak so far: a frame is judged once, as it comes.
                self._voiced.append(v >= self.rule.voicing and p >= max(self._peak * 10 ** (-LOUD_DB / 10), SILENT))
                # Frame by frame, so that the verdict does not depend on how the audio was batched
                # (a busy brain takes it in bigger pieces).
                ends_ms = ((len(self._power) - 1) * HOP + FRAME) * 1000 / RATE
                self.ripe = self.ripe or self._reached(ends_ms, self.rule.confirm_ms, self.rule.min_voiced_ms)
                self.holds = self.holds or self._reached(ends_ms, self.rule.hold_ms, self.rule.hold_voiced_ms)
        self._pending = buf[n * HOP :]

    def _reached(self, ends_ms: float, after_ms: int, voiced_ms: int) -> bool:
        """Whether the sound, at the frame ending `ends_ms`, has gone on `after_ms` with `voiced_ms`
        of voice and is still sounding."""
        return ends_ms >= after_ms and self.voiced_ms >= voiced_ms and self.sounding

    def verdict(self, words: str = "") -> str:
        """"interrupt" when the sound is an interruption by now, else "wait"."""
        rule = self.rule
        if rule.confirm_ms == 0:
            return "interrupt"
        voiced = self.voiced_ms
        if voiced >= rule.long_ms:
            return "interrupt"
        if self.ripe and not backchannel(words, rule.backchannels):
            return "interrupt"
        return "wait"

    def held_verdict(self) -> str:
        """With a player that holds the reply, while the sound goes on: "interrupt" once it has
        `hold_long_ms` of voice, "hold" once it looks like speech, else "wait"."""
        if self.voiced_ms >= self.rule.hold_long_ms:
            return "interrupt"
        return "hold" if self.holds else "wait"

    def interrupts(self, transcript: str) -> bool:
        """With a player that holds the reply, when the sound has ended: whether it was an interruption."""
        return self.voiced_ms >= self.rule.hold_min_voiced_ms and bids_for_turn(transcript, self.rule.backchannels)


@dataclass(eq=False)
class Overlap:
    """A sound heard while the avatar speaks, held back until it proves an interruption: the turn
    it would start (`item_id`, `start_ms`), its judge, and the recognizer's words so far."""

    item_id: str
    start_ms: int
    judge: BargeIn
    partial: str = ""  # the latest partial transcript, not yet shown
    words: str = ""  # the recognizer's hypothesis after the latest audio
    held_at: float | None = None  # when the reply was held for it (monotonic), if it was
