"""Cost curve: the Movies & TV-sized planted graph at 1×, 3× and 10×, stage by stage.

Users, items, knowledge entities and triples are all multiplied by the scale
(:func:`_common.planted_movies_tv`). Each stage runs as its own process in a fresh working folder (cold:
no text cache, no checkpoints), timed from outside, with that process's own peak resident memory
(``wait4``):

* ``ingest`` — generate the graph and load it into a fresh embedded store;
* ``personas`` — ``persona train personas`` (text encoding, export, meta-paths, HDGI, write-back), with
  its inner stage timings;
* ``recommender`` — ``persona train --skip-personas --epochs E`` (retriever and reranker, evaluation,
  explanations, write-back), with the run's own stage timings and SASRec's seconds per epoch;
* ``recommender_sampled`` (``--sampled``) — the same with ``rec.loss = "sampled"``, whose cost per epoch
  does not grow with the catalogue.

SASRec runs ``E`` epochs (default 2) so the 10× point fits a session: the figure that scales is the
seconds per epoch (the number of epochs is a setting). Reported per scale: sizes, seconds and peak GiB per
stage, and each stage's seconds per 1,000 (interactions + triples), whose growth across scales says
whether the stage is linear.

Run: ``python bench/bench_cost_curve.py [--scales 1,3,10] [--epochs 2] [--sampled] [--merge]``; with
``--merge`` the points of other scales already in the JSON are kept (each point names its commit), so one
long scale can be measured on its own.
Writes ``bench/results/cost_curve.json``. Targets: time no faster than linear in interactions + triples,
peak memory ≤ 8 GiB at 10×.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import RESULTS, commit, write_result

BENCH = Path(__file__).resolve().parent


def _stage(cmd: list[str], cwd: Path, env: dict[str, str]) -> dict[str, Any]:
    """Run ``cmd``; its wall seconds and its own peak RSS (GiB)."""
    code = commit()  # the code the stage runs: the checkout as it starts
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    out = proc.stdout.read() if proc.stdout else ""
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({proc.returncode}):\n{out[-4000:]}")
    return {"cmd": " ".join(cmd), "seconds": round(wall, 1), "peak_gib": round(usage.ru_maxrss / 2**20, 2), "commit": code}


def _sizes(store: str) -> dict[str, int]:
    from persona.kgstore import open_store

    s = open_store(store, read_only=True)
    try:
        c = s.counts()
    finally:
        s.close()
    rels = c["rels"]
    return {
        "users": c["nodes"].get("User", 0),
        "items": c["nodes"].get("Item", 0),
        "interactions": rels.get("RATED", 0),
        "triples": sum(v for k, v in rels.items() if k not in ("RATED", "SIMILAR", "RECOMMENDED", "HELD_OUT")),
    }


def _newest_run(work: Path) -> dict[str, Any]:
    runs = sorted(glob.glob(str(work / ".persona" / "stores" / "*" / "runs" / "*" / "run.json")))
    return json.loads(Path(runs[-1]).read_text()) if runs else {}


STAGES = ("ingest", "personas", "recommender", "recommender_sampled")


def one_scale(
    scale: float, epochs: int, sampled: bool, root: Path, stages: tuple[str, ...] = STAGES
) -> dict[str, Any]:
    """The stages of one scale; a stage left out of ``stages`` is not run (a later stage then needs the
    earlier ones' store and caches in ``root``, from a run with the same ``--work``)."""
    work = root / f"scale{scale:g}"
    work.mkdir(parents=True, exist_ok=True)
    store = f"embedded:{work}/kg.db"
    env = {**os.environ, "OMP_WAIT_POLICY": "PASSIVE", "HF_HUB_OFFLINE": "1"}
    build = (
        f"import sys; sys.path.insert(0, {str(BENCH)!r}); from _common import planted_movies_tv; "
        f"from persona.kgstore import open_store; g = planted_movies_tv(scale={scale}); "
        f"s = open_store({store!r}); s.init_schema(); s.load(g); s.close()"
    )
    res: dict[str, Any] = {"scale": scale, "commit": commit(), "when": time.strftime("%Y-%m-%dT%H:%M:%S")}
    if "ingest" in stages:
        res["ingest"] = _stage([sys.executable, "-c", build], work, env)
        print(f"scale {scale:g}: ingest {res['ingest']['seconds']} s", flush=True)
    res["sizes"] = _sizes(store)
    print(f"scale {scale:g}: {res['sizes']}", flush=True)
    if "personas" in stages:
        res["personas"] = _stage(["persona", "train", "personas", "--store", store, "-q"], work, env)
        print(f"  personas {res['personas']['seconds']} s", flush=True)
    rec_cmd = ["persona", "train", "--store", store, "--skip-personas", "--epochs", str(epochs), "-q"]
    if "recommender" in stages:
        res["recommender"] = _stage(rec_cmd, work, env)
        res["recommender"]["timings"] = _run_timings(work)
        res["recommender"]["epoch_seconds"] = _epoch_seconds(work)
        print(f"  recommender {res['recommender']['seconds']} s {res['recommender']['timings']}", flush=True)
    if sampled and "recommender_sampled" in stages:
        res["recommender_sampled"] = _stage(rec_cmd, work, {**env, "PERSONA_REC__LOSS": "sampled"})
        res["recommender_sampled"]["timings"] = _run_timings(work)
        res["recommender_sampled"]["epoch_seconds"] = _epoch_seconds(work)
        print(f"  recommender (sampled) {res['recommender_sampled']['seconds']} s", flush=True)
    units = (res["sizes"]["interactions"] + res["sizes"]["triples"]) / 1000
    res["seconds_per_1k_interactions_and_triples"] = {
        k: round(res[k]["seconds"] / units, 3) for k in STAGES if k in res
    }
    return res


def _run_timings(work: Path) -> dict[str, float]:
    """The newest run's stage seconds and, beside them, the parts of its stages (``timing_parts``)."""
    run = _newest_run(work)
    return {**run.get("timings", {}), **run.get("timing_parts", {})}


def _epoch_seconds(work: Path) -> dict[str, list[float]]:
    """Seconds of each SASRec epoch of the newest run, per model (the run's ``epochs`` record)."""
    eps = _newest_run(work).get("epochs", {})
    return {m: [round(float(r["seconds"]), 2) for r in h] for m, h in eps.items() if isinstance(h, list)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--scales", default="1,3,10")
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--sampled", action="store_true")
    ap.add_argument("--work", default=None)
    ap.add_argument("--merge", action="store_true",
                    help="keep the earlier points of other scales, and the earlier stages of a scale not rerun")
    ap.add_argument("--stages", default=",".join(STAGES),
                    help="stages to run (the store and caches of the others come from an earlier run in --work)")
    args = ap.parse_args()
    root = Path(args.work or tempfile.mkdtemp(prefix="persona-cost-"))
    scales = [float(x) for x in args.scales.split(",")]
    stages = tuple(s for s in args.stages.split(",") if s)
    unknown = sorted(set(stages) - set(STAGES))
    if unknown:
        raise SystemExit(f"--stages: unknown {unknown}; choose from {', '.join(STAGES)}")
    old_points: dict[float, dict[str, Any]] = {}
    if args.merge and (RESULTS / "cost_curve.json").is_file():
        old = json.loads((RESULTS / "cost_curve.json").read_text())
        old_points = {p["scale"]: {"commit": old.get("commit"), **p} for p in old.get("points", [])}
    points = [p for sc, p in old_points.items() if sc not in scales]
    for sc in scales:
        new = one_scale(sc, args.epochs, args.sampled, root, stages)
        kept = {k: v for k, v in old_points.get(sc, {}).items() if k in STAGES and k not in new}
        for k in kept.values():  # a stage measured earlier names its own commit
            k.setdefault("commit", old_points[sc].get("commit"))
        new.update(kept)
        units = (new["sizes"]["interactions"] + new["sizes"]["triples"]) / 1000
        new["seconds_per_1k_interactions_and_triples"] = {k: round(new[k]["seconds"] / units, 3) for k in STAGES if k in new}
        points.append(new)
        points.sort(key=lambda p: p["scale"])
        out = write_result("cost_curve", {"epochs": args.epochs, "points": points, "targets": {"peak_gib_at_10x": 8}})
    base = points[0]
    for p in points[1:]:
        f = (p["sizes"]["interactions"] + p["sizes"]["triples"]) / (base["sizes"]["interactions"] + base["sizes"]["triples"])
        p["growth_vs_first"] = {k: round(p[k]["seconds"] / base[k]["seconds"] / f, 2)
                                for k in STAGES if k in p and k in base}
    out = write_result("cost_curve", {
        "epochs": args.epochs, "points": points,
        "note": "growth_vs_first: a stage's time ratio to the first scale divided by the size ratio (1.0 = linear)",
        "targets": {"peak_gib_at_10x": 8},
    })
    print(f"→ {out}")


if __name__ == "__main__":
    main()
