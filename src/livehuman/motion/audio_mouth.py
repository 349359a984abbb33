"""Audio-only mouth motion: for speech whose phones nobody told us (any voice, any language).

The sound itself says how open the mouth is (loudness, and F1 against the speaker's own range; in a
person's voice a small network reading the band levels and formants around the frame: OPENNESS_FILE),
how spread or rounded (F2 and spectral brightness, against the speaker's own averages) and where the
lips close (a small network reading the fine timing of four bands around the frame's centre:
motion/closures.py). Where
pocketsphinx recognizes English phones that agree with the sound, their mouth (through the same
timing rules as exact phones) is blended in.
"""

from __future__ import annotations

import math
from collections import deque

import numpy as np

from livehuman.errors import LivehumanError
from livehuman.motion.acoustics import audio_features
from livehuman.motion.closures import NATURAL, SYNTHETIC, ClosureModel, load_closure_model, shipped_closure_networks
from livehuman.motion.controls import FaceControls, frame_count
from livehuman.motion.lipsync import (
    MOUTH_FIELDS,
    SETTLE,
    Smoother,
    energy_gain,
    mouth_controls,
    shape_to_controls,
)
from livehuman.motion.phone_blend import MIN_SOUNDING, blend_mouths, phones_cover, phones_trusted
from livehuman.motion.visemes import MouthShape
from livehuman.speech.hum import for_listening

AUDIO_LOOKAHEAD_FRAMES = 2  # frames of features after frame k that frame k may look at
SILENCE_BELOW_PEAK = 35.0  # dB under the recent peak that counts as silence
SILENCE_FLOOR = -58.0  # dBFS: quieter than this is silence whatever the peak
PEAK_DECAY = 1.5  # dB per second the loudness reference forgets a peak
FLOOR_RISE = 1.0  # dB per second the noise floor creeps up when nothing quieter is heard
NOISE_MARGIN = 6.0  # dB above the noise floor that sound must reach to count
MIN_SNR = 25.0  # dB: a "floor" closer than this to the peak is quiet speech, not noise
NO_SIGNAL = -80.0  # dBFS: digital silence (padding, a muted input), which says nothing of the room's noise
CLOSURE_DIP = 12.0  # dB a silent frame must lie under the loudest nearby frame to be a stop's closure
DEEP_QUIET = 25.0  # dB under the speaker's recent peak: a frame this quiet at its centre is a closure...
FRICATIVE_HIGH = 0.3  # ...unless this share of its energy lies above 3 kHz (a quiet fricative)
# The closure networks' probability above which the lips close; a closure one frame long, between
# frames the networks think open, must be surer: a flap or a /d/ between vowels sounds much like a
# fast /b/, and a wrong one-frame press flickers (docs/motion.md).
CLOSED_P = 0.2
CLOSED_ALONE_P = 0.35
NASAL_F1 = 260.0  # Hz: a murmur's first resonance lies under this (kept out of the vowel averages)
VOICED = 0.5  # voicing (autocorrelation peak) above which a frame has a voice in it
VOICELESS_REACH = 0.3  # s: voiceless sound this far from any voice is not speech
# A room's hum or a fan can be loud and periodic enough to pass for a voice until a first word has
# shown how loud the voice is; sound is speech only this near a frame where Silero's VAD hears it.
HEARD_SPEECH = 0.5  # the VAD's probability
SPEECH_REACH = 0.3  # s
# A whisper is speech with no voice in it: where the VAD has heard WHISPER_S of speech with sound in
# it in the last WHISPER_WINDOW s (counting what it hears at WHISPER_HEARD: it is less sure of a
# whisper than of a voice) and under WHISPER_VOICED of it was voiced (a voiced speaker's share is
# several times that), voiceless sound is speech, and what is not a fricative (little of its energy
# above 3 kHz) moves the mouth as a voiced vowel does. Without this a whisper left the mouth shut.
WHISPER_S = 0.25
WHISPER_WINDOW = 1.0
WHISPER_VOICED = 0.1
WHISPER_HEARD = 0.2
HISTORY = 250  # voiced frames remembered for the speaker's own formant and brightness averages
# Priors for a speaker not yet heard: F1 of close and open vowels and its centre, F2's centre,
# brightness's centre.
PRIOR_F1 = (280.0, 720.0)
PRIOR_F1_MID = 480.0
PRIOR_F2 = 1600.0
PRIOR_BRIGHT = -18.0
PRIOR_WEIGHT = 20  # how many voiced frames the priors count for
# How open a voiced frame's jaw is, 0..1, in a person's voice: a network of the closure networks'
# shape reading the frame's band levels, voicing and formants against the speaker's own, learnt from
# the phone timings of festival's diphone voices (people's recordings) and of espeak-ng's and
# flite's (scripts/train_openness.py). F1 alone between the speaker's extremes, which a
# synthesizer's voice keeps to, tells little in a person's (docs/motion.md, "Audio only").
OPENNESS_FILE = "openness.npz"


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
        heard = [x for x in ahead if x > NO_SIGNAL]
        if heard:  # digital silence says nothing of the room: the floor stays as it was
            self.floor = min(self.floor + self._rise, min(heard))
        silence = self.silence_level()
        if level < silence:
            return 0.0
        return min(1.0, (level - silence) / max(self.peak - 6.0 - silence, 6.0))


