"""Speech to per-frame mouth controls, with explicit timing rules in Rhubarb Lip Sync's spirit.

The rules, all in `MouthTracker`:
- Anticipation: each frame shows the shapes of a window that starts `ANTICIPATION` seconds ahead
  of the frame's own window, so the mouth starts moving toward a sound about a frame before it.
- Pops open fast, closes slowly: the jaw follows its target with a short time constant when
  opening and a longer one when closing (except into a lip closure, which is quick).
- P/B/M closures are always shown: every closure phone gets at least one frame with lips pressed
  and jaw shut, even when it is shorter than a frame.
- Minimum shape durations: every vowel gets a frame that reaches most of its opening, every F/V a
  frame with the lip tucked, however short the phone.
- Coarticulation: velars and /h/ borrow the neighbouring vowel's shape; other consonants take part
  of its jaw and rounding (rounding is anticipated, as in "two").
- Silence is the relaxed, closed mouth (all zeros) once the closing has settled.
- Energy, when given, scales the jaw (quiet speech opens less) and gates it (no sound, no opening).
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass, fields, replace

import numpy as np

from livehuman.errors import LivehumanError
from livehuman.motion.controls import FaceControls, frame_count
from livehuman.motion.visemes import (
    FLEXIBLE_JAW,
    FLEXIBLE_JAW_DEFAULT,
    REST,
    MouthShape,
    Viseme,
    phone_visemes,
)
from livehuman.speech.phones import Phone

ANTICIPATION = 0.01  # s: how far ahead of its own window each frame looks
SUBSAMPLES = 8  # target samples averaged per frame window
TAU_OPEN = 0.012  # s: the jaw pops open...
TAU_CLOSE = 0.04  # s: ...and closes more slowly
TAU_LIPS = 0.03  # s: spread and rounding
TAU_DETAIL = 0.02  # s: teeth, tongue, tuck, press release
PLOSIVE_HOLD = 0.0  # s: how long before a plosive's event its closure is shown
GAP_BRIDGE = 0.03  # s: gaps shorter than this between phones are not silence (aligner jitter)
COARTIC_REACH = 0.25  # s: how far a consonant looks for the vowel it borrows from
VOWEL_MIN_REACH = 0.85  # share of its target a vowel reaches on its best frame, however short
SETTLE = 0.02  # below this every mouth value snaps to exactly zero in silence
ENERGY_GATE = 0.03  # energy (0..1) below which the mouth does not open
ENERGY_FULL = 0.35  # energy at and above which the jaw opens fully

# Share of the neighbouring vowel's jaw and rounding that each consonant class keeps.
_COARTIC_JAW = {
    Viseme.ALVEOLAR: 0.25,
    Viseme.LATERAL: 0.35,
    Viseme.RHOTIC: 0.25,
    Viseme.DENTAL: 0.2,
    Viseme.POSTALVEOLAR: 0.15,
    Viseme.LABIODENTAL: 0.1,
}
_SIBILANTS = frozenset("szʃʒɕʑʂʐ")  # keep the teeth close: borrow less jaw
_PLOSIVES = frozenset("pbɓ")

MOUTH_FIELDS = tuple(f.name for f in fields(MouthShape))  # the FaceControls fields the mouth drives


@dataclass(frozen=True)
class _Segment:
    start: float
    end: float
    viseme: Viseme
    letter: str
    vowel: bool
    shape: MouthShape
    glide: bool


def segments_from_phones(phones: list[Phone]) -> list[_Segment]:
    """Phones split into viseme segments in time order, without overlaps."""
    ordered = sorted((p for p in phones if p.end > p.start), key=lambda p: (p.start, p.end))
    segments: list[_Segment] = []
    for i, phone in enumerate(ordered):
        end = phone.end
        if i + 1 < len(ordered):
            end = min(end, max(ordered[i + 1].start, phone.start))
            if 0 < ordered[i + 1].start - end < GAP_BRIDGE:
                end = ordered[i + 1].start
        if end <= phone.start:
            continue
        t = phone.start
        for part in phone_visemes(phone.symbol):
            part_end = t + part.share * (end - phone.start)
            segments.append(
                _Segment(t, part_end, part.viseme, part.letter, part.vowel, part.shape, part.glide)
            )
            t = part_end
    return segments


class Timeline:
    """Viseme segments on the time axis, with coarticulation resolved; can grow at its end."""

    def __init__(self, phones: list[Phone] | None = None) -> None:
        self._segments: list[_Segment] = []
        self._starts: list[float] = []
        self._resolved: dict[int, MouthShape] = {}
        if phones:
            self.extend(phones)

    @property
    def segments(self) -> list[_Segment]:
        return self._segments

    @property
    def end(self) -> float:
        return self._segments[-1].end if self._segments else 0.0

    def extend(self, phones: list[Phone]) -> None:
        """Add phones (absolute times); ones that overlap known time replace the overlapped part."""
        new = segments_from_phones(phones)
        if not new:
            return
        cut = new[0].start
        kept = [s for s in self._segments if s.start < cut]
        # The last kept segment ends where the new ones start: cut short, or stretched over jitter.
        if kept and (kept[-1].end > cut or 0 < cut - kept[-1].end < GAP_BRIDGE):
            kept[-1] = replace(kept[-1], end=cut)
        first_changed = max(0, len(kept) - 1)
        self._segments = kept + new
        self._starts = [s.start for s in self._segments]
        # Coarticulation looks a few segments either way: forget what the new ones may change.
        self._resolved = {i: v for i, v in self._resolved.items() if i < first_changed - 4}

    def index_at(self, t: float) -> int | None:
        """The segment playing at time `t`, or None in silence."""
        i = bisect.bisect_right(self._starts, t) - 1
        if i >= 0 and t < self._segments[i].end:
            return i
        return None

    def target(self, t: float) -> MouthShape:
        """The mouth shape the speech asks for at time `t` (REST in silence)."""
        i = self.index_at(t)
        if i is None:
            return REST
        shape = self.resolved(i)
        seg = self._segments[i]
        if seg.glide and i > 0 and self._segments[i - 1].end >= seg.start - 1e-6:
            frac = (t - seg.start) / max(seg.end - seg.start, 1e-6)
            return self.resolved(i - 1).lerp(shape, frac)
        return shape

    def resolved(self, i: int) -> MouthShape:
        """Segment `i`'s shape after coarticulation with its neighbours."""
        shape = self._resolved.get(i)
        if shape is None:
            shape = self._resolve(i)
            self._resolved[i] = shape
        return shape

    def _neighbour_vowel(self, i: int) -> _Segment | None:
        # Anticipatory coarticulation is the stronger: prefer the next vowel, then the previous,
        # never across silence.
        seg = self._segments[i]
        for step in (1, -1):
            j, edge = i, seg
            while 0 <= j + step < len(self._segments):
                other = self._segments[j + step]
                gap = other.start - edge.end if step > 0 else edge.start - other.end
                if gap > GAP_BRIDGE:
                    break
                far = other.start - seg.end if step > 0 else seg.start - other.end
                if far > COARTIC_REACH:
                    break
                if other.vowel:
                    return other
                j, edge = j + step, other
        return None

    def _resolve(self, i: int) -> MouthShape:
        seg = self._segments[i]
        own = seg.shape
        if seg.vowel:
            return own
        vowel = self._neighbour_vowel(i)
        if vowel is None:
            return own
        v = vowel.shape
        if seg.viseme == Viseme.FLEXIBLE:
            k = FLEXIBLE_JAW.get(seg.letter, FLEXIBLE_JAW_DEFAULT)
            return MouthShape(
                jaw=v.jaw * k, spread=v.spread * 0.8, round=v.round * 0.9, teeth=v.teeth * 0.7
            )
        if seg.viseme == Viseme.CLOSED:
            # Lips can press while pushed forward ("boo"): keep some rounding, never the jaw.
            return replace(own, round=0.4 * v.round)
        k = _COARTIC_JAW.get(seg.viseme, 0.0)
        if seg.letter in _SIBILANTS:
            k = min(k, 0.15)
        spread = own.spread if own.round > 0.3 else max(own.spread, 0.4 * v.spread)
        return replace(
            own, jaw=max(own.jaw, k * v.jaw), round=max(own.round, 0.6 * v.round), spread=spread
        )

    def closure_at(self, t0: float, t1: float) -> MouthShape | None:
        """The closure to show in the frame window [t0, t1), if a P/B/M phone claims it.

        A closure claims every frame whose centre falls inside it (a plosive's from PLOSIVE_HOLD
        before its event) and, whatever its length, the one frame it overlaps most.
        """
        centre = 0.5 * (t0 + t1)
        lo = bisect.bisect_right(self._starts, t0 - 0.5) - 1
        for j in range(max(lo, 0), len(self._segments)):
            seg = self._segments[j]
            if seg.start > t1 + PLOSIVE_HOLD:
                break
            if seg.viseme != Viseme.CLOSED:
                continue
            hold = PLOSIVE_HOLD if seg.letter in _PLOSIVES else 0.0
            if seg.start - hold <= centre < seg.end or _is_best_frame(seg, t0, t1):
                return self.resolved(j)
        return None

    def key_segments(self, t0: float, t1: float) -> list[int]:
        """Segments for which [t0, t1) is the frame that overlaps them most."""
        out = []
        lo = bisect.bisect_right(self._starts, t0 - 0.5) - 1
        for j in range(max(lo, 0), len(self._segments)):
            seg = self._segments[j]
            if seg.start >= t1:
                break
            if _is_best_frame(seg, t0, t1):
                out.append(j)
        return out


