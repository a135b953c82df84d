"""Rec tests run torch on one thread.

The models here are tiny: a two-thread OpenMP region costs more than it saves, and when another process
(a Neo4j server in CI, other test workers) holds the second core, every parallel region waits for it —
measured here at 30 ms for a layer norm that takes 0.05 ms on one thread. Benchmarks (bench/bench_rec.py)
use both cores.
"""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _one_torch_thread(one_torch_thread: None) -> None:
    """Every test here runs with one torch thread (the shared fixture in tests/conftest.py)."""
