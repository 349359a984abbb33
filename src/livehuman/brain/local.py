"""The built-in offline brain (VAD → ASR → dialogue → TTS) speaking the Realtime protocol.

LocalBrain is one class, its methods in four modules by what they do:

- local.py (here): the Brain interface, the session, client events and the conversation's items;
- local_input.py: the input side: VAD, the recognizer (and its lock), turns, committed user items;
- local_speculation.py: the reply prepared while the user pauses, held until the turn ends;
- local_responses.py: the response side: the dialogue's reply as text, speech and their events.

local_factory.py makes one LocalBrain per session, sharing the slow parts between sessions.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import threading
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

from livehuman.brain.events import (
    AUDIO_RATE,
    CLIENT_EVENTS,
    EventError,
    decode_pcm16,
    error_event,
    merge_session,
    new_id,
    until_closed,
)
from livehuman.brain.heard import Segment, heard_text
from livehuman.brain.local_factory import LocalBrainFactory
from livehuman.brain.local_input import (
    DEFAULT_TURN_DETECTION,
    AsrPool,
    InputSide,
    knowledge_asr,
    turn_detection_with_defaults,
)
from livehuman.brain.local_responses import ResponseSide
from livehuman.brain.local_speculation import Speculating
from livehuman.errors import LivehumanError

# What other modules import from here (the factory and the recognizers have modules of their own).
__all__ = ["AsrPool", "LocalBrain", "LocalBrainFactory", "default_dialogue", "heard_text", "knowledge_asr"]

MODEL_NAME = "livehuman"


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


class LocalBrain(InputSide, Speculating, ResponseSide):
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

    Everything runs on the event loop of its first call except the blocking work (VAD and
    recognizer, building the dialogue, text-to-speech), which runs in worker threads.
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
        self._dialogue: Any = dialogue
        self._dialogue_factory = dialogue_factory or default_dialogue
        self._dialogue_lock = threading.Lock()
        self._out: asyncio.Queue[dict | None] = asyncio.Queue()
        self._closed = False
        self._items: dict[str, _Item] = {}
        self._order: list[str] = []
        self._pending_user: list[str] = []  # user texts not answered yet
        self._stopped_at: float | None = None  # monotonic time of the last speech_stopped
        self.turn_latencies: list[float] = []  # speech_stopped → first audio delta, seconds
        # Each side's own state is set up next to the code that uses it.
        self._init_input(asr, asr_pool, asr_model_dir)
        self._init_speculation(speculate_ms)
        self._init_responses(tts, pace_ahead_s)
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
            with contextlib.suppress(BaseException):  # tasks end however they end
                await task
        if self._asr_pool is not None and self._asr is not None:
            await asyncio.to_thread(self._release_asr)
        self._out.put_nowait(None)

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

    @property
    def dialogue(self) -> Any:
        """The Dialogue behind this brain (None until first needed)."""
        return self._dialogue

    def _ensure_dialogue(self) -> None:
        """Build the dialogue on first use (blocking: in a worker thread, whichever side needs it first)."""
        with self._dialogue_lock:
            if self._dialogue is None:
                dialogue = self._dialogue_factory()
                if self.session.get("instructions") and hasattr(dialogue, "instructions"):
                    dialogue.instructions = self.session["instructions"]
                self._dialogue = dialogue

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
            turn = turn_detection_with_defaults(given["turn_detection"])
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

