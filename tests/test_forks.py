"""A helper forked beside a render (forks.Beside) ends without a word when it is no longer wanted.

A render forks only from a process with no other thread (forks.fork_helps), and the test process
has threads that earlier tests left: the scenarios run in a new Python process, as a render does."""

from __future__ import annotations

import multiprocessing
import os
import signal
import tempfile
import time

from helpers_process import TWO_CORES, in_a_new_process
from livehuman.cli import _interrupted
from livehuman.forks import Beside, fork_helps


class Sleeper(Beside):
    """A child that works longer than anyone waits for it."""

    def __init__(self) -> None:
        if fork_helps():
            receiving, sending = multiprocessing.get_context("fork").Pipe(duplex=False)
            self._fork(receiving, time.sleep, 60)
            sending.close()


def ended_while_it_works(how: str) -> dict:
    """What the child wrote on stderr when ended at work, in a process whose handlers are the CLI's
    (SIGTERM raises KeyboardInterrupt, as Ctrl+C does)."""
    for stop in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(stop, _interrupted)
    with tempfile.TemporaryFile() as stderr:
        os.dup2(stderr.fileno(), 2)
        with Sleeper() as sleeper:
            forked = sleeper._child is not None
            time.sleep(0.3)  # (the child is asleep in its work)
            if forked and how == "ctrl-c":  # a Ctrl+C reaches the terminal's whole process group
                os.kill(sleeper._child.pid, signal.SIGINT)
                sleeper._child.join(10)
        stderr.seek(0)
        said = stderr.read().decode()
    return {"forked": forked, "said": said}


def test_a_child_ended_by_close_says_nothing():
    assert in_a_new_process("test_forks", "ended_while_it_works", "close") == {"forked": TWO_CORES, "said": ""}


def test_a_child_ended_by_ctrl_c_says_nothing():
    assert in_a_new_process("test_forks", "ended_while_it_works", "ctrl-c") == {"forked": TWO_CORES, "said": ""}
