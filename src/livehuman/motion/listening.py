"""A listener's face while the user talks: eyes on them, and a nod when they pause mid-thought.

People who listen look at the one speaking most of the time (about three quarters of it, against
under half while they speak themselves: Kendon 1967, Argyle & Cook 1976), and they show that they
are still listening in the speaker's pauses, with a nod or an "mm-hm" (backchannels come in
pauses, rarely over words: Yngve 1970, Ward & Tsukahara 2000). The avatar does both:

- while the user's voice is heard, and for ATTEND_HOLD_S after, it attends: its eyes stay near the
  user instead of wandering (motion/stream.py `IdleMotion.attend`);
- when the user falls quiet for PAUSE_S inside a turn that the brain is still holding open (its
  turn-taking judged the pause unfinished: brain/turn_end.py), after at least VOICE_MIN_S of voice
  since the last nod, it nods once: "go on" (never twice within NOD_GAP_S in one turn). PAUSE_S
  is longer than the silence after which a finished turn ends (180 ms in `model` and `auto`, 288
  ms in `vad`, plus the VAD's lag), so a finished question gets its answer, not a nod; a thinking
  pause (people's last 0.5-0.9 s) gets the nod while it lasts.

The user's voice is told from the room by the lip sync's loudness tracker (motion/audio_mouth.py:
against the voice's recent peak and the background's level), on the microphone's 20 ms chunks.
"""

from __future__ import annotations

import numpy as np

from livehuman.motion.acoustics import level_db
from livehuman.motion.audio_mouth import LoudnessTracker

CHUNK_S = 0.02  # s of microphone audio per call (the live session's chunks)
ATTEND_HOLD_S = 1.5  # s the eyes stay on the user after their voice stops
PAUSE_S = 0.45  # s of quiet inside an open turn that earns a nod
VOICE_MIN_S = 0.3  # s of voice since the last nod (or the turn's start) a nod needs: not a cough or a click
NOD_GAP_S = 3.0  # s: never two nods closer than this in one turn


class ListeningCues:
    """The user's microphone, chunk by chunk, as the listening face's cues: `attending` after each
    chunk, and `hear` returns True when a nod is due."""

    def __init__(self, chunk_s: float = CHUNK_S) -> None:
        self.chunk_s = float(chunk_s)
        self._loudness = LoudnessTracker(1.0 / self.chunk_s)
        self._t = 0.0  # s of audio heard
        self._heard_at = -np.inf  # when the voice was last heard
        self._voice_s = 0.0  # s of voice since the last nod or the turn's start
        self._nod_at = -np.inf
        self._pause_seen = False  # the current quiet has been long enough for a pause
        self.attending = False

    def hear(self, samples: np.ndarray, turn_open: bool) -> bool:
        """The next chunk (float samples in [-1, 1]); `turn_open`: the brain has heard the user start a
        turn and not yet ended it. True: nod now."""
        level = level_db(np.asarray(samples))
        voice = self._loudness.step(level, [level]) > 0.0
        self._t += self.chunk_s
        if voice:
            self._heard_at = self._t
            self._voice_s += self.chunk_s
            self._pause_seen = False
        quiet_s = self._t - self._heard_at
        self.attending = quiet_s <= ATTEND_HOLD_S
        if not turn_open:  # only the open turn's own voice and nods count
            self._voice_s = 0.0
            self._nod_at = -np.inf
            return False
        if self._pause_seen or quiet_s < PAUSE_S:
            return False
        self._pause_seen = True  # one nod at most per pause
        if self._voice_s < VOICE_MIN_S or self._t - self._nod_at < NOD_GAP_S:
            return False
        self._nod_at = self._t
        self._voice_s = 0.0
        return True
