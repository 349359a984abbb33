"""A video avatar's rigs built in a child process while the render draws (its first pass)."""

from __future__ import annotations

import multiprocessing
import queue
import threading
from typing import Callable

from livehuman.forks import Beside, fork_helps


class RigsBeside(Beside):
    """The rigs of the source frames a render will use, built in a forked child from the last one
    back, while this process draws from the first one forward and builds what it meets on the way:
    the two meet in the middle. A source frame's rigs take two to three times as long to build as a
    speaking frame to draw, so a render whose frames are mostly first uses (a video avatar's first
    loop) has its second core build half of them.

    `order`: the source frames in the order the render first uses them, `build(i)` their rigs
    (the same in either process). `take(i)` is the rigs the child sent for frame `i`, or None: build
    them here. The child is made only where `fork_helps()`; if it dies, what it has not sent is built
    here. Use it in a `with` block: leaving it ends the child.
    """

    def __init__(self, order: list[int], build: Callable[[int], object]) -> None:
        self._position = {i: p for p, i in enumerate(order)}
        self._arrived: dict[int, object] = {}
        self.received = 0  # rigs taken from the child
        if len(order) < 2 or not fork_helps():
            return
        # (OpenCV's own worker threads, which the rigs use, are not Python threads: its thread pool
        # starts afresh in a forked child; 80 forks after parallel OpenCV calls, none hung.)
        context = multiprocessing.get_context("fork")
        # How far this process has come in `order`: the child stops where it begins.
        self._reached = context.RawValue("i", 0)
        receiving, sending = context.Pipe(duplex=False)
        self._fork(receiving, _build_from_the_end, order, build, self._reached, sending)
        sending.close()  # the child's alone: if it dies, even mid-send, reading here ends (EOFError)

    def take(self, i: int):
        """Source frame `i`'s rigs if the child built them, else None; the child leaves `i` and the
        frames before it to this process from now on."""
        if self._child is not None and i in self._position:
            self._reached.value = max(self._reached.value, self._position[i] + 1)
            try:
                while self._channel.poll():
                    built, rigs = self._channel.recv()
                    self._arrived[built] = rigs
            except (EOFError, OSError):  # the child has finished, or died: the rest are built here
                self.close()
        rigs = self._arrived.pop(i, None)
        self.received += rigs is not None
        return rigs


def _build_from_the_end(order: list[int], build, reached, pipe) -> None:
    """The child: each frame's rigs from the last back, until it reaches the frames the parent took.
    A thread sends each while the next is built (a pipe holds less than one frame's rigs)."""
    built: queue.SimpleQueue = queue.SimpleQueue()
    sender = threading.Thread(target=_send_each, args=(built, pipe))
    sender.start()
    for p in reversed(range(len(order))):
        if reached.value > p:
            break
        try:
            rigs = build(order[p])
        except Exception:  # noqa: BLE001 (the parent builds this frame itself, and reports its error)
            break
        built.put((order[p], rigs))
    built.put(None)
    sender.join()


def _send_each(built: queue.SimpleQueue, pipe) -> None:
    while (item := built.get()) is not None:
        pipe.send(item)
    pipe.close()
