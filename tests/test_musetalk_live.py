"""The musetalk engine in a live server: one engine shared by concurrent sessions, batching their
frames, and the eyes and head moving by the frame's controls (blinks and sway while listening)."""

from __future__ import annotations

import threading
from dataclasses import replace

import cv2
import numpy as np
import pytest
from helpers_musetalk import drives_for, espeak_16k, eye_opening, loud_frames

from livehuman.avatar.avatar import Avatar
from livehuman.avatar.landmarks import FaceMeshDetector
from livehuman.avatar.photo import photo_avatar
from livehuman.motion.controls import FaceControls
from livehuman.render.cpu.engine import CpuEngine
from livehuman.render.engine import FrameDrive
from livehuman.render.musetalk import MuseTalkEngine
from livehuman.render.musetalk.audio import WINDOW_SAMPLES, clip_windows
from livehuman.render.musetalk.scheduler import BatchScheduler

pytestmark = pytest.mark.usefixtures("one_torch_thread")

SENTENCES = ("Papa made a map of the moon.", "Where are we going today?", "I saw a big blue boat.")
SILENT = np.zeros(WINDOW_SAMPLES, np.float32)


@pytest.fixture(scope="module")
def engine(models_dir) -> MuseTalkEngine:
    return MuseTalkEngine(models_dir, device="cpu", batch_size=4)


@pytest.fixture(scope="module")
def detector():
    with FaceMeshDetector() as det:
        yield det


@pytest.fixture(scope="module")
def hopper(tmp_path_factory, grace_hopper_path) -> Avatar:
    return photo_avatar(grace_hopper_path, tmp_path_factory.mktemp("hopper"))


@pytest.fixture(scope="module")
def astronaut(tmp_path_factory, astronaut_path) -> Avatar:
    return photo_avatar(astronaut_path, tmp_path_factory.mktemp("astronaut"))


@pytest.fixture(scope="module")
def speeches(tmp_path_factory) -> list[np.ndarray]:
    """Three different sentences from espeak-ng, one per session."""
    return [espeak_16k(text, tmp_path_factory.mktemp("speech")) for text in SENTENCES]


def loud_window(speech: np.ndarray) -> np.ndarray:
    return clip_windows(speech)[loud_frames(speech, 1)[0]]


# -- one engine, many sessions ---------------------------------------------------------------------


@pytest.mark.slow
def test_concurrent_sessions_get_their_own_frames_batched_together(models_dir, hopper, astronaut, speeches):
    """Four sessions (two avatars, three voices, one listening and blinking) render through one engine
    from four threads at once: each gets the frames it gets alone, and the networks ran in batches."""
    # A batch may wait (up to 2 s) for a third request: a full batch starts at once, so batches of
    # three are certain (with no wait, they form only from what queues while the device is busy).
    engine = MuseTalkEngine(models_dir, device="cpu", batch_size=3, batch_wait=2.0)
    n = 4
    sessions = []  # (avatar, drives) per session
    for avatar, speech in ((hopper, speeches[0]), (astronaut, speeches[1]), (hopper, speeches[2])):
        windows = clip_windows(speech)[loud_frames(speech, n)]
        sessions.append((avatar, drives_for(windows)))
    blinks = [FrameDrive(FaceControls(blink=b, yaw=2.0 * b), None) for b in np.linspace(0.2, 1.0, n)]
    sessions.append((astronaut, blinks))  # listening: never waits for the networks

    engine.scheduler.wait = 0.0  # alone, nobody comes to share a batch
    alone = [[engine.render(avatar, i, d) for i, d in enumerate(drives)] for avatar, drives in sessions]
    engine.scheduler.wait = 2.0
    assert engine.batch_sizes == {1: 3 * n}  # one at a time: batches of one, and none for the listener
    engine.scheduler.reset_stats()

    together: list[list[np.ndarray | None]] = [[None] * n for _ in sessions]
    start = threading.Barrier(len(sessions))
    errors: list[BaseException] = []

    def session(k: int) -> None:
        try:
            start.wait()
            avatar, drives = sessions[k]
            for i, drive in enumerate(drives):  # frame by frame, as a session's render thread asks
                together[k][i] = engine.render(avatar, i, drive)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=session, args=(k,)) for k in range(len(sessions))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors and not any(t.is_alive() for t in threads)

    sizes = engine.batch_sizes
    assert sum(size * count for size, count in sizes.items()) == 3 * n  # every speaking frame, once
    assert max(sizes) == 3, sizes  # the three speaking sessions' frames went through together
    for k, (mine, reference) in enumerate(zip(together, alone)):
        for i, (frame, ref) in enumerate(zip(mine, reference)):
            # The same frame as alone; float sums may differ by one grey level with the batch's size.
            assert int(np.abs(frame.astype(int) - ref).max()) <= 1, (k, i)
            for j, other in enumerate(alone):  # ... and far closer to it than to another session's frame
                if j != k and other[i].shape == ref.shape and not np.array_equal(other[i], ref):
                    # (tiny random weights heed the audio weakly: another voice changes ~1000 pixels)
                    assert 10 * (frame != ref).sum() < (frame != other[i]).sum(), (k, j, i)
    listener = together[-1]
    assert not np.array_equal(listener[-1], astronaut.frames[0])  # it blinked and moved meanwhile


