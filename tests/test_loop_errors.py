"""A closed peer's last sends are logged quietly; every other unretrieved task error as asyncio does."""

from __future__ import annotations

import asyncio
import gc
import logging

from aiortc import RTCCertificate
from aiortc.rtcdtlstransport import RTCDtlsTransport
from aiortc.rtcicetransport import RTCIceGatherer, RTCIceTransport

from livehuman.live.loop_errors import quiet_closed_peers


async def _mine() -> None:
    raise ConnectionError("a send of our own")


def test_a_closed_transports_send_is_not_a_traceback_but_other_errors_still_are(caplog):
    async def main() -> None:
        quiet_closed_peers(asyncio.get_running_loop())
        # aiortc's own coroutine failing as it does when the peer has gone (never connected here).
        dtls = RTCDtlsTransport(RTCIceTransport(RTCIceGatherer()), [RTCCertificate.generateCertificate()])
        tasks = [asyncio.get_running_loop().create_task(dtls._send_data(b"media")),
                 asyncio.get_running_loop().create_task(_mine())]
        await asyncio.sleep(0.05)
        assert all(t.done() for t in tasks)
        del tasks
        gc.collect()  # an unretrieved task error is reported when the task is collected

    with caplog.at_level(logging.DEBUG):
        asyncio.run(main())
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1 and "a send of our own" in str(errors[0].exc_info[1]), [r.getMessage() for r in errors]
    assert any("closed peer's pending send failed: Cannot send encrypted data" in r.getMessage()
               for r in caplog.records if r.levelno == logging.DEBUG)
