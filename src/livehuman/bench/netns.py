"""A throwaway network namespace for WebRTC tests: ICE sees only addresses inside it.

aioice never offers 127.0.0.1, so on the host network a WebRTC test would send to the machine's
LAN address. Inside the namespace there is `lo` plus a veth pair with private 10.x addresses, both
ends inside: traffic between them never leaves the namespace.

Use `NetNamespace()` as a context manager (creates, and always removes), then either
`with ns.entered():` to move the calling thread (and the threads and processes it starts from then
on) into it, or `ns.command([...])` to run a program inside it.
"""

from __future__ import annotations

import contextlib
import ctypes
import ipaddress
import os
import secrets
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator

CLONE_NEWNET = 0x40000000


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, text=True)


class NetNamespace:
    """A network namespace `lh-test-<random>` with lo up and a veth pair on a private /24."""

    def __init__(self) -> None:
        token = secrets.token_hex(3)
        self.name = f"lh-test-{token}"
        # A random 10.x.y.0/24 keeps parallel runs apart.
        octets = secrets.token_bytes(2)
        self.subnet = ipaddress.ip_network(f"10.{octets[0]}.{octets[1]}.0/24")
        self.addresses = [str(self.subnet.network_address + 1), str(self.subnet.network_address + 2)]
        self._veth = (f"lh{token}a", f"lh{token}b")
        self._created = False

    def create(self) -> None:
        _ip("netns", "add", self.name)
        self._created = True
        ns = ("-n", self.name)
        _ip(*ns, "link", "set", "lo", "up")
        # IPv4 only: link-local IPv6 candidates would add nothing but noise to ICE.
        subprocess.run(self.command(["sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1",
                                     "net.ipv6.conf.default.disable_ipv6=1"]), check=True)
        _ip(*ns, "link", "add", self._veth[0], "type", "veth", "peer", "name", self._veth[1])
        for dev, addr in zip(self._veth, self.addresses):
            _ip(*ns, "addr", "add", f"{addr}/24", "dev", dev)
            _ip(*ns, "link", "set", dev, "up")

    def remove(self) -> None:
        if self._created:
            subprocess.run(["ip", "netns", "delete", self.name], capture_output=True)
            self._created = False

    def __enter__(self) -> "NetNamespace":
        # A run stopped with SIGTERM (e.g. by `timeout`) must still unwind and remove the namespace.
        self._previous_handler = None
        if threading.current_thread() is threading.main_thread():
            self._previous_handler = signal.signal(signal.SIGTERM, _exit_on_sigterm)
        try:
            self.create()
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.remove()
        if self._previous_handler is not None:
            signal.signal(signal.SIGTERM, self._previous_handler)
            self._previous_handler = None

    def command(self, argv: list[str]) -> list[str]:
        """`argv` wrapped to run inside the namespace."""
        return ["ip", "netns", "exec", self.name, *argv]

    def entered(self) -> contextlib.AbstractContextManager["NetNamespace"]:
        """Move the calling thread into the namespace for the block; back out afterwards, always."""
        return entered_namespace(self.name, self)

    def owns(self, address: str) -> bool:
        """True for an address that belongs to this namespace (its veth pair or loopback)."""
        ip = ipaddress.ip_address(address)
        return ip in self.subnet or ip.is_loopback


@contextlib.contextmanager
def entered_namespace(name: str, value=None) -> Iterator:
    """Move the calling thread into network namespace `name` for the block (yielding `value`); back
    out afterwards, always. Threads and processes started from inside stay there for good."""
    libc = ctypes.CDLL(None, use_errno=True)
    original = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    target = os.open(f"/run/netns/{name}", os.O_RDONLY)
    try:
        if libc.setns(target, CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), f"setns into {name} failed")
        try:
            yield value
        finally:
            if libc.setns(original, CLONE_NEWNET) != 0:
                raise OSError(ctypes.get_errno(), "setns back to the original namespace failed")
    finally:
        os.close(target)
        os.close(original)


def _exit_on_sigterm(signum, frame) -> None:
    sys.exit(128 + signum)
