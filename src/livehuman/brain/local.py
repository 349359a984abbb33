"""The built-in offline brain (VAD → ASR → dialogue → TTS) speaking the Realtime protocol."""

from __future__ import annotations

import asyncio
import copy
import logging
import re
import threading
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from livehuman.brain.events import (
    AUDIO_RATE,
    CLIENT_EVENTS,
    PHONES_EVENT,
    EventError,
    decode_pcm16,
    encode_pcm16,
    error_event,
    merge_session,
    new_id,
    until_closed,
)
from livehuman.brain.heard import Segment, heard_text
from livehuman.errors import LivehumanError
from livehuman.speech.audio import StreamResampler, resample

log = logging.getLogger(__name__)

ASR_RATE = 16000
MODEL_NAME = "livehuman"
DELTA_MS = 100  # audio per response.output_audio.delta
MAX_SENTENCE_CHARS = 240  # speak a long run-on text in pieces rather than wait for its end
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
FOLLOW_UP = "Is there anything else I can help you with?"
SEMANTIC_SILENCE_MS = {"low": 1000, "medium": 600, "auto": 600, "high": 300}
_SENTENCE_END = re.compile(r"(?<=[.!?…])\s+|(?<=[。！？])")


@dataclass
class _Response:
    """A response in flight."""

    id: str
    item_id: str
    modalities: list[str]
    task: asyncio.Task | None = None
    text: list[str] = field(default_factory=list)
    samples: int = 0  # 24 kHz samples sent
    segments: list[Segment] = field(default_factory=list)
    started: bool = False  # content part added (output events begun)
    t0: float | None = None  # monotonic time of the first audio delta
    script: str | None = None  # words to say verbatim instead of the dialogue's reply
    speculation: _Speculation | None = None  # prepared while the user paused


@dataclass
class _Speculation:
    """A reply prepared while the user pauses; it is spoken only if the turn ends on the same words.

    Nothing of it is emitted before then: the dialogue answers on a fork of its state, and the
    first sentence's speech waits here.
    """

    transcript: str
    modalities: list[str]
    task: asyncio.Task | None = None
    dialogue: Any = None  # the fork that answered
    source: Any = None  # the reply's text stream, to go on with
    pieces: list[str] = field(default_factory=list)  # its text so far
    ended: bool = False
    speech: dict[str, list] = field(default_factory=dict)  # sentence → its synthesized speech

    async def resume(self) -> AsyncIterator[str]:
        """The reply's text: what was prepared, then the rest as it comes."""
        for piece in self.pieces:
            yield piece
        if not self.ended and self.source is not None:
            async for piece in self.source:
                yield piece


def _fork(dialogue: Any) -> Any:
    """A shallow copy of `dialogue` with its own containers (history, topics said): models are shared."""
    clone = copy.copy(dialogue)
    for name, value in vars(dialogue).items():
        if isinstance(value, (list, dict, set)):
            setattr(clone, name, copy.copy(value))
    return clone


@dataclass
class _Item:
    """A conversation item as the protocol shows it, plus what truncation needs."""

    data: dict
    segments: list[Segment] = field(default_factory=list)
    audio_ms: float = 0.0


def default_dialogue() -> Any:
    """The built-in offline dialogue: the default persona and knowledge base."""
    from livehuman.brain.dialogue import Dialogue

    return Dialogue()


