"""The HTTP side of `livehuman serve`: the page, WebRTC signaling, health, and /v1/realtime."""

from __future__ import annotations

import asyncio
import errno
import functools
import gc
import html as html_text
import inspect
import logging
import secrets
import signal
import socket
import ssl
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from importlib.resources import files
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from aiohttp import web
from aiortc import RTCConfiguration, RTCPeerConnection, RTCRtpSender, RTCSessionDescription

from livehuman.avatar.upload import UploadLimits
from livehuman.errors import LivehumanError
from livehuman.live.access import Access, access_settings, is_loopback, protect
from livehuman.live.bodies import unreadable_bodies
from livehuman.live.health import health, readiness, stats
from livehuman.live.metrics import CONTENT_TYPE as METRICS_CONTENT_TYPE
from livehuman.live.metrics import LiveMetrics
from livehuman.live.drive import drive_routes
from livehuman.live.event_loop import new_event_loop
from livehuman.live.microphone import hear_promptly
from livehuman.live.offer_check import offer_problem
from livehuman.live.face_renderer import FaceRenderer
from livehuman.live.ice import IceSettings
from livehuman.live.loop_errors import quiet_closed_peers
from livehuman.live.memory import free_memory_releaser
from livehuman.live.session import Session
from livehuman.live.uploads import Uploads
from livehuman.live.video_encoder import encode_rendered
from livehuman.motion.closures import NATURAL, SYNTHETIC
from livehuman.theme import PageTheme, image_type

if TYPE_CHECKING:
    from livehuman.brain.base import Brain
    from livehuman.brain.limits import RealtimeLimits
    from livehuman.brain.local_factory import LocalBrainFactory

log = logging.getLogger("livehuman.live")

MAX_OFFER_BYTES = 256 * 1024  # an SDP offer is a few kB
FULL_GRACE_S = 2.0  # a full server waits this long, of its own time, for a place to free before "busy"...
FULL_GRACE_MAX_S = 10.0  # ...and at most this long by the clock, however starved it is
GRACE_POLL_S = 0.05
LIVE_SILENCE_MS = 300  # live turns end after this much silence (the protocol's default is 500)
LIVE_PAUSE_MS = 150  # after this much silence the offline brain prepares its reply (held until the turn ends)
GC_AFTER_SESSION_S = 3.0  # a full garbage collection this long after a session ends (see _collect_soon)
WEB_DIR = Path(str(files("livehuman") / "web"))
OPUS = [codec for codec in RTCRtpSender.getCapabilities("audio").codecs if codec.mimeType.lower() == "audio/opus"]

BrainFactory = Callable[[], "Brain | Awaitable[Brain]"]  # one typed brain per session


@dataclass(frozen=True)
class Offer:
    """A visitor's WebRTC offer as `POST /offer` took it: the SDP, and the persona and uploaded
    avatar asked for (None: the default)."""

    sdp: str
    persona: Any = None
    avatar: Any = None


class Placer(Protocol):
    """Who answers offers instead of this process: a cluster's front door (cluster/front.py)."""

    async def place(self, offer: Offer) -> tuple[int, dict]:
        """(HTTP status, body) for an offer, as `LiveServer.answer_offer` gives them."""

    def places(self) -> tuple[int, int]:
        """(places taken, places in all) where it places sessions."""


@dataclass
class LiveConfig:
    """What every session of a server shares: how to make a brain, a face renderer, and limits."""

    brain_factory: BrainFactory
    engine_factory: Callable[[], Any]  # a loaded engine for a new session (may be shared by every session)
    avatar: Any
    lipsync_factory: Callable[..., Any]
    idle_factory: Callable[[], Any]
    max_sessions: int = 4
    realtime_brain_factory: Callable[..., Any] | None = None  # serves /v1/realtime when set
    ice: IceSettings = field(default_factory=IceSettings)  # STUN/TURN (live/ice.py); none: host candidates only
    inactivity_timeout: float = 15.0  # a session whose microphone stops for this long has vanished
    # A peer that has not connected this long after its answer never will (no route, a hand-written
    # offer): its place is given back instead of being held until shutdown.
    connect_timeout: float = 20.0
    # Run once in a thread at start-up: whatever would otherwise stall the first sessions.
    warm_up: Callable[[], None] | None = None
    resources: list = field(default_factory=list)  # each one's close() is called when the server stops
    access: Access = field(default_factory=Access)  # the token, the origins allowed (live/access.py)
    # What each /v1/realtime client may ask (brain/limits.py); None: the defaults, with as many
    # connections at once as max_sessions.
    realtime_limits: RealtimeLimits | None = None
    # The personas a page may choose (`serve --persona`, by key); the first is the default. Empty:
    # the factories above, no greeting.
    personas: dict[str, PersonaSetup] = field(default_factory=dict)
    greet: bool = True  # each session opens with its persona's greeting
    page: PageTheme = field(default_factory=PageTheme)  # the page's look without personas (theme.py)
    # Avatars made in the page (`POST /avatars`, live/uploads.py): what an upload may be; None: no uploads.
    uploads: UploadLimits | None = field(default_factory=UploadLimits)
    # Recognizers of the phones in replies that come without any (a remote brain's voice), lent to
    # its sessions (brain/recognizer.py's PhonesPool of ProcessPhones; motion/phone_blend.py). None:
    # such replies move the mouth by their sound alone.
    reply_phones: Any = None


