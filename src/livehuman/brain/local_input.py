"""The offline brain's input side: the user's audio through VAD and speech recognition into turns.

Client events only queue their input; one task per brain (the input loop) takes it in order. The
blocking work (resampling, VAD, the recognizer) runs in worker threads, one step at a time since
the loop awaits each, while the event loop keeps streaming the reply in flight. `_asr_lock` is
still needed: `close()` hands the recognizer back to its pool while a cancelled step's thread may
be using it, so every method that touches the recognizer holds it (all of them are in this module).
"""

from __future__ import annotations

import asyncio
import copy
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from livehuman.brain.events import AUDIO_RATE, error_event, new_id
from livehuman.speech.audio import StreamResampler

log = logging.getLogger("livehuman.brain.local")  # one logger for the whole offline brain

ASR_RATE = 16000
MANUAL_MAX_S = 600  # longest input kept for a manual commit
PREFIX_KEEP_S = 3.0  # audio kept before speech starts (covers any prefix_padding_ms)
DEFAULT_TURN_DETECTION = {
    "type": "server_vad",
    "threshold": 0.5,
    "prefix_padding_ms": 300,
    "silence_duration_ms": 500,
    "create_response": True,
    "interrupt_response": True,
}
SEMANTIC_SILENCE_MS = {"low": 1000, "medium": 600, "auto": 600, "high": 300}


def turn_detection_with_defaults(turn: dict | None) -> dict | None:
    """A session.update's turn_detection with its type's defaults filled in (None: manual turns)."""
    if turn is None:
        return None
    given = {k: v for k, v in turn.items() if v is not None}
    if turn.get("type") == "semantic_vad":
        return {"type": "semantic_vad", "eagerness": "auto", "create_response": True, "interrupt_response": True,
                **given}
    return {**DEFAULT_TURN_DETECTION, **given}


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


