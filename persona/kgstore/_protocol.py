"""The :class:`GraphStore` protocol: everything the rest of persona-kg may ask of a graph database."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from typing import Any, Protocol, runtime_checkable

import numpy as np
import pandas as pd
import pyarrow as pa

from persona.errors import PersonaError

from .frames import GraphFrames

#: Progress callback: (description, rows done, rows total).
Progress = Callable[[str, int, int], None]


class StoreError(PersonaError, RuntimeError):
    """A store could not be opened or a statement failed; the message says what to do."""


def read_only_refusal(what: str) -> str:
    """The one wording of a read-only refusal, on both backends."""
    return (
        f"refused in read-only mode: the statement would run {what}, which writes, reads files or URLs, "
        "loads code or administers the server; run it with write=True (`persona cypher --write`) "
        "on a store you own if that is intended"
    )


@runtime_checkable
class GraphStore(Protocol):
    """A property-graph database reachable by Cypher.

    Two implementations: :class:`~persona.kgstore.embedded.EmbeddedStore` (LadybugDB, ``embedded:PATH``)
    and :class:`~persona.kgstore.neo4j.Neo4jStore` (``bolt://…``, ``neo4j://…``). Open one with
    :func:`persona.kgstore.open_store`.
    """

    uri: str
    backend: str  # "embedded" or "neo4j"

    def init_schema(self) -> None:
        """Create constraints / primary keys and indexes for every schema label (idempotent)."""

    def load(self, frames: GraphFrames, *, batch_size: int = 5000, progress: Progress | None = None) -> dict[str, int]:
        """Upsert nodes then relationships. Existing nodes (by id) and relationships (by type, src, dst)
        are not duplicated: loading the same frames twice leaves identical counts. Properties of existing
        nodes are updated when the frame has a non-null value. Returns rows written per label/type.
        ``batch_size`` is rows per write transaction where the backend writes in batches (Neo4j); the
        embedded store copies each frame in one statement."""

    def identity(self) -> str | None:
        """The store's stable UUID, created by :meth:`init_schema` (None if the store predates it)."""

    def run(self, cypher: str, params: dict[str, Any] | None = None, *, write: bool = False) -> list[dict[str, Any]]:
        """Run one statement. ``write=False`` runs it in a read-only transaction/connection, so the
        database itself refuses writes (:class:`StoreError`)."""

    def run_named(self, name: str, params: dict[str, Any] | None = None, *, write: bool = False) -> list[dict[str, Any]]:
        """Run a query from ``cypher/<name>.cypher`` (see :mod:`persona.kgstore.queries`)."""

    def frame(self, cypher: str, params: dict[str, Any] | None = None) -> pd.DataFrame:
        """Run a read statement (the read-only gate of :meth:`run` applies) and return its rows as a
        DataFrame."""

    def frame_named(self, name: str, params: dict[str, Any] | None = None) -> pd.DataFrame:
        """A query of the package's ``cypher/`` folder, in this backend's variant, as a DataFrame."""

    def arrow_named(self, name: str, params: dict[str, Any] | None = None) -> pa.Table:
        """A query of the package's ``cypher/`` folder as an Arrow table (columnar: the PyG export)."""

    def counts(self) -> dict[str, dict[str, int]]:
        """``{"nodes": {label: n}, "rels": {type: n}}`` for every label/type with at least one row."""

    def set_node_properties(self, label: str, df: pd.DataFrame, *, batch_size: int = 5000) -> int:
        """Set properties on existing nodes: ``df`` has ``id`` plus one column per property (embeddings as
        lists of floats). Returns the number of nodes updated."""

    def delete_rels(self, type: str, *, prop: str | None = None, value: Any = None) -> int:
        """Delete relationships of ``type`` (only those with ``prop = value`` when given)."""

    def create_vector_index(self, label: str, prop: str, dim: int) -> str:
        """Create (or replace) a cosine vector index on ``label.prop``; returns its name."""

    def vector_search(self, label: str, prop: str, vector: Sequence[float] | np.ndarray, k: int = 10) -> list[tuple[str, float]]:
        """Nearest nodes by cosine similarity, best first, as (id, similarity)."""

    def clear(self) -> None:
        """Delete every node and relationship (tests and ``persona reset``)."""

    def idle(self) -> AbstractContextManager[None]:
        """A block in which the store is not used: what the client holds for it may be given back.

        The embedded store closes its database for the block (its buffer pool is freed, and other
        processes may open the store meanwhile) and reopens it after; a server store holds nothing
        worth giving back. Long computations between reads and writes (HDGI training) run inside it.
        """

    def close(self) -> None:
        """Release the connection / database handle."""
