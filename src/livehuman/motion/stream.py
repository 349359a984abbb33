"""Live motion: lip sync from audio as it arrives, and the listening face between replies.

`StreamingLipSync` runs the batch rules (motion.lipsync) frame by frame, so a reply streamed in
chunks moves the mouth the same way as the same reply rendered from a file. Each frame waits for
`lookahead` seconds of audio after its own end; the caller keeps audio and picture paired by
delaying the audio as much (or, like the live session, by pairing each frame with its own audio).
"""

from __future__ import annotations

import logging
import math
from dataclasses import replace

import numpy as np

from livehuman.errors import LivehumanError
from livehuman.motion.acoustics import WINDOW, FeatureStream
from livehuman.motion.controls import FaceControls
from livehuman.motion.idle import BROW_GAIN, GAZE_MOVE, Emphasis, LifeGenerator, blink_curve, smoothstep
from livehuman.motion.audio_mouth import AUDIO_LOOKAHEAD_FRAMES, AudioMouthTracker, LoudnessTracker
from livehuman.motion.closures import SYNTHETIC
from livehuman.motion.lipsync import MouthTracker, Timeline, shape_to_controls
from livehuman.motion.phone_blend import PhoneBlend
from livehuman.motion.visemes import MouthShape
from livehuman.rates import FPS
from livehuman.speech.phones import Phone

log = logging.getLogger(__name__)

MAX_LOOKAHEAD = 0.2  # s: the most a frame may wait for the audio after it
TRANSITION = 0.4  # s: how long the face takes to ease between listening and speaking
NOD_INTERVAL = (4.0, 9.0)  # s between the small nods of a listener
NOD_DURATION = 0.7  # s
NOD_DEG = 1.8  # pitch dip at a nod's deepest
# Attending to the user (motion/listening.py): their nod at a pause is deeper and quicker than an
# idle one (a backchannel nod), and the eyes' wander shrinks to this share while the user is heard.
CUE_NOD_DEG = 3.0
CUE_NOD_S = 0.5
ATTEND_GAZE = 0.25
# When the user's turn ends the face glances away, up and to one side, while its answer is being
# planned, and looks back as it comes: speakers look away as they begin and back at the listener
# (Kendon 1967), and more so while they think what to say (Glenberg et al. 1998). Not every time.
THINK_GAZE = (0.4, 0.3)  # gaze x (either side) and y (up) of the glance: plainly seen, as a thinking glance is
THINK_S = (0.5, 1.1)  # s it holds before looking back
THINK_CHANCE = 0.7  # share of the user's turns that end with one
THINK_BLINK = 0.4  # share of those glances a blink goes with (large gaze shifts bring blinks: Evinger et al. 1994)


