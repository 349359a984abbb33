"""The listening face (motion/listening.py): eyes on the user while they are heard, a nod in a pause
the brain holds open, none over their words, before an answer or after a cough; a glance away
when their turn ends."""

from __future__ import annotations

import numpy as np

from helpers_listen import RATE, espeak, espeak_paused, silence, voiced_span
from livehuman.live.face_renderer import FaceRenderer
from livehuman.motion.listening import PAUSE_S, ListeningCues
from livehuman.motion.stream import CUE_NOD_DEG, THINK_GAZE, IdleMotion, StreamingLipSync
from livehuman.rates import FPS
from livehuman.render.cpu.engine import CpuEngine

CHUNK = RATE // 50  # the session's 20 ms


def nods(audio: np.ndarray, turn_open) -> list[float]:
    """When (s) ListeningCues asks for a nod; `turn_open(t)`: whether the brain holds the turn at t."""
    cues = ListeningCues()
    return [(i + CHUNK) / RATE for i in range(0, len(audio) - CHUNK + 1, CHUNK)
            if cues.hear(audio[i:i + CHUNK], turn_open((i + CHUNK) / RATE))]


def voice_at(audio: np.ndarray, t: float) -> bool:
    """Whether the 20 ms of `audio` ending at t hold voice (above 1 % of full scale)."""
    k = int(round(t * RATE))
    return bool(np.sqrt(np.mean(audio[k - CHUNK:k] ** 2)) > 0.01)


def test_a_pause_the_brain_holds_open_gets_one_nod_and_the_words_none():
    first, second = espeak_paused("I'd like to book", "a table for two.")
    rng = np.random.default_rng(1)
    clean = np.concatenate([silence(0.5), first, silence(0.8), second, silence(2.0)])
    hiss = rng.normal(0, 10 ** (-45 / 20), len(clean)).astype(np.float32)  # 25-30 dB under the voice
    for noise_db, audio in ((None, clean), (-45, clean + hiss)):  # a quiet room, then a room's hiss
        paused_at = 0.5 + len(first) / RATE
        # The turn is open from its first word until 0.5 s after the last (the brain's turn end).
        held = nods(audio, lambda t: 0.5 <= t < len(audio) / RATE - 1.5)
        assert len(held) == 1, (noise_db, held)
        assert paused_at + PAUSE_S - 0.05 <= held[0] <= paused_at + PAUSE_S + 0.1, (noise_db, held, paused_at)
        assert not voice_at(clean, held[0])
        # The brain ended the turn at the pause (it judged it finished): no nod, the answer comes.
        assert nods(audio, lambda t: 0.5 <= t < paused_at + 0.3) == []


def test_no_nod_after_a_cough_or_a_word_that_ends_its_turn_and_never_two_close_together_in_one_turn():
    cough = np.random.default_rng(2).normal(0, 0.2, int(0.12 * RATE)).astype(np.float32)  # a burst of noise
    audio = np.concatenate([silence(0.5), cough, silence(1.0)])
    assert nods(audio, lambda t: True) == []  # under VOICE_MIN_S of sound: nothing to acknowledge
    # "Hello." is a turn that ends at the pause: nothing after it, while the turn is closed.
    hello = espeak("Hello, I have a question for you.")
    audio = np.concatenate([silence(0.5), hello, silence(1.5)])
    assert nods(audio, lambda t: t < 0.5 + voiced_span(hello)[1] + 0.3) == []
    # Three short phrases a second apart in one open turn: a nod at the first pause only (NOD_GAP_S).
    said = espeak("one two three")
    start, end = voiced_span(said)
    phrase = said[int(start * RATE):int(end * RATE)]
    audio = np.concatenate([silence(0.5), phrase, silence(0.6), phrase, silence(0.6), phrase, silence(0.6)])
    assert len(nods(audio, lambda t: True)) == 1
    # The same as three turns, each ended by the brain 0.5 s into its pause: one nod each.
    ends = [0.5 + k * (len(phrase) / RATE + 0.6) + len(phrase) / RATE + 0.5 for k in range(3)]
    assert len(nods(audio, lambda t: all(abs(t - end) > 0.02 for end in ends))) == 3