@pytest.mark.slow
def test_sessions_starting_together_prepare_a_shared_avatar_once(models_dir, hopper, tmp_path, speeches):
    engine = MuseTalkEngine(models_dir, device="cpu", batch_size=2)
    avatar = Avatar(hopper.name, tmp_path / "avatar", hopper.fps, hopper.kind, hopper.frames, hopper.landmarks,
                    hopper.boxes)
    window = loud_window(speeches[0])
    start = threading.Barrier(3)
    frames: list[np.ndarray] = []
    prepared = []

    def session() -> None:
        start.wait()
        frames.append(engine.render(avatar, 0, FrameDrive(FaceControls(), window)))
        prepared.append(avatar.extra["musetalk"])

    threads = [threading.Thread(target=session) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert len(frames) == 3 and all(p is prepared[0] for p in prepared)
    assert all(int(np.abs(f.astype(int) - frames[0]).max()) <= 1 for f in frames)


def test_scheduler_gathers_waiting_requests_and_reports_errors_to_each_caller():
    calls: list[list[int]] = []

    def double(items: list[int]) -> list[int]:
        calls.append(list(items))
        if 13 in items:
            raise ValueError("unlucky batch")
        return [2 * x for x in items]

    scheduler = BatchScheduler(double, max_batch=3, wait=5.0)
    results: dict[int, object] = {}
    start = threading.Barrier(3)

    def caller(x: int) -> None:
        start.wait()
        try:
            results[x] = scheduler.submit([x])
        except ValueError as exc:
            results[x] = exc

    threads = [threading.Thread(target=caller, args=(x,)) for x in (1, 2, 13)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert len(calls) == 1 and sorted(calls[0]) == [1, 2, 13]  # one full batch, before the wait ran out
    assert all(isinstance(results[x], ValueError) for x in (1, 2, 13))  # all in the failed batch hear of it
    # The scheduler still serves, caps batches at max_batch, and keeps each caller's order.
    scheduler.wait = 0.0
    assert scheduler.submit([1, 2, 3, 4, 5]) == [2, 4, 6, 8, 10]
    assert calls[-2:] == [[1, 2, 3], [4, 5]]
    assert scheduler.batch_sizes == {2: 1, 3: 2}
    assert scheduler.submit([]) == []


# -- eyes and head ---------------------------------------------------------------------------------


def render(engine: MuseTalkEngine, avatar: Avatar, audio: np.ndarray | None = None, **controls) -> np.ndarray:
    return engine.render(avatar, 0, FrameDrive(FaceControls(**controls), audio))


# mediapipe still sees a slit between Grace Hopper's shut lids (the cpu engine's own blink measures
# 0.60 of the open eyes there); the astronaut's read as shut.
SHUT = {"hopper": 0.7, "astronaut": 0.4}


@pytest.mark.parametrize("name", ["hopper", "astronaut"])
@pytest.mark.parametrize("speaking", [False, True], ids=["listening", "speaking"])
def test_blink_closes_the_eyes(engine, detector, speeches, speaking, name, request):
    avatar = request.getfixturevalue(name)
    audio = loud_window(speeches[0]) if speaking else None
    neutral = render(engine, avatar, audio)
    closed_frame = render(engine, avatar, audio, blink=1.0)
    opened, closed = detector.detect(neutral), detector.detect(closed_frame)
    assert opened is not None and closed is not None
    assert eye_opening(closed.points) < SHUT[name] * eye_opening(opened.points)
    if speaking:  # the mouth is still MuseTalk's: below the eyes, the frame is the one without the blink
        below_eyes = avatar.extra["musetalk"].motion.rigs(avatar, 0).eye_warp.crop.y1
        np.testing.assert_array_equal(closed_frame[below_eyes:], neutral[below_eyes:])
        assert not np.array_equal(neutral[below_eyes:], avatar.frames[0][below_eyes:])


def test_eyes_and_head_move_as_the_cpu_engine_moves_them(engine, hopper):
    """Listening, the frame is the avatar's own moved by the cpu engine's eye and head warps: above
    the cpu engine's mouth (which it draws even at rest) the two engines give the same pixels."""
    cpu = CpuEngine()
    rest = cpu.render(hopper, 0, FrameDrive(FaceControls()))
    mouth_top = int(np.flatnonzero((rest != hopper.frames[0]).any(-1).any(-1))[0])
    for controls in (FaceControls(blink=1.0), FaceControls(blink=0.4, squint=0.3, brow=0.6, gaze_x=0.5),
                     FaceControls(yaw=5.0, pitch=-3.0, roll=4.0, blink=0.7)):
        mine = engine.render(hopper, 0, FrameDrive(controls, None))
        theirs = cpu.render(hopper, 0, FrameDrive(controls))
        assert not np.array_equal(mine, hopper.frames[0])
        top = mouth_top - 12  # the head's motion carries the cpu engine's mouth a few pixels
        np.testing.assert_array_equal(mine[:top], theirs[:top])


def test_head_motion_moves_the_face(engine, hopper, detector, speeches):
    audio = loud_window(speeches[0])
    still = detector.detect(render(engine, hopper, audio)).points
    turned = detector.detect(render(engine, hopper, audio, yaw=6.0)).points
    nodded = detector.detect(render(engine, hopper, audio, pitch=-6.0)).points
    shift = (turned - still)[:468].mean(0)
    assert shift[0] > 2.0 and abs(shift[1]) < shift[0] / 2  # yaw reads as the face moving sideways
    drop = (nodded - still)[:468].mean(0)
    assert drop[1] > 2.0 and abs(drop[0]) < drop[1] / 2  # a nod down moves it down
    head_off = MuseTalkEngine(engine.files.root, device="cpu", head_motion=False)
    avatar = photo_avatar_copy(hopper)
    np.testing.assert_array_equal(head_off.render(avatar, 0, FrameDrive(FaceControls(yaw=6.0), audio)),
                                  head_off.render(avatar, 0, FrameDrive(FaceControls(), audio)))


def photo_avatar_copy(avatar: Avatar) -> Avatar:
    """The same avatar without what engines cached in it."""
    return Avatar(avatar.name, avatar.directory, avatar.fps, avatar.kind, avatar.frames, avatar.landmarks,
                  avatar.boxes)


@pytest.mark.slow
def test_neutral_controls_leave_musetalks_output_unchanged(engine, hopper, speeches):
    """With no eye or head motion the frame is exactly the generated face blended in; mouth
    controls (which MuseTalk takes from the audio) change nothing."""
    speech = speeches[1]
    indices = loud_frames(speech, 3)
    windows = clip_windows(speech)[indices]
    frames = engine.render_batch(hopper, indices, drives_for(windows))
    prepared = hopper.extra["musetalk"]
    faces, weights = engine.generate(prepared, np.zeros(len(indices), np.int64), windows)
    for frame, face, weight in zip(frames, faces, weights):
        expected = engine.blend(hopper.frames[0], face, prepared.boxes[0], prepared.masks[0], float(weight))
        np.testing.assert_array_equal(frame, expected)
    mouthing = replace(FaceControls(), jaw=1.0, spread=0.5, round=0.3, press=0.2, teeth=1.0, smile=0.5)
    np.testing.assert_array_equal(engine.render_batch(hopper, indices, drives_for(windows, mouthing)), frames)
    np.testing.assert_array_equal(render(engine, hopper, SILENT), hopper.frames[0])


def test_a_listening_avatar_blinks_over_time(engine, hopper, detector):
    """The live server's idle motion drives blinks and sway while nobody speaks: frames differ and the
    eyes close when the blink peaks."""
    from livehuman.motion.stream import IdleMotion

    idle = IdleMotion(seed=0)
    controls = [idle.next_frame(False) for _ in range(250)]  # ten seconds of listening
    blinks = [c.blink for c in controls]
    peak, calm = int(np.argmax(blinks)), int(np.argmin(blinks))
    assert blinks[peak] > 0.8, "the idle motion should blink within ten seconds"
    shut = detector.detect(engine.render(hopper, peak, FrameDrive(controls[peak], None)))
    sway = engine.render(hopper, calm, FrameDrive(controls[calm], None))
    opened = detector.detect(sway)
    assert eye_opening(shut.points) < 0.6 * eye_opening(opened.points)
    assert cv2.absdiff(sway, hopper.frames[0]).max() > 0  # idle sway moves the head even with eyes open
