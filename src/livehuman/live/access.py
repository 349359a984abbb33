"""Who may use a `livehuman serve`: the access token, Origin checks and CORS, as one aiohttp middleware.

The page (`/`, `/static/…`, `/logos/…`) and `/healthz` are public; every other route (`POST /offer`, the
`/v1/realtime` WebSocket, and whatever is added later) is guarded:

- a browser request whose `Origin` is neither the server's own nor in the allow-list is refused
  (403), so that another site cannot use a visitor's browser against the server;
- with a token, the request must carry it: `Authorization: Bearer TOKEN`, or for a WebSocket also
  the `openai-insecure-api-key.TOKEN` subprotocol (what browsers can send; the openai SDK sends the
  header); 401 otherwise;
- without a token, a server bound to a loopback address answers only requests addressed to a
  loopback name (the `Host` header), which stops DNS rebinding: a site whose name suddenly
  resolves to 127.0.0.1 is, to the browser, the server's own origin;
- origins in the allow-list get CORS headers and their preflights (`OPTIONS`) answered.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

from aiohttp import web

from livehuman.errors import LivehumanError

log = logging.getLogger("livehuman.live")

TOKEN_ENV = "LIVEHUMAN_TOKEN"
SUBPROTOCOL_PREFIX = "openai-insecure-api-key."  # how browsers pass a key to a Realtime WebSocket
PUBLIC_PREFIXES = ("/static/", "/logos/")  # the page's files and its persona's logo
PUBLIC_PATHS = frozenset({"/", "/healthz", "/readyz"})
# A token travels in a header and in a WebSocket subprotocol: an HTTP token's characters only.
_TOKEN_CHARS = re.compile(r"^[A-Za-z0-9!#$%&'*+\-.^_`|~]+$")
_DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443}

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass(frozen=True)
class Access:
    """A server's access rules (the default: no token, no other origin, any Host)."""

    token: str | None = None
    cors_origins: tuple[str, ...] = ()  # "scheme://host[:port]" each, or "*" (with a token only)
    loopback_only: bool = False  # no token and bound to loopback: answer loopback names only

    def allows_origin(self, origin: str) -> bool:
        """Whether a page on `origin` (another site) may use the guarded routes."""
        return "*" in self.cors_origins or _normal_origin(origin) in self.cors_origins


def access_settings(loopback: bool, token: str | None = None, no_auth: bool = False,
                    cors_origins: tuple[str, ...] | list[str] = ()) -> Access:
    """The rules `serve`'s options ask for, or one clear line saying what is wrong with them.

    `loopback`: whether the server listens on a loopback address only. Anywhere else it needs a
    token or an explicit `no_auth`.
    """
    if token is not None:
        if no_auth:
            raise LivehumanError("--token and --no-auth contradict each other: choose one")
        if not _TOKEN_CHARS.match(token):
            raise LivehumanError("the access token must be letters, digits and -._~+ (no spaces), "
                                 "e.g. from `openssl rand -hex 16`")
    elif not loopback and not no_auth:
        raise LivehumanError(f"serving beyond this machine needs an access token: pass --token TOKEN "
                             f"(or set {TOKEN_ENV}; e.g. from `openssl rand -hex 16`), or --no-auth to let "
                             f"anyone who reaches the server use it")
    origins = tuple(dict.fromkeys(_cors_origin(origin, token) for origin in cors_origins))
    if no_auth:
        log.warning("serving without an access token (--no-auth): anyone who can reach this server can use it")
    return Access(token=token, cors_origins=origins, loopback_only=loopback and token is None and not no_auth)


def is_loopback(address: str) -> bool:
    """Whether an IP address (as a socket reports it) is a loopback one."""
    try:
        ip = ipaddress.ip_address(address.split("%")[0])
    except ValueError:
        return False
    mapped = getattr(ip, "ipv4_mapped", None)
    return (mapped or ip).is_loopback


def protect(app: web.Application, access: Access) -> None:
    """Apply `access` to every request of `app` (before the app starts)."""
    app.middlewares.append(access_middleware(access))
    app.on_response_prepare.append(_choose_subprotocol)


async def _choose_subprotocol(request: web.Request, response: web.StreamResponse) -> None:
    # A browser that offered WebSocket subprotocols (the token's among them) drops a connection
    # whose handshake accepts none; the Realtime handler names none, so one is accepted here.
    if response.status != 101 or "Sec-WebSocket-Protocol" in response.headers:
        return
    offered = [p.strip() for p in request.headers.get("Sec-WebSocket-Protocol", "").split(",") if p.strip()]
    if offered:
        response.headers["Sec-WebSocket-Protocol"] = "realtime" if "realtime" in offered else offered[0]


