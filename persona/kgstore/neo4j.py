"""The Neo4j backend: a Neo4j 5 server reached over Bolt with the official driver.

One :class:`neo4j.Driver` per store. Reads run in read transactions (``execute_read``), so the server,
not a regular expression, refuses a write in a read-only query; writes run in write transactions.

Bulk writes send column lists, not row maps: ``UNWIND range(0, size($id) - 1) AS i`` with one list
parameter per property (``$p_title[i]``). Lists of primitives pack faster in the driver than lists of row
maps (no key repeated per row), and a missing value is simply ``null`` at its position. A null never overwrites a stored
value (``coalesce`` in updates, nothing set on create), so a partial frame cannot wipe properties.

Labels, relationship types and property names are formatted into Cypher text only after they pass the
schema whitelist (:func:`~persona.kgstore.schema.node_label`, :func:`~persona.kgstore.schema.rel_type`
and the declared properties); every value travels as a parameter.

Example:
    >>> store = Neo4jStore("bolt://127.0.0.1:7687", user="neo4j", password="persona-kg")  # doctest: +SKIP
    >>> store.init_schema(); store.counts()  # doctest: +SKIP
    {'nodes': {}, 'rels': {}}

Why one long module: a backend is one module (the embedded store's counterpart is
:mod:`persona.kgstore.embedded`); the driver, its sessions and error translation are shared by the
read-only gate, the batched loads and the write-back.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import neo4j
import numpy as np
import pandas as pd
import pyarrow as pa
from neo4j import exceptions as nx

from . import queries
from ._protocol import Progress, StoreError, read_only_refusal
from .frames import GraphFrames, RelFrame
from .schema import META_LABELS, NODE_TYPES, REL_TYPES, check_name, new_identity, node_label, rel_key, rel_type

#: Relationship property indexes created by :meth:`Neo4jStore.init_schema` (type, property): the
#: training export filters ``RATED`` on ``split``; write-back deletes ``RECOMMENDED`` by ``run``.
REL_PROPERTY_INDEXES: tuple[tuple[str, str], ...] = (("RATED", "split"), ("RECOMMENDED", "run"))
#: Node property indexes besides the ``id`` constraints (label, property).
NODE_PROPERTY_INDEXES: tuple[tuple[str, str], ...] = (("Item", "domain"),)

#: What the driver raises for server, network and protocol failures (translated into StoreError).
_DRIVER_ERRORS = (nx.Neo4jError, nx.DriverError, OSError)
_QUIET_NOTIFICATIONS = [
    neo4j.NotificationDisabledClassification.UNRECOGNIZED,
    neo4j.NotificationDisabledClassification.HINT,
    neo4j.NotificationDisabledClassification.PERFORMANCE,
    neo4j.NotificationDisabledClassification.GENERIC,
    neo4j.NotificationDisabledClassification.SCHEMA,
    neo4j.NotificationDisabledClassification.TOPOLOGY,
]
#: Procedures a read-only statement may call: catalogue look-ups and index queries. Anything else —
#: ``db.clearQueryCaches``, ``db.stats.*``, ``dbms.*`` administration, plugins — is refused by
#: :meth:`Neo4jStore.run` without ``write=True``, because Community Edition has no roles to refuse them.
READ_PROCEDURES: frozenset[str] = frozenset({
    "db.labels", "db.relationshipTypes", "db.propertyKeys", "db.schema.visualization",
    "db.schema.nodeTypeProperties", "db.schema.relTypeProperties", "db.index.vector.queryNodes",
    "db.index.vector.queryRelationships", "db.index.fulltext.queryNodes", "db.index.fulltext.queryRelationships",
    "db.info", "db.ping", "dbms.components", "db.awaitIndex", "db.awaitIndexes",
})
#: Plan operators refused in read-only mode although Neo4j runs them in a read transaction: file and URL
#: access, and administration of the DBMS (other clients' transactions, users, databases).
_REFUSED_OPERATORS = ("LoadCSV", "Terminate", "AdministrationCommand", "TransactionApply", "TransactionForeach")
_WRITE_OPERATORS = ("Create", "Merge", "Set", "Delete", "DetachDelete", "Remove", "Foreach", "LockingMerge")
_MAX_VECTOR_DIM = 4096  # Neo4j 5.26 vector index limit
_INDEX_WAIT_S = 600


class Neo4jStore:
    """A Neo4j 5 database as a :class:`~persona.kgstore.GraphStore`.

    Args:
        uri: ``bolt://host:port`` (one server) or ``neo4j://host:port`` (routing).
        user: User name.
        password: Password (never echoed in messages).
        database: Database name; the server's default database when None.
        verify: Check connectivity and credentials now, so a bad URI fails here with a clear message.

    Raises:
        StoreError: the server cannot be reached or refuses the credentials.
    """

    backend = "neo4j"

    def __init__(
        self,
        uri: str,
        *,
        user: str,
        password: str,
        database: str | None = None,
        verify: bool = True,
        read_only: bool = False,
        driver: neo4j.Driver | None = None,
    ) -> None:
        self.uri = uri
        self.user = user
        self.database = database
        self.read_only = read_only
        self._owns_driver = driver is None
        if driver is not None:
            self._driver = driver
            self._closed = False
            self._schema_ready = False
            return
        try:
            self._driver = neo4j.GraphDatabase.driver(
                uri,
                auth=(user, password),
                connection_timeout=15.0,
                # "label/property does not exist" and similar hints are normal on a graph still being
                # built (and the driver logs each one); deprecation and security notices stay on.
                notifications_disabled_classifications=_QUIET_NOTIFICATIONS,
            )
        except (ValueError, nx.ConfigurationError) as e:
            raise StoreError(f"invalid Neo4j URI {uri!r}: {e}") from None
        self._closed = False
        self._schema_ready = False
        if verify:
            try:
                self._driver.verify_connectivity()
            except _DRIVER_ERRORS as e:
                self._driver.close()
                self._closed = True
                raise self._error(e) from None

    # ------------------------------------------------------------------ plumbing
    def _error(self, e: BaseException, cypher: str | None = None) -> StoreError:
        """Translate a driver exception into a :class:`StoreError` saying what to do."""
        where = f"\n  in query: {' '.join(cypher.split())[:300]}" if cypher else ""
        if isinstance(e, nx.AuthError):
            return StoreError(
                f"Neo4j at {self.uri} refused the credentials of user {self.user!r}; "
                "check NEO4J_USER / NEO4J_PASSWORD (scripts/neo4j.sh sets the password from NEO4J_PASSWORD)"
            )
        if isinstance(e, (nx.ServiceUnavailable, nx.SessionExpired, OSError)):
            return StoreError(
                f"cannot reach Neo4j at {self.uri} ({type(e).__name__}: {' '.join(str(e).split())}); "
                "start a local server with `scripts/neo4j.sh start` or pass --store bolt://HOST:PORT of a running one"
            )
        if isinstance(e, nx.Neo4jError):
            code = e.code or ""
            if code.endswith("AccessMode") or "read access mode" in (e.message or ""):
                return StoreError(
                    "the query writes, but it was run read-only and Neo4j refused it; "
                    f"run it with write=True (`persona cypher --write`) if the write is intended ({e.message}){where}"
                )
            return StoreError(f"Neo4j refused the statement: {e.message} [{code}]{where}")
        return StoreError(f"Neo4j driver error talking to {self.uri}: {type(e).__name__}: {e}{where}")

    def _session(self, access: str) -> neo4j.Session:
        if self._closed:
            raise StoreError(f"the store {self.uri} is closed")
        return self._driver.session(database=self.database, default_access_mode=access)

    def _refuse_if_read_only(self) -> None:
        if self.read_only:
            raise StoreError(f"{self.uri} was opened read-only; writes are refused")

    def _write(self, cypher: str | None, work: Callable[..., Any], *args: Any) -> Any:
        """``work(tx, *args)`` in a write transaction (retried by the driver on transient errors)."""
        self._refuse_if_read_only()
        try:
            with self._session(neo4j.WRITE_ACCESS) as s:
                return s.execute_write(work, *args)
        except _DRIVER_ERRORS as e:
            raise self._error(e, cypher) from None

    def _read(self, cypher: str | None, work: Callable[..., Any], *args: Any) -> Any:
        """``work(tx, *args)`` in a read transaction: the server refuses writes in it."""
        try:
            with self._session(neo4j.READ_ACCESS) as s:
                return s.execute_read(work, *args)
        except _DRIVER_ERRORS as e:
            raise self._error(e, cypher) from None

    def _auto(
        self, cypher: str, params: dict[str, Any] | None = None, access: str = neo4j.WRITE_ACCESS
    ) -> list[dict[str, Any]]:
        """An auto-commit transaction: needed by schema commands and ``CALL { } IN TRANSACTIONS``."""
        if access == neo4j.WRITE_ACCESS:
            self._refuse_if_read_only()
        try:
            with self._session(access) as s:
                return [r.data() for r in s.run(cypher, params or {})]
        except _DRIVER_ERRORS as e:
            raise self._error(e, cypher) from None

    # ------------------------------------------------------------------ schema
    def init_schema(self) -> None:
        """Create a uniqueness constraint on ``id`` for every schema label, plus the property indexes in
        :data:`REL_PROPERTY_INDEXES` and :data:`NODE_PROPERTY_INDEXES`; idempotent."""
        self._schema_ready = False
        for label in NODE_TYPES:
            node_label(label)
            self._auto(
                f"CREATE CONSTRAINT {_ident(label.lower() + '_id')} IF NOT EXISTS "
                f"FOR (n:{label}) REQUIRE n.id IS UNIQUE"
            )
        for label, prop in NODE_PROPERTY_INDEXES:
            self._auto(
                f"CREATE INDEX {_ident(label.lower() + '_' + prop)} IF NOT EXISTS FOR (n:{node_label(label)}) "
                f"ON (n.{_node_prop(label, prop)})"
            )
        for type_, prop in REL_PROPERTY_INDEXES:
            self._auto(
                f"CREATE INDEX {_ident(type_.lower() + '_' + prop)} IF NOT EXISTS FOR ()-[r:{rel_type(type_)}]-() "
                f"ON (r.{_rel_prop(type_, prop)})"
            )
        self._auto(f"CALL db.awaitIndexes({_INDEX_WAIT_S})")
        if self.identity() is None:
            # MERGE on a label with a uniqueness constraint cannot run twice concurrently into two nodes
            self._auto("MERGE (s:Store {singleton: true}) ON CREATE SET s.id = $id, s.created_at = $t", new_identity())
        self._schema_ready = True

    def identity(self) -> str | None:
        """The store's UUID (set by :meth:`init_schema`), or None for a store created before identities."""
        rows = self._read(None, _data, "MATCH (s:Store) RETURN s.id AS id ORDER BY id LIMIT 1", {})
        return rows[0]["id"] if rows else None

    # ------------------------------------------------------------------ loading
    def load(
        self, frames: GraphFrames, *, batch_size: int = 5000, progress: Progress | None = None
    ) -> dict[str, int]:
        """Upsert nodes, then relationships, ``batch_size`` rows per write transaction.

        A row counts as written when it created a node/relationship or changed at least one stored
        property; loading the same frames again writes 0 rows. Each batch commits on its own, so an
        interrupted load can be re-run and completes what is missing. Rows repeating an id (or a
        ``(src, dst)`` pair) are dropped after the first. A label or type with nothing stored yet is
        written with plain ``CREATE``: one loader per label/type at a time.

        Raises:
            StoreError: a relationship names a node id that is neither in ``frames`` nor in the store (the
                batch is rolled back; the message lists examples), or the server refused a batch.
        """
        if batch_size < 1:
            raise ValueError(f"batch_size must be positive, got {batch_size}")
        if not self._schema_ready:
            self.init_schema()
        total = sum(frames.counts().values())
        done = 0
        written: dict[str, int] = {}

        def tick(desc: str, n: int) -> None:
            nonlocal done
            done += n
            if progress is not None:
                progress(desc, done, total)

        for label, df in frames.nodes.items():
            written[label] = written.get(label, 0) + self._load_nodes(label, df, batch_size, tick)
        for rf in frames.rels:
            written[rf.type] = written.get(rf.type, 0) + self._load_rels(rf, batch_size, tick)
        return written

    def _load_nodes(
        self, label: str, df: pd.DataFrame, batch_size: int, tick: Callable[[str, int], None]
    ) -> int:
        node_label(label)
        if "id" not in df.columns:
            raise StoreError(f"{label} nodes: the frame has no 'id' column (columns: {list(df.columns)})")
        types = NODE_TYPES[label].props
        props = [c for c in df.columns if c != "id"]
        for p in props:
            _node_prop(label, p)
        df = df.drop_duplicates("id")
        creates = "".join(f", {p}: $p_{p}[i]" for p in props)  # a null in CREATE is simply not stored
        if self._count(f"MATCH (n:{label}) RETURN count(n) AS c") == 0:
            # First load of this label: every (deduplicated) row is new, so plain CREATE will do.
            cypher = (
                f"UNWIND range(0, size($id) - 1) AS i CREATE (n:{label} {{id: $id[i]{creates}}}) "
                "RETURN count(*) AS written"
            )
        else:
            # OPTIONAL MATCH + two conditional branches rather than MERGE: the query then knows which
            # rows were new or changed, so a re-load reports 0 rows written (as fast as MERGE here).
            updates = ", ".join(f"o.{p} = coalesce($p_{p}[i], o.{p})" for p in props)
            cypher = (
                "UNWIND range(0, size($id) - 1) AS i "
                f"OPTIONAL MATCH (o:{label} {{id: $id[i]}}) "
                f"WITH i, o, {_changed_expr('o', props)} AS changed "
                f"FOREACH (_ IN CASE WHEN o IS NULL THEN [1] ELSE [] END | CREATE (n:{label} {{id: $id[i]{creates}}})) "
                + (
                    f"FOREACH (_ IN CASE WHEN o IS NOT NULL AND changed THEN [1] ELSE [] END | SET {updates}) "
                    if props
                    else ""
                )
                + "RETURN count(CASE WHEN o IS NULL OR changed THEN 1 END) AS written"
            )
        written = 0
        for start in range(0, len(df), batch_size):
            chunk = df.iloc[start : start + batch_size]
            params = {"id": _ids(chunk["id"], f"{label}.id")}
            for p in props:
                params[f"p_{p}"] = _column(chunk[p], types[p], f"{label}.{p}")
            written += self._write(cypher, _single_int, cypher, params, "written")
            tick(f"nodes {label}", len(chunk))
        return written

    def _load_rels(self, rf: RelFrame, batch_size: int, tick: Callable[[str, int], None]) -> int:
        t, src, dst = rel_type(rf.type), node_label(rf.src_label), node_label(rf.dst_label)
        df = rf.df
        for col in ("src", "dst"):
            if col not in df.columns:
                raise StoreError(
                    f"{t} {src}->{dst}: the frame has no {col!r} column (columns: {list(df.columns)})"
                )
        types = REL_TYPES[t].props
        props = [c for c in df.columns if c not in ("src", "dst")]
        for p in props:
            _rel_prop(t, p)
        # Identity of a relationship: (src, dst) plus key properties (RELATED_TO's predicate).
        keys = rel_key(t)[2:]
        for k in keys:
            if k not in df.columns or df[k].isna().any():
                raise StoreError(
                    f"{t} {src}->{dst}: every row needs a {k!r} value (it identifies the relationship)"
                )
        df = df.drop_duplicates(rel_key(t))
        # Properties inline in CREATE (a null is simply not stored): one operator instead of a SET each.
        rel = f"[:{t} {{{', '.join(f'{p}: $p_{p}[i]' for p in props)}}}]" if props else f"[:{t}]"
        ends = f"UNWIND range(0, size($src) - 1) AS i MATCH (a:{src} {{id: $src[i]}}) MATCH (b:{dst} {{id: $dst[i]}}) "
        if self._count(f"MATCH ()-[r:{t}]->() RETURN count(r) AS c") == 0:
            # No relationship of this type yet: every (deduplicated) row is new, so the existence check
            # and the Eager it forces can be skipped.
            cypher = ends + f"CREATE (a)-{rel}->(b) RETURN count(*) AS matched, count(*) AS written"
        else:
            values = [p for p in props if p not in keys]
            updates = ", ".join(f"o.{p} = coalesce($p_{p}[i], o.{p})" for p in values)
            match_keys = f" {{{', '.join(f'{k}: $p_{k}[i]' for k in keys)}}}" if keys else ""
            cypher = (
                ends + f"OPTIONAL MATCH (a)-[o:{t}{match_keys}]->(b) "
                f"WITH i, a, b, o, {_changed_expr('o', values)} AS changed "
                f"FOREACH (_ IN CASE WHEN o IS NULL THEN [1] ELSE [] END | CREATE (a)-{rel}->(b)) "
                + (
                    f"FOREACH (_ IN CASE WHEN o IS NOT NULL AND changed THEN [1] ELSE [] END | SET {updates}) "
                    if values
                    else ""
                )
                + "RETURN count(DISTINCT i) AS matched, count(CASE WHEN o IS NULL OR changed THEN 1 END) AS written"
            )
        written = 0
        for start in range(0, len(df), batch_size):
            chunk = df.iloc[start : start + batch_size]
            params = {"src": _ids(chunk["src"], f"{t}.src"), "dst": _ids(chunk["dst"], f"{t}.dst")}
            for p in props:
                params[f"p_{p}"] = _column(chunk[p], types[p], f"{t}.{p}")
            written += self._write(cypher, _write_rels, cypher, params, rf, start)
            tick(f"rels {t} ({src}->{dst})", len(chunk))
        return written

    def _count(self, cypher: str) -> int:
        """A count from Neo4j's count store (``MATCH (n:L) RETURN count(n)``: constant time)."""
        return int(self._read(cypher, _single_int, cypher, {}, "c"))

    # ------------------------------------------------------------------ queries
    def run(
        self, cypher: str, params: dict[str, Any] | None = None, *, write: bool = False
    ) -> list[dict[str, Any]]:
        """Run one statement and return its rows as dicts (nodes become property dicts).

        ``write=False`` runs it in a read transaction: Neo4j itself refuses any write (:class:`StoreError`).
        A ``CALL { … } IN TRANSACTIONS`` statement, which commits its own inner transactions, runs as an
        auto-commit query instead, with the same access mode.
        """
        p = params or {}
        if write:
            self._refuse_if_read_only()
        else:
            self.check_read_only(cypher, p)
        return self._run(cypher, p, write)

    def check_read_only(self, cypher: str, params: dict[str, Any] | None = None) -> None:
        """Refuse ``cypher`` unless Neo4j plans it as a pure read.

        The server's own ``EXPLAIN`` decides: the query type must be read (``r``), and the plan may hold
        no ``LOAD CSV`` (files, URLs), no administration (``TERMINATE TRANSACTIONS``, user or database
        commands) and only the procedures in :data:`READ_PROCEDURES`. A read transaction alone lets those
        through on Community Edition, which has no read-only role.

        Raises:
            StoreError: the statement is refused (the message names the operator or procedure).
        """
        try:
            with self._session(neo4j.READ_ACCESS) as s:
                summary = s.run("EXPLAIN " + cypher, params or {}).consume()
        except _DRIVER_ERRORS as e:
            raise self._error(e, cypher) from None
        found: list[tuple[str, str]] = []
        _walk_plan(summary.plan or {}, found)
        bad: list[str] = []
        procedures: list[str] = []
        for op, details in found:
            name = op.split("@")[0]
            if name.startswith(_REFUSED_OPERATORS):
                bad.append(name)
            elif name == "ProcedureCall":
                proc = details.split("(")[0].strip()
                procedures.append(proc)
                if proc not in READ_PROCEDURES:
                    bad.append(f"procedure {proc}")
        kind = summary.query_type
        if not bad and kind != "r" and not (kind == "s" and procedures and len(found) <= 2 + len(procedures)):
            writers = sorted({op.split("@")[0] for op, _ in found if op.startswith(_WRITE_OPERATORS)})
            what = {"w": "a write", "rw": "a write", "s": "a schema or administration command"}.get(str(kind), f"query type {kind}")
            bad.append(f"{what} ({', '.join(writers)})" if writers else what)
        if bad:
            raise StoreError(read_only_refusal(", ".join(sorted(set(bad)))))

    def _run(self, cypher: str, p: dict[str, Any], write: bool) -> list[dict[str, Any]]:
        access = neo4j.WRITE_ACCESS if write else neo4j.READ_ACCESS
        try:
            with self._session(access) as s:
                return s.execute_write(_data, cypher, p) if write else s.execute_read(_data, cypher, p)
        except nx.Neo4jError as e:
            if "implicit transaction" in (e.message or ""):
                return self._auto(cypher, p, access)
            raise self._error(e, cypher) from None
        except _DRIVER_ERRORS as e:
            raise self._error(e, cypher) from None

    def run_named(
        self, name: str, params: dict[str, Any] | None = None, *, write: bool = False
    ) -> list[dict[str, Any]]:
        """Run ``cypher/<name>.cypher`` (its ``// @neo4j`` variant when it has one); the package's own
        queries skip the read-only plan check."""
        if write:
            self._refuse_if_read_only()
        return self._run(queries.load(name, self.backend), params or {}, write)

    def frame(self, cypher: str, params: dict[str, Any] | None = None) -> pd.DataFrame:
        """A read statement's rows as a DataFrame (columns in ``RETURN`` order, even with no rows); the
        read-only gate of :meth:`run` applies."""
        p = params or {}
        self.check_read_only(cypher, p)
        return self._read(cypher, _to_df, cypher, p)

    def frame_named(self, name: str, params: dict[str, Any] | None = None) -> pd.DataFrame:
        """A package query (``cypher/<name>.cypher``) as a DataFrame; trusted, so the plan gate is skipped."""
        return self.arrow_named(name, params).to_pandas()

    def arrow_named(self, name: str, params: dict[str, Any] | None = None) -> pa.Table:
        """A package query as an Arrow table, fetched column-wise (:func:`columnar_query`)."""
        cypher = queries.load(name, self.backend)
        return self._read(cypher, _columnar, cypher, params or {})

    def counts(self) -> dict[str, dict[str, int]]:
        """Nodes per label and relationships per type, from Neo4j's count store (constant time)."""
        labels = [r["label"] for r in self._run("CALL db.labels() YIELD label RETURN label", {}, False) if r["label"] not in META_LABELS]
        types = [r["t"] for r in self._run("CALL db.relationshipTypes() YIELD relationshipType AS t RETURN t", {}, False)]
        nodes = {}
        for lab in labels:
            n = self._count(f"MATCH (n:{_quote(lab)}) RETURN count(n) AS c")
            if n:
                nodes[lab] = int(n)
        rels = {}
        for t in types:
            n = self._count(f"MATCH ()-[r:{_quote(t)}]->() RETURN count(r) AS c")
            if n:
                rels[t] = int(n)
        return {"nodes": dict(sorted(nodes.items())), "rels": dict(sorted(rels.items()))}

    # ------------------------------------------------------------------ write-back
    def set_node_properties(self, label: str, df: pd.DataFrame, *, batch_size: int = 5000) -> int:
        """Set properties of existing ``label`` nodes from ``df`` (``id`` + one column per property).

        Unlike :meth:`load`, a null here removes the property. Ids with no node are skipped; the return
        value counts the nodes found and updated.
        """
        node_label(label)
        if "id" not in df.columns:
            raise StoreError(f"set_node_properties({label}): the frame has no 'id' column")
        props = [c for c in df.columns if c != "id"]
        if not props:
            return 0
        types = NODE_TYPES[label].props
        for p in props:
            _node_prop(label, p)
        sets = ", ".join(f"n.{p} = $p_{p}[i]" for p in props)
        cypher = f"UNWIND range(0, size($id) - 1) AS i MATCH (n:{label} {{id: $id[i]}}) SET {sets} RETURN count(n) AS n"
        updated = 0
        for start in range(0, len(df), batch_size):
            chunk = df.iloc[start : start + batch_size]
            params = {"id": _ids(chunk["id"], f"{label}.id")}
            for p in props:
                params[f"p_{p}"] = _column(chunk[p], types[p], f"{label}.{p}")
            updated += self._write(cypher, _single_int, cypher, params, "n")
        return updated

    def delete_rels(self, type: str, *, prop: str | None = None, value: Any = None) -> int:
        """Delete ``type`` relationships (only those with ``prop = value`` when ``prop`` is given), in
        batches of 10,000 per transaction. Returns how many were deleted."""
        t = rel_type(type)
        where, params = "", {}
        if prop is not None:
            where, params = f" WHERE r.{_rel_prop(t, prop)} = $value", {"value": value}
        cypher = f"MATCH ()-[r:{t}]->(){where} WITH r LIMIT 10000 DELETE r RETURN count(*) AS n"
        deleted = 0
        while True:
            n: int = self._write(cypher, _single_int, cypher, params, "n")
            deleted += n
            if n < 10000:
                return deleted

    def create_vector_index(self, label: str, prop: str, dim: int) -> str:
        """Create a cosine vector index on ``label.prop`` and wait until it is online; returns its name.

        The index is not quantised, so search scores are exact cosines, as in the embedded store. An
        existing index on ``label.prop`` with another dimension or configuration is dropped and re-created.
        """
        node_label(label)
        if NODE_TYPES[label].props.get(_node_prop(label, prop)) != "FLOAT[]":
            raise StoreError(f"{label}.{prop} is not a FLOAT[] property; vector indexes need one")
        if not isinstance(dim, (int, np.integer)) or not 1 <= int(dim) <= _MAX_VECTOR_DIM:
            raise StoreError(
                f"vector index dimension must be an integer in 1..{_MAX_VECTOR_DIM}, got {dim!r}"
            )
        dim = int(dim)
        existing = self._vector_index(label, prop)
        if existing is not None:
            name, config = existing
            if (
                int(config.get("vector.dimensions", -1)) == dim
                and str(config.get("vector.similarity_function", "")).lower() == "cosine"
                and not config.get("vector.quantization.enabled", False)
            ):
                self._auto("CALL db.awaitIndex($name, $s)", {"name": name, "s": _INDEX_WAIT_S})
                return name
            self._auto(f"DROP INDEX {_quote(name)} IF EXISTS")
        name = _ident(f"{label.lower()}_{prop}_vector")
        self._auto(
            f"CREATE VECTOR INDEX {name} IF NOT EXISTS FOR (n:{label}) ON n.{prop} "
            "OPTIONS {indexConfig: {`vector.dimensions`: $dim, `vector.similarity_function`: 'cosine', "
            "`vector.quantization.enabled`: false}}",
            {"dim": dim},
        )
        self._auto("CALL db.awaitIndex($name, $s)", {"name": name, "s": _INDEX_WAIT_S})
        return name

    def _vector_index(self, label: str, prop: str) -> tuple[str, dict[str, Any]] | None:
        rows = self._run(  # the store's own statements skip the read-only plan check
            "SHOW VECTOR INDEXES YIELD name, labelsOrTypes, properties, options, entityType "
            "WHERE entityType = 'NODE' AND labelsOrTypes = [$label] AND properties = [$prop] "
            "RETURN name, options",
            {"label": label, "prop": prop}, False,
        )
        if not rows:
            return None
        return rows[0]["name"], dict((rows[0]["options"] or {}).get("indexConfig") or {})

    def vector_search(
        self, label: str, prop: str, vector: Sequence[float] | np.ndarray, k: int = 10
    ) -> list[tuple[str, float]]:
        """Nearest ``label`` nodes by cosine similarity through the (HNSW, so approximate) vector index.

        Neo4j scores cosine as ``(1 + cos) / 2``; this returns the cosine itself, like the embedded store.

        Raises:
            StoreError: there is no vector index on ``label.prop`` (call :meth:`create_vector_index`), or
                the query vector's length differs from the index dimension.
        """
        node_label(label)
        _node_prop(label, prop)
        found = self._vector_index(label, prop)
        if found is None:
            raise StoreError(f"no vector index on {label}.{prop}; create one with create_vector_index first")
        name, config = found
        vec = [float(x) for x in np.asarray(vector, dtype=np.float64).ravel()]
        dim = int(config.get("vector.dimensions", len(vec)))
        if len(vec) != dim:
            raise StoreError(f"query vector has {len(vec)} dimensions; the index on {label}.{prop} has {dim}")
        if k < 1:
            return []
        rows = self._run(
            "CALL db.index.vector.queryNodes($name, $k, $vec) YIELD node, score "
            "RETURN node.id AS id, score ORDER BY score DESC, id",
            {"name": name, "k": int(k), "vec": vec}, False,
        )
        return [(r["id"], 2.0 * float(r["score"]) - 1.0) for r in rows]

    def clear(self) -> None:
        """Delete every node and relationship, 10,000 nodes per transaction. Constraints and indexes stay."""
        self._auto("MATCH (n) CALL (n) { DETACH DELETE n } IN TRANSACTIONS OF 10000 ROWS")
        self._schema_ready = False  # the next load re-creates the store's identity

    @contextmanager
    def idle(self) -> Iterator[None]:
        """Nothing to give back: the server keeps its own memory, and the driver's pool is small."""
        yield

    def close(self) -> None:
        """Close the driver (idempotent)."""
        if not self._closed:
            self._closed = True
            if self._owns_driver:  # a driver passed in belongs to the caller
                self._driver.close()

    def __enter__(self) -> Neo4jStore:  # noqa: PYI034 (Self needs Python 3.11)
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Neo4jStore({self.uri!r}, user={self.user!r}, database={self.database!r})"


