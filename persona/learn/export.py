"""Export the knowledge graph from a store into a PyG :class:`~torch_geometric.data.HeteroData`.

Everything is read with the named queries ``cypher/export_*.cypher`` through ``store.arrow_named`` (columnar
Arrow tables), so the same export runs on LadybugDB and Neo4j:

* ``export_users`` / ``export_items`` / ``export_entities`` — nodes with ``id`` and, where present,
  ``text_emb`` (becomes ``data[label].x``; rows without one are zero and counted in ``x_missing``);
* ``export_rated_train`` — ``RATED`` edges of the **training split only** (valid/test never reach
  learning), with their chronological ``pos``;
* ``export_kg_edges`` — every other relationship whose source is not a user (ALSO_BUY/ALSO_VIEW,
  item→attribute/entity edges of every type, entity→entity edges of multi-hop knowledge), read by one
  generic query that returns each edge's labels and type — no relationship type is spliced into Cypher
  text, and types never seen in the schema whitelist are refused.

Edge types are ``(source label, TYPE, target label)``; each gets a reverse ``(target, rev_TYPE,
source)``. Node order per label is the sorted id order, so indices are stable across exports of the
same graph; :class:`IdMaps` maps ids ↔ indices and ``data[label].node_ids`` carries the ids too.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import torch
from torch_geometric.data import HeteroData

from persona.config import HDGISettings
from persona.errors import ConfigError
from persona.kgstore import GraphStore
from persona.kgstore.schema import NODE_TYPES, REL_TYPES, adopt_rel_type

Progress = Callable[[str, int, int], None]

#: Relationship types that are never graph structure for learning.
_NOT_STRUCTURE = {"RATED", "RECOMMENDED"}


@dataclass
class IdMaps:
    """Node ids per label, in index order, with id → index lookup.

    Attributes:
        ids: ``{label: ndarray of str}``; position = node index in the HeteroData.
    """

    ids: dict[str, np.ndarray] = field(default_factory=dict)
    _index: dict[str, pd.Index] = field(default_factory=dict, repr=False)

    def index(self, label: str) -> pd.Index:
        """A pandas Index over ``label``'s ids (``get_indexer`` gives positions, -1 when unknown)."""
        if label not in self._index:
            self._index[label] = pd.Index(self.ids[label])
        return self._index[label]

    def to_index(self, label: str, ids: Sequence[str] | pd.Series) -> np.ndarray:
        """Positions of ``ids`` among ``label``'s nodes (-1 for unknown ids)."""
        return self.index(label).get_indexer(pd.Index(ids).astype(str))

    def to_ids(self, label: str, index: Sequence[int] | np.ndarray | torch.Tensor) -> list[str]:
        """Ids of node positions."""
        idx = index.cpu().numpy() if isinstance(index, torch.Tensor) else np.asarray(index)
        return [str(x) for x in self.ids[label][idx]]


def _list_array(col: Any) -> pa.Array:
    """A list-of-floats column (Arrow array, Arrow-backed or object Series) as one Arrow list array."""
    if isinstance(col, (pa.Array, pa.ChunkedArray)):
        arr = col
    elif isinstance(col.dtype, pd.ArrowDtype):
        arr = pa.array(col)
    else:
        vals = [
            None if v is None or (isinstance(v, float) and np.isnan(v)) else np.asarray(v, dtype=np.float32)
            for v in col
        ]
        arr = pa.array(vals, type=pa.list_(pa.float32()))
    return arr.combine_chunks() if isinstance(arr, pa.ChunkedArray) else arr


def embeddings_from_column(col: Any) -> tuple[np.ndarray | None, np.ndarray]:
    """A list-of-floats column (Arrow list or Python lists) as a float32 matrix plus a has-value mask.

    Returns:
        ``(matrix or None when no row has a value, mask)``; rows without a value are zero.

    Raises:
        ValueError: rows have vectors of different lengths (names the first offending row).
    """
    arr = _list_array(col)
    n = len(arr)
    if n and arr.null_count == 0 and pa.types.is_float32(arr.type.value_type):
        lengths = arr.value_lengths().to_numpy()
        if lengths.min() == lengths.max() and lengths[0] > 0 and arr.values.null_count == 0:
            # every row has a vector of one size: the flat float32 buffer is the matrix (no copy)
            flat = arr.flatten().to_numpy(zero_copy_only=True)
            return flat.reshape(n, int(lengths[0])), np.ones(n, dtype=bool)
    mask = np.asarray(arr.is_valid().to_numpy(zero_copy_only=False), dtype=bool)
    if not mask.any():
        return None, mask
    lengths = np.asarray(arr.value_lengths().fill_null(0).to_numpy(zero_copy_only=False))
    dims = set(lengths[mask].tolist())
    if len(dims) != 1:
        bad = int(np.flatnonzero(mask & (lengths != lengths[mask][0]))[0])
        raise ValueError(
            f"text_emb vectors differ in length (row {bad}: {lengths[bad]}, first: {lengths[mask][0]}); re-encode texts"
        )
    d = dims.pop()
    out = np.zeros((n, d), dtype=np.float32)
    flat = np.asarray(arr.filter(pa.array(mask)).flatten().to_numpy(zero_copy_only=False), dtype=np.float32)
    out[mask] = flat.reshape(-1, d)
    return out, mask


