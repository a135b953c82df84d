"""Write-back of a trained run into the store: the ``RECOMMENDED`` lists and the ``HELD_OUT`` ranks.

The one place the recommender writes to the graph (the last arrow of ``… → rec → kgstore``); each call
replaces the previous run's edges of its type, in one bulk load.
"""

from __future__ import annotations

import pandas as pd

from persona.kgstore import GraphFrames, GraphStore

__all__ = ["write_held_out", "write_recommendations"]


def write_held_out(store: GraphStore, ranks: pd.DataFrame, run_id: str) -> int:
    """Replace ``HELD_OUT`` edges with this run's: each user's test item and the 1-based ranks it got."""
    store.delete_rels("HELD_OUT")
    if ranks.empty:
        return 0
    g = GraphFrames()
    g.add_rels("HELD_OUT", "User", "Item", pd.DataFrame({
        "src": ranks["user"].astype(str), "dst": ranks["item"].astype(str), "run": run_id,
        "retriever_rank": ranks["retriever_rank"].astype(int), "final_rank": ranks["final_rank"].astype(int),
        "candidates": ranks["candidates"].astype(int),
    }))
    return store.load(g).get("HELD_OUT", 0)


def write_recommendations(store: GraphStore, recs: pd.DataFrame, run_id: str) -> int:
    """Replace earlier ``RECOMMENDED`` edges with ``{rank, score, run, reason, why}`` edges of this run
    (``reason``/``why`` when ``recs`` has them: :func:`persona.explain.reasons`)."""
    store.delete_rels("RECOMMENDED")
    g = GraphFrames()
    df = pd.DataFrame({"src": recs["user"].astype(str), "dst": recs["item"].astype(str),
                       "rank": recs["rank"].astype(int), "score": recs["score"].astype(float), "run": run_id})
    for col in ("reason", "why"):
        if col in recs.columns:
            df[col] = recs[col].to_numpy()
    g.add_rels("RECOMMENDED", "User", "Item", df)
    return store.load(g).get("RECOMMENDED", 0)