def speech_energy(audio, fps: float = 25.0) -> np.ndarray:
    """Per-frame loudness 0..1 of `audio`, exactly as the streaming lip sync computes it."""
    levels = audio_features(audio, fps, frames=frame_count(audio.duration, fps), speech=False, spectra=False)
    return loudness(levels, fps)


def heard_frames(audio, fps: float = 25.0) -> list:
    """The acoustic features (acoustics.FrameFeatures) of each of `audio`'s frames at `fps`: what
    the loudness, the voice's kind and the audio-only mouth all read (computing them costs more than
    any one of those, so a render computes them once). A recording is heard without its DC offset
    and mains hum (speech/hum.py)."""
    return audio_features(for_listening(audio)[0], fps, frames=frame_count(audio.duration, fps))


def loudness(feats: list, fps: float = 25.0) -> np.ndarray:
    """Per-frame loudness 0..1 from `heard_frames`, exactly as the streaming lip sync computes it."""
    levels = [f.level for f in feats]
    tracker = LoudnessTracker(fps)
    out = np.zeros(len(levels))
    for k in range(len(levels)):
        out[k] = tracker.step(levels[k], levels[k : k + AUDIO_LOOKAHEAD_FRAMES + 1])
    return out


class AudioMouthTracker:
    """Frame-by-frame mouth controls from acoustic features alone (any language, any voice).

    Frame k may look AUDIO_LOOKAHEAD_FRAMES frames of features ahead; everything else is causal, so
    a whole file and a live stream give the same frames. `voice` is the kind of voice it hears
    (closures.py: synthetic or natural), which picks the closure networks, and for a person's voice
    the openness network.
    """

    def __init__(self, fps: float = 25.0, voice: str = SYNTHETIC) -> None:
        self.fps = float(fps)
        self.smoother = Smoother(fps)
        self.loudness = LoudnessTracker(fps)
        self.closures = shipped_closure_networks(voice)
        self.openness = load_closure_model(name=OPENNESS_FILE) if voice == NATURAL else None
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
        self._last_speech = -math.inf  # the last frame where the VAD heard speech
        # the last WHISPER_WINDOW s of frames where the VAD heard speech: whether each was voiced
        self._heard: deque = deque(maxlen=max(1, round(WHISPER_WINDOW * self.fps)))
        self.whispering = False

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

    def _feat_or_edge(self, k: int):
        """Frame k's features, or those of the nearest frame still held."""
        return self._feat(min(max(k, self._first), self.available - 1))

    def _step(self, k: int) -> MouthShape:
        total = self.available
        ahead = range(k, min(total, k + AUDIO_LOOKAHEAD_FRAMES + 1))
        f = self._feat(k)
        energy = self.loudness.step(f.level, [self._feat(j).level for j in ahead])
        if energy > 0 and any(self._feat(j).voicing > VOICED for j in ahead):
            self._last_voiced = k + AUDIO_LOOKAHEAD_FRAMES
        self._hear_whisper(f, energy)
        heard = WHISPER_HEARD if self.whispering else HEARD_SPEECH
        if any(self._feat(j).speech > heard for j in ahead):
            self._last_speech = k + AUDIO_LOOKAHEAD_FRAMES
        # Voiceless sound far from any voice is noise or breath (unless the speaker whispers), and
        # sound far from anything the VAD calls speech is the room: the mouth rests.
        near_voice = (((k - self._last_voiced) / self.fps <= VOICELESS_REACH or self.whispering)
                      and (k - self._last_speech) / self.fps <= SPEECH_REACH)
        if not near_voice:
            energy = 0.0
        self.energy.append(energy)
        target = self._target(k, f, energy, loudest_near(self._feats, k - self._first), near_voice)
        self.speaking.append(bool(target.any()))
        self.smoother.follow(target)
        y = self.smoother.state
        if target[3] > 0.5:
            y[0] = 0.0
            y[4:] = 0.0
        if not target.any() and y.max() < SETTLE:
            y[:] = 0.0
        if (f.voicing > 0.5 or self._whispered_vowel(f)) and f.f1 > NASAL_F1:
            self._remember(f)
        return MouthShape(*np.clip(y, 0.0, 1.0))

    def _hear_whisper(self, f, energy: float) -> None:
        """Update `whispering` with frame f: the VAD's recent speech is (almost) all voiceless.
        Only frames with sound in them count: the VAD's probability lingers over the quiet after
        a voiced phrase, which is no whisper."""
        if f.speech > WHISPER_HEARD and energy > 0:
            self._heard.append(f.voicing > VOICED)
        elif self._heard:
            self._heard.popleft()  # the window slides on through silence too
        enough = len(self._heard) >= WHISPER_S * self.fps
        self.whispering = enough and sum(self._heard) < WHISPER_VOICED * len(self._heard)

    def _whispered_vowel(self, f) -> bool:
        """Whether f is a whisper's vowel (or voiceless sound other than a fricative's)."""
        return self.whispering and f.centre_high < FRICATIVE_HIGH

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

    def _openness_inputs(self, k: int, f, loudest_near: float, f2_mid: float, bright_mid: float) -> np.ndarray:
        """The openness network's inputs for voiced frame k: the closure network's band levels, the
        voicing, and the formants and brightness against the speaker's own so far (0: not found)."""
        f1_mid = self._shrunk(self._f1, 50, PRIOR_F1_MID)
        return np.concatenate([closure_inputs(self._feats, k - self._first, loudest_near),
                               [f.voicing, math.log(f.f1 / f1_mid) if f.f1 else 0.0,
                                math.log(f.f2 / f2_mid) if f.f2 else 0.0, f.bright - bright_mid]])

    def _openness(self, inputs: np.ndarray) -> float:
        """How open the jaw is, 0..1, on a voiced frame with these inputs (scripts/train_openness.py
        overrides it to record them)."""
        return float(self.openness.probability(inputs))

    def _deep(self, k: int) -> bool:
        """Whether frame k's centre is far under the speaker's peak, and not a fricative."""
        f = self._feat_or_edge(k)
        return f.centre < self.loudness.peak - DEEP_QUIET and f.centre_high < FRICATIVE_HIGH

    def _lips_closed(self, k: int, loudest_near: float) -> bool:
        """Whether the closure network hears the lips closed at frame k's centre."""
        p = self._closure_p(k, loudest_near)
        if p <= CLOSED_P:
            return False
        return p > CLOSED_ALONE_P or max(self._closure_p(k - 1, loudest_near), self._closure_p(k + 1, loudest_near)) > CLOSED_P

    def _closure_p(self, k: int, loudest_near: float) -> float:
        """The closure network's probability that the lips are closed at frame k's centre (the
        frames beside it are scored against frame k's loudest neighbour too)."""
        return float(self.closures.probability(closure_inputs(self._feats, k - self._first, loudest_near)))

    def _target(self, k: int, f, energy: float, loudest_near: float, near_voice: bool) -> np.ndarray:
        rounding = float(self.smoother.state[2])
        closure = np.array([0.0, 0.0, rounding, 1.0, 0.0, 0.0, 0.0])
        if energy <= 0.0:
            # A short silence inside speech is a stop's closure: the lips shut at once.
            if near_voice and loudest_near > self.loudness.silence_level() + CLOSURE_DIP:
                return closure
            return np.zeros(len(MOUTH_FIELDS))
        gain = energy_gain(energy)
        # A stop's closure, a nasal murmur or a voice bar (p, b, m), read from the levels around
        # the frame's centre against the loudest sound nearby; the network learnt to tell them
        # from a /t/, /d/, /n/ or a flap, whose dips are as short (scripts/train_closures.py).
        if f.bands and self._lips_closed(k, loudest_near):
            return closure
        # Deep inside a long closure the sound says nothing of which stop it is, and the network
        # hedges; a stop's closure in a voice with an echo (espeak-ng's +f3) is not silent but
        # must look like one that is (the silent frames above). One quiet frame between loud ones
        # is a /t/ or a flap more often than a /p/: the network decides those.
        if self._deep(k) and (self._deep(k - 1) or self._deep(k + 1)):
            return closure
        if f.voicing < 0.4 and not self._whispered_vowel(f):  # a fricative, a burst or breath: teeth close, lips parted
            return np.array([0.12 * gain, 0.25, 0.3 * rounding, 0.0, 0.0, 0.8 * gain, 0.0])
        f2_mid = self._shrunk(self._f2, 50, PRIOR_F2)
        bright_mid = self._shrunk(self._bright, 50, PRIOR_BRIGHT)
        if self.openness is not None:
            openness = self._openness(self._openness_inputs(k, f, loudest_near, f2_mid, bright_mid))
        else:
            lo = self._shrunk(self._f1, 10, PRIOR_F1[0])
            hi = max(lo + 150.0, self._shrunk(self._f1, 90, PRIOR_F1[1]))
            openness = 0.3 if not f.f1 else float(np.clip((f.f1 - lo) / (hi - lo), 0.0, 1.0))
        front = 0.0
        if f.f2:
            front += 0.5 * float(np.clip((f.f2 / f2_mid - 1.0) / 0.3, -1.0, 1.0))
        front += 0.5 * float(np.clip((f.bright - bright_mid) / 7.0, -1.0, 1.0))
        jaw = gain * (0.2 + 0.8 * openness)
        spread = max(0.0, front) * 0.9
        round_ = max(0.0, -front) * (1.0 - 0.7 * openness)
        return np.array([jaw, spread, round_, 0.0, 0.0, 0.5 * gain, 0.0])


