"""One machine's share of a cluster: a NodeHost holds its sessions, render workers and avatars.

The front door (front.py) makes one NodeHost per machine as a Ray actor pinned to it; the host
builds the same LiveServer as `serve` would on one machine (from the front door's NodeRecipe) and
answers the offers placed on it, so each session's media flows between the browser and this
machine. It is a plain class: Ray runs its coroutines on the actor's own event loop (uvloop's,
as `serve`'s: live/event_loop.py), where the sessions live on between calls.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import shutil
import tempfile
from pathlib import Path

from aiohttp import web

from livehuman.cluster.bundle import NodeRecipe, unpack_folders
from livehuman.cluster.placement import NodeLoad
from livehuman.live.access import Access, protect
from livehuman.live.bodies import unreadable_bodies
from livehuman.live.drive import drive_routes
from livehuman.live.event_loop import drains_datagrams
from livehuman.live.server import MAX_OFFER_BYTES, LiveServer, Offer, build_live_server
from livehuman.live.uploads import Uploads

log = logging.getLogger("livehuman.cluster")


class NodeHost:
    """A LiveServer without its HTTP side, answering the offers a front door places on it."""

    def __init__(self, recipe: NodeRecipe, node_id: str, address: str):
        self.node_id, self.address = node_id, address
        self._folder = Path(tempfile.mkdtemp(prefix="livehuman-node-"))
        try:
            self.server: LiveServer = build_live_server(**recipe.unpack(self._folder))
            # Uploaded avatars come prepared from the front door with the offers that name them.
            self.server.uploads = Uploads(recipe.uploads, root=self._folder / "uploads") if recipe.uploads else None
        except BaseException:
            shutil.rmtree(self._folder, ignore_errors=True)
            raise
        self._starting: asyncio.Task | None = None
        self._drive: web.AppRunner | None = None
        self._drive_url = ""
        # Only the front door knows it (from the reports): the drive API steers and reads conversations.
        self._drive_token = secrets.token_hex(16)
        self._cpu = _CpuMeter()
        self._dropped = 0  # frames dropped or late, all sessions together, at the last report

    async def report(self) -> NodeLoad:
        """What the front door places by; the first call also warms the models up (ready once done)."""
        if self._starting is None:
            self._starting = asyncio.ensure_future(self._start())
        dropped = sum(s.clock.stats.dropped_frames + s.clock.stats.late_ticks for s in self.server.sessions.values())
        recent, self._dropped = max(0, dropped - self._dropped), dropped
        return NodeLoad(self.node_id, self.address, [sid for sid, s in self.server.sessions.items() if not s.ending],
                        self.server.config.max_sessions, ready=self._starting.done() and self._starting.exception() is None,
                        cpu=self._cpu.busy(), dropped=recent, drive_url=self._drive_url, drive_token=self._drive_token,
                        uploads=[p.name for p in self.server.uploads.uploaded()] if self.server.uploads else [])

    async def _start(self) -> None:
        if not drains_datagrams(asyncio.get_running_loop()):  # Ray takes uvloop unless RAY_USE_UVLOOP=0
            log.warning("this node's event loop is asyncio's own, not uvloop's: once busy it reads its visitors' "
                        "packets seconds late and loses their connections (live/event_loop.py)")
        await self.server.start_without_http()
        await self._serve_drive_api()

    async def _serve_drive_api(self) -> None:
        """The drive API of this node's sessions (live/drive.py), for the front door to pass its
        callers' requests on to (cluster/drive.py), on this machine's cluster address."""
        access = Access(token=self._drive_token)
        app = web.Application(client_max_size=MAX_OFFER_BYTES, middlewares=[unreadable_bodies])
        protect(app, access)
        drive_routes(app, self.server.sessions, access)
        self._drive = web.AppRunner(app)
        await self._drive.setup()
        site = web.TCPSite(self._drive, self.address, 0)
        await site.start()
        port = self._drive.addresses[0][1]
        host = f"[{self.address}]" if ":" in self.address else self.address
        self._drive_url = f"http://{host}:{port}"

    async def answer(self, offer: Offer, upload: bytes | None = None) -> tuple[int, dict]:
        """(HTTP status, body) for an offer placed on this node, as one machine's server answers it.
        `upload`: the uploaded avatar the offer names, prepared and packed, when this node lacks it."""
        if upload is not None and self.server.uploads is not None:
            await asyncio.to_thread(self._take_upload, offer.avatar, upload)
        status, body = await self.server.answer_offer(offer)
        return status, {**body, "node": self.address}

    def _take_upload(self, name: str, packed: bytes) -> None:
        with tempfile.TemporaryDirectory(prefix=".incoming-", dir=self._folder) as incoming:
            unpack_folders(packed, Path(incoming))
            self.server.uploads.take_prepared(name, Path(incoming) / name)

    async def end_sessions(self, reason: str) -> int:
        """End every session here (the front door lost sight of this node and sent its visitors
        elsewhere); how many there were."""
        sessions = list(self.server.sessions.values())
        for session in sessions:
            await session.close(reason)
        return len(sessions)

    async def close(self) -> None:
        """End every session and free the render workers, the models and the avatars' folder."""
        if self._drive is not None:
            await self._drive.cleanup()
        await self.server.close()
        self.server.close_resources()
        shutil.rmtree(self._folder, ignore_errors=True)


class _CpuMeter:
    """The machine's busy share of CPU time between two calls, from /proc/stat (0 where there is none)."""

    def __init__(self) -> None:
        self._last = self._read()

    @staticmethod
    def _read() -> tuple[float, float] | None:
        try:
            with open("/proc/stat") as stat:
                fields = [float(x) for x in stat.readline().split()[1:]]
        except (OSError, ValueError):
            return None
        idle = fields[3] + (fields[4] if len(fields) > 4 else 0.0)  # idle + iowait
        return sum(fields), idle

    def busy(self) -> float:
        now = self._read()
        before, self._last = self._last, now
        if now is None or before is None or now[0] <= before[0]:
            return 0.0
        return 1.0 - (now[1] - before[1]) / (now[0] - before[0])
