"""Ingest throughput into each backend: ML-100K + DBpedia movies, and a Movies & TV-sized graph.

Run: ``python bench/bench_ingest_load.py [--backends embedded,neo4j]`` (Neo4j from ``NEO4J_URI``).
Writes ``bench/results/ingest_load.json``: rows/s (nodes + relationships written), seconds, peak RSS.
Targets (2-core machine): embedded ≥ 250k rows/s, Neo4j ≥ 25k rows/s.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import DATASETS, MOVIES_TV, peak_rss_mib, sized_graph, write_result

from persona.kgstore import GraphFrames, open_store


def _movielens() -> GraphFrames:
    from persona.ingest import read_movielens

    ml = DATASETS / "ml-100k"
    return read_movielens(ml, link=DATASETS / "dbpedia-movies/ml-100k.link", rdf=(DATASETS / "dbpedia-movies/movies.nt.gz",))


def _measure(frames: GraphFrames, backend: str) -> dict:
    tmp = tempfile.mkdtemp()
    if backend == "embedded":
        store = open_store(f"embedded:{tmp}/kg.db")
    else:
        store = open_store(os.environ["NEO4J_URI"])
        store.clear()
    store.init_schema()
    rows = sum(frames.counts().values())
    t0 = time.perf_counter()
    store.load(frames)
    first = time.perf_counter() - t0
    t0 = time.perf_counter()
    again = store.load(frames)  # idempotent re-run: nothing new to write
    second = time.perf_counter() - t0
    counts = store.counts()
    if backend == "neo4j":
        store.clear()
    store.close()
    shutil.rmtree(tmp, ignore_errors=True)
    return {
        "rows": rows, "seconds": round(first, 3), "rows_per_s": round(rows / first),
        "rerun_seconds": round(second, 3), "rerun_written": sum(again.values()), "counts": counts,
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--backends", default="embedded,neo4j" if os.environ.get("NEO4J_URI") else "embedded")
    args = ap.parse_args()
    out: dict = {"targets": {"embedded_rows_per_s": 250_000, "neo4j_rows_per_s": 25_000}, "runs": []}
    graphs = {"movies_tv_sized": ("generated", MOVIES_TV, sized_graph)}
    if (DATASETS / "ml-100k").is_dir() and os.environ.get("BENCH_SKIP_ML") != "1":
        graphs = {"ml100k_dbpedia": ("ml-100k + dbpedia-movies", None, _movielens), **graphs}
    for name, (desc, sizes, make) in graphs.items():
        t0 = time.perf_counter()
        frames = make()
        parse_s = time.perf_counter() - t0
        for backend in args.backends.split(","):
            r = _measure(frames, backend)
            r.update({"graph": name, "data": desc, "sizes": sizes or frames.counts(), "backend": backend,
                      "build_or_parse_seconds": round(parse_s, 3)})
            print(f"{name:18s} {backend:9s} {r['rows']:>8,} rows {r['seconds']:7.2f}s {r['rows_per_s']:>10,} rows/s  rerun {r['rerun_seconds']:.2f}s")
            out["runs"].append(r)
    out["peak_rss_mib"] = round(peak_rss_mib(), 1)
    print(write_result("ingest_load", out))


if __name__ == "__main__":
    main()
