"""One live conversation: brain events → voice, lip sync and frames on the media clock; mic → brain."""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import NamedTuple

import av
import numpy as np

from livehuman.brain.base import Brain
from livehuman.live.face_renderer import BRAIN_RATE, FaceRenderer
from livehuman.live.clock import AUDIO_RATE, FRAME_MS, SAMPLES_PER_FRAME, MediaClock, MediaUnit
from livehuman.live.reply_audio import ReplyAudio
from livehuman.live.tracks import ClockAudioTrack, ClockVideoTrack
from livehuman.motion.controls import FaceControls
from livehuman.speech.audio import StreamResampler
from livehuman.speech.phones import Phone

logger = logging.getLogger("livehuman.live")

MIC_CHUNK_MS = 20  # microphone audio goes to the brain as it comes (one WebRTC packet): no added wait
DEFAULT_PREFIX_PADDING_MS = 300.0  # the Realtime protocol's default server-VAD prefix padding
MAX_TEXT = 4000  # longest text message accepted from the page
RENDER_BATCH = 4  # frames rendered per trip to the render thread, at most
OUTBOX_LIMIT = 64  # messages kept for a page whose data channel has not opened yet
# Errors that only mean "nothing was playing any more": not worth a message on the page.
QUIET_ERRORS = ("response_cancel_not_active", "cancel_not_active")


@dataclass
class Turn:
    """Latency marks of one turn, in monotonic seconds; `end` is the end of the user's speech."""

    number: int
    end: float
    source: str  # "speech" or "text"
    asr_final: float | None = None
    first_text: float | None = None
    first_audio: float | None = None
    first_frame: float | None = None
    reported: bool = False

    def metrics(self) -> dict:
        """The `metrics` event for this turn: each mark in ms after the end of the user's speech."""
        def ms(t: float | None) -> float | None:
            return None if t is None else round((t - self.end) * 1000, 1)

        return {"type": "metrics", "turn": self.number, "source": self.source,
                "asr_final_ms": ms(self.asr_final), "first_text_ms": ms(self.first_text),
                "first_audio_ms": ms(self.first_audio), "first_frame_ms": ms(self.first_frame)}


@dataclass
class Reply:
    """The audio of one response on its way to the clock."""

    response_id: str
    generation: int
    item_id: str | None = None
    resampler: StreamResampler = field(default_factory=lambda: StreamResampler(BRAIN_RATE, AUDIO_RATE))
    audio: list[np.ndarray] = field(default_factory=list)  # 48 kHz int16 not yet paired with a frame
    held: int = 0  # samples in `audio`
    received_ms: float = 0.0  # 24 kHz audio received so far, in ms
    frames: int = 0  # frames made so far
    phones: list[Phone] = field(default_factory=list)
    listen: ReplyAudio | None = None  # the reply's 16 kHz audio, for engines that listen (MuseTalk)
    done: bool = False  # response.done arrived
    flushed: bool = False


