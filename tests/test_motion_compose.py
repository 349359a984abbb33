"""One merge of the face's layers: the rules, and the live and batch drivers agreeing through it."""

from __future__ import annotations

from dataclasses import fields

import numpy as np
import pytest

from helpers_motion import TEXTS, espeak_speech
from livehuman.live.face_renderer import FaceRenderer
from livehuman.motion.compose import EXPRESSION, MOUTH, compose
from livehuman.motion.controls import FaceControls
from livehuman.motion.stream import IdleMotion, StreamingLipSync
from livehuman.rates import FPS, REALTIME_RATE
from livehuman.render.batch import speech_controls
from livehuman.render.cpu.engine import CpuEngine
from livehuman.speech.audio import Speech, resample

CHANNELS = [f.name for f in fields(FaceControls)]


def as_array(controls):
    return np.array([[getattr(c, name) for name in CHANNELS] for c in controls])


def test_listening_keeps_the_life_and_closes_the_mouth():
    life = FaceControls(jaw=0.4, blink=0.7, gaze_x=0.1, yaw=1.5, brow=0.2)
    out = compose(life)
    assert out == FaceControls(blink=0.7, gaze_x=0.1, yaw=1.5, brow=0.2)
    assert life.jaw == 0.4  # the layers are left as they were


def test_speaking_takes_the_mouth_and_lays_the_emphasis_over_the_expression():
    life = FaceControls(blink=0.3, smile=0.1, brow=0.2, gaze_y=-0.05, pitch=-1.0)
    mouth = FaceControls(jaw=0.8, spread=0.2, round=0.1, press=0.0, tuck=0.3, teeth=0.5, tongue=0.2,
                         brow=0.35, smile=0.0, blink=0.9)
    out = compose(life, mouth)
    for name in MOUTH:
        assert getattr(out, name) == getattr(mouth, name)
    assert out.brow == 0.35 and out.smile == 0.1  # the larger of the two, not the sum
    assert out.blink == 0.9
    assert out.gaze_y == -0.05 and out.pitch == -1.0


def test_an_expression_adds_to_the_life_within_the_channels_ranges():
    life = FaceControls(smile=0.0, brow=0.3, yaw=1.0, blink=0.2)
    expression = FaceControls(smile=0.6, brow=0.9, squint=-0.5, yaw=2.0, jaw=1.0)
    out = compose(life, FaceControls(jaw=0.5, brow=0.1), expression)
    assert out.smile == pytest.approx(0.6) and out.brow == 1.0 and out.squint == 0.0
    assert out.yaw == pytest.approx(3.0) and out.jaw == 0.5 and out.blink == 0.2
    for name in EXPRESSION:
        assert getattr(compose(life, None, expression), name) == getattr(out, name)


@pytest.mark.parametrize("seed, head_motion", [(5, True), (11, False)])
def test_the_live_and_batch_drivers_give_the_same_controls(seed, head_motion):
    s = espeak_speech(TEXTS["mixed"] + " " + TEXTS["bilabial"])
    speech = Speech(resample(s.audio, REALTIME_RATE), s.phones)
    batch = speech_controls(speech, FPS, head_motion=head_motion, seed=seed)

    # The live driver, as the synchronizer drives it: the reply's audio in 100 ms chunks, its
    # phones (timed from its first sample) with the first; one merged frame per lip-sync frame.
    renderer = FaceRenderer(CpuEngine(), None, lambda: StreamingLipSync(FPS),
                            lambda: IdleMotion(FPS, seed=seed, head_motion=head_motion))
    samples, chunk, mouths = speech.audio.samples, REALTIME_RATE // 10, []
    for start in range(0, len(samples), chunk):
        mouths += renderer.motion(samples[start : start + chunk], REALTIME_RATE, speech.phones if start == 0 else None)
    mouths += renderer.finish()
    live = [renderer.face(mouth) for mouth in mouths]
    renderer.close()

    assert len(live) == len(batch)
    diff = np.abs(as_array(live) - as_array(batch))
    assert diff.max() < 1e-6, CHANNELS[int(np.argmax(diff.max(axis=0)))]
    # Not a vacuous match: the mouth, the brows, the blinks and (when on) the head all move.
    moving = as_array(batch).std(axis=0)
    for name in ("jaw", "press", "brow", "blink") + (("yaw", "pitch") if head_motion else ()):
        assert moving[CHANNELS.index(name)] > 0.01, name
    if not head_motion:
        assert not as_array(batch)[:, [CHANNELS.index(n) for n in ("yaw", "pitch", "roll")]].any()