def _strings(col: Any) -> pa.Array:
    """A column of ids as an Arrow string array."""
    if isinstance(col, pa.ChunkedArray):
        col = col.combine_chunks()
    if isinstance(col, pa.Array):
        return col if col.type == pa.string() else col.cast(pa.string())
    if isinstance(col.dtype, pd.ArrowDtype):
        return _strings(pa.array(col))
    return pa.array(col.astype(str).to_numpy(dtype=object), type=pa.string())


def _numbers(col: Any) -> np.ndarray | None:
    """A numeric column as float64 numpy, or None when it is not numeric or has nulls."""
    if isinstance(col, (pa.Array, pa.ChunkedArray)):
        if not (pa.types.is_integer(col.type) or pa.types.is_floating(col.type)) or col.null_count:
            return None
        return np.asarray(col.to_numpy(zero_copy_only=False), dtype=np.float64)
    v = pd.to_numeric(col, errors="coerce")
    return None if v.isna().any() else v.to_numpy(dtype=np.float64)


def build_hetero(
    nodes: dict[str, Any],
    edges: Sequence[tuple[str, str, str, Any]],
    *,
    add_reverse: bool = True,
    features: dict[str, tuple[np.ndarray, np.ndarray]] | None = None,
    feature_rows: dict[str, np.ndarray] | None = None,
) -> tuple[HeteroData, IdMaps]:
    """Assemble a HeteroData from node and edge tables (the core of :func:`export_graph`).

    Args:
        nodes: ``{label: table}`` (a DataFrame or ``pyarrow.Table``) with ``id`` and optionally
            ``text_emb`` (list of floats per row).
        edges: ``(source label, TYPE, target label, table[src, dst, …])``; extra numeric columns
            without nulls (e.g. ``pos``) become edge attributes. Endpoints without a node are dropped
            and counted in ``data[edge_type].dropped``; repeated (src, dst) pairs are kept once.
        add_reverse: Add ``(target, rev_TYPE, source)`` for every edge type.
        features: ``{label: (matrix, has-value mask)}`` aligned with the rows of ``nodes[label]``, for
            labels whose embeddings were already read into a matrix (instead of a ``text_emb`` column).
        feature_rows: ``{label: row positions}`` when ``features[label]`` is a larger matrix shared by
            several labels (every entity of the export): the label's rows are taken from it in the same
            gather that sorts them by id, so the matrix is copied once, not once per step.

    Returns:
        ``(data, id_maps)``.

    Raises:
        ValueError: a node id appears twice within a label.
    """
    data = HeteroData()
    maps = IdMaps()
    sorted_ids: dict[str, pa.Array] = {}
    for label in sorted(nodes):
        tbl = nodes[label]
        ids = _strings(tbl["id"])
        order = pc.sort_indices(ids)
        ids_sorted = ids.take(order)
        if len(ids_sorted) > 1:
            dup = pc.equal(ids_sorted[1:], ids_sorted[:-1])
            if pc.any(dup).as_py():
                first = ids_sorted[1:].filter(dup)[0].as_py()
                raise ValueError(f"{label}: node id {first!r} appears twice in the export")
        sorted_ids[label] = ids_sorted
        maps.ids[label] = np.asarray(ids_sorted.to_numpy(zero_copy_only=False), dtype=object)
        data[label].num_nodes = len(ids_sorted)
        data[label].node_ids = ids_sorted.to_pylist()
        cols = tbl.column_names if isinstance(tbl, pa.Table) else list(tbl.columns)
        x: np.ndarray | None
        pick = order.to_numpy()
        if features is not None and label in features:
            x, mask = features[label]
            if feature_rows is not None and label in feature_rows:
                rows = feature_rows[label]
                pick, mask = rows[pick], mask[rows]
        elif "text_emb" in cols:
            emb = tbl["text_emb"] if isinstance(tbl, pa.Table) else tbl["text_emb"].reset_index(drop=True)
            x, mask = embeddings_from_column(emb)
        else:
            x = None
        if x is not None:
            data[label].x = torch.from_numpy(np.take(x, pick, axis=0))
            data[label].x_missing = int((~mask).sum())
    grouped: dict[tuple[str, str, str], list[Any]] = {}
    for src_label, rel, dst_label, tbl in edges:
        grouped.setdefault((src_label, rel, dst_label), []).append(tbl)
    for (src_label, rel, dst_label), tbls in sorted(grouped.items()):
        if src_label not in sorted_ids or dst_label not in sorted_ids:
            continue
        parts = [
            t if isinstance(t, pa.Table) else pa.Table.from_pandas(t, preserve_index=False) for t in tbls
        ]
        tbl = parts[0] if len(parts) == 1 else pa.concat_tables(parts, promote_options="default")
        s = pc.index_in(_strings(tbl["src"]), value_set=sorted_ids[src_label]).fill_null(-1).to_numpy()
        d = pc.index_in(_strings(tbl["dst"]), value_set=sorted_ids[dst_label]).fill_null(-1).to_numpy()
        ok = (s >= 0) & (d >= 0)
        n_dst = max(1, len(sorted_ids[dst_label]))
        key = s[ok].astype(np.int64) * n_dst + d[ok]
        _, first = np.unique(key, return_index=True)
        keep = np.flatnonzero(ok)[np.sort(first)]
        ei = torch.from_numpy(np.stack([s[keep], d[keep]]).astype(np.int64))
        store = data[src_label, rel, dst_label]
        store.edge_index = ei
        store.dropped = int((~ok).sum())
        attrs = {}
        for c in tbl.column_names:
            if c in ("src", "dst"):
                continue
            num = _numbers(tbl[c])
            if num is not None:
                v = torch.from_numpy(num[keep])
                attrs[c] = v.long() if bool((v == v.round()).all()) else v.float()
                store[c] = attrs[c]
        if add_reverse:
            rev = data[dst_label, f"rev_{rel}", src_label]
            rev.edge_index = ei.flip(0)
            for c, v in attrs.items():
                rev[c] = v
    return data, maps


