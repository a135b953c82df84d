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


def top_k_cosine(ids: list[str], mat: np.ndarray, k: int) -> pd.DataFrame:
    """Each row's ``k`` most cosine-similar other rows: ``src, dst, score, rank`` (rank 1 = most similar).

    Ties break by id, so the result is deterministic. Rows with a zero vector get no neighbours and are
    nobody's neighbour. (:func:`persona.learn.diagnostics.cosine_neighbours` does the ranking.)
    """
    from persona.learn.diagnostics import cosine_neighbours

    x = np.asarray(mat, dtype=np.float32)
    keep = np.flatnonzero(np.linalg.norm(x, axis=1) > 0)
    kept = sorted(ids[i] for i in keep)  # id order, so index ties are id ties
    pos = {i: n for n, i in enumerate(ids)}
    if len(kept) < 2 or k < 1:
        return pd.DataFrame(columns=["src", "dst", "score", "rank"])
    nb, sc = cosine_neighbours(x[[pos[i] for i in kept]], k, return_scores=True)
    kk = nb.shape[1]
    return pd.DataFrame({
        "src": np.repeat(np.asarray(kept, dtype=object), kk),
        "dst": np.asarray(kept, dtype=object)[nb.ravel()],
        "score": sc.ravel().astype(float),
        "rank": np.tile(np.arange(1, kk + 1), len(kept)),
    })


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
