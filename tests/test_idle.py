"""Life on the face: blinks, head sway, gaze and emphasis, deterministic for a seed."""

from __future__ import annotations

import numpy as np
import pytest

from livehuman.errors import LivehumanError
from livehuman.motion.controls import FaceControls
from livehuman.motion.idle import BLINK_INTERVAL, DOUBLE_BLINK, MIN_BLINK_GAP, add_life, life_seed

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


def blink_gaps(controls) -> np.ndarray:
    return np.diff(blink_starts(column(controls, "blink"))) / FPS


def expected_mean_gap(mean_interval: float) -> float:
    """Blink-to-blink time when intervals of this mean are split, now and then, by a double blink."""
    return mean_interval / (1 + DOUBLE_BLINK)


def test_blinks_are_natural(long_clip):
    blink = column(long_clip, "blink")
    starts = blink_starts(blink)
    gaps = np.diff(starts) / FPS
    per_minute = len(starts) / MINUTES
    assert 10 <= per_minute <= 22  # people at rest: about 15 a minute
    assert gaps.min() >= MIN_BLINK_GAP - 1.5 / FPS  # never two within half a second (to a frame)
    # log-normal intervals around the listening mean, with a long tail
    assert abs(gaps.mean() - expected_mean_gap(BLINK_INTERVAL[0])) < 0.15 * expected_mean_gap(BLINK_INTERVAL[0])
    assert np.median(gaps) < gaps.mean() and gaps.max() > 2 * np.median(gaps)
    assert 0.04 <= (gaps < 1.0).mean() <= 0.2  # occasional double blinks
    falls, rises, lengths = [], [], []
    for s in starts:
        run = blink[s : s + 15]
        length = int(np.argmax(run <= 0.05)) if (run <= 0.05).any() else len(run)
        peak = int(np.argmax(run))
        assert run.max() >= 0.99  # each blink closes the eyes fully on one frame
        falls.append(peak)  # frames before the shut one
        rises.append(length - peak - 1)  # and after it
        lengths.append(length)
    assert np.mean(falls) + 0.7 < np.mean(rises)  # the lids fall faster than they rise
    # about 100 ms down and 150-200 ms up: 0.25-0.35 s, 7-9 frames above 0.05 at 25 fps
    assert 6 <= np.median(lengths) <= 9 and max(lengths) <= 11, np.bincount(lengths)


def test_blinks_come_faster_while_speaking():
    n = int(MINUTES * 60 * FPS)
    speaking = add_life([FaceControls() for _ in range(n)], FPS, seed=3, speaking=np.full(n, 0.4))
    gaps = blink_gaps(speaking)
    assert abs(gaps.mean() - expected_mean_gap(BLINK_INTERVAL[1])) < 0.15 * expected_mean_gap(BLINK_INTERVAL[1])
    # and stay faster for a while after speech: 4 s speaking, 4 s silent, over and over
    talk = (np.arange(n) // int(4 * FPS)) % 2 == 0
    mixed = add_life([FaceControls() for _ in range(n)], FPS, seed=3, speaking=np.where(talk, 0.4, 0.0))
    blink = column(mixed, "blink")
    starts = blink_starts(blink)
    in_speech = talk[starts].mean()
    listening_only = blink_gaps(add_life([FaceControls() for _ in range(n)], FPS, seed=3)).mean()
    assert blink_gaps(mixed).mean() < 0.85 * listening_only
    assert 0.35 <= in_speech <= 0.7, in_speech  # the silences after speech blink about as often


def test_blink_timing_differs_between_seeds_and_sessions():
    clip = [FaceControls() for _ in range(int(60 * FPS))]
    starts = {seed: blink_starts(column(add_life(clip, FPS, seed=seed), "blink")) for seed in (1, 2)}
    assert len(set(starts[1].tolist()) & set(starts[2].tolist())) < 0.3 * len(starts[1])
    assert blink_starts(column(add_life(clip, FPS, seed=1), "blink")).tolist() == starts[1].tolist()
    # two avatars rendered with the same seed blink on their own frames, each the same every time
    def avatar_starts(name: str) -> list[int]:
        return blink_starts(column(add_life(clip, FPS, seed=life_seed(name, 1)), "blink")).tolist()

    assert avatar_starts("default") != avatar_starts("astronaut")
    assert avatar_starts("default") == avatar_starts("default")
    # no seed: a new session's own blinks every time
    fresh = [blink_starts(column(add_life(clip, FPS, seed=None), "blink")).tolist() for _ in range(2)]
    assert fresh[0] != fresh[1]


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


def test_a_personas_blink_rate_scales_the_blinks_of_the_live_face():
    from livehuman.motion.stream import IdleMotion

    def starts(rate: float) -> np.ndarray:
        idle = IdleMotion(fps=FPS, seed=4, blink_rate=rate)
        return blink_starts(np.array([idle.next_frame(False).blink for _ in range(int(MINUTES * 60 * FPS))]))

    usual, double, still = starts(1.0), starts(2.0), starts(0.0)
    assert len(usual) > 20
    assert 1.6 < len(double) / len(usual) < 2.4, (len(usual), len(double))
    assert len(still) == 0  # 0: a stare, never a blink
    assert starts(1.0).tolist() == usual.tolist()  # the default is the usual rate, as before
