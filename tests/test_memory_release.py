"""The server gives the memory an ended session freed back to the system (live/memory.py)."""

from __future__ import annotations

import json
import subprocess
import sys

# In a fresh process: in the test run's own, earlier tests leave freed memory in the allocator
# that the blocks below would reuse without the process growing.
FREE_AND_RELEASE = """
import json, os, threading
from livehuman.bench.soak import process_figures
from livehuman.live.memory import free_memory_releaser

BLOCK = 8192  # over CPython's small-object limit: each block is the C library's malloc
BLOCKS = 20_000  # 160 MB

def rss_mb():
    return process_figures(os.getpid())["rss_mb"]

release = free_memory_releaser()
kept = []

def session_like_work():
    # A thread's allocations land in its own arena; keeping one block in sixteen (as a session's
    # last frames and queues outlive the rest) leaves the freed pages between them, which glibc
    # does not give back by itself.
    blocks = [bytes([k % 251]) * BLOCK for k in range(BLOCKS)]
    kept.extend(blocks[::16])

before = rss_mb()
worker = threading.Thread(target=session_like_work)
worker.start()
worker.join()
held = rss_mb()
if release is not None:
    release()
print(json.dumps({"found": release is not None, "before": before, "held": held, "after": rss_mb()}))
"""


def test_memory_freed_by_a_thread_goes_back_to_the_system():
    out = subprocess.run([sys.executable, "-c", FREE_AND_RELEASE], check=True, capture_output=True, text=True)
    mb = json.loads(out.stdout)
    assert mb["found"], "Debian's C library is glibc: malloc_trim must be found"
    assert mb["held"] - mb["before"] > 100, f"the blocks were not allocated as planned: {mb}"
    # 15/16 of 160 MB were freed: most of it must leave the process.
    assert mb["held"] - mb["after"] > 0.5 * (mb["held"] - mb["before"]), mb
