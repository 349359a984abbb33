"""The audio/video synchronizer: a reply's audio in, each drawn frame paired with its own 40 ms of it.

The role of livekit-agents' `AVSynchronizer`. A reply's audio is resampled once, to the WebRTC
rate, as it arrives; the lip sync turns it into one FaceControls per frame; each frame is paired
with the 40 ms of audio it shows, drawn in the render thread and queued on the MediaClock, which
paces both. A barge-in bumps the generation: frames queued or being drawn for the old reply are
dropped, and the clock tells how much of the reply was heard (for conversation.item.truncate).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np

from livehuman.live.clock import SAMPLES_PER_FRAME, MediaClock, MediaUnit
from livehuman.live.face_renderer import FaceRenderer
from livehuman.live.reply_audio import ReplyAudio
from livehuman.motion.controls import FaceControls
from livehuman.rates import FRAME_MS, WEBRTC_RATE
from livehuman.speech.audio import StreamResampler, to_pcm16
from livehuman.speech.phones import Phone

RENDER_BATCH = 4  # frames rendered per trip to the render thread, at most
# A reply without phones (OpenAI's voices) may have its frames wait for the phones heard in them
# (motion/phone_blend.py) while this much of it is queued ahead of what plays: its audio came
# ahead of time. The frames held are let go, as the sound alone made them, when the queue falls to
# RELEASE_AHEAD_S with no more audio come: a stall in the reply's audio never stops its playing.
# On 17 recordings of people coming 1.5, 3 and 10 times faster than they play, the mouth follows
# their phones at 0.762, 0.774 and 0.785 (the sound alone 0.746, a render of the file 0.787).
HOLD_AHEAD_S = 0.3
RELEASE_AHEAD_S = 0.2


@dataclass
class Reply:
    """The audio of one response on its way to the clock."""

    response_id: str
    generation: int  # the synchronizer's generation when the reply began
    item_id: str | None = None
    rate: int | None = None  # the rate its audio comes at (fixed by the first chunk)
    resampler: StreamResampler | None = None  # to WEBRTC_RATE, once for all
    listen: ReplyAudio | None = None  # the reply's 16 kHz audio, for engines that listen (MuseTalk)
    audio: list[np.ndarray] = field(default_factory=list)  # WEBRTC_RATE int16 not yet paired with a frame
    held: int = 0  # samples in `audio`
    received_ms: float = 0.0  # audio received so far, in ms
    frames: int = 0  # frames made so far
    release: asyncio.TimerHandle | None = None  # lets go of frames the lip sync holds (HOLD_AHEAD_S)
    phones: list[Phone] = field(default_factory=list)  # not yet given to the lip sync; from the reply's start
    done: bool = False  # the response is complete (nothing more will come for it)
    flushed: bool = False  # its audio is complete and every frame is queued


@dataclass(frozen=True)
class Interruption:
    """What a barge-in cut short."""

    dropped: int  # units dropped from the clock
    item_id: str | None  # the reply item playing or on its way, if any
    heard_ms: int  # how much of that item's audio was really sent (0 without an item)
    response_id: str | None  # the response whose audio was still coming in, if any
    response_done: bool  # whether that response had already completed


class _RenderJob(NamedTuple):
    """One frame waiting for the render thread: its mouth, its 40 ms of audio, its place in the reply."""

    generation: int  # the synchronizer's generation when queued: a barge-in makes it stale
    mouth: FaceControls
    listen: ReplyAudio | None
    reply_frame: int  # the frame's index in its reply (its window of `listen`)
    audio: np.ndarray
    item_id: str | None
    item_ms: int  # the reply's audio played once this frame has
    last: bool  # the reply's last frame


class AVSynchronizer:
    """Pairs a session's reply audio with the frames drawn for it, and plays both on one MediaClock.

    `on_play(unit, first, t)` is called as each unit of a reply starts playing (`first`: the first
    unit of its item), with the clock's time. Run `render_loop()` and `idle_loop()` as tasks.
    """

    def __init__(self, renderer: FaceRenderer, on_play: Callable[[MediaUnit, bool, float], None] | None = None):
        self.renderer = renderer
        self.clock = MediaClock(idle=self._idle_frame, on_unit=self._on_unit)
        self.reply: Reply | None = None
        self.generation = 0
        self._on_play = on_play
        self._loop = asyncio.get_event_loop()
        self._queue: asyncio.Queue[_RenderJob] = asyncio.Queue()
        self._idle_next: np.ndarray | None = None
        self._idle_wanted = asyncio.Event()
        self._playing_item: str | None = None
        self._releasing: set[asyncio.Task] = set()  # held frames being let go (_release_held_later)

    async def start(self) -> None:
        """Draw the first idle frame (the clock shows it until a reply comes)."""
        self._idle_next = await self._in_render_thread(self.renderer.render, None)

    def close(self) -> None:
        """Stop the clock; frames still being drawn are dropped, not played."""
        self.generation += 1
        self.clock.stop()

    @property
    def active(self) -> bool:
        """True while a reply is coming in, queued or playing."""
        return self.reply is not None or self.clock.busy

    # a reply's audio

    def begin(self, response_id: str) -> Reply:
        """Start a new reply (whatever came before it is left to play)."""
        self.reply = Reply(response_id=response_id, generation=self.generation)
        return self.reply

    async def push_audio(self, reply: Reply, samples: np.ndarray, rate: int,
                         phones: list[Phone] | None = None) -> None:
        """The reply's next audio (float32), with phones timed from the reply's first sample."""
        if phones:
            reply.phones += phones
        if len(samples) == 0:
            return
        if reply.resampler is None:
            reply.rate = rate
            reply.resampler = StreamResampler(rate, WEBRTC_RATE)
            reply.listen = self.renderer.reply_audio(rate)
        elif rate != reply.rate:
            raise ValueError(f"a reply's audio must keep one rate: {reply.rate} Hz, then {rate} Hz")
        chunk_phones = self._phones_for(reply, len(samples))
        reply.received_ms += len(samples) * 1000 / rate
        hold = self._ahead() >= HOLD_AHEAD_S
        # Lip sync runs in the session's own lip-sync thread (never behind the drawing of frames),
        # and is waited for: a sentence's burst of audio then goes at the pace the lip sync takes
        # it, rather than all at once into a thread that would compete with every session's media.
        controls, audio = await self._in_lipsync_thread(self._motion, reply, samples, chunk_phones, hold)
        if reply.generation != self.generation:
            return  # interrupted meanwhile
        self._hold(reply, audio)
        self._pair(reply, controls)
        self._release_held_later(reply)

    async def end_audio(self, reply: Reply) -> None:
        """The reply's audio is complete: flush the lip sync and queue the rest, the last frame marked."""
        if reply.flushed:
            return
        reply.flushed = True
        if reply.release is not None:
            reply.release.cancel()
        # The same thread as the audio's lip sync, so it runs after all of it.
        controls, tail = await self._in_lipsync_thread(self._finish_motion, reply)
        if reply.generation != self.generation:
            return
        self._hold(reply, tail)
        # Audio left over after the last frame of controls gets closed-mouth frames of its own.
        while reply.held >= SAMPLES_PER_FRAME // 4 and len(controls) * SAMPLES_PER_FRAME < reply.held:
            controls.append(FaceControls())
        if not controls and reply.frames > 0:
            controls = [FaceControls()]
        self._pair(reply, controls, last=True)

    async def end_reply(self, reply: Reply) -> bool:
        """The response is complete; returns True when it had no audio (nothing will play)."""
        reply.done = True
        await self.end_audio(reply)
        if reply.frames == 0:
            if self.reply is reply:
                self.reply = None
            return True
        return False

    def _phones_for(self, reply: Reply, n: int) -> list[Phone] | None:
        """The held phones that start inside the next `n` samples (still timed from the reply's start)."""
        if not reply.phones:
            return None
        end = reply.received_ms / 1000 + n / reply.rate
        inside = [p for p in reply.phones if p.start < end]
        reply.phones = [p for p in reply.phones if p.start >= end]
        return inside or None

    def _motion(self, reply: Reply, samples: np.ndarray, phones: list[Phone] | None, hold: bool):
        """Lip-sync thread: the frames the audio completes, and the audio at the WebRTC rate."""
        controls = self.renderer.motion(samples, reply.rate, phones, reply.listen, hold=hold)
        return controls, reply.resampler.process(samples)

    def _ahead(self) -> float:
        """Seconds of frames queued to draw or to play."""
        return (self._queue.qsize() + self.clock.queued) * FRAME_MS / 1000

    def _release_held_later(self, reply: Reply) -> None:
        """If the lip sync holds frames, let them go before what is queued runs out (unless more
        audio comes first and this is asked again)."""
        if reply.release is not None:
            reply.release.cancel()
            reply.release = None
        if getattr(self.renderer.lipsync, "held", 0):
            delay = max(self._ahead() - RELEASE_AHEAD_S, 0.0)
            reply.release = self._loop.call_later(delay, self._start_release, reply)

    def _start_release(self, reply: Reply) -> None:
        reply.release = None
        if reply.flushed or reply.generation != self.generation:
            return
        task = asyncio.ensure_future(self._release_held(reply))
        self._releasing.add(task)
        task.add_done_callback(self._releasing.discard)

    async def _release_held(self, reply: Reply) -> None:
        controls = await self._in_lipsync_thread(self.renderer.release)
        if reply.generation == self.generation:  # (before whatever the lip-sync thread did next)
            self._pair(reply, controls)

    def _finish_motion(self, reply: Reply):
        controls = self.renderer.finish(reply.listen)
        return controls, (reply.resampler.flush() if reply.resampler is not None else np.zeros(0, np.float32))

    def _hold(self, reply: Reply, samples: np.ndarray) -> None:
        pcm = to_pcm16(samples)
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
        """Pair each new frame of controls with its 40 ms of audio and queue it for drawing."""
        for i, mouth in enumerate(controls):
            audio = self._take(reply, SAMPLES_PER_FRAME)
            reply_frame = reply.frames
            reply.frames += 1
            item_ms = min(reply.frames * FRAME_MS, int(reply.received_ms))
            self._queue.put_nowait(_RenderJob(reply.generation, mouth, reply.listen, reply_frame, audio,
                                              reply.item_id, item_ms, last and i == len(controls) - 1))

    # barge-in

    def hold(self) -> None:
        """Pause the reply where it is, showing the listening face (a sound over it is being judged)."""
        self.clock.hold()
        self._idle_wanted.set()  # a fresh listening face, not the one drawn before the reply

    def resume(self) -> None:
        """Play the held reply on."""
        self.clock.resume()

    def interrupt(self) -> Interruption:
        """Drop every queued frame and what the clock has not played; the lip sync starts afresh."""
        reply = self.reply
        playing = self._playing_item
        self.generation += 1  # frames still being drawn for the old reply are thrown away
        while not self._queue.empty():
            self._queue.get_nowait()
        dropped = self.clock.interrupt()
        item_id = playing or (reply.item_id if reply else None)
        if reply is not None:
            self.reply = None
            # In the lip-sync thread, after any work of the old reply still queued there.
            self.renderer.lipsync_thread.submit(self.renderer.reset)
        heard = self.clock.heard_ms(item_id) if item_id is not None else 0
        self._playing_item = None
        return Interruption(dropped=dropped, item_id=item_id, heard_ms=heard,
                            response_id=reply.response_id if reply else None,
                            response_done=reply.done if reply else False)

    # drawing

    async def render_loop(self) -> None:
        """Draw queued frames in the render thread and queue them on the clock, for ever."""
        while True:
            jobs: list[_RenderJob] = [await self._queue.get()]
            # Frames that are already waiting go to the render thread together: one round trip
            # through a busy event loop per frame made a reply's first frames trickle out slower
            # than they play (the clock then showed the idle face for a frame).
            while len(jobs) < RENDER_BATCH and not self._queue.empty():
                jobs.append(self._queue.get_nowait())
            jobs = [job for job in jobs if job.generation == self.generation]
            if jobs:
                await self._in_render_thread(self._render_jobs, jobs)

    def _render_jobs(self, jobs: list[_RenderJob]) -> None:
        """Render thread: draw each frame and hand it to the event loop as soon as it is drawn."""
        for job in jobs:
            if job.generation != self.generation:
                return  # interrupted: the rest are stale too
            frame = self.renderer.render(job.mouth, job.listen, job.reply_frame)
            self._loop.call_soon_threadsafe(self._play_rendered, job, frame)

    def _play_rendered(self, job: _RenderJob, frame: np.ndarray) -> None:
        if job.generation != self.generation:
            return  # interrupted while rendering
        self.clock.push(MediaUnit(frame=frame, audio=job.audio, item_id=job.item_id, item_ms=job.item_ms,
                                  last=job.last))

    async def _in_render_thread(self, fn, *args):
        return await self._loop.run_in_executor(self.renderer.executor, fn, *args)

    async def _in_lipsync_thread(self, fn, *args):
        return await self._loop.run_in_executor(self.renderer.lipsync_thread, fn, *args)

    # the listening face

    def _idle_frame(self) -> np.ndarray:
        self._idle_wanted.set()
        return self._idle_next

    async def idle_loop(self) -> None:
        """Draw the next idle frame each time the clock takes one, for ever."""
        while True:
            await self._idle_wanted.wait()
            self._idle_wanted.clear()
            if self.active and not self.clock.held:
                continue  # keep the idle motion's timeline for the listening face
            self._idle_next = await self._in_render_thread(self.renderer.render, None)

    # the clock's report of each unit starting to play

    def _on_unit(self, unit: MediaUnit, t: float) -> None:
        if unit.item_id is None:
            return
        first = self._playing_item != unit.item_id
        self._playing_item = unit.item_id
        if unit.last:
            self._playing_item = None
            reply = self.reply
            if reply is not None and reply.flushed and reply.item_id == unit.item_id:
                self.reply = None
        if self._on_play is not None:
            self._on_play(unit, first, t)
