"""Render workers in their own processes, so a live server draws its faces beside its event loop.

The cpu engine is numpy and OpenCV, but between those calls it takes Python's GIL hundreds of times
a frame. Inside the server's process, four sessions' renders fight the event loop (WebRTC
networking, the microphones) and the encoders for that lock, and every session's media stutters.
In worker processes the same renders use both cores freely; each frame comes back through shared
memory, so only a few bytes of controls and a reply cross the pipe. The avatar's own frames are in
shared memory too, once for the server and all workers: a minute of 720p video is about 4 GB.
"""

from __future__ import annotations

import contextlib
import logging
import mmap
import multiprocessing
import os
import queue
import shutil
import threading
from dataclasses import dataclass, replace
from multiprocessing.connection import Connection
from multiprocessing.shared_memory import SharedMemory

import numpy as np

from livehuman.avatar.avatar import Avatar
from livehuman.errors import LivehumanError
from livehuman.render.engine import FrameDrive

log = logging.getLogger("livehuman.render")

START_TIMEOUT_S = 60.0  # a worker imports OpenCV and prepares the avatar
SHM_DIR = "/dev/shm"  # where Linux keeps shared memory (a tmpfs of limited size)
SHM_SPARE = 64 << 20  # room left in it for the frames workers draw into, and for others
# A worker builds a video avatar's rigs for at most this many source frames while idle (20 s of
# footage; ~0.2 MB each for 512-px frames, ~110 MB): longer footage builds the rest on first use.
RIGS_AHEAD = 500
_CLOSED = object()  # in the idle queue once the pool is closed