@dataclass
class PersonaSetup:
    """One persona's brain and face, as a session with it is made."""

    persona: Any  # brain/persona.py's Persona
    brain_factory: BrainFactory
    face: FaceParts
    theme: PageTheme = field(default_factory=PageTheme)  # its [page], under the serve flags


class LiveServer:
    """The sessions of one server and the aiohttp handlers that create them."""

    def __init__(self, config: LiveConfig):
        self.config = config
        self.sessions: dict[str, Session] = {}
        self._peers: dict[str, RTCPeerConnection] = {}
        self._starting = 0  # offers being answered: they hold a place too
        self._warm = config.warm_up is None  # the models are loaded (/readyz)
        self._closing = False  # shutting down (/readyz)
        self._app: web.Application | None = None
        self._collect_pending = False
        self._release_free_memory = free_memory_releaser()
        self._lending: set[asyncio.Task] = set()  # recognizers being lent to sessions (_lend_phones)
        self.metrics = LiveMetrics(lambda: list(self.sessions.values()), self._realtime_connections,
                                   lambda: [r for r in self.config.resources if hasattr(r, "worker_kind")])
        self.uploads = Uploads(config.uploads) if config.uploads is not None else None
        self.placer: Placer | None = None  # set: sessions are answered elsewhere (a cluster's nodes)
        self._extensions: list[tuple[Callable, Callable | None, Callable | None]] = []  # see on_app

    def on_app(self, routes: Callable[[web.Application], None], start: Callable[[], Awaitable] | None = None,
               stop: Callable[[], Awaitable] | None = None) -> None:
        """Add `routes` to the application when it is made, and await `start()` when it starts and
        `stop()` when it stops (a cluster's front door: its lifeline route, joining, leaving)."""
        self._extensions.append((routes, start, stop))

    @property
    def active(self) -> int:
        """Places taken: sessions not yet ending, and offers being answered."""
        return sum(1 for session in self.sessions.values() if not session.ending) + self._starting

    def app(self) -> web.Application:
        """The aiohttp application: `/`, `/static/…`, `POST /offer`, `GET /healthz`, `/readyz`, `/stats`,
        `/metrics` (live/health.py, live/metrics.py), `/v1/realtime`."""
        app = web.Application(client_max_size=MAX_OFFER_BYTES, middlewares=[unreadable_bodies])
        protect(app, self.config.access)
        app.router.add_get("/", self.index)
        app.router.add_post("/offer", self._counted_offer)
        app.router.add_get("/healthz", self.healthz)
        app.router.add_get("/readyz", self.readyz)
        app.router.add_get("/stats", self.stats)  # guarded (live/access.py): per-session figures
        app.router.add_get("/metrics", self.prometheus)  # guarded too
        app.router.add_get("/personas", self.personas)
        app.router.add_get("/ice-servers", self.ice_servers)  # guarded: it may hold TURN credentials
        app.router.add_get("/logos/{key}", self.logo)  # public (live/access.py), as the page is
        if self.uploads is not None:
            self.uploads.routes(app)  # POST /avatars, GET /avatars/{name}: guarded (live/access.py)
        app.router.add_static("/static/", WEB_DIR, show_index=False)
        if self.placer is None:  # a cluster's front door passes them on to the nodes (cluster/drive.py)
            drive_routes(app, self.sessions, self.config.access)  # /sessions/{id}/say, /events… (live/drive.py)
        if self.config.realtime_brain_factory is not None:
            try:
                from livehuman.brain.limits import RealtimeLimits
                from livehuman.brain.server import realtime_routes
            except ImportError:
                log.warning("the /v1/realtime endpoint is not available in this build")
            else:
                limits = self.config.realtime_limits or RealtimeLimits(max_connections=self.config.max_sessions)
                realtime_routes(app, self.config.realtime_brain_factory, limits=limits,
                                on_event=self.metrics.realtime_event)
        for routes, start, stop in self._extensions:
            routes(app)
            if start is not None:
                app.on_startup.append(lambda app, start=start: start())
            if stop is not None:  # on shutdown, before aiohttp waits for the open requests to end
                app.on_shutdown.append(lambda app, stop=stop: stop())
        for step in self._startup_steps():
            app.on_startup.append(step)
        app.on_shutdown.append(self._shutdown)
        self._app = app
        return app

    async def _warm_up(self, app: web.Application | None) -> None:
        await asyncio.to_thread(self.config.warm_up)
        self._warm = True

    def _startup_steps(self) -> list[Callable[[web.Application | None], Awaitable[None]]]:
        """What starting the server does, in order: models warm, start-up objects frozen, closed
        peers quieted."""
        steps = [self._warm_up] if self.config.warm_up is not None else []
        return steps + [self._freeze_startup_objects, self._quiet_closed_peers]

    async def start_without_http(self) -> None:
        """The start-up steps, for a server whose offers come from elsewhere (a cluster's node,
        cluster/node.py)."""
        for step in self._startup_steps():
            await step(None)

    async def _quiet_closed_peers(self, app: web.Application | None) -> None:
        quiet_closed_peers(asyncio.get_running_loop())

    async def _freeze_startup_objects(self, app: web.Application | None) -> None:
        # The models loaded at start-up are millions of Python objects that live as long as the
        # server. Left to the garbage collector, every full collection walks them all: a ~220 ms
        # stop of every session's media. Frozen, they are never walked again; the collector still
        # frees what sessions leave behind.
        gc.collect()
        gc.freeze()

    async def index(self, request: web.Request) -> web.StreamResponse:
        html = (WEB_DIR / "index.html").read_text(encoding="utf-8")
        if self.config.access.token is not None:  # the page then asks for the token before it connects
            html = html.replace('<meta name="livehuman-access" content="open">',
                                '<meta name="livehuman-access" content="token">', 1)
        if self.uploads is None:  # the page then hides its upload control
            html = html.replace('<meta name="livehuman-uploads" content="on">',
                                '<meta name="livehuman-uploads" content="off">', 1)
        key, theme = self._theme()
        html = themed_page(html, theme.public(key))
        return web.Response(text=html, content_type="text/html", headers={"Cache-Control": "no-cache"})

    def _theme(self, key: str | None = None) -> tuple[str, PageTheme | None]:
        """A persona's key and page theme (None: the default persona's; a server without personas
        has the key "_"); no theme for a key that is not one."""
        personas = self.config.personas
        if not personas:
            return "_", self.config.page if key in (None, "_") else None
        key = next(iter(personas)) if key is None else key
        setup = personas.get(key)
        return key, setup.theme if setup is not None else None

    async def logo(self, request: web.Request) -> web.StreamResponse:
        """A persona's logo file (GET /logos/KEY), as checked when the server started."""
        key = request.match_info["key"]
        _, theme = self._theme(key)
        path = Path(theme.logo) if theme is not None and theme.logo and not theme.logo.startswith("https://") else None
        kind = image_type(path) if path is not None and path.is_file() else None
        if kind is None:
            raise web.HTTPNotFound()
        # An SVG opened on its own must not run script in the server's origin.
        return web.Response(body=path.read_bytes(), content_type=kind, headers={
            "Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; sandbox"})

    def _places(self) -> tuple[int, int]:
        """(places taken, places in all): this process's, or its cluster's."""
        return self.placer.places() if self.placer is not None else (self.active, self.config.max_sessions)

    async def healthz(self, request: web.Request) -> web.Response:
        if self.placer is not None:
            return web.json_response(health(*self.placer.places()))
        return web.json_response(health(len(self.sessions), self.config.max_sessions))

    async def readyz(self, request: web.Request) -> web.Response:
        active, max_sessions = self._places()
        status, body = readiness(warm=self._warm, closing=self._closing, active=active, max_sessions=max_sessions)
        return web.json_response(body, status=status)

    async def stats(self, request: web.Request) -> web.Response:
        return web.json_response(stats(self.sessions, self.config.max_sessions))

    async def prometheus(self, request: web.Request) -> web.Response:
        return web.Response(body=self.metrics.render(), headers={"Content-Type": METRICS_CONTENT_TYPE})

    def _realtime_connections(self) -> int:
        if self._app is None or self.config.realtime_brain_factory is None:
            return 0
        from livehuman.brain.server import open_connections

        return open_connections(self._app)

    async def _counted_offer(self, request: web.Request) -> web.Response:
        response = await self.offer(request)
        self.metrics.offer(response.status)
        return response

    async def ice_servers(self, request: web.Request) -> web.Response:
        """The STUN and TURN servers for the page's peer connection (`serve --ice-server`; live/ice.py)."""
        return web.json_response({"iceServers": self.config.ice.browser()}, headers={"Cache-Control": "no-store"})

    async def personas(self, request: web.Request) -> web.Response:
        """The personas a page may choose, the default first: key, name, greeting."""
        return web.json_response({"personas": [
            {"key": key, "name": setup.persona.name, "greeting": setup.persona.greeting,
             "theme": setup.theme.public(key)}
            for key, setup in self.config.personas.items()]})

    async def offer(self, request: web.Request) -> web.Response:
        """Answer a WebRTC offer with a new session (ICE gathered in the answer, no trickle)."""
        if request.content_type != "application/json":
            # JSON only: a page on another site cannot then post an offer without a CORS preflight.
            return web.json_response({"error": "send the offer as application/json"}, status=415)
        try:
            params = await request.json()
        except web.HTTPRequestEntityTooLarge:
            return web.json_response({"error": f"the offer is larger than {MAX_OFFER_BYTES // 1024} kB"}, status=413)
        except Exception:
            return _bad("the body must be JSON: {\"sdp\": \"v=0…\", \"type\": \"offer\"}")
        if not isinstance(params, dict) or params.get("type") != "offer" or not isinstance(params.get("sdp"), str):
            return _bad("expected {\"sdp\": \"v=0…\", \"type\": \"offer\"}")
        sdp = params["sdp"]
        if not sdp.startswith("v=0"):
            return _bad("the offer's sdp is not an SDP description (it must start with v=0)")
        offer = Offer(sdp, params.get("persona"), params.get("avatar"))
        if (why := self._refusal(offer) or offer_problem(sdp)) is not None:  # said here, not by a node
            return _bad(why)
        if self.placer is None:
            status, body = await self.answer_offer(offer)
        else:  # a cluster: the least-loaded node answers (cluster/front.py)
            status, body = await self.placer.place(offer)
        return web.json_response(body, status=status)

    def _refusal(self, offer: Offer) -> str | None:
        """What is wrong with an offer's persona or avatar for this server; None: nothing."""
        personas = self.config.personas
        if offer.persona is not None and not (isinstance(offer.persona, str) and offer.persona in personas):
            names = ", ".join(personas) or "none: this server has no persona list"
            return f"unknown persona {offer.persona!r}: choose one of {names}"
        if offer.avatar is not None:
            return "this server takes no uploaded avatars" if self.uploads is None else self.uploads.check_offer(offer.avatar)
        return None

    async def answer_offer(self, offer: Offer) -> tuple[int, dict]:
        """(HTTP status, body) for an offer checked by `offer()`: the answer and the new session, or
        why there is none. A cluster's node calls it for the offers placed on it (cluster/node.py)."""
        why = self._refusal(offer)
        if why is not None:
            return 400, {"error": why}
        if self.active >= self.config.max_sessions and not await self._place_frees(FULL_GRACE_S):
            return 503, {"error": f"the server is busy ({self.config.max_sessions} conversations at once); "
                                  "try again in a minute"}
        self._starting += 1
        try:
            return await self._answer(offer)
        finally:
            self._starting -= 1

    async def _place_frees(self, within: float) -> bool:
        """Whether a place frees up within `within` seconds of the server's own time. A visitor who
        hangs up and connects again at once (a reload, a persona switch) reaches /offer before the
        server has seen the old connection close; refusing them would be a "busy" that is not true.

        The grace is counted in turns of the event loop, not by the clock: an overloaded server
        whose loop lags seconds also takes seconds to read a hang-up, and by the clock alone it
        turned a quarter of such reconnections away (a 30-minute soak at twice its capacity)."""
        deadline = time.monotonic() + FULL_GRACE_MAX_S
        for _ in range(round(within / GRACE_POLL_S)):
            await asyncio.sleep(GRACE_POLL_S)
            if self.active < self.config.max_sessions:
                return True  # the caller takes the place before it awaits anything
            if time.monotonic() > deadline:
                break
        return False

    def _persona_setup(self, key: str | None) -> PersonaSetup | None:
        """The persona an offer asks for (checked by `_refusal`; None: the default one)."""
        personas = self.config.personas
        return next(iter(personas.values()), None) if key is None else personas[key]

    async def _answer(self, offer: Offer) -> tuple[int, dict]:
        setup, avatar = self._persona_setup(offer.persona), offer.avatar
        session_id = secrets.token_hex(6)
        pc = RTCPeerConnection(RTCConfiguration(iceServers=self.config.ice.aiortc()))
        tracks: list = []
        pc.on("track", tracks.append)  # fires inside setRemoteDescription, before the session exists
        try:
            await pc.setRemoteDescription(RTCSessionDescription(sdp=offer.sdp, type="offer"))
        except Exception as exc:
            await pc.close()
            return 400, {"error": f"the offer is not a valid SDP offer: {exc}"}
        try:
            config = self.config
            brain = (setup.brain_factory if setup else config.brain_factory)()
            if inspect.isawaitable(brain):
                brain = await brain
            face = setup.face if setup else FaceParts(config.avatar, config.engine_factory, config.lipsync_factory,
                                                      config.idle_factory)
            if avatar is not None:  # an uploaded face: its own in-process engine, kept for later sessions
                face = await asyncio.to_thread(self.uploads.face, avatar, face)
            engine = await asyncio.to_thread(face.engine_factory)
            natural = getattr(brain, "natural_voice", False)
            renderer = FaceRenderer(engine, face.avatar, face.lipsync_factory, face.idle_factory,
                                    persona=setup.persona if setup else None, voice=NATURAL if natural else None)
            if natural and config.reply_phones is not None:
                self._lend_phones(renderer)
        except Exception as exc:  # a brain that cannot start (bad key, unreachable server): say so
            log.warning("session %s: cannot start: %s", session_id, exc)
            await pc.close()
            message = str(exc) if isinstance(exc, LivehumanError) else f"cannot start a conversation: {exc}"
            return 500, {"error": message}
        session = Session(session_id, brain, renderer, on_closed=self._forget,
                          inactivity_timeout=self.config.inactivity_timeout,
                          persona=setup.persona if setup else None, greet=self.config.greet,
                          personas=tuple(self.config.personas))
        self.sessions[session_id] = session
        self._peers[session_id] = pc
        for track in tracks:
            if track.kind == "audio":
                session.attach_microphone(track)

        @pc.on("datachannel")
        def on_datachannel(channel) -> None:
            if channel.label == "events":
                session.attach_channel(channel)

        connected = asyncio.Event()

        @pc.on("connectionstatechange")
        async def on_state() -> None:
            log.info("session %s: connection %s", session_id, pc.connectionState)
            if pc.connectionState == "connected":
                connected.set()
            if pc.connectionState in ("failed", "closed"):
                await session.close(f"connection {pc.connectionState}")

        try:
            pc.addTrack(session.audio_track)
            video = pc.addTrack(session.video_track)
            for transceiver in pc.getTransceivers():
                if transceiver.kind == "audio":
                    # The voice track hands aiortc Opus packets it encoded itself: Opus it must be.
                    transceiver.setCodecPreferences(OPUS)
                    hear_promptly(transceiver.receiver)
            await pc.setLocalDescription(await pc.createAnswer())
            encode_rendered(pc, video)
            await session.start()
        except Exception as exc:
            log.warning("session %s: cannot answer the offer: %s", session_id, exc)
            await session.close(f"cannot answer the offer: {exc}")
            return 400, {"error": f"cannot answer this offer: {exc}"}
        asyncio.ensure_future(self._expect_connection(session, connected))
        log.info("session %s: started (%d of %d)", session_id, len(self.sessions), self.config.max_sessions)
        return 200, {"sdp": pc.localDescription.sdp, "type": pc.localDescription.type,
                     "session": session_id, "persona": setup.persona.key if setup else None,
                     "avatar": getattr(face.avatar, "name", None)}

    async def _expect_connection(self, session: Session, connected: asyncio.Event) -> None:
        timeout = self.config.connect_timeout
        try:
            await asyncio.wait_for(connected.wait(), timeout)
        except asyncio.TimeoutError:
            await session.close(f"the client did not connect within {timeout:g} s")

    def _lend_phones(self, renderer: FaceRenderer) -> None:
        """Lend the session a recognizer of its replies' phones, in the background: the session
        starts at once, and its replies use it from when it comes (a pool's new one takes ~0.6 s)."""
        pool = self.config.reply_phones

        async def lend() -> None:
            try:
                recognizer = await asyncio.to_thread(pool.acquire)
            except Exception as exc:  # the mouth follows the sound alone, as without a recognizer
                log.warning("no recognizer for a reply's phones: %s", exc)
                return
            renderer.hear_phones_with(recognizer, pool.release)

        task = asyncio.ensure_future(lend())
        self._lending.add(task)
        task.add_done_callback(self._lending.discard)

    def _forget(self, session: Session) -> None:
        if self.sessions.pop(session.id, None) is not None:
            self.metrics.session_ended(session)
        pc = self._peers.pop(session.id, None)
        if pc is not None:
            asyncio.ensure_future(pc.close())
        self._collect_soon()

    def _collect_soon(self) -> None:
        # An ended session is left in reference cycles, holding its codecs' native threads and
        # ~20-60 MB, until a full collection, which with the start-up objects frozen comes rarely
        # (a soak: 23 -> 55 threads, +20 % memory). One full collection a moment after a session
        # ends (its peer connection closed by then) frees them; it takes ~30 ms.
        if not self._collect_pending:
            self._collect_pending = True
            asyncio.get_running_loop().call_later(GC_AFTER_SESSION_S, self._collect)

    def _collect(self) -> None:
        self._collect_pending = False
        gc.collect()
        if self._release_free_memory is not None:  # what the collection freed, back to the system
            asyncio.get_running_loop().run_in_executor(None, self._release_free_memory)

    async def close(self) -> None:
        """End every session."""
        for session in list(self.sessions.values()):
            await session.close("server shutdown")

    async def _shutdown(self, app: web.Application) -> None:
        self._closing = True
        await self.close()
        self.close_resources()

    def close_resources(self) -> None:
        """Close what the server holds beyond its sessions (a render pool); calling it again is harmless."""
        for resource in self.config.resources:
            try:
                resource.close()
            except Exception:  # the others must still be closed
                log.exception("could not close %r", resource)


