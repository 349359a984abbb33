"""The one adapter between the OpenAI Realtime protocol (GA) and livehuman's typed brain.

Both directions, both sides:

- `ServerWire` serves one Brain at `/v1/realtime`: a client's events (dicts, already validated)
  become Brain commands, and the brain's speech events become the protocol's server events, with
  the conversation's items and the session object the protocol shows around them.
- `ClientWire` is the other end, for RealtimeBrain: commands become client events, and a server's
  events become speech events.

JSON text is (de)serialized by the transports (brain/server.py, brain/client.py); base64 PCM16 at
24 kHz exists only here.
"""

from __future__ import annotations

import base64
import copy
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from livehuman.brain.base import Brain, RequestError, SessionSettings, TurnDetection
from livehuman.brain.events import CLIENT_EVENTS, error_event, new_id
from livehuman.brain.speech_events import (
    BrainError,
    InputCleared,
    Notice,
    ReplyAudio,
    ReplyAudioDone,
    ReplyDone,
    ReplyHeld,
    ReplyResumed,
    ReplyStarted,
    ReplyTranscriptDelta,
    ReplyTranscriptDone,
    ReplyTruncated,
    SpeechEvent,
    UserSpeechStarted,
    UserSpeechStopped,
    UserTranscriptDelta,
    UserTranscriptDone,
)
from livehuman.errors import LivehumanError
from livehuman.rates import REALTIME_RATE
from livehuman.speech.audio import StreamResampler, from_pcm16, pcm16_bytes

MODEL_NAME = "livehuman"
SEMANTIC_KEYS = ("eagerness", "create_response", "interrupt_response")
SERVER_VAD_KEYS = ("threshold", "prefix_padding_ms", "silence_duration_ms", "create_response", "interrupt_response")
# What the SDK's types let through but no voice detector can use (a threshold of 1e308).
VAD_RANGES = {"threshold": (0.0, 1.0), "prefix_padding_ms": (0, 10_000), "silence_duration_ms": (0, 10_000)}
MAX_ITEMS = 200  # conversation items kept per connection (the oldest are forgotten)


# -- audio ------------------------------------------------------------------------------------


def encode_pcm16(samples: np.ndarray) -> str:
    """float32 [-1, 1] samples → base64 little-endian PCM16."""
    return base64.b64encode(pcm16_bytes(samples)).decode("ascii")


def decode_pcm16(data: str) -> np.ndarray:
    """base64 little-endian PCM16 → float32 samples in [-1, 1]; RequestError when it is not that."""
    try:
        raw = base64.b64decode(data, validate=True)
    except (ValueError, TypeError) as exc:
        raise RequestError(f"audio is not valid base64 PCM16: {exc}", param="audio") from None
    if len(raw) % 2:
        raise RequestError("audio must be whole PCM16 samples (an even number of bytes)", param="audio")
    return from_pcm16(raw)


def _at_realtime_rate(samples: np.ndarray, rate: int, resampler: StreamResampler | None) -> np.ndarray:
    if rate == REALTIME_RATE:
        return samples
    return (resampler or StreamResampler(rate, REALTIME_RATE)).process(samples)


# -- the session object --------------------------------------------------------------------------


def turn_detection_dict(turn: TurnDetection | None) -> dict | None:
    """The protocol's `turn_detection` for typed settings."""
    if turn is None:
        return None
    keys = SEMANTIC_KEYS if turn.kind == "semantic_vad" else SERVER_VAD_KEYS
    return {"type": turn.kind, **{key: getattr(turn, key) for key in keys}}


def turn_detection_of(data: dict | None) -> TurnDetection | None:
    """Typed turn detection from the protocol's (its type's defaults for what it leaves out)."""
    if data is None:
        return None
    given = {k: v for k, v in data.items() if v is not None}
    kind = given.get("type", "server_vad")
    keys = SEMANTIC_KEYS if kind == "semantic_vad" else SERVER_VAD_KEYS
    return TurnDetection(kind=kind, **{key: given[key] for key in keys if key in given})


