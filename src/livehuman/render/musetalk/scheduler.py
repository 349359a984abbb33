"""Batching the device work of concurrent callers: one loaded engine serves every live session.

Each session renders in its own thread and asks for one frame at a time. A GPU is fast only when it
gets several frames per call, so requests that are waiting together go to the device together:
whichever caller finds the device free becomes the runner, takes what is queued (up to the batch
limit, oldest first), runs it as one batch, hands each request its result and wakes the others.
No thread of its own: nothing to start or stop, and a lone caller pays no hand-over.
"""

from __future__ import annotations

import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

Item = TypeVar("Item")
Result = TypeVar("Result")


class _Job(Generic[Item, Result]):
    """One queued item and, once run, its result or the batch's error."""

    __slots__ = ("done", "error", "item", "queued_at", "result")

    def __init__(self, item: Item):
        self.item = item
        self.queued_at = time.monotonic()
        self.done = False
        self.result: Result | None = None
        self.error: BaseException | None = None


class BatchScheduler(Generic[Item, Result]):
    """Runs `run(items) -> results` on batches made of whatever concurrent callers have queued.

    `max_batch` caps a batch (a number, or a callable read at each batch so it can be changed);
    `wait` (seconds) lets a runner hold a batch that is not full for up to that long after its oldest
    request arrived, for more company: 0 (the default) adds no latency, and batches still form from
    the requests that queue while the device is busy.
    """

    def __init__(self, run: Callable[[list[Item]], Sequence[Result]], max_batch: int | Callable[[], int] = 8,
                 wait: float = 0.0):
        self._run = run
        self._max_batch = max_batch
        self.wait = wait
        self._cond = threading.Condition()
        self._queue: deque[_Job] = deque()
        self._busy = False
        self._sizes: Counter[int] = Counter()

    @property
    def max_batch(self) -> int:
        value = self._max_batch() if callable(self._max_batch) else self._max_batch
        return max(1, int(value))

    @property
    def batch_sizes(self) -> dict[int, int]:
        """How many batches of each size have run (size -> count)."""
        with self._cond:
            return dict(sorted(self._sizes.items()))

    def reset_stats(self) -> None:
        """Forget the recorded batch sizes."""
        with self._cond:
            self._sizes.clear()

    def submit(self, items: Sequence[Item]) -> list[Result]:
        """Queue `items`, wait until they have run (perhaps running them, and others', here), return
        their results in order. An error in a batch is raised to every caller with an item in it."""
        jobs = [_Job(item) for item in items]
        if not jobs:
            return []
        with self._cond:
            self._queue.extend(jobs)
            self._cond.notify_all()  # a runner gathering company sees the new arrivals
            while not all(job.done for job in jobs):
                if self._busy:
                    self._cond.wait()
                else:
                    self._lead()
        for job in jobs:
            if job.error is not None:
                raise job.error
        return [job.result for job in jobs]

    def _lead(self) -> None:
        """Run one batch from the head of the queue (called holding the lock; releases it to run)."""
        self._busy = True
        try:
            limit = self.max_batch
            if self.wait > 0:
                deadline = self._queue[0].queued_at + self.wait
                while len(self._queue) < limit and (left := deadline - time.monotonic()) > 0:
                    self._cond.wait(left)
            batch = [self._queue.popleft() for _ in range(min(limit, len(self._queue)))]
            self._sizes[len(batch)] += 1
            self._cond.release()
            try:
                results = list(self._run([job.item for job in batch]))
                if len(results) != len(batch):
                    raise RuntimeError(f"a batch of {len(batch)} gave {len(results)} results")
                for job, result in zip(batch, results):
                    job.result = result
            except BaseException as exc:  # every caller in the batch hears of it, none hangs
                for job in batch:
                    job.error = exc
            finally:
                self._cond.acquire()
            for job in batch:
                job.done = True
        finally:
            self._busy = False
            self._cond.notify_all()
