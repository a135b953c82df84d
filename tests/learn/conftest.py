"""Fixtures for persona learning: the real MiniLM text encoder and small generated graphs."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from persona.learn.text import TextEncoder

TEXT_CACHE = Path(__file__).resolve().parents[2] / ".persona" / "test-text-cache"


@pytest.fixture(scope="session")
def encoder(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TextEncoder]:
    """MiniLM (bundled weights) with a session-wide cache."""
    enc = TextEncoder(cache_dir=tmp_path_factory.mktemp("text-cache"))
    yield enc
    enc.close()
