"""The embedded backend: LadybugDB (the maintained continuation of Kùzu), zero set-up, one folder on disk.

Bulk paths are Arrow: new nodes and relationships are ``COPY``-ed from Arrow tables, property updates
are ``LOAD FROM <arrow> MATCH … SET``. Idempotency comes from an anti-join against what the store
already holds, so a re-run (or a run after a failure) writes only what is missing.

Dialect notes (the differences live here, not in ``cypher/``):

* LadybugDB needs a fixed schema: node tables come from :data:`~persona.kgstore.schema.NODE_TYPES`;
  relationship tables are created, or widened with ``ALTER TABLE … ADD FROM … TO …``, for each
  (source label, target label) pair the first time a load brings it.
* Read-only: :meth:`run` with ``write=False`` first asks the database to plan the statement
  (``prepare`` — one statement only — then ``EXPLAIN``) and refuses it unless every physical operator
  and table function in the plan is a pure read (:data:`READ_OPERATORS`, :data:`READ_FUNCTIONS`): no
  ``COPY … TO/FROM``, ``LOAD FROM``, ``LOAD``/``INSTALL`` extension, ``EXPORT``/``IMPORT DATABASE``,
  ``ATTACH``, settings or transaction statements. The allowed statement then runs inside ``BEGIN
  TRANSACTION READ ONLY``, and a store opened with ``read_only=True`` is also opened read-only by
  LadybugDB. The gate reads the plan the database itself built, not the statement text.
* Vector search: LadybugDB's ``vector`` extension is downloaded on first ``INSTALL``, which offline
  machines cannot do. The store therefore answers :meth:`vector_search` with an exact cosine scan in
  Cypher (``array_cosine_similarity``), which is what ``cypher/similar_users.cypher`` does too; no index
  is created. Exact search over 10⁴–10⁵ nodes takes milliseconds.

Why one long module: a backend is one module (the GraphStore protocol's other side is
:mod:`persona.kgstore.neo4j`), and its read-only gate, bulk load and write-back share the connection
and the table catalogue; splitting them would pass the connection's private state between files.
"""

from __future__ import annotations

import decimal
import json
import re
import threading
import time
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

import ladybug

from . import queries
from ._protocol import Progress, StoreError, read_only_refusal
from .frames import GraphFrames, RelFrame
from .schema import META_LABELS, NODE_TYPES, REL_TYPES, adopt_rel_type, new_identity, node_label, rel_key, rel_type

_DDL_TYPES = {"STRING": "STRING", "INT64": "INT64", "DOUBLE": "DOUBLE", "FLOAT[]": "FLOAT[]", "STRING[]": "STRING[]"}
_ARROW_TYPES = {
    "STRING": pa.string(),
    "INT64": pa.int64(),
    "DOUBLE": pa.float64(),
    "FLOAT[]": pa.list_(pa.float32()),
    "STRING[]": pa.list_(pa.string()),
}

# One Database object per path and process: LadybugDB locks its files, so two handles on one path in
# the same process would conflict (tests and the Streamlit app open stores repeatedly).
_DATABASES: dict[str, tuple[Any, int]] = {}
_LOCK = threading.Lock()

#: WAL size that triggers an automatic checkpoint. LadybugDB's default (a few MiB) checkpoints many times
#: inside one bulk ``SET`` of list properties (embeddings, personas), and each checkpoint rewrites the
#: list columns: writing 384-d vectors to 28k nodes took 309 s with the default. Write-back methods
#: checkpoint explicitly instead (see :data:`LIST_SET_ROWS`), so the WAL does not linger.
CHECKPOINT_BYTES = 1 << 30
#: Seconds :meth:`EmbeddedStore.idle` waits for another writer before it gives up reopening the store.
REOPEN_WAIT_S = 60.0
#: Rows per ``SET`` + ``CHECKPOINT`` when list properties (embeddings, personas) are written. A checkpoint
#: of updated list values costs about quadratically in the rows it holds, so they are written in small
#: batches, each checkpointed (``python bench/bench_list_set.py``, 384-d vectors): 8,000 rows 13.2 s at
#: once vs 1.8 s in batches of 500; 28,000 rows over 150 s at once vs 7.8 s.
LIST_SET_ROWS = 500


