"""Life on top of the mouth: blinks, a faint head sway, glances, and brows that lift on emphasis.

Everything is drawn from one seeded random generator, so a seed gives the same face every time.
`LifeGenerator` makes the motion frame by frame (the live server's listening face uses it too);
`add_life` lays it over a whole clip's mouth controls.
"""

from __future__ import annotations

import math
import numpy as np

from livehuman.errors import LivehumanError
from livehuman.motion.compose import compose
from livehuman.motion.controls import FaceControls

BLINK_INTERVAL = (2.0, 6.0)  # s between blinks
BLINK_DURATION = 0.15  # s, closing and opening
BLINK_CLOSING = 0.4  # share of a blink spent closing: lids fall fast and rise slower
MIN_BLINK_GAP = 0.5  # s: never two blinks starting closer than this
DOUBLE_BLINK = 0.12  # chance that a blink is followed by a second one
DOUBLE_GAP = (0.5, 0.75)  # s from one blink of a double to the next
HEAD_SWAY_DEG = (1.5, 1.2, 0.8)  # yaw, pitch, roll amplitudes of the idle sway
SWAY_PERIODS = (7.0, 4.3, 2.9)  # s: the slow sines each sway channel is made of
BREATH_PERIOD = 4.0  # s: a slow nod with the breath while listening
BREATH_PITCH_DEG = 0.35
GAZE_HOLD = (1.0, 3.5)  # s a gaze fixation lasts
GAZE_RANGE = (0.15, 0.08)  # x, y: how far the eyes wander
GAZE_MOVE = 0.06  # s: a saccade is quick
BROW_GAIN = 0.35  # brow raise at the loudest emphasis
NOD_GAIN_DEG = 1.2  # pitch dip on emphasis when speaking


class _Sway:
    """Smooth noise: a sum of slow sines with random phases and incommensurate periods."""

    def __init__(self, rng: np.random.Generator, amplitude: float) -> None:
        self.amplitude = amplitude
        base = np.array(SWAY_PERIODS)
        self.periods = base * rng.uniform(0.8, 1.25, len(base))
        self.phases = rng.uniform(0, 2 * math.pi, len(base))
        self.weights = np.array([0.6, 0.3, 0.15])

    def at(self, t: float) -> float:
        s = float(np.sum(self.weights * np.sin(2 * math.pi * t / self.periods + self.phases)))
        return self.amplitude * s / float(self.weights.sum())


class Emphasis:
    """How much the current syllable stands out: loudness above the speaker's recent level, 0..1."""

    def __init__(self, fps: float = 25.0) -> None:
        self.fps = float(fps)
        self._ref = 0.0
        self.value = 0.0

    def step(self, loud: float) -> float:
        """Advance one frame with this frame's loudness (0..1)."""
        loud = float(np.clip(loud, 0.0, 1.0))
        a_ref = 1.0 - math.exp(-1.0 / (self.fps * 1.5))
        self._ref += a_ref * (loud - self._ref)
        peak = min(1.0, max(0.0, loud - self._ref - 0.1) / 0.4)
        # Brows rise quickly with the stress and settle slowly after it.
        a = 1.0 - math.exp(-1.0 / (self.fps * (0.08 if peak > self.value else 0.35)))
        self.value += a * (peak - self.value)
        return self.value


