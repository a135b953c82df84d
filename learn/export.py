"""Export the knowledge graph from a store into a PyG :class:`~torch_geometric.data.HeteroData`.

Everything is read with the named queries ``cypher/export_*.cypher`` through ``store.frame`` (Arrow-backed
DataFrames on the embedded store), so the same export runs on LadybugDB and Neo4j:

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
import torch
from torch_geometric.data import HeteroData

from persona.kgstore.queries import load as load_query
from persona.kgstore.schema import NODE_TYPES, REL_TYPES

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


def embeddings_from_column(col: pd.Series) -> tuple[np.ndarray | None, np.ndarray]:
    """A list-of-floats column (Arrow list or Python lists) as a float32 matrix plus a has-value mask.

    Returns:
        ``(matrix or None when no row has a value, mask)``; rows without a value are zero.

    Raises:
        ValueError: rows have vectors of different lengths (names the first offending row).
    """
    n = len(col)
    if isinstance(col.dtype, pd.ArrowDtype):
        arr = pa.chunked_array(col.array._pa_array).combine_chunks() if hasattr(col.array, "_pa_array") else pa.array(col)
    else:
        vals = [None if v is None or (isinstance(v, float) and np.isnan(v)) else np.asarray(v, dtype=np.float32) for v in col]
        arr = pa.array(vals, type=pa.list_(pa.float32()))
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    mask = np.asarray(arr.is_valid().to_numpy(zero_copy_only=False), dtype=bool)
    if not mask.any():
        return None, mask
    lengths = np.asarray(arr.value_lengths().fill_null(0).to_numpy(zero_copy_only=False))
    dims = set(lengths[mask].tolist())
    if len(dims) != 1:
        bad = int(np.flatnonzero(mask & (lengths != lengths[mask][0]))[0])
        raise ValueError(f"text_emb vectors differ in length (row {bad}: {lengths[bad]}, first: {lengths[mask][0]}); re-encode texts")
    d = dims.pop()
    out = np.zeros((n, d), dtype=np.float32)
    flat = np.asarray(arr.filter(pa.array(mask)).flatten().to_numpy(zero_copy_only=False), dtype=np.float32)
    out[mask] = flat.reshape(-1, d)
    return out, mask


def build_hetero(
    nodes: dict[str, pd.DataFrame],
    edges: Sequence[tuple[str, str, str, pd.DataFrame]],
    *,
    add_reverse: bool = True,
) -> tuple[HeteroData, IdMaps]:
    """Assemble a HeteroData from node and edge frames (the core of :func:`export_graph`).

    Args:
        nodes: ``{label: DataFrame}`` with ``id`` and optionally ``text_emb`` (list of floats per row).
        edges: ``(source label, TYPE, target label, DataFrame[src, dst, …])``; extra integer/float
            columns (e.g. ``pos``) become edge attributes. Endpoints without a node are dropped and
            counted in ``data[edge_type].dropped``.
        add_reverse: Add ``(target, rev_TYPE, source)`` for every edge type.

    Returns:
        ``(data, id_maps)``.
    """
    data = HeteroData()
    maps = IdMaps()
    for label in sorted(nodes):
        df = nodes[label]
        ids = np.asarray(df["id"].astype(str).to_numpy(dtype=object))
        order = np.argsort(ids, kind="stable")
        ids = ids[order]
        if len(ids) and len(np.unique(ids)) != len(ids):
            dup = pd.Series(ids)[pd.Series(ids).duplicated()].iloc[0]
            raise ValueError(f"{label}: node id {dup!r} appears twice in the export")
        maps.ids[label] = ids
        data[label].num_nodes = len(ids)
        data[label].node_ids = ids.tolist()
        if "text_emb" in df.columns:
            x, mask = embeddings_from_column(df["text_emb"].reset_index(drop=True))
            if x is not None:
                data[label].x = torch.from_numpy(x[order])
                data[label].x_missing = int((~mask).sum())
    grouped: dict[tuple[str, str, str], list[pd.DataFrame]] = {}
    for src_label, rel, dst_label, df in edges:
        grouped.setdefault((src_label, rel, dst_label), []).append(df)
    for (src_label, rel, dst_label), dfs in sorted(grouped.items()):
        if src_label not in maps.ids or dst_label not in maps.ids:
            continue
        df = pd.concat(dfs, ignore_index=True) if len(dfs) > 1 else dfs[0]
        s = maps.to_index(src_label, df["src"])
        d = maps.to_index(dst_label, df["dst"])
        ok = (s >= 0) & (d >= 0)
        ei = torch.from_numpy(np.stack([s[ok], d[ok]]).astype(np.int64))
        # one edge per (src, dst) pair: multigraph duplicates add nothing to meta-path structure
        key = ei[0] * max(1, len(maps.ids[dst_label])) + ei[1]
        uniq, first = np.unique(key.numpy(), return_index=True)
        ei = ei[:, torch.from_numpy(np.sort(first))]
        store = data[src_label, rel, dst_label]
        store.edge_index = ei
        store.dropped = int((~ok).sum())
        attrs = {}
        for c in df.columns:
            if c in ("src", "dst"):
                continue
            v = pd.to_numeric(df[c], errors="coerce")
            if v.notna().all():
                attrs[c] = torch.from_numpy(v.to_numpy(dtype=np.float64)[ok][np.sort(first)])
        for c, v in attrs.items():
            store[c] = v.long() if bool((v == v.round()).all()) else v.float()
        if add_reverse:
            rev = data[dst_label, f"rev_{rel}", src_label]
            rev.edge_index = ei.flip(0)
            for c, v in attrs.items():
                rev[c] = store[c]
    return data, maps


def hetero_from_frames(frames: Any) -> tuple[HeteroData, IdMaps]:
    """The learning graph of in-memory :class:`~persona.kgstore.GraphFrames`, as :func:`export_graph`
    would read it from a store holding them (training ``RATED`` edges only; no store needed)."""
    nodes = {lab: df[["id"] + (["text_emb"] if "text_emb" in df.columns else [])] for lab, df in frames.nodes.items()}
    edges = []
    for rf in frames.rels:
        if rf.type == "RATED":
            df = rf.df[rf.df["split"] == "train"] if "split" in rf.df.columns else rf.df
            edges.append(("User", "RATED", "Item", df[["src", "dst"] + (["pos"] if "pos" in df.columns else [])]))
        elif rf.type not in _NOT_STRUCTURE and rf.src_label != "User":
            edges.append((rf.src_label, rf.type, rf.dst_label, rf.df[["src", "dst"]]))
    return build_hetero(nodes, edges)


def _frame(store: Any, name: str, params: dict[str, Any] | None = None) -> pd.DataFrame:
    cypher = load_query(name, store.backend)
    arrow = getattr(store, "arrow", None)
    if callable(arrow):  # the embedded store hands out Arrow tables: keep list columns in Arrow
        return arrow(cypher, params or {}).to_pandas(types_mapper=pd.ArrowDtype)
    return store.frame(cypher, params or {})


def export_graph(
    store: Any,
    *,
    metapaths: list[str] | bool | None = None,
    max_sample: int | None = 20,
    hub_quantile: float = 0.995,
    seed: int = 0,
    progress: Progress | None = None,
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

    nodes: dict[str, pd.DataFrame] = {"User": _frame(store, "export_users")}
    tick("users")
    nodes["Item"] = _frame(store, "export_items")
    tick("items")
    ents = _frame(store, "export_entities")
    for label, df in ents.groupby(ents["label"].astype(str), sort=True) if len(ents) else []:
        if label not in NODE_TYPES:
            continue  # nodes outside the persona-kg schema (another application's data in Neo4j)
        nodes[label] = df.drop(columns=["label"]).reset_index(drop=True)
    tick("entities")
    rated = _frame(store, "export_rated_train")
    edges: list[tuple[str, str, str, pd.DataFrame]] = [("User", "RATED", "Item", rated)]
    tick("training interactions")
    kg = _frame(store, "export_kg_edges")
    n_kg = 0
    if len(kg):
        for col in ("src_label", "rel", "dst_label"):
            kg[col] = kg[col].astype(str)
        for (sl, rel, dl), df in kg.groupby(["src_label", "rel", "dst_label"], sort=True):
            if rel in _NOT_STRUCTURE or sl == "User":
                continue
            if rel not in REL_TYPES:
                raise ValueError(f"store has relationship type {rel!r}, unknown to the schema; register it first")
            if sl not in nodes or dl not in nodes:
                continue
            edges.append((sl, rel, dl, df[["src", "dst"]]))
            n_kg += len(df)
    tick("knowledge edges")
    data, maps = build_hetero(nodes, edges)
    data.stats = {
        "users": len(nodes["User"]),
        "items": len(nodes["Item"]),
        "entities": int(sum(len(df) for lab, df in nodes.items() if lab not in ("User", "Item"))),
        "rated_train": len(rated),
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