class _RenderJob(NamedTuple):
    """One frame waiting for the render thread: its mouth, its 40 ms of audio, its place in the reply."""

    generation: int  # the session's generation when queued: a barge-in makes it stale
    mouth: FaceControls
    listen: ReplyAudio | None
    reply_frame: int  # the frame's index in its reply (its window of `listen`)
    audio: np.ndarray
    item_id: str | None
    item_ms: int  # the reply's audio played once this frame has
    last: bool  # the reply's last frame


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
        self.clock = MediaClock(idle=self._idle_frame, on_unit=self._on_unit)
        self.audio_track = ClockAudioTrack(self.clock)
        self.video_track = ClockVideoTrack(self.clock)
        self.log = logging.LoggerAdapter(logger, {"session": session_id})
        self.state = "listening"
        self.closed = asyncio.Event()
        self.turns: list[Turn] = []
        self.barge_ins: list[dict] = []
        self._on_closed = on_closed
        self._channel = None
        # What the brain says before the page's data channel opens (a greeting, "cannot reach the
        # Realtime API") waits here instead of being lost.
        self._outbox: deque[dict] = deque(maxlen=OUTBOX_LIMIT)
        self._tasks: list[asyncio.Task] = []
        self._loop = asyncio.get_event_loop()
        self._reply: Reply | None = None
        self._generation = 0
        self._render_queue: asyncio.Queue = asyncio.Queue()
        self._idle_next: np.ndarray | None = None
        self._idle_wanted = asyncio.Event()
        self._cancelled: set[str] = set()
        self._user_text: dict[str, str] = {}
        self._assistant_text: dict[str, str] = {}
        self._turn: Turn | None = None
        self._mic_ms = 0.0  # microphone audio sent to the brain so far
        self._mic_marks: deque[tuple[float, float]] = deque(maxlen=500)  # (end ms, arrival time)
        self._playing_item: str | None = None
        self._closing = False

    # wiring

    async def start(self) -> None:
        """Render the first idle frame and start the session's tasks."""
        self._idle_next = await self._in_render_thread(self.renderer.render, None)
        for coro in (self._brain_loop(), self._render_loop(), self._idle_loop()):
            self._spawn(coro)

    def attach_channel(self, channel) -> None:
        """Use this data channel for the `events` protocol."""
        self._channel = channel

        @channel.on("open")
        def on_open() -> None:
            self._flush_outbox()

        if channel.readyState == "open":
            self._flush_outbox()

        @channel.on("message")
        def on_message(message) -> None:
            self._spawn(self.handle_client_message(message))

        @channel.on("close")
        def on_close() -> None:
            self._spawn(self.close("the data channel closed"))

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
            self.send({"type": "error", "message": f"internal error: {type(exc).__name__}: {exc}"})
            asyncio.ensure_future(self.close("a task failed"))

    async def close(self, reason: str = "closed") -> None:
        """End the session: stop media and tasks, close the brain (idempotent)."""
        if self._closing:
            return
        self._closing = True
        self._generation += 1  # frames still being drawn for this session are dropped, not finished
        self.log.info("session %s ends: %s", self.id, reason)
        self.clock.stop()
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

    # the page's data channel

    def send(self, message: dict) -> None:
        """Send one JSON message to the page, if it is still there (held until its channel opens)."""
        channel = self._channel
        if channel is None or channel.readyState == "connecting":
            self._outbox.append(message)
        elif channel.readyState == "open":
            try:
                channel.send(json.dumps(message))
            except Exception as exc:  # the transport may be going away under us
                self.log.debug("session %s: send failed: %s", self.id, exc)

    def _flush_outbox(self) -> None:
        while self._outbox:
            self.send(self._outbox.popleft())

    async def handle_client_message(self, message) -> None:
        """One message from the page: text, interrupt; anything else is answered with an error."""
        try:
            data = json.loads(message) if isinstance(message, (str, bytes)) else None
        except (ValueError, UnicodeDecodeError):
            data = None
        if not isinstance(data, dict):
            self.send({"type": "error", "message": "messages must be JSON objects such as {\"type\": \"text\", \"text\": \"hello\"}"})
            return
        kind = data.get("type")
        if kind == "text":
            text = data.get("text")
            if not isinstance(text, str) or not text.strip():
                self.send({"type": "error", "message": "a text message needs a non-empty \"text\" string"})
                return
            if len(text) > MAX_TEXT:
                self.send({"type": "error", "message": f"text messages are limited to {MAX_TEXT} characters"})
                return
            await self.say(text.strip())
        elif kind == "interrupt":
            await self.barge_in("client")
        else:
            self.send({"type": "error", "message": f"unknown message type {kind!r}: use \"text\" or \"interrupt\""})

    async def say(self, text: str) -> None:
        """The user typed `text`: interrupt any reply, then ask the brain to answer it."""
        await self.barge_in("text")
        self._new_turn(time.monotonic(), "text")
        self.send({"type": "transcript", "role": "user", "text": text, "final": True})
        await self.brain.send({"type": "conversation.item.create", "item": {
            "type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]}})
        await self.brain.send({"type": "response.create"})
        self._set_state("thinking")

    def _new_turn(self, end: float, source: str) -> None:
        self._turn = Turn(number=len(self.turns) + 1, end=end, source=source)
        self.turns.append(self._turn)

    def _new_reply(self, response_id: str) -> Reply:
        return Reply(response_id=response_id, generation=self._generation, listen=self.renderer.reply_audio())

    def _set_state(self, state: str) -> None:
        if state != self.state:
            self.state = state
            self.send({"type": "state", "state": state})

    # barge-in

    async def barge_in(self, cause: str, speech_at: float | None = None, event_at: float | None = None) -> None:
        """Stop the reply now: drop queued media, truncate what was not heard, cancel the response."""
        reply = self._reply
        playing = self._playing_item
        if reply is None and not self.clock.busy:
            return
        started = time.monotonic()
        self._generation += 1  # frames still being rendered for the old reply are thrown away
        while not self._render_queue.empty():
            self._render_queue.get_nowait()
        dropped = self.clock.interrupt()
        stopped = time.monotonic()
        item_id = playing or (reply.item_id if reply else None)
        if reply is not None:
            self._cancelled.add(reply.response_id)
            self._reply = None
            # In the lip-sync thread, after any work of the old reply still queued there.
            self.renderer.lipsync_thread.submit(self.renderer.reset)
        if item_id is not None:
            heard = self.clock.heard_ms(item_id)
            await self.brain.send({"type": "conversation.item.truncate", "item_id": item_id,
                                   "content_index": 0, "audio_end_ms": int(heard)})
        else:
            heard = 0
        if reply is not None and not reply.done:
            await self.brain.send({"type": "response.cancel"})
        self._playing_item = None
        record = {"type": "metrics", "barge_in": cause, "dropped_frames": dropped, "heard_ms": heard,
                  "stop_ms": round((stopped - started) * 1000, 1)}
        if speech_at is not None:  # from the speech's start in the mic audio, as the brain's VAD places it
            record["speech_to_stop_ms"] = round((stopped - speech_at) * 1000, 1)
        if event_at is not None:  # from the brain's speech_started event
            record["event_to_stop_ms"] = round((stopped - event_at) * 1000, 1)
        self.barge_ins.append(record)
        self.log.info("session %s: barge-in (%s): %s", self.id, cause, record)
        self.send(record)
        self._set_state("listening")

    # microphone → brain

    async def _mic_loop(self, track) -> None:
        resampler = av.AudioResampler(format="s16", layout="mono", rate=BRAIN_RATE)
        pending = bytearray()
        chunk = BRAIN_RATE * 2 * MIC_CHUNK_MS // 1000
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
                self.send({"type": "error", "message": f"could not handle {event.get('type')}: {exc}"})
        if not self._closing:
            self.send({"type": "error", "message": "the conversation ended"})
            await self.close("the brain ended")

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
            self.send({"type": "transcript", "role": "user", "text": self._user_text[item], "final": False, "item": item})
        elif kind == "conversation.item.input_audio_transcription.completed":
            item = event.get("item_id", "")
            self._user_text.pop(item, None)
            self.send({"type": "transcript", "role": "user", "text": event.get("transcript", ""), "final": True, "item": item})
            if self._turn is not None and self._turn.asr_final is None:
                self._turn.asr_final = now
        elif kind == "response.created":
            response_id = (event.get("response") or {}).get("id") or f"resp_{self._generation}"
            if self._reply is not None and not self._reply.flushed:
                await self._finish_reply(self._reply)
            self._reply = self._new_reply(response_id)
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
            self.send({"type": "transcript", "role": "assistant", "text": self._assistant_text[item], "final": False, "item": item})
            if self._turn is not None and self._turn.first_text is None:
                self._turn.first_text = now
        elif kind == "response.output_audio_transcript.done":
            item = event.get("item_id", "")
            text = event.get("transcript") or self._assistant_text.get(item, "")
            self._assistant_text.pop(item, None)
            if event.get("response_id") not in self._cancelled:
                self.send({"type": "transcript", "role": "assistant", "text": text, "final": True, "item": item})
        elif kind == "livehuman.output_audio.phones":
            reply = self._reply
            if reply is not None and event.get("response_id", reply.response_id) == reply.response_id:
                offset = float(event.get("audio_start_ms", 0)) / 1000
                reply.phones += [Phone(p["symbol"], offset + float(p["start"]), offset + float(p["end"]))
                                 for p in event.get("phones", [])]
        elif kind == "response.output_audio.delta":
            await self._on_audio(event, now)
        elif kind == "response.output_audio.done":
            reply = self._reply
            if reply is not None and event.get("response_id", reply.response_id) == reply.response_id:
                await self._finish_reply(reply)
        elif kind == "response.done":
            response = event.get("response") or {}
            reply = self._reply
            if reply is not None and response.get("id", reply.response_id) == reply.response_id:
                reply.done = True
                await self._finish_reply(reply)
                if reply.frames == 0:
                    self._reply = None
                    self._set_state("listening")
        elif kind == "error":
            error = event.get("error") or {}
            if error.get("code") not in QUIET_ERRORS:
                self.log.warning("session %s: brain error: %s", self.id, error)
                self.send({"type": "error", "message": error.get("message", "the brain reported an error")})
        elif kind == "livehuman.notice":
            self.send({"type": "notice", "message": event.get("message") or event.get("text", "")})

    async def _on_audio(self, event: dict, now: float) -> None:
        response_id = event.get("response_id")
        if response_id in self._cancelled:
            return
        reply = self._reply
        if reply is None or (response_id and response_id != reply.response_id):
            reply = self._reply = self._new_reply(response_id or f"resp_{self._generation}")
        if reply.item_id is None:
            reply.item_id = event.get("item_id")
        if self._turn is not None and self._turn.first_audio is None:
            self._turn.first_audio = now
        samples = np.frombuffer(base64.b64decode(event.get("delta", "")), dtype="<i2").astype(np.float32) / 32768.0
        if len(samples) == 0:
            return
        phones = self._phones_for(reply, len(samples))
        reply.received_ms += len(samples) * 1000 / BRAIN_RATE
        # Lip sync runs in the session's own lip-sync thread (never behind the drawing of frames),
        # and is waited for: a sentence's burst of deltas then goes at the pace the lip sync takes
        # it, rather than all at once into a thread that would compete with every session's media.
        controls, audio48 = await self._in_lipsync_thread(self.renderer.motion, samples, phones, reply.resampler,
                                                          reply.listen)
        if reply.generation != self._generation:
            return  # interrupted meanwhile
        self._hold(reply, audio48)
        self._pair(reply, controls)

    def _phones_for(self, reply: Reply, n: int) -> list[Phone] | None:
        """The phones that start inside the next `n` samples, timed from those samples' start."""
        if not reply.phones:
            return None
        start = reply.received_ms / 1000
        end = start + n / BRAIN_RATE
        inside = [p for p in reply.phones if p.start < end]
        reply.phones = [p for p in reply.phones if p.start >= end]
        return [Phone(p.symbol, p.start - start, p.end - start) for p in inside] or None

    def _hold(self, reply: Reply, samples48: np.ndarray) -> None:
        pcm = np.clip(np.round(samples48 * 32767.0), -32768, 32767).astype(np.int16)
        reply.audio.append(pcm)
        reply.held += len(pcm)

    def _take(self, reply: Reply, n: int) -> np.ndarray:
        """The next `n` held samples (zero-padded when the reply has ended)."""
        out = np.zeros(n, np.int16)
        filled = 0
        while filled < n and reply.audio:
            chunk = reply.audio[0]
            k = min(n - filled, len(chunk))
            out[filled : filled + k] = chunk[:k]
            filled += k
            if k == len(chunk):
                reply.audio.pop(0)
            else:
                reply.audio[0] = chunk[k:]
        reply.held -= filled
        return out

    def _pair(self, reply: Reply, controls: list[FaceControls], last: bool = False) -> None:
        """Pair each new frame of controls with its 40 ms of audio and queue it for rendering."""
        for i, mouth in enumerate(controls):
            audio = self._take(reply, SAMPLES_PER_FRAME)
            reply_frame = reply.frames
            reply.frames += 1
            item_ms = min(reply.frames * FRAME_MS, int(reply.received_ms))
            self._render_queue.put_nowait(_RenderJob(reply.generation, mouth, reply.listen, reply_frame, audio,
                                                     reply.item_id, item_ms, last and i == len(controls) - 1))

    async def _finish_reply(self, reply: Reply) -> None:
        """The reply's audio is complete: flush the lip sync and queue the rest, the last one marked."""
        if reply.flushed or reply.response_id in self._cancelled:
            return
        reply.flushed = True
        # The same thread as the deltas' lip sync, so it runs after all of it.
        controls, tail = await self._in_lipsync_thread(self.renderer.finish, reply.resampler, reply.listen)
        if reply.generation != self._generation:
            return
        self._hold(reply, tail)
        # Audio left over after the last frame of controls gets closed-mouth frames of its own.
        while reply.held >= SAMPLES_PER_FRAME // 4 and len(controls) * SAMPLES_PER_FRAME < reply.held:
            controls.append(FaceControls())
        if not controls and reply.frames > 0:
            controls = [FaceControls()]
        self._pair(reply, controls, last=True)

    async def _render_loop(self) -> None:
        while True:
            jobs: list[_RenderJob] = [await self._render_queue.get()]
            # Frames that are already waiting go to the render thread together: one round trip
            # through a busy event loop per frame made a reply's first frames trickle out slower
            # than they play (the clock then showed the idle face for a frame).
            while len(jobs) < RENDER_BATCH and not self._render_queue.empty():
                jobs.append(self._render_queue.get_nowait())
            jobs = [job for job in jobs if job.generation == self._generation]
            if jobs:
                await self._in_render_thread(self._render_jobs, jobs)

    def _render_jobs(self, jobs: list[_RenderJob]) -> None:
        """Render thread: draw each frame and hand it to the event loop as soon as it is drawn."""
        for job in jobs:
            if job.generation != self._generation:
                return  # interrupted: the rest are stale too
            frame = self.renderer.render(job.mouth, job.listen, job.reply_frame)
            self._loop.call_soon_threadsafe(self._play_rendered, job, frame)

    def _play_rendered(self, job: _RenderJob, frame: np.ndarray) -> None:
        if job.generation != self._generation:
            return  # interrupted while rendering
        self.clock.push(MediaUnit(frame=frame, audio=job.audio, item_id=job.item_id, item_ms=job.item_ms,
                                  last=job.last))

    async def _in_render_thread(self, fn, *args):
        return await self._loop.run_in_executor(self.renderer.executor, fn, *args)

    async def _in_lipsync_thread(self, fn, *args):
        return await self._loop.run_in_executor(self.renderer.lipsync_thread, fn, *args)

    # idle

    def _idle_frame(self) -> np.ndarray:
        self._idle_wanted.set()
        return self._idle_next

    async def _idle_loop(self) -> None:
        while True:
            await self._idle_wanted.wait()
            self._idle_wanted.clear()
            if self._reply is not None or self.clock.busy:
                continue  # keep the idle motion's timeline for the listening face
            self._idle_next = await self._in_render_thread(self.renderer.render, None)

    # the clock's report of each unit starting to play

    def _on_unit(self, unit: MediaUnit, t: float) -> None:
        if unit.item_id is not None:
            if self._playing_item != unit.item_id:
                self._playing_item = unit.item_id
                turn = self._turn
                if turn is not None and turn.first_frame is None:
                    turn.first_frame = t
                    self._report(turn)
            self._set_state("speaking")
            if unit.last:
                self._playing_item = None
                reply = self._reply
                if reply is not None and reply.flushed and reply.item_id == unit.item_id:
                    self._reply = None
                self._set_state("listening")

    def _report(self, turn: Turn) -> None:
        if turn.reported:
            return
        turn.reported = True
        metrics = turn.metrics()
        self.log.info("session %s turn %d (%s): asr final %s ms, first text %s ms, first audio %s ms, first frame %s ms",
                      self.id, turn.number, turn.source, metrics["asr_final_ms"], metrics["first_text_ms"],
                      metrics["first_audio_ms"], metrics["first_frame_ms"])
        self.send(metrics)