class StreamingLipSync:
    """Mouth controls for a live stream of speech audio, one FaceControls per video frame.

    Push audio chunks (any rate) with the phones the brain knows for them, timed in seconds from
    the first sample of the speech (the reply), as the brain times them; they may run past the
    chunk's end. With phones, the phone timing rules
    drive the mouth and the audio's loudness gates it; without any, the audio alone does, hearing
    it as a `voice` of that kind (motion/closures.py: synthetic or natural). A `recognizer` of
    phones (motion/phone_blend.py) blends the phones it hears in such a voice into the frames that
    wait for them: `frames(hold=True)`, for a caller whose playback is far enough ahead.
    """

    def __init__(self, fps: float = FPS, voice: str = SYNTHETIC, recognizer=None) -> None:
        if fps <= 0:
            raise LivehumanError(f"frames per second must be positive, got {fps}")
        self.fps = float(fps)
        self.voice = voice  # (a kind that is not one fails in reset(), as the tracker's networks load)
        self._recognizer = recognizer
        # A frame needs the acoustic features of the frames after it, whose windows reach past
        # their centres by half a window.
        self._lookahead = (AUDIO_LOOKAHEAD_FRAMES - 0.5) / self.fps + WINDOW / 2
        assert self._lookahead <= MAX_LOOKAHEAD
        self.reset()

    @property
    def lookahead(self) -> float:
        """Seconds of audio after a frame's end that must arrive before the frame is made."""
        return self._lookahead

    def reset(self) -> None:
        """Drop everything (barge-in, or the end of a reply): the next push starts at time 0."""
        self._features = FeatureStream(self.fps)
        self._timeline = Timeline()
        self._phone_tracker = MouthTracker(self._timeline, self.fps)
        self._audio_tracker = AudioMouthTracker(self.fps, self.voice)
        self._loudness = LoudnessTracker(self.fps)
        self._emphasis = Emphasis(self.fps)
        self._levels: list[float] = []  # per frame, for the phone path's loudness gate
        self._blend = self._new_blend()
        self._waiting: list[MouthShape] = []  # the sound's mouths made and not yet emitted
        self._received = 0.0  # seconds of audio pushed
        self._next = 0  # next frame to emit
        self._has_phones = False
        self._ended = False

    @property
    def recognizer(self):
        """What hears the phones of a voice without them (motion/phone_blend.py), or None."""
        return self._recognizer

    @recognizer.setter
    def recognizer(self, recognizer) -> None:
        # used at once if no reply has begun, else from the next one
        self._recognizer = recognizer
        if self._received == 0 and not self._ended:
            self._blend = self._new_blend()

    @property
    def held(self) -> int:
        """Frames the sound has made that wait for their recognized phones (`frames(hold=True)`)."""
        return len(self._waiting)

    def push(self, samples: np.ndarray, rate: int, phones: list[Phone] | None = None) -> None:
        """Add the next chunk of mono audio (float in -1..1 or int16) and, if known, its phones
        (timed from the speech's first sample, not the chunk's)."""
        if rate <= 0:
            raise LivehumanError(f"audio sample rate must be positive, got {rate}")
        if self._ended:
            raise LivehumanError("the stream was flushed: call reset() before pushing new speech")
        samples = np.asarray(samples).reshape(-1)
        if phones:
            self._timeline.extend(list(phones))
            if not self._has_phones:
                self._features.levels_only()  # the phones shape the mouth: the sound gives its loudness
            self._has_phones = True
        self._received += len(samples) / rate
        self._features.push(samples, rate)
        self._take_features()
        if self._blend is not None and not self._has_phones:
            self._hear(lambda: self._blend.hear(samples, rate))

    def frames(self, hold: bool = False) -> list[FaceControls]:
        """The frames that became ready since the last call; with `hold`, those of a voice without
        phones wait for the phones a recognizer hears in them."""
        return self._emit(final=False, hold=hold)

    def flush(self) -> list[FaceControls]:
        """The end of the speech: the remaining frames, up to the end of the audio pushed."""
        self._features.end()
        self._ended = True
        self._take_features()
        if self._blend is not None and not self._has_phones:
            self._hear(self._blend.hear_rest)
        return self._emit(final=True)

    def _new_blend(self) -> PhoneBlend | None:
        if self._recognizer is None:
            return None
        try:
            return PhoneBlend(self._recognizer, self.fps)  # (it resets the recognizer)
        except Exception as exc:  # (a recognizer closed with the server) the sound alone, as without one
            log.warning("no phones will be recognized in this reply (%s)", exc)
            return None

    def _hear(self, call) -> None:
        try:
            call()
        except Exception as exc:  # a recognizer's process that died: this reply goes on by its sound
            log.warning("the phones of a reply could not be recognized (%s): its mouth follows the sound alone", exc)
            self._blend = None

    def _take_features(self) -> None:
        feats = self._features.ready()
        self._levels.extend(f.level for f in feats)
        if not self._has_phones:
            self._audio_tracker.add(feats)

    def _emit(self, final: bool, hold: bool = False) -> list[FaceControls]:
        total = math.ceil(self._received * self.fps - 1e-6) if final else None
        if not self._has_phones:
            self._waiting += self._audio_tracker.frames(final=final)
            tracker, out = self._audio_tracker, []
            for shape in self._waiting:
                k = self._next
                if total is not None and k >= total:
                    break
                if hold and not final and self._blend is not None and not self._blend.ready(k):
                    break  # (it waits for its phones)
                if self._blend is not None:
                    shape = self._blend.frame(k, shape, tracker.energy[k] * tracker.speaking[k])
                out.append(self._with_brow(shape_to_controls(shape), tracker.energy[k]))
                self._next += 1
            self._waiting = [] if final else self._waiting[len(out):]
            return out
        out = []
        available = len(self._levels)
        while self._next < available and (final or self._next + AUDIO_LOOKAHEAD_FRAMES < available):
            k = self._next
            if total is not None and k >= total:
                break
            ahead = self._levels[k : k + AUDIO_LOOKAHEAD_FRAMES + 1]
            energy = self._loudness.step(self._levels[k], ahead)
            out.append(self._with_brow(shape_to_controls(self._phone_tracker.step(k, energy)), energy))
            self._next += 1
        return out

    def _with_brow(self, controls: FaceControls, energy: float) -> FaceControls:
        # Brows lift a little on stressed, louder syllables (the speech's emphasis).
        controls.brow = max(controls.brow, BROW_GAIN * self._emphasis.step(energy))
        return controls


def with_emphasis(controls: list[FaceControls], loudness: np.ndarray, fps: float = FPS) -> list[FaceControls]:
    """A whole clip's mouth `controls` with the brows StreamingLipSync gives its frames: lifted on
    loud, stressed syllables by the emphasis of each frame's loudness (0..1)."""
    track = Emphasis(fps)
    out = []
    for k, c in enumerate(controls):
        loud = float(loudness[k]) if k < len(loudness) else 0.0
        out.append(replace(c, brow=max(c.brow, BROW_GAIN * track.step(loud))))
    return out


