"""`persona experiment --seeds N` on a generated Amazon-like graph of 15k users and 9k items: wall time.

The graph is the product's planted-taste generator (:func:`persona.ingest.demo.generate_demo`) at the size
of the Amazon 2014 category quoted in issue 14 (14.7k users, 8.7k items, 122k interactions): 15,000 users,
9,000 items, 5-12 interactions per user (about 127k), also-buy / also-view links, and a DBpedia-like
knowledge layer. The experiment runs as its own process in a fresh working folder (cold: no embedding
cache, no checkpoints), timed from outside; peak memory is the child's max RSS. Per-model fit seconds and
epochs come from its ``results.csv``.

Run: ``python bench/bench_experiment_scale.py [--users 15000] [--items 9000] [--seeds 5] [--variants …]
[--personas-once]``. Writes ``bench/results/experiment_scale[_personas_once].json``. Target (2-core
machine): 5 seeds ≤ 30 min.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import write_result


def build_store(uri: str, users: int, items: int, seed: int = 0) -> dict[str, int]:
    """Generate the graph and load it into ``uri``; returns its sizes."""
    from persona.ingest.demo import generate_demo
    from persona.kgstore import open_store

    g = generate_demo(users=users, items=items, tastes=12, history=(5, 12), kg_entities=items * 4,
                      kg_triples=items * 20, seed=seed)
    store = open_store(uri)
    try:
        store.init_schema()
        store.load(g)
    finally:
        store.close()
    return {
        "users": len(g.nodes["User"]),
        "items": len(g.nodes["Item"]),
        "interactions": int(sum(len(r.df) for r in g.rels if r.type == "RATED")),
        "item_edges": int(sum(len(r.df) for r in g.rels if r.type != "RATED")),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--users", type=int, default=15_000)
    ap.add_argument("--items", type=int, default=9_000)
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--variants", default=None, help="passed to --variants (default: the experiment's rows)")
    ap.add_argument("--personas-once", action="store_true", help="passed on: one HDGI seed for every seed")
    ap.add_argument("--device", default=None)
    ap.add_argument("--work", default=None, help="working folder (default: a fresh temporary one)")
    args = ap.parse_args()
    work = Path(args.work or tempfile.mkdtemp(prefix="persona-scale-"))
    work.mkdir(parents=True, exist_ok=True)
    uri = f"embedded:{work}/kg.db"
    t0 = time.perf_counter()
    sizes = build_store(uri, args.users, args.items)
    build_s = time.perf_counter() - t0
    env = {**os.environ, "OMP_WAIT_POLICY": "PASSIVE", "HF_HUB_OFFLINE": "1"}
    cmd = ["persona", "experiment", "--store", uri, "--seeds", str(args.seeds), "--out", str(work / "table3"), "-q"]
    if args.variants:
        cmd += ["--variants", args.variants]
    if args.device:
        cmd += ["--device", args.device]
    if args.personas_once:
        cmd += ["--personas-once"]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, check=False, cwd=work, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 2**20
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    out = report(work, args, cmd, sizes, build_s, wall, round(peak, 2))
    print(f"experiment, {args.seeds} seeds, {sizes}: {wall / 60:.1f} min → {out}")


def report(work: Path, args: argparse.Namespace, cmd: list[str], sizes: dict[str, int], build_s: float,
           wall: float, peak: float | None, **extra: object) -> Path:
    """Write the benchmark JSON from the experiment folder ``work/table3``."""
    res = pd.read_csv(work / "table3" / "results.csv")
    final = res[res["stage"] == "final"]
    models = [
        {"row": f"{r['user_emb']}/{r['item_emb']}", "seed": int(r["seed"]), "fit_seconds": round(float(r["fit_seconds"]), 1),
         "best_epoch": int(r["best_epoch"]), "ndcg@10": round(float(r["ndcg@10"]), 4)}
        for r in final.to_dict("records")
    ]
    summary = pd.read_csv(work / "table3" / "summary.csv")
    name = "experiment_scale" + ("_personas_once" if args.personas_once else "")
    return write_result(name, {
        "sizes": sizes,
        "seeds": args.seeds,
        "cmd": " ".join(cmd),
        "device": args.device or "cpu",
        "build_store_seconds": round(build_s, 1),
        "experiment_seconds": round(wall, 1),
        "experiment_minutes": round(wall / 60, 2),
        "peak_rss_gib_upper_bound": peak,
        "models": models,
        "sum_fit_seconds": round(float(final["fit_seconds"].sum()), 1),
        "summary": summary.to_dict("records"),
        "target_minutes": 30,
        **extra,
    })


if __name__ == "__main__":
    main()