# ---------------------------------------------------------------------- transaction functions
# Module-level, taking their inputs as arguments: the driver may call them again on a transient error.
def _walk_plan(plan: Any, out: list[tuple[str, str]]) -> None:
    """Flatten an ``EXPLAIN`` plan (dict form from the driver) into (operator, details) pairs."""
    if not plan:
        return
    args = plan.get("args", {}) if isinstance(plan, dict) else {}
    out.append((str(plan.get("operatorType", "")), str(args.get("Details", ""))))
    for child in plan.get("children", []):
        _walk_plan(child, out)


def _data(tx: neo4j.ManagedTransaction, cypher: str, params: dict[str, Any]) -> list[dict[str, Any]]:
    return [r.data() for r in tx.run(cypher, params)]


_LAST_RETURN = re.compile(r"\bRETURN\b(?!.*\bRETURN\b)", re.IGNORECASE | re.DOTALL)


def columnar_query(cypher: str, columns: Sequence[str]) -> str:
    """``cypher`` rewritten to answer in one record of one list per column.

    The Python driver decodes about 40 k records/s whatever their size (one ``Record`` object and one
    dict per row); lists inside one record decode several times faster. The final ``RETURN`` becomes a
    ``WITH`` (keeping its ``DISTINCT``, ``ORDER BY``, ``SKIP`` and ``LIMIT``), then every column is
    collected, and counted so that a column holding nulls (which ``collect`` drops) is detected.
    Only for the package's own queries, whose last clause is a top-level ``RETURN``.
    """
    body = _LAST_RETURN.sub("WITH", cypher.strip().rstrip(";"), count=1)
    parts = ["count(*) AS `__rows`"] + [f"collect(`{c}`) AS `{c}`, count(`{c}`) AS `__n_{c}`" for c in columns]
    return f"{body}\nRETURN " + ", ".join(parts)


