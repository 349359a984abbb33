"""Request bodies that never arrive whole: a client that went away, or a body that cannot be decoded.

aiohttp raises these from wherever a handler reads its body (`request.json()`, `.multipart()`, the
content stream), and answers anything a handler raises with a 500 and a traceback in the log. Neither
is the server's fault: a body it cannot decode (a broken `Content-Encoding`, a chunked body cut
short) is the client's mistake, answered 400 with what went wrong; a client that hung up mid-body
reads no answer at all, and is worth one info line, not an error.
"""

from __future__ import annotations

import json
import logging
import re

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.typedefs import Handler
from aiohttp.web_protocol import RequestPayloadError

log = logging.getLogger("livehuman.live")


@web.middleware
async def unreadable_bodies(request: web.Request, handler: Handler) -> web.StreamResponse:
    """The aiohttp middleware that answers unreadable bodies (put it first: it sees every handler)."""
    try:
        return await handler(request)
    except (RequestPayloadError, HttpProcessingError) as exc:
        refusal = _refusal(f"the request body could not be read: {_plain(exc)}")
        # The rest of the body cannot be read either: close the connection after the answer rather
        # than let aiohttp read on into the same error (and log it as unhandled).
        refusal.force_close()
        request.content.feed_eof()
        raise refusal from None
    except ConnectionResetError:
        # Mid-body, or mid-answer: either way nobody is left to read this answer, and aiohttp drops
        # an answer it cannot write without a word.
        log.info("%s %s: the client went away before its request was read", request.method, request.path)
        raise _refusal("the client went away") from None


def _refusal(message: str) -> web.HTTPBadRequest:
    return web.HTTPBadRequest(text=json.dumps({"error": message}), content_type="application/json")


def _plain(exc: Exception) -> str:
    """The exception's message on one line ("400, message: …" is aiohttp's prefix)."""
    return re.sub(r"^\d+, message: *", "", " ".join(str(exc).split()))[:200] or type(exc).__name__
