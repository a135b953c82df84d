"""The one retry loop (persona._retry) and the one on-disk cache (persona._cache) that the SPARQL, LLM and
text-embedding clients share."""

from __future__ import annotations

import multiprocessing as mp

import pytest

from persona._cache import SqliteCache
from persona._retry import Retry, backoff_delays, with_retries


def test_retries_transient_failures_with_doubling_waits_then_succeeds() -> None:
    calls, waits, seen = [], [], []

    def attempt() -> str:
        calls.append(1)
        if len(calls) < 3:
            raise Retry(RuntimeError(f"down {len(calls)}"))
        return "ok"

    out = with_retries(attempt, retries=5, backoff_s=0.5, sleep=waits.append, on_retry=lambda n, r: seen.append((n, str(r))))
    assert out == "ok" and len(calls) == 3
    assert waits == [0.5, 1.0]
    assert seen == [(1, "down 1"), (2, "down 2")]


def test_raises_the_last_attempts_own_error_when_none_is_left() -> None:
    n = []

    def attempt() -> None:
        n.append(1)
        raise Retry(ValueError(f"attempt {len(n)}"))

    with pytest.raises(ValueError, match="attempt 3"):
        with_retries(attempt, retries=2, backoff_s=0.0, sleep=lambda s: None)
    assert len(n) == 3


def test_other_errors_stop_at_once() -> None:
    n = []

    def attempt() -> None:
        n.append(1)
        raise KeyError("bad request")

    with pytest.raises(KeyError):
        with_retries(attempt, retries=4, backoff_s=0.0, sleep=lambda s: None)
    assert n == [1]


def test_backoff_is_capped_and_jitter_only_stretches() -> None:
    assert backoff_delays(7, 1.0, cap_s=30.0) == [1, 2, 4, 8, 16, 30, 30]
    waits: list[float] = []

    def attempt() -> None:
        raise Retry(RuntimeError("x"))

    with pytest.raises(RuntimeError):
        with_retries(attempt, retries=20, backoff_s=1.0, jitter=0.25, sleep=waits.append)
    assert all(b <= w <= 1.25 * b for w, b in zip(waits, backoff_delays(20, 1.0)))


def _writer(path: str, start: int) -> None:
    c = SqliteCache(path)
    c.put_many((f"k{i}", str(i).encode()) for i in range(start, start + 500))
    c.close()


def test_cache_round_trip_many_keys_meta_and_two_processes(tmp_path) -> None:
    path = tmp_path / "sub" / "cache.sqlite"
    c = SqliteCache(path)
    assert c.get("nope") is None and len(c) == 0
    c.put("a", b"\x00\x01")
    c.set_meta("dim", "384")
    ctx = mp.get_context("spawn")
    procs = [ctx.Process(target=_writer, args=(str(path), s)) for s in (0, 500)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    keys = [f"k{i}" for i in range(1000)] + ["missing"]
    got = c.get_many(keys)  # more keys than one SQLite statement may bind
    assert len(got) == 1000 and got["k999"] == b"999" and "missing" not in got
    assert c.get("a") == b"\x00\x01" and c.get_meta("dim") == "384" and c.get_meta("x") is None
    assert len(c) == 1001
    c.close()
    again = SqliteCache(path)
    assert again.get("k0") == b"0"
    again.close()