def access_middleware(access: Access):
    """The aiohttp middleware that applies `access` to every request."""

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path in PUBLIC_PATHS or request.path.startswith(PUBLIC_PREFIXES):
            return await handler(request)
        origin = request.headers.get("Origin")
        foreign = origin is not None and not _same_origin(origin, request.host)
        if foreign and not access.allows_origin(origin):
            return _refuse(403, f"pages on {origin} may not use this server: allow them with "
                                f"--cors-origin {origin}")
        cors = _cors_headers(origin) if foreign else {}
        if request.method == "OPTIONS" and foreign and "Access-Control-Request-Method" in request.headers:
            # A preflight: the page asks whether it may send its JSON (and its token). It carries no
            # token itself, so it is answered before the token is checked.
            return web.Response(status=204, headers={**cors, "Access-Control-Max-Age": "600"})
        if access.loopback_only and not _loopback_host(request.host):
            return _refuse(403, "this server answers only to localhost, 127.0.0.1 or [::1]; to serve it under "
                                "another name, give it an access token (--token)", cors)
        if access.token is not None:
            given = _given_token(request)
            if given is None:
                return _refuse(401, "this server needs an access token: send Authorization: Bearer TOKEN", cors)
            if not hmac.compare_digest(given.encode(), access.token.encode()):
                return _refuse(401, "the access token is wrong", cors)
        try:
            response = await handler(request)
        except web.HTTPException as exc:
            exc.headers.update(cors)
            raise
        if not response.prepared:  # a WebSocket's handshake is long gone by now
            response.headers.update(cors)
        return response

    return middleware


def _given_token(request: web.Request) -> str | None:
    scheme, _, credentials = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() == "bearer" and credentials.strip():
        return credentials.strip()
    if request.headers.get("Upgrade", "").lower() == "websocket":
        for protocol in request.headers.get("Sec-WebSocket-Protocol", "").split(","):
            protocol = protocol.strip()
            if protocol.startswith(SUBPROTOCOL_PREFIX):
                return protocol[len(SUBPROTOCOL_PREFIX):]
    return None


def _cors_headers(origin: str) -> dict[str, str]:
    return {"Access-Control-Allow-Origin": origin, "Vary": "Origin",
            "Access-Control-Allow-Methods": "GET, POST, OPTIONS",
            "Access-Control-Allow-Headers": "Content-Type, Authorization"}


def _refuse(status: int, message: str, headers: dict[str, str] | None = None) -> web.Response:
    headers = dict(headers or {})
    if status == 401:
        headers["WWW-Authenticate"] = "Bearer"
    return web.json_response({"error": message}, status=status, headers=headers)


def _same_origin(origin: str, host: str | None) -> bool:
    """Whether `origin` names the host and port the request was sent to (its Host header).

    The scheme is not compared: behind an https reverse proxy the page's origin is https and the
    request reaches this server as http.
    """
    try:  # (a malformed origin, "http://[::1" say, is nobody's: refused as foreign)
        parts = urlsplit(origin)
        if not parts.hostname or not host:
            return False
        origin_port = parts.port or _DEFAULT_PORTS.get(parts.scheme)
        own = urlsplit(f"{parts.scheme}://{host}")
        own_port = own.port or _DEFAULT_PORTS.get(parts.scheme)
    except ValueError:
        return False
    return parts.hostname == own.hostname and origin_port == own_port


def _loopback_host(host: str | None) -> bool:
    if not host:
        return False
    try:
        name = urlsplit(f"http://{host}").hostname or ""
    except ValueError:
        return False
    return name == "localhost" or name.endswith(".localhost") or is_loopback(name)


def _normal_origin(origin: str) -> str:
    try:
        parts = urlsplit(origin.strip())
        port = parts.port
    except ValueError:
        return origin
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    default = _DEFAULT_PORTS.get(parts.scheme.lower())
    return f"{parts.scheme.lower()}://{host}" + (f":{port}" if port and port != default else "")


def _cors_origin(origin: str, token: str | None) -> str:
    """One `--cors-origin`, checked and written as browsers write origins."""
    if origin == "*":
        if token is None:
            raise LivehumanError("--cors-origin '*' lets every site use the server: it needs an access token "
                                 "(--token); otherwise name the sites, e.g. --cors-origin https://example.com")
        return origin
    parts = urlsplit(origin.strip())
    try:
        parts.port
    except ValueError:
        parts = None
    if (parts is None or parts.scheme.lower() not in ("http", "https") or not parts.hostname
            or parts.path not in ("", "/") or parts.query or parts.fragment or parts.username):
        raise LivehumanError(f"--cors-origin {origin!r} is not an origin: write scheme://host[:port], "
                             f"e.g. https://example.com or http://localhost:3000")
    return _normal_origin(origin)
