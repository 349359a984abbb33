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
from livehuman.motion.acoustics import audio_features
from livehuman.motion.controls import FaceControls
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

_MOUTH = tuple(f.name for f in fields(MouthShape))  # the FaceControls fields the mouth drives


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
        self.state = np.zeros(len(_MOUTH))

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
        acc = np.zeros(len(_MOUTH))
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
    return FaceControls(**{name: float(v) for name, v in zip(_MOUTH, shape.values())})


def frame_count(duration: float, fps: float) -> int:
    """Frames needed to show `duration` seconds at `fps` (the last partial frame included)."""
    return max(0, int(math.ceil(duration * fps - 1e-6)))


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


# Audio-only rules: the sound itself says how open the mouth is (loudness, F1), how spread or
# rounded (F2 and spectral brightness, against the speaker's own averages) and where the lips
# close (short dips in loudness, nasal murmur).
AUDIO_LOOKAHEAD_FRAMES = 2  # frames of features after frame k that frame k may look at
SILENCE_BELOW_PEAK = 35.0  # dB under the recent peak that counts as silence
SILENCE_FLOOR = -58.0  # dBFS: quieter than this is silence whatever the peak
PEAK_DECAY = 1.5  # dB per second the loudness reference forgets a peak
FLOOR_RISE = 1.0  # dB per second the noise floor creeps up when nothing quieter is heard
NOISE_MARGIN = 6.0  # dB above the noise floor that sound must reach to count
MIN_SNR = 25.0  # dB: a "floor" closer than this to the peak is quiet speech, not noise
CLOSURE_DIP = 12.0  # dB a 10 ms dip must fall under the loudest nearby frame to close the lips
NASAL_DROP = 6.0  # dB a murmur with a low F1 must fall under its neighbours to close the lips
NASAL_F1 = 260.0  # Hz: a murmur's first resonance lies under this
VOICED = 0.5  # voicing (autocorrelation peak) above which a frame has a voice in it
VOICELESS_REACH = 0.3  # s: voiceless sound this far from any voice is not speech
HISTORY = 250  # voiced frames remembered for the speaker's own formant and brightness averages
# Priors for a speaker not yet heard: F1 of close and open vowels, F2 centre, brightness centre.
PRIOR_F1 = (280.0, 720.0)
PRIOR_F2 = 1600.0
PRIOR_BRIGHT = -18.0
PRIOR_WEIGHT = 20  # how many voiced frames the priors count for


class LoudnessTracker:
    """Loudness 0..1 per frame against the speaker's recent peak and the background's level.

    Causal, with a short look-ahead: the peak forgets slowly, and the noise floor is the quietest
    recent level, rising slowly; steady background noise is not speech, so it does not open the
    mouth.
    """

    def __init__(self, fps: float = 25.0) -> None:
        self._decay = PEAK_DECAY / float(fps)
        self._rise = FLOOR_RISE / float(fps)
        self.reset()

    def reset(self) -> None:
        self.peak = -math.inf
        self.floor = math.inf

    def silence_level(self) -> float:
        """dBFS under which a frame is silence, given the peak and the noise floor so far."""
        # A floor near the peak is speech, not noise (speech started without a pause before it).
        noise = min(self.floor, self.peak - MIN_SNR) + NOISE_MARGIN
        return max(self.peak - SILENCE_BELOW_PEAK, SILENCE_FLOOR, noise)

    def step(self, level: float, ahead: list[float]) -> float:
        """Frame loudness 0..1 from its level (dBFS) and the levels of its look-ahead (itself first)."""
        self.peak = max(self.peak - self._decay, max(ahead))
        self.floor = min(self.floor + self._rise, min(ahead))
        silence = self.silence_level()
        if level < silence:
            return 0.0
        return min(1.0, (level - silence) / max(self.peak - 6.0 - silence, 6.0))


def speech_energy(audio, fps: float = 25.0) -> np.ndarray:
    """Per-frame loudness 0..1 of `audio`, exactly as the streaming lip sync computes it."""
    n = frame_count(audio.duration, fps)
    levels = [f.level for f in audio_features(audio, fps, frames=n)]
    tracker = LoudnessTracker(fps)
    out = np.zeros(n)
    for k in range(n):
        out[k] = tracker.step(levels[k], levels[k : k + AUDIO_LOOKAHEAD_FRAMES + 1])
    return out


