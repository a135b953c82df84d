"""The one retry loop of persona-kg (SPARQL endpoints, LLM chat endpoints).

An attempt is a plain function. It returns its result, raises :class:`Retry` for a transient failure
(a timeout, a refused connection, HTTP 429 or 5xx) or raises anything else to stop at once. :class:`Retry`
carries the error to raise if no attempt is left, so each caller keeps its own wording.

Example:
    >>> def attempt():
    ...     raise Retry(RuntimeError("endpoint down"))
    >>> with_retries(attempt, retries=2, backoff_s=0.0)
    Traceback (most recent call last):
    RuntimeError: endpoint down
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


class Retry(Exception):
    """Raised by an attempt that may succeed if tried again; ``error`` is raised when none is left."""

    def __init__(self, error: BaseException) -> None:
        super().__init__(str(error))
        self.error = error


def backoff_delays(retries: int, backoff_s: float, *, cap_s: float = 30.0) -> list[float]:
    """The wait before each retry: ``backoff_s``, doubling, capped at ``cap_s`` (jitter not included)."""
    return [min(cap_s, backoff_s * 2**i) for i in range(retries)]


def with_retries(
    attempt: Callable[[], T],
    *,
    retries: int,
    backoff_s: float,
    cap_s: float = 30.0,
    jitter: float = 0.0,
    on_retry: Callable[[int, Retry], None] | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """``attempt()``, tried again up to ``retries`` times while it raises :class:`Retry`.

    Args:
        attempt: The work; raises :class:`Retry` for a transient failure.
        retries: Further attempts after the first.
        backoff_s: Wait before the first retry; doubles per retry up to ``cap_s``.
        jitter: Each wait is stretched by up to this share at random (spreads concurrent clients).
        on_retry: Called with (retry number from 1, the :class:`Retry`) before each wait.
        sleep: Injected for tests.

    Raises:
        The ``error`` of the last :class:`Retry` when every attempt failed; any other exception at once.
    """
    delays = backoff_delays(retries, backoff_s, cap_s=cap_s)
    for n in range(retries + 1):
        try:
            return attempt()
        except Retry as r:
            if n == retries:
                raise r.error from None
            if on_retry is not None:
                on_retry(n + 1, r)
            sleep(delays[n] * (1 + jitter * random.random()))
    raise AssertionError("unreachable")  # pragma: no cover