def default_workers() -> int:
    """One worker per core this process may run on."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)  # macOS has no affinity


@dataclass
class _Worker:
    """One render process: its end of the pipe and the shared frame it draws into."""

    process: multiprocessing.Process
    conn: Connection
    frame: SharedMemory


class RenderPool:
    """Renders frames of one avatar with the cpu engine in `workers` processes.

    `render` may be called from many threads at once (one per live session); each call takes an idle
    worker, so at most `workers` frames are drawn at a time and the rest wait their turn. A worker
    that dies is replaced and the frame drawn again. When the avatar's frames fit in shared memory,
    `avatar.frames` becomes a read-only array on the shared copy (valid after `close`).
    """

    worker_kind = "render"  # its `restarts` are the server's /metrics livehuman_worker_restarts{kind="render"}

    def __init__(self, avatar: Avatar, workers: int | None = None, head_motion: bool = True):
        self.avatar = avatar
        self.workers = default_workers() if workers is None else workers
        if self.workers < 1:
            raise LivehumanError(f"a render pool needs at least one worker, got {self.workers}")
        self._head_motion = head_motion
        self._shape = avatar.frames.shape[1:]
        self._frames = _shared_copy(avatar.frames)
        # Workers get the avatar without its frames when they can map the shared ones, and without
        # what engines cached in it (rigs are rebuilt per process).
        self._portable = replace(avatar, extra={})
        if self._frames is not None:
            self._portable.frames = np.empty((0, *self._shape), avatar.frames.dtype)
            # This process reads them from there too, and its own copy (as big) is freed.
            avatar.frames = _mapped(self._frames, avatar.frames)
        else:
            log.warning("/dev/shm has no room for the avatar's %d MB of frames: each render worker gets "
                        "its own copy (in Docker, give the container more with --shm-size)",
                        avatar.frames.nbytes >> 20)
        self._context = multiprocessing.get_context("spawn")  # never fork a process that has threads
        # Idle workers; None is a place whose worker died and could not be replaced (another is
        # started when it is taken); _CLOSED wakes whoever waits once the pool is closed.
        self._idle: queue.Queue = queue.Queue()
        self._all: list[_Worker] = []
        self._lock = threading.Lock()
        self._closed = False
        self.restarts = 0  # workers that died and were started again
        try:
            starting = [self._spawn() for _ in range(self.workers)]
            for worker in starting:
                self._await_ready(worker)
                self._idle.put(worker)
        except BaseException:
            for worker in list(self._all):
                self._stop(worker)
            if self._frames is not None:
                _free(self._frames)
            raise

    def render(self, index: int, drive: FrameDrive) -> np.ndarray:
        """Output frame `index` of the pool's avatar (BGR uint8), as CpuEngine.render draws it."""
        worker = self._take()
        try:
            try:
                return self._ask(worker, index, drive)
            except (EOFError, OSError):
                log.warning("a render worker died (exit code %s); starting another", worker.process.exitcode)
                self._stop(worker)
                worker = None
                self.restarts += 1
                worker = self._start()
                return self._ask(worker, index, drive)
        except (EOFError, OSError):
            self._stop(worker)
            worker = None
            raise LivehumanError(f"rendering frame {index} failed: a new render worker died too") from None
        finally:
            self._give_back(worker)

    def close(self) -> None:
        """Stop every worker (idle ones now, busy ones as they finish); later renders fail."""
        self._closed = True
        while True:
            try:
                worker = self._idle.get_nowait()
            except queue.Empty:
                break
            if isinstance(worker, _Worker):
                self._stop(worker)
        self._idle.put(_CLOSED)
        # Busy workers keep their mapping of the frames until they stop; the name goes now.
        if self._frames is not None:
            with contextlib.suppress(FileNotFoundError):
                _free(self._frames)

    def __enter__(self) -> RenderPool:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _take(self) -> _Worker:
        worker = self._idle.get()
        if worker is _CLOSED or self._closed:
            self._idle.put(_CLOSED)  # for the next one waiting
            if isinstance(worker, _Worker):
                self._stop(worker)
            raise LivehumanError("the render pool is closed")
        if worker is None:
            try:
                return self._start()
            except BaseException:
                self._idle.put(None)
                raise
        return worker

    def _give_back(self, worker: _Worker | None) -> None:
        if not self._closed:
            self._idle.put(worker)
        elif worker is not None:
            self._stop(worker)

    def _ask(self, worker: _Worker, index: int, drive: FrameDrive) -> np.ndarray:
        worker.conn.send((index, drive.controls))
        error = worker.conn.recv()
        if error is not None:
            raise LivehumanError(f"rendering frame {index} failed: {error}")
        # Copied out before the worker is handed to the next caller, who overwrites the buffer.
        return np.ndarray(self._shape, np.uint8, buffer=worker.frame.buf).copy()

    def _start(self) -> _Worker:
        """A new worker, ready to draw (stopped again if it does not get ready)."""
        if self._closed:  # its shared frames are gone: a worker could not start
            raise LivehumanError("the render pool is closed")
        worker = self._spawn()
        try:
            self._await_ready(worker)
        except BaseException:
            self._stop(worker)
            raise
        return worker

    def _spawn(self) -> _Worker:
        frame = SharedMemory(create=True, size=int(np.prod(self._shape)))
        frames_name = None if self._frames is None else self._frames.name
        ours, theirs = self._context.Pipe()
        process = self._context.Process(
            target=serve_renders,
            args=(theirs, self._portable, frames_name, self.avatar.frames.shape, frame.name, self._head_motion),
            name="livehuman-render", daemon=True)
        process.start()
        theirs.close()  # only the child holds it now: its death reads as EOF here
        worker = _Worker(process, ours, frame)
        with self._lock:
            self._all.append(worker)
        return worker

    def _await_ready(self, worker: _Worker) -> None:
        if not worker.conn.poll(START_TIMEOUT_S):
            raise LivehumanError(f"a render worker did not start within {START_TIMEOUT_S:.0f} s")
        try:
            error = worker.conn.recv()
        except EOFError:
            raise LivehumanError(f"a render worker exited while starting (exit code {worker.process.exitcode})") from None
        if error is not None:
            raise LivehumanError(f"a render worker could not start: {error}")

    def _stop(self, worker: _Worker) -> None:
        with self._lock:
            if worker not in self._all:
                return  # stopped already
            self._all.remove(worker)
        worker.conn.close()
        worker.process.join(2)
        if worker.process.is_alive():
            worker.process.kill()
            worker.process.join()
        _free(worker.frame)


