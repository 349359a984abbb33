"""Life on the face: blinks, head sway, gaze and emphasis, deterministic for a seed."""

from __future__ import annotations

import numpy as np
import pytest

from livehuman.errors import LivehumanError
from livehuman.motion.controls import FaceControls
from livehuman.motion.idle import add_life

FPS = 25.0
MINUTES = 10


def column(controls, name):
    return np.array([getattr(c, name) for c in controls])


@pytest.fixture(scope="module")
def long_clip():
    return add_life([FaceControls() for _ in range(int(MINUTES * 60 * FPS))], FPS, seed=3)


def blink_starts(blink: np.ndarray) -> np.ndarray:
    """Frames where a blink begins (lid leaves fully open after being open)."""
    return np.flatnonzero((blink[1:] > 0.05) & (blink[:-1] <= 0.05)) + 1


def test_same_seed_same_face_other_seed_other_face():
    base = [FaceControls(jaw=0.3) for _ in range(300)]
    assert add_life(base, FPS, seed=5) == add_life(base, FPS, seed=5)
    assert add_life(base, FPS, seed=5) != add_life(base, FPS, seed=6)


def test_blinks_are_natural(long_clip):
    blink = column(long_clip, "blink")
    starts = blink_starts(blink)
    gaps = np.diff(starts) / FPS
    per_minute = len(starts) / MINUTES
    assert 8 <= per_minute <= 30
    assert gaps.min() >= 0.5  # never two within half a second
    assert np.median(gaps) >= 2.0 and gaps.max() <= 6.5
    assert (gaps < 1.0).sum() >= 1  # an occasional double blink
    # Each blink closes the eyes fully on at least one frame and lasts about 150 ms.
    for s in starts:
        run = blink[s : s + 10]
        length = np.argmax(run <= 0.05) if (run <= 0.05).any() else len(run)
        assert run.max() >= 0.99
        assert 2 <= length <= 6, (s, run)


def test_head_sways_faintly_and_smoothly(long_clip):
    for name in ("yaw", "pitch", "roll"):
        angle = column(long_clip, name)
        assert np.abs(angle).max() <= 2.5
        assert angle.std() >= 0.2
        assert np.abs(np.diff(angle)).max() <= 0.15  # degrees per frame: no jumps


def test_head_motion_can_be_turned_off():
    still = add_life([FaceControls() for _ in range(500)], FPS, seed=1, head_motion=False)
    for name in ("yaw", "pitch", "roll"):
        assert (column(still, name) == 0).all()
    assert column(still, "blink").max() >= 0.99  # the eyes still blink


def test_gaze_wanders_near_the_centre(long_clip):
    gx, gy = column(long_clip, "gaze_x"), column(long_clip, "gaze_y")
    assert np.abs(gx).max() <= 0.2 and np.abs(gy).max() <= 0.1
    assert len(np.unique(np.round(gx, 3))) > 20


def test_mouth_is_left_alone_and_brows_lift_on_emphasis():
    n = 250
    mouth = [FaceControls(jaw=0.2 + 0.1 * np.sin(k / 3), press=float(k % 7 == 0)) for k in range(n)]
    speaking = np.full(n, 0.3)
    speaking[100:110] = 1.0  # a loud, stressed syllable
    out = add_life(mouth, FPS, seed=0, speaking=speaking)
    assert column(out, "jaw").tolist() == column(mouth, "jaw").tolist()
    assert column(out, "press").tolist() == column(mouth, "press").tolist()
    brow = column(out, "brow")
    assert brow[100:115].max() >= 0.15 > brow[60:95].max()
    assert brow.max() <= 1.0


def test_bad_frame_rate():
    with pytest.raises(LivehumanError):
        add_life([FaceControls()], 0)