class InputSide:
    """LocalBrain's input half: audio in; speech started/stopped, transcripts and committed user items out.

    A mixin: it shares LocalBrain's state (the session, the conversation, the response in flight).
    """

    def _init_input(self, asr: Any, asr_pool: AsrPool | None, asr_model_dir: str | None) -> None:
        self._asr = asr
        self._asr_pool = asr_pool
        self._asr_lock = threading.Lock()
        self._asr_model_dir = asr_model_dir
        self._in: asyncio.Queue[tuple] = asyncio.Queue()
        self._worker: asyncio.Task | None = None
        # Input audio: 24 kHz in, 16 kHz inside.
        self._resampler = StreamResampler(AUDIO_RATE, ASR_RATE)
        self._vad: Any = None
        self._vad_ready = False
        self._vad_offset = 0  # session samples (16 kHz) fed before the current VAD was made
        self._buffer = np.zeros(0, np.float32)  # recent 16 kHz audio
        self._buffer_start = 0  # session sample index of _buffer[0]
        self._total = 0  # 16 kHz samples received
        self._speaking_item: str | None = None
        self._partial = ""

    # -- on the event loop: the input loop and the turns it makes ----------------------------

    def _start(self) -> None:
        if self._worker is None and not self._closed:
            self._worker = asyncio.get_running_loop().create_task(self._input_loop())

    async def _input_loop(self) -> None:
        while True:
            ops = [await self._in.get()]
            while not self._in.empty():  # take what piled up while the last batch ran
                ops.append(self._in.get_nowait())
            audio: list[np.ndarray] = []
            for i, op in enumerate(ops):
                if op[0] == "audio":
                    audio.append(op[1])
                    # One thread hop for a run of 20 ms chunks, not one per chunk.
                    if i + 1 < len(ops) and ops[i + 1][0] == "audio":
                        continue
                    op = ("audio", np.concatenate(audio))
                    audio = []
                await self._input_op(op)

    async def _input_op(self, op: tuple) -> None:
        try:
            if op[0] == "audio":
                await self._process_audio(op[1])
            elif op[0] == "commit":
                await self._commit(op[1])
            elif op[0] == "clear":
                self._discard_speculation("discarded")
                await asyncio.to_thread(self._clear_input)
                self._emit({"type": "input_audio_buffer.cleared"})
            elif op[0] == "vad":
                self._discard_speculation("discarded")
                await asyncio.to_thread(self._configure_vad, op[1])
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # report it; the session goes on
            log.exception("local brain input failed")
            self._speaking_item = None
            self._emit(error_event(f"speech input failed: {exc}", type="server_error"))

    async def _process_audio(self, samples24: np.ndarray) -> None:
        results = await asyncio.to_thread(self._analyse, samples24)
        for kind, value in results:
            if kind == "started":
                await self._on_speech_started(*value)
            elif kind == "feed":
                # The speech's first audio goes to the recognizer only after speech_started is out:
                # a barge-in must not wait for pocketsphinx.
                partial = await asyncio.to_thread(self._feed_start, value)
                if partial:
                    self._emit_partial(partial)
            elif kind == "partial":
                self._emit_partial(value)
            elif kind == "paused":
                await self._speculate()
            elif kind == "resumed":
                self._discard_speculation("discarded")
            elif kind == "stopped":
                await self._end_turn(value)

    async def _on_speech_started(self, item_id: str, start_ms: int) -> None:
        self._discard_speculation("discarded")
        self._speaking_item = item_id
        self._partial = ""
        self._emit({"type": "input_audio_buffer.speech_started", "audio_start_ms": start_ms, "item_id": item_id})
        turn = self._turn or {}
        if self._response is not None and turn.get("interrupt_response", True):
            await self._cancel("turn_detected")

    def _emit_partial(self, partial: str) -> None:
        if self._speaking_item is None:
            return
        # Deltas only ever append; a revised partial waits for the final transcript.
        if partial.startswith(self._partial) and len(partial) > len(self._partial):
            delta = partial[len(self._partial) :]
            self._partial = partial
            self._emit({"type": "conversation.item.input_audio_transcription.delta",
                        "item_id": self._speaking_item, "content_index": 0, "delta": delta})

    async def _end_turn(self, end_ms: int) -> None:
        item_id = self._speaking_item
        if item_id is None:
            return
        self._speaking_item = None
        self._stopped_at = time.monotonic()
        self._emit({"type": "input_audio_buffer.speech_stopped", "audio_end_ms": end_ms, "item_id": item_id})
        transcript = await asyncio.to_thread(self._finish_asr)
        self._user_audio_item(item_id, transcript)
        turn = self._turn or {}
        if transcript.strip() and turn.get("create_response", True) and self._response is None:
            spec = await self._take_speculation(" ".join(self._pending_user))
            if self._response is None:
                if spec is not None:
                    # The fork's state (history, name, topic) becomes the dialogue's.
                    vars(self._dialogue).update(vars(spec.dialogue))
                    self.speculations["used"] += 1
                self._start_response(self._modalities, speculation=spec)
            elif spec is not None:
                self.speculations["missed"] += 1
        else:
            self._discard_speculation("missed")

    async def _commit(self, event_id: str | None) -> None:
        if self._speaking_item is not None:
            await self._end_turn(int(self._total * 1000 / ASR_RATE))
            return
        if self._vad is not None or len(self._buffer) < ASR_RATE // 10:
            self._emit(error_event("input audio buffer is empty or shorter than 100 ms",
                                   code="input_audio_buffer_commit_empty", event_id=event_id))
            return
        audio, self._buffer, self._buffer_start = self._buffer, np.zeros(0, np.float32), self._total
        self._stopped_at = time.monotonic()
        transcript = await asyncio.to_thread(self._recognize, audio)
        self._user_audio_item(new_id("item"), transcript)

    def _user_audio_item(self, item_id: str, transcript: str) -> None:
        previous = self._order[-1] if self._order else None
        self._emit({"type": "input_audio_buffer.committed", "item_id": item_id, "previous_item_id": previous})
        item = {"id": item_id, "type": "message", "role": "user", "object": "realtime.item",
                "status": "completed", "content": [{"type": "input_audio", "transcript": None}]}
        self._add_item(item, None)
        item = copy.deepcopy(item)
        item["content"][0]["transcript"] = transcript
        self._items[item_id].data = item
        self._emit({"type": "conversation.item.input_audio_transcription.completed", "item_id": item_id,
                    "content_index": 0, "transcript": transcript,
                    "usage": {"type": "duration", "seconds": 0.0}})
        self._emit({"type": "conversation.item.done", "item": copy.deepcopy(item), "previous_item_id": previous})
        if transcript.strip():
            self._pending_user.append(transcript)

    # -- in worker threads: resampling, VAD and the recognizer -------------------------------

    def _analyse(self, samples24: np.ndarray) -> list[tuple[str, Any]]:
        """Resample, VAD, and streaming ASR while someone speaks; what happened, for the event loop."""
        with self._asr_lock:
            if self._closed:
                return []
            return self._analyse_locked(samples24)

    def _analyse_locked(self, samples24: np.ndarray) -> list[tuple[str, Any]]:
        self._ensure_asr()
        if self._tts is None:  # ready before the first reply, not during it
            self._tts = self._make_tts(self._voice)
        if not self._vad_ready:
            self._configure_vad(self._turn)
        samples = self._resampler.process(samples24)
        self._buffer = np.concatenate([self._buffer, samples])
        self._total += len(samples)
        results: list[tuple[str, Any]] = []
        if self._vad is None:
            # Manual turns: keep everything until commit (up to a limit, the oldest audio dropped).
            if len(self._buffer) > MANUAL_MAX_S * ASR_RATE:
                self._buffer_start += len(self._buffer) - MANUAL_MAX_S * ASR_RATE
                self._buffer = self._buffer[-MANUAL_MAX_S * ASR_RATE :]
            return results
        speaking = self._speaking_item is not None
        fed = stopped = False
        for ev in self._vad.process(samples):
            t = self._vad_offset + int(round(ev.time * ASR_RATE))  # noqa: RUF046 - numpy<2 rounds to a float
            if ev.kind == "speech_started" and not speaking:
                speaking, fed = True, True
                begin = max(t, self._buffer_start)
                results.append(("started", (new_id("item"), int(begin * 1000 / ASR_RATE))))
                results.append(("feed", self._buffer[begin - self._buffer_start :].copy()))
            elif ev.kind == "speech_stopped" and speaking:
                speaking, stopped = False, True
                results.append(("stopped", int(t * 1000 / ASR_RATE)))
            elif ev.kind == "speech_paused" and speaking:
                results.append(("paused", None))
            elif ev.kind == "speech_resumed" and speaking:
                results.append(("resumed", None))
        if speaking and not fed and not stopped:
            partial = self._asr.accept(samples)
            if partial:
                results.append(("partial", partial))
        # Keep only recent audio while nobody speaks; the recognizer already has the rest.
        keep = int(PREFIX_KEEP_S * ASR_RATE)
        if len(self._buffer) > keep:
            self._buffer_start += len(self._buffer) - keep
            self._buffer = self._buffer[-keep:]
        return results

    def _feed_start(self, samples16: np.ndarray) -> str | None:
        """A new utterance's recognition, from the speech's start."""
        with self._asr_lock:
            if self._closed or self._asr is None:
                return None
            self._asr.reset()
            return self._asr.accept(samples16)

    def _hypothesis(self) -> str | None:
        """The recognizer's best guess so far, mid-utterance (what a speculative reply answers)."""
        with self._asr_lock:
            if self._closed or self._asr is None:
                return None
            return self._asr.hypothesis()

    def _finish_asr(self) -> str:
        with self._asr_lock:
            return self._asr.finish() if self._asr is not None else ""

    def _recognize(self, audio: np.ndarray) -> str:
        """A whole manually committed utterance's transcript."""
        with self._asr_lock:
            if self._closed:
                return ""
            self._ensure_asr()
            self._asr.reset()
            self._asr.accept(audio)
            return self._asr.finish()

    def _ensure_asr(self) -> None:
        """Build the recognizer on first use, biased to the knowledge base (the caller holds the lock)."""
        if self._asr is not None:
            return
        if self._asr_pool is not None:
            self._asr = self._asr_pool.acquire()
            return
        self._ensure_dialogue()
        self._asr = knowledge_asr(getattr(self._dialogue, "knowledge", None), self._asr_model_dir)

    def _release_asr(self) -> None:
        with self._asr_lock:  # a cancelled step's thread may still be using it
            asr, self._asr = self._asr, None
        if asr is not None:
            self._asr_pool.release(asr)

    def _configure_vad(self, turn: dict | None) -> None:
        self._vad_ready = True
        if turn is None:
            self._vad = None
            return
        from livehuman.speech.vad import SileroVAD

        silence = turn.get("silence_duration_ms", 500)
        if turn.get("type") == "semantic_vad":
            # No model judges whether a sentence is finished here: eagerness sets the silence wait.
            silence = SEMANTIC_SILENCE_MS.get(turn.get("eagerness", "auto"), 500)
        self._vad = SileroVAD(
            threshold=float(turn.get("threshold", 0.5)),
            min_silence_ms=int(silence),
            prefix_padding_ms=int(turn.get("prefix_padding_ms", 300)),
            pause_ms=self.speculate_ms,
        )
        self._vad_offset = self._total
        self._speaking_item = None

    def _clear_input(self) -> None:
        self._buffer = np.zeros(0, np.float32)
        self._buffer_start = self._total
        if self._vad is not None:
            self._configure_vad(self._turn)
