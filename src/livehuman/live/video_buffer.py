"""The Python client's video jitter buffer: a lost packet costs a few frames, not ten seconds.

aiortc's own video buffer waits for a missing packet until 512 later ones have arrived: when a
packet is lost for good (its retransmission lost too, as happens when a starved machine lets a
socket overflow) the picture freezes for ten seconds or more while the sound goes on. A browser
gives up far sooner and asks for a key frame; `KeyFrameVideoBuffer` does the same.
"""

from __future__ import annotations

import logging

from aiortc.jitterbuffer import JitterFrame
from aiortc.rtp import RtpPacket

from livehuman.live.microphone import SEQUENCE_SPAN, HeldPackets, replace_jitter_buffer

log = logging.getLogger("livehuman.live")

ASK_AGAIN = 25  # frames dropped while waiting for a key frame before it is asked for again


def is_key_frame(data: bytes) -> bool:
    """Whether a VP8 frame is a key frame (bit 0 of its first byte is 0). Other codecs' frames
    (H.264 starts with a zero byte) count as key frames: nothing is waited for."""
    return bool(data) and not data[0] & 1


class KeyFrameVideoBuffer(HeldPackets):
    """A video jitter buffer (the same `add` as aiortc's JitterBuffer) that gives up on lost packets.

    Rules, for each packet that arrives:
    - a packet shortly before the one expected (late after being given up on, or a duplicate) is
      dropped; one far from it either way restarts the buffer from itself;
    - a frame is complete once a packet of the next frame follows it without a gap (aiortc's rule),
      and goes on to the decoder;
    - while a packet of the expected frame is missing and `patience` frames have begun, it is given
      up on: the buffer skips to the first of those frames, asks the sender for a key frame, and drops
      frames until one comes (a frame decoded without the one before it would be smeared).
    """

    def __init__(self, patience: int = 5):
        super().__init__()  # _next: the sequence number the next frame starts with
        self.patience = patience
        self._want_key = False
        self._dropped = 0  # frames dropped while waiting for a key frame

    def add(self, packet: RtpPacket) -> tuple[bool, JitterFrame | None]:
        """Take one packet; return aiortc's pair: (ask for a key frame?, the frame to decode or None)."""
        if not self._hold(packet):
            return False, None
        ask = False
        frame = self._take_frame()
        if frame is None and self._frames_begun() >= self.patience:
            self._skip_to_next_frame()
            log.debug("video: gave up on lost packets; asking for a key frame")
            ask = self._want_key = True
            self._dropped = 0
            frame = self._take_frame()
        if frame is not None and self._want_key:
            if is_key_frame(frame.data):
                self._want_key = False
            else:
                self._dropped += 1
                return ask or self._dropped % ASK_AGAIN == 0, None
        return ask, frame

    def _after_next(self) -> list[int]:
        """The held sequence numbers, in order from the expected one."""
        return sorted(self._held, key=lambda held: (held - self._next) % SEQUENCE_SPAN)

    def _frames_begun(self) -> int:
        """How many different frames (timestamps) the held packets belong to."""
        return len({self._held[seq].timestamp for seq in self._held})

    def _skip_to_next_frame(self) -> None:
        """Drop the held packets of the frame a lost packet belonged to; expect the next frame's first."""
        held = self._after_next()
        broken = self._held[held[0]].timestamp
        for seq in held:
            if self._held[seq].timestamp != broken:
                self._next = seq
                return
            del self._held[seq]

    def _take_frame(self) -> JitterFrame | None:
        """The expected frame, if all of it and the next frame's first packet are held."""
        seq = self._next
        first = self._held.get(seq)
        if first is None:
            return None
        packets = []
        while seq in self._held and self._held[seq].timestamp == first.timestamp:
            packets.append(self._held[seq])
            seq = (seq + 1) % SEQUENCE_SPAN
        if seq not in self._held:
            return None  # the frame may go on: its end is known when the next one begins
        for packet in packets:
            del self._held[packet.sequence_number]
        self._next = seq
        return JitterFrame(data=b"".join(p._data for p in packets), timestamp=first.timestamp)


def install(receiver) -> bool:
    """Give an aiortc video receiver (before media flows) a KeyFrameVideoBuffer; False, with aiortc's
    buffer kept, when this aiortc keeps its buffer elsewhere."""
    return replace_jitter_buffer(receiver, KeyFrameVideoBuffer())
