"""The offline brain's ears: voice activity and speech recognition over the user's 16 kHz audio.

Blocking: each method runs in a worker thread, one at a time (the brain awaits each step), while
the event loop streams the reply in flight. The lock still matters: `close()` hands the recognizer
back to its pool while a cancelled step's thread may be using it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from livehuman.brain.base import TurnDetection
from livehuman.brain.turn_end import ModelTurns, VoiceKind
from livehuman.rates import LISTEN_RATE

MANUAL_MAX_S = 600  # longest input kept for a manual commit
PREFIX_KEEP_S = 3.0  # audio kept before speech starts (covers any prefix_padding_ms)
MODEL_KEEP_S = 8.0  # model mode: the turn's audio kept for the end-of-turn model (it hears the last 8 s)
MIN_COMMIT_S = 0.1  # the protocol refuses to commit less
SEMANTIC_SILENCE_MS = {"low": 1000, "medium": 600, "auto": 600, "high": 300}


@dataclass(frozen=True, eq=False)
class SpeechBegan:
    """Speech began `start_ms` into the input; `audio` is it so far, for the recognizer (`begin`)."""

    start_ms: int
    audio: np.ndarray


@dataclass(frozen=True)
class Partial:
    """The recognizer's partial transcript of the speech so far."""

    text: str


@dataclass(frozen=True)
class Resumed:
    """The speaker went on after a pause."""


@dataclass(frozen=True)
class SpeechEnded:
    """The turn ended `end_ms` into the input."""

    end_ms: int


Heard = SpeechBegan | Partial | Resumed | SpeechEnded