class PooledEngine:
    """The cpu engine, drawn by a RenderPool: an Engine that many live sessions can share."""

    name = "cpu"
    audio_context = (0.0, 0.0)

    def __init__(self, pool: RenderPool):
        self.pool = pool

    def load(self, avatar: Avatar) -> None:
        if avatar is not self.pool.avatar:
            raise LivehumanError("a pooled engine renders only its pool's avatar")

    def render(self, avatar: Avatar, index: int, drive: FrameDrive) -> np.ndarray:
        return self.pool.render(index, drive)


def serve_renders(conn: Connection, avatar: Avatar, frames_name: str | None, frames_shape: tuple[int, ...],
                  frame_name: str, head_motion: bool) -> None:
    """A worker's life: draw each asked frame of `avatar` (its frames in shared memory `frames_name`,
    or in `avatar` when None) into the shared buffer `frame_name` until the pipe closes."""
    import signal

    import cv2

    from livehuman.render.cpu.engine import CpuEngine

    # Ctrl+C in the terminal reaches every process of the group: the server stops the workers
    # itself (it closes their pipes), so a worker must not die of it with a traceback first.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    cv2.setNumThreads(1)  # one worker is one core's worth; more threads would only contend
    # Spawned workers share the pool's resource tracker, so attaching adds no second owner:
    # the pool alone unlinks the buffers.
    blocks = [SharedMemory(name=frame_name)]
    try:
        if frames_name is not None:
            blocks.append(SharedMemory(name=frames_name))
            pictures = np.ndarray(frames_shape, np.uint8, buffer=blocks[1].buf)
            pictures.flags.writeable = False  # every worker reads the same frames
            avatar = replace(avatar, frames=pictures)
        _draw_until_closed(conn, avatar, np.ndarray(frames_shape[1:], np.uint8, buffer=blocks[0].buf),
                           CpuEngine(head_motion=head_motion))
    except (BrokenPipeError, ConnectionResetError):
        pass  # the server has gone
    finally:
        for block in blocks:
            with contextlib.suppress(BufferError):  # a view may still be held: the process ends anyway
                block.close()


def _draw_until_closed(conn: Connection, avatar: Avatar, out: np.ndarray, engine) -> None:
    try:
        engine.load(avatar)
    except Exception as exc:
        conn.send(f"{type(exc).__name__}: {exc}")
        return
    conn.send(None)
    ahead = RIGS_AHEAD  # a video avatar's rigs still to build while no frame is asked for
    while True:
        try:
            while ahead and not conn.poll():
                ahead -= 1
                try:
                    if not engine.build_next_rigs(avatar):
                        ahead = 0
                except Exception:  # noqa: BLE001 (that frame's own render says what is wrong with it)
                    ahead = 0
            index, controls = conn.recv()
        except (EOFError, OSError):  # the server has gone
            return
        try:
            out[:] = engine.render(avatar, index, FrameDrive(controls))
        except Exception as exc:  # one bad frame must not take the worker down
            conn.send(f"{type(exc).__name__}: {exc}")
        else:
            conn.send(None)


def _shared_copy(array: np.ndarray) -> SharedMemory | None:
    """A new block of shared memory holding a copy of `array`; None when /dev/shm has no room for it
    (Docker gives a container 64 MB): writing past a full tmpfs kills the process with SIGBUS."""
    if os.path.isdir(SHM_DIR) and shutil.disk_usage(SHM_DIR).free < array.nbytes + SHM_SPARE:
        return None
    block = SharedMemory(create=True, size=max(1, array.nbytes))
    np.ndarray(array.shape, array.dtype, buffer=block.buf)[:] = array
    return block


def _mapped(block: SharedMemory, like: np.ndarray) -> np.ndarray:
    """The copy of `like` in `block`, read-only, through a mapping of its own: unlike a view of the
    block's buffer it stays valid after the block is closed and unlinked, and goes with the array.
    `like` itself where the block is not a file in SHM_DIR."""
    path = os.path.join(SHM_DIR, block.name)
    if not os.path.isfile(path):
        return like
    with open(path, "rb") as f:
        pages = mmap.mmap(f.fileno(), like.nbytes, prot=mmap.PROT_READ)
    return np.frombuffer(pages, like.dtype).reshape(like.shape)


def _free(block: SharedMemory) -> None:
    block.close()
    block.unlink()
