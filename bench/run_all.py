"""Run the benchmarks under bench/ one after another, each in its own process (``make bench``).

Run: ``python bench/run_all.py [--only NAME,NAME] [--skip NAME] [--list] [--dry-run]``. Each benchmark
writes its own JSON under ``bench/results/`` (machine, data size and commit inside); this driver adds
``bench/results/run_all.json`` with each benchmark's command, exit status and wall seconds. The whole set
takes about an hour on the 2-core reference machine; benchmarks that need Neo4j use ``NEO4J_URI`` when it
is set and skip that backend otherwise.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import RESULTS, machine

HERE = Path(__file__).resolve().parent

#: Cheapest first, so a failure shows early. Arguments are each benchmark's documented defaults.
BENCHMARKS: dict[str, list[str]] = {
    "ingest_parse": ["bench_ingest_parse.py"],
    "ingest_load": ["bench_ingest_load.py"],
    "list_set": ["bench_list_set.py"],
    "rec": ["bench_rec.py"],
    "fusion_choice": ["bench_fusion_choice.py"],
    "explain": ["bench_explain.py"],
    "personas": ["bench_personas.py"],
    "persona_similarity": ["bench_persona_similarity.py"],
    "hdgi_epochs": ["bench_hdgi_epochs.py"],
    "rec_schedule": ["bench_rec_schedule.py"],
    "train_e2e": ["bench_train_e2e.py"],
}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", default="", help="comma-separated names (see --list)")
    ap.add_argument("--skip", default="", help="comma-separated names to leave out")
    ap.add_argument("--list", action="store_true", help="print the benchmark names and exit")
    ap.add_argument("--dry-run", action="store_true", help="print the commands without running them")
    args = ap.parse_args()
    present = {name: cmd for name, cmd in BENCHMARKS.items() if (HERE / cmd[0]).is_file()}
    present.update({p.stem[len("bench_"):]: [p.name] for p in sorted(HERE.glob("bench_*.py"))
                    if p.stem[len("bench_"):] not in present})
    if args.list:
        print("\n".join(present))
        return 0
    only = [n for n in args.only.split(",") if n]
    unknown = [n for n in only + [n for n in args.skip.split(",") if n] if n not in present]
    if unknown:
        ap.error(f"unknown benchmark(s) {unknown}; known: {', '.join(present)}")
    chosen = [n for n in (only or present) if n not in args.skip.split(",")]
    report = {"machine": machine(), "benchmarks": []}
    failed = 0
    for name in chosen:
        cmd = [sys.executable, str(HERE / present[name][0]), *present[name][1:]]
        print(f"== {name}: {' '.join(cmd[1:])}", flush=True)
        if args.dry_run:
            continue
        t = time.perf_counter()
        rc = subprocess.call(cmd)
        secs = round(time.perf_counter() - t, 1)
        failed += rc != 0
        report["benchmarks"].append({"name": name, "command": cmd[1:], "exit": rc, "seconds": secs})
        print(f"== {name}: exit {rc} in {secs} s", flush=True)
    if not args.dry_run:
        RESULTS.mkdir(parents=True, exist_ok=True)
        (RESULTS / "run_all.json").write_text(json.dumps(report, indent=2) + "\n")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