class LocalBrain:
    """The offline cascade as a Brain: server VAD, streaming ASR, dialogue and espeak-ng TTS.

    `dialogue` is a Dialogue, or `dialogue_factory` makes one (called in a worker thread: building
    one embeds its knowledge base); `tts` is any object with `.sentences(text) -> Iterator[Speech]`;
    `asr` a StreamingASR. Left out, each is built from the defaults on first use, off the event loop.
    `voice` (an espeak-ng voice) defaults to the dialogue's persona's. `pace_ahead_s` keeps the
    audio sent at most that far ahead of real time (None: as fast as it is made), so that a
    response stays "in flight" while it plays and a barge-in cancels what is still unsaid.
    `turn_detection` overrides fields of the default server VAD settings (e.g. a shorter
    `silence_duration_ms` for live conversations); a client's session.update still wins.
    With `speculate_ms`, once the user has paused that long the reply is prepared (ASR hypothesis,
    dialogue, first sentence's speech) but held; it goes out the moment the turn ends if the final
    transcript is the same, and is thrown away if the user speaks on.
    """

    def __init__(
        self,
        dialogue: Any = None,
        *,
        dialogue_factory: Callable[[], Any] | None = None,
        voice: str | None = None,
        tts: Any = None,
        asr: Any = None,
        asr_pool: AsrPool | None = None,
        asr_model_dir: str | None = None,
        instructions: str | None = None,
        pace_ahead_s: float | None = None,
        turn_detection: dict | None = None,
        speculate_ms: int | None = None,
    ) -> None:
        self.pace_ahead_s = pace_ahead_s
        self.speculate_ms = speculate_ms
        self._spec: _Speculation | None = None
        self.speculations = {"used": 0, "missed": 0, "discarded": 0}  # how prepared replies fared
        self._dialogue: Any = dialogue
        self._dialogue_factory = dialogue_factory or default_dialogue
        self._dialogue_lock = threading.Lock()
        self._tts = tts
        self._asr = asr
        self._asr_pool = asr_pool
        self._asr_lock = threading.Lock()  # the recognizer is used from worker threads
        self._asr_model_dir = asr_model_dir
        self._out: asyncio.Queue[dict | None] = asyncio.Queue()
        self._in: asyncio.Queue[tuple] = asyncio.Queue()
        self._closed = False
        self._worker: asyncio.Task | None = None
        self._items: dict[str, _Item] = {}
        self._order: list[str] = []
        self._pending_user: list[str] = []  # user texts not answered yet
        self._response: _Response | None = None
        self._last_assistant: str | None = None
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
        self._stopped_at: float | None = None  # monotonic time of the last speech_stopped
        self.turn_latencies: list[float] = []  # speech_stopped → first audio delta, seconds
        persona = getattr(dialogue, "persona", None)
        if persona is None and dialogue_factory is None:
            from livehuman.brain.persona import load_persona

            persona = load_persona()
        voice = voice or getattr(persona, "voice", None) or "en-us"
        if instructions is None:
            instructions = getattr(persona, "instructions", None)
        self.session: dict = {
            "type": "realtime",
            "model": MODEL_NAME,
            "output_modalities": ["audio"],
            "instructions": instructions or "",
            "audio": {
                "input": {
                    "format": {"type": "audio/pcm", "rate": AUDIO_RATE},
                    "transcription": {"model": "livehuman-asr"},
                    "turn_detection": {**DEFAULT_TURN_DETECTION, **(turn_detection or {})},
                },
                "output": {"format": {"type": "audio/pcm", "rate": AUDIO_RATE}, "voice": voice},
            },
        }
        self._emit({"type": "session.created", "session": copy.deepcopy(self.session)})

    # -- the Brain interface -------------------------------------------------------------

    async def send(self, event: dict) -> None:
        """Handle one client event; problems become `error` events, never exceptions."""
        if self._closed:
            return
        self._start()
        kind = event.get("type")
        event_id = event.get("event_id")
        handler = getattr(self, "_client_" + str(kind).replace(".", "_"), None) if kind in CLIENT_EVENTS else None
        try:
            if handler is None:
                raise EventError(f"unsupported event type {kind!r}", code="invalid_event_type", param="type")
            await handler(event)
        except EventError as exc:
            self._emit(error_event(exc.message, code=exc.code, param=exc.param, event_id=event_id))
        except LivehumanError as exc:
            self._emit(error_event(str(exc), code="invalid_value", event_id=event_id))
        except (KeyError, TypeError, ValueError) as exc:
            self._emit(error_event(f"invalid {kind}: {exc}", code="invalid_value", event_id=event_id))

    async def events(self) -> AsyncIterator[dict]:
        """Server events until `close()`."""
        self._start()
        async for event in until_closed(self._out):
            yield event

    async def close(self) -> None:
        """Cancel the response in flight and the input worker; end `events()`."""
        if self._closed:
            return
        self._closed = True
        self._discard_speculation(None)
        tasks = [t for t in (self._worker, self._response and self._response.task) if t]
        for task in tasks:
            task.cancel()
        for task in tasks:
            try:
                await task
            except BaseException:  # noqa: BLE001 - tasks end however they end
                pass
        if self._asr_pool is not None and self._asr is not None:
            await asyncio.to_thread(self._release_asr)
        self._out.put_nowait(None)

    def _release_asr(self) -> None:
        with self._asr_lock:  # a cancelled worker's thread may still be using it
            asr, self._asr = self._asr, None
        if asr is not None:
            self._asr_pool.release(asr)

    async def say(self, text: str) -> None:
        """Speak `text` verbatim as a response (a greeting, a notice), in the usual events.

        It cancels the response in flight, if any, and joins the dialogue's history.
        """
        if not text.strip():
            raise LivehumanError("nothing to say: the text is empty")
        self._start()
        await self._cancel("client_cancelled")
        self._start_response(self._modalities, script=text.strip())

    @property
    def _turn(self) -> dict | None:
        """The session's turn detection (None: manual turns, the client commits)."""
        return self.session["audio"]["input"]["turn_detection"]

    @property
    def _voice(self) -> str | None:
        return self.session["audio"]["output"].get("voice")

    @property
    def _modalities(self) -> list[str]:
        return list(self.session.get("output_modalities") or ["audio"])

    # -- client events ---------------------------------------------------------------------

    async def _client_session_update(self, event: dict) -> None:
        update = event["session"]
        if update.get("type", "realtime") != "realtime":
            raise EventError("only realtime sessions are supported", code="invalid_value", param="session.type")
        session = copy.deepcopy(self.session)
        merge_session(session, {k: v for k, v in update.items() if k != "type"})
        audio = session.get("audio", {})
        for side in ("input", "output"):
            fmt = (audio.get(side) or {}).get("format") or {}
            if fmt.get("type", "audio/pcm") != "audio/pcm" or fmt.get("rate", AUDIO_RATE) != AUDIO_RATE:
                raise EventError("only audio/pcm at 24000 Hz is supported", code="invalid_value",
                                 param=f"session.audio.{side}.format")
        modalities = session.get("output_modalities") or ["audio"]
        if len(modalities) != 1:
            raise EventError("output_modalities must be ['audio'] or ['text']", code="invalid_value",
                             param="session.output_modalities")
        voice = (audio.get("output") or {}).get("voice")
        if voice != self._voice and isinstance(voice, str):
            self._tts = await asyncio.to_thread(self._make_tts, voice)
        given = (update.get("audio") or {}).get("input") or {}
        if "turn_detection" in given:
            turn = _with_defaults(given["turn_detection"])
            session["audio"]["input"]["turn_detection"] = turn
            if turn != self.session["audio"]["input"].get("turn_detection"):
                await self._in.put(("vad", turn))
        if session.get("instructions") and self._dialogue is not None and hasattr(self._dialogue, "instructions"):
            try:
                self._dialogue.instructions = session["instructions"]
            except AttributeError:
                pass
        self.session = session
        self._emit({"type": "session.updated", "session": copy.deepcopy(session)})

    async def _client_input_audio_buffer_append(self, event: dict) -> None:
        try:
            samples = decode_pcm16(event["audio"])
        except (ValueError, TypeError) as exc:
            raise EventError(f"audio is not valid base64 PCM16: {exc}", code="invalid_value", param="audio") from None
        await self._in.put(("audio", samples))

    async def _client_input_audio_buffer_commit(self, event: dict) -> None:
        await self._in.put(("commit", event.get("event_id")))

    async def _client_input_audio_buffer_clear(self, event: dict) -> None:
        await self._in.put(("clear", event.get("event_id")))

    async def _client_conversation_item_create(self, event: dict) -> None:
        item = copy.deepcopy(event["item"])
        role = item.get("role")
        if item.get("type") != "message" or role not in ("user", "system", "assistant"):
            raise EventError("only messages can be created here", code="invalid_value", param="item.type")
        kinds = ("output_text", "output_audio") if role == "assistant" else ("input_text",)
        texts = []
        for part in item.get("content") or []:
            if part.get("type") not in kinds:
                raise EventError(f"unsupported content type {part.get('type')!r} for a {role} message "
                                 f"(use {' or '.join(kinds)})", code="invalid_value", param="item.content")
            texts.append(part.get("text") or part.get("transcript") or "")
        item.setdefault("id", new_id("item"))
        if item["id"] in self._items:
            raise EventError(f"item {item['id']!r} already exists", code="invalid_value", param="item.id")
        item["object"] = "realtime.item"
        item["status"] = "completed"
        self._add_item(item, event.get("previous_item_id"))
        self._emit({"type": "conversation.item.done", "item": copy.deepcopy(item),
                    "previous_item_id": self._previous(item["id"])})
        text = " ".join(t for t in texts if t).strip()
        if role == "user":
            if text:
                self._pending_user.append(text)
        elif role == "assistant":
            # A replayed exchange (e.g. after a client reconnects): it is history, already answered.
            await asyncio.to_thread(self._ensure_dialogue)
            self._remember(" ".join(self._pending_user), text)
            self._pending_user.clear()
        else:
            await asyncio.to_thread(self._ensure_dialogue)
            if hasattr(self._dialogue, "instructions"):
                self._dialogue.instructions = text

    async def _client_conversation_item_truncate(self, event: dict) -> None:
        item = self._items.get(event["item_id"])
        if item is None:
            raise EventError(f"no item with id {event['item_id']!r}", code="item_not_found", param="item_id")
        if item.data.get("role") != "assistant" or not item.segments and item.audio_ms == 0:
            raise EventError("only an assistant item with audio can be truncated", code="invalid_value",
                             param="item_id")
        if event["content_index"] != 0:
            raise EventError("content_index must be 0", code="invalid_value", param="content_index")
        end_ms = event["audio_end_ms"]
        if end_ms < 0 or end_ms > item.audio_ms + 1:
            raise EventError(f"audio_end_ms {end_ms} is past the item's audio ({int(item.audio_ms)} ms)",
                             code="invalid_value", param="audio_end_ms")
        response = self._response
        if response is not None and response.item_id == item.data["id"]:
            await self._cancel("client_cancelled")
        heard = heard_text(item.segments, end_ms)
        content = item.data["content"][0]
        content["transcript"] = heard
        if self._dialogue is not None and item.data["id"] == self._last_assistant:
            self._dialogue.truncate_last_reply(heard)
        self._emit({"type": "conversation.item.truncated", "item_id": item.data["id"], "content_index": 0,
                    "audio_end_ms": end_ms})

    async def _client_response_create(self, event: dict) -> None:
        if self._response is not None:
            raise EventError(f"conversation already has an active response {self._response.id}",
                             code="conversation_already_has_active_response")
        params = event.get("response") or {}
        modalities = params.get("output_modalities") or self.session.get("output_modalities") or ["audio"]
        if len(modalities) != 1:
            raise EventError("output_modalities must be ['audio'] or ['text']", code="invalid_value",
                             param="response.output_modalities")
        self._start_response(modalities)

    async def _client_response_cancel(self, event: dict) -> None:
        response = self._response
        wanted = event.get("response_id")
        if response is None or (wanted and wanted != response.id):
            raise EventError("there is no active response to cancel", code="response_cancel_not_active")
        await self._cancel("client_cancelled")

    async def _client_conversation_item_delete(self, event: dict) -> None:
        item_id = event["item_id"]
        if item_id not in self._items:
            raise EventError(f"no item with id {item_id!r}", code="item_not_found", param="item_id")
        del self._items[item_id]
        self._order.remove(item_id)
        self._emit({"type": "conversation.item.deleted", "item_id": item_id})

    async def _client_conversation_item_retrieve(self, event: dict) -> None:
        item = self._items.get(event["item_id"])
        if item is None:
            raise EventError(f"no item with id {event['item_id']!r}", code="item_not_found", param="item_id")
        self._emit({"type": "conversation.item.retrieved", "item": copy.deepcopy(item.data)})

    async def _client_output_audio_buffer_clear(self, event: dict) -> None:
        # Over a WebSocket the client holds the output buffer; stopping generation is what's left.
        if self._response is not None:
            await self._cancel("client_cancelled")

    # -- input audio: VAD, ASR, turns ------------------------------------------------------

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
        except Exception as exc:  # noqa: BLE001 - report it; the session goes on
            log.exception("local brain input failed")
            self._speaking_item = None
            self._emit(error_event(f"speech input failed: {exc}", type="server_error"))

    def _ensure_asr(self) -> None:
        """Build the recognizer on first use (in a worker thread), biased to the knowledge base."""
        if self._asr is not None:
            return
        if self._asr_pool is not None:
            self._asr = self._asr_pool.acquire()
            return
        self._ensure_dialogue()
        self._asr = knowledge_asr(getattr(self._dialogue, "knowledge", None), self._asr_model_dir)

    @property
    def dialogue(self) -> Any:
        """The Dialogue behind this brain (None until first needed)."""
        return self._dialogue

    def _ensure_dialogue(self) -> None:
        with self._dialogue_lock:
            if self._dialogue is None:
                dialogue = self._dialogue_factory()
                if self.session.get("instructions") and hasattr(dialogue, "instructions"):
                    dialogue.instructions = self.session["instructions"]
                self._dialogue = dialogue

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

    def _analyse(self, samples24: np.ndarray) -> list[tuple[str, Any]]:
        """Runs in a worker thread: resample, VAD, and streaming ASR while someone speaks."""
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
            t = self._vad_offset + int(round(ev.time * ASR_RATE))
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
        """Runs in a worker thread: a new utterance's recognition, from the speech's start."""
        with self._asr_lock:
            if self._closed or self._asr is None:
                return None
            self._asr.reset()
            return self._asr.accept(samples16)

    # -- speculative replies -----------------------------------------------------------------

    async def _speculate(self) -> None:
        """The user paused: prepare the reply to what they said so far, emitting nothing."""
        turn = self._turn or {}
        if (self._speaking_item is None or self._response is not None or self._pending_user
                or not turn.get("create_response", True)):
            return
        self._discard_speculation(None)
        transcript = (await asyncio.to_thread(self._hypothesis) or "").strip()
        if not transcript or self._speaking_item is None:
            return
        spec = _Speculation(transcript, self._modalities)
        spec.task = asyncio.get_running_loop().create_task(self._prepare(spec))
        self._spec = spec

    def _hypothesis(self) -> str | None:
        with self._asr_lock:
            if self._closed or self._asr is None:
                return None
            return self._asr.hypothesis()

    async def _prepare(self, spec: _Speculation) -> None:
        if self._dialogue is None:
            await asyncio.to_thread(self._ensure_dialogue)
        audio = "audio" in spec.modalities
        if audio:
            await self._load_tts()
        spec.dialogue = _fork(self._dialogue)
        spec.source = spec.dialogue.reply(spec.transcript)
        pending = ""
        while len(_SENTENCE_END.split(pending)) < 2:  # until the first sentence is whole
            try:
                piece = await spec.source.__anext__()
            except StopAsyncIteration:
                spec.ended = True
                break
            spec.pieces.append(piece)
            pending += piece
        first = _SENTENCE_END.split(pending)[0].strip()
        if audio and first and re.search(r"\w", first) and len(first) <= MAX_SENTENCE_CHARS:
            spec.speech[first] = await asyncio.to_thread(self._synthesize, first)

    def _discard_speculation(self, outcome: str | None) -> None:
        spec, self._spec = self._spec, None
        if spec is None:
            return
        if spec.task is not None:
            spec.task.cancel()
        if outcome is not None:
            self.speculations[outcome] += 1

    async def _take_speculation(self, user_text: str) -> _Speculation | None:
        """The prepared reply if it answers exactly `user_text` and is ready; else None (dropped)."""
        spec, self._spec = self._spec, None
        if spec is None:
            return None
        modalities = self._modalities
        if spec.transcript != user_text.strip() or spec.task is None or spec.modalities != modalities:
            self._spec = spec
            self._discard_speculation("missed")
            return None
        try:
            await spec.task
        except asyncio.CancelledError:
            if asyncio.current_task().cancelling():
                raise
            return None
        except Exception:  # noqa: BLE001 - the ordinary path will answer, and report any error
            log.exception("speculative reply failed")
            self.speculations["missed"] += 1
            return None
        return spec

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

    def _finish_asr(self) -> str:
        with self._asr_lock:
            return self._asr.finish() if self._asr is not None else ""

    def _recognize(self, audio: np.ndarray) -> str:
        with self._asr_lock:
            if self._closed:
                return ""
            self._ensure_asr()
            self._asr.reset()
            self._asr.accept(audio)
            return self._asr.finish()

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

    # -- responses ---------------------------------------------------------------------

    def _start_response(self, modalities: list[str], script: str | None = None,
                        speculation: _Speculation | None = None) -> None:
        response = _Response(id=new_id("resp"), item_id=new_id("item"), modalities=list(modalities),
                             script=script, speculation=speculation)
        self._response = response
        self._emit({"type": "response.created", "response": self._response_resource(response, "in_progress")})
        response.task = asyncio.get_running_loop().create_task(self._run_response(response))

    def _response_resource(self, response: _Response, status: str, reason: str | None = None,
                           output: list | None = None) -> dict:
        resource: dict[str, Any] = {
            "id": response.id, "object": "realtime.response", "status": status,
            "output": output or [], "output_modalities": response.modalities,
            "conversation_id": "conv_livehuman",
        }
        if status != "in_progress":
            details: dict[str, Any] = {"type": status}
            if reason:
                details["reason"] = reason
            resource["status_details"] = details
        return resource

    def _assistant_item(self, response: _Response, status: str) -> dict:
        text = "".join(response.text).strip()
        if "audio" in response.modalities:
            content = {"type": "output_audio", "transcript": text}
        else:
            content = {"type": "output_text", "text": text}
        return {"id": response.item_id, "type": "message", "role": "assistant", "object": "realtime.item",
                "status": status, "content": [content] if response.started else []}

    def _ids(self, response: _Response) -> dict:
        return {"response_id": response.id, "item_id": response.item_id, "output_index": 0, "content_index": 0}

    async def _run_response(self, response: _Response) -> None:
        try:
            await self._generate(response)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - a failed reply must end the response, not the session
            log.exception("local brain response failed")
            self._finish(response, "failed", None)
            self._emit(error_event(f"the reply failed: {exc}", type="server_error"))
            return
        self._finish(response, "completed", None)

    async def _generate(self, response: _Response) -> None:
        if self._dialogue is None:
            await asyncio.to_thread(self._ensure_dialogue)
        audio = "audio" in response.modalities
        user_text = " ".join(self._pending_user).strip()
        self._pending_user.clear()
        item = self._assistant_item(response, "in_progress")
        self._emit({"type": "response.output_item.added", "response_id": response.id, "output_index": 0,
                    "item": copy.deepcopy(item)})
        self._add_item(item, None)
        self._last_assistant = response.item_id
        part = {"type": "audio", "transcript": ""} if audio else {"type": "text", "text": ""}
        self._emit({"type": "response.content_part.added", **self._ids(response), "part": part})
        response.started = True
        if audio:
            await self._load_tts()
        pending = ""
        source = (response.speculation.resume() if response.speculation is not None
                  else self._reply(user_text, response.script))
        async for piece in source:
            if not audio:
                response.text.append(piece)
                self._emit({"type": "response.output_text.delta", **self._ids(response), "delta": piece})
                continue
            pending += piece
            parts = _SENTENCE_END.split(pending)
            for sentence in parts[:-1]:
                await self._speak(response, sentence)
            pending = parts[-1]
            if len(pending) > MAX_SENTENCE_CHARS and "," in pending:
                head, _, pending = pending.rpartition(",")
                await self._speak(response, head + ",")
        if audio and pending.strip():
            await self._speak(response, pending)

    async def _reply(self, user_text: str, script: str | None) -> AsyncIterator[str]:
        if script is not None or not user_text:
            if script is None:
                # Nothing new from the user: greet first (a client's opening response.create),
                # later invite the next question.
                persona = getattr(self._dialogue, "persona", None)
                script = (FOLLOW_UP if any(i.data.get("role") == "assistant" and i.data["id"] != self._last_assistant
                                           for i in self._items.values())
                          else getattr(persona, "greeting", None) or "Hello!")
            self._remember(user_text, script)
            yield script
            return
        async for piece in self._dialogue.reply(user_text):
            yield piece

    async def _load_tts(self) -> None:
        if self._tts is None:
            self._tts = await asyncio.to_thread(self._make_tts, self._voice)

    def _remember(self, user_text: str, reply: str) -> None:
        """Put an exchange the dialogue did not answer itself (a script, a replayed reply) in its history."""
        history = getattr(self._dialogue, "history", None)
        if isinstance(history, list):
            if user_text:
                history.append({"role": "user", "content": user_text})
            history.append({"role": "assistant", "content": reply})

    def _make_tts(self, voice: str | None) -> Any:
        from livehuman.speech.espeak import EspeakTTS

        try:
            return EspeakTTS(voice or "en-us")
        except LivehumanError:
            # An OpenAI voice name ("marin", "alloy") means nothing to espeak-ng: keep speaking.
            if self._tts is not None:
                return self._tts
            return EspeakTTS("en-us")

    async def _speak(self, response: _Response, sentence: str) -> None:
        sentence = sentence.strip()
        if not sentence or not re.search(r"\w", sentence):
            return
        prepared = response.speculation.speech.pop(sentence, None) if response.speculation else None
        speeches = prepared if prepared is not None else await asyncio.to_thread(self._synthesize, sentence)
        item = self._items.get(response.item_id)
        step = AUDIO_RATE * DELTA_MS // 1000
        for speech, samples in speeches:
            start_ms = response.samples * 1000 / AUDIO_RATE
            text = (speech.text or sentence).strip()
            phones = speech.phones or []
            end_ms = start_ms + len(samples) * 1000 / AUDIO_RATE
            voiced = ((start_ms + phones[0].start * 1000, start_ms + phones[-1].end * 1000) if phones
                      else (start_ms, end_ms))
            segment = Segment(start_ms, end_ms, text, voiced)
            response.segments.append(segment)
            if item is not None:
                item.segments.append(segment)
            if phones:
                self._emit({"type": PHONES_EVENT, "response_id": response.id, "item_id": response.item_id,
                            "audio_start_ms": int(round(start_ms)),
                            "phones": [{"symbol": p.symbol, "start": p.start, "end": p.end} for p in phones]})
            delta = (" " if response.text else "") + text
            response.text.append(delta)
            self._emit({"type": "response.output_audio_transcript.delta", **self._ids(response), "delta": delta})
            for i in range(0, len(samples), step):
                await self._pace(response)
                if self._stopped_at is not None:
                    self.turn_latencies.append(time.monotonic() - self._stopped_at)
                    self._stopped_at = None
                chunk = samples[i : i + step]
                self._emit({"type": "response.output_audio.delta", **self._ids(response),
                            "delta": encode_pcm16(chunk)})
                response.samples += len(chunk)
                if item is not None:
                    item.audio_ms = response.samples * 1000 / AUDIO_RATE
            # Let the consumer (and a barge-in) run between sentences.
            await asyncio.sleep(0)

    async def _pace(self, response: _Response) -> None:
        """With `pace_ahead_s`, keep the audio sent at most that far ahead of real time."""
        if self.pace_ahead_s is None:
            return
        now = time.monotonic()
        if response.t0 is None:
            response.t0 = now
        ahead = response.samples / AUDIO_RATE - (now - response.t0)
        if ahead > self.pace_ahead_s:
            await asyncio.sleep(ahead - self.pace_ahead_s)

    def _synthesize(self, sentence: str) -> list[tuple[Any, np.ndarray]]:
        out = []
        for speech in self._tts.sentences(sentence):
            out.append((speech, resample(speech.audio, AUDIO_RATE).samples))
        return out

    async def _cancel(self, reason: str) -> None:
        response = self._response
        if response is None:
            return
        task = response.task
        if task is not None and task is not asyncio.current_task():
            task.cancel()
            try:
                await task
            except BaseException:  # noqa: BLE001
                pass
        if self._response is response:
            self._finish(response, "cancelled", reason)

    def _finish(self, response: _Response, status: str, reason: str | None) -> None:
        if self._response is not response:
            return
        self._response = None
        item_status = "completed" if status == "completed" else "incomplete"
        output = []
        if response.started:
            ids = self._ids(response)
            text = "".join(response.text).strip()
            if "audio" in response.modalities:
                self._emit({"type": "response.output_audio.done", **ids})
                self._emit({"type": "response.output_audio_transcript.done", **ids, "transcript": text})
                part = {"type": "audio", "transcript": text}
            else:
                self._emit({"type": "response.output_text.done", **ids, "text": text})
                part = {"type": "text", "text": text}
            self._emit({"type": "response.content_part.done", **ids, "part": part})
            item = self._assistant_item(response, item_status)
            stored = self._items.get(response.item_id)
            if stored is not None:
                stored.data = copy.deepcopy(item)
            self._emit({"type": "response.output_item.done", "response_id": response.id, "output_index": 0,
                        "item": copy.deepcopy(item)})
            self._emit({"type": "conversation.item.done", "item": copy.deepcopy(item),
                        "previous_item_id": self._previous(response.item_id)})
            output = [item]
        self._emit({"type": "response.done", "response": self._response_resource(response, status, reason, output)})

    # -- conversation bookkeeping ------------------------------------------------------------

    def _add_item(self, item: dict, previous_item_id: str | None) -> None:
        item_id = item["id"]
        if previous_item_id and previous_item_id in self._order:
            self._order.insert(self._order.index(previous_item_id) + 1, item_id)
        elif previous_item_id == "root":
            self._order.insert(0, item_id)
        else:
            self._order.append(item_id)
        self._items[item_id] = _Item(copy.deepcopy(item))
        self._emit({"type": "conversation.item.added", "item": copy.deepcopy(item),
                    "previous_item_id": self._previous(item_id)})

    def _previous(self, item_id: str) -> str | None:
        i = self._order.index(item_id) if item_id in self._order else 0
        return self._order[i - 1] if i > 0 else None

    def _emit(self, event: dict) -> None:
        if "event_id" not in event:
            event = {"event_id": new_id("event"), **event}
        self._out.put_nowait(event)


