"""The front door of a cluster: places each new session on the least-loaded node, watches the
nodes, and tells the visitors of a lost node to connect again (`serve --cluster`).

Every `POLL_S` the front door asks each node's NodeHost for its load (node.py). Placing an offer
is then one call to the chosen node, whose answer carries that node's own addresses: the media
never pass through the front door. A node that stops answering for `LOST_AFTER_S`, or whose actor
or machine Ray reports dead, is lost: its visitors' lifelines (`GET /sessions/{id}/lifeline`) end
with a `closed` message asking them to reconnect, which lands them on a surviving node. When the
node answers again it ends whatever sessions it still holds (their visitors have gone elsewhere)
and takes new ones.

The NodeHosts are detached, named actors: a front door that restarts finds them, and their
sessions, again.
"""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import time
from dataclasses import dataclass, field, replace
from typing import Any

import ray
from aiohttp import web
from ray.exceptions import ActorUnavailableError, RayActorError
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

from livehuman.cluster.bundle import NodeRecipe, node_recipe, pack_folders
from livehuman.cluster.drive import DriveProxy
from livehuman.cluster.node import NodeHost
from livehuman.cluster.placement import NodeLoad, choose_node
from livehuman.errors import LivehumanError
from livehuman.live.drive import lists_sessions
from livehuman.live.server import FULL_GRACE_S, LiveServer, Offer, build_live_server
from livehuman.live.uploads import Uploads

log = logging.getLogger("livehuman.cluster")

NAMESPACE = "livehuman"
ACTOR_PREFIX = "livehuman-node-"
POLL_S = 0.5  # how often each node reports its load
LOST_AFTER_S = 3.0  # a node silent this long is lost: its visitors reconnect elsewhere
RETRY_ACTOR_S = 5.0  # a node whose actor died gets a new one at most this often
LIFELINE_KEEPALIVE_S = 10.0  # a blank line this often keeps proxies from closing a quiet lifeline
LOST_MESSAGE = "the machine serving this conversation stopped; connecting again"
ENDED_KEPT_S = 60.0  # a lifeline asked for this long after its session ended still says how it ended


@dataclass
class _Node:
    node_id: str
    address: str
    actor: Any = None  # the NodeHost's actor handle (None: it died; a new one is made)
    load: NodeLoad | None = None  # its last report
    seen: float = field(default_factory=time.monotonic)  # when it last answered
    asked: float = 0.0  # when its last report was asked for
    lost: bool = False
    retry_at: float = 0.0
    reporting: bool = False  # a report is on its way (a node still building its server takes a while)


