"""Live motion: streamed lip sync matches the batch path; the listening face moves without jumps."""

from __future__ import annotations

import numpy as np
import pytest

from helpers_motion import TEXTS, espeak_speech
from livehuman.errors import LivehumanError
from livehuman.motion.controls import FaceControls
from livehuman.motion.audio_mouth import acoustic_mouth_controls, audio_mouth_controls, speech_energy
from livehuman.motion.lipsync import mouth_controls
from livehuman.motion.stream import MAX_LOOKAHEAD, IdleMotion, StreamingLipSync
from livehuman.speech.audio import Audio, resample

FPS = 25.0
MOUTH = ("jaw", "spread", "round", "press", "tuck", "teeth", "tongue")


def as_array(controls):
    return np.array([[getattr(c, m) for m in MOUTH] for c in controls])


@pytest.fixture(scope="module")
def speech():
    s = espeak_speech(TEXTS["mixed"] + " " + TEXTS["bilabial"])
    return s, resample(s.audio, 24000)  # the live brain's rate


def stream(audio: Audio, chunks, phones_for=None):
    """Push `audio` in chunks of the given lengths (s); returns all frames and the count ready per push."""
    lip = StreamingLipSync(FPS)
    out, ready, pos = [], [], 0
    sizes = iter(chunks)
    while pos < len(audio.samples):
        n = max(1, int(next(sizes) * audio.rate))
        piece = audio.samples[pos : pos + n]
        phones = phones_for(pos / audio.rate, len(piece) / audio.rate) if phones_for else None
        lip.push(piece, audio.rate, phones)
        pos += len(piece)
        out += lip.frames()
        ready.append((pos / audio.rate, len(out)))
    out += lip.flush()
    return out, ready, lip


def random_chunks(seed=0):
    rng = np.random.default_rng(seed)
    while True:
        yield float(rng.uniform(0.005, 0.09))


def test_streamed_phones_match_the_batch_path(speech):
    s, audio24 = speech
    batch = mouth_controls(s.phones, audio24.duration, FPS, energy=speech_energy(audio24, FPS))

    def all_phones_first(start, length):  # the TTS knows the whole sentence when it starts
        return s.phones if start == 0 else None

    streamed, _, _ = stream(audio24, random_chunks(1), all_phones_first)
    assert len(streamed) == len(batch)
    assert np.abs(as_array(streamed) - as_array(batch)).max() < 1e-9


def test_phones_sliced_per_chunk_stay_close_to_the_batch_path(speech):
    s, audio24 = speech
    batch = as_array(mouth_controls(s.phones, audio24.duration, FPS, energy=speech_energy(audio24, FPS)))

    def sliced(start, length):  # as the live session does: the phones starting in this chunk, timed
        return [p for p in s.phones if start <= p.start < start + length]  # from the reply's start

    streamed = as_array(stream(audio24, iter(lambda: 0.02, None), sliced)[0])
    diff = np.abs(streamed - batch)
    assert diff.mean() < 0.02 and np.percentile(diff, 99) < 0.3


def test_streamed_audio_only_matches_the_batch_acoustic_path(speech):
    s, audio24 = speech
    batch = acoustic_mouth_controls(audio24, FPS)
    assert acoustic_mouth_controls(audio24, FPS) == audio_mouth_controls(audio24, FPS, recognize=False)
    streamed, _, _ = stream(audio24, random_chunks(2))
    assert len(streamed) == len(batch)
    assert np.abs(as_array(streamed) - as_array(batch)).max() < 1e-6
    jaw = as_array(streamed)[:, 0]
    assert jaw.max() > 0.8 and (jaw == 0).sum() > 5


def test_a_feature_stream_asked_for_levels_only_keeps_them_exact(speech):
    from livehuman.motion.acoustics import FeatureStream

    _, audio24 = speech
    half = len(audio24.samples) // 2
    full, light = FeatureStream(FPS), FeatureStream(FPS)
    before = []
    for features in (full, light):
        features.push(audio24.samples[:half], audio24.rate)
        before.append(features.ready())
    light.levels_only()  # as a live reply's lip sync does once its phones arrive
    after = []
    for features in (full, light):
        features.push(audio24.samples[half:], audio24.rate)
        features.end()
        after.append(features.ready())
    assert before[0] == before[1] and len(after[0]) == len(after[1]) > 50
    assert [f.level for f in after[0]] == [f.level for f in after[1]]
    assert all(not f.bands and f.speech == 0 for f in after[1])
    assert any(f.bands for f in after[0]) and any(f.speech > 0.5 for f in after[0])
    light.reset()  # a new reply: everything again
    light.push(audio24.samples[:half], audio24.rate)
    assert light.ready() == before[0]


