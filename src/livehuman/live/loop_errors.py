"""An event loop that reports a closed peer's last sends quietly (the server's, and the benches' clients').

When a visitor's connection ends while aiortc still has data queued (a tab closed mid-reply, a
client killed, a starved server noticing a hang-up late), aiortc's own background tasks (SCTP
transmit, data-channel flush) raise `ConnectionError("Cannot send … not connected")`, and asyncio
prints each as "Task exception was never retrieved" with a traceback (aiortc issue #1040). The
session is already ending; the traceback only alarms whoever reads the log. Everything else keeps
asyncio's default report.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

log = logging.getLogger("livehuman.live")
MEDIA_LIBRARIES = ("/aiortc/", "/aioice/")


def quiet_closed_peers(loop: asyncio.AbstractEventLoop) -> None:
    """Install the handler on `loop` (the one the server runs on)."""
    loop.set_exception_handler(_report)


def _report(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
    if isinstance(context.get("exception"), ConnectionError) and _from_media_library(context.get("future")):
        log.debug("a closed peer's pending send failed: %s", context["exception"])
        return
    loop.default_exception_handler(context)


def _from_media_library(future: Any) -> bool:
    code = getattr(getattr(future, "get_coro", lambda: None)(), "cr_code", None)
    return code is not None and any(part in code.co_filename for part in MEDIA_LIBRARIES)