#: Physical operators of a read-only plan (LadybugDB's ``EXPLAIN`` names). Anything else — ``COPY_TO``,
#: ``LOAD_EXTENSION``, ``INSTALL_EXTENSION``, ``EXPORT_DATABASE``, ``ATTACH_DATABASE``, ``STANDALONE_CALL``
#: (settings), ``TRANSACTION``, inserts, sets, deletes, DDL — is refused by :meth:`EmbeddedStore.run`
#: without ``write=True``. An allow-list, so an operator a future LadybugDB adds is refused until listed.
READ_OPERATORS: frozenset[str] = frozenset({
    "AGGREGATE", "AGGREGATE_FINALIZE", "AGGREGATE_SCAN", "CROSS_PRODUCT", "DUMMY_SINK", "DUMMY_SIMPLE_SINK",
    "EMPTY_RESULT", "FILTER", "FLATTEN", "HASH_JOIN_BUILD", "HASH_JOIN_PROBE", "INDEX_LOOKUP", "INTERSECT",
    "INTERSECT_BUILD", "LIMIT", "MULTIPLICITY_REDUCER", "ORDER_BY", "ORDER_BY_MERGE", "ORDER_BY_SCAN",
    "PATH_PROPERTY_PROBE", "PRIMARY_KEY_SCAN_NODE_TABLE", "PROJECTION", "RECURSIVE_EXTEND", "RESULT_COLLECTOR",
    "SCAN_NODE_TABLE", "SCAN_REL_TABLE", "SEMI_MASKER", "SKIP", "TABLE_FUNCTION_CALL", "TOP_K", "TOP_K_SCAN",
    "UNION_ALL_SCAN", "UNWIND", "COUNT_REL_TABLE", "PARTITIONER", "OFFSET", "DISTINCT", "SIMPLE_AGGREGATE",
    "SIMPLE_AGGREGATE_FINALIZE", "SIMPLE_AGGREGATE_SCAN", "HASH_AGGREGATE", "HASH_AGGREGATE_FINALIZE",
    "HASH_AGGREGATE_SCAN", "FLAT_JOIN_BUILD", "FLAT_JOIN_PROBE", "COUNT_EXTEND_CHAIN", "QUERY_PRIMARY_KEY_LOOKUP",
})
#: Table functions a read-only plan may call: catalogue look-ups and ``READ_FTABLE`` (the planner's
#: source for ``RETURN``/``UNWIND`` without a scan). File and Python-object readers (``READ_CSV*``,
#: ``READ_PARQUET``, ``READ_NPY``, ``READ_PANDAS``, ``READ_ARROW``…) are refused.
READ_FUNCTIONS: frozenset[str] = frozenset({
    "READ_FTABLE", "SHOW_TABLES", "SHOW_CONNECTION", "TABLE_INFO", "DB_VERSION", "CURRENT_SETTING",
    "SHOW_FUNCTIONS", "SHOW_INDEXES", "SHOW_SEQUENCES", "SHOW_MACROS", "SHOW_WARNINGS", "STORAGE_INFO",
    "STATS_INFO", "SHOW_ATTACHED_DATABASES", "SHOW_OFFICIAL_EXTENSIONS", "SHOW_LOADED_EXTENSIONS", "SHOW_PROJECTED_GRAPHS",
    "QUERY_VECTOR_INDEX", "QUERY_FTS_INDEX",
})
_PLAN_OPERATOR = re.compile(r"│\s*([A-Z][A-Z0-9_]*)\[\d+\]\s*│")
_PLAN_FUNCTION = re.compile(r"Function:\s*([A-Z][A-Z0-9_]*)")


#: Statements whose *planning* already touches the file system in LadybugDB 0.22 (``EXPLAIN EXPORT
#: DATABASE`` creates the target directory; ``IMPORT DATABASE`` reads its files while binding): they are
#: refused by their leading keyword before the database plans them.
_PLANNING_SIDE_EFFECTS = ("EXPORT", "IMPORT")


def leading_keyword(cypher: str) -> str:
    """The first keyword of a statement, upper-cased, after whitespace and ``//`` / ``/* */`` comments."""
    i, n = 0, len(cypher)
    while i < n:
        if cypher[i].isspace():
            i += 1
        elif cypher.startswith("//", i):
            j = cypher.find("\n", i)
            i = n if j < 0 else j + 1
        elif cypher.startswith("/*", i):
            j = cypher.find("*/", i + 2)
            i = n if j < 0 else j + 2
        else:
            break
    j = i
    while j < n and (cypher[j].isalnum() or cypher[j] == "_"):
        j += 1
    word = cypher[i:j].upper()
    if word in ("EXPLAIN", "PROFILE"):  # the statement they wrap decides
        return leading_keyword(cypher[j:])
    return word


def plan_operators(plan: str) -> tuple[set[str], set[str]]:
    """The physical operators and table functions named in a LadybugDB ``EXPLAIN`` plan.

    An operator's name is the first line inside its box (the line after a ``┌`` border), so names in
    expressions (``FLOAT[384]`` in a cast) are never taken for operators.
    """
    lines = plan.splitlines()
    ops: set[str] = set()
    for i, line in enumerate(lines[:-1]):
        if "┌" in line:
            ops.update(_PLAN_OPERATOR.findall(lines[i + 1]))
    return ops, set(_PLAN_FUNCTION.findall(plan))


