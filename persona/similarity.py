"""Similarity written back, in the style of GDS KNN: each node's top-K neighbours as scored edges.

``(:User)-[:SIMILAR {score, rank, run}]->(:User)`` by the cosine of stored personas (the same vectors the
vector index and Cypher similarity use) and ``(:Item)-[:SIMILAR {score, rank, run}]->(:Item)`` by the
cosine of the retriever's item vectors (what it scores with). A new run replaces the earlier edges;
both stores get them as one bulk load (no query per row).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from persona.kgstore import GraphFrames, GraphStore


def top_k_cosine(ids: list[str], mat: np.ndarray, k: int, *, chunk: int = 4096) -> pd.DataFrame:
    """Each row's ``k`` most cosine-similar other rows: ``src, dst, score, rank`` (rank 1 = most similar).

    Ties break by id, so the result is deterministic. Rows with a zero vector get no neighbours.
    """
    x = np.asarray(mat, dtype=np.float32)
    norms = np.linalg.norm(x, axis=1)
    ok = norms > 0
    x = np.where(ok[:, None], x / np.maximum(norms, 1e-12)[:, None], 0.0).astype(np.float32)
    n = len(ids)
    k = min(k, max(n - 1, 0))
    if k == 0:
        return pd.DataFrame(columns=["src", "dst", "score", "rank"])
    order = np.argsort(np.asarray(ids, dtype=object), kind="stable")  # id order for tie-breaking
    xs, ids_sorted, ok_sorted = x[order], [ids[i] for i in order], ok[order]
    srcs, dsts, scores, ranks = [], [], [], []
    for start in range(0, n, chunk):
        sim = xs[start : start + chunk] @ xs.T
        rows = np.arange(start, min(start + chunk, n))
        sim[rows - start, rows] = -np.inf  # never oneself
        sim[:, ~ok_sorted] = -np.inf
        part = np.argpartition(-sim, k - 1, axis=1)[:, :k]
        vals = np.take_along_axis(sim, part, axis=1)
        # sort by score desc, then by position (= id order) asc
        key = np.lexsort((part, -vals), axis=1)
        part = np.take_along_axis(part, key, axis=1)
        vals = np.take_along_axis(vals, key, axis=1)
        for r, (cols, sc) in enumerate(zip(part, vals)):
            if not ok_sorted[start + r]:
                continue
            good = np.isfinite(sc)
            srcs += [ids_sorted[start + r]] * int(good.sum())
            dsts += [ids_sorted[c] for c in cols[good]]
            scores += sc[good].astype(float).tolist()
            ranks += list(range(1, int(good.sum()) + 1))
    return pd.DataFrame({"src": srcs, "dst": dsts, "score": scores, "rank": ranks})


def retriever_item_vectors(retriever: Any) -> tuple[list[str], np.ndarray]:
    """The retriever's item vectors (learned + projected text embedding), one row per catalogue item."""
    import torch

    module, inter = retriever._require_fit()
    with torch.no_grad():
        e = module.item_embeddings()[1:].detach().cpu().numpy()
    return list(inter.items), e


def write_similar(
    store: GraphStore,
    retriever: Any,
    user_vectors: Mapping[str, np.ndarray] | None,
    run_id: str,
    *,
    k: int = 10,
) -> dict[str, int]:
    """Replace the store's ``SIMILAR`` edges with this run's top-``k`` users (by persona) and items.

    Returns:
        ``{"SIMILAR (User)": n, "SIMILAR (Item)": m}`` edges written.
    """
    store.delete_rels("SIMILAR")
    g = GraphFrames()
    out = {}
    if user_vectors:
        ids = list(user_vectors)
        users = top_k_cosine(ids, np.stack([np.asarray(user_vectors[i], dtype=np.float32) for i in ids]), k)
        users["run"] = run_id
        g.add_rels("SIMILAR", "User", "User", users)
        out["SIMILAR (User)"] = len(users)
    item_ids, mat = retriever_item_vectors(retriever)
    items = top_k_cosine(item_ids, mat, k)
    items["run"] = run_id
    g.add_rels("SIMILAR", "Item", "Item", items)
    out["SIMILAR (Item)"] = len(items)
    store.load(g)
    return out
