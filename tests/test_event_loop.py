"""The live server's event loop reads a visitor's waiting packets all at once (live/event_loop.py)."""

from __future__ import annotations

import asyncio
import socket
import time

import pytest

from livehuman.live.event_loop import drains_datagrams, new_event_loop, run

BURST = 30  # packets waiting when the loop turns: 0.6 s of a visitor's microphone


def packets_read_in_turns(loop: asyncio.AbstractEventLoop, turns: int) -> int:
    """How many of BURST datagrams, all waiting on one socket, `loop` reads in its next `turns` turns."""
    received: list[bytes] = []

    class Counting(asyncio.DatagramProtocol):
        def datagram_received(self, data: bytes, addr) -> None:
            received.append(data)

    async def burst() -> int:
        transport, _ = await loop.create_datagram_endpoint(Counting, local_addr=("127.0.0.1", 0))
        try:
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
                for n in range(BURST):
                    sender.sendto(n.to_bytes(2, "big"), transport.get_extra_info("sockname"))
            time.sleep(0.2)  # the loop is busy elsewhere (blocked) while they arrive
            for _ in range(turns):
                await asyncio.sleep(0)  # one turn of the loop
            return len(received)
        finally:
            transport.close()

    return loop.run_until_complete(burst())


def test_the_servers_loop_reads_a_burst_of_waiting_packets_in_a_few_turns():
    """asyncio's own loop reads one datagram a socket a turn: a busy server fell behind its visitors'
    packets for good (the failure this guards against: docs/benchmarks.md, "The event loop")."""
    loop = new_event_loop()
    try:
        assert drains_datagrams(loop)
        assert packets_read_in_turns(loop, turns=4) == BURST
    finally:
        loop.close()


def test_asyncios_own_loop_reads_one_packet_a_turn():
    """The measure above tells the two loops apart: asyncio's reads at most one packet each turn."""
    loop = asyncio.new_event_loop()
    try:
        assert not drains_datagrams(loop)
        assert packets_read_in_turns(loop, turns=4) <= 4
    finally:
        loop.close()


def test_clients_run_on_the_servers_kind_of_loop():
    """The bench's visitors (aiortc clients sharing a process) read the server's packets as a browser
    does: four on asyncio's loop answered the server's ICE consent checks too late, and lost their
    sessions. `run` is asyncio.run on the server's kind of loop, with its result and its errors."""
    async def loop_kind() -> bool:
        return drains_datagrams(asyncio.get_running_loop())

    assert run(loop_kind())

    async def fails() -> None:
        raise ValueError("passed on")

    with pytest.raises(ValueError, match="passed on"):
        run(fails())
