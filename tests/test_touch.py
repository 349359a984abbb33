"""Touch, without a network: which zone of a real face a point falls in (avatar/zones.py), the
page's touch message, a persona's [touch] lines, the reaction chosen, and the rate limit."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from livehuman.avatar.zones import ZONES, face_geometry, zone_at
from livehuman.live.channel import BadMessage, Touch, parse_message
from livehuman.live.touch import LINES, REACTIONS, TouchLimiter, touch_reaction


@pytest.fixture(scope="module")
def default_face():
    """The default avatar: its frame and its own prepared landmarks."""
    from livehuman.avatar.default import default_avatar

    avatar = default_avatar()
    return avatar.frames[0], avatar.landmarks[0]


def probes(landmarks: np.ndarray) -> dict[str, np.ndarray]:
    """A point that a person would call each zone, from one face's landmarks (pixels)."""
    p = np.asarray(landmarks, np.float64)
    unit = np.linalg.norm(p[[362, 263]].mean(0) - p[[33, 133]].mean(0))
    up = p[10] - p[152]
    up /= np.linalg.norm(up)
    return {
        "nose": p[1],  # the tip
        "eyes": p[[33, 133]].mean(0),  # the right eye's centre
        "mouth": p[[13, 14]].mean(0),  # between the lips
        "cheek": p[50],  # the right cheek's apple
        "forehead": (p[151] + p[9]) / 2,  # above the brows, in the middle
        "chin": 0.7 * p[152] + 0.3 * p[17],  # between the lower lip and the chin's bottom
        "hair": p[10] + 0.5 * unit * up,  # above the forehead's top
    }


def test_each_zone_of_the_default_face_is_where_a_person_would_say(default_face):
    frame, landmarks = default_face
    height, width = frame.shape[:2]
    geometry = face_geometry(landmarks)
    for zone, point in probes(landmarks).items():
        assert geometry.zone(point) == zone, zone
        assert zone_at(landmarks, (width, height), point[0] / width, point[1] / height) == zone
    assert set(probes(landmarks)) == set(ZONES)
    # Off the face: the background beside the shoulders, and the clothes below the chin.
    assert geometry.zone((5, height - 5)) is None
    assert geometry.zone((landmarks[152][0], landmarks[152][1] + 80)) is None


def test_zones_follow_the_face_when_it_is_smaller_moved_and_tilted(default_face):
    """The default portrait shrunk, turned and moved within a wider frame: the landmarks found
    anew in it (mediapipe) put each zone where the known transform took the default face's."""
    from livehuman.avatar.landmarks import FaceMeshDetector

    frame, landmarks = default_face
    canvas = (800, 560)
    matrix = cv2.getRotationMatrix2D((256, 256), 12.0, 0.6)  # 12° turn, 60% the size
    matrix[:, 2] += (430, 170)  # toward the right and down
    moved = cv2.warpAffine(frame, matrix, canvas, borderValue=(90, 90, 90))
    with FaceMeshDetector(video=False) as detector:
        found = detector.detect(moved)
    assert found is not None
    truth = {zone: matrix @ np.append(point, 1.0) for zone, point in probes(landmarks).items()}
    geometry = face_geometry(found.points)
    for zone, point in truth.items():
        assert geometry.zone(point) == zone, (zone, point)
    # Where the nose was in the default frame is no longer the nose: zones are not fixed places.
    tip = landmarks[1] / 512
    assert zone_at(found.points, canvas, float(tip[0]), float(tip[1])) != "nose"


def test_a_touch_message_is_read_and_bad_ones_get_one_clear_answer():
    assert parse_message('{"type": "touch", "x": 0.41, "y": 0.33}') == Touch(0.41, 0.33)
    assert parse_message('{"type": "touch", "x": 0, "y": 1}') == Touch(0.0, 1.0)
    for body in ({"x": 0.5}, {"x": "0.5", "y": 0.5}, {"x": True, "y": 0.5}, {"x": 1.5, "y": 0.5},
                 {"x": 0.5, "y": -0.1}, {"x": [0.5], "y": 0.5}):
        with pytest.raises(BadMessage, match=r'a touch message needs "x" and "y" from 0 to 1') as caught:
            parse_message(json.dumps({"type": "touch", **body}))
        assert "\n" not in str(caught.value)
    with pytest.raises(BadMessage, match="got x=NaN"):
        parse_message('{"type": "touch", "x": NaN, "y": 0.5}')


