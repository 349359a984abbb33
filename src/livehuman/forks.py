"""When this process may fork a helper that works beside it."""

from __future__ import annotations

import multiprocessing
import os
import threading
from typing import Any, Callable


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
        self._child = multiprocessing.get_context("fork").Process(target=target, args=args, daemon=True)
        self._child.start()

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