def session_dict(settings: SessionSettings) -> dict:
    """The session object `/v1/realtime` shows for a brain's settings."""
    session = session_config(voice=settings.voice, instructions=settings.instructions,
                             turn_detection=turn_detection_dict(settings.turn_detection),
                             transcription_model="livehuman-asr", model=MODEL_NAME,
                             output_modalities=["audio" if settings.audio else "text"])
    session.setdefault("instructions", "")  # shown even when empty
    return session


def settings_of(session: dict) -> SessionSettings:
    """Typed settings from a session object (what the protocol leaves out keeps its default)."""
    audio = session.get("audio") or {}
    audio_in, audio_out = audio.get("input") or {}, audio.get("output") or {}
    turn = turn_detection_of(audio_in["turn_detection"]) if "turn_detection" in audio_in else TurnDetection()
    modalities = session.get("output_modalities") or ["audio"]
    return SessionSettings(instructions=session.get("instructions") or "", voice=audio_out.get("voice"),
                           turn_detection=turn, audio="audio" in modalities)


def merge_session(target: dict, update: dict) -> None:
    """Apply a session.update's fields to `target` in place (a new `turn_detection` replaces the old whole)."""
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(target.get(key), dict) and key != "turn_detection":
            merge_session(target[key], value)
        else:
            target[key] = value


def check_session_shape(target: dict, update: dict, path: str = "session") -> None:
    """Refuse an update that would replace one of the session's objects with something else.

    `"audio": null` would leave the session without its audio settings; only `turn_detection`
    may be null (manual turns).
    """
    for key, value in update.items():
        if not isinstance(target.get(key), dict) or key == "turn_detection":
            continue
        if not isinstance(value, dict):
            raise RequestError(f"{path}.{key} must be an object", param=f"{path}.{key}")
        check_session_shape(target[key], value, f"{path}.{key}")


def session_config(
    *,
    voice: str | None,
    instructions: str | None = None,
    turn_detection: dict | None | str = "server_vad",
    transcription_model: str | None,
    noise_reduction: str | None = None,
    speed: float | None = None,
    output_modalities: list[str] | None = None,
    model: str | None = None,
) -> dict:
    """A GA `session.update` session object with PCM16 24 kHz both ways.

    `turn_detection` is a dict as the protocol defines it, "server_vad" or "semantic_vad" for
    their defaults, or None for manual turns (the client commits and asks for responses).
    """
    if isinstance(turn_detection, str):
        turn_detection = {"type": turn_detection}
    audio_in: dict[str, Any] = {"format": {"type": "audio/pcm", "rate": REALTIME_RATE}, "turn_detection": turn_detection}
    if transcription_model:
        audio_in["transcription"] = {"model": transcription_model}
    if noise_reduction:
        audio_in["noise_reduction"] = {"type": noise_reduction}
    audio_out: dict[str, Any] = {"format": {"type": "audio/pcm", "rate": REALTIME_RATE}}
    if voice:
        audio_out["voice"] = voice
    if speed is not None:
        audio_out["speed"] = float(speed)
    session: dict[str, Any] = {"type": "realtime", "audio": {"input": audio_in, "output": audio_out}}
    if model:
        session["model"] = model
    if instructions:
        session["instructions"] = instructions
    if output_modalities:
        session["output_modalities"] = list(output_modalities)
    return session


def session_update(current: dict, settings: SessionSettings) -> dict | None:
    """The `session.update` that takes session `current` to `settings` (None: nothing changes)."""
    now = settings_of(current)
    update: dict[str, Any] = {}
    if settings.instructions != now.instructions:
        update["instructions"] = settings.instructions
    if settings.audio != now.audio:
        update["output_modalities"] = ["audio" if settings.audio else "text"]
    audio: dict[str, Any] = {}
    if settings.turn_detection != now.turn_detection:
        audio["input"] = {"turn_detection": turn_detection_dict(settings.turn_detection)}
    if settings.voice and settings.voice != now.voice:
        audio["output"] = {"voice": settings.voice}
    if audio:
        update["audio"] = audio
    return {"type": "session.update", "session": {"type": "realtime", **update}} if update else None


# -- server side: one Brain at /v1/realtime ----------------------------------------------------


@dataclass
class _Reply:
    """A response as the protocol shows it, built from the brain's events."""

    id: str
    audio: bool
    item_id: str | None = None
    text: list[str] = field(default_factory=list)
    transcript: str | None = None
    resampler: StreamResampler | None = None


