"""Life on top of the mouth: blinks, a faint head sway, glances, and brows that lift on emphasis.

Everything is drawn from one seeded random generator, so a seed gives the same face every time.
`LifeGenerator` makes the motion frame by frame (the live server's listening face uses it too);
`add_life` lays it over a whole clip's mouth controls.
"""

from __future__ import annotations

import math
import secrets
import zlib

import numpy as np

from livehuman.errors import LivehumanError
from livehuman.motion.compose import compose
from livehuman.motion.controls import FaceControls

# Blinks: intervals are log-normal (a long right tail, as measured on people) with their mean
# shortened while speaking and for a while after; each blink has its own speed, closing faster than
# it opens (Evinger et al. 1991: ~100 ms down, 150-200 ms up).
BLINK_INTERVAL = (4.2, 2.8)  # s: mean time between blinks, listening and speaking
BLINK_SPREAD = 0.45  # standard deviation of the interval's logarithm
MAX_GAP = 3.0  # the longest interval, in mean intervals
TALK_MEMORY = 3.0  # s: how long the faster speaking rate lingers after speech
FIRST_BLINK = (0.6, 2.5)  # s: the first blink comes early enough to be seen in a short clip
BLINK_CLOSE = (0.08, 0.11)  # s the lids take to fall
BLINK_HOLD = (0.0, 0.03)  # s they stay shut
BLINK_OPEN = (0.15, 0.20)  # s they take to rise
MIN_BLINK_GAP = 0.5  # s: never two blinks starting closer than this
DOUBLE_BLINK = 0.1  # chance that a blink is followed at once by a second one
DOUBLE_GAP = (0.5, 0.7)  # s from one blink of a double to the next
SPEAKING_LEVEL = 0.05  # loudness above which the face counts as speaking (for the blink rate)
HEAD_SWAY_DEG = (1.5, 1.2, 0.8)  # yaw, pitch, roll amplitudes of the idle sway
SWAY_PERIODS = (7.0, 4.3, 2.9)  # s: the slow sines each sway channel is made of
BREATH_PERIOD = 4.0  # s: a slow nod with the breath while listening
BREATH_PITCH_DEG = 0.35
GAZE_HOLD = (1.0, 3.5)  # s a gaze fixation lasts
GAZE_RANGE = (0.15, 0.08)  # x, y: how far the eyes wander
GAZE_MOVE = 0.06  # s: a saccade is quick
BROW_GAIN = 0.35  # brow raise at the loudest emphasis
NOD_GAIN_DEG = 1.2  # pitch dip on emphasis when speaking


def life_seed(avatar: str, seed: int | None = None) -> int:
    """The seed of one render's idle life: `seed` (reproducible) or, when None, a fresh one; mixed
    with the avatar's name either way, so that two avatars never blink on the same frames."""
    base = secrets.randbits(63) if seed is None else int(seed)
    state = np.random.SeedSequence([base, zlib.crc32(avatar.encode("utf-8"))]).generate_state(2)
    return int(state[0]) << 31 | int(state[1]) >> 1


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

    def __init__(self, fps: float = 25.0, seed: int | None = 0, head_motion: bool = True,
                 blink_rate: float = 1.0) -> None:
        if fps <= 0:
            raise LivehumanError(f"frames per second must be positive, got {fps}")
        self.fps = float(fps)
        self.head_motion = head_motion
        # seed None: a fresh face every time (two sessions never blink in step)
        self._rng = np.random.default_rng(seed)
        rng = self._rng
        self._sway = [_Sway(rng, a) for a in HEAD_SWAY_DEG]
        self._breath_phase = rng.uniform(0, 2 * math.pi)
        self._frame = 0
        # blinks draw from their own stream: their timing (which speech changes) leaves the rest alone
        self._blinks = BlinkSchedule(np.random.default_rng(rng.integers(2**63)), blink_rate)
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

    def next(self, speaking: float = 0.0, talking: bool | None = None) -> FaceControls:
        """The next frame's idle motion; `speaking` is how loud speech is now (0..1, 0 listening).

        `talking` says whether the face speaks now, for the blink rate, when loudness is not known
        (the live face's listening motion); by default it is `speaking` above a whisper.
        """
        t = self.time
        if talking is None:
            talking = speaking > SPEAKING_LEVEL
        out = FaceControls(blink=self._blink(t, talking))
        out.gaze_x, out.gaze_y = self._glance(t)
        emphasis = self._emphasis.step(speaking)
        out.brow = BROW_GAIN * emphasis
        if self.head_motion:
            yaw, pitch, roll = (s.at(t) for s in self._sway)
            breath = BREATH_PITCH_DEG * math.sin(2 * math.pi * t / BREATH_PERIOD + self._breath_phase)
            out.yaw, out.pitch, out.roll = yaw, pitch + breath - NOD_GAIN_DEG * emphasis, roll
        self._frame += 1
        return out

    def _blink(self, t: float, talking: bool = False) -> float:
        return self._blinks.step(t, 1.0 / self.fps, talking)

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