def loudest_near(feats: list, k: int) -> float:
    """The loudest level (dBFS) among frames k ± AUDIO_LOOKAHEAD_FRAMES of `feats` that exist."""
    return max(f.level for f in feats[max(0, k - AUDIO_LOOKAHEAD_FRAMES) : k + AUDIO_LOOKAHEAD_FRAMES + 1])


def closure_inputs(feats: list, k: int, loudest: float) -> np.ndarray:
    """The closure network's inputs for frame k of `feats`: the band levels of frames k - 1, k and
    k + 1 (the edge frame standing in past either end) against `loudest`. Training
    (scripts/train_closures.py) and the tracker build them here, so they cannot drift apart."""
    last = len(feats) - 1
    return ClosureModel.inputs([feats[min(max(j, 0), last)].bands for j in (k - 1, k, k + 1)], loudest)


def acoustic_mouth_controls(audio, fps: float = 25.0, voice: str = SYNTHETIC) -> list[FaceControls]:
    """Per-frame mouth controls from the sound alone (no phones): any language, any voice."""
    return _acoustic_tracked(audio, fps, voice)[0]


def _acoustic_tracked(audio, fps: float, voice: str = SYNTHETIC, feats: list | None = None) -> tuple[list[FaceControls], AudioMouthTracker]:
    tracker = AudioMouthTracker(fps, voice)
    tracker.add(heard_frames(audio, fps) if feats is None else feats)
    return [shape_to_controls(s) for s in tracker.frames(final=True)], tracker