class Listener:
    """Turns the user's audio into turns and their words.

    `recognizer()` gives the StreamingASR on first need (from a pool, or built); `release(asr)`
    gives it back on close. `on_pause(words)` is told the words heard so far at each pause of
    `pause_ms` (the time to prepare a reply), from the thread that called `hear`.

    With `model_turns` (turn_end.py), VAD turns end the model's way rather than after the fixed
    silence: at each pause of `model_turns.judge_ms` the turn's audio and words are judged; a
    finished turn ends when the pause reaches `model_turns.pause_ms`, another one when its silence
    lasts as long as the verdict asked (`unsure_ms`, or `limit_ms` for an unfinished one; in auto
    mode, the session's fixed silence for a synthesizer's voice), unless the user goes on.
    `on_pause` is then told of each such pause before its verdict is computed, so that the reply is
    prepared meanwhile (the verdict takes ~80 ms, about what a reply's first sentence takes), and
    `pause_ms` is unused.
    """

    def __init__(self, recognizer: Callable[[], Any], release: Callable[[Any], None] | None = None,
                 turn: TurnDetection | None = TurnDetection(), pause_ms: int | None = None,
                 model_turns: ModelTurns | None = None, on_pause: Callable[[str], None] | None = None) -> None:
        self._make_asr = recognizer
        self._release = release
        self._asr: Any = None
        self._lock = threading.Lock()
        self._closed = False
        self._turn = turn
        self.pause_ms = pause_ms
        self.model_turns = model_turns
        self._on_pause = on_pause
        self.verdicts: list[bool] = []  # model mode: each pause's verdict (finished there or not), in order
        self.waits: list[int] = []  # and the silence each asked for (ms)
        self.person = False  # auto mode: the user's voice sounded like a person's (turn_end.VoiceKind)
        self._voice = VoiceKind() if model_turns is not None and model_turns.people_only else None
        self._turn_start = 0  # sample index where the current turn's speech began
        self._vad: Any = None
        self._vad_ready = False
        self._vad_offset = 0  # samples heard before the current VAD was made
        self._buffer = np.zeros(0, np.float32)  # recent audio
        self._buffer_start = 0  # sample index of _buffer[0]
        self._total = 0  # samples heard
        self.speaking = False

    @property
    def heard_ms(self) -> int:
        """How much audio has been heard."""
        return int(self._total * 1000 / LISTEN_RATE)

    def prepare(self) -> None:
        """Take the recognizer and build the VAD now, before the first audio needs them."""
        with self._lock:
            self._ensure()

    def configure(self, turn: TurnDetection | None) -> None:
        """New turn detection (None: manual turns); a turn in progress is dropped."""
        with self._lock:
            self._turn = turn
            self._vad_ready = False
            self.speaking = False

    def hear(self, samples: np.ndarray) -> list[Heard]:
        """The next 16 kHz samples: what they started, ended or said."""
        with self._lock:
            if self._closed:
                return []
            self._ensure()
            return self._hear(samples)

    def _hear(self, samples: np.ndarray) -> list[Heard]:
        self._buffer = np.concatenate([self._buffer, samples])
        self._total += len(samples)
        if self._voice is not None and self.speaking:
            self._voice.hear(samples)
        if self._vad is None:
            # Manual turns: keep everything until commit (up to a limit, the oldest audio dropped).
            limit = MANUAL_MAX_S * LISTEN_RATE
            if len(self._buffer) > limit:
                self._buffer_start += len(self._buffer) - limit
                self._buffer = self._buffer[-limit:]
            return []
        results: list[Heard] = []
        began = ended = False
        batch_start = self._total - len(samples)
        fed = 0  # samples of this batch the recognizer has (at a pause, those up to it)
        rest: np.ndarray | None = samples
        while rest is not None:  # twice when the model ends a turn mid-batch: a fresh VAD hears the rest
            events, rest = self._vad.process(rest), None
            for i, ev in enumerate(events):
                t = self._vad_offset + int(round(ev.time * LISTEN_RATE))  # noqa: RUF046 - numpy<2 rounds to a float
                if ev.kind == "speech_started" and not self.speaking:
                    self.speaking, began = True, True
                    start = self._turn_start = max(t, self._buffer_start)
                    so_far = self._buffer[start - self._buffer_start :]  # (this batch included)
                    if self._voice is not None:
                        self._voice.begin()
                        self._voice.hear(so_far)
                    results.append(SpeechBegan(int(start * 1000 / LISTEN_RATE), so_far.copy()))
                elif ev.kind == "speech_stopped" and self.speaking:
                    self.speaking, ended = False, True
                    results.append(SpeechEnded(int(t * 1000 / LISTEN_RATE)))
                elif ev.kind == "speech_paused" and self.speaking:
                    # The words and the verdict are those of what was heard when the pause was, not of
                    # the batch's later audio (chunks pile up while a step runs).
                    pause_ms = self.pause_ms if self.model_turns is None else self.model_turns.judge_ms
                    cut = min(max(t + pause_ms * LISTEN_RATE // 1000 - batch_start, fed), len(samples))
                    words = ""
                    if not began:  # (else the recognizer has not begun this turn: the model judges alone)
                        partial = self._asr.accept(samples[fed:cut]) if cut > fed else None
                        fed = cut
                        if partial:
                            results.append(Partial(partial))
                        words = self._asr.hypothesis() or ""
                    if self._on_pause is not None:
                        # Before the verdict, so that the brain prepares its reply whatever it is:
                        # taken at once if the turn ends here, dropped if the user goes on.
                        self._on_pause(words)
                    if self.model_turns is None:
                        continue
                    wait_ms = max(self._judge(batch_start + cut, words), self.model_turns.pause_ms)
                    end = t + wait_ms * LISTEN_RATE // 1000 - batch_start  # where this silence ends the turn
                    if end > len(samples) or self._resumed_before(events[i + 1 :], batch_start + end):
                        # Heard as it comes: this silence ends the turn if it lasts (for a turn judged
                        # finished, the rest of the pause, while its verdict was being computed).
                        self._vad.end_silence_after(ev.time, wait_ms / 1000)
                    else:
                        # The batch already holds the silence the verdict asked for (the VAD, which
                        # heard the batch before the verdict, still counts it as a pause inside
                        # speech): the turn ends there, and a fresh VAD hears the rest.
                        self.speaking, ended = False, True
                        results.append(SpeechEnded(int(t * 1000 / LISTEN_RATE)))
                        self._vad.reset()
                        self._vad_offset = batch_start + end
                        rest = samples[end:]
                        break
                elif ev.kind == "speech_resumed" and self.speaking:
                    results.append(Resumed())
        if self.speaking and not began and not ended:
            partial = self._asr.accept(samples[fed:])
            if partial:
                results.append(Partial(partial))
        # Keep only recent audio while nobody speaks; the recognizer already has the rest (the
        # end-of-turn model needs the turn's audio itself).
        keep = int((PREFIX_KEEP_S if self.model_turns is None else MODEL_KEEP_S) * LISTEN_RATE)
        if len(self._buffer) > keep:
            self._buffer_start += len(self._buffer) - keep
            self._buffer = self._buffer[-keep:]
        return results

    def _resumed_before(self, events: list, sample: int) -> bool:
        """Whether speech comes back, among this batch's later VAD events, before absolute `sample`."""
        return any(ev.kind == "speech_resumed" and self._vad_offset + int(round(ev.time * LISTEN_RATE)) < sample
                   for ev in events)

    def _judge(self, upto: int, words: str) -> int:
        """Model mode, at a pause: the silence that ends the turn (ms), from its audio up to sample
        `upto` and its words so far."""
        audio = self._buffer[max(0, self._turn_start - self._buffer_start) : max(0, upto - self._buffer_start)]
        if self.model_turns.people_only and not self._a_person(upto):
            wait_ms = fixed_silence_ms(self._turn)
        else:
            wait_ms = self.model_turns.wait_ms(audio, words)
        self.waits.append(wait_ms)
        self.verdicts.append(wait_ms <= self.model_turns.pause_ms)
        return wait_ms

    def _a_person(self, upto: int) -> bool:
        """Auto mode: whether the user sounds like a person, by this turn's voice up to sample `upto`
        with the session's earlier turns (turn_end.VoiceKind), else by the last verdict; a synthesizer
        until there is one."""
        heard = self._voice.person((upto - self._turn_start) / LISTEN_RATE)
        if heard is not None:
            self.person = heard
        return self.person

    def begin(self, audio: np.ndarray) -> str | None:
        """A new utterance's recognition, from the speech's start; its first partial transcript.

        Separate from `hear` so that the speech's start is announced before pocketsphinx runs.
        """
        with self._lock:
            if self._closed or self._asr is None:
                return None
            self._asr.reset()
            return self._asr.accept(audio)

    def hypothesis(self) -> str | None:
        """The recognizer's best guess so far, mid-utterance (what a speculative reply answers)."""
        with self._lock:
            if self._closed or self._asr is None:
                return None
            return self._asr.hypothesis()

    def finish(self) -> str:
        """The utterance's final transcript."""
        with self._lock:
            self.speaking = False
            return self._asr.finish() if self._asr is not None and not self._closed else ""

    def take_manual(self) -> np.ndarray | None:
        """Manual turns: the audio heard since the last commit, or None if there is too little."""
        with self._lock:
            if self._vad is not None or len(self._buffer) < MIN_COMMIT_S * LISTEN_RATE:
                return None
            audio, self._buffer, self._buffer_start = self._buffer, np.zeros(0, np.float32), self._total
            return audio

    def recognize(self, audio: np.ndarray) -> str:
        """A whole committed utterance's transcript."""
        with self._lock:
            if self._closed:
                return ""
            self._ensure()
            self._asr.reset()
            self._asr.accept(audio)
            return self._asr.finish()

    def clear(self) -> None:
        """Forget the audio not yet committed (and the turn in progress)."""
        with self._lock:
            self._buffer = np.zeros(0, np.float32)
            self._buffer_start = self._total
            self._vad_ready = False
            self.speaking = False

    def close(self) -> None:
        """Give the recognizer back (waits for a step still running in another thread)."""
        with self._lock:
            self._closed = True
            asr, self._asr = self._asr, None
        if asr is not None and self._release is not None:
            self._release(asr)

    def _ensure(self) -> None:
        """The recognizer and the VAD, built on first need (the caller holds the lock)."""
        if self._asr is None:
            self._asr = self._make_asr()
        if not self._vad_ready:
            self._vad_ready = True
            self._vad = _make_vad(self._turn, self.pause_ms, self.model_turns)
            self._vad_offset = self._total


def _make_vad(turn: TurnDetection | None, pause_ms: int | None, model_turns: ModelTurns | None = None) -> Any:
    if turn is None:
        return None
    from livehuman.speech.vad import SileroVAD

    silence = fixed_silence_ms(turn)
    if model_turns is not None:
        # The VAD's silence is only the longest wait; the model decides at the pause (in auto mode
        # a synthesizer's turn may ask for a longer fixed silence than the limit).
        longest = max(silence, model_turns.limit_ms) if model_turns.people_only else model_turns.limit_ms
        silence, pause_ms = longest, model_turns.judge_ms
    return SileroVAD(threshold=float(turn.threshold), min_silence_ms=int(silence),
                     prefix_padding_ms=int(turn.prefix_padding_ms), pause_ms=pause_ms)


def fixed_silence_ms(turn: TurnDetection) -> int:
    """The silence that ends a turn when no model judges it: the session's server_vad silence, or
    semantic_vad's by its eagerness (no model judges whether a sentence is finished there)."""
    if turn.kind == "semantic_vad":
        return SEMANTIC_SILENCE_MS.get(turn.eagerness, 500)
    return turn.silence_duration_ms
