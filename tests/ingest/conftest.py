"""Fixtures for the ingest tests: the shared real datasets."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DATASETS = Path(os.environ.get("PERSONA_DATASETS", REPO / ".." / "shared" / "datasets")).resolve()


@pytest.fixture(scope="session")
def datasets() -> Path:
    """The shared real datasets (``../shared/datasets`` from the repository root, or $PERSONA_DATASETS)."""
    if not DATASETS.is_dir():
        pytest.skip(f"real datasets not found at {DATASETS} (expected ../shared/datasets next to the repository)")
    return DATASETS
