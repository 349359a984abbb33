"""When this process may fork a helper that works beside it."""

from __future__ import annotations

import multiprocessing
import os
import signal
import threading
from typing import Any, Callable

# What ends a child: `close()`'s SIGTERM, a Ctrl+C at the terminal, a closed terminal.
STOPS = {signal.SIGTERM, signal.SIGINT, signal.SIGHUP}


def fork_helps() -> bool:
    """Whether a forked child would run beside this process and be safe: two cores or more, and no
    other thread here (a fork copies only the calling thread, and any lock another holds stays held)."""
    # tqdm's monitor thread (started by any progress bar, and left running) only sleeps and sets
    # its bars' refresh counts: it holds no lock the child takes.
    others = [t for t in threading.enumerate() if t is not threading.current_thread() and type(t).__name__ != "TMonitor"]
    return "fork" in multiprocessing.get_all_start_methods() and len(os.sched_getaffinity(0)) >= 2 and not others


class Beside:
    """Work done beside this process by a forked child, which answers on a channel (a pipe's or a
    queue's receiving end). A subclass starts it with `_fork` where `fork_helps()`; `close()`, or
    leaving a `with` block, ends the child if it still runs."""

    _child: multiprocessing.Process | None = None
    _channel: Any = None

    def _fork(self, channel: Any, target: Callable, *args: Any) -> None:
        self._channel = channel
        self._child = multiprocessing.get_context("fork").Process(target=_quietly, args=(target, *args), daemon=True)
        # The stop signals are held from the fork until the child has let go of this process's
        # handlers (`_quietly`); this process gets any that came meanwhile once the fork is done.
        held = signal.pthread_sigmask(signal.SIG_BLOCK, STOPS)
        try:
            self._child.start()
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, held)

    def close(self) -> None:
        """End the child, if it still runs (what it has not sent is then not wanted)."""
        if self._child is None:
            return
        if self._child.is_alive():
            self._child.terminate()
        self._child.join()
        self._channel.close()
        self._child = None

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _quietly(target: Callable, *args: Any) -> None:
    """`target(*args)` in a child that a stop signal ends without a word. A fork inherits this
    process's handlers: the CLI's turn SIGTERM into KeyboardInterrupt, so that it removes its
    unfinished output, and Python's does the same with Ctrl+C; in a child, which has nothing to clean
    up, that printed a traceback when `close()` ended it (half the renders by a video avatar)."""
    for stop in STOPS:
        signal.signal(stop, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, STOPS)
    target(*args)
