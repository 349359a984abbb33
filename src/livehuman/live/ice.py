"""STUN and TURN servers, for visitors behind NAT: one list for the server's peer connections and the page's.

Without them a connection works only where the browser can reach the server's own addresses (the
same machine, the same network, a server with a public address). Behind a NAT or a firewall that
drops UDP the page says "connecting" for ever: the most common complaint about WebRTC avatars.
`serve --ice-server stun:…` lets the server learn its public address; `--ice-server turn:…` relays
media for those who cannot reach it directly. TURN needs credentials: a fixed user and password, or
coturn's shared secret (`static-auth-secret`), from which each page gets a name and password that
expire (the TURN REST API scheme: name = "EXPIRY:livehuman", password = base64(HMAC-SHA1(secret, name))).
The page reads the list from `GET /ice-servers`, guarded like `/offer`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import time
from dataclasses import dataclass

from aiortc import RTCIceServer

from livehuman.errors import LivehumanError

CREDENTIAL_TTL_S = 24 * 3600  # how long a page's TURN password from --turn-secret holds
# scheme:host[:port][?transport=udp|tcp] (host: a name, an IPv4 address, or an [IPv6] one)
URL = re.compile(r"^(stun|turns?):(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+)(:\d{1,5})?(\?transport=(udp|tcp))?$")


@dataclass(frozen=True)
class IceSettings:
    """The ICE servers given to `serve`, and the TURN credentials that go with the turn: ones."""

    urls: tuple[str, ...] = ()
    username: str | None = None  # fixed TURN credentials (--turn-user, --turn-password)
    password: str | None = None
    secret: str | None = None  # coturn's static-auth-secret (--turn-secret): credentials that expire

    def browser(self, now: float | None = None) -> list[dict]:
        """The list as a browser's RTCPeerConnection takes it (`iceServers`)."""
        stun = [url for url in self.urls if url.startswith("stun")]
        turn = [url for url in self.urls if url.startswith("turn")]
        servers: list[dict] = [{"urls": stun}] if stun else []
        if turn:
            username, credential = self._credentials(time.time() if now is None else now)
            servers.append({"urls": turn, "username": username, "credential": credential})
        return servers

    def aiortc(self, now: float | None = None) -> list[RTCIceServer]:
        """The same list for the server's own peer connections."""
        return [RTCIceServer(**server) for server in self.browser(now)]

    def _credentials(self, now: float) -> tuple[str, str]:
        if self.secret is not None:
            return turn_rest_credentials(self.secret, now)
        return self.username or "", self.password or ""


def turn_rest_credentials(secret: str, now: float, ttl: int = CREDENTIAL_TTL_S) -> tuple[str, str]:
    """A TURN name and password that coturn (use-auth-secret) accepts until `now + ttl`."""
    username = f"{int(now) + ttl}:livehuman"
    digest = hmac.new(secret.encode(), username.encode(), hashlib.sha1).digest()
    return username, base64.b64encode(digest).decode()


def ice_settings(urls: list[str] | tuple[str, ...] | None, username: str | None = None, password: str | None = None,
                 secret: str | None = None) -> IceSettings:
    """serve's --ice-server, --turn-user, --turn-password and --turn-secret, checked (LivehumanError
    naming the flag otherwise)."""
    urls = tuple(urls or ())
    for url in urls:
        if not URL.match(url):
            raise LivehumanError(f"--ice-server {url!r} is not a STUN or TURN address: write stun:HOST[:PORT] or "
                                 "turn:HOST[:PORT][?transport=udp|tcp] (turns: for TLS)")
    turn = any(url.startswith("turn") for url in urls)
    fixed = username is not None or password is not None
    if secret is not None and fixed:
        raise LivehumanError("give either --turn-secret or --turn-user with --turn-password, not both")
    if fixed and (not username or not password):
        raise LivehumanError("--turn-user and --turn-password go together")
    if turn and secret is None and not fixed:
        raise LivehumanError("a TURN server needs credentials: --turn-user and --turn-password, or --turn-secret "
                             "(coturn's static-auth-secret)")
    if (secret is not None or fixed) and not turn:
        raise LivehumanError("TURN credentials were given without a TURN server: add --ice-server turn:HOST:PORT")
    if secret is not None and not secret:
        raise LivehumanError("--turn-secret is empty")
    return IceSettings(urls, username, password, secret)
