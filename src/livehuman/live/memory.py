"""Giving the memory an ended session freed back to the system.

A session's codecs, buffers and frames are allocated by many threads, so glibc spreads them over
several malloc arenas; freed, that memory stays in the arenas (only the main arena's top is given
back on its own). Reused unevenly by the next sessions, the server's resident memory crept up with
every minute of streaming (+18 MB per 10 minutes in a 30-minute soak, docs/benchmarks.md).
`malloc_trim(0)` returns every arena's free pages to the system.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
from collections.abc import Callable

log = logging.getLogger(__name__)


def free_memory_releaser() -> Callable[[], None] | None:
    """A call that gives free heap pages back to the system, or None where the C library has no
    `malloc_trim` (it is glibc's; musl, macOS)."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        trim = libc.malloc_trim
    except (OSError, AttributeError):
        log.debug("no malloc_trim in this C library: freed memory stays with the allocator")
        return None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int

    def release() -> None:
        trim(0)  # a ctypes call lets go of the GIL: run from a thread, it does not stop the loop

    return release