def _bad(message: str) -> web.Response:
    return web.json_response({"error": message}, status=400)


# -- building a server from options ----------------------------------------------------------------


def local_brain_factory(persona: str | None = None, knowledge: str | None = None, voice: str | None = None,
                        llm_url: str | None = None, llm_model: str | None = None,
                        asr_model_dir: str | None = None, silence_ms: int | None = None,
                        end_of_turn: str = "auto", turn_pause_ms: int | None = None,
                        turn_limit_ms: int | None = None, turn_unsure_ms: int | None = None,
                        barge_in_ms: int | None = None, asr_processes: bool | None = None) -> LocalBrainFactory:
    """The offline brains of `livehuman serve`: ready when their session starts, tuned for conversation.

    `end_of_turn` "model": the turn ends when the end-of-turn model and the user's words say it is
    complete after `turn_pause_ms` of silence, or after `turn_limit_ms` (brain/turn_end.py's
    defaults); "vad": after `silence_ms` (LIVE_SILENCE_MS); "auto" (the default): the model's way for
    a voice that sounds like a person's, the fixed silence for a synthesizer's. The reply is prepared from
    LIVE_PAUSE_MS of silence on (model mode: from `turn_pause_ms`), held until the turn ends, and the recognizer skips pocketsphinx's
    second pass (it costs ~170 ms at the end of every turn, holding the GIL). Speech over a reply
    stops it once it has gone on `barge_in_ms` (brain/barge_in.py; None: its default, 0: at once).
    `asr_processes`: each session's recognizer decodes in a process of its own (None: so for
    pocketsphinx, which holds the GIL, so that sessions speaking at once are heard side by side;
    not for faster-whisper, which releases it). Call its `warm_up(sessions)` at start-up, and its
    `close()` when done.
    """
    # Imported here: the brain package loads the openai package's types (~0.4 s).
    from livehuman.brain.barge_in import BargeInRule
    from livehuman.brain.local_factory import LocalBrainFactory

    silence = int(LIVE_SILENCE_MS if silence_ms is None else silence_ms)
    turns = {k: v for k, v in (("turn_pause_ms", turn_pause_ms), ("turn_limit_ms", turn_limit_ms),
                               ("turn_unsure_ms", turn_unsure_ms)) if v is not None}
    barge_in = BargeInRule() if barge_in_ms is None else BargeInRule(confirm_ms=barge_in_ms)
    if barge_in_ms == 0:
        barge_in = None  # any speech stops the avatar at once, as before the rule
    return LocalBrainFactory(persona, knowledge, voice=voice, llm_url=llm_url, llm_model=llm_model,
                             asr_model_dir=asr_model_dir, silence_ms=silence,
                             speculate_ms=min(LIVE_PAUSE_MS, silence // 2), asr_second_pass=False, eager=True,
                             end_of_turn=end_of_turn, **turns, barge_in=barge_in,
                             asr_processes=asr_model_dir is None if asr_processes is None else asr_processes)


@dataclass
class FaceParts:
    """What every session's face is made of: one avatar, and makers of its engine, lip sync and idle motion."""

    avatar: Any
    engine_factory: Callable[[], Any]
    lipsync_factory: Callable[..., Any]
    idle_factory: Callable[[], Any]
    resources: list = field(default_factory=list)  # closed with the server (a render pool)


def default_face_factories(avatar_name: str = "default", engine: str = "cpu", models_dir: str | None = None,
                           render_workers: int | None = None, engine_options: dict | None = None) -> FaceParts:
    """The face parts for the named avatar and engine.

    One engine serves every session. The cpu engine draws in `render_workers` processes (one per
    core by default; 0: each session draws in its own thread, inside the server's process); the
    musetalk engine is loaded once and batches the frames that sessions ask for together.
    `engine_options` go to `make_engine` (musetalk's device, dtype, compile, batch_size).
    """
    from livehuman.avatar.cache import load_avatar
    from livehuman.motion.stream import IdleMotion, StreamingLipSync
    from livehuman.render.engines import make_engine
    from livehuman.render.pool import PooledEngine, RenderPool

    options = {key: value for key, value in (engine_options or {}).items() if value is not None}
    shared = make_engine(engine, models_dir, **options)  # bad options fail before the avatar loads
    avatar = load_avatar(avatar_name)
    fps = 25.0
    resources: list = []
    if engine == "cpu" and render_workers != 0:
        pool = RenderPool(avatar, render_workers)
        resources.append(pool)
        shared = PooledEngine(pool)
    else:
        shared.load(avatar)

    def engine_factory():
        # One engine serves every session: the cpu engine keeps its rigs in the avatar, the pool
        # and MuseTalk's batcher take frames from many threads at once.
        return shared

    def lipsync_factory(voice: str = SYNTHETIC):
        return _construct(StreamingLipSync, fps=fps, voice=voice)

    def idle_factory(**persona_idle):
        # Each session its own seed, so that two avatars side by side do not blink in step.
        # `persona_idle`: a persona's idle settings (blink_rate), for an IdleMotion that takes them.
        return _construct(IdleMotion, fps=fps, seed=secrets.randbelow(2**31), **persona_idle)

    return FaceParts(avatar, engine_factory, lipsync_factory, idle_factory, resources)


def _construct(cls, **wanted):
    """`cls` built with those of `wanted` that its constructor takes."""
    params = inspect.signature(cls).parameters
    return cls(**{k: v for k, v in wanted.items() if k in params})


def build_live_server(avatar: str | None = None, persona: Any = None, brain: str | None = None,
                      max_sessions: int = 4, knowledge: str | None = None, voice: str | None = None,
                      llm_url: str | None = None, llm_model: str | None = None, asr_model_dir: str | None = None,
                      model: str | None = None, realtime_url: str | None = None, engine: str = "cpu",
                      models_dir: str | None = None, brain_options: dict | None = None,
                      silence_ms: int | None = None, render_workers: int | None = None,
                      engine_options: dict | None = None, access: Access | None = None,
                      turn_options: dict | None = None, greet: bool = True,
                      page: PageTheme | None = None, uploads: UploadLimits | None = UploadLimits(),
                      ice: IceSettings | None = None, reply_phones: bool = True) -> LiveServer:
    """A LiveServer with the named avatar, engine and brain (local, openai or realtime).

    `persona`: persona files or folders (brain/persona.py; None: the built-in persona); the page
    chooses among them, the first is the default. `avatar`, `brain`, `model` and `voice`, when
    given, override every persona's own (None: each persona's, else "default", "local",
    "gpt-realtime"). `greet`: each session opens with its persona's greeting.

    `brain_options` go to the Realtime brain (turn detection, transcription model, noise
    reduction, speed…; see brain/openai_brain.py). `silence_ms` is the offline brain's end-of-turn
    silence in "vad" mode (LIVE_SILENCE_MS by default; 250 answers ~50 ms sooner and cuts off more
    mid-sentence pauses); `turn_options` its end_of_turn, turn_pause_ms, turn_unsure_ms and turn_limit_ms
    (see local_brain_factory; default: "auto", the model for people's voices, the fixed silence for synthesizers').
    `render_workers`: processes that draw the cpu engine's frames (default one per core; 0: none).
    `engine_options`: the musetalk engine's device, dtype, compile and batch_size.
    `access`: the token and allowed origins (live/access.py; default: none, own origin only).
    `page`: the page's title, accent and logo from `serve` flags, over every persona's [page] (theme.py).
    `uploads`: what `POST /avatars` takes (avatar/upload.py; None: no uploads).
    `ice`: STUN and TURN servers for visitors behind NAT (live/ice.py; default: none).
    `reply_phones`: a remote brain's replies (no phone timings) have the phones heard in them blend
    into the frames that can wait for them (motion/phone_blend.py), by a recognizer in a process of
    its own lent to each such session (~60 MB; ~0.1 core while a reply's audio comes in).
    """
    if max_sessions < 1:
        raise LivehumanError("--max-sessions must be at least 1")
    if render_workers is not None and render_workers < 0:
        raise LivehumanError("--render-workers must be 0 (draw in the server's process) or more")
    if render_workers and engine != "cpu":
        raise LivehumanError("--render-workers is for the cpu engine (the musetalk engine batches on its GPU)")
    from livehuman.brain.persona import load_personas
    from livehuman.motion.stream import IdleMotion

    personas = load_personas(persona)  # a bad file is refused before any model loads
    faces: dict[str, FaceParts] = {}  # personas with the same avatar share its face (and render pool)
    setups: dict[str, PersonaSetup] = {}
    offline: list[LocalBrainFactory] = []
    wants_reply_phones, phones = reply_phones, None  # recognizers of a remote brain's replies' phones
    for one in personas:
        kind = brain or ("local" if one.brain == "offline" else one.brain)
        # The persona's offline brains: its own, or the fallback of a remote one.
        local = local_brain_factory(one, knowledge, voice if kind == "local" else None, llm_url, llm_model,
                                    asr_model_dir, silence_ms, **(turn_options or {}))
        offline.append(local)
        if kind == "local":
            factory: BrainFactory = local
        elif kind in ("openai", "realtime"):
            url = realtime_url or one.brain_url
            if kind == "realtime" and not url:
                raise LivehumanError("--brain realtime needs --realtime-url ws://HOST:PORT/v1")
            from livehuman.brain.fallback import with_fallback
            from livehuman.brain.openai_brain import remote_brain_factory

            # With a remote brain, --voice names one of its voices, not espeak-ng's: the offline
            # brain (which serves /v1/realtime and takes over when the remote one gives up) keeps its own.
            remote = remote_brain_factory(kind, model=model or one.brain_model or "gpt-realtime",
                                          voice=voice or one.brain_voice, realtime_url=url, persona=one,
                                          **(brain_options or {}))
            factory = with_fallback(remote, local)
            if wants_reply_phones and phones is None:
                from livehuman.brain.recognizer import PhonesPool

                phones = PhonesPool()
        else:
            raise LivehumanError(f"unknown brain {kind!r}: choose local, openai or realtime")
        face_name = avatar or one.avatar or "default"
        if face_name not in faces:
            try:
                faces[face_name] = default_face_factories(face_name, engine, models_dir, render_workers,
                                                          engine_options)
            except BaseException:  # the render pools already started must not outlive the error
                for made in faces.values():
                    for resource in made.resources:
                        resource.close()
                raise
        face = faces[face_name]
        if one.blink_rate != 1.0:
            if "blink_rate" not in inspect.signature(IdleMotion).parameters:
                log.warning("persona %s: this build's idle motion has no blink rate; blink_rate is not applied",
                            one.name)
            face = replace(face, idle_factory=functools.partial(face.idle_factory, blink_rate=one.blink_rate))
        setups[one.key] = PersonaSetup(one, factory, face, (page or PageTheme()).over(one.theme))
    first = setups[personas[0].key]
    face, local = first.face, offline[0]
    return LiveServer(LiveConfig(brain_factory=first.brain_factory, engine_factory=face.engine_factory,
                                 avatar=face.avatar, lipsync_factory=face.lipsync_factory,
                                 idle_factory=face.idle_factory, max_sessions=max_sessions,
                                 realtime_brain_factory=local,
                                 warm_up=functools.partial(_warm_up_all, offline, max_sessions, phones),
                                 resources=[r for f in faces.values() for r in f.resources] + offline
                                 + ([phones] if phones is not None else []),
                                 reply_phones=phones,
                                 access=access or Access(), personas=setups, greet=greet,
                                 page=page or PageTheme(), uploads=uploads, ice=ice or IceSettings()))


def _warm_up_all(factories: list, sessions: int, reply_phones=None) -> None:
    """The default persona's brains for every session; the others' for one (more are built as
    needed); one recognizer of a remote brain's replies' phones."""
    from livehuman.emotion.text import text_emotion

    text_emotion("ready")  # VADER's lexicon, loaded once, not in a session's first turn
    for i, factory in enumerate(factories):
        factory.warm_up(sessions if i == 0 else 1)
    if reply_phones is not None:
        reply_phones.release(reply_phones.acquire())


def run_server(host: str = "127.0.0.1", port: int = 8080, avatar: str | None = None, persona: Any = None,
               brain: str | None = None, max_sessions: int = 4, tls_cert: str | None = None,
               tls_key: str | None = None, token: str | None = None, no_auth: bool = False,
               cors_origins: tuple[str, ...] | list[str] = (),
               build: Callable[..., LiveServer] = build_live_server, **options) -> None:
    """Serve the page and its conversations until interrupted (`livehuman serve`).

    `build` makes the server from the options (a cluster's front door: cluster/front.py's front_door).

    With `tls_cert` (and `tls_key`, unless the certificate file holds the key too) it serves https,
    so browsers on other machines give the page their microphone. Beyond a loopback address it
    needs an access `token` or an explicit `no_auth`; `cors_origins` may use it from other sites
    (live/access.py).
    """
    # SIGTERM (a service manager, `docker stop`) stops the server as Ctrl+C does, whenever it comes:
    # while the render workers start, while the models warm up (aiohttp then skips its shutdown
    # handlers), or later; either way the finally below stops the workers and frees their memory.
    signal.signal(signal.SIGTERM, _interrupt)
    ssl_context = tls_context(tls_cert, tls_key)
    sock = listen_socket(host, port)  # a port in use is said at once, not after the models load
    try:
        # The address bound, not the name asked for: "localhost" may be loopback, "0.0.0.0" is not.
        access = access_settings(is_loopback(sock.getsockname()[0]), token, no_auth, cors_origins)
        server = build(avatar=avatar, persona=persona, brain=brain, max_sessions=max_sessions, access=access,
                       **options)
    except BaseException:
        sock.close()
        raise
    url = f"{'https' if ssl_context else 'http'}://{'[' + host + ']' if ':' in host else host}:{port}/"
    print(f"livehuman: warming up the models for {url} …", flush=True)

    def ready(_message: str) -> None:  # aiohttp calls this once the models are warm and it answers
        chosen = server.config.personas
        first = next(iter(chosen.values()), None)
        names = ", ".join(setup.persona.name for setup in chosen.values())
        print(f"livehuman: open {url} (persona{'s' if len(chosen) > 1 else ''}: {names}; brain: "
              f"{brain or (first.persona.brain if first else 'local')}, avatar: "
              f"{avatar or (first.face.avatar.name if first else 'default')}; Ctrl+C to stop)", flush=True)

    try:
        web.run_app(server.app(), sock=sock, print=ready, ssl_context=ssl_context, loop=new_event_loop())
    finally:
        sock.close()
        server.close_resources()


def themed_page(html: str, theme: dict) -> str:
    """index.html with a theme (PageTheme.public): the title escaped as text, the colours (checked
    CSS colours, theme.py) as the page's custom properties, the logo's address escaped."""
    if theme.get("title"):
        title = html_text.escape(theme["title"], quote=False)
        html = html.replace("<title>livehuman</title>", f"<title>{title}</title>", 1)
        html = html.replace('<span id="title">livehuman</span>', f'<span id="title">{title}</span>', 1)
    colours = "; ".join(f"--{name}: {theme[name]}" for name in ("accent", "background", "text") if theme.get(name))
    if colours:
        html = html.replace('<html lang="en">', f'<html lang="en" style="{html_text.escape(colours)}">', 1)
    if theme.get("logo"):
        html = html.replace('<img id="logo" class="logo" alt="" hidden>',
                            f'<img id="logo" class="logo" alt="" src="{html_text.escape(theme["logo"])}">', 1)
    return html


def tls_context(cert: str | None, key: str | None) -> ssl.SSLContext | None:
    """The server's TLS settings from a PEM certificate (chain) and key, or None for plain http."""
    if cert is None:
        if key is not None:
            raise LivehumanError("--tls-key needs --tls-cert (the certificate it belongs to)")
        return None
    for path in (cert, key):
        if path is not None and not Path(path).is_file():
            raise LivehumanError(f"cannot read the TLS certificate or key {path}: no such file")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    try:
        context.load_cert_chain(cert, key)
    except (ssl.SSLError, OSError) as exc:
        raise LivehumanError(f"cannot use the TLS certificate {cert}"
                             f"{' with the key ' + key if key else ''}: {exc.strerror or exc}") from None
    return context


def listen_socket(host: str, port: int) -> socket.socket:
    """A listening TCP socket on host:port, or one clear line saying why there cannot be one."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM,
                                                             flags=socket.AI_PASSIVE)[0]
    except socket.gaierror as exc:
        raise LivehumanError(f"cannot listen on {host}: {exc.strerror}") from None
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # restart at once after a stop
    try:
        sock.bind(address)
        sock.listen(128)
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise LivehumanError(f"port {port} on {host} is in use: stop what uses it or choose another "
                                 f"with --port") from None
        raise LivehumanError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    sock.setblocking(False)
    return sock


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt
