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
    """A mono Opus encoder for WebRTC: one packet per 20 ms of 48 kHz int16 audio, stamped with its pts."""

    def __init__(self, bit_rate: int = 48000):
        self._codec = CodecContext.create("libopus", "w")
        self._codec.bit_rate = bit_rate
        self._codec.format = "s16"
        self._codec.layout = "mono"
        self._codec.sample_rate = WEBRTC_RATE
        self._codec.time_base = AUDIO_TIME_BASE
        self._codec.options = {"application": "voip"}  # tuned for speech

    def encode(self, samples: np.ndarray, pts: int) -> Packet:
        """The packet for `samples` (960 int16), timed at `pts` samples (the encoder's own delay aside)."""
        frame = AudioFrame.from_ndarray(samples.reshape(1, -1), format="s16", layout="mono")
        frame.sample_rate = WEBRTC_RATE
        frame.pts = pts
        frame.time_base = AUDIO_TIME_BASE
        packets = self._codec.encode(frame)
        if len(packets) != 1:
            raise RuntimeError(f"the Opus encoder gave {len(packets)} packets for one 20 ms frame")
        packet = packets[0]
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