class Cluster:
    """The nodes of a Ray cluster as seen from the front door; `place` answers offers on them."""

    def __init__(self, address: str, recipe: NodeRecipe, *, uploads: Uploads | None = None, poll_s: float = POLL_S,
                 lost_after_s: float = LOST_AFTER_S, namespace: str = NAMESPACE):
        self.address, self.namespace = address, namespace
        self._uploads = uploads  # the front door's: uploads are prepared here, and go to a node with their first offer
        self.poll_s, self.lost_after_s = poll_s, lost_after_s
        self._recipe = recipe
        self._recipe_ref = None
        self._nodes: dict[str, _Node] = {}
        self._placed: dict[str, tuple[str, float]] = {}  # session id -> (node id, when placed)
        self._ends: dict[str, asyncio.Future] = {}  # session id -> its lifeline's last message
        self._answering: dict[str, int] = {}  # node id -> offers it is answering now
        self._watching: asyncio.Task | None = None
        self._reports: set[asyncio.Task] = set()

    # -- connecting and watching ---------------------------------------------------------------

    async def start(self) -> None:
        """Join the cluster, find the nodes (and the sessions of a front door that ran before)."""
        await asyncio.to_thread(self._connect)
        self._recipe_ref = ray.put(self._recipe)  # one copy in the object store, for every node
        await self.refresh()
        self._watching = asyncio.ensure_future(self._watch())

    def _connect(self) -> None:
        # Ray finds "its" raylet among the machine's processes; where several nodes share a process
        # table (containers, network namespaces) it may pick another's. Naming this machine's
        # address, as the head sees it, picks the right one.
        plain = self.address != "auto" and "://" not in self.address  # HOST:PORT of the head
        here = {"_node_ip_address": _address_towards(self.address)} if plain else {}
        try:
            ray.init(address=self.address, namespace=self.namespace, log_to_driver=False,
                     logging_level=logging.WARNING, **here)
        except (ConnectionError, RuntimeError, ValueError) as exc:
            raise LivehumanError(f"cannot join the Ray cluster at {self.address}: {exc}") from None

    async def close(self) -> None:
        """Stop watching and leave the cluster. The nodes and their sessions go on (a front door
        started again finds them); the lifelines end with a `detached` message, which asks nothing
        of the visitors."""
        if self._watching is not None:
            self._watching.cancel()
        for task in self._reports:
            task.cancel()
        for end in self._ends.values():
            if not end.done():
                end.set_result({"type": "detached", "reason": "the front door is restarting; the conversation goes on"})
        await asyncio.to_thread(ray.shutdown)

    async def _watch(self) -> None:
        while True:
            await asyncio.sleep(self.poll_s)
            try:
                await self.refresh()
            except Exception:  # one bad poll must not stop the watching
                log.exception("cluster: could not poll the nodes")

    async def refresh(self) -> None:
        """Ask every node for its load; make hosts on new machines, lose the silent ones."""
        now = time.monotonic()
        alive = {info["NodeID"]: info for info in await asyncio.to_thread(ray.nodes)
                 if info.get("Alive") and info.get("Resources", {}).get("CPU", 0) > 0}
        for node_id, info in alive.items():
            node = self._nodes.setdefault(node_id, _Node(node_id, info["NodeManagerAddress"]))
            if node.actor is None and now >= node.retry_at:
                node.actor, node.retry_at = self._host(node), now + RETRY_ACTOR_S
        for node in list(self._nodes.values()):
            if node.node_id not in alive:
                self._lose(node, "the machine left the cluster")
                del self._nodes[node.node_id]
        for node in self._nodes.values():
            if node.actor is not None:  # each on its own: a node still building its server holds up no other
                task = asyncio.ensure_future(self._report(node))
                self._reports.add(task)
                task.add_done_callback(self._reports.discard)

    def _host(self, node: _Node):
        """The NodeHost actor of a machine: found by name (made by an earlier front door) or made."""
        return ray.remote(NodeHost).options(
            name=ACTOR_PREFIX + node.node_id, namespace=self.namespace, get_if_exists=True, lifetime="detached",
            num_cpus=0, max_restarts=0, max_concurrency=1000,
            scheduling_strategy=NodeAffinitySchedulingStrategy(node.node_id, soft=False),
        ).remote(self._recipe_ref, node.node_id, node.address)

    async def _report(self, node: _Node) -> None:
        if node.reporting:
            if node.load is not None and time.monotonic() - node.seen > self.lost_after_s:
                self._lose(node, f"no answer for {self.lost_after_s:g} s")
            return
        node.reporting, asked = True, time.monotonic()
        try:
            load = await _awaitable(node.actor.report.remote())
        except ActorUnavailableError as exc:  # unreachable for now: it may come back
            self._lose(node, f"its host is unreachable: {_first_line(exc)}")
            return
        except RayActorError as exc:  # dead: the next poll makes a new host if the machine is still there
            node.actor, node.load = None, None
            self._lose(node, f"its host stopped: {_first_line(exc)}")
            return
        finally:
            node.reporting = False
        if node.lost:  # back: its visitors were sent elsewhere, so what it still holds is nobody's
            try:
                ended = await _awaitable(node.actor.end_sessions.remote("the front door lost sight of this machine"))
            except RayActorError:
                return  # gone again
            log.info("cluster: node %s is back (%d stale sessions ended)", node.address, ended)
            node.lost = False
            load = replace(load, sessions=[])
        node.load, node.seen, node.asked = load, time.monotonic(), asked
        for session_id, (node_id, placed) in list(self._placed.items()):
            # A session placed before this report was asked for, and not in it, has ended.
            if node_id == node.node_id and placed < asked and session_id not in load.sessions:
                self._end(session_id, {"type": "closed", "reason": "the conversation ended", "reconnect": False})
        for session_id in load.sessions:  # a front door that restarted learns its sessions here
            if session_id not in self._placed:
                self._track(session_id, node.node_id, asked)

    def _lose(self, node: _Node, why: str) -> None:
        if not node.lost:
            log.warning("cluster: lost node %s: %s", node.address, why)
        node.lost = True
        for session_id, (node_id, _) in list(self._placed.items()):
            if node_id == node.node_id:
                self._end(session_id, {"type": "closed", "reason": LOST_MESSAGE, "reconnect": True})

    def _track(self, session_id: str, node_id: str, placed: float) -> None:
        self._placed[session_id] = (node_id, placed)
        self._ends[session_id] = asyncio.get_running_loop().create_future()

    def _end(self, session_id: str, message: dict) -> None:
        self._placed.pop(session_id, None)
        end = self._ends.get(session_id)
        if end is not None and not end.done():
            end.set_result(message)
            asyncio.get_running_loop().call_later(ENDED_KEPT_S, self._ends.pop, session_id, None)

    # -- placing --------------------------------------------------------------------------------

    def nodes(self) -> list[NodeLoad]:
        """The last load of each node that can take sessions now (warm, in sight)."""
        return [node.load for node in self._nodes.values()
                if node.load and node.load.ready and not node.lost and node.actor]

    def session_node(self, session_id: str) -> NodeLoad | None:
        """The last report of the node a session was placed on, while that node is in sight."""
        node = self._placed_on(session_id)
        return node.load if node is not None and not node.lost else None

    def _placed_on(self, session_id: str) -> _Node | None:
        placed = self._placed.get(session_id)
        return self._nodes.get(placed[0]) if placed else None

    def places(self) -> tuple[int, int]:
        """(places taken, places in all) on the nodes that can take sessions."""
        loads = self.nodes()
        taken = self._taken()
        return (sum(len(n.sessions) + taken.get(n.node_id, 0) for n in loads), sum(n.max_sessions for n in loads))

    def _taken(self) -> dict[str, int]:
        """Places given out since each node's last report: offers being answered, sessions placed."""
        taken = dict(self._answering)
        for session_id, (node_id, placed) in self._placed.items():
            node = self._nodes.get(node_id)
            if node is not None and node.load is not None and placed >= node.asked and session_id not in node.load.sessions:
                taken[node_id] = taken.get(node_id, 0) + 1
        return taken

    async def place(self, offer: Offer) -> tuple[int, dict]:
        """(HTTP status, body) for a checked offer: answered by the least-loaded node, or busy."""
        refused: set[str] = set()  # nodes that turned this offer away (full after all, or gone)
        deadline = time.monotonic() + FULL_GRACE_S
        while True:
            load = choose_node([n for n in self.nodes() if n.node_id not in refused], self._taken())
            if load is None:
                # Full: a place may free within the grace (a visitor reloading the page).
                if time.monotonic() < deadline:
                    await asyncio.sleep(self.poll_s / 2)
                    continue
                places = sum(n.max_sessions for n in self.nodes())
                return 503, {"error": f"the service is busy ({places} conversations at once on "
                                      f"{len(self.nodes())} machines); try again in a minute"}
            node = self._nodes[load.node_id]
            self._answering[node.node_id] = self._answering.get(node.node_id, 0) + 1
            try:
                upload = None
                if offer.avatar is not None and offer.avatar not in load.uploads and self._uploads is not None:
                    upload = await asyncio.to_thread(self._packed_upload, offer.avatar)
                status, body = await _awaitable(node.actor.answer.remote(offer, upload))
            except OSError:  # removed here since the offer was checked (the oldest uploads go)
                return 400, {"error": f"no uploaded avatar {offer.avatar!r} (uploads are kept for a while; upload it again)"}
            except RayActorError as exc:
                if not isinstance(exc, ActorUnavailableError):
                    node.actor, node.load = None, None
                self._lose(node, f"its host did not answer an offer: {_first_line(exc)}")
                refused.add(node.node_id)
                continue
            finally:
                self._answering[node.node_id] -= 1
            if status == 503:
                refused.add(node.node_id)
                continue
            if status == 200:
                session_id = body["session"]
                self._track(session_id, node.node_id, time.monotonic())
                body["lifeline"] = f"/sessions/{session_id}/lifeline"
            return status, body

    def _packed_upload(self, name: str) -> bytes:
        """An uploaded avatar as prepared here, packed for a node (which keeps it for later offers)."""
        return pack_folders({name: self._uploads.root / name})

    # -- the lifeline ---------------------------------------------------------------------------

    def routes(self, app: web.Application) -> None:
        app.router.add_get("/sessions/{id}/lifeline", self.lifeline)
        app.router.add_get("/cluster", self.status)  # guarded (live/access.py), as /stats is

    async def status(self, request: web.Request) -> web.Response:
        """`GET /cluster`: each node's address, sessions, places, readiness and CPU."""
        return web.json_response(self.describe())

    async def lifeline(self, request: web.Request) -> web.StreamResponse:
        """`GET /sessions/{id}/lifeline`: newline-delimited JSON, `{"type": "alive", "node": ADDRESS}`
        at once and a last `{"type": "closed", "reason", "reconnect"}` when the session ends or its
        machine is lost (`reconnect`: true: connect again, a surviving machine will answer)."""
        session_id = request.match_info["id"]
        end = self._ends.get(session_id)
        if end is None:
            return web.json_response({"error": f"no session {session_id!r} in this cluster"}, status=404)
        response = web.StreamResponse(headers={"Content-Type": "application/x-ndjson", "Cache-Control": "no-store"})
        await response.prepare(request)
        node = self._placed_on(session_id)
        try:
            await _send(response, {"type": "alive", "node": node.address if node else None})
            while not end.done():
                try:
                    await asyncio.wait_for(asyncio.shield(end), LIFELINE_KEEPALIVE_S)
                except asyncio.TimeoutError:
                    await response.write(b"\n")
            await _send(response, end.result())
        except ConnectionResetError:  # the visitor hung up first: nobody left to tell
            pass
        return response

    def describe(self) -> dict:
        """The nodes and their sessions, for `/cluster`."""
        return {"nodes": [{"address": n.address, "lost": n.lost, "sessions": len(n.load.sessions) if n.load else 0,
                           "max_sessions": n.load.max_sessions if n.load else 0,
                           "ready": bool(n.load and n.load.ready), "cpu": round(n.load.cpu, 2) if n.load else None}
                          for n in self._nodes.values()]}