class AudioMouthTracker:
    """Frame-by-frame mouth controls from acoustic features alone (any language, any voice).

    Frame k may look AUDIO_LOOKAHEAD_FRAMES frames of features ahead; everything else is causal, so
    a whole file and a live stream give the same frames.
    """

    def __init__(self, fps: float = 25.0) -> None:
        self.fps = float(fps)
        self.smoother = Smoother(fps)
        self.loudness = LoudnessTracker(fps)
        self.reset()

    def reset(self) -> None:
        """Start again: no features, no momentum, no knowledge of the speaker."""
        self.smoother.reset()
        self.loudness.reset()
        self._feats: list = []
        self._first = 0  # index of self._feats[0]
        self._next = 0
        self._f1: list[float] = []
        self._f2: list[float] = []
        self._bright: list[float] = []
        self.energy: list[float] = []  # loudness of each frame made so far
        self.speaking: list[bool] = []  # whether each frame made so far was taken for speech
        self._last_voiced = -math.inf  # the last frame with voice in it

    def add(self, features: list) -> None:
        """Append the next frames' acoustic features (motion.acoustics.FrameFeatures)."""
        self._feats.extend(features)

    @property
    def available(self) -> int:
        """Frames of features received so far."""
        return self._first + len(self._feats)

    def frames(self, final: bool = False) -> list[MouthShape]:
        """Mouth shapes of the frames whose look-ahead has arrived (all of them when `final`)."""
        out = []
        total = self.available
        while self._next < total and (final or self._next + AUDIO_LOOKAHEAD_FRAMES < total):
            out.append(self._step(self._next))
            self._next += 1
        drop = self._next - AUDIO_LOOKAHEAD_FRAMES - self._first
        if drop > 0:
            del self._feats[:drop]
            self._first += drop
        return out

    def _feat(self, k: int):
        return self._feats[k - self._first]

    def _step(self, k: int) -> MouthShape:
        total = self.available
        ahead = range(k, min(total, k + AUDIO_LOOKAHEAD_FRAMES + 1))
        around = range(max(self._first, k - AUDIO_LOOKAHEAD_FRAMES), ahead.stop)
        f = self._feat(k)
        energy = self.loudness.step(f.level, [self._feat(j).level for j in ahead])
        if energy > 0 and any(self._feat(j).voicing > VOICED for j in ahead):
            self._last_voiced = k + AUDIO_LOOKAHEAD_FRAMES
        # Voiceless sound far from any voice is noise or breath, not speech: the mouth rests.
        near_voice = (k - self._last_voiced) / self.fps <= VOICELESS_REACH
        if not near_voice:
            energy = 0.0
        self.energy.append(energy)
        target = self._target(f, energy, max(self._feat(j).level for j in around), near_voice)
        self.speaking.append(bool(target.any()))
        self.smoother.follow(target)
        y = self.smoother.state
        if target[3] > 0.5:
            y[0] = 0.0
            y[4:] = 0.0
        if not target.any() and y.max() < SETTLE:
            y[:] = 0.0
        if f.voicing > 0.5 and f.f1 > NASAL_F1:
            self._remember(f)
        return MouthShape(*np.clip(y, 0.0, 1.0))

    def _remember(self, f) -> None:
        for hist, value in ((self._f1, f.f1), (self._f2, f.f2), (self._bright, f.bright)):
            if value:
                hist.append(value)
                if len(hist) > HISTORY:
                    del hist[0]

    @staticmethod
    def _shrunk(values: list[float], q: float, prior: float) -> float:
        if not values:
            return prior
        n = len(values)
        return (n * float(np.percentile(values, q)) + PRIOR_WEIGHT * prior) / (n + PRIOR_WEIGHT)

    def _target(self, f, energy: float, loudest_near: float, near_voice: bool) -> np.ndarray:
        rounding = float(self.smoother.state[2])
        closure = np.array([0.0, 0.0, rounding, 1.0, 0.0, 0.0, 0.0])
        if energy <= 0.0:
            # A short silence inside speech is a stop's closure: the lips shut at once.
            if near_voice and loudest_near > self.loudness.silence_level() + CLOSURE_DIP:
                return closure
            return np.zeros(len(_MOUTH))
        gain = energy_gain(energy)
        dipped = loudest_near - f.dip > CLOSURE_DIP
        quieter = loudest_near - f.level > NASAL_DROP
        murmur = quieter and (0 < f.f1 < NASAL_F1 or (f.f1 == 0 and f.voicing > 0.4))
        if dipped or murmur:
            return closure
        if f.voicing < 0.4:  # a fricative, a burst or breath: teeth close, lips parted
            return np.array([0.12 * gain, 0.25, 0.3 * rounding, 0.0, 0.0, 0.8 * gain, 0.0])
        lo = self._shrunk(self._f1, 10, PRIOR_F1[0])
        hi = max(lo + 150.0, self._shrunk(self._f1, 90, PRIOR_F1[1]))
        openness = 0.3 if not f.f1 else float(np.clip((f.f1 - lo) / (hi - lo), 0.0, 1.0))
        front = 0.0
        if f.f2:
            f2_mid = self._shrunk(self._f2, 50, PRIOR_F2)
            front += 0.5 * float(np.clip((f.f2 / f2_mid - 1.0) / 0.3, -1.0, 1.0))
        bright_mid = self._shrunk(self._bright, 50, PRIOR_BRIGHT)
        front += 0.5 * float(np.clip((f.bright - bright_mid) / 7.0, -1.0, 1.0))
        jaw = gain * (0.2 + 0.8 * openness)
        spread = max(0.0, front) * 0.9
        round_ = max(0.0, -front) * (1.0 - 0.7 * openness)
        return np.array([jaw, spread, round_, 0.0, 0.0, 0.5 * gain, 0.0])


