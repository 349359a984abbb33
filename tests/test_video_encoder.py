"""The face's VP8 encoder (live/video_encoder.py) against aiortc's own, on frames the cpu engine drew:
each encoded as a live session sends it, then depacketized and decoded as a receiver does."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from aiortc.codecs.vpx import Vp8Encoder

from livehuman.avatar.avatar import Avatar
from livehuman.avatar.default import default_portrait
from livehuman.avatar.landmarks import FaceMeshDetector
from livehuman.bench.render import round_trip
from livehuman.live.video_buffer import is_key_frame
from livehuman.live.video_encoder import RenderedVp8Encoder
from livehuman.motion.synthetic import speech_like_controls
from livehuman.render.cpu.engine import CpuEngine
from livehuman.render.engine import FrameDrive

FPS = 25


@pytest.fixture(scope="module")
def talking(tmp_path_factory) -> list[np.ndarray]:
    """Three seconds of the default face as a live session draws it: speech-like mouth shapes,
    closures, blinks and head sway."""
    image = default_portrait()
    with FaceMeshDetector() as detector:
        face = detector.detect(image)
    avatar = Avatar(name="default", directory=Path(tmp_path_factory.mktemp("face")), fps=FPS, kind="photo",
                    frames=image[None], landmarks=face.points[None], boxes=face.box[None])
    engine = CpuEngine(head_motion=True)
    return [engine.render(avatar, k, FrameDrive(speech_like_controls(k))) for k in range(3 * FPS)]


def test_what_is_drawn_is_sent_unfiltered(talking):
    """aiortc's encoder filters each frame against the ones before it (its denoiser, for a camera's
    sensor noise); the face's does not: a drawn face has no such noise, and the filter cost 16-43 %
    of each frame's encoding (`bench render`). Probed with noise added to each frame of a still face:
    aiortc's encoder smooths it away over time, the face's sends more of each frame as it is (here
    1.15x the frame-to-frame change that aiortc's keeps)."""
    rng = np.random.default_rng(7)
    still = talking[0].astype(np.float32)
    noisy = [np.clip(still + rng.normal(0, 6, still.shape[:2])[..., None], 0, 255).astype(np.uint8) for _ in range(40)]

    def kept(encoder) -> float:
        return float(np.std(np.stack(round_trip(encoder, noisy).luma[10:]), axis=0).mean())

    ours, aiortcs = kept(RenderedVp8Encoder()), kept(Vp8Encoder())
    print(f"frame-to-frame change kept: {aiortcs:.2f} by aiortc's encoder, {ours:.2f} by the face's")
    assert ours > 1.08 * aiortcs, (ours, aiortcs)


class CountingEncoder(RenderedVp8Encoder):
    """The face's encoder, counting how often it opens libvpx with its settings."""

    opened = 0

    def _open(self, width, height):
        self.opened += 1
        return super()._open(width, height)


def test_a_new_bitrate_or_size_reopens_the_encoder_with_the_faces_settings(talking):
    """aiortc's congestion control sets the bitrate; the encoder is reopened for a change of more
    than 10 % (as aiortc does) and for a new frame size, each time with the face's settings: were
    aiortc to reopen it, it would be with its own, the denoiser back."""
    encoder = CountingEncoder()
    round_trip(encoder, talking[:5])
    encoder.target_bitrate = int(0.95 * encoder.target_bitrate)  # within 10 %: kept
    round_trip(encoder, talking[5:10], keyframe_at=0)  # (each round trip's decoder starts afresh)
    assert encoder.opened == 1
    encoder.target_bitrate = 300_000
    assert len(round_trip(encoder, talking[10:15]).luma) == 5
    assert (encoder.opened, encoder.codec.bit_rate) == (2, 300_000)
    smaller = [image[:256, :256] for image in talking[15:20]]
    assert len(round_trip(encoder, smaller).luma) == 5
    assert (encoder.opened, encoder.codec.width, encoder.codec.height) == (3, 256, 256)


def test_a_key_frame_comes_when_the_receiver_asks(talking):
    """A receiver that lost packets asks for a key frame (a browser's PLI); only the first frame and
    the asked-for one are key frames, and every frame decodes."""
    trip = round_trip(RenderedVp8Encoder(), talking[:20], keyframe_at=12)
    assert [k for k, data in enumerate(trip.sent) if is_key_frame(data)] == [0, 12]
    assert len(trip.luma) == 20