def persona_file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "touchy.toml"
    path.write_text('name = "Touchy"\n' + text, encoding="utf-8")
    return path


def test_a_personas_touch_lines_are_read(tmp_path):
    from livehuman.brain.persona import load_persona

    persona = load_persona(persona_file(tmp_path, '[touch]\nnose = "Beep!"\nhair = ["My hair!", "Again?"]\n'))
    assert dict(persona.touch) == {"nose": ("Beep!",), "hair": ("My hair!", "Again?")}
    assert touch_reaction("nose", persona).line == "Beep!"
    assert [touch_reaction("hair", persona, n).line for n in range(3)] == ["My hair!", "Again?", "My hair!"]
    assert touch_reaction("cheek", persona).line == LINES["en"]["cheek"]  # a zone it left out: the default


@pytest.mark.parametrize("text, problem", [
    ('[touch]\nknee = "Hey"\n',
     "'touch.knee' is not a face zone; allowed: forehead, eyes, cheek, nose, mouth, chin, hair"),
    ('[touch]\nnose = ""\n', "'touch.nose' must be a line, or a list of lines, none of them empty"),
    ('[touch]\nnose = []\n', "'touch.nose' must be a line, or a list of lines, none of them empty"),
    ('[touch]\nnose = [{a = 1}]\n', "'touch.nose' must be text, got a table"),
    ('touch = "boop"\n', "'touch' must be a table of lines by face zone"),
    ('[touch]\nnose = "' + "la " * 80 + '"\n', "'touch.nose' lines are limited to 200 characters"),
])
def test_a_wrong_touch_table_is_refused_in_one_line(tmp_path, text, problem):
    from livehuman.brain.persona import load_persona
    from livehuman.errors import LivehumanError

    with pytest.raises(LivehumanError) as caught:
        load_persona(persona_file(tmp_path, text))
    message = str(caught.value)
    assert problem in message and "touchy.toml" in message and "\n" not in message, message


def test_the_reaction_fits_the_zone_the_language_and_the_moment():
    from livehuman.brain.persona import Persona

    assert set(REACTIONS) == set(ZONES) and all(set(lines) == set(ZONES) for lines in LINES.values())
    ava = Persona()  # English, expressiveness 0.7
    nose = touch_reaction("nose", ava)
    assert (nose.expression, nose.strength, nose.blink) == ("surprise", 0.56, False)
    assert nose.line == "Boop! You got my nose."
    assert touch_reaction("eyes", ava).blink and touch_reaction("hair", ava).expression == "joy"
    assert touch_reaction("nose", ava, cut=True).line == "Oh! Boop! You got my nose."
    assert touch_reaction("nose", Persona(language="zh-CN")).line == LINES["zh"]["nose"]
    assert touch_reaction("cheek", Persona(language="ja"), cut=True).line == "おっと！" + LINES["ja"]["cheek"]
    assert touch_reaction("nose", Persona(language="fr")).line == LINES["en"]["nose"]  # no French defaults
    assert touch_reaction("nose", Persona(expressiveness=0.0)).strength == 0.0
    with pytest.raises(ValueError, match="unknown face zone 'knee'"):
        touch_reaction("knee", ava)


def test_rapid_touches_get_one_reaction_per_interval():
    now = [100.0]
    limiter = TouchLimiter(interval=1.5, clock=lambda: now[0])
    allowed = []
    for step in (0.0, 0.2, 0.3, 0.5, 0.6, 0.1, 1.0, 0.5):  # clicks at 100.0, 100.2, … 103.2 s
        now[0] += step
        allowed.append(limiter.allow())
    assert allowed == [True, False, False, False, True, False, False, True]


def test_a_touch_near_the_eyes_blinks_them_over_the_idle_motion():
    """The live renderer's reflex blink: the lids shut within a few frames and open again, on a
    face whose own idle motion never blinks (blink rate 0)."""
    from livehuman.live.face_renderer import FaceRenderer
    from livehuman.motion.stream import IdleMotion

    renderer = FaceRenderer(engine=None, avatar=None, lipsync_factory=lambda: None,
                            idle_factory=lambda: IdleMotion(fps=25, seed=1, blink_rate=0.0))
    try:
        before = [renderer.face(None).blink for _ in range(10)]
        renderer.index = 10
        renderer.blink()
        lids = []
        for _ in range(25):
            lids.append(renderer.face(None).blink)
            renderer.index += 1
        assert max(before) == 0.0
        assert max(lids[:8]) == 1.0 and lids[-1] == 0.0
    finally:
        renderer.close()