def _columnar(tx: neo4j.ManagedTransaction, cypher: str, params: dict[str, Any]) -> pa.Table:
    columns = list(tx.run("EXPLAIN " + cypher, params).keys())
    rec = tx.run(columnar_query(cypher, columns), params).single(strict=True)
    n = int(rec["__rows"])
    with_nulls = [c for c in columns if int(rec[f"__n_{c}"]) < n]
    data = {c: rec[c] for c in columns if c not in with_nulls}
    if with_nulls:  # rare (optional properties): fetch those columns as one-element rows, nulls kept
        body = _LAST_RETURN.sub("WITH", cypher.strip().rstrip(";"), count=1)
        q = f"{body}\nRETURN " + ", ".join(f"collect([`{c}`]) AS `{c}`" for c in with_nulls)
        rec2 = tx.run(q, params).single(strict=True)
        data.update({c: [v[0] for v in rec2[c]] for c in with_nulls})
    return pa.table({c: pa.array(data[c]) for c in columns})


def _to_df(tx: neo4j.ManagedTransaction, cypher: str, params: dict[str, Any]) -> pd.DataFrame:
    return tx.run(cypher, params).to_df()


def _single_int(tx: neo4j.ManagedTransaction, cypher: str, params: dict[str, Any], key: str) -> int:
    return int(tx.run(cypher, params).single(strict=True)[key])