async def _send(response: web.StreamResponse, message: dict) -> None:
    await response.write(json.dumps(message).encode() + b"\n")


def _address_towards(address: str) -> str:
    """This machine's IP address on the route to `address` ("HOST:PORT"), once the head answers
    there (Ray itself would retry an address nobody answers at for minutes)."""
    host, _, port = address.rpartition(":")
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=5) as probe:
            return probe.getsockname()[0]
    except (OSError, ValueError) as exc:
        raise LivehumanError(f"cannot reach the Ray cluster's head at {address} ({exc}): start it with "
                             "`ray start --head`, or give its address as HOST:PORT") from None


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def _awaitable(ref):
    """An ObjectRef as an asyncio future (Ray resolves it on its own thread)."""
    return asyncio.wrap_future(ref.future())


def front_door(address: str, **options) -> LiveServer:
    """A LiveServer whose offers are answered by the machines of the Ray cluster at `address`;
    `options` are build_live_server's, and the nodes build theirs from them (`serve --cluster`).
    It keeps the page, the personas and /v1/realtime, prepares uploaded avatars (a node gets one
    with the first offer placed on it that names it), and passes the drive API on to the nodes; it
    draws no faces (no render workers)."""
    server = build_live_server(**{**options, "render_workers": 0})
    recipe = node_recipe(server.config.personas, options, uploads=server.config.uploads)
    cluster = Cluster(address, recipe, uploads=server.uploads)
    server.placer = cluster
    server.on_app(cluster.routes, start=cluster.start, stop=cluster.close)
    drive = DriveProxy(cluster.session_node, cluster.nodes, listed=lists_sessions(server.config.access))
    server.on_app(drive.routes, stop=drive.close)
    return server