def _is_best_frame(seg: _Segment, t0: float, t1: float) -> bool:
    """True when [t0, t1) is the frame window that overlaps `seg` most (the earlier on a tie)."""
    width = t1 - t0
    overlap = min(seg.end, t1) - max(seg.start, t0)
    if overlap <= 0:
        return False
    prev = min(seg.end, t0) - max(seg.start, t0 - width)
    nxt = min(seg.end, t1 + width) - max(seg.start, t1)
    return overlap > prev and overlap >= nxt


def energy_gain(energy: float) -> float:
    """Jaw scale for a frame's loudness (0..1): none in silence, full at normal speech levels."""
    if energy <= ENERGY_GATE:
        return 0.0
    x = min(1.0, (energy - ENERGY_GATE) / (ENERGY_FULL - ENERGY_GATE))
    return x * x * (3.0 - 2.0 * x)


class Smoother:
    """The mouth's momentum: each value follows its target, the jaw faster opening than closing."""

    def __init__(self, fps: float) -> None:
        a = lambda tau: 1.0 - math.exp(-1.0 / (fps * tau))  # noqa: E731
        self._a_open, self._a_close = a(TAU_OPEN), a(TAU_CLOSE)
        self._a_lips, self._a_detail = a(TAU_LIPS), a(TAU_DETAIL)
        self.state = np.zeros(len(MOUTH_FIELDS))

    def reset(self) -> None:
        self.state[:] = 0.0

    def follow(self, target: np.ndarray) -> None:
        y = self.state
        # Jaw: pops open, closes slowly; but lips snap shut into a closure or onto the teeth (F/V).
        if target[0] > y[0]:
            a = self._a_open
        else:
            a = 1.0 if target[3] > 0.5 or target[4] > 0.5 else self._a_close
        y[0] += a * (target[0] - y[0])
        y[1:3] += self._a_lips * (target[1:3] - y[1:3])
        y[3] = target[3] if target[3] > y[3] else y[3] + self._a_detail * (target[3] - y[3])
        y[4:] += self._a_detail * (target[4:] - y[4:])


