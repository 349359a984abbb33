"""Avatars made in the page: `POST /avatars` takes a photo or a short video, `GET /avatars/{name}`
says how its preparation goes, and an offer naming it talks with that face.

- The body (raw, with any Content-Type, or the first file of a multipart form) is streamed into a
  temporary file under `<avatars>/.uploads/`, never above the largest size allowed, then checked by
  its content (avatar/upload.py). Refused: one 4xx with one message, and the temporary file is gone.
- Accepted: it is renamed to a generated name (`upload-` and 12 hex digits; never the sender's
  file name) and prepared as that avatar in one background thread, one upload at a time (another
  upload meanwhile: 429). The source stays beside the avatars, never served or executed.
- Once `UploadLimits.max_kept` uploads are prepared, the oldest is removed when another is ready.
- Faces for sessions: each uploaded avatar is drawn by a cpu engine of its own inside the server's
  process (no render pool: a pool is a process per core for each avatar), kept for the last
  FACES_KEPT avatars asked for, so later sessions with the same upload reuse it.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import shutil
import tempfile
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from aiohttp import web

from livehuman.avatar.upload import UPLOAD_NAME, UPLOAD_PREFIX, UploadError, UploadLimits, check_upload, megabytes
from livehuman.errors import LivehumanError

log = logging.getLogger("livehuman.live")

CHUNK = 64 * 1024
FACES_KEPT = 4  # uploaded faces kept loaded (frames and a cpu engine each) for the next sessions
RETRY_AFTER_S = 5
JOBS_KEPT = 100  # preparation reports remembered (a failed upload's message, for GET /avatars/{name})
PREPARE_NICE = 10  # preparing runs niced, so that the sessions' media keep their pace
SOURCES = ".uploads"  # under the avatars folder: the uploaded files, by their generated names


@dataclass
class Job:
    """One upload's preparation, as `GET /avatars/{name}` reports it."""

    name: str
    kind: str
    state: str = "preparing"  # preparing, ready, failed
    done: int = 0
    total: int = 0
    started: float = field(default_factory=time.monotonic)
    finished: float | None = None
    error: str | None = None
    notes: list[str] = field(default_factory=list)
    frames_cap: int | None = None  # the most frames the source limits let through (a long video is cut)

    def report(self) -> dict:
        fraction = 1.0 if self.state == "ready" else (min(self.done / self.total, 0.99) if self.total else 0.0)
        elapsed = (self.finished or time.monotonic()) - self.started
        eta = None
        if self.state == "preparing" and self.done and self.total:
            eta = round(elapsed / self.done * max(self.total - self.done, 0), 1)
        out = {"name": self.name, "kind": self.kind, "state": self.state, "progress": round(fraction, 3),
               "frames_done": self.done, "frames_total": self.total, "elapsed_s": round(elapsed, 1), "eta_s": eta}
        if self.error:
            out["error"] = self.error
        if self.notes:
            out["notes"] = self.notes
        return out