def _write_rels(
    tx: neo4j.ManagedTransaction, cypher: str, params: dict[str, Any], rf: RelFrame, start: int
) -> int:
    """One relationship batch; if some row's endpoint is missing, name examples and roll the batch back."""
    rec = tx.run(cypher, params).single(strict=True)
    n_rows = len(params["src"])
    if rec["matched"] < n_rows:
        parts = []
        for col, label in (("src", rf.src_label), ("dst", rf.dst_label)):
            m = tx.run(_missing_ids_query(label), {"ids": params[col]}).single(strict=True)
            if m["n"]:
                parts.append(f"{m['n']} {col} ids have no {label} node (e.g. {m['examples']})")
        raise StoreError(
            f"{rf.type} {rf.src_label}->{rf.dst_label}, frame rows {start}..{start + n_rows - 1}: "
            f"{n_rows - rec['matched']} rows name a node that is not in the store: {'; '.join(parts)}. "
            "Load those nodes first (include them in the GraphFrames)."
        )
    return int(rec["written"])


# ---------------------------------------------------------------------- helpers
def _ident(name: str) -> str:
    """A schema object name (constraint/index) built from whitelisted parts."""
    return check_name(name)


def _quote(name: str) -> str:
    """Backtick-quote a label/type read back from the database (not from input)."""
    return "`" + name.replace("`", "``") + "`"