def test_frames_arrive_within_the_lookahead(speech):
    _, audio24 = speech
    out, ready, lip = stream(audio24, iter(lambda: 0.02, None))
    assert 0 < lip.lookahead <= MAX_LOOKAHEAD
    for received, count in ready:
        # Every frame whose end plus the look-ahead has arrived is out, and none before that.
        due = int(np.floor((received - lip.lookahead) * FPS + 1e-6))
        assert due - 1 <= count <= max(due, 0) + 1, (received, count, due)


def test_reset_starts_a_new_reply_from_scratch(speech):
    s, audio24 = speech
    lip = StreamingLipSync(FPS)
    half = len(audio24.samples) // 2
    lip.push(audio24.samples[:half], audio24.rate, s.phones)
    assert lip.frames()
    lip.reset()  # barge-in
    lip.push(audio24.samples, audio24.rate, s.phones)
    again = lip.frames() + lip.flush()
    fresh = StreamingLipSync(FPS)
    fresh.push(audio24.samples, audio24.rate, s.phones)
    assert again == fresh.frames() + fresh.flush()


def test_silence_streams_a_closed_mouth_and_int16_is_accepted():
    lip = StreamingLipSync(FPS)
    lip.push(np.zeros(16000, np.int16), 16000)
    frames = lip.frames() + lip.flush()
    assert len(frames) == 25 and all(f == FaceControls() for f in frames)


def test_misuse_is_refused():
    lip = StreamingLipSync(FPS)
    with pytest.raises(LivehumanError):
        lip.push(np.zeros(100, np.float32), 0)
    lip.flush()
    with pytest.raises(LivehumanError):
        lip.push(np.zeros(100, np.float32), 16000)
    with pytest.raises(LivehumanError):
        StreamingLipSync(0)


def test_idle_motion_eases_between_listening_and_speaking():
    idle = IdleMotion(FPS, seed=4)
    speaking = ([False] * 200 + [True] * 150) * 4
    frames = [idle.next_frame(s) for s in speaking]
    for name in ("yaw", "pitch", "roll", "gaze_x", "gaze_y"):
        values = np.array([getattr(f, name) for f in frames])
        step = 0.2 if name.startswith("gaze") else 0.4  # degrees per frame: a nod, never a jump
        assert np.abs(np.diff(values)).max() <= step, name  # no jump at any switch
    pitch = np.array([f.pitch for f in frames])
    assert np.abs(pitch).max() <= 4.0 and pitch.std() > 0.2
    blink = np.array([f.blink for f in frames])
    assert blink.max() >= 0.99
    assert all(getattr(f, m) == 0.0 for f in frames for m in MOUTH)  # the lip sync owns the mouth
    again = IdleMotion(FPS, seed=4)
    assert [again.next_frame(s) for s in speaking] == frames


def test_speaking_face_from_stream_plus_idle_has_no_jumps(speech):
    s, audio24 = speech
    lip = StreamingLipSync(FPS)
    lip.push(audio24.samples, audio24.rate, s.phones)
    mouth = lip.frames() + lip.flush()
    idle = IdleMotion(FPS)
    sequence = [None] * 50 + mouth + [None] * 50
    jaw = []
    for m in sequence:
        face = idle.next_frame(m is not None)
        jaw.append(m.jaw if m is not None else face.jaw)
    jaw = np.array(jaw)
    # Speech starts and ends on a closed mouth: no jump where the lip sync takes over or hands back.
    assert jaw[49] == 0 and jaw[50] < 0.5 and jaw[-51] < 0.2 and jaw[-50] == 0


def test_streamed_speech_lifts_the_brows_on_stress_only(speech):
    s, audio24 = speech
    pad = np.zeros(int(0.5 * audio24.rate), np.float32)
    lip = StreamingLipSync(FPS)
    lip.push(np.concatenate([pad, audio24.samples, pad]), audio24.rate)
    frames = lip.frames() + lip.flush()
    brow = np.array([f.brow for f in frames])
    assert 0.05 < brow.max() <= 0.5
    assert brow[:10].max() == 0.0  # nothing to stress in the leading silence


def test_idle_motion_blinks_faster_while_speaking():
    def blinks_per_minute(speaking: bool) -> float:
        idle = IdleMotion(FPS, seed=9)
        blink = np.array([idle.next_frame(speaking).blink for _ in range(int(300 * FPS))])
        return float(((blink[1:] > 0.05) & (blink[:-1] <= 0.05)).sum()) / 5

    listening, speaking = blinks_per_minute(False), blinks_per_minute(True)
    assert 10 <= listening <= 22 and speaking > 1.25 * listening, (listening, speaking)