class Uploads:
    """The uploaded avatars of one server: receiving, checking, preparing one at a time, faces."""

    def __init__(self, limits: UploadLimits | None = None, root: str | Path | None = None):
        self.limits = limits or UploadLimits()
        self._root = Path(root) if root else None
        self.jobs: dict[str, Job] = {}
        self._busy: str | None = None  # what the one preparer does now ("receiving" or a name)
        self._faces: OrderedDict[str, Any] = OrderedDict()
        self._faces_lock = threading.Lock()

    @property
    def root(self) -> Path:
        from livehuman.avatar.store import avatar_root

        return self._root or avatar_root()

    def routes(self, app: web.Application) -> None:
        app.router.add_post("/avatars", self.post)
        app.router.add_get("/avatars/{name}", self.get)

    # -- HTTP ---------------------------------------------------------------------------------------

    async def post(self, request: web.Request) -> web.Response:
        """Receive, check and start preparing an upload: 202 with its name, or one 4xx."""
        if self._busy is not None:
            job = self.jobs.get(self._busy)
            doing = (f"another avatar is being prepared ({round(100 * job.report()['progress'])} % done)" if job
                     else "another upload is being received")
            return web.json_response(
                {"error": f"{doing}; one upload is taken at a time, try again when it is done"}, status=429,
                headers={"Retry-After": str(RETRY_AFTER_S)})
        limit = self.limits.body_bytes
        if request.content_length is not None and request.content_length > limit:
            return _refuse(UploadError(self._too_large(), 413))
        self._busy = "receiving"
        temp: Path | None = None
        started = False
        try:
            incoming = self.root / SOURCES
            incoming.mkdir(parents=True, exist_ok=True)
            fd, name = tempfile.mkstemp(prefix=".incoming-", dir=incoming)
            temp = Path(name)
            with os.fdopen(fd, "wb") as out:
                await self._receive(request, out, limit)
            info = await asyncio.to_thread(check_upload, temp, self.limits)
            name = f"{UPLOAD_PREFIX}{secrets.token_hex(6)}"
            source = incoming / f"{name}{info.suffix}"
            os.replace(temp, source)
            temp = None
            job = Job(name, info.kind, frames_cap=_frames_cap(info, self.limits))
            self.jobs[name] = job
            while len(self.jobs) > JOBS_KEPT:  # reports of old uploads go first (a ready one is still on disk)
                del self.jobs[next(iter(self.jobs))]
            self._busy = name
            threading.Thread(target=self._prepare, args=(job, source), name=f"prepare-{name}", daemon=True).start()
            started = True
            log.info("upload %s: a %s of %dx%d, preparing", name, info.kind, info.width, info.height)
            return web.json_response({**job.report(), "status": f"/avatars/{name}"}, status=202)
        except UploadError as exc:
            return _refuse(exc)
        finally:
            if temp is not None:
                temp.unlink(missing_ok=True)
            if not started:
                self._busy = None

    async def get(self, request: web.Request) -> web.Response:
        """How an upload's preparation goes: state, progress (0-1), frames, ETA, error."""
        name = request.match_info["name"]
        job = self.jobs.get(name)
        if job is not None:
            return web.json_response(job.report())
        if UPLOAD_NAME.match(name) and self.prepared(name):
            return web.json_response({"name": name, "state": "ready", "progress": 1.0})
        return web.json_response({"error": f"no uploaded avatar {name!r}"}, status=404)

    async def _receive(self, request: web.Request, out, limit: int) -> None:
        stall = self.limits.stall_s
        if request.content_type.startswith("multipart/"):
            try:
                reader = await request.multipart()
                part = await _in_time(reader.next(), stall)
                while part is not None and not getattr(part, "filename", None):
                    await _in_time(part.release(), stall)
                    part = await _in_time(reader.next(), stall)
            except (ValueError, AssertionError):
                raise UploadError("the form could not be read: send the file as multipart/form-data or as the body") from None
            if part is None:
                raise UploadError("the form holds no file: send a photo or a video")
            chunks = _part_chunks(part)
        else:
            chunks = request.content.iter_chunked(CHUNK)
        size = 0
        while (chunk := await _in_time(anext(chunks, None), stall)) is not None:
            size += len(chunk)
            if size > limit:
                raise UploadError(self._too_large(), 413)
            out.write(chunk)

    def _too_large(self) -> str:
        return (f"the upload is too large: photos may be at most {megabytes(self.limits.photo_bytes)}, "
                f"videos {megabytes(self.limits.video_bytes)}")

    # -- preparing ----------------------------------------------------------------------------------

    def _prepare(self, job: Job, source: Path) -> None:
        from livehuman.avatar.prepare import prepare_avatar

        def on_frame(done: int, expected: int) -> None:
            if job.frames_cap:
                expected = min(expected, job.frames_cap)
            job.done, job.total = done, max(expected, done, 1)

        try:  # the live sessions come first: this thread (and those it starts) at a lower priority
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), PREPARE_NICE)
        except (AttributeError, OSError):
            pass

        try:
            avatar = prepare_avatar(source, job.name, cache_root=self.root, progress=False, on_frame=on_frame,
                                    source_limits=self.limits.source_limits)
            from livehuman.avatar.store import read_meta

            job.notes = list((read_meta(avatar.directory) or {}).get("notes", []))
            job.done = job.total = avatar.n_frames
            job.state = "ready"
            log.info("upload %s: prepared (%d frames)", job.name, avatar.n_frames)
            self._prune(keep=job.name)
        except Exception as exc:  # the upload is refused; nothing else changed
            job.error = str(exc) if isinstance(exc, LivehumanError) else f"the avatar could not be prepared: {exc}"
            job.error = job.error.replace(str(source), "the upload")
            job.state = "failed"
            source.unlink(missing_ok=True)
            log.warning("upload %s: %s", job.name, job.error)
        finally:
            job.finished = time.monotonic()
            self._busy = None

    def take_prepared(self, name: str, folder: Path) -> None:
        """Keep an upload prepared elsewhere (a cluster's front door) and unpacked into `folder` (on
        this folder's file system): moved in as `name`. One already here is kept as it is."""
        if not UPLOAD_NAME.match(name):
            raise ValueError(f"not an uploaded avatar's name: {name!r}")
        if self.prepared(name):
            return
        self.root.mkdir(parents=True, exist_ok=True)
        os.replace(folder, self.root / name)
        self._prune(keep=name)

    def prepared(self, name: str) -> bool:
        return (self.root / name / "meta.json").is_file()

    def uploaded(self) -> list[Path]:
        """The prepared uploads' folders, oldest first."""
        if not self.root.is_dir():
            return []
        folders = [p for p in self.root.iterdir() if UPLOAD_NAME.match(p.name) and (p / "meta.json").is_file()]
        return sorted(folders, key=lambda p: (p / "meta.json").stat().st_mtime)

    def _prune(self, keep: str) -> None:
        folders = [p for p in self.uploaded() if p.name != keep]
        for folder in folders[: max(0, len(folders) + 1 - self.limits.max_kept)]:
            log.info("upload %s: removed (at most %d uploads are kept)", folder.name, self.limits.max_kept)
            shutil.rmtree(folder, ignore_errors=True)
            for source in (self.root / SOURCES).glob(f"{folder.name}.*"):
                source.unlink(missing_ok=True)
            self.jobs.pop(folder.name, None)
            with self._faces_lock:
                self._faces.pop(folder.name, None)

    # -- faces for sessions -------------------------------------------------------------------------

    def check_offer(self, name: Any) -> str | None:
        """Why an offer cannot use the uploaded avatar `name`, or None when it can."""
        if not isinstance(name, str) or not UPLOAD_NAME.match(name):
            return f"unknown avatar {name!r}: an offer may name an avatar uploaded with POST /avatars"
        job = self.jobs.get(name)
        if job is not None and job.state == "preparing":
            return f"the avatar {name} is still being prepared; start when GET /avatars/{name} says ready"
        if not self.prepared(name):
            if job is not None and job.state == "failed":
                return f"the avatar {name} could not be prepared: {job.error}"
            return f"no uploaded avatar {name!r} (uploads are kept for a while; upload it again)"
        return None

    def face(self, name: str, base):
        """FaceParts for the uploaded avatar `name`, with `base`'s lip sync and idle motion
        (blocking: loads it on first use; call it in a thread)."""
        with self._faces_lock:
            made = self._faces.get(name)
            if made is not None:
                self._faces.move_to_end(name)
        if made is None:
            from livehuman.avatar.store import read_avatar
            from livehuman.render.engines import make_engine

            avatar = read_avatar(self.root / name)
            engine = make_engine("cpu")
            engine.load(avatar)
            made = (avatar, engine)
            with self._faces_lock:
                self._faces[name] = made
                while len(self._faces) > FACES_KEPT:
                    self._faces.popitem(last=False)
        avatar, engine = made
        return replace(base, avatar=avatar, engine_factory=lambda: engine, resources=[])


def _frames_cap(info, limits: UploadLimits) -> int | None:
    """How many of a video's frames the source limits keep (None: no cut to expect)."""
    if info.kind != "video":
        return None
    side = limits.source_limits["max_side"]
    scale = min(1.0, side / max(info.width, info.height))
    frame = max(1, round(info.width * scale)) * max(1, round(info.height * scale)) * 3
    return max(1, limits.source_limits["max_bytes"] // frame)


async def _in_time(step, seconds: float):
    """Await one step of reading an upload; UploadError (408) when nothing arrives for `seconds`."""
    try:
        return await asyncio.wait_for(step, seconds)
    except asyncio.TimeoutError:
        raise UploadError(f"the upload stalled: nothing arrived for {seconds:g} s", 408) from None


async def _part_chunks(part):
    while chunk := await part.read_chunk(CHUNK):
        yield chunk


def _refuse(exc: UploadError) -> web.Response:
    return web.json_response({"error": str(exc)}, status=exc.status)