def _node_prop(label: str, prop: str) -> str:
    if prop not in NODE_TYPES[label].props:
        raise StoreError(f"{label}.{prop} is not a schema property; known: {sorted(NODE_TYPES[label].props)}")
    return check_name(prop)


def _rel_prop(type_: str, prop: str) -> str:
    if prop not in REL_TYPES[type_].props:
        raise StoreError(f"{type_}.{prop} is not a schema property; known: {sorted(REL_TYPES[type_].props)}")
    return check_name(prop)


def _missing_ids_query(label: str) -> str:
    return (
        f"UNWIND $ids AS id WITH DISTINCT id OPTIONAL MATCH (n:{node_label(label)} {{id: id}}) "
        "WITH id WHERE n IS NULL RETURN collect(id)[..5] AS examples, count(id) AS n"
    )


def _changed_expr(var: str, props: list[str]) -> str:
    """Cypher: true when some incoming non-null value differs from the stored one (or none is stored)."""
    if not props:
        return "false"
    return (
        "("
        + " OR ".join(
            f"($p_{p}[i] IS NOT NULL AND NOT coalesce({var}.{p} = $p_{p}[i], false))" for p in props
        )
        + ")"
    )


def _ids(s: pd.Series, what: str) -> list[str]:
    if s.isna().any():
        row = int(np.flatnonzero(s.isna().to_numpy())[0])
        raise StoreError(f"{what}: missing id at row {row}; every node and relationship endpoint needs an id")
    return [v if isinstance(v, str) else str(v) for v in s.tolist()]


