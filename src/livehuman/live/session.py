"""One live conversation, wired: microphone → brain; brain → page, synchronizer and face; page → brain.

The parts live in their own modules: the page's data-channel protocol in live/channel.py, the
pairing of reply audio with drawn frames on the media clock in live/synchronizer.py, lip sync and
drawing in live/face_renderer.py, turn latency marks in live/turns.py. The session dispatches the
brain's events (Realtime protocol dicts) to them and handles barge-in.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import time
from collections import deque
from collections.abc import Callable

import av
import numpy as np

from livehuman.brain.base import Brain
from livehuman.live.channel import BadMessage, PageChannel, SayText, parse_message
from livehuman.live.clock import MediaUnit
from livehuman.live.face_renderer import FaceRenderer
from livehuman.live.synchronizer import AVSynchronizer, Reply
from livehuman.live.tracks import ClockAudioTrack, ClockVideoTrack
from livehuman.live.turns import Turn
from livehuman.rates import REALTIME_RATE
from livehuman.speech.phones import Phone

logger = logging.getLogger("livehuman.live")

MIC_CHUNK_MS = 20  # microphone audio goes to the brain as it comes (one WebRTC packet): no added wait
DEFAULT_PREFIX_PADDING_MS = 300.0  # the Realtime protocol's default server-VAD prefix padding
# Errors that only mean "nothing was playing any more": not worth a message on the page.
QUIET_ERRORS = ("response_cancel_not_active", "cancel_not_active")


class Session:
    """One person's conversation with the avatar over one WebRTC connection."""

    def __init__(self, session_id: str, brain: Brain, renderer: FaceRenderer,
                 on_closed: Callable[["Session"], None] | None = None, inactivity_timeout: float = 15.0):
        self.id = session_id
        # A browser keeps sending (silent) audio even when muted: a microphone that stops means the
        # client is gone, long before ICE consent (about 30 s) notices.
        self.inactivity_timeout = inactivity_timeout
        self.brain = brain
        self.renderer = renderer
        self.log = logging.LoggerAdapter(logger, {"session": session_id})
        self.page = PageChannel(self.log)
        self.sync = AVSynchronizer(renderer, on_play=self._on_play)
        self.clock = self.sync.clock
        self.audio_track = ClockAudioTrack(self.clock)
        self.video_track = ClockVideoTrack(self.clock)
        self.state = "listening"
        self.closed = asyncio.Event()
        self.turns: list[Turn] = []
        self.barge_ins: list[dict] = []
        self._on_closed = on_closed
        self._tasks: list[asyncio.Task] = []
        self._cancelled: set[str] = set()
        self._user_text: dict[str, str] = {}
        self._assistant_text: dict[str, str] = {}
        self._turn: Turn | None = None
        self._mic_ms = 0.0  # microphone audio sent to the brain so far
        self._mic_marks: deque[tuple[float, float]] = deque(maxlen=500)  # (end ms, arrival time)
        self._closing = False

    # wiring

    async def start(self) -> None:
        """Render the first idle frame and start the session's tasks."""
        await self.sync.start()
        for coro in (self._brain_loop(), self.sync.render_loop(), self.sync.idle_loop()):
            self._spawn(coro)

    def attach_channel(self, channel) -> None:
        """Use this data channel for the page's `events` protocol."""
        self.page.attach(channel, on_message=lambda message: self._spawn(self.handle_client_message(message)),
                         on_close=lambda: self._spawn(self.close("the data channel closed")))

    def attach_microphone(self, track) -> None:
        """Read the browser's microphone and stream it to the brain."""
        self._spawn(self._mic_loop(track))

    def _spawn(self, coro) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.append(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task) -> None:
        if task in self._tasks:
            self._tasks.remove(task)
        if not task.cancelled() and task.exception() is not None and not self._closing:
            exc = task.exception()
            self.log.error("session %s: task failed: %s: %s", self.id, type(exc).__name__, exc, exc_info=exc)
            self.page.error(f"internal error: {type(exc).__name__}: {exc}")
            asyncio.ensure_future(self.close("a task failed"))

    async def close(self, reason: str = "closed") -> None:
        """End the session: stop media and tasks, close the brain (idempotent)."""
        if self._closing:
            return
        self._closing = True
        self.log.info("session %s ends: %s", self.id, reason)
        self.sync.close()
        self.audio_track.stop()
        self.video_track.stop()
        current = asyncio.current_task()
        for task in list(self._tasks):
            if task is not current:
                task.cancel()
        try:
            await asyncio.wait_for(self.brain.close(), 5)
        except Exception as exc:  # a brain that fails to close must not keep the session alive
            self.log.warning("session %s: brain close failed: %s", self.id, exc)
        self.renderer.close()
        self.closed.set()
        if self._on_closed is not None:
            self._on_closed(self)

    # the page

    async def handle_client_message(self, message) -> None:
        """One message from the page: text, interrupt; anything else is answered with an error."""
        try:
            request = parse_message(message)
        except BadMessage as exc:
            self.page.error(str(exc))
            return
        if isinstance(request, SayText):
            await self.say(request.text)
        else:
            await self.barge_in("client")

    async def say(self, text: str) -> None:
        """The user typed `text`: interrupt any reply, then ask the brain to answer it."""
        await self.barge_in("text")
        self._new_turn(time.monotonic(), "text")
        self.page.transcript("user", text, final=True)
        await self.brain.send({"type": "conversation.item.create", "item": {
            "type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]}})
        await self.brain.send({"type": "response.create"})
        self._set_state("thinking")

    def _new_turn(self, end: float, source: str) -> None:
        self._turn = Turn(number=len(self.turns) + 1, end=end, source=source)
        self.turns.append(self._turn)

    def _set_state(self, state: str) -> None:
        if state != self.state:
            self.state = state
            self.page.state(state)

    # barge-in

    async def barge_in(self, cause: str, speech_at: float | None = None, event_at: float | None = None) -> None:
        """Stop the reply now: drop queued media, truncate what was not heard, cancel the response."""
        if not self.sync.active:
            return
        started = time.monotonic()
        cut = self.sync.interrupt()
        stopped = time.monotonic()
        if cut.response_id is not None:
            self._cancelled.add(cut.response_id)
        if cut.item_id is not None:
            await self.brain.send({"type": "conversation.item.truncate", "item_id": cut.item_id,
                                   "content_index": 0, "audio_end_ms": int(cut.heard_ms)})
        if cut.response_id is not None and not cut.response_done:
            await self.brain.send({"type": "response.cancel"})
        record = {"type": "metrics", "barge_in": cause, "dropped_frames": cut.dropped, "heard_ms": cut.heard_ms,
                  "stop_ms": round((stopped - started) * 1000, 1)}
        if speech_at is not None:  # from the speech's start in the mic audio, as the brain's VAD places it
            record["speech_to_stop_ms"] = round((stopped - speech_at) * 1000, 1)
        if event_at is not None:  # from the brain's speech_started event
            record["event_to_stop_ms"] = round((stopped - event_at) * 1000, 1)
        self.barge_ins.append(record)
        self.log.info("session %s: barge-in (%s): %s", self.id, cause, record)
        self.page.send(record)
        self._set_state("listening")

    # microphone → brain

    async def _mic_loop(self, track) -> None:
        resampler = av.AudioResampler(format="s16", layout="mono", rate=REALTIME_RATE)
        pending = bytearray()
        chunk = REALTIME_RATE * 2 * MIC_CHUNK_MS // 1000
        while True:
            try:
                frame = await asyncio.wait_for(track.recv(), self.inactivity_timeout)
            except asyncio.TimeoutError:
                await self.close(f"no audio from the client for {self.inactivity_timeout:g} s")
                return
            except Exception:  # MediaStreamError: the browser's track ended
                return
            for out in resampler.resample(frame):
                pending += out.to_ndarray().tobytes()
            while len(pending) >= chunk:
                data, pending = bytes(pending[:chunk]), pending[chunk:]
                await self.brain.send({"type": "input_audio_buffer.append",
                                       "audio": base64.b64encode(data).decode("ascii")})
                self._mic_ms += MIC_CHUNK_MS
                self._mic_marks.append((self._mic_ms, time.monotonic()))

    def _prefix_padding_ms(self) -> float:
        """The brain's VAD prefix padding, when it shows its session; else the protocol's 300 ms."""
        config = getattr(self.brain, "session", None)
        try:
            value = config["audio"]["input"]["turn_detection"]["prefix_padding_ms"]
        except (KeyError, TypeError):
            return DEFAULT_PREFIX_PADDING_MS
        return float(value) if isinstance(value, (int, float)) else DEFAULT_PREFIX_PADDING_MS

    def _mic_time(self, audio_ms: float | None) -> float:
        """When the microphone audio at `audio_ms` (in the brain's input buffer) arrived here."""
        now = time.monotonic()
        if audio_ms is None:
            return now
        for end_ms, arrived in self._mic_marks:
            if end_ms >= audio_ms:
                return arrived - (end_ms - audio_ms) / 1000
        return now

    # brain → page and media

    async def _brain_loop(self) -> None:
        async for event in self.brain.events():
            # A sentence's audio arrives as a burst of deltas: let the clock and the renderer run
            # between them, or the burst's lip-sync work would stall the media for its length.
            await asyncio.sleep(0)
            try:
                await self._on_brain_event(event)
            except Exception as exc:
                self.log.exception("session %s: bad brain event %s", self.id, event.get("type"))
                self.page.error(f"could not handle {event.get('type')}: {exc}")
        if not self._closing:
            self.page.error("the conversation ended")
            await self.close("the brain ended")

    def _current(self, response_id: str | None) -> Reply | None:
        """The reply being received, if `response_id` (when given) is its response."""
        reply = self.sync.reply
        if reply is not None and (response_id is None or response_id == reply.response_id):
            return reply
        return None

    async def _on_brain_event(self, event: dict) -> None:
        kind = event.get("type")
        now = time.monotonic()
        if kind == "input_audio_buffer.speech_started":
            start_ms = event.get("audio_start_ms")
            if start_ms is not None:
                # audio_start_ms includes the VAD's prefix padding (the protocol says so): the
                # speech itself begins that much later.
                start_ms = float(start_ms) + self._prefix_padding_ms()
            await self.barge_in("speech", self._mic_time(start_ms), now)
            self._set_state("listening")
        elif kind == "input_audio_buffer.speech_stopped":
            self._new_turn(self._mic_time(event.get("audio_end_ms")), "speech")
            self._set_state("thinking")
        elif kind == "conversation.item.input_audio_transcription.delta":
            item = event.get("item_id", "")
            self._user_text[item] = self._user_text.get(item, "") + event.get("delta", "")
            self.page.transcript("user", self._user_text[item], final=False, item=item)
        elif kind == "conversation.item.input_audio_transcription.completed":
            item = event.get("item_id", "")
            self._user_text.pop(item, None)
            self.page.transcript("user", event.get("transcript", ""), final=True, item=item)
            if self._turn is not None and self._turn.asr_final is None:
                self._turn.asr_final = now
        elif kind == "response.created":
            response_id = (event.get("response") or {}).get("id") or f"resp_{self.sync.generation}"
            previous = self.sync.reply
            if previous is not None and not previous.flushed:
                await self.sync.end_audio(previous)
            self.sync.begin(response_id)
            if self._turn is None or self._turn.first_audio is not None:
                # A reply nobody asked for (a greeting): time it from now.
                self._new_turn(now, "brain")
            if self.state == "listening":
                self._set_state("thinking")
        elif kind == "response.output_audio_transcript.delta":
            if event.get("response_id") in self._cancelled:
                return
            item = event.get("item_id", "")
            self._assistant_text[item] = self._assistant_text.get(item, "") + event.get("delta", "")
            self.page.transcript("assistant", self._assistant_text[item], final=False, item=item)
            if self._turn is not None and self._turn.first_text is None:
                self._turn.first_text = now
        elif kind == "response.output_audio_transcript.done":
            item = event.get("item_id", "")
            text = event.get("transcript") or self._assistant_text.get(item, "")
            self._assistant_text.pop(item, None)
            if event.get("response_id") not in self._cancelled:
                self.page.transcript("assistant", text, final=True, item=item)
        elif kind == "livehuman.output_audio.phones":
            reply = self._current(event.get("response_id"))
            if reply is not None:
                # The wire times phones from their chunk's start; the synchronizer from the reply's.
                offset = float(event.get("audio_start_ms", 0)) / 1000
                reply.phones += [Phone(p["symbol"], offset + float(p["start"]), offset + float(p["end"]))
                                 for p in event.get("phones", [])]
        elif kind == "response.output_audio.delta":
            await self._on_audio(event, now)
        elif kind == "response.output_audio.done":
            reply = self._current(event.get("response_id"))
            if reply is not None and reply.response_id not in self._cancelled:
                await self.sync.end_audio(reply)
        elif kind == "response.done":
            reply = self._current((event.get("response") or {}).get("id"))
            if reply is not None and reply.response_id not in self._cancelled:
                if await self.sync.end_reply(reply):
                    self._set_state("listening")
        elif kind == "error":
            error = event.get("error") or {}
            if error.get("code") not in QUIET_ERRORS:
                self.log.warning("session %s: brain error: %s", self.id, error)
                self.page.error(error.get("message", "the brain reported an error"))
        elif kind == "livehuman.notice":
            self.page.notice(event.get("message") or event.get("text", ""))

    async def _on_audio(self, event: dict, now: float) -> None:
        response_id = event.get("response_id")
        if response_id in self._cancelled:
            return
        reply = self.sync.reply
        if reply is None or (response_id and response_id != reply.response_id):
            reply = self.sync.begin(response_id or f"resp_{self.sync.generation}")
        if reply.item_id is None:
            reply.item_id = event.get("item_id")
        if self._turn is not None and self._turn.first_audio is None:
            self._turn.first_audio = now
        samples = np.frombuffer(base64.b64decode(event.get("delta", "")), dtype="<i2").astype(np.float32) / 32768.0
        await self.sync.push_audio(reply, samples, REALTIME_RATE)

    # the clock's report of each unit of a reply starting to play

    def _on_play(self, unit: MediaUnit, first: bool, t: float) -> None:
        if first:
            turn = self._turn
            if turn is not None and turn.first_frame is None:
                turn.first_frame = t
                self._report(turn)
        self._set_state("speaking")
        if unit.last:
            self._set_state("listening")

    def _report(self, turn: Turn) -> None:
        if turn.reported:
            return
        turn.reported = True
        metrics = turn.metrics()
        self.log.info("session %s turn %d (%s): asr final %s ms, first text %s ms, first audio %s ms, first frame %s ms",
                      self.id, turn.number, turn.source, metrics["asr_final_ms"], metrics["first_text_ms"],
                      metrics["first_audio_ms"], metrics["first_frame_ms"])
        self.page.send(metrics)