def _acquire(path: str, read_only: bool) -> Any:
    with _LOCK:
        db, refs = _DATABASES.get(path, (None, 0))
        if db is None:
            db = ladybug.Database(path, read_only=read_only, checkpoint_threshold=CHECKPOINT_BYTES)
        _DATABASES[path] = (db, refs + 1)
        return db


#: Tries of an open that read files another process was changing (see :meth:`EmbeddedStore._open`).
OPEN_RETRIES = 5

#: The first bytes of a LadybugDB database file.
_MAGIC = b"LBUG"


def _header(path: Path) -> bytes:
    with open(path, "rb") as fh:
        return fh.read(len(_MAGIC))


def _open_error(uri: str, e: BaseException) -> str:
    msg = " ".join(str(e).split())
    low = msg.lower()
    if "lock" in low:
        return f"cannot open {uri}: another process is writing to it ({msg}); wait for it to finish"
    if isinstance(e, ValueError):  # a C++ std:: error (length_error, …) reading files that changed under it
        return (f"cannot open {uri}: another process is writing to it, or its files are damaged ({msg}); "
                "wait for the writer to finish and try again")
    if "not a valid" in low or "magic" in low or ("database" in low and "version" in low):
        return f"cannot open {uri}: the file is not a persona-kg embedded store ({msg}); give another path"
    return f"cannot open embedded store {uri}: {msg}"


def _release(path: str) -> None:
    with _LOCK:
        db, refs = _DATABASES.get(path, (None, 0))
        if db is None:
            return
        if refs <= 1:
            del _DATABASES[path]
            db.close()
        else:
            _DATABASES[path] = (db, refs - 1)


def _arrow(df: pd.DataFrame, types: dict[str, str]) -> pa.Table:
    """DataFrame → Arrow with the schema's types (all-null columns still get the right type)."""
    arrays = []
    for col in df.columns:
        t = types.get(col, "STRING")
        values = df[col]
        if t in ("FLOAT[]", "STRING[]"):
            data = [None if not _present(v) else list(v) for v in values]
            arrays.append(pa.array(data, type=_ARROW_TYPES[t]))
        elif t == "STRING" and values.dtype != object and not pd.api.types.is_string_dtype(values):
            arrays.append(pa.array(values.astype(str).where(values.notna(), None), type=pa.string(), from_pandas=True))
        else:
            arrays.append(pa.array(values, type=_ARROW_TYPES[t], from_pandas=True))
    return pa.Table.from_arrays(arrays, names=list(df.columns))