class IdleMotion:
    """The face between and during replies: blinks, breathing, sway, listening nods; no jumps.

    Call `next_frame` once per video frame; its head and eye motion run on without a break
    whether the avatar speaks or listens, and listening-only motion fades in and out. The live
    face also tells it when the user is heard (`attend`), when a pause wants a nod (`nod`) and when
    the user's turn is over (`look_away`): motion/listening.py.
    """

    def __init__(self, fps: float = FPS, seed: int | None = 0, head_motion: bool = True,
                 blink_rate: float = 1.0) -> None:
        self.fps = float(fps)
        # blink_rate: times the usual rate (a persona's idle.blink_rate)
        self._life = LifeGenerator(fps, seed=seed, head_motion=head_motion, blink_rate=blink_rate)
        self._rng = np.random.default_rng(None if seed is None else seed + 7919)
        self._head_motion = head_motion
        self._listening = 1.0  # 1 listening .. 0 speaking, eased
        self._attending = False  # the user's voice is heard (`attend`)
        self._attend = 0.0  # 0 .. 1 attending to it, eased
        self._frame = 0
        self._nod_at = self._rng.uniform(*NOD_INTERVAL)
        self._nod_deg, self._nod_s = NOD_DEG, NOD_DURATION
        self._nod_asked = False
        self._away_asked = False
        self._away: tuple[float, float, float, float, bool] | None = None  # (start, hold, gaze x, gaze y, blink)

    def next_frame(self, speaking: bool) -> FaceControls:
        """The next frame's face (mouth closed and relaxed; the lip sync supplies the mouth)."""
        step = 1.0 / (self.fps * TRANSITION)
        target = 0.0 if speaking else 1.0
        self._listening += max(-step, min(step, target - self._listening))
        self._attend += max(-step, min(step, float(self._attending) - self._attend))
        t = (self._frame + 0.5) / self.fps
        out = self._life.next(0.0, talking=speaking)  # blinks come faster while speaking
        eyes = 1.0 - (1.0 - ATTEND_GAZE) * smoothstep(self._attend)
        away_x, away_y, blink = self._glance_away(t)
        out.gaze_x, out.gaze_y = out.gaze_x * eyes + away_x, out.gaze_y * eyes + away_y
        out.blink = max(out.blink, blink)
        if self._head_motion:
            out.pitch += self._nod(t) * smoothstep(self._listening)
        self._frame += 1
        return out

    def attend(self, on: bool) -> None:
        """The user's voice is heard (on) or not: the eyes stay near them, and the idle nods wait."""
        self._attending = on

    def nod(self) -> None:
        """Nod once from the next frame, deeper than an idle nod: "go on" (motion/listening.py)."""
        self._nod_asked = True

    def look_away(self) -> None:
        """The user's turn is over: glance away while the answer is planned, most times (THINK_CHANCE)."""
        self._away_asked = True

    def _glance_away(self, t: float) -> tuple[float, float, float]:
        """The glance's gaze x, y and blink at time t."""
        if self._away_asked:
            self._away_asked = False
            if self._rng.random() < THINK_CHANCE:
                side = 1.0 if self._rng.random() < 0.5 else -1.0
                self._away = (t, self._rng.uniform(*THINK_S), side * THINK_GAZE[0], THINK_GAZE[1],
                              self._rng.random() < THINK_BLINK)
        if self._away is None:
            return 0.0, 0.0, 0.0
        start, hold, x, y, blinks = self._away
        since = t - start
        if since >= hold + GAZE_MOVE:
            self._away = None
            return 0.0, 0.0, 0.0
        # a saccade there, a saccade back
        w = smoothstep(min(1.0, since / GAZE_MOVE)) if since < hold else smoothstep(1.0 - (since - hold) / GAZE_MOVE)
        return w * x, w * y, blink_curve(since, self.fps) if blinks else 0.0

    def _nod(self, t: float) -> float:
        # A listener's nod: down and back up, as a raised-cosine dip; now and then by itself, or
        # when asked. Idle nods wait while the user is heard: a nod over their words means nothing.
        nodding = self._nod_at <= t < self._nod_at + self._nod_s
        if self._nod_asked and not nodding:
            self._nod_at, self._nod_deg, self._nod_s = t, CUE_NOD_DEG, CUE_NOD_S
        elif t >= self._nod_at + self._nod_s:
            self._nod_at, self._nod_deg, self._nod_s = t + self._rng.uniform(*NOD_INTERVAL), NOD_DEG, NOD_DURATION
        elif self._attending and not nodding:
            self._nod_at = max(self._nod_at, t + NOD_INTERVAL[0])
        self._nod_asked = False
        x = (t - self._nod_at) / self._nod_s
        if 0.0 <= x <= 1.0:
            return -self._nod_deg * 0.5 * (1.0 - math.cos(2 * math.pi * x))
        return 0.0
