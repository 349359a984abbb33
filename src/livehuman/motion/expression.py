"""Emotion out: a named emotion at a strength becomes the face's expression channels, ramped in time.

The expression lives on its own channels (smile, frown, brow, brow_inner, squint, and a little
head angle), apart from the lip sync's mouth channels: `motion.compose` lays it under the mouth, so a
smiling face still closes its lips on /p b m/ and opens them on an "ah".
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from livehuman.errors import LivehumanError
from livehuman.motion.controls import FaceControls

# Each emotion at full strength (FACS-like: joy is AU6+12, sadness AU1+4+15, surprise AU1+2+5,
# anger AU4+7, fear AU1+2+4, concern a milder sadness with a head tilt). Head angles in degrees.
EMOTIONS: dict[str, FaceControls] = {
    "neutral": FaceControls(),
    "joy": FaceControls(smile=0.85, squint=0.35, brow=0.1, pitch=1.0, roll=1.5),
    "sadness": FaceControls(brow_inner=0.9, brow=-0.2, frown=0.9, squint=0.1, pitch=-2.0, roll=-1.0),
    "concern": FaceControls(brow_inner=0.7, brow=-0.25, frown=0.3, pitch=-0.8, roll=2.5),
    "surprise": FaceControls(brow=0.9, pitch=1.5),
    "anger": FaceControls(brow=-0.9, squint=0.45, frown=0.25, pitch=-1.5),
    "fear": FaceControls(brow=0.45, brow_inner=0.6, pitch=-1.0, yaw=-1.0),
}
CHANNELS = ("smile", "frown", "brow", "brow_inner", "squint", "yaw", "pitch", "roll")
RAMP_IN = 0.35  # s an expression takes to come on (a few hundred ms, as faces do)
RAMP_OUT = 0.6  # s it takes to go: expressions fade slower than they appear
LISTEN_KEEP = 0.5  # the share of the expression the face keeps while it listens


def parse_emotion(text: str) -> tuple[str, float]:
    """`NAME` or `NAME:STRENGTH` (0..1, default 1) as (name, strength); a bad one is a clear error."""
    name, _, value = text.strip().lower().partition(":")
    if name not in EMOTIONS:
        raise LivehumanError(f"unknown emotion {name!r}: choose one of {', '.join(EMOTIONS)} (optionally NAME:STRENGTH)")
    if not value:
        return name, 1.0
    try:
        strength = float(value)
    except ValueError:
        strength = -1.0
    if not 0.0 <= strength <= 1.0:
        raise LivehumanError(f"emotion strength must be a number from 0 to 1, got {value!r} (e.g. joy:0.6)")
    return name, strength


def expression_controls(name: str, strength: float = 1.0) -> FaceControls:
    """The expression channels of `name` at `strength` (0..1); every other channel is 0."""
    if name not in EMOTIONS:
        raise LivehumanError(f"unknown emotion {name!r}: choose one of {', '.join(EMOTIONS)}")
    s = min(max(float(strength), 0.0), 1.0)
    full = EMOTIONS[name]
    return FaceControls(**{c: s * getattr(full, c) for c in CHANNELS})


def _smoothstep(x: float) -> float:
    x = min(max(x, 0.0), 1.0)
    return x * x * (3.0 - 2.0 * x)


@dataclass
class _Ramp:
    start: FaceControls
    end: FaceControls
    at: float  # s: when it began
    length: float  # s


class ExpressionRamp:
    """The expression frame by frame: `set` a new emotion, call `next` once per frame.

    A change never jumps: the channels ease from wherever they are to the new target (zero slope
    at both ends), in RAMP_IN when the expression grows and RAMP_OUT when it fades. While the face
    listens it keeps LISTEN_KEEP of the expression, eased the same way.
    """

    def __init__(self, fps: float, name: str = "neutral", strength: float = 1.0) -> None:
        if fps <= 0:
            raise LivehumanError(f"frames per second must be positive, got {fps}")
        self.fps = float(fps)
        self._frame = 0
        self._target = expression_controls(name, strength)
        self._listening = False
        self._ramp = _Ramp(FaceControls(), FaceControls(), 0.0, 0.0)
        self._retarget()  # the face starts neutral and eases into the first expression

    @property
    def time(self) -> float:
        return self._frame / self.fps

    def set(self, name: str, strength: float = 1.0) -> None:
        """Move towards `name` at `strength` from now on."""
        self._target = expression_controls(name, strength)
        self._retarget()

    def listening(self, on: bool) -> None:
        """The face listens (the expression fades to LISTEN_KEEP) or speaks (it comes back)."""
        if on != self._listening:
            self._listening = on
            self._retarget()

    def _goal(self) -> FaceControls:
        keep = LISTEN_KEEP if self._listening else 1.0
        return FaceControls(**{c: keep * getattr(self._target, c) for c in CHANNELS})

    def _now(self, t: float) -> FaceControls:
        r = self._ramp
        s = _smoothstep((t - r.at) / r.length) if r.length > 0 else 1.0
        return replace(r.end, **{c: getattr(r.start, c) + s * (getattr(r.end, c) - getattr(r.start, c)) for c in CHANNELS})

    def _retarget(self) -> None:
        now = self._now(self.time)
        goal = self._goal()
        grows = _size(goal) >= _size(now)
        self._ramp = _Ramp(now, goal, self.time, RAMP_IN if grows else RAMP_OUT)

    def next(self) -> FaceControls:
        """The next frame's expression channels."""
        out = self._now(self.time)
        self._frame += 1
        return out


def _size(c: FaceControls) -> float:
    """How much expression a face shows (head angles aside): a larger one grows, a smaller one fades."""
    return sum(abs(getattr(c, name)) for name in CHANNELS[:5])


def expression_track(n: int, fps: float, name: str, strength: float = 1.0) -> list[FaceControls]:
    """`n` frames of one emotion for a whole clip: eased in from neutral over RAMP_IN, then held."""
    ramp = ExpressionRamp(fps, name, strength)
    return [ramp.next() for _ in range(n)]