class BlinkSchedule:
    """When the eyes blink, and how each blink moves: call `step` once per frame, in order.

    A "blink clock" runs at 1/mean-interval per second (faster while speaking and for TALK_MEMORY
    after) and a blink starts when it has run a log-normal amount of mean 1: intervals are then
    log-normal at a steady rate, and a change of rate (speech starting) takes effect at once.
    """

    def __init__(self, rng: np.random.Generator, rate: float = 1.0) -> None:
        self._rng = rng
        self._rate = float(rate)  # times the usual blink rate (a persona's idle.blink_rate)
        self._clock = 0.0
        # the first blink comes early, at FIRST_BLINK seconds at the listening rate
        # (at another rate too: the clock runs faster, the mark is as much further; 0: never)
        self._due = rng.uniform(*FIRST_BLINK) / BLINK_INTERVAL[0] * self._rate if self._rate > 0 else math.inf
        self._talk = 0.0  # 1 while speaking, decaying over TALK_MEMORY after
        self._last = -math.inf  # start of the latest blink
        self._double_at: float | None = None
        self.blinks: list[tuple[float, tuple[float, float, float]]] = []  # (start, shape) in progress

    def _unit_gap(self) -> float:
        """A log-normal interval of mean 1 (its rare longest stares cut at MAX_GAP means)."""
        return min(float(np.exp(self._rng.normal(-0.5 * BLINK_SPREAD**2, BLINK_SPREAD))), MAX_GAP)

    def _shape(self) -> tuple[float, float, float]:
        return (float(self._rng.uniform(*BLINK_CLOSE)), float(self._rng.uniform(*BLINK_HOLD)),
                float(self._rng.uniform(*BLINK_OPEN)))

    def _start(self, start: float) -> None:
        self.blinks.append((start, self._shape()))
        self._last = start
        self._double_at = start + float(self._rng.uniform(*DOUBLE_GAP)) if self._rng.random() < DOUBLE_BLINK else None

    def step(self, t: float, dt: float, talking: bool) -> float:
        """The lid closure (0 open .. 1 shut) for the frame centred at `t`, `dt` seconds long."""
        self._talk = 1.0 if talking else self._talk * math.exp(-dt / TALK_MEMORY)
        mean = BLINK_INTERVAL[0] + (BLINK_INTERVAL[1] - BLINK_INTERVAL[0]) * self._talk
        rate = self._rate / mean
        self._clock += rate * dt
        if self._double_at is not None and t >= self._double_at:
            self._start(self._double_at)
        elif self._clock >= self._due and t - self._last >= MIN_BLINK_GAP:
            # started where the clock crossed its mark, within this frame
            self._start(max(t - (self._clock - self._due) / rate, self._last + MIN_BLINK_GAP, t - dt))
            self._clock = 0.0
            self._due = self._unit_gap()
        self.blinks = [(s, shape) for s, shape in self.blinks if t - s < sum(shape) + dt]
        return max((blink_curve(t - s, 1.0 / dt, shape) for s, shape in self.blinks), default=0.0)


def blink_curve(s: float, fps: float, shape: tuple[float, float, float] | None = None) -> float:
    """Lid closure at `s` seconds into a blink, averaged over one frame (it is faster than one).

    `shape` is (closing, shut, opening) seconds; by default the middle of each range.
    """
    if shape is None:
        shape = tuple(sum(r) / 2 for r in (BLINK_CLOSE, BLINK_HOLD, BLINK_OPEN))
    samples = 5
    step = 1.0 / (fps * samples)
    total = 0.0
    for j in range(samples):
        x = s + (j - (samples - 1) / 2) * step
        total += _lid(x, *shape)
    # A blink must close fully on one frame, however the frames fall: the one nearest its middle.
    value = total / samples
    close, hold, _ = shape
    if abs(s - (close + hold / 2)) < 0.5 / fps:
        value = 1.0
    return value


def _lid(x: float, close: float, hold: float, opening: float) -> float:
    """Lid closure `x` seconds into a blink: falls fast, stays shut a moment, rises slower."""
    if x <= 0 or x >= close + hold + opening:
        return 0.0
    if x < close:
        return math.sin(0.5 * math.pi * x / close)
    if x < close + hold:
        return 1.0
    return 0.5 * (1 + math.cos(math.pi * (x - close - hold) / opening))


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
