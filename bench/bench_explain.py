"""Cost of a reason on every recommendation: the write-back of a Movies & TV-sized graph with and without
``RECOMMENDED.reason`` / ``why``, and the time to compute the explanations.

Run: ``python bench/bench_explain.py [--store embedded|neo4j]``. Loads :func:`_common.sized_graph` (10,849
users, 3,672 items, 87,376 interactions, 209,630 triples) into a fresh store, draws a 10-item list per user
(unseen items, popularity-weighted, fixed seed: the cost does not depend on the model), then times
``write_recommendations`` without reasons, ``explain`` + ``reasons`` over all lists, and
``write_recommendations`` with them (each write replaces the previous edges, as retraining does).
It also times the rest of ``persona train``'s write-back (``SIMILAR`` users and items, ``HELD_OUT``), since
the target is stated for the whole write-back. Writes ``bench/results/explain_<store>.json``. Target: the
reasons add ≤ 20% to the write-back time.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import MOVIES_TV, sized_graph, write_result


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--store", choices=["embedded", "neo4j"], default="embedded")
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    from persona.explain import explain_reasons, load_index
    from persona.kgstore import open_store
    from persona.pipeline import write_recommendations

    tmp = tempfile.mkdtemp()
    uri = f"embedded:{tmp}/kg.db" if args.store == "embedded" else os.environ.get("NEO4J_URI", "bolt://127.0.0.1:7687")
    store = open_store(uri)
    if args.store == "neo4j":
        store.clear()
    store.init_schema()
    g = sized_graph()
    store.load(g)
    rated = next(rf.df for rf in g.rels if rf.type == "RATED")
    items = g.nodes["Item"]["id"].to_numpy()
    pop = rated["dst"].value_counts().reindex(items).fillna(0).to_numpy() + 1.0
    pop = pop / pop.sum()
    rng = np.random.default_rng(0)
    seen = rated.groupby("src")["dst"].agg(set).to_dict()
    rows = []
    for u in g.nodes["User"]["id"]:
        picks = [i for i in rng.choice(items, 40, replace=False, p=pop) if i not in seen.get(u, ())][:10]
        rows += [(u, i, r + 1, 1.0 / (r + 1)) for r, i in enumerate(picks)]
    recs = pd.DataFrame(rows, columns=["user", "item", "rank", "score"])

    from persona.kgstore import GraphFrames
    from persona.pipeline import write_held_out
    from persona.similarity import top_k_cosine

    users = g.nodes["User"]["id"].tolist()
    held = rated[rated["split"] == "test"].rename(columns={"src": "user", "dst": "item"})[["user", "item"]]
    held = held.assign(retriever_rank=1, final_rank=1, candidates=100)

    def other_write_back() -> None:
        """The rest of persona train's write-back: SIMILAR users and items (64-d vectors), HELD_OUT."""
        store.delete_rels("SIMILAR")
        sims = GraphFrames()
        for label, ids in (("User", users), ("Item", list(items))):
            e = top_k_cosine(ids, rng.standard_normal((len(ids), 64)).astype(np.float32), 10)
            sims.add_rels("SIMILAR", label, label, e.assign(run="bench"))
        store.load(sims)
        write_held_out(store, held, "bench")

    plain, with_why, compute, rest = [], [], [], []
    for _ in range(args.repeats):
        t = time.perf_counter()
        other_write_back()
        rest.append(time.perf_counter() - t)
        t = time.perf_counter()
        write_recommendations(store, recs, "bench")
        plain.append(time.perf_counter() - t)
        t = time.perf_counter()
        why = explain_reasons(load_index(store), recs[["user", "item"]])
        compute.append(time.perf_counter() - t)
        full = recs.merge(why, on=["user", "item"], how="left")
        t = time.perf_counter()
        write_recommendations(store, full, "bench")
        with_why.append(time.perf_counter() - t)
    n_path = int((why["why"] != "[]").sum())
    med = lambda xs: float(np.median(xs))
    out = write_result(f"explain_{args.store}", {
        "data": {**MOVIES_TV, "recommendations": len(recs)},
        "store": args.store,
        "write_back_s": {"recommended_without_reasons": med(plain), "recommended_with_reasons": med(with_why),
                         "similar_and_held_out": med(rest),
                         "train_write_back_without_reasons": med(plain) + med(rest),
                         "train_write_back_with_reasons": med(with_why) + med(rest)},
        "added_by_reasons_to_train_write_back": (med(with_why) - med(plain)) / (med(plain) + med(rest)),
        "added_by_reasons_to_recommended_write": med(with_why) / med(plain) - 1.0,
        "explain_compute_s": med(compute),
        "with_a_graph_path": n_path / len(why),
        "mean_why_bytes": float(why["why"].str.len().mean()),
        "repeats": args.repeats,
        "runs_s": {"without": plain, "with": with_why, "compute": compute, "similar_and_held_out": rest},
    })
    print(out.read_text())
    store.close()


if __name__ == "__main__":
    main()