def face_pitch_and_gaze(heard: np.ndarray, turn_open: bool, attend: bool = True) -> np.ndarray:
    """(frames, 3) pitch, gaze x, gaze y of a live face (its idle motion seeded) that heard `heard`,
    two 20 ms chunks a frame, as the session feeds it."""
    renderer = FaceRenderer(CpuEngine(), None, lambda: StreamingLipSync(FPS), lambda: IdleMotion(FPS, seed=4))
    out = []
    per_frame = 2 * CHUNK
    for k in range(len(heard) // per_frame):
        for j in (0, CHUNK):
            chunk = heard[k * per_frame + j:k * per_frame + j + CHUNK]
            if attend:
                renderer.hear_user(chunk, turn_open)
        face = renderer.face(None)
        out.append((face.pitch, face.gaze_x, face.gaze_y))
    renderer.close()
    return np.array(out)


def test_the_live_face_nods_in_the_held_pause_and_keeps_its_eyes_on_the_user():
    first, second = espeak_paused("Could you explain", "how the avatar moves?")
    audio = np.concatenate([silence(0.5), first, silence(0.9), second, silence(0.5)])
    paused_at = 0.5 + len(first) / RATE
    held = face_pitch_and_gaze(audio, turn_open=True)
    closed = face_pitch_and_gaze(audio, turn_open=False)  # the same face, the turn not held: no nod
    t = (np.arange(len(held)) + 0.5) / FPS
    dip = held[:, 0] - closed[:, 0]
    deepest = int(np.argmin(dip))
    assert dip[deepest] < -0.9 * CUE_NOD_DEG, dip.min()
    assert paused_at + PAUSE_S < t[deepest] < paused_at + PAUSE_S + 0.5, (t[deepest], paused_at)
    assert np.abs(dip[t < paused_at]).max() < 1e-9  # nothing else differs
    # Eyes: while the user is heard the gaze keeps near them; the same face not hearing anyone wanders.
    unheard = face_pitch_and_gaze(audio, turn_open=False, attend=False)
    speaking = t > 1.0
    assert np.abs(unheard[speaking, 1:]).max() > 0.05
    assert np.abs(held[speaking, 1:]).max() <= 0.3 * np.abs(unheard[speaking, 1:]).max()


def test_when_the_users_turn_ends_the_face_mostly_glances_away_and_looks_back():
    def eyes(seed: int, turn_over: bool) -> np.ndarray:
        """(frames, 3): gaze x, gaze y, blink after the turn ends (or not)."""
        renderer = FaceRenderer(CpuEngine(), None, lambda: StreamingLipSync(FPS), lambda: IdleMotion(FPS, seed=seed))
        for _ in range(25):
            renderer.face(None)
        if turn_over:
            renderer.user_turn_over()
        out = np.array([(f.gaze_x, f.gaze_y, f.blink) for f in (renderer.face(None) for _ in range(50))])
        renderer.close()
        return out

    glanced = blinked = 0
    for seed in range(20):
        change = eyes(seed, True) - eyes(seed, False)  # the glance alone: the idle gaze has its own seed
        away = change[:, :2]
        if not away.any():
            assert not change.any()
            continue
        glanced += 1
        blinked += bool(change[:, 2].max() > 0.9)  # a blink with the glance, at its start
        assert np.flatnonzero(change[:, 2])[:1].tolist() in ([], [0], [1])
        size = np.hypot(away[:, 0], away[:, 1])
        full = 0.99 * np.hypot(*THINK_GAZE)
        assert size[2] > full and away[2, 1] > 0  # within two frames, up and to a side
        held = np.flatnonzero(size > full)
        assert 0.45 * FPS <= len(held) <= 1.2 * FPS and size[held[-1] + 3:].max() == 0  # then back
    assert 8 <= glanced < 20 and 0 < blinked < glanced  # most times, not every time; a blink with some
