"""The server gives the memory an ended session freed back to the system (live/memory.py)."""

from __future__ import annotations

import threading
from pathlib import Path

from livehuman.live.memory import free_memory_releaser

BLOCK = 8192  # over CPython's small-object limit: each block is the C library's malloc
BLOCKS = 20_000  # 160 MB


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


def test_memory_freed_by_a_thread_goes_back_to_the_system():
    release = free_memory_releaser()
    assert release is not None, "Debian's C library is glibc: malloc_trim must be found"
    kept: list[bytes] = []

    def session_like_work() -> None:
        # A thread's allocations land in its own arena; keeping one block in sixteen (as a
        # session's last frames and queues outlive the rest) leaves the freed pages between
        # them, which glibc does not give back by itself.
        blocks = [bytes([k % 251]) * BLOCK for k in range(BLOCKS)]
        kept.extend(blocks[::16])

    before = rss_mb()
    worker = threading.Thread(target=session_like_work)
    worker.start()
    worker.join()
    held = rss_mb()
    assert held - before > 100, "the blocks were not allocated as planned"
    release()
    after = rss_mb()
    # 15/16 of 160 MB were freed: most of it must leave the process.
    assert held - after > 0.5 * (held - before), (before, held, after)
    assert len(kept) == BLOCKS // 16
