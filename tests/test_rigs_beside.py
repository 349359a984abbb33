"""A video avatar's rigs built ahead of use: by a child beside a render, by a render worker while idle."""

from __future__ import annotations

import os
import signal
import threading
import time
from dataclasses import replace

import numpy as np
import pytest

from livehuman.avatar.cache import load_avatar
from livehuman.forks import fork_helps
from livehuman.motion.synthetic import speech_like_controls
from livehuman.render.cpu.engine import EXTRA_KEY, CpuEngine
from livehuman.render.cpu.rigs_beside import RigsBeside
from livehuman.render.engine import FrameDrive


def built_by(i: int) -> tuple[int, int]:
    time.sleep(0.05)  # (a rig takes 10-15 ms: slower here, so that no delay decides who builds what)
    return i, os.getpid()


def take_all(beside: RigsBeside, order: list[int], draw_s: float = 0.0) -> list[tuple[int, int]]:
    """What a render does: each frame's rigs from the child if it sent them, else built here."""
    got = []
    for i in order:
        got.append(beside.take(i) or built_by(i))
        time.sleep(draw_s)
    return got


def test_the_child_builds_from_the_end_and_this_process_from_the_start():
    order = [0, 5, 1, 4, 2, 3, 9, 8, 7, 6, 11, 10]  # any source frames, in the order of first use
    with RigsBeside(order, built_by) as beside:
        forked = beside._child is not None
        got = [beside.take(order[0]) or built_by(order[0])]  # the first is this process's from now on
        if forked:
            assert beside._channel.poll(30)  # and the child has built one of the rest
        got += take_all(beside, order[1:], draw_s=0.005)
    assert [i for i, _ in got] == order  # each frame's own rigs, once
    here = [pid == os.getpid() for _, pid in got]
    if forked:
        # This process built a first stretch, the child the rest: they met once, somewhere between.
        assert here[0] and not here[-1]
        assert here == sorted(here, reverse=True)
        assert beside.received == here.count(False)
    else:  # one core, or other threads in this process: no child
        assert all(here) and not fork_helps()


def test_nothing_to_build_makes_no_child():
    with RigsBeside([], built_by) as none, RigsBeside([3], built_by) as one:
        assert none._child is None and one._child is None
        assert one.take(3) is None


def test_a_child_that_dies_leaves_its_frames_to_this_process():
    order = list(range(30))
    with RigsBeside(order, built_by) as beside:
        if beside._child is not None:
            os.kill(beside._child.pid, signal.SIGKILL)
            beside._child.join()
        got = take_all(beside, order)
    assert [i for i, _ in got] == order
    assert all(pid == os.getpid() for _, pid in got)


def big_rigs(i: int) -> tuple[int, int, np.ndarray]:
    return i, os.getpid(), np.zeros(1 << 20)  # 8 MB: far more than a pipe holds, so sent in pieces


def test_a_child_killed_halfway_through_sending_leaves_no_render_waiting():
    order = list(range(6))
    with RigsBeside(order, big_rigs) as beside:
        if beside._child is None:
            pytest.skip("no child here (one core, or other threads)")  # (the test above covers it)
        time.sleep(0.5)  # the child is stuck mid-send: nothing reads yet
        os.kill(beside._child.pid, signal.SIGKILL)
        beside._child.join()
        got = []
        reader = threading.Thread(target=lambda: got.extend(beside.take(i) or big_rigs(i) for i in order))
        reader.start()
        reader.join(30)
        assert not reader.is_alive(), "a render waited for rigs a dead child never sent"
    assert [rigs[0] for rigs in got] == order


@pytest.fixture(scope="module")
def video():
    """A twelve-frame "video": the default face a few pixels further right in each frame."""
    avatar = load_avatar("default", progress=False)
    shifts = range(0, 24, 2)
    return replace(
        avatar, kind="video", extra={},
        frames=np.stack([np.roll(avatar.frames[0], s, axis=1) for s in shifts]),
        landmarks=np.stack([avatar.landmarks[0] + [s, 0] for s in shifts]).astype(np.float32),
        boxes=np.stack([avatar.boxes[0] + [s, 0, s, 0] for s in shifts]).astype(np.float32))


def test_a_video_avatar_drawn_with_rigs_built_beside_is_drawn_the_same(video):
    frames = 30  # twelve frames forward, eleven back, and on again: every source frame used
    drives = [FrameDrive(speech_like_controls(k)) for k in range(frames)]
    alone = replace(video, extra={})
    engine = CpuEngine()
    expected = [engine.render(alone, k, drives[k]) for k in range(frames)]

    beside = replace(video, extra={})
    with engine.rigs_ahead(beside, frames):
        state = beside.extra[EXTRA_KEY]
        forked = state.beside._child is not None
        if forked:
            assert state.beside._channel.poll(30)  # the child has built a frame's rigs
        drawn = [engine.render(beside, k, drives[k]) for k in range(frames)]
        received = state.beside.received
    assert state.beside is None  # a later render builds its own way
    for k in range(frames):
        np.testing.assert_array_equal(drawn[k], expected[k])
    assert sorted(state.rigs) == list(range(video.n_frames))
    assert received > 0 or not forked


def test_rigs_built_one_by_one_ahead_of_use_draw_the_same(video):
    engine, alone = CpuEngine(), replace(video, extra={})
    built = 0
    while engine.build_next_rigs(alone):  # what a render worker does while no frame is asked for
        built += 1
    assert built == video.n_frames - 1  # (the first is built as the engine loads)
    assert sorted(alone.extra[EXTRA_KEY].rigs) == list(range(video.n_frames))
    assert not engine.build_next_rigs(alone)
    fresh = replace(video, extra={})
    for k in (0, 5, 11, 16):
        drive = FrameDrive(speech_like_controls(k))
        np.testing.assert_array_equal(engine.render(alone, k, drive), CpuEngine().render(fresh, k, drive))
