"""The media clock: the one time source that pairs, paces and cuts a session's audio and video."""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import numpy as np

from livehuman.rates import FPS, FRAME_MS, WEBRTC_RATE

AUDIO_RATE = WEBRTC_RATE  # the old name, still imported by live/bench.py
PACKET_MS = 20  # one audio packet; two per video frame
SAMPLES_PER_FRAME = WEBRTC_RATE * FRAME_MS // 1000  # 1920
SAMPLES_PER_PACKET = WEBRTC_RATE * PACKET_MS // 1000  # 960
VIDEO_CLOCK_RATE = 90000
VIDEO_PTS_STEP = VIDEO_CLOCK_RATE // FPS  # 3600
VIDEO_PTS_PER_TICK = VIDEO_CLOCK_RATE * PACKET_MS // 1000  # 1800: a frame may start on any tick
VOICED_RMS = 300.0  # int16 RMS above which a packet counts as voiced (about -40 dBFS)
OUT_DEPTH = 5  # frames handed to the video track but not yet taken (200 ms); more are dropped (oldest)
# The audio track may fall as far behind (200 ms of packets): its encoder shares aiortc's thread
# pool with the video encoders, and a busy pool must delay a packet, not drop it (a gap in the voice).
AUDIO_OUT_DEPTH = OUT_DEPTH * FRAME_MS // PACKET_MS


@dataclass
class MediaUnit:
    """One 40 ms slice of output: a video frame and the 48 kHz audio played with it."""

    frame: np.ndarray  # BGR uint8
    audio: np.ndarray | None = None  # (1920,) int16 mono at 48 kHz; None is silence
    item_id: str | None = None  # the reply item whose audio this is
    item_ms: int = 0  # position in that item's audio at the end of this unit, in ms
    last: bool = False  # the last unit of its reply


@dataclass
class ClockStats:
    """What the clock has done so far."""

    frames: int = 0  # video frames handed out
    speech_frames: int = 0  # of which carried a reply
    idle_frames: int = 0  # of which were idle (nothing queued)
    underruns: int = 0  # idle frames in the middle of a reply (rendering fell behind: 40 ms of gap in the voice each)
    held_frames: int = 0  # idle frames shown while a reply was held (a sound over it was being judged)
    late_ticks: int = 0  # ticks that ran more than one packet late
    dropped_frames: int = 0  # video frames dropped because the video track did not take them in time
    dropped_packets: int = 0  # audio packets dropped because the audio track did not take them in time
    interrupts: int = 0


