"""Emotion out: named emotions become expression channels, eased in time, and rendered faces show them
(measured by re-detecting the face mesh) while the lip sync still closes and opens the mouth."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from helpers_motion import TEXTS, espeak_speech
from livehuman.errors import LivehumanError
from livehuman.motion.compose import MOUTH, SMILE_YIELD, compose
from livehuman.motion.controls import FaceControls
from livehuman.motion.expression import (
    CHANNELS,
    EMOTIONS,
    LISTEN_KEEP,
    RAMP_IN,
    RAMP_OUT,
    ExpressionRamp,
    expression_controls,
    expression_track,
    parse_emotion,
)
from livehuman.render.batch import speech_controls
from livehuman.render.cpu.appearance import expression_measures
from livehuman.render.engine import FrameDrive
from test_cpu_engine import avatars, detector, engine  # noqa: F401 (the faces and engine, shared fixtures)

FPS = 25.0
FACES = ("grace", "astronaut")


def test_names_and_strengths_parse_and_bad_ones_say_what_is_allowed():
    assert parse_emotion("joy") == ("joy", 1.0)
    assert parse_emotion(" Sadness:0.4 ") == ("sadness", 0.4)
    with pytest.raises(LivehumanError) as bad:
        parse_emotion("happy")
    for name in EMOTIONS:
        assert name in str(bad.value)
    for text in ("joy:1.5", "joy:-0.1", "joy:lots"):
        with pytest.raises(LivehumanError, match="from 0 to 1"):
            parse_emotion(text)


def test_an_expression_uses_only_its_own_channels_and_scales_with_strength():
    for name in EMOTIONS:
        full, half = expression_controls(name), expression_controls(name, 0.5)
        for channel in MOUTH + ("blink", "gaze_x", "gaze_y"):
            assert getattr(full, channel) == 0.0
        for channel in CHANNELS:
            assert getattr(half, channel) == pytest.approx(0.5 * getattr(full, channel))
    assert expression_controls("neutral") == FaceControls()
    joy, sad, surprise, anger = (expression_controls(n) for n in ("joy", "sadness", "surprise", "anger"))
    assert joy.smile > 0.5 and joy.squint > 0 and surprise.brow > 0.5 and anger.brow < -0.5
    assert sad.brow_inner > 0.5 and sad.frown > 0.5 and sad.smile == 0


def _steps(track: list[FaceControls]) -> np.ndarray:
    values = np.array([[getattr(c, ch) for ch in CHANNELS] for c in track])
    return np.abs(np.diff(values, axis=0))


def _bound(span: np.ndarray, ramp: float) -> np.ndarray:
    """The largest step of an eased change of `span` over `ramp` seconds (smoothstep's slope is 1.5)."""
    return 1.5 * span / (ramp * FPS) + 1e-9


def test_the_expression_eases_in_and_holds():
    track = expression_track(int(2 * FPS), FPS, "joy", 0.8)
    target = expression_controls("joy", 0.8)
    assert track[0] == FaceControls()
    settled = int(np.ceil(RAMP_IN * FPS)) + 1
    for c in track[settled:]:
        for ch in CHANNELS:
            assert getattr(c, ch) == pytest.approx(getattr(target, ch))
    # a few hundred ms, not one frame: at least a third of the way takes more than two frames
    assert track[2].smile < target.smile / 3
    span = np.array([abs(getattr(target, ch)) for ch in CHANNELS])
    assert (_steps(track) <= _bound(span, RAMP_IN)).all()


def test_changes_and_listening_never_jump():
    ramp = ExpressionRamp(FPS, "joy")
    track = []
    plan = {10: ("set", "anger"), 14: ("listen", True), 30: ("set", "surprise"), 48: ("listen", False),
            50: ("set", "sadness"), 70: ("set", "neutral")}
    for k in range(110):
        if k in plan:
            what, arg = plan[k]
            ramp.set(arg) if what == "set" else ramp.listening(arg)
        track.append(ramp.next())
    # the largest span any channel can cross, eased over the shorter ramp
    values = np.array([[getattr(expression_controls(n), ch) for ch in CHANNELS] for n in EMOTIONS])
    span = values.max(0) - values.min(0)
    assert (_steps(track) <= _bound(span, min(RAMP_IN, RAMP_OUT))).all()
    assert track[-1] == FaceControls()  # back to neutral in the end
    # while listening the face keeps a share of the expression: surprise's brows at frame 47
    assert track[47].brow == pytest.approx(LISTEN_KEEP * expression_controls("surprise").brow, abs=0.01)
    assert track[68].brow_inner == pytest.approx(expression_controls("sadness").brow_inner, abs=0.01)


def test_the_mouth_wins_where_the_smile_meets_it():
    joy = expression_controls("joy")
    pressed = compose(FaceControls(), FaceControls(press=1.0), joy)
    assert pressed.press == 1.0 and pressed.jaw == 0.0 and pressed.smile == pytest.approx(joy.smile)
    rounded = compose(FaceControls(), FaceControls(round=1.0, jaw=0.3), joy)
    assert rounded.round == 1.0 and rounded.jaw == 0.3
    assert rounded.smile == pytest.approx((1 - SMILE_YIELD) * joy.smile)
    listening = compose(FaceControls(), None, joy)
    assert all(getattr(listening, m) == 0.0 for m in MOUTH)


@pytest.fixture(scope="module")
def emotions_measured(avatars, engine, detector):  # noqa: F811
    """Re-detected corners and brows of each face under each emotion (the whole composed frame)."""
    out = {}
    for face in FACES:
        for name in EMOTIONS:
            controls = compose(FaceControls(), None, expression_controls(name))
            found = detector.detect(engine.render(avatars[face], 0, FrameDrive(controls)))
            assert found is not None, f"{face} {name}: the face mesh lost the rendered face"
            out[face, name] = expression_measures(found.points)
    print("\n".join(f"{f:10s} {n:9s} " + " ".join(f"{k} {v:+.4f}" for k, v in m.items()) for (f, n), m in out.items()))
    return out


@pytest.mark.parametrize("face", FACES)
def test_joy_raises_the_mouth_corners(emotions_measured, face):
    lift = emotions_measured[face, "joy"]["corners"] - emotions_measured[face, "neutral"]["corners"]
    assert lift > 0.025, lift


@pytest.mark.parametrize("face", FACES)
def test_sadness_lowers_the_mouth_corners(emotions_measured, face):
    drop = emotions_measured[face, "neutral"]["corners"] - emotions_measured[face, "sadness"]["corners"]
    assert drop > 0.01, drop


@pytest.mark.parametrize("name", ["sadness", "concern", "fear"])
def test_sadness_and_concern_raise_the_inner_brows(emotions_measured, name):
    # the astronaut's brows: Grace Hopper's hide behind her glasses' frames, where the mesh cannot see them
    before, after = emotions_measured["astronaut", "neutral"], emotions_measured["astronaut", name]
    inner = after["inner_brows"] - before["inner_brows"]
    outer = after["outer_brows"] - before["outer_brows"]
    assert inner > 0.015 and inner > outer + 0.01, (inner, outer)


def test_surprise_raises_the_brows_and_anger_lowers_them(emotions_measured):
    neutral = emotions_measured["astronaut", "neutral"]
    for part in ("inner_brows", "outer_brows"):
        assert emotions_measured["astronaut", "surprise"][part] - neutral[part] > 0.012
        assert emotions_measured["astronaut", "anger"][part] - neutral[part] < -0.02


@pytest.fixture(scope="module")
def joyful_speech():
    """Real speech full of /p b m/ and open vowels, its frames composed with joy on."""
    speech = espeak_speech(TEXTS["bilabial"] + " " + TEXTS["vowels"])
    return speech_controls(speech, FPS, seed=3, emotion=("joy", 1.0))


def test_joy_rides_through_a_whole_sentence_without_jumps(joyful_speech):
    plain = speech_controls(espeak_speech(TEXTS["bilabial"] + " " + TEXTS["vowels"]), FPS, seed=3)
    for a, b in zip(plain, joyful_speech):
        for m in MOUTH:
            assert getattr(a, m) == getattr(b, m)  # the lip sync is untouched
    smiles = np.array([c.smile for c in joyful_speech])
    late = smiles[int(RAMP_IN * FPS) + 1:]
    rounds = np.array([c.round for c in joyful_speech])[int(RAMP_IN * FPS) + 1:]
    assert late[rounds < 0.05].min() >= 0.8 * expression_controls("joy").smile
    # the smile moves no faster than its ramp, but for what a rounding mouth takes back as fast as it rounds
    joy = expression_controls("joy").smile
    rounding = np.abs(np.diff([c.round for c in joyful_speech]))
    assert (np.abs(np.diff(smiles)) <= 1.5 * joy / (RAMP_IN * FPS) + SMILE_YIELD * joy * rounding + 1e-9).all()


@pytest.mark.parametrize("face", FACES)
def test_with_joy_closures_still_close_and_an_ah_still_opens(avatars, engine, detector, joyful_speech, face):  # noqa: F811
    from livehuman.avatar.landmarks import lip_gap

    def gap(c):
        found = detector.detect(engine.render(avatars[face], 0, FrameDrive(c)))
        assert found is not None
        return lip_gap(found.points)

    press = [c for c in joyful_speech if c.press > 0.8]
    widest = max(joyful_speech, key=lambda c: c.jaw)
    assert press and widest.jaw > 0.8 and widest.smile > 0.3
    rest = gap(compose(FaceControls(), None, expression_controls("joy")))
    closed = [gap(c) for c in press[:: max(1, len(press) // 4)]]
    opened = gap(widest)
    plain_open = gap(compose(FaceControls(), FaceControls(jaw=widest.jaw, teeth=widest.teeth, spread=widest.spread)))
    print(face, "rest", round(rest, 4), "closures", [round(g, 4) for g in closed], "ah", round(opened, 4),
          "ah without joy", round(plain_open, 4))
    assert max(closed) < rest + 0.02
    assert opened > 0.8 * plain_open and opened > 0.15


def test_render_rejects_an_unknown_emotion_in_one_line(tmp_path):
    result = subprocess.run([sys.executable, "-m", "livehuman.cli", "render", "--text", "Hello.", "--emotion", "happy",
                             "-o", str(tmp_path / "x.mp4")], capture_output=True, text=True, timeout=120)
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "joy" in lines[0] and "concern" in lines[0] and "Traceback" not in result.stderr
    assert not (tmp_path / "x.mp4").exists()


def test_a_batch_render_carries_the_emotion_to_the_end(avatars, engine, detector, tmp_path):  # noqa: F811
    from helpers_avatar import decode_all
    from livehuman.render.batch import render_video

    speech = espeak_speech("Mm, hmm.")
    corners = {}
    for emotion in (None, ("joy", 1.0), ("sadness", 1.0)):
        out = tmp_path / f"{emotion}.mp4"
        render_video(avatars["grace"], engine, speech, out, progress=False, seed=2, emotion=emotion)
        frames, _ = decode_all(out)
        first, last = (detector.detect(frames[k]).points for k in (0, -1))
        corners[emotion and emotion[0]] = (expression_measures(first)["corners"], expression_measures(last)["corners"])
    print(corners)
    # the first frame is still neutral (the expression eases in); by the last it shows
    assert abs(corners["joy"][0] - corners[None][0]) < 0.01
    assert corners["joy"][1] - corners[None][1] > 0.025
    assert corners[None][1] - corners["sadness"][1] > 0.01


def test_render_flag_puts_the_emotion_on_the_face(detector, tmp_path):  # noqa: F811
    from helpers_avatar import decode_all

    corners = {}
    for flag in ([], ["--emotion", "joy:0.8"]):
        out = tmp_path / f"{len(flag)}.mp4"
        subprocess.run([sys.executable, "-m", "livehuman.cli", "render", "--text", "Hello there, Sam.", "--seed", "4",
                        "--no-head-motion", "-o", str(out), *flag], check=True, capture_output=True, timeout=300)
        frames, _ = decode_all(out)
        corners[bool(flag)] = expression_measures(detector.detect(frames[-1]).points)["corners"]
    assert corners[True] - corners[False] > 0.02, corners


# -- live: the session's face renderer ------------------------------------------------------------


def live_renderer(engine, avatar, persona=None):  # noqa: F811
    from livehuman.live.face_renderer import FaceRenderer
    from livehuman.motion.stream import IdleMotion, StreamingLipSync

    return FaceRenderer(engine, avatar, lambda: StreamingLipSync(fps=FPS), lambda: IdleMotion(fps=FPS, seed=5),
                        persona=persona)


def test_live_the_expression_ramps_in_while_speaking_fades_while_listening_and_pbm_still_close(
        avatars, engine, detector):  # noqa: F811
    from livehuman.avatar.landmarks import lip_gap

    renderer = live_renderer(engine, avatars["grace"])
    joy = expression_controls("joy").smile
    renderer.express("joy", 1.0)
    listening = [renderer.face(None) for _ in range(25)]
    # Listening, the face keeps a trace of it, eased in without a jump.
    assert abs(listening[-1].smile - LISTEN_KEEP * joy) < 0.02
    assert max(np.abs(np.diff([0.0] + [c.smile for c in listening]))) < 0.1
    speech = espeak_speech(TEXTS["bilabial"])
    mouths = renderer.motion(speech.audio.samples, speech.audio.rate, list(speech.phones)) + renderer.finish()
    speaking = [renderer.face(m) for m in mouths]
    # Speaking, it comes on fully within RAMP_IN (where the mouth is not rounding, which takes some back).
    ramp = int(RAMP_IN * FPS) + 1
    settled = [c.smile for c, m in zip(speaking[ramp:], mouths[ramp:]) if m.round < 0.05]
    assert settled and min(settled) > 0.9 * joy
    assert speaking[0].smile < 0.75 * joy  # it ramps, it does not jump
    # The lip sync's channels pass through the merge untouched: presses stay presses.
    for c, m in zip(speaking, mouths):
        assert all(getattr(c, name) == getattr(m, name) for name in MOUTH)
    press = [c for c in speaking if c.press > 0.8]
    assert press and all(c.smile > 0.3 for c in press)

    def gap(c):
        found = detector.detect(engine.render(avatars["grace"], 0, FrameDrive(c)))
        assert found is not None
        return lip_gap(found.points)

    rest = gap(compose(FaceControls(), None, expression_controls("joy")))
    closed = [gap(c) for c in press[:: max(1, len(press) // 4)]]
    print("rest with joy", round(rest, 4), "live closures with joy", [round(g, 4) for g in closed])
    assert max(closed) < rest + 0.02
    # Listening again, it fades back to the trace, slower than it came.
    after = [renderer.face(None) for _ in range(int(RAMP_OUT * FPS) + 5)]
    assert abs(after[-1].smile - LISTEN_KEEP * joy) < 0.02
    assert after[int(RAMP_IN * FPS)].smile > LISTEN_KEEP * joy + 0.05


def test_live_a_persona_with_a_still_head_keeps_it_still(avatars, engine):  # noqa: F811
    from livehuman.brain.persona import Persona

    still, lively = (live_renderer(engine, avatars["grace"], Persona(head_motion=h)) for h in (0.0, 1.0))
    a = [still.face(None) for _ in range(100)]
    b = [lively.face(None) for _ in range(100)]
    assert max(abs(c.yaw) + abs(c.pitch) + abs(c.roll) for c in a) < 1e-9
    assert max(abs(c.yaw) + abs(c.pitch) + abs(c.roll) for c in b) > 0.3
    assert [c.blink for c in a] == [c.blink for c in b]  # the same life otherwise


def test_render_reads_the_emotion_from_the_text_with_auto(detector, tmp_path):  # noqa: F811
    from helpers_avatar import decode_all

    text = "That's wonderful news, I'm so happy for you!"
    corners = {}
    for flag in ([], ["--emotion", "auto"]):
        out = tmp_path / f"{len(flag)}.mp4"
        result = subprocess.run([sys.executable, "-m", "livehuman.cli", "render", "--text", text, "--seed", "4",
                                 "--no-head-motion", "-o", str(out), *flag], capture_output=True, text=True, timeout=300)
        assert result.returncode == 0, result.stderr
        assert ("emotion from the text: joy" in result.stdout) == bool(flag)
        frames, _ = decode_all(out)
        corners[bool(flag)] = expression_measures(detector.detect(frames[-1]).points)["corners"]
    assert corners[True] - corners[False] > 0.02, corners
    refused = subprocess.run([sys.executable, "-m", "livehuman.cli", "render", "--audio", str(out), "--emotion", "auto",
                              "-o", str(tmp_path / "x.mp4")], capture_output=True, text=True, timeout=120)
    assert refused.returncode == 2 and "use it with --text or --brain" in refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1
