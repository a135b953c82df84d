"""End-to-end wall time and peak memory of `persona ingest … && persona train` (cold: empty caches).

Run: ``python bench/bench_train_e2e.py [--graph ml100k|movies_tv|demo] [--store embedded|neo4j] [--device cuda]``.
Each step runs as its own process in a fresh working folder (no embedding cache, no checkpoints), timed
from the outside; peak memory is the child's max RSS. Writes ``bench/results/train_e2e_<graph>.json``.
Targets (2-core machine, MiniLM): ML-100K ≤ 3 min cold, Movies & TV-sized ≤ 12 min.
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

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import MOVIES_TV, ml100k_ingest_cmd, write_result


def _run(cmd: list[str], cwd: str, env: dict[str, str]) -> dict:
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return {"cmd": " ".join(cmd), "seconds": round(wall, 2), "peak_rss_mib_upper_bound": round(max(peak, before) / 1024, 1),
            "stdout_tail": proc.stdout[-1500:]}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--graph", default="ml100k", choices=["ml100k", "movies_tv", "demo"])
    ap.add_argument("--store", default="embedded", choices=["embedded", "neo4j"])
    ap.add_argument("--device", default=None, help="passed to `persona train --device` (e.g. cuda)")
    args = ap.parse_args()
    work = tempfile.mkdtemp(prefix="persona-e2e-")
    env = {**os.environ, "OMP_WAIT_POLICY": "PASSIVE", "HF_HUB_OFFLINE": "1"}
    store = f"embedded:{work}/kg.db" if args.store == "embedded" else os.environ["NEO4J_URI"]
    if args.store == "neo4j":
        subprocess.run([sys.executable, "-c", f"from persona.kgstore import open_store; s=open_store({store!r}); s.clear(); s.close()"], check=True)
    steps = []
    if args.graph == "ml100k":
        ingest = ml100k_ingest_cmd(store)
        sizes = {"users": 943, "items": 1682, "interactions": 100_000, "triples": 34_941}
        steps.append(_run(ingest, work, env))
    elif args.graph == "demo":
        steps.append(_run(["persona", "ingest", "demo", "--store", store, "-q"], work, env))
        sizes = {"users": 1000, "items": 600}
    else:
        here = str(Path(__file__).resolve().parent)
        code = (
            f"import sys; sys.path.insert(0, {here!r}); from _common import sized_graph; "
            f"from persona.kgstore import open_store; s = open_store({store!r}); s.init_schema(); s.load(sized_graph()); s.close()"
        )
        steps.append(_run([sys.executable, "-c", code], work, env))
        sizes = MOVIES_TV
    steps.append(_run(["persona", "train", "--store", store, "-q", *(["--device", args.device] if args.device else [])], work, env))
    total = sum(s["seconds"] for s in steps)
    suffix = f"_{args.device.replace(':', '')}" if args.device else ""
    out = write_result(f"train_e2e_{args.graph}_{args.store}{suffix}", {
        "graph": args.graph, "store": args.store, "device": args.device or "cpu", "sizes": sizes, "total_seconds": round(total, 2), "steps": steps,
        "targets": {"ml100k_s": 180, "movies_tv_s": 720},
    })
    print(f"{args.graph} on {args.store}: {total:.1f}s total → {out}")


if __name__ == "__main__":
    main()