class ServerWire:
    """Serves one Brain in the Realtime protocol: the conversation's items and the session live here.

    `handle(event)` takes one validated client event and returns the server events to send at
    once (session.updated, items created, errors); `encode(event)` turns each speech event of
    the brain's into the server events that say it.
    """

    def __init__(self, brain: Brain, max_items: int = MAX_ITEMS) -> None:
        self.brain = brain
        self.max_items = max_items
        self.session = session_dict(brain.settings)
        self._items: dict[str, dict] = {}
        self._order: list[str] = []
        self._audio_ms: dict[str, float] = {}  # assistant items' audio so far
        self._replies: dict[str, _Reply] = {}

    def created(self) -> dict:
        return _event("session.created", session=copy.deepcopy(self.session))

    # client events → the brain

    async def handle(self, event: dict) -> list[dict]:
        """One client event: the brain's command, and what to answer now; problems become `error` events."""
        kind = event.get("type")
        handler = getattr(self, "_on_" + str(kind).replace(".", "_"), None) if kind in CLIENT_EVENTS else None
        try:
            if handler is None:
                raise RequestError(f"unsupported event type {kind!r}", code="invalid_event_type", param="type")
            return await handler(event)
        except RequestError as exc:
            return [error_event(exc.message, code=exc.code, param=exc.param, event_id=event.get("event_id"))]
        except LivehumanError as exc:
            return [error_event(str(exc), code="invalid_value", event_id=event.get("event_id"))]
        except (KeyError, TypeError, ValueError) as exc:
            return [error_event(f"invalid {kind}: {exc}", code="invalid_value", event_id=event.get("event_id"))]

    async def _on_session_update(self, event: dict) -> list[dict]:
        update = event["session"]
        if update.get("type", "realtime") != "realtime":
            raise RequestError("only realtime sessions are supported", param="session.type")
        session = copy.deepcopy(self.session)
        update_fields = {k: v for k, v in update.items() if k != "type"}
        check_session_shape(session, update_fields)
        merge_session(session, update_fields)
        audio = session.get("audio", {})
        for side in ("input", "output"):
            _check_pcm(audio.get(side), f"session.audio.{side}.format")
        voice = (audio.get("output") or {}).get("voice")
        if voice is not None and not isinstance(voice, str):  # the SDK allows {"id": …}: OpenAI's custom voices
            raise RequestError("custom voice objects are not supported: name a voice, e.g. \"en-us\" (the offline "
                               "brain's voices: `livehuman voices`)", code="invalid_value", param="session.audio.output.voice")
        if len(session.get("output_modalities") or ["audio"]) != 1:
            raise RequestError("output_modalities must be ['audio'] or ['text']", param="session.output_modalities")
        given = (update.get("audio") or {}).get("input") or {}
        for key, (low, high) in VAD_RANGES.items():
            value = (given.get("turn_detection") or {}).get(key)
            if value is not None and not low <= value <= high:
                raise RequestError(f"turn_detection.{key} must be between {low} and {high}, not {value}",
                                   param=f"session.audio.input.turn_detection.{key}")
        if "turn_detection" in given:
            session["audio"]["input"]["turn_detection"] = turn_detection_dict(turn_detection_of(given["turn_detection"]))
        await self.brain.update(settings_of(session))
        self.session = session
        return [_event("session.updated", session=copy.deepcopy(session))]

    async def _on_input_audio_buffer_append(self, event: dict) -> list[dict]:
        await self.brain.push_audio(decode_pcm16(event["audio"]), REALTIME_RATE)
        return []

    async def _on_input_audio_buffer_commit(self, event: dict) -> list[dict]:
        await self.brain.commit_audio()
        return []

    async def _on_input_audio_buffer_clear(self, event: dict) -> list[dict]:
        await self.brain.clear_audio()
        return []

    async def _on_conversation_item_create(self, event: dict) -> list[dict]:
        item = copy.deepcopy(event["item"])
        role = item.get("role")
        if item.get("type") != "message" or role not in ("user", "system", "assistant"):
            raise RequestError("only messages can be created here", param="item.type")
        kinds = ("output_text", "output_audio") if role == "assistant" else ("input_text",)
        texts = []
        for part in item.get("content") or []:
            if part.get("type") not in kinds:
                raise RequestError(f"unsupported content type {part.get('type')!r} for a {role} message "
                                   f"(use {' or '.join(kinds)})", param="item.content")
            texts.append(part.get("text") or part.get("transcript") or "")
        item.setdefault("id", new_id("item"))
        if item["id"] in self._items:
            raise RequestError(f"item {item['id']!r} already exists", param="item.id")
        previous = event.get("previous_item_id")
        if previous is not None and previous != "root" and previous not in self._items:
            raise RequestError(f"no item with id {previous!r} to put this one after ('root' puts it first)",
                               code="item_not_found", param="previous_item_id")
        item["object"] = "realtime.item"
        item["status"] = "completed"
        out = [self._add_item(item, event.get("previous_item_id"))]
        out.append(_event("conversation.item.done", item=copy.deepcopy(item), previous_item_id=self._previous(item["id"])))
        await self.brain.add_message(" ".join(t for t in texts if t).strip(), role, item["id"])
        return out

    async def _on_conversation_item_truncate(self, event: dict) -> list[dict]:
        item_id = event["item_id"]
        item = self._items.get(item_id)
        if item is None:
            raise RequestError(f"no item with id {item_id!r}", code="item_not_found", param="item_id")
        if item.get("role") != "assistant" or item_id not in self._audio_ms:
            raise RequestError("only an assistant item with audio can be truncated", param="item_id")
        if event["content_index"] != 0:
            raise RequestError("content_index must be 0", param="content_index")
        end_ms = event["audio_end_ms"]
        if end_ms < 0 or end_ms > self._audio_ms[item_id] + 1:
            raise RequestError(f"audio_end_ms {end_ms} is past the item's audio ({int(self._audio_ms[item_id])} ms)",
                               param="audio_end_ms")
        await self.brain.truncate(item_id, end_ms)
        return []

    async def _on_response_create(self, event: dict) -> list[dict]:
        params = event.get("response") or {}
        # What would make the reply other than the app expects is refused, not ignored.
        if params.get("conversation", "auto") != "auto" or params.get("input") is not None:
            raise RequestError("out-of-band responses (conversation \"none\", or an input of their own) are not "
                               "supported: the reply answers the conversation", param="response.conversation"
                               if params.get("conversation", "auto") != "auto" else "response.input")
        if params.get("tools"):
            raise RequestError("function calling is not supported by the offline brain", param="response.tools")
        _check_pcm((params.get("audio") or {}).get("output"), "response.audio.output.format")
        modalities = params.get("output_modalities") or self.session.get("output_modalities") or ["audio"]
        if len(modalities) != 1:
            raise RequestError("output_modalities must be ['audio'] or ['text']", param="response.output_modalities")
        await self.brain.respond(audio="audio" in modalities)
        return []

    async def _on_response_cancel(self, event: dict) -> list[dict]:
        wanted = event.get("response_id")
        if wanted and wanted not in self._replies:
            raise RequestError("there is no active response to cancel", code="response_cancel_not_active")
        await self.brain.cancel()
        return []

    async def _on_conversation_item_delete(self, event: dict) -> list[dict]:
        item_id = event["item_id"]
        if item_id not in self._items:
            raise RequestError(f"no item with id {item_id!r}", code="item_not_found", param="item_id")
        del self._items[item_id]
        self._order.remove(item_id)
        return [_event("conversation.item.deleted", item_id=item_id)]

    async def _on_conversation_item_retrieve(self, event: dict) -> list[dict]:
        item = self._items.get(event["item_id"])
        if item is None:
            raise RequestError(f"no item with id {event['item_id']!r}", code="item_not_found", param="item_id")
        return [_event("conversation.item.retrieved", item=copy.deepcopy(item))]

    async def _on_output_audio_buffer_clear(self, event: dict) -> list[dict]:
        # Over a WebSocket the client holds the output buffer; stopping generation is what's left.
        try:
            await self.brain.cancel()
        except RequestError:
            pass
        return []

    # the brain's events → server events

    def encode(self, event: SpeechEvent) -> list[dict]:
        """The server events that say `event` (none for livehuman's own, such as notices)."""
        match event:
            case UserSpeechStarted(item_id=item_id, audio_start_ms=ms):
                return [_event("input_audio_buffer.speech_started", audio_start_ms=ms, item_id=item_id)]
            case UserSpeechStopped(item_id=item_id, audio_end_ms=ms):
                return [_event("input_audio_buffer.speech_stopped", audio_end_ms=ms, item_id=item_id)]
            case UserTranscriptDelta():
                # The protocol's deltas follow the item they belong to, which exists once the turn
                # is committed: the words heard so far are told then, whole (see _user_turn).
                return []
            case UserTranscriptDone(item_id=item_id, transcript=transcript):
                return self._user_turn(item_id, transcript)
            case InputCleared():
                return [_event("input_audio_buffer.cleared")]
            case ReplyStarted(response_id=rid, item_id=item_id, audio=audio):
                reply = self._replies[rid] = _Reply(rid, audio)
                out = [_event("response.created", response=_resource(reply, "in_progress"))]
                return out + (self._start_item(reply, item_id) if item_id else [])
            case ReplyTranscriptDelta(response_id=rid, item_id=item_id, delta=delta):
                reply = self._replies.get(rid)
                if reply is None:
                    return []
                out = self._start_item(reply, item_id)
                reply.text.append(delta)
                kind = "response.output_audio_transcript.delta" if reply.audio else "response.output_text.delta"
                return out + [_event(kind, **_ids(reply), delta=delta)]
            case ReplyAudio(response_id=rid, item_id=item_id, samples=samples, rate=rate):
                reply = self._replies.get(rid)
                if reply is None:
                    return []
                out = self._start_item(reply, item_id)
                if rate != REALTIME_RATE and reply.resampler is None:
                    reply.resampler = StreamResampler(rate, REALTIME_RATE)
                samples = _at_realtime_rate(samples, rate, reply.resampler)
                self._audio_ms[item_id] = self._audio_ms.get(item_id, 0.0) + len(samples) * 1000 / REALTIME_RATE
                return out + [_event("response.output_audio.delta", **_ids(reply), delta=encode_pcm16(samples))]
            case ReplyAudioDone(response_id=rid, item_id=item_id):
                reply = self._replies.get(rid)
                if reply is None:
                    return []
                return self._start_item(reply, item_id) + [_event("response.output_audio.done", **_ids(reply))]
            case ReplyTranscriptDone(response_id=rid, item_id=item_id, transcript=transcript):
                reply = self._replies.get(rid)
                if reply is None:
                    return []
                out = self._start_item(reply, item_id)
                reply.transcript = transcript
                if reply.audio:
                    return out + [_event("response.output_audio_transcript.done", **_ids(reply), transcript=transcript)]
                return out + [_event("response.output_text.done", **_ids(reply), text=transcript)]
            case ReplyDone(response_id=rid, status=status, reason=reason):
                reply = self._replies.pop(rid, None)
                return [] if reply is None else self._finish(reply, status, reason)
            case ReplyTruncated(item_id=item_id, audio_end_ms=ms, transcript=transcript):
                item = self._items.get(item_id)
                if item is not None and item.get("content"):
                    item["content"][0]["transcript"] = transcript
                return [_event("conversation.item.truncated", item_id=item_id, content_index=0, audio_end_ms=ms)]
            case BrainError(message=message, code=code):
                return [error_event(message, type="server_error", code=code)]
            case Notice() | ReplyHeld() | ReplyResumed():  # livehuman's own: a wire client plays replies itself
                return []
        raise TypeError(f"not a speech event: {event!r}")

    def _user_turn(self, item_id: str, transcript: str) -> list[dict]:
        previous = self._order[-1] if self._order else None
        item = {"id": item_id, "type": "message", "role": "user", "object": "realtime.item",
                "status": "completed", "content": [{"type": "input_audio", "transcript": None}]}
        out = [_event("input_audio_buffer.committed", item_id=item_id, previous_item_id=previous),
               self._add_item(item, None)]
        item["content"][0]["transcript"] = transcript
        if transcript:
            out.append(_event("conversation.item.input_audio_transcription.delta", item_id=item_id, content_index=0,
                              delta=transcript))
        out.append(_event("conversation.item.input_audio_transcription.completed", item_id=item_id, content_index=0,
                          transcript=transcript, usage={"type": "duration", "seconds": 0.0}))
        out.append(_event("conversation.item.done", item=copy.deepcopy(item), previous_item_id=previous))
        return out

    def _start_item(self, reply: _Reply, item_id: str) -> list[dict]:
        """The reply's item and content part, the first time the brain names them."""
        if reply.item_id is not None:
            return []
        reply.item_id = item_id
        item = _assistant_item(reply, "in_progress", started=False)
        out = [_event("response.output_item.added", response_id=reply.id, output_index=0, item=copy.deepcopy(item))]
        out.append(self._add_item(item, None))
        part = {"type": "audio", "transcript": ""} if reply.audio else {"type": "text", "text": ""}
        out.append(_event("response.content_part.added", **_ids(reply), part=part))
        return out

    def _finish(self, reply: _Reply, status: str, reason: str | None) -> list[dict]:
        out: list[dict] = []
        output = []
        if reply.item_id is not None:
            text = reply.transcript if reply.transcript is not None else "".join(reply.text).strip()
            part = {"type": "audio", "transcript": text} if reply.audio else {"type": "text", "text": text}
            out.append(_event("response.content_part.done", **_ids(reply), part=part))
            item = _assistant_item(reply, "completed" if status == "completed" else "incomplete", started=True, text=text)
            if reply.item_id in self._items:
                self._items[reply.item_id] = copy.deepcopy(item)
            out.append(_event("response.output_item.done", response_id=reply.id, output_index=0, item=copy.deepcopy(item)))
            out.append(_event("conversation.item.done", item=copy.deepcopy(item),
                              previous_item_id=self._previous(reply.item_id)))
            output = [item]
        out.append(_event("response.done", response=_resource(reply, status, reason, output)))
        return out

    def _add_item(self, item: dict, previous_item_id: str | None) -> dict:
        item_id = item["id"]
        if previous_item_id and previous_item_id in self._order:
            self._order.insert(self._order.index(previous_item_id) + 1, item_id)
        elif previous_item_id == "root":
            self._order.insert(0, item_id)
        else:
            self._order.append(item_id)
        self._items[item_id] = copy.deepcopy(item)
        added = _event("conversation.item.added", item=copy.deepcopy(item), previous_item_id=self._previous(item_id))
        while len(self._order) > self.max_items:  # a long conversation must not grow without bound
            oldest = self._order.pop(0)
            self._items.pop(oldest, None)
            self._audio_ms.pop(oldest, None)
        return added

    def _previous(self, item_id: str) -> str | None:
        i = self._order.index(item_id) if item_id in self._order else 0
        return self._order[i - 1] if i > 0 else None


