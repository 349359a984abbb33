"""A video avatar's rigs built ahead of use: by a child beside a render, by a render worker while idle.

A render forks its child only from a process with no other thread (forks.fork_helps), and the test
process has threads that earlier tests left: each scenario runs in a new Python process, as a
render does, and reports what happened there."""

from __future__ import annotations

import os
import signal
import threading
import time
from dataclasses import replace

import numpy as np
import pytest

from helpers_avatar import shifted_video
from helpers_process import TWO_CORES, in_a_new_process
from livehuman.avatar.cache import load_avatar
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


def meeting_in_the_middle() -> dict:
    order = [0, 5, 1, 4, 2, 3, 9, 8, 7, 6, 11, 10]  # any source frames, in the order of first use
    with RigsBeside(order, built_by) as beside:
        forked = beside._child is not None
        got = [beside.take(order[0]) or built_by(order[0])]  # the first is this process's from now on
        if forked:
            assert beside._channel.poll(30)  # and the child has built one of the rest
        got += take_all(beside, order[1:], draw_s=0.005)
    return {"order": order, "forked": forked, "frames": [i for i, _ in got],
            "here": [pid == os.getpid() for _, pid in got], "received": beside.received}


def test_the_child_builds_from_the_end_and_this_process_from_the_start():
    seen = in_a_new_process("test_rigs_beside", "meeting_in_the_middle")
    assert seen["forked"] == TWO_CORES
    assert seen["frames"] == seen["order"]  # each frame's own rigs, once
    here = seen["here"]
    if seen["forked"]:
        # This process built a first stretch, the child the rest: they met once, somewhere between.
        assert here[0] and not here[-1]
        assert here == sorted(here, reverse=True)
        assert seen["received"] == here.count(False)
    else:
        assert all(here)


def test_nothing_to_build_makes_no_child():
    with RigsBeside([], built_by) as none, RigsBeside([3], built_by) as one:
        assert none._child is None and one._child is None
        assert one.take(3) is None


def killed_at_once() -> dict:
    order = list(range(30))
    with RigsBeside(order, built_by) as beside:
        forked = beside._child is not None
        if forked:
            os.kill(beside._child.pid, signal.SIGKILL)
            beside._child.join()
        got = take_all(beside, order)
    return {"forked": forked, "frames": [i for i, _ in got], "all_here": all(pid == os.getpid() for _, pid in got)}


def test_a_child_that_dies_leaves_its_frames_to_this_process():
    seen = in_a_new_process("test_rigs_beside", "killed_at_once")
    assert seen["forked"] == TWO_CORES
    assert seen["frames"] == list(range(30)) and seen["all_here"]


def big_rigs(i: int) -> tuple[int, int, np.ndarray]:
    return i, os.getpid(), np.zeros(1 << 20)  # 8 MB: far more than a pipe holds, so sent in pieces


def killed_mid_send() -> dict:
    order = list(range(6))
    with RigsBeside(order, big_rigs) as beside:
        forked = beside._child is not None
        if forked:
            time.sleep(0.5)  # the child is stuck mid-send: nothing reads yet
            os.kill(beside._child.pid, signal.SIGKILL)
            beside._child.join()
        got = []
        reader = threading.Thread(target=lambda: got.extend(beside.take(i) or big_rigs(i) for i in order), daemon=True)
        reader.start()
        reader.join(30)
    return {"forked": forked, "waiting": reader.is_alive(), "frames": [rigs[0] for rigs in got]}


def test_a_child_killed_halfway_through_sending_leaves_no_render_waiting():
    seen = in_a_new_process("test_rigs_beside", "killed_mid_send")
    assert seen["forked"] == TWO_CORES
    assert not seen["waiting"], "a render waited for rigs a dead child never sent"
    assert seen["frames"] == list(range(6))


def twelve_frame_video():
    """A twelve-frame "video": the default face a few pixels further right in each frame."""
    return shifted_video(load_avatar("default", progress=False), range(0, 24, 2))


def drawn_both_ways() -> dict:
    video = twelve_frame_video()
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
    return {"forked": forked, "received": received, "cleared": state.beside is None,
            "same": [bool(np.array_equal(a, b)) for a, b in zip(drawn, expected)],
            "rigs": sorted(state.rigs) == list(range(video.n_frames))}


def test_a_video_avatar_drawn_with_rigs_built_beside_is_drawn_the_same():
    seen = in_a_new_process("test_rigs_beside", "drawn_both_ways")
    assert seen["forked"] == TWO_CORES
    assert all(seen["same"]) and len(seen["same"]) == 30
    assert seen["rigs"] and seen["cleared"]  # every source frame's rigs kept; a later render builds its own way
    assert seen["received"] > 0 or not seen["forked"]


@pytest.fixture(scope="module")
def video():
    return twelve_frame_video()


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