def knowledge_asr(knowledge: Any, model_dir: str | None, *, second_pass: bool = True) -> Any:
    """A StreamingASR biased to the knowledge base's questions (blocking: building one takes seconds)."""
    from livehuman.speech.asr import make_asr

    vocabulary = []
    for entry in getattr(knowledge, "entries", None) or []:
        vocabulary += [entry.question, *entry.also]
    return make_asr(model_dir, vocabulary=vocabulary or None, second_pass=second_pass)


def _with_defaults(turn: dict | None) -> dict | None:
    """A session.update's turn_detection with its type's defaults filled in (None: manual turns)."""
    if turn is None:
        return None
    given = {k: v for k, v in turn.items() if v is not None}
    if turn.get("type") == "semantic_vad":
        return {"type": "semantic_vad", "eagerness": "auto", "create_response": True, "interrupt_response": True,
                **given}
    return {**DEFAULT_TURN_DETECTION, **given}


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


class LocalBrainFactory:
    """Makes one LocalBrain per session, sharing the slow parts: knowledge base and recognizers.

    Pass it as `brain_factory` to `realtime_routes`; call `warm_up()` in a thread at start-up so
    that the first session does not wait for the embedding model and the recognizer.
    """

    def __init__(self, persona: Any = None, knowledge: Any = None, *, llm_url: str | None = None,
                 llm_model: str | None = None, asr_model_dir: str | None = None, voice: str | None = None,
                 pace_ahead_s: float | None = None, asr_second_pass: bool = True,
                 turn_detection: dict | None = None, speculate_ms: int | None = None) -> None:
        from livehuman.brain.knowledge import load_knowledge
        from livehuman.brain.persona import load_persona

        self.persona = persona if persona is not None else load_persona()
        self.knowledge = knowledge if knowledge is not None else load_knowledge()
        self.llm_url = llm_url
        self.llm_model = llm_model
        self.voice = voice or self.persona.voice
        self.pace_ahead_s = pace_ahead_s
        self.asr_model_dir = asr_model_dir
        # Without pocketsphinx's second pass, the final transcript comes ~150 ms sooner, a bit worse.
        self.asr_second_pass = asr_second_pass
        self.turn_detection = turn_detection  # see LocalBrain
        self.speculate_ms = speculate_ms
        self.asr_pool = AsrPool(self._make_asr)

    def _make_asr(self) -> Any:
        return knowledge_asr(self.knowledge, self.asr_model_dir, second_pass=self.asr_second_pass)

    def dialogue(self) -> Any:
        """A fresh conversation over the shared knowledge base."""
        from livehuman.brain.dialogue import Dialogue

        return Dialogue(self.persona, self.knowledge, self.llm_url, self.llm_model)

    def warm_up(self) -> None:
        """Load the embedding model, embed the knowledge base and build one recognizer (blocking)."""
        self.dialogue()
        self.asr_pool.release(self.asr_pool.acquire())

    def __call__(self, request: Any = None) -> LocalBrain:
        return LocalBrain(dialogue_factory=self.dialogue, voice=self.voice, asr_pool=self.asr_pool,
                          instructions=self.persona.instructions, pace_ahead_s=self.pace_ahead_s,
                          turn_detection=self.turn_detection, speculate_ms=self.speculate_ms)