def acoustic_mouth_controls(audio, fps: float = 25.0) -> list[FaceControls]:
    """Per-frame mouth controls from the sound alone (no phones): any language, any voice."""
    return _acoustic_tracked(audio, fps)[0]


def _acoustic_tracked(audio, fps: float) -> tuple[list[FaceControls], AudioMouthTracker]:
    n = frame_count(audio.duration, fps)
    tracker = AudioMouthTracker(fps)
    tracker.add(audio_features(audio, fps, frames=n))
    return [shape_to_controls(s) for s in tracker.frames(final=True)], tracker


# Recognized phones are trusted only when there are enough of them and they agree with the sound.
MIN_PHONE_RATE = 4.0  # recognized phones per second of sound
MIN_AGREEMENT = 0.2  # correlation of the two jaw tracks over the sounding frames
RECOGNIZED_WEIGHT = 0.5  # share of the recognized-phone mouth in the blend


def audio_mouth_controls(audio, fps: float = 25.0, recognize: bool = True) -> list[FaceControls]:
    """Per-frame mouth controls for speech known only as audio (any voice, any language).

    The acoustic rules (loudness, formants, dips) always run. With `recognize`, pocketsphinx's
    phones drive a second, phone-timed mouth; when they look reliable the two are blended: the
    blend's closures are the recognized P/B/M plus the acoustic dips that fall outside
    recognized vowels. For non-English speech or noise the recognizer's phones are few or at odds
    with the sound, and the acoustic mouth is used alone.
    """
    if audio.rate <= 0 or len(audio.samples) == 0:
        raise LivehumanError("the audio is empty: there is nothing to lip-sync")
    acoustic, tracker = _acoustic_tracked(audio, fps)
    if not recognize:
        return acoustic
    from livehuman.motion.recognize import recognize_phones

    # The recognized phones open the mouth only where the sound tracker heard speech (it knows
    # noise and breath from voice).
    energy = np.array(tracker.energy) * np.array(tracker.speaking)
    sounding = energy > 0
    if sounding.sum() < 5:
        return acoustic
    phones = recognize_phones(audio)
    if len(phones) < MIN_PHONE_RATE * sounding.sum() / fps:
        return acoustic
    heard = mouth_controls(phones, len(acoustic) / fps, fps, energy=energy)
    a, r = _mouth_array(acoustic), _mouth_array(heard)
    if np.std(a[sounding, 0]) == 0 or np.std(r[sounding, 0]) == 0:
        return acoustic
    if np.corrcoef(a[sounding, 0], r[sounding, 0])[0, 1] < MIN_AGREEMENT:
        return acoustic
    covered = _phone_frames(phones, len(a), fps, vowels_only=False)
    vowel = _phone_frames(phones, len(a), fps, vowels_only=True)
    # Per frame: blend where both speak; the sound alone where the recognizer heard nothing; the
    # recognized vowel alone where the sound's dip would close the lips inside it.
    w = np.where(covered, RECOGNIZED_WEIGHT, 0.0)
    w[(a[:, 3] > 0.5) & vowel] = 1.0
    blend = (1.0 - w[:, None]) * a + w[:, None] * r
    closed = (r[:, 3] > 0.5) | ((a[:, 3] > 0.5) & ~vowel)
    blend[closed, 0] = 0.0
    blend[closed, 3] = np.maximum(a[closed, 3], r[closed, 3])
    blend[closed, 4:] = 0.0
    return [shape_to_controls(MouthShape(*row)) for row in np.clip(blend, 0.0, 1.0)]


def _mouth_array(controls: list[FaceControls]) -> np.ndarray:
    """(frames, 7) mouth values of `controls`, in MouthShape's field order."""
    return np.array([[getattr(c, name) for name in _MOUTH] for c in controls], dtype=np.float64)


def _phone_frames(phones: list[Phone], n: int, fps: float, vowels_only: bool) -> np.ndarray:
    """Which frames' centres fall inside a phone (a vowel, with `vowels_only`)."""
    centres = (np.arange(n) + 0.5) / fps
    mask = np.zeros(n, bool)
    for p in phones:
        parts = phone_visemes(p.symbol)
        if parts and (parts[0].vowel or not vowels_only):
            mask |= (centres >= p.start) & (centres < p.end)
    return mask
