"""Fitting several SASRec models side by side in threads.

At SASRec's sizes a model does not keep two CPU cores busy: on the 2-core machine an epoch of the
15k-user / 9k-item benchmark takes 4.5 s with two torch threads and 5.6 s with one, so two models fitted
at once, one thread each, finish sooner (73.9 s against 92.4 s for two plain models,
``bench/bench_rec_options.py --parts parallel``). Each model draws its batches, negatives and dropout
masks from generators of its own and builds its parameters under a lock
(:meth:`persona.rec.model.SASRecRecommender.fit`), so a run is reproducible for a given number of jobs;
across numbers the thread count changes torch's float rounding (identical at small sizes, not at 9k items).
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from types import TracebackType
from typing import Any, Generic, TypeVar

import torch
from typing_extensions import Self

T = TypeVar("T")


def auto_jobs(device: str) -> int:
    """Models to fit at once by default: 2 on a CPU with at least two cores, else 1 (a GPU runs one model
    at a time well)."""
    return 2 if device == "cpu" and (os.cpu_count() or 1) >= 2 else 1


@contextlib.contextmanager
def threads_per_job(jobs: int) -> Iterator[None]:
    """torch's intra-op threads split between ``jobs`` concurrent fits (restored afterwards)."""
    before = torch.get_num_threads()
    torch.set_num_threads(max(1, before // max(jobs, 1)))
    try:
        yield
    finally:
        torch.set_num_threads(before)


class _Deferred(Generic[T]):
    """A call run when its result is first asked for: ``jobs = 1`` keeps the old one-at-a-time order."""

    def __init__(self, fn: Callable[..., T], args: tuple[Any, ...]) -> None:
        self._fn, self._args = fn, args
        self._done = False
        self._value: T | None = None

    def result(self) -> T:
        if not self._done:
            self._value, self._done = self._fn(*self._args), True
        return self._value  # type: ignore[return-value]


class Stopped(Exception):
    """Raised inside a worker's epoch callback when the experiment is being stopped."""


class Fits:
    """Submit fits; with ``jobs > 1`` they run in a thread pool, else lazily in the caller's thread.

    On leaving the block with an exception (Ctrl-C, a failure), queued fits are cancelled and running
    ones stop at their next epoch (``stop`` is set; :meth:`check` raises :class:`Stopped` in them), after
    which their checkpoints hold their last validation.
    """

    def __init__(self, jobs: int) -> None:
        self.jobs = max(1, jobs)
        self.stop = threading.Event()
        self._pool = ThreadPoolExecutor(self.jobs) if self.jobs > 1 else None
        self._threads: contextlib.AbstractContextManager[None] = (
            threads_per_job(self.jobs) if self.jobs > 1 else contextlib.nullcontext()
        )

    def __enter__(self) -> Self:
        self._threads.__enter__()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._pool is not None:
            if exc_type is not None:
                self.stop.set()
            self._pool.shutdown(wait=True, cancel_futures=exc_type is not None)
        self._threads.__exit__(exc_type, exc, tb)

    def submit(self, fn: Callable[..., T], *args: Any) -> Future[T] | _Deferred[T]:
        if self._pool is None:
            return _Deferred(fn, args)
        return self._pool.submit(fn, *args)

    def check(self) -> None:
        """Called from a fit's epoch callback: stop it when the experiment is being stopped."""
        if self.stop.is_set():
            raise Stopped
