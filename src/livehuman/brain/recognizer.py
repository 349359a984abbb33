"""Speech recognizers for the offline brain: biased to the knowledge base, pooled between sessions,
optionally each in a process of its own."""

from __future__ import annotations

import functools
import logging
import threading
from collections.abc import Callable
from typing import Any

import numpy as np

log = logging.getLogger(__name__)


def vocabulary_of(knowledge: Any) -> list[str] | None:
    """The knowledge base's questions and their other wordings: what the recognizer is biased to."""
    vocabulary = []
    for entry in getattr(knowledge, "entries", None) or []:
        vocabulary += [entry.question, *entry.also]
    return vocabulary or None


def knowledge_asr(knowledge: Any, model_dir: str | None, *, second_pass: bool = True) -> Any:
    """A StreamingASR biased to the knowledge base's questions (blocking: building one takes seconds)."""
    from livehuman.speech.asr import make_asr

    return make_asr(model_dir, vocabulary=vocabulary_of(knowledge), second_pass=second_pass)


class ProcessASR:
    """A StreamingASR that runs in a process of its own, built there by `make` (picklable).

    pocketsphinx holds the GIL for all of its decoding (its extension never releases it): in one
    process, the recognizers of sessions that speak at once take turns, and with them the event
    loop. Four sessions' two decoders need more than one core's worth of GIL while they all speak,
    so their final transcripts came late. In a process each, they decode side by side, and the
    server's process only waits on a pipe (which releases the GIL). Calls are blocking, one at a
    time (the Listener's lock sees to that).

    A process that dies is started again: the call that found it dead fails (the utterance under
    way is lost; a `reset` just goes on), the next ones are heard. `restarts` counts them.
    """

    def __init__(self, make: Callable[[], Any]) -> None:
        self._make = make
        self._lock = threading.Lock()
        self._closed = False
        self.restarts = 0
        self._start()

    def _start(self) -> None:
        import multiprocessing

        # spawn: the server's process has threads (aiortc, workers); forking it could copy a held lock.
        context = multiprocessing.get_context("spawn")
        self._conn, child = context.Pipe()
        self._process = context.Process(target=_serve_asr, args=(child, self._make), daemon=True,
                                        name="livehuman-asr")
        self._process.start()
        child.close()
        self._ask("ready")  # built (or its error raised here)

    def _ask(self, op: str, *args: Any) -> Any:
        self._conn.send((op, args))
        ok, result = self._conn.recv()
        if not ok:
            raise result
        return result

    def _call(self, op: str, *args: Any) -> Any:
        from livehuman.errors import LivehumanError

        with self._lock:
            if self._closed:
                raise LivehumanError("the speech recognizer was closed")
            try:
                return self._ask(op, *args)
            except (EOFError, OSError):
                exitcode = self._process.exitcode
            log.warning("the speech recognizer's process ended (exit code %s); starting another", exitcode)
            self._conn.close()
            self.restarts += 1
            self._start()
        if op == "reset":
            return None  # a new recognizer has nothing to forget
        raise LivehumanError(f"the speech recognizer's process ended (exit code {exitcode}); another was started")

    def accept(self, samples16k: np.ndarray) -> str | None:
        return self._call("accept", np.asarray(samples16k))

    def finish(self) -> str:
        return self._call("finish")

    def reset(self) -> None:
        self._call("reset")

    def hypothesis(self) -> str | None:
        return self._call("hypothesis")

    def close(self) -> None:
        """End the process (the recognizer is unusable afterwards)."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            try:
                self._ask("close")
            except Exception:  # already gone
                pass
            self._process.join(timeout=5)
            self._conn.close()


class ProcessPhones(ProcessASR):
    """The phones heard in a live reply without any (OpenAI's voices), in a process of its own:
    motion/recognize.py's StreamingPhoneRecognizer with the settings a reply's lip sync uses
    (motion/phone_blend.py). Its decoding holds the GIL, which the server's media cannot spare."""

    def __init__(self) -> None:
        from livehuman.motion.phone_blend import LIVE_RECOGNIZER
        from livehuman.motion.recognize import StreamingPhoneRecognizer

        super().__init__(functools.partial(StreamingPhoneRecognizer, **LIVE_RECOGNIZER))

    def hear(self, samples16k: np.ndarray):
        return self._call("hear", np.asarray(samples16k, np.float32))

    def flush(self):
        return self._call("flush")


def _serve_asr(conn: Any, make: Callable[[], Any]) -> None:
    """The recognizer's process: build it, then answer calls until told to close."""
    import signal

    # Ctrl+C in a terminal reaches the whole process group: the server stops, and closes this.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        asr = make()
    except BaseException as exc:  # e.g. LivehumanError: the parent raises it
        conn.recv()
        conn.send((False, exc))
        return
    while True:
        try:
            op, args = conn.recv()
        except (EOFError, OSError):  # the server went away
            return
        if op == "close":
            conn.send((True, None))
            return
        try:
            conn.send((True, None if op == "ready" else getattr(asr, op)(*args)))
        except Exception as exc:
            conn.send((False, exc))


def process_asr(knowledge: Any, model_dir: str | None, *, second_pass: bool = True) -> ProcessASR:
    """knowledge_asr's recognizer in a process of its own (blocking: the process starts and builds it)."""
    from livehuman.speech.asr import make_asr

    return ProcessASR(functools.partial(make_asr, model_dir, vocabulary_of(knowledge), second_pass=second_pass))


class AsrPool:
    """Recognizers shared by sessions: one per concurrent session, reused after a session ends.

    Building a biased pocketsphinx recognizer takes seconds; a pool pays that once per
    concurrent session rather than once per connection.
    """

    def __init__(self, make: Callable[[], Any]) -> None:
        self._make = make
        self._idle: list[Any] = []
        self._made: list[Any] = []  # every recognizer built, kept for its restart count (counters never go back)
        self._dropped = 0
        self._lock = threading.Lock()
        self._closed = False

    @property
    def restarts(self) -> int:
        """Recognizer processes started again after one died, and recognizers replaced."""
        with self._lock:
            return self._dropped + sum(getattr(asr, "restarts", 0) for asr in self._made)

    def acquire(self) -> Any:
        """An idle recognizer, or a new one (blocking: call it off the event loop)."""
        with self._lock:
            if self._idle:
                return self._idle.pop()
        asr = self._make()
        with self._lock:
            self._made.append(asr)
        return asr

    def release(self, asr: Any) -> None:
        """Give a recognizer back for the next session (one that cannot be reset, even by starting
        its process again, is closed instead: the next session gets a new one; after `close`, it is
        closed)."""
        with self._lock:
            closed = self._closed
        if closed:
            _close(asr)
            return
        try:
            asr.reset()
        except Exception as exc:
            log.warning("a speech recognizer could not be reset (%s); a new one will be built", exc)
            _close(asr)
            with self._lock:
                self._dropped += 1
            return
        with self._lock:
            self._idle.append(asr)

    def close(self) -> None:
        """Close the idle recognizers that hold something (a process each, with ProcessASR)."""
        with self._lock:
            idle, self._idle = self._idle, []
            self._closed = True
        for asr in idle:
            _close(asr)


def _close(asr: Any) -> None:
    close = getattr(asr, "close", None)  # in-process recognizers hold nothing to close
    if close is not None:
        close()


class PhonesPool(AsrPool):
    """The ProcessPhones a server lends its remote brain's sessions (live/server.py)."""

    worker_kind = "phones"  # its `restarts` are the server's /metrics livehuman_worker_restarts{kind="phones"}

    def __init__(self) -> None:
        super().__init__(ProcessPhones)