class EmbeddedStore:
    """A LadybugDB database in a folder/file at ``path`` (created on first use).

    Args:
        path: Database path, e.g. ``persona.db``.
        read_only: Open the database read-only (``persona cypher`` without ``--write``); the path must exist.

    Example:
        >>> store = EmbeddedStore("/tmp/example.db")  # doctest: +SKIP
        >>> store.init_schema(); store.counts()  # doctest: +SKIP
    """

    backend = "embedded"

    def __init__(self, path: str | Path, *, read_only: bool = False, create: bool = True) -> None:
        self.path = str(Path(path).expanduser().resolve())
        self.uri = f"embedded:{path}"
        self.read_only = read_only
        p = Path(self.path)
        if (read_only or not create) and not p.exists():
            raise StoreError(f"{self.uri}: no such embedded store; create it with `persona ingest … --store {self.uri}`")
        if p.is_dir() and not any(p.iterdir()):
            raise StoreError(f"{self.uri}: {self.path} is an empty directory, not an embedded store; give a file path")
        if p.is_dir():
            raise StoreError(f"{self.uri}: {self.path} is a directory, not an embedded store file; give a file path")
        if p.is_file() and p.stat().st_size and _header(p) != _MAGIC:
            raise StoreError(f"cannot open {self.uri}: the file is not a persona-kg embedded store "
                             f"(no LadybugDB header); give another path")
        try:
            p.parent.mkdir(parents=True, exist_ok=True)
            self._db = self._open(read_only)
        except (RuntimeError, OSError, ValueError) as e:
            raise StoreError(_open_error(self.uri, e)) from None
        try:
            self._conn = ladybug.Connection(self._db)
        except (RuntimeError, ValueError) as e:
            _release(self.path)
            raise StoreError(_open_error(self.uri, e)) from None
        self._closed = False
        self._rel_pairs: dict[str, set[tuple[str, str]]] | None = None

    def _open(self, read_only: bool) -> Any:
        """Acquire the database; a read-only open of a store left mid-checkpoint by a crash recovers it.

        A read-only open does not wait for a writing process: when it reads files that process is changing,
        LadybugDB fails with a C++ ``std::`` error (``ValueError`` here, e.g. ``vector::_M_default_append``).
        That open is tried again a few times (about 2 s in all) before the error goes up."""
        for attempt in range(OPEN_RETRIES):
            try:
                return _acquire(self.path, read_only)
            except ValueError:
                if attempt + 1 == OPEN_RETRIES:
                    raise
                time.sleep(0.2 * (attempt + 1))
            except RuntimeError as e:
                if not (read_only and "read-write" in str(e).lower()):
                    raise
                break
        # LadybugDB replays an interrupted checkpoint only in read-write mode: do that once, then reopen.
        with _LOCK:
            ladybug.Database(self.path, read_only=False, checkpoint_threshold=CHECKPOINT_BYTES).close()
        return _acquire(self.path, read_only)

    def _refuse_if_read_only(self) -> None:
        if self.read_only:
            raise StoreError(f"{self.uri} was opened read-only; writes are refused")

    # ------------------------------------------------------------------ low level
    def _exec(self, cypher: str, params: dict[str, Any] | None = None) -> Any:
        try:
            return self._conn.execute(cypher, params or {})
        except RuntimeError as e:
            raise StoreError(f"{e}\n  in query: {' '.join(cypher.split())[:300]}") from None

    def _df(self, cypher: str) -> pd.DataFrame:
        """One internal single-statement query as a frame (catalogue calls: no gate, no parameters)."""
        res = self._conn.execute(cypher)
        if isinstance(res, list):  # several statements: never sent by this class
            raise StoreError(f"expected one statement: {cypher[:80]}")
        return res.get_as_df()

    def _tables(self) -> dict[str, str]:
        """Table name → NODE/REL. Relationship types an earlier ingest derived from its KG's predicates
        are adopted into the schema here (:func:`~persona.kgstore.schema.adopt_rel_type`), so every later
        process knows them; a table whose name breaks the naming rules stays unknown."""
        df = self._df("CALL show_tables() RETURN name, type")
        tables = dict(zip(df["name"], df["type"]))
        for name, kind in tables.items():
            if kind == "REL" and name not in REL_TYPES:
                try:
                    adopt_rel_type(name)
                except ValueError:
                    pass
        return tables

    def _pairs(self) -> dict[str, set[tuple[str, str]]]:
        if self._rel_pairs is None:
            self._rel_pairs = {}
            for name, kind in self._tables().items():
                if kind == "REL":
                    con = self._df(f"CALL show_connection('{name}') RETURN *")
                    self._rel_pairs[name] = set(zip(con.iloc[:, 0], con.iloc[:, 1]))
        return self._rel_pairs

    # ------------------------------------------------------------------ schema
    def init_schema(self) -> None:
        """Create a node table (``id`` primary key) for every schema label; idempotent."""
        self._refuse_if_read_only()
        existing = self._tables()
        for name, kind in existing.items():  # a store written by an older persona-kg: add new columns
            props = NODE_TYPES[name].props if kind == "NODE" and name in NODE_TYPES else (
                REL_TYPES[name].props if kind == "REL" and name in REL_TYPES else None)
            if props:
                have = set(self._df(f"CALL table_info('{name}') RETURN name")["name"])
                for p, t in props.items():
                    if p not in have:
                        self._exec(f"ALTER TABLE {name} ADD {p} {_DDL_TYPES[t]}")
        for label, nt in NODE_TYPES.items():
            if label in existing:
                continue
            cols = ", ".join(f"{p} {_DDL_TYPES[t]}" for p, t in nt.props.items())
            self._exec(f"CREATE NODE TABLE IF NOT EXISTS {label}(id STRING, {cols}, PRIMARY KEY(id))")
        # the core relationship tables exist from the start, so queries on them run on any store
        for type, src, dst in (("RATED", "User", "Item"), ("RECOMMENDED", "User", "Item"), ("HELD_OUT", "User", "Item"),
                               ("SIMILAR", "User", "User"), ("SIMILAR", "Item", "Item")):
            self._ensure_rel(type, src, dst)
        if self.identity() is None:
            self._exec("CREATE (:Store {id: $id, created_at: $t})", new_identity())

    def identity(self) -> str | None:
        """The store's UUID (set by :meth:`init_schema`), or None for a store created before identities."""
        try:
            rows = _rows(self._conn.execute("MATCH (s:Store) RETURN s.id AS id ORDER BY id LIMIT 1"))
        except RuntimeError:  # no Store table yet
            return None
        return rows[0]["id"] if rows else None

    def _ensure_rel(self, type: str, src: str, dst: str) -> None:
        rel_type(type)
        node_label(src)
        node_label(dst)
        pairs = self._pairs()
        if type not in pairs:
            props = "".join(f", {p} {_DDL_TYPES[t]}" for p, t in REL_TYPES[type].props.items())
            self._exec(f"CREATE REL TABLE IF NOT EXISTS {type}(FROM {src} TO {dst}{props})")
            pairs[type] = {(src, dst)}
        elif (src, dst) not in pairs[type]:
            self._exec(f"ALTER TABLE {type} ADD IF NOT EXISTS FROM {src} TO {dst}")
            pairs[type].add((src, dst))

    # ------------------------------------------------------------------ loading
    def _ids(self, label: str) -> pd.Series:
        tbl = self._exec(f"MATCH (n:{label}) RETURN n.id AS id").get_as_arrow()
        return tbl.column("id").to_pandas()

    def load(self, frames: GraphFrames, *, batch_size: int = 5000, progress: Progress | None = None) -> dict[str, int]:
        """Write what the store lacks from ``frames``; see :meth:`GraphStore.load`. Each frame is one bulk
        ``COPY`` (anti-joined against what is stored), so ``batch_size`` — rows per transaction on Neo4j —
        does not apply here."""
        self._refuse_if_read_only()
        self.init_schema()
        written: dict[str, int] = {}
        total = sum(frames.counts().values())
        done = 0
        for label, df in frames.nodes.items():
            written[label] = self._load_nodes(label, df)
            done += len(df)
            if progress:
                progress(f"nodes {label}", done, total)
        for rf in frames.rels:
            written[rf.type] = written.get(rf.type, 0) + self._load_rels(rf, frames.nodes)
            done += len(rf.df)
            if progress:
                progress(f"rels {rf.type}", done, total)
        self._conn.execute("CHECKPOINT")
        return written

    def _load_nodes(self, label: str, df: pd.DataFrame) -> int:
        node_label(label)
        if df.empty:
            return 0
        types = {"id": "STRING", **NODE_TYPES[label].props}
        existing = pa.array(self._ids(label), type=pa.string())
        is_new = ~pd.Series(pc.is_in(pa.array(df["id"], type=pa.string()), value_set=existing).to_numpy(zero_copy_only=False), index=df.index)
        new = df[is_new]
        if len(new):
            tbl = _arrow(new, types)
            self._copy(f"COPY {label}({', '.join(tbl.column_names)}) FROM tbl", tbl)
        old = df[~is_new]
        updated = 0
        if len(old) and len(df.columns) > 1:
            updated = self._update_changed(label, old)
        return int(len(new)) + updated

    def _copy(self, statement: str, tbl: pa.Table) -> None:
        # COPY … FROM <python variable>: LadybugDB scans the Arrow table from the caller's frame.
        try:
            self._conn.execute(statement)
        except RuntimeError as e:
            raise StoreError(f"bulk load failed: {e}") from None

    def _update_changed(self, label: str, df: pd.DataFrame) -> int:
        """Set properties whose incoming value is non-null and differs from the stored one."""
        props = [c for c in df.columns if c != "id"]
        cur = self._frame(
            f"MATCH (n:{label}) WHERE n.id IN $ids RETURN n.id AS id, " + ", ".join(f"n.{p} AS {p}" for p in props),
            {"ids": df["id"].tolist()},
        )
        merged = df.merge(cur, on="id", how="left", suffixes=("", "__old"))
        changed_ids: set[str] = set()
        for p in props:
            new_v, old_v = merged[p], merged[p + "__old"]
            mask = new_v.map(_present) & (new_v.map(_key) != old_v.map(_key))
            if mask.any():
                sub = merged.loc[mask, ["id", p]]
                self.set_node_properties(label, sub)
                changed_ids.update(sub["id"])
        return len(changed_ids)

    def _load_rels(self, rf: RelFrame, loaded: dict[str, pd.DataFrame]) -> int:
        if rf.df.empty:
            return 0
        self._ensure_rel(rf.type, rf.src_label, rf.dst_label)
        for col, label in (("src", rf.src_label), ("dst", rf.dst_label)):
            ends = pa.array(rf.df[col], type=pa.string(), from_pandas=True)
            if label in loaded:  # endpoints loaded by this same call need no look-up
                ends = pc.filter(ends, pc.invert(pc.is_in(ends, value_set=pa.array(loaded[label]["id"], type=pa.string()))))
                if len(ends) == 0:
                    continue
            known = pa.array(self._ids(label), type=pa.string())
            missing = pd.Series(rf.df[col].isin(pd.Series(pc.filter(ends, pc.invert(pc.is_in(ends, value_set=known))).to_pylist(), dtype=object)).values)
            if missing.any():
                raise StoreError(
                    f"{rf.type}: {int(missing.sum())} {col} ids have no {label} node in the store "
                    f"(e.g. {rf.df.loc[missing, col].iloc[0]!r}); load the nodes first"
                )
        keys = rel_key(rf.type)
        props = list(REL_TYPES[rf.type].props)
        values = [p for p in props if p not in keys and p in rf.df.columns]
        stored = "".join(f", r.{k} AS {k}" for k in [*keys[2:], *values])
        cur = self._frame(
            f"MATCH (a:{rf.src_label})-[r:{rf.type}]->(b:{rf.dst_label}) RETURN a.id AS src, b.id AS dst{stored}"
        )
        df = rf.df.drop_duplicates(keys)
        updated = 0
        if len(cur):
            key = pd.MultiIndex.from_frame(df[keys].astype(object))
            have = pd.MultiIndex.from_frame(cur[keys].astype(object))
            exists = key.isin(have)
            if values and exists.any():
                updated = self._update_rels(rf, df[exists], cur, keys, values)
            df = df[~exists]
        if df.empty:
            return updated
        full = pd.DataFrame({"src": df["src"].values, "dst": df["dst"].values})
        for p in props:
            full[p] = df[p].values if p in df.columns else None
        tbl = _arrow(full, {"src": "STRING", "dst": "STRING", **REL_TYPES[rf.type].props})
        opts = f" (from='{rf.src_label}', to='{rf.dst_label}')" if len(self._pairs()[rf.type]) > 1 else ""
        self._copy(f"COPY {rf.type} FROM tbl{opts}", tbl)
        return int(len(df)) + updated

    def _update_rels(self, rf: RelFrame, df: pd.DataFrame, cur: pd.DataFrame, keys: list[str], values: list[str]) -> int:
        """Set relationship properties whose incoming value is non-null and differs from the stored one
        (what Neo4j's ``coalesce`` update does), in Arrow batches; returns the relationships changed."""
        merged = df[[*keys, *values]].merge(cur, on=keys, how="left", suffixes=("", "__old"))
        changed = pd.Series(False, index=merged.index)
        for p in values:
            changed |= merged[p].map(_present) & (merged[p].map(_key) != merged[p + "__old"].map(_key))
        todo = merged[changed]
        if todo.empty:
            return 0
        types = REL_TYPES[rf.type].props
        for p in values:  # a null keeps the stored value, as on Neo4j
            todo = todo.assign(**{p: todo[p].where(todo[p].map(_present), todo[p + "__old"])})
        upd = _arrow(  # noqa: F841 (LOAD FROM upd scans this local)
            todo[[*keys, *values]].rename(columns={p: f"v_{p}" for p in keys[2:] + values}),
            {"src": "STRING", "dst": "STRING", **{f"v_{p}": types[p] for p in keys[2:] + values}},
        )
        where = "".join(f" AND r.{k} = v_{k}" for k in keys[2:])
        sets = ", ".join(f"r.{p} = v_{p}" for p in values)
        try:
            self._conn.execute(
                f"LOAD FROM upd MATCH (a:{rf.src_label} {{id: src}})-[r:{rf.type}]->(b:{rf.dst_label} {{id: dst}}) "
                f"WHERE true{where} SET {sets}"
            )
        except RuntimeError as e:
            raise StoreError(f"updating {rf.type} properties failed: {e}") from None
        return int(len(todo))

    # ------------------------------------------------------------------ queries
    def check_read_only(self, cypher: str, params: dict[str, Any] | None = None) -> None:
        """Refuse ``cypher`` unless the database plans it as one statement of pure reads.

        Raises:
            StoreError: more than one statement, a statement that does not plan, or a plan with an
                operator or table function outside :data:`READ_OPERATORS` / :data:`READ_FUNCTIONS`
                (the message names them).
        """
        if leading_keyword(cypher) in _PLANNING_SIDE_EFFECTS:
            raise StoreError(read_only_refusal(f"{leading_keyword(cypher)} DATABASE"))
        with warnings.catch_warnings():  # "separate prepare + execute is deprecated": we only prepare
            warnings.simplefilter("ignore", DeprecationWarning)
            prepared = self._conn.prepare(cypher)
        if not prepared.is_success():
            msg = prepared.get_error_message()
            if "multiple statements" in msg:
                raise StoreError("refused in read-only mode: one statement at a time; split the query")
            raise StoreError(f"{msg}\n  in query: {' '.join(cypher.split())[:300]}")
        try:
            res = self._conn.execute("EXPLAIN " + cypher, params or {})
        except RuntimeError as e:
            raise StoreError(f"{e}\n  in query: {' '.join(cypher.split())[:300]}") from None
        plan = "".join(str(r[0]) for r in _rows_raw(res))
        ops, funcs = plan_operators(plan)
        if not ops:
            raise StoreError(read_only_refusal("a statement whose plan could not be read"))
        bad = sorted(ops - READ_OPERATORS) + sorted(funcs - READ_FUNCTIONS)
        if bad:
            raise StoreError(read_only_refusal(", ".join(bad)))

    def run(self, cypher: str, params: dict[str, Any] | None = None, *, write: bool = False) -> list[dict[str, Any]]:
        """Run one statement; read-only unless ``write``.

        Read-only is two gates: :meth:`check_read_only` (the database's own plan of the statement may hold
        only read operators) and a ``READ ONLY`` transaction. A store opened ``read_only`` refuses
        ``write=True``.
        """
        if write and self.read_only:
            raise StoreError(f"{self.uri} was opened read-only; writes are refused")
        if not write:
            self.check_read_only(cypher, params)
            return self._run_read(cypher, params)
        return _rows(self._exec(cypher, params))

    def _run_read(self, cypher: str, params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        """A statement in a ``READ ONLY`` transaction, without the plan gate (the package's own queries)."""
        self._exec("BEGIN TRANSACTION READ ONLY")
        try:
            rows = _rows(self._exec(cypher, params))
        except StoreError as e:
            try:
                self._conn.execute("ROLLBACK")
            except RuntimeError:  # the failed statement already ended the transaction
                pass
            if "read-only" in str(e).lower():
                raise StoreError(f"the query writes but was run read-only (use --write): {e}") from None
            raise
        self._exec("COMMIT")
        return rows

    def run_named(self, name: str, params: dict[str, Any] | None = None, *, write: bool = False) -> list[dict[str, Any]]:
        """A query of the package's ``cypher/`` folder (trusted: the plan gate is skipped)."""
        if write:
            return self.run(queries.load(name, self.backend), params, write=True)
        return self._run_read(queries.load(name, self.backend), params)

    def frame(self, cypher: str, params: dict[str, Any] | None = None) -> pd.DataFrame:
        """A read statement's rows as a DataFrame; the read-only gate of :meth:`run` applies."""
        self.check_read_only(cypher, params)
        return self._frame(cypher, params)

    def frame_named(self, name: str, params: dict[str, Any] | None = None) -> pd.DataFrame:
        """A package query (``cypher/<name>.cypher``) as a DataFrame; trusted, so the plan gate is skipped."""
        return self._frame(queries.load(name, self.backend), params)

    def arrow_named(self, name: str, params: dict[str, Any] | None = None) -> pa.Table:
        """A package query as an Arrow table, straight from LadybugDB's columnar result (the PyG export)."""
        return self._exec(queries.load(name, self.backend), params).get_as_arrow()

    def _frame(self, cypher: str, params: dict[str, Any] | None = None) -> pd.DataFrame:
        return self._exec(cypher, params).get_as_arrow().to_pandas()

    def counts(self) -> dict[str, dict[str, int]]:
        nodes, rels = {}, {}
        for name, kind in self._tables().items():
            if kind == "NODE" and name in NODE_TYPES and name not in META_LABELS:
                n = self._exec(f"MATCH (n:{name}) RETURN count(n) AS c").get_next()[0]
                if n:
                    nodes[name] = int(n)
            elif kind == "REL" and name in REL_TYPES:
                n = self._exec(f"MATCH ()-[r:{name}]->() RETURN count(r) AS c").get_next()[0]
                if n:
                    rels[name] = int(n)
        return {"nodes": dict(sorted(nodes.items())), "rels": dict(sorted(rels.items()))}

    # ------------------------------------------------------------------ write-back
    def set_node_properties(self, label: str, df: pd.DataFrame, *, batch_size: int = 50000) -> int:
        self._refuse_if_read_only()
        node_label(label)
        props = [c for c in df.columns if c != "id"]
        for p in props:
            if p not in NODE_TYPES[label].props:
                raise StoreError(f"{label}.{p} is not a schema property")
        types = {"id": "STRING", **NODE_TYPES[label].props}
        if any(types[p].endswith("[]") for p in props):
            batch_size = min(batch_size, LIST_SET_ROWS)
        n = 0
        for start in range(0, len(df), batch_size):
            chunk = df.iloc[start : start + batch_size]
            upd = _arrow(chunk[["id", *props]].rename(columns={p: f"v_{p}" for p in props}),  # noqa: F841 - LOAD FROM upd reads this local by name
                         {"id": "STRING", **{f"v_{p}": types[p] for p in props}})
            sets = ", ".join(f"n.{p} = v_{p}" for p in props)
            try:
                self._conn.execute(f"LOAD FROM upd MATCH (n:{label} {{id: id}}) SET {sets}")
            except RuntimeError as e:
                raise StoreError(f"updating {label} properties failed: {e}") from None
            self._conn.execute("CHECKPOINT")
            n += len(chunk)
        return n

    def delete_rels(self, type: str, *, prop: str | None = None, value: Any = None) -> int:
        self._refuse_if_read_only()
        rel_type(type)
        if type not in self._pairs():
            return 0
        where, params = "", {}
        if prop is not None:
            if prop not in REL_TYPES[type].props:
                raise StoreError(f"{type}.{prop} is not a schema property")
            where, params = f" WHERE r.{prop} = $v", {"v": value}
        n = self._exec(f"MATCH ()-[r:{type}]->(){where} RETURN count(r)", params).get_next()[0]
        self._exec(f"MATCH ()-[r:{type}]->(){where} DELETE r", params)
        return int(n)

    def create_vector_index(self, label: str, prop: str, dim: int) -> str:
        """Nothing to build: :meth:`vector_search` is an exact cosine scan here (see the module docstring).
        Checks the label and property like Neo4j does and returns the name Neo4j's index would have."""
        node_label(label)
        if prop not in NODE_TYPES[label].props:
            raise StoreError(f"{label}.{prop} is not a schema property")
        return f"{label.lower()}_{prop}_vector"

    def vector_search(self, label: str, prop: str, vector: Sequence[float] | np.ndarray, k: int = 10) -> list[tuple[str, float]]:
        node_label(label)
        if prop not in NODE_TYPES[label].props:
            raise StoreError(f"{label}.{prop} is not a schema property")
        vec = [float(x) for x in np.asarray(vector).ravel()]
        dim = len(vec)
        q = (
            f"MATCH (n:{label}) WHERE n.{prop} IS NOT NULL AND size(n.{prop}) = {dim} "
            f"RETURN n.id AS id, array_cosine_similarity(CAST(n.{prop} AS FLOAT[{dim}]), CAST($q AS FLOAT[{dim}])) AS score "
            f"ORDER BY score DESC, id LIMIT {int(k)}"
        )
        return [(r["id"], float(r["score"])) for r in self._run_read(q, {"q": vec})]  # own statement: no plan check

    def clear(self) -> None:
        self._refuse_if_read_only()
        for name, kind in self._tables().items():
            if kind == "REL":
                self._exec(f"MATCH ()-[r:{name}]->() DELETE r")
        for name, kind in self._tables().items():
            if kind == "NODE":
                self._exec(f"MATCH (n:{name}) DELETE n")

    @contextmanager
    def idle(self) -> Iterator[None]:
        """Close the database for the block and reopen it after (see :meth:`GraphStore.idle`).

        LadybugDB keeps every page it has read in its buffer pool until the database closes (1.5 GiB
        after the export of a 10× Movies & TV-sized graph); HDGI does not need it. Other processes may
        open the store during the block; if one still writes to it at the end, reopening waits for it
        up to :data:`REOPEN_WAIT_S` seconds, then fails with the usual "another process" message.
        """
        if self._closed:
            yield
            return
        self._conn.close()
        _release(self.path)
        try:
            yield
        finally:
            deadline = time.monotonic() + REOPEN_WAIT_S
            while True:
                try:
                    self._db = self._open(self.read_only)
                    self._conn = ladybug.Connection(self._db)
                    break
                except (RuntimeError, ValueError) as e:
                    if "lock" not in str(e).lower() or time.monotonic() > deadline:
                        self._closed = True
                        raise StoreError(_open_error(self.uri, e)) from None
                    time.sleep(0.5)

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            try:
                self._conn.close()
            finally:
                _release(self.path)

    def __enter__(self) -> "EmbeddedStore":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _rows_raw(res: Any) -> list[list[Any]]:
    out = []
    while res.has_next():
        out.append(res.get_next())
    return out


def _rows(res: Any) -> list[dict[str, Any]]:
    cols = res.get_column_names()
    return [{c: _plain(v) for c, v in zip(cols, row)} for row in _rows_raw(res)]


def _plain(v: Any) -> Any:
    """Values as the Neo4j driver returns them: 128-bit sums (``Decimal`` from LadybugDB) as int."""
    if isinstance(v, decimal.Decimal):
        return int(v) if v == v.to_integral_value() else float(v)
    if isinstance(v, dict):
        return {k: _plain(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_plain(x) for x in v]
    return v


def _present(v: Any) -> bool:
    if isinstance(v, (list, tuple, np.ndarray)):
        return True
    return v is not None and not pd.isna(v)


def _key(v: Any) -> str:
    if isinstance(v, (list, tuple, np.ndarray)):
        return json.dumps([float(x) if isinstance(x, (float, np.floating)) else x for x in v])
    if v is None or (not isinstance(v, str) and pd.isna(v)):
        return "\0null"
    if isinstance(v, (float, np.floating)) and float(v).is_integer():
        return str(int(v))
    return str(v)