def _missing(v: Any) -> bool:
    if v is None:
        return True
    if isinstance(v, float):
        return math.isnan(v)
    if isinstance(v, (str, list, tuple, np.ndarray)):
        return False
    try:
        return bool(pd.isna(v))
    except (TypeError, ValueError):
        return False


def _as_int(v: Any) -> int:
    if isinstance(v, (int, np.integer)) and not isinstance(v, bool):
        return int(v)
    f = float(v)
    if not f.is_integer():
        raise ValueError("not a whole number")
    return int(f)


def _as_str(v: Any) -> str:
    return v if isinstance(v, str) else str(v)


def _as_floats(v: Any) -> list[float]:
    return np.asarray(v, dtype=np.float64).ravel().tolist()


def _as_strs(v: Any) -> list[str]:
    if isinstance(v, str):
        raise TypeError("a single string, not a list of strings")
    return [_as_str(x) for x in v]


_CONVERT: dict[str, Callable[[Any], Any]] = {
    "INT64": _as_int,
    "DOUBLE": float,
    "STRING": _as_str,
    "FLOAT[]": _as_floats,
    "STRING[]": _as_strs,
}


def _column(s: pd.Series, ptype: str, what: str) -> list[Any]:
    """One DataFrame column as a list of Bolt-ready Python values of the schema type; nulls become None.

    Typed pandas columns take a vectorised path; anything else is converted value by value, and a value
    that does not fit is reported with its row.
    """
    na = s.isna().to_numpy() if ptype not in ("FLOAT[]", "STRING[]") else None
    if ptype == "INT64" and pd.api.types.is_integer_dtype(s.dtype) and na is not None and not na.any():
        ints: list[Any] = s.to_numpy(dtype=np.int64).tolist()
        return ints
    if (
        ptype == "DOUBLE"
        and pd.api.types.is_numeric_dtype(s.dtype)
        and not pd.api.types.is_bool_dtype(s.dtype)
    ):
        floats: list[Any] = s.to_numpy(dtype=np.float64, na_value=np.nan).tolist()
        if na is not None and na.any():
            floats = [None if m else v for v, m in zip(floats, na.tolist())]
        return floats
    values = s.tolist()
    if (
        ptype == "STRING"
        and na is not None
        and all(isinstance(v, str) or m for v, m in zip(values, na.tolist()))
    ):
        return [None if m else v for v, m in zip(values, na.tolist())]
    conv = _CONVERT.get(ptype)
    out: list[Any] = []
    for row, v in enumerate(values):
        if _missing(v):
            out.append(None)
            continue
        if conv is None:
            out.append(v)
            continue
        try:
            out.append(conv(v))
        except (TypeError, ValueError, OverflowError) as e:
            raise StoreError(f"{what}: row {row}: expected {ptype}, got {v!r} ({e})") from None
    return out