def hetero_from_frames(frames: Any) -> tuple[HeteroData, IdMaps]:
    """The learning graph of in-memory :class:`~persona.kgstore.GraphFrames`, as :func:`export_graph`
    would read it from a store holding them (training ``RATED`` edges only; no store needed)."""
    nodes = {
        lab: df[["id"] + (["text_emb"] if "text_emb" in df.columns else [])]
        for lab, df in frames.nodes.items()
    }
    edges = []
    for rf in frames.rels:
        if rf.type == "RATED":
            df = rf.df[rf.df["split"] == "train"] if "split" in rf.df.columns else rf.df
            edges.append(
                ("User", "RATED", "Item", df[["src", "dst"] + (["pos"] if "pos" in df.columns else [])])
            )
        elif rf.type not in _NOT_STRUCTURE and rf.src_label != "User":
            edges.append((rf.src_label, rf.type, rf.dst_label, rf.df[["src", "dst"]]))
    return build_hetero(nodes, edges)


def _table(store: GraphStore, name: str, params: dict[str, Any] | None = None) -> pa.Table:
    return store.arrow_named(name, params)


def _split_by(tbl: pa.Table, columns: Sequence[str]) -> list[tuple[tuple[str, ...], np.ndarray]]:
    """Row positions of ``tbl`` grouped by the string values of ``columns`` (sorted by key).

    One dictionary encoding per column and one stable sort of the combined codes: no per-group scan.
    """
    n = tbl.num_rows
    if n == 0:
        return []
    codes = np.zeros(n, dtype=np.int64)
    dicts: list[list[str]] = []
    for c in columns:
        enc = _strings(tbl[c]).dictionary_encode()
        dicts.append(enc.dictionary.to_pylist())
        codes = codes * len(dicts[-1]) + enc.indices.to_numpy(zero_copy_only=False).astype(np.int64)
    order = np.argsort(codes, kind="stable")
    ordered = codes[order]
    cuts = np.flatnonzero(np.diff(ordered)) + 1
    out = []
    for start, stop in zip([0, *cuts.tolist()], [*cuts.tolist(), n]):
        code, key = int(ordered[start]), []
        for d in reversed(dicts):
            code, k = divmod(code, len(d))
            key.append(d[k])
        out.append((tuple(reversed(key)), order[start:stop]))
    return sorted(out, key=lambda kv: kv[0])


_HDGI = HDGISettings()  # max_sample / hub_quantile defaults: the [hdgi] settings'


def _drop_last(rated: pa.Table, lag: int) -> pa.Table:
    """``rated`` less each user's last ``lag`` interactions by ``pos``, never the first
    (``RecSettings.persona_lag``)."""
    from persona.rec.sequences import kept_for_persona

    if lag <= 0 or rated.num_rows == 0:
        return rated
    return rated.filter(pa.array(kept_for_persona(rated["src"].to_numpy(zero_copy_only=False),
                                                  rated["pos"].to_numpy(zero_copy_only=False), lag)))


