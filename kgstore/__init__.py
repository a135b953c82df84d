"""Graph access: one :class:`GraphStore` protocol, two backends chosen by a store URI.

``embedded:PATH`` opens LadybugDB (the zero-setup default); ``bolt://…`` / ``neo4j://…`` opens a Neo4j
server. Nothing outside this package imports ``ladybug`` or ``neo4j``.
"""

from __future__ import annotations

from ._protocol import GraphStore, Progress, StoreError
from .frames import GraphFrames, RelFrame
from .schema import ENTITY_LABELS, NODE_TYPES, PREDICATES, REL_TYPES, PredicateRule, register_predicate

__all__ = [
    "ENTITY_LABELS",
    "NODE_TYPES",
    "PREDICATES",
    "REL_TYPES",
    "GraphFrames",
    "GraphStore",
    "PredicateRule",
    "Progress",
    "RelFrame",
    "StoreError",
    "open_store",
    "register_predicate",
]


def open_store(
    uri: str,
    *,
    user: str | None = None,
    password: str | None = None,
    database: str | None = None,
    read_only: bool = False,
) -> GraphStore:
    """Open the store named by ``uri``.

    Args:
        uri: ``embedded:PATH`` (or a bare path) for LadybugDB; ``bolt://``, ``bolt+s://``, ``neo4j://``,
            ``neo4j+s://`` for Neo4j.
        user: Neo4j user (defaults to ``NEO4J_USER`` or ``neo4j``).
        password: Neo4j password (defaults to ``NEO4J_PASSWORD``).
        database: Neo4j database name (server default if None).
        read_only: Embedded store only: open the database file read-only. (Neo4j enforces read-only
            per transaction: :meth:`GraphStore.run` with ``write=False``.)

    Raises:
        StoreError: the store cannot be opened; the message says why and what to do.
    """
    import os

    if uri.startswith(("bolt://", "bolt+s://", "bolt+ssc://", "neo4j://", "neo4j+s://", "neo4j+ssc://")):
        from .neo4j import Neo4jStore

        return Neo4jStore(
            uri,
            user=user or os.environ.get("NEO4J_USER", "neo4j"),
            password=password if password is not None else os.environ.get("NEO4J_PASSWORD", "persona-kg"),
            database=database,
        )
    path = uri[len("embedded:") :] if uri.startswith("embedded:") else uri
    if "://" in path:
        raise StoreError(f"unknown store URI {uri!r}: expected embedded:PATH, bolt://host:port or neo4j://host:port")
    from .embedded import EmbeddedStore

    return EmbeddedStore(path, read_only=read_only)
