"""WebRTC tracks that play what a MediaClock hands out, with the clock's own timestamps."""

from __future__ import annotations

import fractions

import cv2
import numpy as np
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from av import AudioFrame, VideoFrame

from livehuman.live.clock import AUDIO_RATE, VIDEO_CLOCK_RATE, MediaClock

AUDIO_TIME_BASE = fractions.Fraction(1, AUDIO_RATE)
VIDEO_TIME_BASE = fractions.Fraction(1, VIDEO_CLOCK_RATE)


class ClockAudioTrack(MediaStreamTrack):
    """The avatar's voice: 20 ms packets of 48 kHz mono from the clock."""

    kind = "audio"

    def __init__(self, clock: MediaClock):
        super().__init__()
        self._clock = clock

    async def recv(self) -> AudioFrame:
        if self.readyState != "live":
            raise MediaStreamError
        samples, pts = await self._clock.audio()
        frame = AudioFrame.from_ndarray(samples.reshape(1, -1), format="s16", layout="mono")
        frame.sample_rate = AUDIO_RATE
        frame.pts = pts
        frame.time_base = AUDIO_TIME_BASE
        return frame


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


def video_frame(image: np.ndarray) -> VideoFrame:
    """A BGR image as the encoder's own YUV 4:2:0 frame.

    OpenCV's conversion (BT.601, limited range, like FFmpeg's default) takes a quarter of the time
    the encoder's own conversion from BGR would, per frame of every session; odd sizes, which 4:2:0
    cannot halve, are left to the encoder.
    """
    height, width = image.shape[:2]
    if height % 2 or width % 2:
        return VideoFrame.from_ndarray(image, format="bgr24")
    return VideoFrame.from_ndarray(cv2.cvtColor(image, cv2.COLOR_BGR2YUV_I420), format="yuv420p")
