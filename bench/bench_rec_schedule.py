"""Validation quality of the SASRec training schedule: learning rate × seeds for the retriever and reranker.

Run: ``python bench/bench_rec_schedule.py [--store URI] [--lrs 0.005,0.007,0.01] [--seeds 0,1] [--epochs 25]``.
Without ``--store`` it ingests ML-100K + DBpedia movies into a temporary embedded store and learns the
personas there first (``persona ingest movielens …`` then ``persona train personas``). Each configuration
trains one SASRec — ``kg/text`` (the default retriever) or ``none/random`` (the reranker) — and records the
best validation NDCG@10, its epoch, the test metrics of that model and the seconds. Configurations run in
``--workers`` processes of one torch thread each, so the seconds are comparable with each other only.
This is how the defaults ``lr_schedule = "cosine"``, ``epochs = 25``, ``lr = 0.007`` were chosen: the lr
with the best mean validation NDCG@10 over both models. Writes ``bench/results/rec_schedule.json``.
"""

from __future__ import annotations

import argparse
import itertools
import multiprocessing as mp
import os
import pickle
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import ml100k_ingest_cmd, write_result

_DATA: Any = None


def _init(path: str) -> None:
    global _DATA
    import torch

    torch.set_num_threads(1)
    with open(path, "rb") as f:
        _DATA = pickle.load(f)


def _one(job: dict[str, Any]) -> dict[str, Any]:
    from persona.config import RecSettings
    from persona.rec.pipeline import make_reranker, make_retriever

    inter, item_text, personas = _DATA
    s = RecSettings(**job["settings"])
    t0 = time.perf_counter()
    if job["variant"] == "kg/text":
        m = make_retriever(s.model_copy(update={"user_emb": "kg", "item_emb": "text"}), personas, item_text, s.seed)
    else:
        m = make_reranker(s, s.seed)
    m.fit(inter)
    fit_s = time.perf_counter() - t0
    te = m.evaluate("test", sampled=0)
    return {
        "variant": job["variant"], "lr": s.lr, "seed": s.seed, "epochs": s.epochs, "schedule": s.lr_schedule,
        "best_epoch": m.best_epoch, "valid_ndcg@10": round(m.best_score, 4),
        "valid_curve": [round(h.get("valid_ndcg@10", float("nan")), 4) for h in m.history],
        "test": {k: round(te[k], 4) for k in ("hr@10", "ndcg@10", "mrr", "hr@100")},
        "fit_seconds": round(fit_s, 1),
    }


def _prepare(store: str | None, work: Path) -> tuple[str, str]:
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    if store is None:
        store = f"embedded:{work}/kg.db"
        subprocess.run(ml100k_ingest_cmd(store), cwd=work, env=env, check=True, capture_output=True)
        subprocess.run(["persona", "train", "personas", "--store", store, "-q"], cwd=work, env=env, check=True,
                       capture_output=True)
    from persona.config import load_settings
    from persona.pipeline import load_interactions, user_vectors, vectors
    from persona.workflows import connect

    s = load_settings(None, store=store)
    with connect(s) as st:
        data = (load_interactions(st, s), vectors(st, "rec_item_vectors"), user_vectors(st, s, "kg"))
    path = work / "data.pkl"
    path.write_bytes(pickle.dumps(data))
    return store, str(path)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--store", default=None, help="store with personas (default: build ML-100K in a temp dir)")
    ap.add_argument("--lrs", default="0.005,0.007,0.01")
    ap.add_argument("--seeds", default="0,1")
    ap.add_argument("--epochs", type=int, default=25)
    ap.add_argument("--schedule", default="cosine", choices=["cosine", "constant"])
    ap.add_argument("--variants", default="none/random,kg/text")
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="persona-sched-"))
    store, data = _prepare(args.store, work)
    jobs = [
        {"variant": v, "settings": {"lr": float(lr), "seed": int(seed), "epochs": args.epochs,
                                    "lr_schedule": args.schedule, "patience": 10_000, "eval_every": 1}}
        for v, lr, seed in itertools.product(args.variants.split(","), args.lrs.split(","), args.seeds.split(","))
    ]
    t0 = time.perf_counter()
    with mp.get_context("spawn").Pool(args.workers, initializer=_init, initargs=(data,)) as pool:
        runs = pool.map(_one, jobs, chunksize=1)
    summary: dict[str, dict[str, float]] = {}
    for lr in sorted({r["lr"] for r in runs}):
        row = {}
        for v in args.variants.split(","):
            vals = [r["valid_ndcg@10"] for r in runs if r["lr"] == lr and r["variant"] == v]
            row[v] = round(sum(vals) / len(vals), 4)
        row["mean_over_variants"] = round(sum(row.values()) / len(row), 4)
        summary[str(lr)] = row
    out = write_result("rec_schedule", {
        "data": "ML-100K + DBpedia movies (943 users, 1,682 items, 100,000 ratings), personas from `persona train personas`",
        "store": store, "workers": args.workers, "torch_threads_per_worker": 1,
        "total_seconds": round(time.perf_counter() - t0, 1),
        "mean_valid_ndcg@10_by_lr": summary, "runs": runs,
    })
    print(f"→ {out}")
    for lr, row in summary.items():
        print(lr, row)


if __name__ == "__main__":
    main()
