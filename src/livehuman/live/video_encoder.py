"""The face's VP8 encoder: aiortc's, without the temporal denoiser that a camera's picture needs.

aiortc opens libvpx with `noise-sensitivity 4`, which filters each frame against the ones before
it to take out a sensor's noise. The face is drawn, not filmed: it has no such noise, and the
filter cost 16-43 % of each frame's encoding (`bench render`'s "live video" rows; on a 2-core AMD
EPYC, 5.2 → 4.1 ms a 512×512 frame), with the picture as good or a little closer to what was drawn
(docs/benchmarks.md, session 42). Everything else is aiortc's: its real-time settings, packetizer,
key frames on request and the bitrate its congestion control sets."""

from __future__ import annotations

import logging
import multiprocessing

import av
from aiortc.codecs.vpx import Vp8Encoder, number_of_threads
from aiortc.sdp import SessionDescription

log = logging.getLogger("livehuman.live")

# aiortc's real-time VP8 settings (aiortc/codecs/vpx.py), the denoiser left off.
KF_MAX_DIST = 3000
QMIN, QMAX = 2, 56


class RenderedVp8Encoder(Vp8Encoder):
    """aiortc's Vp8Encoder with libvpx opened for drawn frames: no temporal denoiser."""

    def encode(self, frame: av.VideoFrame, force_keyframe: bool = False) -> tuple[list[bytes], int]:
        if self.codec is None or self._stale(frame):
            self.codec = self._open(frame.width, frame.height)
        return super().encode(frame, force_keyframe)

    def _stale(self, frame: av.VideoFrame) -> bool:
        """Whether the open encoder no longer fits: a new size, or a bitrate more than 10 % off (as
        aiortc reopens it, which would be with its own settings)."""
        return ((frame.width, frame.height) != (self.codec.width, self.codec.height)
                or abs(self.target_bitrate - self.codec.bit_rate) / self.codec.bit_rate > 0.1)

    def _open(self, width: int, height: int) -> av.VideoCodecContext:
        bitrate = self.target_bitrate
        codec = av.CodecContext.create("libvpx", "w")
        codec.width, codec.height = width, height
        codec.bit_rate = bitrate
        codec.pix_fmt = "yuv420p"
        codec.gop_size = KF_MAX_DIST
        codec.qmin, codec.qmax = QMIN, QMAX
        codec.options = {
            "bufsize": str(bitrate),  # a one-second buffer
            "cpu-used": "-6",
            "deadline": "realtime",
            "lag-in-frames": "0",
            "minrate": str(bitrate),  # constant bitrate
            "maxrate": str(bitrate),
            "noise-sensitivity": "0",
            "overshoot-pct": "15",
            "partitions": "0",
            "static-thresh": "1",
            "undershoot-pct": "100",
        }
        codec.thread_count = number_of_threads(width * height, multiprocessing.cpu_count())
        return codec


def encode_rendered(pc, sender) -> bool:
    """Once `pc` has its answer: give the video `sender` a RenderedVp8Encoder when VP8 was agreed
    on (H.264 keeps aiortc's encoder). False when it keeps aiortc's."""
    video = [m for m in SessionDescription.parse(pc.localDescription.sdp).media if m.kind == "video"]
    if not video or not video[0].rtp.codecs or video[0].rtp.codecs[0].mimeType.lower() != "video/vp8":
        return False
    # aiortc has no public setting for this: its sender makes its encoder on the first frame,
    # unless one is already in this private attribute.
    name = "_RTCRtpSender__encoder"
    if not hasattr(sender, name) or getattr(sender, name) is not None:
        log.warning("this aiortc keeps its video encoder elsewhere: the face is encoded with its denoiser")
        return False
    setattr(sender, name, RenderedVp8Encoder())
    return True
