"""Fixtures for persona learning: the real MiniLM text encoder, small generated graphs, a loaded store.

Torch runs on one thread here: the graphs are tiny, and when another process holds the second core a
two-thread OpenMP region waits for it (measured: an HDGI epoch 30× slower on a busy two-core machine).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from persona.config import HDGISettings, Settings
from persona.learn.text import TextEncoder, entity_text, item_text


@pytest.fixture(autouse=True)
def _one_torch_thread(one_torch_thread: None) -> None:
    """Every test here runs with one torch thread (the shared fixture in tests/conftest.py)."""


@pytest.fixture(scope="session")
def encoder(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TextEncoder]:
    """MiniLM (bundled weights) with a session-wide cache."""
    enc = TextEncoder(cache_dir=tmp_path_factory.mktemp("text-cache"))
    yield enc
    enc.close()


def small_settings(**kw: object) -> HDGISettings:
    """HDGI settings sized for a test graph."""
    return HDGISettings(**{"hidden": 16, "heads": 2, "epochs": 6, "patience": 50, "lr": 5e-3, **kw})


@pytest.fixture(scope="session")
def demo_frames():
    """A generated book shop: 120 users, 64 items, 4 planted tastes."""
    from persona.ingest.demo import generate_demo

    return generate_demo(users=120, items=64, tastes=4, seed=3, history=(6, 20))


@pytest.fixture(scope="session")
def demo_data(demo_frames, encoder: TextEncoder):
    """The demo graph as HeteroData with MiniLM text features (no store)."""
    from persona.learn.export import hetero_from_frames

    g = demo_frames
    nodes = {lab: df.copy() for lab, df in g.nodes.items()}
    it = nodes["Item"]
    it["text_emb"] = list(
        encoder.encode([item_text(t, d, c) for t, d, c in zip(it.title, it.description, it.categories)])
    )
    for lab, df in nodes.items():
        if lab not in ("User", "Item"):
            df["text_emb"] = list(encoder.encode([entity_text(n, lab) for n in df.name]))
    from persona.kgstore import GraphFrames

    return hetero_from_frames(GraphFrames(nodes=nodes, rels=g.rels))


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Project settings pointing at an embedded store and a work folder under ``tmp_path``."""
    s = Settings(store=f"embedded:{tmp_path / 'kg.db'}", workdir=tmp_path / "work")
    s.hdgi = small_settings(epochs=30, hidden=32, heads=4)
    return s