class MediaClock:
    """Pairs each video frame with its two 20 ms audio packets and hands them out in real time.

    Producers `push` MediaUnits; the tracks await `video()` and `audio()`. When nothing is queued
    the clock shows `idle()`'s frame with silence, so media keeps flowing. Ticks are scheduled from
    one monotonic start time (tick n is due at start + n * 20 ms), so sleeping late never drifts.
    Every timestamp comes from the tick (audio n * 960, video n * 1800), so a reply may start on
    any 20 ms tick and its audio and video still share one timeline.
    """

    def __init__(
        self,
        idle: Callable[[], np.ndarray],
        now: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        on_unit: Callable[[MediaUnit, float], None] | None = None,
    ):
        self._idle = idle
        self._now = now
        self._sleep = sleep
        self._on_unit = on_unit  # called as each unit starts playing, with the time
        self._queue: deque[MediaUnit] = deque()
        self._video_out: asyncio.Queue = asyncio.Queue()
        self._audio_out: asyncio.Queue = asyncio.Queue()
        self._heard: dict[str, int] = {}
        self._current: MediaUnit | None = None
        self._task: asyncio.Task | None = None
        self.start_time: float | None = None
        self.tick = 0  # the next tick to run
        self._half = 0  # which of the current unit's two packets the next tick plays
        self._in_gap = False  # idle frames are filling a gap in the middle of a reply
        self.held = False  # the reply waits where it is (hold/resume): idle frames play meanwhile
        self.stats = ClockStats()
        self.last_voiced_at: float | None = None  # when the last voiced packet was handed out

    # producers

    def push(self, unit: MediaUnit) -> None:
        """Queue one unit to play after everything already queued."""
        self._queue.append(unit)

    @property
    def queued(self) -> int:
        """Units waiting to play."""
        return len(self._queue)

    @property
    def busy(self) -> bool:
        """True while a reply's media is queued or playing."""
        return bool(self._queue) or (self._current is not None and self._current.item_id is not None)

    def hold(self) -> None:
        """Pause the reply where it is: from the next unit on, the idle face and silence play and
        the queue waits (a sound over the reply may be an interruption; see brain/barge_in.py). The
        unit playing finishes its 40 ms: a hold lands on a frame's edge, so `resume` loses nothing."""
        self.held = True

    def resume(self) -> None:
        """Play the held reply on from where it paused."""
        self.held = False

    def interrupt(self) -> int:
        """Drop every queued unit and any packet not yet taken (barge-in); return units dropped."""
        dropped = len(self._queue)
        self._queue.clear()
        self._in_gap = False
        self.held = False
        # The second half of the playing unit must not be heard either.
        if self._current is not None and self._current.item_id is not None:
            self._current = MediaUnit(frame=self._current.frame)
        while not self._video_out.empty():
            self._video_out.get_nowait()
        while not self._audio_out.empty():
            _, _, item_id, heard = self._audio_out.get_nowait()
            if item_id is not None:
                self._heard[item_id] = min(self._heard[item_id], heard - PACKET_MS)
        self.stats.interrupts += 1
        return dropped

    def heard_ms(self, item_id: str) -> int:
        """How many ms of a reply item's audio have been handed to the transport (or are queued for
        it: a barge-in takes back what it drops) so far."""
        return self._heard.get(item_id, 0)

    # consumers

    async def video(self) -> tuple[np.ndarray, int]:
        """The next video frame (BGR) and its pts in 1/90000 s."""
        self.start()
        return await self._video_out.get()

    async def audio(self) -> tuple[np.ndarray, int]:
        """The next 20 ms audio packet (960 int16 samples at 48 kHz) and its pts in samples."""
        self.start()
        packet, pts, _, _ = await self._audio_out.get()
        return packet, pts

    # pacing

    def start(self) -> None:
        """Start ticking in real time (idempotent)."""
        if self._task is None:
            self._task = asyncio.ensure_future(self.run())

    def stop(self) -> None:
        """Stop ticking."""
        if self._task is not None:
            self._task.cancel()

    async def run(self, ticks: int | None = None) -> None:
        """Run `ticks` ticks (forever when None), each at its scheduled time."""
        if self.start_time is None:
            self.start_time = self._now()
        end = None if ticks is None else self.tick + ticks
        while end is None or self.tick < end:
            due = self.start_time + self.tick * PACKET_MS / 1000
            delay = due - self._now()
            if delay < -PACKET_MS / 1000:
                self.stats.late_ticks += 1
            # Catching up after a stall still yields between ticks, so the tracks take each packet
            # and frame as it comes instead of finding a burst that overflows their queues.
            await self._sleep(max(delay, 0.0))
            self.step()

    def step(self) -> None:
        """Run one tick now: a unit plays over two ticks, its frame and first packet, then its second
        packet. A reply's first unit does not wait out an idle frame's second half: it starts at once."""
        n = self.tick
        self.tick += 1
        if self._half == 0 or self._reply_waits():
            self._start_unit(n)
            self._half = 0
        unit = self._current
        half = self._half
        self._half = 1 - half
        if unit.audio is None:
            packet = np.zeros(SAMPLES_PER_PACKET, np.int16)
        else:
            packet = unit.audio[half * SAMPLES_PER_PACKET : (half + 1) * SAMPLES_PER_PACKET]
            if np.sqrt(np.mean(packet.astype(np.float32) ** 2)) > VOICED_RMS:
                self.last_voiced_at = self._now()
        heard = None
        if unit.item_id is not None:
            heard = unit.item_ms - (PACKET_MS if half == 0 else 0)
            self._heard[unit.item_id] = max(self._heard.get(unit.item_id, 0), heard)
        # The item and its heard-so-far travel with the packet: a barge-in that drops the packet
        # before the audio track takes it takes back what it added.
        entry = (packet, n * SAMPLES_PER_PACKET, unit.item_id, heard)
        self.stats.dropped_packets += self._put(self._audio_out, entry, AUDIO_OUT_DEPTH)

    def _reply_waits(self) -> bool:
        """Whether a reply is queued while the idle face plays: the voice should not wait 20 ms more."""
        current = self._current
        return (current is not None and current.item_id is None and bool(self._queue) and not self.held
                and self._queue[0].item_id is not None)

    def _start_unit(self, n: int) -> None:
        """Tick `n` starts the next queued unit (or the idle face): its frame goes to the video track."""
        unit = self._queue.popleft() if self._queue and not self.held else None
        if unit is None:
            previous = self._current
            if self.held:
                self.stats.held_frames += 1
            else:
                if previous is not None and previous.item_id is not None and not previous.last:
                    self._in_gap = True
                if self._in_gap:
                    self.stats.underruns += 1
            unit = MediaUnit(frame=self._idle())
            self.stats.idle_frames += 1
        else:
            self._in_gap = False
            if unit.item_id is not None:
                self.stats.speech_frames += 1
        self._current = unit
        self.stats.frames += 1
        self.stats.dropped_frames += self._put(self._video_out, (unit.frame, n * VIDEO_PTS_PER_TICK), OUT_DEPTH)
        if self._on_unit is not None:
            self._on_unit(unit, self._now())

    @staticmethod
    def _put(out: asyncio.Queue, item, depth: int) -> int:
        """Queue `item`, first dropping the oldest beyond `depth`; returns how many were dropped."""
        # A track that is not reading (not connected yet, or gone) must not make media pile up.
        dropped = 0
        while out.qsize() >= depth:
            out.get_nowait()
            dropped += 1
        out.put_nowait(item)
        return dropped
