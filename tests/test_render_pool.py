"""The render pool: the cpu engine's frames, drawn in worker processes, exactly as drawn in-process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from helpers_avatar import shifted_video
from livehuman.avatar.cache import load_avatar
from livehuman.errors import LivehumanError
from livehuman.motion.synthetic import speech_like_controls
from livehuman.render.cpu.engine import CpuEngine
from livehuman.render.engine import FrameDrive
from livehuman.render.pool import PooledEngine, RenderPool


@pytest.fixture(scope="module")
def avatar():
    return load_avatar("default", progress=False)


@pytest.fixture(scope="module")
def pool(avatar):
    with RenderPool(avatar, workers=2) as the_pool:
        yield the_pool


def reference(avatar, k: int) -> np.ndarray:
    return CpuEngine().render(avatar, k, FrameDrive(speech_like_controls(k)))


def test_frames_equal_the_engine_in_process(pool, avatar):
    # Speech-like controls move the mouth, blink (k = 0..2 of every 90) and turn the head.
    for k in (0, 1, 13, 40, 77):
        frame = pool.render(k, FrameDrive(speech_like_controls(k)))
        assert frame.shape == avatar.frames.shape[1:] and frame.dtype == np.uint8
        np.testing.assert_array_equal(frame, reference(avatar, k))
    # ...and they really move: an open jaw differs from the still avatar.
    assert np.abs(pool.render(5, FrameDrive(speech_like_controls(5))).astype(int) - avatar.frames[0]).max() > 50


def test_a_video_avatars_frames_reach_the_workers_through_shared_memory(avatar):
    # A four-frame "video": the face a few pixels further right in each frame.
    video = shifted_video(avatar, [0, 3, 6, 9])
    own = video.frames
    with RenderPool(video, workers=2) as pool:
        assert pool._portable.frames.size == 0  # what a worker is sent: no copy of the frames
        # This process reads them from the shared memory too: its own copy can go.
        assert not np.shares_memory(video.frames, own) and not video.frames.flags.writeable
        np.testing.assert_array_equal(video.frames, own)
        for k in (0, 1, 3, 5):  # 5 plays source frame 1 again (forward, then backward)
            drive = FrameDrive(speech_like_controls(k))
            np.testing.assert_array_equal(pool.render(k, drive), CpuEngine().render(replace(video, extra={}), k, drive))
    # Still there once the pool is closed and its shared memory unlinked.
    np.testing.assert_array_equal(video.frames, own)
    assert not [name for name in os.listdir("/dev/shm") if name == pool._frames.name]


SMALL_SHM_CHECK = """
import json, logging, numpy as np
from dataclasses import replace
from livehuman.avatar.cache import load_avatar
from livehuman.motion.synthetic import speech_like_controls
from livehuman.render.cpu.engine import CpuEngine
from livehuman.render.engine import FrameDrive
from livehuman.render.pool import RenderPool
if __name__ == "__main__":  # the workers are spawned: they import this file again
    logging.basicConfig(level=logging.WARNING)
    photo = load_avatar("default", progress=False)
    # Sixteen frames: 12 MB, more than the 8 MB of /dev/shm.
    avatar = replace(photo, kind="video", frames=np.repeat(photo.frames, 16, axis=0),
                     landmarks=np.repeat(photo.landmarks, 16, axis=0), boxes=np.repeat(photo.boxes, 16, axis=0))
    drive = FrameDrive(speech_like_controls(5))
    with RenderPool(avatar, workers=2) as pool:
        same = bool((pool.render(5, drive) == CpuEngine().render(avatar, 5, drive)).all())
        print(json.dumps({"shared": pool._frames is not None, "same": same}))