def _event(kind: str, **fields: Any) -> dict:
    return {"type": kind, "event_id": new_id("event"), **fields}


def _ids(reply: _Reply) -> dict:
    return {"response_id": reply.id, "item_id": reply.item_id, "output_index": 0, "content_index": 0}


def _check_pcm(side: dict | None, param: str) -> None:
    """Refuse an audio side (`{"format": …}`) in any format but the one spoken here: PCM at 24 kHz."""
    fmt = (side or {}).get("format") or {}
    if fmt.get("type", "audio/pcm") != "audio/pcm" or fmt.get("rate", REALTIME_RATE) != REALTIME_RATE:
        raise RequestError("only audio/pcm at 24000 Hz is supported", param=param)


def _resource(reply: _Reply, status: str, reason: str | None = None, output: list | None = None) -> dict:
    resource: dict[str, Any] = {
        "id": reply.id, "object": "realtime.response", "status": status, "output": output or [],
        "output_modalities": ["audio" if reply.audio else "text"], "conversation_id": "conv_livehuman",
    }
    if status == "completed":
        resource["status_details"] = None  # as OpenAI's completed responses say
    elif status != "in_progress":
        details: dict[str, Any] = {"type": status}
        if reason:
            details["reason"] = reason
        resource["status_details"] = details
    return resource


