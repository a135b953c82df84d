"""Shared fixtures: one ``store`` fixture runs store tests on both backends.

The Neo4j half uses the server named by ``NEO4J_URI`` (``scripts/neo4j.sh start`` for developers,
``.ci/run`` in CI). Without it those tests skip with the reason — except under ``CI=true``, where a skip
of a test marked ``neo4j``, ``realdata`` or ``browser`` is turned into a failure.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

REPO = Path(__file__).resolve().parents[1]
DATASETS = Path(os.environ.get("PERSONA_DATASETS", REPO.parent / "shared" / "datasets"))
_MUST_RUN = ("neo4j", "realdata", "browser")


def pytest_configure(config: pytest.Config) -> None:
    import torch

    torch.set_num_threads(min(2, os.cpu_count() or 1))


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):  # type: ignore[no-untyped-def]
    outcome = yield
    rep = outcome.get_result()
    if os.environ.get("CI") == "true" and rep.skipped and any(item.get_closest_marker(m) for m in _MUST_RUN):
        rep.outcome = "failed"
        reason = rep.longrepr[2] if isinstance(rep.longrepr, tuple) else str(rep.longrepr)
        rep.longrepr = f"skipped in CI, which must run every {'/'.join(_MUST_RUN)} test: {reason}"


@pytest.fixture(scope="session")
def datasets() -> Path:
    """The shared real datasets folder (../shared/datasets)."""
    if not DATASETS.is_dir():
        pytest.skip(f"real datasets not found at {DATASETS} (set PERSONA_DATASETS)")
    return DATASETS


def _neo4j_uri() -> str:
    uri = os.environ.get("NEO4J_URI")
    if not uri:
        pytest.skip("NEO4J_URI is not set; start a server with `scripts/neo4j.sh start` and export NEO4J_URI")
    return uri


@pytest.fixture(params=["embedded", pytest.param("neo4j", marks=pytest.mark.neo4j)])
def store(request: pytest.FixtureRequest, tmp_path: Path):
    """An empty store of each backend, schema created."""
    from persona.kgstore import open_store

    if request.param == "embedded":
        s = open_store(f"embedded:{tmp_path / 'kg.db'}")
    else:
        s = open_store(_neo4j_uri())
        s.clear()
    s.init_schema()
    yield s
    if request.param == "neo4j":
        s.clear()
    s.close()


@pytest.fixture
def store_uri(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A store URI for CLI tests, parametrised like ``store`` via indirect use."""
    backend = getattr(request, "param", "embedded")
    if backend == "embedded":
        return f"embedded:{tmp_path / 'kg.db'}"
    uri = _neo4j_uri()
    from persona.kgstore import open_store

    s = open_store(uri)
    s.clear()
    s.close()
    return uri


@pytest.fixture
def store_uri_neo4j() -> str:
    """The test Neo4j server's URI, emptied first (for tests that only make sense on a server)."""
    from persona.kgstore import open_store

    uri = _neo4j_uri()
    s = open_store(uri)
    s.clear()
    s.close()
    return uri


@pytest.fixture
def one_torch_thread():  # type: ignore[no-untyped-def]
    """Run the test with one torch thread (model tests are small; two threads only contend here)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
