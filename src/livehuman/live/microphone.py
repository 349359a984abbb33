"""The browser's microphone, read as soon as each packet arrives.

aiortc's receiver puts incoming audio through a jitter buffer that holds four packets (80 ms)
before handing one on, so that a loudspeaker plays smoothly. The server plays nothing: the
microphone goes to the VAD and the recognizer, and every millisecond it waits there is a
millisecond before the avatar can answer. So the server's audio receivers get `PromptAudioBuffer`:
a packet goes on the moment it is next in order, and a missing one is waited for only briefly.
Then `microphone_chunks` takes every packet already decoded in one turn of the event loop.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable

import av
import numpy as np
from aiortc.jitterbuffer import JitterFrame
from aiortc.rtp import RtpPacket

log = logging.getLogger("livehuman.live")

CHUNK_MS = 20  # microphone audio goes to the brain as it comes (one WebRTC packet): no added wait

SEQUENCE_SPAN = 1 << 16  # RTP sequence numbers wrap at 16 bits
# Packets that far from the one expected (either way) mean the stream restarted, not that packets
# were lost or came late.
RESTART_AHEAD = 1000


class HeldPackets:
    """RTP packets held by sequence number from the one expected next: what both of livehuman's
    jitter buffers (this one and the Python client's video buffer) keep."""

    def __init__(self) -> None:
        self._next: int | None = None  # the sequence number to hand on next
        self._held: dict[int, RtpPacket] = {}

    def _hold(self, packet: RtpPacket) -> bool:
        """Hold `packet`; False (dropped) when it comes shortly before the one expected: late after
        being given up on, or a duplicate. One far from it either way restarts from itself (the
        sender started its numbering again)."""
        seq = packet.sequence_number
        if self._next is None:
            self._next = seq
        ahead = (seq - self._next) % SEQUENCE_SPAN
        if ahead >= SEQUENCE_SPAN - RESTART_AHEAD:
            return False
        if ahead > RESTART_AHEAD:
            self._held.clear()
            self._next = seq
        self._held[seq] = packet
        return True


class PromptAudioBuffer(HeldPackets):
    """An audio jitter buffer for a listener, not a loudspeaker (same `add` as aiortc's JitterBuffer).

    Rules, in order, for each packet that arrives:
    - a packet shortly before the one expected (late after being given up on, or a duplicate) is
      dropped;
    - a packet far from the one expected, ahead or behind, restarts the buffer from itself (the
      sender started its numbering again);
    - the packet is held; while the expected packet is missing and more than `patience` later
      ones are held, the missing ones are given up on (the recognizer copes better with 20 ms
      lost than with a delay that every later packet inherits);
    - the expected packet, if held, goes on.
    aiortc takes at most one frame per packet received, so packets held when one is given up on
    (or after a reordering) stay held: from then on the buffer runs up to `patience` packets behind,
    for the rest of the stream (aiortc's own runs up to 16 behind after a loss, and 4 always).
    """

    def __init__(self, patience: int = 2):
        super().__init__()
        self.patience = patience

    def add(self, packet: RtpPacket) -> tuple[bool, JitterFrame | None]:
        """Take one packet; return aiortc's pair: (ask for a key frame? never for audio, the frame to
        decode or None)."""
        if not self._hold(packet):
            return False, None
        if self._next not in self._held and len(self._held) > self.patience:
            oldest = min(self._held, key=lambda held: (held - self._next) % SEQUENCE_SPAN)
            log.debug("microphone: gave up on %d lost packet(s)", (oldest - self._next) % SEQUENCE_SPAN)
            self._next = oldest
        ready = self._held.pop(self._next, None)
        if ready is None:
            return False, None
        self._next = (self._next + 1) % SEQUENCE_SPAN
        return False, JitterFrame(data=ready._data, timestamp=ready.timestamp)


def hear_promptly(receiver) -> bool:
    """Give an aiortc audio receiver (before media flows) a PromptAudioBuffer; False, with
    aiortc's buffer kept, when this aiortc keeps its buffer elsewhere."""
    if not replace_jitter_buffer(receiver, PromptAudioBuffer()):
        log.warning("this aiortc keeps its audio jitter buffer elsewhere: the microphone is read 80 ms late")
        return False
    return True


def replace_jitter_buffer(receiver, buffer) -> bool:
    """Put `buffer` in an aiortc receiver (before media flows) in place of its own; False when this
    aiortc keeps its buffer elsewhere."""
    # aiortc has no public setting for this: its receiver keeps the buffer in a private attribute.
    name = "_RTCRtpReceiver__jitter_buffer"
    if not hasattr(receiver, name):
        return False
    setattr(receiver, name, buffer)
    return True


async def microphone_chunks(track, rate: Callable[[], int]) -> AsyncIterator[tuple[np.ndarray, int]]:
    """The microphone `track`'s audio as float32 mono chunks of CHUNK_MS at the rate `rate()` asks
    (the brain's; a fallback brain taking over may change it), with that rate, until the track ends.

    A packet already decoded is taken at once, without a turn of the event loop. Awaited through
    `asyncio.wait_for` (a task for each), every 20 ms packet waited for a turn, and a server drawing
    and sending several sessions turned its loop less often than that: the microphone fell seconds
    behind, further with every question, and the answers with it (docs/benchmarks.md, session 41).
    """
    current = resampler = None
    pending = np.zeros(0, np.float32)
    while True:
        try:
            frame = await track.recv()
        except Exception:  # MediaStreamError: the browser's track ended
            return
        if (wanted := rate()) != current:  # (the few samples left at the old rate are not this rate's)
            current, pending, size = wanted, np.zeros(0, np.float32), wanted * CHUNK_MS // 1000
            resampler = av.AudioResampler(format="flt", layout="mono", rate=current)
        # Straight to the rate the brain listens at: one resampling, float32 as the brain takes it.
        pending = np.concatenate([pending, *(out.to_ndarray().reshape(-1) for out in resampler.resample(frame))])
        while len(pending) >= size:
            chunk, pending = pending[:size], pending[size:]
            yield chunk, current