def _assistant_item(reply: _Reply, status: str, *, started: bool, text: str = "") -> dict:
    content = {"type": "output_audio", "transcript": text} if reply.audio else {"type": "output_text", "text": text}
    return {"id": reply.item_id, "type": "message", "role": "assistant", "object": "realtime.item",
            "status": status, "content": [content] if started else []}


# -- client side: a Brain on a Realtime server ---------------------------------------------------


class ClientWire:
    """Commands as client events, and a Realtime server's events as speech events (for RealtimeBrain)."""

    def __init__(self) -> None:
        self._resampler: StreamResampler | None = None  # for microphone audio not at 24 kHz

    # commands → client events

    def session_update(self, session: dict) -> dict:
        return {"type": "session.update", "session": session}

    def append_audio(self, samples: np.ndarray, rate: int) -> dict:
        if rate != REALTIME_RATE and (self._resampler is None or self._resampler.in_rate != rate):
            self._resampler = StreamResampler(rate, REALTIME_RATE)
        return {"type": "input_audio_buffer.append",
                "audio": encode_pcm16(_at_realtime_rate(samples, rate, self._resampler))}

    def commit_audio(self) -> dict:
        return {"type": "input_audio_buffer.commit"}

    def clear_audio(self) -> dict:
        return {"type": "input_audio_buffer.clear"}

    def add_message(self, text: str, role: str, item_id: str | None = None) -> dict:
        kind = "output_text" if role == "assistant" else "input_text"
        item: dict[str, Any] = {"type": "message", "role": role, "content": [{"type": kind, "text": text}]}
        if item_id is not None:
            item = {"id": item_id, **item}
        return {"type": "conversation.item.create", "item": item}

    def respond(self, audio: bool | None = None) -> dict:
        if audio is None:
            return {"type": "response.create"}
        return {"type": "response.create", "response": {"output_modalities": ["audio" if audio else "text"]}}

    def cancel(self, response_id: str | None = None) -> dict:
        return {"type": "response.cancel", **({"response_id": response_id} if response_id else {})}

    def truncate(self, item_id: str, audio_end_ms: int) -> dict:
        return {"type": "conversation.item.truncate", "item_id": item_id, "content_index": 0,
                "audio_end_ms": int(audio_end_ms)}

    # server events → speech events

    def decode(self, event: dict) -> SpeechEvent | None:
        """The speech event a server event says, if any (items, sessions and the like say none)."""
        kind = event.get("type")
        ids = (event.get("response_id", ""), event.get("item_id", ""))
        if kind == "input_audio_buffer.speech_started":
            return UserSpeechStarted(event["item_id"], int(event.get("audio_start_ms") or 0))
        if kind == "input_audio_buffer.speech_stopped":
            return UserSpeechStopped(event["item_id"], int(event.get("audio_end_ms") or 0))
        if kind == "conversation.item.input_audio_transcription.delta":
            return UserTranscriptDelta(event["item_id"], event.get("delta") or "")
        if kind == "conversation.item.input_audio_transcription.completed":
            return UserTranscriptDone(event["item_id"], event.get("transcript") or "")
        if kind == "input_audio_buffer.cleared":
            return InputCleared()
        if kind == "response.created":
            response = event.get("response") or {}
            return ReplyStarted(response.get("id", ""), None, "audio" in (response.get("output_modalities") or ["audio"]))
        if kind in ("response.output_audio_transcript.delta", "response.output_text.delta"):
            return ReplyTranscriptDelta(*ids, event.get("delta") or "")
        if kind == "response.output_audio.delta":
            return ReplyAudio(*ids, decode_pcm16(event.get("delta") or ""), REALTIME_RATE)
        if kind == "response.output_audio.done":
            return ReplyAudioDone(*ids)
        if kind == "response.output_audio_transcript.done":
            return ReplyTranscriptDone(*ids, event.get("transcript") or "")
        if kind == "response.output_text.done":
            return ReplyTranscriptDone(*ids, event.get("text") or "")
        if kind == "response.done":
            response = event.get("response") or {}
            details = response.get("status_details") or {}
            return ReplyDone(response.get("id", ""), response.get("status") or "completed", details.get("reason"))
        if kind == "conversation.item.truncated":
            return ReplyTruncated(event["item_id"], int(event.get("audio_end_ms") or 0), "")
        if kind == "error":
            error = event.get("error") or {}
            return BrainError(error.get("message") or "unknown error", error.get("code"))
        return None
