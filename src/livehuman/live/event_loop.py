"""The event loop a live server runs on: uvloop's, which reads every datagram waiting on a socket.

asyncio's own loop reads one datagram per socket per turn of the loop. A visitor sends ~55 a
second (20 ms microphone packets, RTCP, ICE consent checks), and a server busy drawing and encoding
several sessions turns its loop fewer times than that. The socket's queue then grows to the
kernel's limit, seconds long: the visitor is heard seconds late, and the answers to the server's
ICE consent checks wait in that queue too. aioice waits 0.5 s for each answer and ends the
connection after six missed in a row, so every session of a busy server died ~30 s after it
started (three sessions on two cores; docs/benchmarks.md, "The event loop"). libuv reads up to 32
datagrams a socket at each turn, so the queue stays empty.

Clients that share a process read a server's media on it too (`run`): four aiortc clients on
asyncio's loop, the bench's visitors, read the server's ICE consent checks so late that the server
ended their sessions. A browser reads every packet as it comes.

Ray's async actors, which hold a cluster node's sessions (cluster/node.py), take uvloop on their
own when it is installed.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Coroutine
from typing import Any, TypeVar

if sys.platform != "win32":  # uvloop has no Windows build
    import uvloop
else:
    uvloop = None

T = TypeVar("T")


def new_event_loop() -> asyncio.AbstractEventLoop:
    """A new loop for a live server: uvloop's where there is one, asyncio's on Windows."""
    return uvloop.new_event_loop() if uvloop is not None else asyncio.new_event_loop()


def drains_datagrams(loop: asyncio.AbstractEventLoop) -> bool:
    """Whether `loop` reads every waiting datagram at each turn (see above)."""
    return uvloop is not None and isinstance(loop, uvloop.Loop)


def run(main: Coroutine[Any, Any, T]) -> T:
    """`asyncio.run(main)` on a loop of `new_event_loop`'s kind."""
    return uvloop.run(main) if uvloop is not None else asyncio.run(main)