def export_graph(
    store: GraphStore,
    *,
    metapaths: list[str] | bool | None = None,
    max_sample: int | None = _HDGI.max_sample,
    hub_quantile: float = _HDGI.hub_quantile,
    seed: int = 0,
    progress: Progress | None = None,
    lag: int = 0,
) -> tuple[HeteroData, IdMaps]:
    """Read the learning graph from ``store``.

    Args:
        store: A :class:`persona.kgstore.GraphStore`.
        metapaths: Also add meta-path adjacencies as edge types ``(end label, meta-path, "User")`` with
            ``edge_weight`` (path-instance counts), like PyG's ``AddMetaPaths``: a list of meta-path
            strings (``"U-I-Genre-I-U"``), True for the default set, None/False for none.
        max_sample: Neighbour cap per user for composed meta-paths (see :mod:`persona.learn.metapaths`).
        hub_quantile: Degree quantile above which intermediate nodes are pruned.
        seed: Seed of the tie-breaking in neighbour caps.
        progress: Optional callback ``(description, step, steps)``.
        lag: Leave out each user's last ``lag`` training interactions (``RecSettings.persona_lag``: the
            retriever learns to predict those from the persona, so the persona must not contain them).

    Returns:
        ``(data, id_maps)``; ``data.stats`` counts rows read per query.

    Raises:
        ValueError: the store holds a relationship type or label unknown to the schema whitelist.
    """
    steps = 5
    step = 0

    def tick(what: str) -> None:
        nonlocal step
        step += 1
        if progress is not None:
            progress(what, step, steps)

    nodes: dict[str, pa.Table] = {"User": _table(store, "export_users")}
    tick("users")
    nodes["Item"] = _table(store, "export_items")
    tick("items")
    features: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    feature_rows: dict[str, np.ndarray] = {}
    ents = _table(store, "export_entities")
    # one matrix for every entity (a view of the Arrow buffer); each label's rows are gathered from it once,
    # already sorted, in build_hetero (10× Movies & TV: 455k × 384 floats, 0.7 GB a copy)
    x_ents, has_ents = embeddings_from_column(ents["text_emb"]) if ents.num_rows else (None, None)
    ent_ids = ents.select(["id"])
    for (label,), rows in _split_by(ents, ["label"]):
        if label in NODE_TYPES:  # nodes outside the persona-kg schema (another application's) are skipped
            nodes[label] = ent_ids.take(pa.array(rows))
            if x_ents is not None and has_ents is not None and has_ents[rows].any():
                features[label], feature_rows[label] = (x_ents, has_ents), rows
    del ents, x_ents, has_ents
    tick("entities")
    rated = _drop_last(_table(store, "export_rated_train"), lag)
    edges: list[tuple[str, str, str, pa.Table]] = [("User", "RATED", "Item", rated)]
    tick("training interactions")
    n_kg = 0
    kg = _table(store, "export_kg_edges")
    kg_ends = kg.select(["src", "dst"])
    for (sl, rel, dl), rows in _split_by(kg, ["src_label", "rel", "dst_label"]):
        if rel in _NOT_STRUCTURE or sl == "User":
            continue
        if rel not in REL_TYPES:  # a type an earlier ingest derived from its KG's predicates
            try:
                adopt_rel_type(rel)
            except ValueError as bad:
                raise ConfigError(f"store has relationship type {rel!r}, unknown to the schema: {bad}") from None
        if sl not in nodes or dl not in nodes:
            continue
        edges.append((sl, rel, dl, kg_ends.take(pa.array(rows))))
        n_kg += len(rows)
    del kg
    tick("knowledge edges")
    data, maps = build_hetero(nodes, edges, features=features, feature_rows=feature_rows)
    del features
    data.stats = {
        "users": nodes["User"].num_rows,
        "items": nodes["Item"].num_rows,
        "entities": int(sum(t.num_rows for lab, t in nodes.items() if lab not in ("User", "Item"))),
        "rated_train": rated.num_rows,
        "kg_edges": n_kg,
    }
    if metapaths:
        from .metapaths import MetaPathBuilder, resolve_metapaths

        mps = resolve_metapaths(data, None if metapaths is True else list(metapaths))
        builder = MetaPathBuilder(data, max_sample=max_sample, hub_quantile=hub_quantile, seed=seed)
        for mp in mps:
            e = builder.edges(mp)
            store_ = data[mp.end, mp.name, "User"]
            store_.edge_index = e.edge_index
            store_.edge_weight = e.weight
    return data, maps
