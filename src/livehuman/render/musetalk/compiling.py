"""Optional torch.compile of the UNet and the VAE decoder, falling back to eager with a clear message."""

from __future__ import annotations

import importlib.util
import logging
import os
import shutil
import threading
from collections.abc import Callable

from livehuman.errors import LivehumanError

log = logging.getLogger(__name__)

# Batches are padded up to one of these sizes when compiled: a handful of graphs, each compiled once,
# instead of one per batch size (and no dynamic shapes, which slow the kernels down).
BUCKETS = (1, 2, 4, 8, 16, 32, 64)


def bucket(n: int) -> int:
    """The compiled batch size that holds `n` frames."""
    return next((b for b in BUCKETS if b >= n), n)


def backend_name(compile: bool | str) -> str | None:
    """compile=True -> "inductor", False/None -> None, a string -> that torch.compile backend."""
    if compile is True:
        return "inductor"
    if not compile:
        return None
    return str(compile)


def check_backend(compile: bool | str) -> str | None:
    """The backend `compile` names, checked to exist (a LivehumanError names the choices if not)."""
    backend = backend_name(compile)
    if backend is None:
        return None
    import torch

    known = set(torch._dynamo.list_backends(exclude_tags=())) | {"inductor"}
    if backend not in known:
        raise LivehumanError(f"unknown torch.compile backend {backend!r}: use True (inductor) or one of "
                             + ", ".join(sorted(b for b in known if "TESTING" not in b)))
    return backend


def missing_toolchain(backend: str, device_type: str) -> str | None:
    """Why `backend` cannot compile on this machine, or None. Inductor writes C++ on the CPU and
    Triton kernels on CUDA (Triton builds its launcher with a C compiler)."""
    if backend != "inductor":
        return None
    if device_type == "cuda":
        if importlib.util.find_spec("triton") is None:
            return "torch.compile's inductor needs triton on CUDA (pip install triton, matching torch)"
        if not _find(os.environ.get("CC"), "cc", "gcc", "clang"):
            return "torch.compile's inductor needs a C compiler for triton (apt install gcc, or set CC)"
        return None
    if not _find(os.environ.get("CXX"), "g++", "clang++", "c++"):
        return "torch.compile's inductor needs a C++ compiler on the CPU (apt install g++, or set CXX)"
    return None


def _find(*names: str | None) -> bool:
    return any(name and shutil.which(name) for name in names)


class Compiled:
    """A function compiled with torch.compile that falls back to its eager self, for good, when
    compiling fails (the error is logged once, with what to do); `backend` is None once eager."""

    def __init__(self, fn: Callable, backend: str, what: str, mode: str | None = None):
        import torch

        self.eager = fn
        self.what = what
        self.backend: str | None = backend
        self.note = ""
        self._compiled = torch.compile(fn, backend=backend, mode=mode, dynamic=False)
        self._lock = threading.Lock()

    def __call__(self, *args, **kwargs):
        if self.backend is None:
            return self.eager(*args, **kwargs)
        try:
            return self._compiled(*args, **kwargs)
        except Exception as exc:  # a compiler error, a missing toolchain: eager still gives the frame
            with self._lock:
                if self.backend is not None:
                    self.note = f"torch.compile ({self.backend}) of the {self.what} failed, running it eagerly: {_reason(exc)}"
                    log.warning("%s", self.note)
                    self.backend = None
            return self.eager(*args, **kwargs)


def _reason(exc: BaseException) -> str:
    """The root cause of a compile failure, on one line (dynamo wraps the compiler's own error)."""
    cause = getattr(exc, "inner_exception", None) or exc.__cause__ or exc
    lines = [line.strip() for line in str(cause).splitlines() if line.strip()]
    return f"{type(cause).__name__}: {lines[0] if lines else ''}"