def audio_mouth_controls(audio, fps: float = 25.0, recognize: bool = True, voice: str = SYNTHETIC,
                         feats: list | None = None, recognized=None) -> list[FaceControls]:
    """Per-frame mouth controls for speech known only as audio (any voice, any language).

    The acoustic rules (loudness, formants, dips) always run. With `recognize`, pocketsphinx's
    phones drive a second, phone-timed mouth; when they look reliable the two are blended
    (motion/phone_blend.py). For non-English speech or noise the recognizer's phones are few or at
    odds with the sound, and the acoustic mouth is used alone. `voice`: the kind of voice (closures.py);
    `feats`: `heard_frames(audio, fps)`, when the caller has them; `recognized`: the phones'
    recognition already under way (recognize.PhonesBeside), when the caller started it.
    """
    if audio.rate <= 0 or len(audio.samples) == 0:
        raise LivehumanError("the audio is empty: there is nothing to lip-sync")
    acoustic, tracker = _acoustic_tracked(audio, fps, voice, feats)
    if not recognize:
        return acoustic
    from livehuman.motion.recognize import recognize_phones

    # The recognized phones open the mouth only where the sound tracker heard speech (it knows
    # noise and breath from voice).
    energy = np.array(tracker.energy) * np.array(tracker.speaking)
    sounding = energy > 0
    if sounding.sum() < MIN_SOUNDING:
        return acoustic
    phones = recognized.result() if recognized else recognize_phones(audio)
    heard = mouth_controls(phones, len(acoustic) / fps, fps, energy=energy)
    a, r = _mouth_array(acoustic), _mouth_array(heard)
    if not phones_trusted(a[sounding, 0], r[sounding, 0], len(phones), fps):
        return acoustic
    blend = blend_mouths(a, r, phones_cover(phones, len(a), fps))
    return [shape_to_controls(MouthShape(*row)) for row in blend]


def _mouth_array(controls: list[FaceControls]) -> np.ndarray:
    """(frames, 7) mouth values of `controls`, in MouthShape's field order."""
    return np.array([[getattr(c, name) for name in MOUTH_FIELDS] for c in controls], dtype=np.float64)