class LifeGenerator:
    """Idle motion for consecutive frames: blinks, head sway, gaze, and emphasis on speech."""

    def __init__(self, fps: float = 25.0, seed: int = 0, head_motion: bool = True) -> None:
        if fps <= 0:
            raise LivehumanError(f"frames per second must be positive, got {fps}")
        self.fps = float(fps)
        self.head_motion = head_motion
        self._rng = np.random.default_rng(seed)
        rng = self._rng
        self._sway = [_Sway(rng, a) for a in HEAD_SWAY_DEG]
        self._breath_phase = rng.uniform(0, 2 * math.pi)
        self._frame = 0
        # The first blink comes early enough to be seen in a short clip.
        self._next_blink = rng.uniform(0.6, BLINK_INTERVAL[0] + 0.5)
        self._blinks: list[float] = []  # start times of blinks in progress or scheduled
        self._gaze = np.zeros(2)
        self._gaze_from = np.zeros(2)
        self._gaze_to = np.zeros(2)
        self._gaze_at = 0.0  # when the current saccade started
        self._gaze_next = rng.uniform(*GAZE_HOLD)
        self._emphasis = Emphasis(fps)

    @property
    def time(self) -> float:
        """The centre of the next frame, in seconds."""
        return (self._frame + 0.5) / self.fps

    def next(self, speaking: float = 0.0) -> FaceControls:
        """The next frame's idle motion; `speaking` is how loud speech is now (0..1, 0 listening)."""
        t = self.time
        out = FaceControls(blink=self._blink(t))
        out.gaze_x, out.gaze_y = self._glance(t)
        emphasis = self._emphasis.step(speaking)
        out.brow = BROW_GAIN * emphasis
        if self.head_motion:
            yaw, pitch, roll = (s.at(t) for s in self._sway)
            breath = BREATH_PITCH_DEG * math.sin(2 * math.pi * t / BREATH_PERIOD + self._breath_phase)
            out.yaw, out.pitch, out.roll = yaw, pitch + breath - NOD_GAIN_DEG * emphasis, roll
        self._frame += 1
        return out

    def _blink(self, t: float) -> float:
        if t >= self._next_blink:
            start = self._next_blink
            self._blinks.append(start)
            gap = self._rng.uniform(*BLINK_INTERVAL)
            if self._rng.random() < DOUBLE_BLINK:
                gap = self._rng.uniform(*DOUBLE_GAP)
            self._next_blink = start + max(gap, MIN_BLINK_GAP)
        self._blinks = [s for s in self._blinks if t - s < BLINK_DURATION + 1.0 / self.fps]
        value = 0.0
        for start in self._blinks:
            value = max(value, _blink_curve(t - start, self.fps))
        return value

    def _glance(self, t: float) -> tuple[float, float]:
        if t >= self._gaze_next:
            self._gaze_from = self._gaze.copy()
            # Wander near the centre, coming back to the viewer more often than not.
            if self._rng.random() < 0.4:
                self._gaze_to = np.zeros(2)
            else:
                self._gaze_to = self._rng.uniform(-1, 1, 2) * np.array(GAZE_RANGE)
            self._gaze_at = t
            self._gaze_next = t + self._rng.uniform(*GAZE_HOLD)
        s = smoothstep(min(1.0, (t - self._gaze_at) / GAZE_MOVE))
        self._gaze = self._gaze_from + (self._gaze_to - self._gaze_from) * s
        return float(self._gaze[0]), float(self._gaze[1])


def smoothstep(x: float) -> float:
    """Ease 0..1 to 0..1 with zero slope at both ends (no jolt when a motion starts or stops)."""
    return x * x * (3.0 - 2.0 * x)


def _blink_curve(s: float, fps: float) -> float:
    """Lid closure at `s` seconds into a blink, averaged over one frame (it is faster than one)."""
    samples = 5
    step = 1.0 / (fps * samples)
    total = 0.0
    for j in range(samples):
        x = s + (j - (samples - 1) / 2) * step
        total += _lid(x)
    # A blink must close fully on its middle frame, however the frames fall: let one frame peak.
    value = total / samples
    if abs(s - BLINK_DURATION * BLINK_CLOSING) < 0.5 / fps:
        value = 1.0
    return value


def _lid(x: float) -> float:
    close = BLINK_DURATION * BLINK_CLOSING
    if x <= 0 or x >= BLINK_DURATION:
        return 0.0
    if x < close:
        return math.sin(0.5 * math.pi * x / close)
    return math.cos(0.5 * math.pi * (x - close) / (BLINK_DURATION - close))


def add_life(
    controls: list[FaceControls],
    fps: float,
    seed: int = 0,
    head_motion: bool = True,
    speaking: np.ndarray | None = None,
) -> list[FaceControls]:
    """`controls` with blinks, glances, a faint head sway (unless `head_motion` is off) and emphasis.

    `speaking` (0..1 per frame, e.g. the energy envelope) lifts the brows and dips the head on
    loud, stressed syllables; without it the mouth's own opening stands in for loudness. Each
    frame is merged by `motion.compose`, as the live and batch drivers merge theirs.
    """
    life = LifeGenerator(fps, seed=seed, head_motion=head_motion)
    out = []
    for k, c in enumerate(controls):
        if speaking is not None:
            loud = float(speaking[k]) if k < len(speaking) else 0.0
        else:
            loud = c.jaw
        out.append(compose(life.next(loud), mouth=c))
    return out
