"""SASRec training options, speed against quality: the loss (full softmax vs sampled softmax) on an
Amazon-sized catalogue, and length-bucketed batches on ML-100K.

* loss — the generated Amazon-like graph of ``bench_experiment_scale.py`` (15,000 users, 9,000 items,
  about 127k interactions, leave-one-out), plain SASRec with default settings and ``loss`` = ``ce``,
  ``sampled`` with 256 and with 1,024 negatives: seconds per epoch, epochs run, best validation and test
  NDCG@10 / HR@10;
* batching — ML-100K (``u.data``, leave-one-out by time), ``batching`` = ``shuffled`` vs ``bucketed``,
  two seeds each;
* parallel — on the Amazon-like data, two plain SASRec models (seeds 0 and 1) fitted one after the other
  with two torch threads, then side by side in two threads with one torch thread each (what ``persona
  train`` and ``persona experiment --jobs 2`` do): wall seconds of each way and whether the models agree.

Run: ``python bench/bench_rec_options.py [--parts loss,batching,parallel]``. Writes ``bench/results/rec_options.json``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import pandas as pd
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import DATASETS, write_result

from persona.config import RecSettings
from persona.rec import Interactions, SASRecRecommender, leave_one_out


def _amazon_like() -> Interactions:
    from persona.ingest.demo import generate_demo

    g = generate_demo(users=15_000, items=9_000, tastes=12, history=(5, 12), seed=0)
    rated = next(r.df for r in g.rels if r.type == "RATED")
    return Interactions.from_frame(rated.rename(columns={"src": "user", "dst": "item"}), source="generated")


def _ml100k() -> Interactions:
    raw = pd.read_csv(DATASETS / "ml-100k" / "u.data", sep="\t", names=["user", "item", "rating", "ts"])
    raw["user"], raw["item"] = raw["user"].astype(str), raw["item"].astype(str)
    return Interactions.from_frame(leave_one_out(raw, by="ts"), source="ml-100k/u.data")


def _fit(inter: Interactions, **kw: Any) -> dict[str, Any]:
    recs: list[dict[str, Any]] = []
    s = RecSettings(user_emb="none", item_emb="random", **kw)
    t0 = time.perf_counter()
    m = SASRecRecommender(s, on_epoch=recs.append).fit(inter)
    fit = time.perf_counter() - t0
    test = m.evaluate("test")
    return {**kw, "fit_seconds": round(fit, 1), "seconds_per_epoch": round(sum(r["seconds"] for r in recs) / len(recs), 2),
            "epochs": len(recs), "best_epoch": m.best_epoch, "valid_ndcg@10": round(m.best_score, 4),
            "test_ndcg@10": round(test["ndcg@10"], 4), "test_hr@10": round(test["hr@10"], 4)}


def _parallel(inter: Interactions) -> dict[str, Any]:
    from persona.rec._parallel import Fits

    models = [RecSettings(user_emb="none", item_emb="random", seed=k) for k in (0, 1)]
    t0 = time.perf_counter()
    seq = [SASRecRecommender(s).fit(inter) for s in models]
    sequential = time.perf_counter() - t0
    t0 = time.perf_counter()
    with Fits(2) as fits:
        jobs = [fits.submit(SASRecRecommender(s).fit, inter) for s in models]
        par = [j.result() for j in jobs]
    side = time.perf_counter() - t0
    same = all(torch.equal(a.module.item_emb.weight, b.module.item_emb.weight) for a, b in zip(seq, par)
               if a.module is not None and b.module is not None)
    return {"sequential_2_threads_s": round(sequential, 1), "side_by_side_1_thread_each_s": round(side, 1),
            "speedup": round(sequential / side, 2), "same_models": same,
            "epochs": [len(m.history) for m in par]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--parts", default="loss,batching,parallel")
    args = ap.parse_args()
    torch.set_num_threads(2)
    out: dict[str, Any] = {"torch_threads": 2}
    if "loss" in args.parts:
        inter = _amazon_like()
        out["loss_data"] = {"users": inter.n_users, "items": inter.n_items, "interactions": len(inter)}
        out["loss"] = [_fit(inter, loss="ce"), _fit(inter, loss="sampled", negatives=256),
                       _fit(inter, loss="sampled", negatives=1024)]
        for r in out["loss"]:
            print(r, flush=True)
    if "batching" in args.parts:
        inter = _ml100k()
        out["batching_data"] = {"users": inter.n_users, "items": inter.n_items, "interactions": len(inter)}
        out["batching"] = [_fit(inter, batching=b, seed=seed) for seed in (0, 1) for b in ("shuffled", "bucketed")]
        for r in out["batching"]:
            print(r, flush=True)
    if "parallel" in args.parts:
        out["parallel"] = _parallel(_amazon_like())
        print(out["parallel"], flush=True)
    print(write_result("rec_options", out))


if __name__ == "__main__":
    main()
