"""The offline brain's response side: the dialogue's reply, spoken sentence by sentence, as Realtime events.

A response runs as its own task, so that a barge-in or response.cancel can stop it between two
audio deltas; the text-to-speech runs in worker threads, a sentence at a time.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import logging
import re
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from livehuman.brain.events import (
    AUDIO_RATE,
    PHONES_EVENT,
    encode_pcm16,
    error_event,
    new_id,
)
from livehuman.brain.heard import Segment
from livehuman.errors import LivehumanError
from livehuman.speech.audio import resample

if TYPE_CHECKING:
    from livehuman.brain.local_speculation import Speculation

log = logging.getLogger("livehuman.brain.local")  # one logger for the whole offline brain

DELTA_MS = 100  # audio per response.output_audio.delta
MAX_SENTENCE_CHARS = 240  # speak a long run-on text in pieces rather than wait for its end
FOLLOW_UP = "Is there anything else I can help you with?"
SENTENCE_END = re.compile(r"(?<=[.!?…])\s+|(?<=[。！？])")


@dataclass
class Response:
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
    speculation: Speculation | None = None  # prepared while the user paused


class ResponseSide:
    """LocalBrain's output half: a response's lifecycle, its text and speech, and their events.

    A mixin: it shares LocalBrain's state (the session, the conversation, the dialogue).
    """

    def _init_responses(self, tts: Any, pace_ahead_s: float | None) -> None:
        self._tts = tts
        self.pace_ahead_s = pace_ahead_s
        self._response: Response | None = None
        self._last_assistant: str | None = None  # the latest assistant item, the one truncation may cut

    # -- a response's lifecycle --------------------------------------------------------------

    def _start_response(self, modalities: list[str], script: str | None = None,
                        speculation: Speculation | None = None) -> None:
        response = Response(id=new_id("resp"), item_id=new_id("item"), modalities=list(modalities),
                            script=script, speculation=speculation)
        self._response = response
        self._emit({"type": "response.created", "response": self._response_resource(response, "in_progress")})
        response.task = asyncio.get_running_loop().create_task(self._run_response(response))

    async def _run_response(self, response: Response) -> None:
        try:
            await self._generate(response)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a failed reply must end the response, not the session
            log.exception("local brain response failed")
            self._finish(response, "failed", None)
            self._emit(error_event(f"the reply failed: {exc}", type="server_error"))
            return
        self._finish(response, "completed", None)

    async def _cancel(self, reason: str) -> None:
        response = self._response
        if response is None:
            return
        task = response.task
        if task is not None and task is not asyncio.current_task():
            task.cancel()
            with contextlib.suppress(BaseException):
                await task
        if self._response is response:
            self._finish(response, "cancelled", reason)

    def _finish(self, response: Response, status: str, reason: str | None) -> None:
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

    def _response_resource(self, response: Response, status: str, reason: str | None = None,
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

    def _assistant_item(self, response: Response, status: str) -> dict:
        text = "".join(response.text).strip()
        if "audio" in response.modalities:
            content = {"type": "output_audio", "transcript": text}
        else:
            content = {"type": "output_text", "text": text}
        return {"id": response.item_id, "type": "message", "role": "assistant", "object": "realtime.item",
                "status": status, "content": [content] if response.started else []}

    def _ids(self, response: Response) -> dict:
        return {"response_id": response.id, "item_id": response.item_id, "output_index": 0, "content_index": 0}

    # -- the reply's text ------------------------------------------------------------------

    async def _generate(self, response: Response) -> None:
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
            parts = SENTENCE_END.split(pending)
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

    def _remember(self, user_text: str, reply: str) -> None:
        """Put an exchange the dialogue did not answer itself (a script, a replayed reply) in its history."""
        history = getattr(self._dialogue, "history", None)
        if isinstance(history, list):
            if user_text:
                history.append({"role": "user", "content": user_text})
            history.append({"role": "assistant", "content": reply})

    # -- its speech ------------------------------------------------------------------------

    async def _load_tts(self) -> None:
        if self._tts is None:
            self._tts = await asyncio.to_thread(self._make_tts, self._voice)

    def _make_tts(self, voice: str | None) -> Any:
        """An espeak-ng voice (blocking: call it in a worker thread)."""
        from livehuman.speech.espeak import EspeakTTS

        try:
            return EspeakTTS(voice or "en-us")
        except LivehumanError:
            # An OpenAI voice name ("marin", "alloy") means nothing to espeak-ng: keep speaking.
            if self._tts is not None:
                return self._tts
            return EspeakTTS("en-us")

    def _synthesize(self, sentence: str) -> list[tuple[Any, np.ndarray]]:
        """Each piece of `sentence`'s speech with its 24 kHz samples (blocking: call it in a worker thread)."""
        out = []
        for speech in self._tts.sentences(sentence):
            out.append((speech, resample(speech.audio, AUDIO_RATE).samples))
        return out

    async def _speak(self, response: Response, sentence: str) -> None:
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
                            "audio_start_ms": round(start_ms),
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

    async def _pace(self, response: Response) -> None:
        """With `pace_ahead_s`, keep the audio sent at most that far ahead of real time."""
        if self.pace_ahead_s is None:
            return
        now = time.monotonic()
        if response.t0 is None:
            response.t0 = now
        ahead = response.samples / AUDIO_RATE - (now - response.t0)
        if ahead > self.pace_ahead_s:
            await asyncio.sleep(ahead - self.pace_ahead_s)