class MouthTracker:
    """Frame-by-frame mouth controls from a Timeline: the timing rules, with their state.

    Frame k covers [k/fps, (k+1)/fps); it needs the timeline known up to about
    (k + 1) / fps + ANTICIPATION + COARTIC_REACH.
    """

    def __init__(self, timeline: Timeline, fps: float = 25.0) -> None:
        if fps <= 0:
            raise LivehumanError(f"frames per second must be positive, got {fps}")
        self.timeline = timeline
        self.fps = float(fps)
        self._smoother = Smoother(fps)
        self._state = self._smoother.state

    def reset(self) -> None:
        """Forget the mouth's momentum (start again from the closed mouth)."""
        self._smoother.reset()

    def target(self, k: int, gain: float | None = None) -> np.ndarray:
        """Frame k's target: the timeline averaged over its (anticipated) window, energy applied."""
        t0 = k / self.fps + ANTICIPATION
        step = 1.0 / (self.fps * SUBSAMPLES)
        acc = np.zeros(len(MOUTH_FIELDS))
        for j in range(SUBSAMPLES):
            acc += self.timeline.target(t0 + (j + 0.5) * step).values()
        acc /= SUBSAMPLES
        if gain is not None:
            if gain == 0.0:
                # No sound, no shape: only a closure (silent by nature) is kept.
                acc[[0, 1, 2, 4, 5, 6]] = 0.0
            acc[0] *= gain
            acc[5] *= gain  # teeth show only when the lips part
            acc[6] *= gain
        return acc

    def step(self, k: int, energy: float | None = None) -> MouthShape:
        """The mouth for frame k; call for k = 0, 1, 2, ... in order."""
        gain = None if energy is None else energy_gain(energy)
        target = self.target(k, gain)
        self._smoother.follow(target)
        t0, t1 = k / self.fps, (k + 1) / self.fps
        closure = self.timeline.closure_at(t0, t1)
        y = self._state
        if closure is not None:
            y[:] = (0.0, 0.3 * y[1], closure.round, closure.press, 0.0, 0.0, 0.0)
        else:
            for j in self.timeline.key_segments(t0, t1):
                self._show_fully(self.timeline.segments[j], self.timeline.resolved(j), gain)
        if not target.any() and y.max() < SETTLE:
            y[:] = 0.0
        return MouthShape(*np.clip(y, 0.0, 1.0))

    def _show_fully(self, seg: _Segment, shape: MouthShape, gain: float | None) -> None:
        # Minimum shape duration: a sound shorter than a frame still gets one frame that shows it.
        y = self._state
        g = 1.0 if gain is None else gain
        if seg.vowel:
            y[0] = max(y[0], VOWEL_MIN_REACH * shape.jaw * g)
            y[1] = max(y[1], VOWEL_MIN_REACH * shape.spread)
            y[2] = max(y[2], VOWEL_MIN_REACH * shape.round)
            if shape.round > 0.3:
                y[1] = min(y[1], 0.3)
            if shape.spread > 0.3:
                y[2] = min(y[2], 0.3)
        elif seg.viseme == Viseme.LABIODENTAL:
            y[4] = max(y[4], 0.9 * shape.tuck)
            y[0] = min(y[0], 0.15)
        elif seg.viseme == Viseme.DENTAL:
            y[6] = max(y[6], 0.8 * shape.tongue * g)


def shape_to_controls(shape: MouthShape) -> FaceControls:
    """FaceControls with the mouth of `shape` and everything else neutral."""
    return FaceControls(**{name: float(v) for name, v in zip(MOUTH_FIELDS, shape.values())})


def mouth_controls(
    phones: list[Phone], duration: float, fps: float = 25.0, energy: np.ndarray | None = None
) -> list[FaceControls]:
    """Per-frame mouth controls for speech of `duration` seconds with known phone timings."""
    if duration < 0 or not math.isfinite(duration):
        raise LivehumanError(f"speech duration must be a finite number of seconds, got {duration}")
    n = frame_count(duration, fps)
    tracker = MouthTracker(Timeline(phones), fps)
    if energy is not None:
        energy = np.asarray(energy, dtype=np.float64).reshape(-1)
    out = []
    for k in range(n):
        e = None
        if energy is not None:
            e = float(energy[k]) if k < len(energy) else 0.0
        out.append(shape_to_controls(tracker.step(k, e)))
    return out
