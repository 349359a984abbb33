"""When this process may fork a helper that works beside it."""

from __future__ import annotations

import multiprocessing
import os
import threading


def fork_helps() -> bool:
    """Whether a forked child would run beside this process and be safe: two cores or more, and no
    other thread here (a fork copies only the calling thread, and any lock another holds stays held)."""
    # tqdm's monitor thread (started by any progress bar, and left running) only sleeps and sets
    # its bars' refresh counts: it holds no lock the child takes.
    others = [t for t in threading.enumerate() if t is not threading.current_thread() and type(t).__name__ != "TMonitor"]
    return "fork" in multiprocessing.get_all_start_methods() and len(os.sched_getaffinity(0)) >= 2 and not others