"""


def test_with_little_shared_memory_each_worker_gets_its_own_copy_of_the_frames(tmp_path):
    # As in a Docker container (64 MB of /dev/shm by default): a private, small /dev/shm in a mount
    # namespace. Copying the frames there would kill the process with SIGBUS once it is full.
    script = tmp_path / "check.py"
    script.write_text(SMALL_SHM_CHECK)
    shell = f"mount -t tmpfs -o size=8m tmpfs /dev/shm && exec {sys.executable} {script}"
    run = subprocess.run(["unshare", "--mount", "sh", "-c", shell], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr[-2000:]
    assert json.loads(run.stdout.strip().splitlines()[-1]) == {"shared": False, "same": True}
    assert "/dev/shm has no room" in run.stderr and "--shm-size" in run.stderr


def test_many_threads_at_once_each_get_their_own_frame(pool, avatar):
    ks = list(range(0, 48, 3))
    with ThreadPoolExecutor(6) as threads:
        frames = list(threads.map(lambda k: pool.render(k, FrameDrive(speech_like_controls(k))), ks))
    for k, frame in zip(ks, frames):
        np.testing.assert_array_equal(frame, reference(avatar, k))


def test_a_dead_worker_is_replaced_and_the_frame_drawn_again(avatar):
    with RenderPool(avatar, workers=1) as one:
        first = one._all[0].process
        first.kill()
        first.join()
        frame = one.render(7, FrameDrive(speech_like_controls(7)))
        np.testing.assert_array_equal(frame, reference(avatar, 7))
        assert one._all[0].process is not first and one._all[0].process.is_alive()


def test_a_failing_frame_is_a_clear_error_and_the_pool_goes_on(pool, avatar):
    with pytest.raises(LivehumanError, match="rendering frame 3 failed"):
        pool.render(3, FrameDrive(controls=None))
    np.testing.assert_array_equal(pool.render(9, FrameDrive(speech_like_controls(9))), reference(avatar, 9))


def test_close_stops_the_workers_and_frees_their_memory(avatar):
    the_pool = RenderPool(avatar, workers=2)
    workers = list(the_pool._all)
    names = [w.frame.name for w in workers] + [the_pool._frames.name]  # and the avatar's frames
    assert all(Path("/dev/shm", name.lstrip("/")).exists() for name in names)
    the_pool.close()
    deadline = time.monotonic() + 5
    while any(w.process.is_alive() for w in workers) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(w.process.is_alive() for w in workers)
    assert not any(Path("/dev/shm", name.lstrip("/")).exists() for name in names)
    with pytest.raises(LivehumanError, match="closed"):
        the_pool.render(0, FrameDrive(speech_like_controls(0)))


def test_pooled_engine_draws_only_its_pools_avatar(pool, avatar, astronaut_path):
    engine = PooledEngine(pool)
    engine.load(avatar)
    np.testing.assert_array_equal(engine.render(avatar, 11, FrameDrive(speech_like_controls(11))), reference(avatar, 11))
    with pytest.raises(LivehumanError, match="only its pool's avatar"):
        engine.load(load_avatar(astronaut_path, progress=False))


def test_a_pool_needs_a_worker(avatar):
    with pytest.raises(LivehumanError, match="at least one worker"):
        RenderPool(avatar, workers=0)


def test_closing_wakes_whoever_waits_for_a_worker(avatar):
    the_pool = RenderPool(avatar, workers=1)
    busy = the_pool._take()  # the only worker is drawing for someone else
    with ThreadPoolExecutor(2) as threads:
        waiting = [threads.submit(the_pool.render, k, FrameDrive(speech_like_controls(k))) for k in range(2)]
        time.sleep(0.2)
        the_pool.close()
        for future in waiting:
            with pytest.raises(LivehumanError, match="closed"):
                future.result(timeout=5)
    the_pool._give_back(busy)  # the busy one finishing after the close is stopped, not kept
    assert not busy.process.is_alive() and the_pool._all == []


def test_a_worker_that_cannot_be_replaced_leaves_its_place_for_a_later_one(avatar):
    from dataclasses import replace

    with RenderPool(avatar, workers=1) as one:
        first = one._all[0].process
        first.kill()
        first.join()
        # The replacement really fails to start: it is handed an avatar the engine refuses.
        portable = one._portable
        one._portable = replace(portable, landmarks=np.zeros((1, 10, 2), np.float32))
        with pytest.raises(LivehumanError, match="could not start.*478-point landmarks"):
            one.render(1, FrameDrive(speech_like_controls(1)))
        assert one._all == []  # the dead one was stopped, nothing half-started is kept
        one._portable = portable
        np.testing.assert_array_equal(one.render(2, FrameDrive(speech_like_controls(2))), reference(avatar, 2))
