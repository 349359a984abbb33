"""WebRTC tracks that play what a MediaClock hands out, with the clock's own timestamps."""

from __future__ import annotations

import fractions

import numpy as np
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from av import AudioFrame, CodecContext, Packet, VideoFrame

from livehuman.live.clock import VIDEO_CLOCK_RATE, MediaClock
from livehuman.render.video_file import video_frame
from livehuman.rates import WEBRTC_RATE

AUDIO_TIME_BASE = fractions.Fraction(1, WEBRTC_RATE)
VIDEO_TIME_BASE = fractions.Fraction(1, VIDEO_CLOCK_RATE)
SILENCE_SETTLE = 12  # packets of digital silence encoded before its last one is sent again instead


class ClockAudioTrack(MediaStreamTrack):
    """The avatar's voice: 20 ms Opus packets of the clock's 48 kHz mono audio, encoded right here.

    aiortc would encode each packet in its thread pool: one round trip through the event loop per
    20 ms packet, queued behind every other session's work. With four sessions on two cores that
    round trip took longer than 20 ms, the voice fell behind and the clock dropped packets. Opus
    takes ~0.2 ms a packet, so it is encoded inline and aiortc only packs what it gets.
    """

    kind = "audio"

    def __init__(self, clock: MediaClock):
        super().__init__()
        self._clock = clock
        self._encoder = OpusPackets()

    async def recv(self) -> Packet:
        if self.readyState != "live":
            raise MediaStreamError
        samples, pts = await self._clock.audio()
        return self._encoder.encode(samples, pts)


class OpusPackets:
    """A mono Opus encoder for WebRTC: one packet per 20 ms of 48 kHz int16 audio, stamped with its pts.

    Digital silence (the listening face's, between replies) is encoded for its first SILENCE_SETTLE
    packets, which carry the sound before it down to nothing; after them its last packet is sent
    again, without the encoder, until sound comes: one encoding fewer every 20 ms on the event loop
    of every session that listens (four listening sessions' loop thread 0.36-0.38 → 0.29-0.31 core;
    docs/benchmarks.md, session 42). The silence decodes to the same samples as libopus's own
    packets of it; the encoder then goes on from where it stopped, so the sound after it is not the
    same bytes, but decodes to the same sound within about -50 dB (tests/test_live_clock.py).
    """

    def __init__(self, bit_rate: int = 48000):
        self._codec = CodecContext.create("libopus", "w")
        self._codec.bit_rate = bit_rate
        self._codec.format = "s16"
        self._codec.layout = "mono"
        self._codec.sample_rate = WEBRTC_RATE
        self._codec.time_base = AUDIO_TIME_BASE
        self._codec.options = {"application": "voip"}  # tuned for speech
        self._silent = 0  # silent packets encoded in a row
        self._silence: bytes | None = None  # the last of them, once there have been SILENCE_SETTLE

    def encode(self, samples: np.ndarray, pts: int) -> Packet:
        """The packet for `samples` (960 int16), timed at `pts` samples (the encoder's own delay aside)."""
        if samples.any():
            self._silent, self._silence = 0, None
        elif self._silence is not None:
            return stamped(Packet(self._silence), pts)
        else:
            self._silent += 1
        packet = self._encode(samples, pts)
        if self._silent >= SILENCE_SETTLE:
            self._silence = bytes(packet)
        return packet

    def _encode(self, samples: np.ndarray, pts: int) -> Packet:
        frame = AudioFrame.from_ndarray(samples.reshape(1, -1), format="s16", layout="mono")
        frame.sample_rate = WEBRTC_RATE
        frame.pts = pts
        frame.time_base = AUDIO_TIME_BASE
        packets = self._codec.encode(frame)
        if len(packets) != 1:
            raise RuntimeError(f"the Opus encoder gave {len(packets)} packets for one 20 ms frame")
        return stamped(packets[0], pts)


def stamped(packet: Packet, pts: int) -> Packet:
    """`packet` timed at `pts` samples of 48 kHz."""
    packet.pts = pts
    packet.time_base = AUDIO_TIME_BASE
    return packet


class ClockVideoTrack(MediaStreamTrack):
    """The avatar's face: 25 fps frames from the clock, timed in 1/90000 s."""

    kind = "video"

    def __init__(self, clock: MediaClock):
        super().__init__()
        self._clock = clock

    async def recv(self) -> VideoFrame:
        if self.readyState != "live":
            raise MediaStreamError
        image, pts = await self._clock.video()
        frame = video_frame(image)
        frame.pts = pts
        frame.time_base = VIDEO_TIME_BASE
        return frame
