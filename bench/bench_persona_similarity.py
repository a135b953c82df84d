"""Do stored personas discriminate users? Cosine geometry and nearest-neighbour quality, before/after centring.

Run: ``python bench/bench_persona_similarity.py [--seeds 0] [--threads 1] [--no-before]``. Builds two
embedded stores in a temporary folder with the CLI (``persona ingest movielens`` ML-100K + DBpedia links
and triples, and ``persona ingest demo``: 1,000 users, 600 items, 8 planted tastes), learns personas with
the default settings (:func:`persona.learn.personas.train_personas`, which writes ``User.persona``), reads
the stored ``User.persona`` back and measures, per store and seed:

* geometry (:func:`persona.learn.diagnostics.persona_geometry`): mean cosine of random user pairs, the
  norm of the mean persona against the spread around it, the first principal components and their
  correlation with user activity (training interactions);
* demo: the share of each user's 10 most cosine-similar users that share its ``User.planted_taste``;
* ML-100K: :func:`persona.learn.diagnostics.neighbour_overlap_lift` — how much more a user's 10 most
  similar users' training items carry the genres (``HAS_GENRE``) and directors (``DIRECTED_BY``) of the
  user's held-out items than 10 random users' do (ratio of mean overlaps), plus how active the nearest
  users are;
* sessions: personas inferred with the saved model (:func:`persona.learn.personas.infer_persona`'s
  path) from 200 users' training histories, against the stored personas (cosine to the own persona,
  how often the own persona is the nearest stored one).

"before" is the same training with ``train_hdgi(..., centre=False)``: uncentred text features, no output
centring, the earlier free-embedding scale — the personas this project stored before the fix.
Writes ``bench/results/persona_similarity.json``.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import ml100k_ingest_cmd, peak_rss_mib, write_result

TARGETS = {"ml100k_mean_pair_cosine_max": 0.5, "demo_taste_precision_at_10_min": 0.9}
ROOT = Path(__file__).resolve().parents[1]


def _commit() -> dict[str, Any]:
    def git(*args: str) -> str:
        return subprocess.run(
            ["git", *args], check=False, cwd=ROOT, capture_output=True, text=True
        ).stdout.strip()

    return {
        "commit": git("rev-parse", "HEAD"),
        "uncommitted_changes": bool(git("status", "--porcelain", "--", "learn", "bench")),
    }


def _round(x: Any, n: int = 4) -> Any:
    if isinstance(x, float):
        return round(x, n)
    if isinstance(x, dict):
        return {k: _round(v, n) for k, v in x.items()}
    if isinstance(x, list):
        return [_round(v, n) for v in x]
    return x


def _stored(store: Any, user_ids: list[str]) -> np.ndarray:
    """``User.persona`` as written to the store, in ``user_ids`` order."""
    rows = {r["id"]: r["vec"] for r in store.run("MATCH (u:User) RETURN u.id AS id, u.persona AS vec")}
    return np.asarray([rows[u] for u in user_ids], dtype=np.float32)


def _figures(
    store: Any, kind: str, user_ids: list[str], vecs: np.ndarray, activity: np.ndarray
) -> dict[str, Any]:
    from persona.learn.diagnostics import (
        cosine_neighbours,
        neighbour_overlap_lift,
        persona_geometry,
        planted_taste_precision,
    )

    out: dict[str, Any] = {"geometry": persona_geometry(vecs, activity)}
    nb = cosine_neighbours(vecs, 10)
    out["top10_activity_ratio"] = float(activity[nb].mean() / activity.mean())
    if kind == "demo":
        out["taste_precision_at_10"] = planted_taste_precision(store, user_ids, vecs, k=10)
    else:
        lift = neighbour_overlap_lift(
            store, user_ids, vecs, rels=("HAS_GENRE", "DIRECTED_BY"), k=10, activity=activity
        )
        out["overlap_at_10"] = lift
        if "13" in user_ids:  # the user of the issue
            u = user_ids.index("13")
            x = vecs / np.linalg.norm(vecs, axis=1, keepdims=True).clip(1e-12)
            cos = np.delete(x @ x[u], u)
            out["user_13_cosines"] = {
                "min": float(cos.min()),
                "mean": float(cos.mean()),
                "max": float(cos.max()),
            }
    return out


def _sessions(
    settings: Any, store: Any, user_ids: list[str], stored: np.ndarray, seed: int, run_id: str
) -> dict[str, Any]:
    from persona.learn.personas import load_persona_model
    from persona.learn.summaries import training_histories

    model = load_persona_model(settings.workdir, run_id)
    hist = training_histories(store)
    rng = np.random.default_rng(seed)
    known = np.array([n for n, u in enumerate(user_ids) if hist.get(u)])
    users = rng.choice(known, size=min(200, len(known)), replace=False)
    inferred = model.infer_personas([hist[user_ids[u]] for u in users]).astype(np.float64)
    x = stored / np.linalg.norm(stored, axis=1, keepdims=True).clip(1e-12)
    s = inferred / np.linalg.norm(inferred, axis=1, keepdims=True).clip(1e-12)
    cos = s @ x.T
    own = cos[np.arange(len(users)), users]
    return {
        "sessions": len(users),
        "cos_to_own_mean": float(own.mean()),
        "cos_to_own_min": float(own.min()),
        "cos_to_others_mean": float((cos.sum(1) - own).mean() / (len(user_ids) - 1)),
        "own_is_nearest": float(((cos > own[:, None]).sum(1) == 0).mean()),
    }


def run_store(kind: str, tmp: Path, seeds: list[int], before: bool) -> dict[str, Any]:
    from persona.config import load_settings
    from persona.kgstore import open_store
    from persona.learn.diagnostics import user_activity
    from persona.learn.export import export_graph
    from persona.learn.hdgi import train_hdgi
    from persona.learn.personas import train_personas

    uri = f"embedded:{tmp / f'{kind}.db'}"
    cmd = ml100k_ingest_cmd(uri) if kind == "ml100k" else ["persona", "ingest", "demo", "--store", uri, "-q"]
    t = time.perf_counter()
    subprocess.run(cmd, check=True, capture_output=True)
    out: dict[str, Any] = {
        "data": "ML-100K + DBpedia movies (real)"
        if kind == "ml100k"
        else "persona ingest demo (8 planted tastes)",
        "ingest_command": " ".join(c if "/" not in c else Path(c).name for c in cmd),
        "ingest_seconds": round(time.perf_counter() - t, 1),
        "runs": [],
    }
    settings = load_settings(None, store=uri, workdir=tmp / f"work-{kind}")
    store = open_store(uri, create=False)
    try:
        for seed in seeds:
            t = time.perf_counter()
            res = train_personas(store, settings, workdir=settings.workdir, seed=seed)
            seconds = time.perf_counter() - t
            out["sizes"] = res.extra["graph"]
            ids = list(res.user_ids)
            activity = user_activity(store, ids)
            stored = _stored(store, ids)
            assert np.allclose(stored, res.personas, atol=1e-5)
            run: dict[str, Any] = {
                "seed": seed,
                "persona_seconds": round(seconds, 1),
                "epochs": len(res.losses),
            }
            run["after"] = _figures(store, kind, ids, stored, activity)
            run["after"]["sessions"] = _sessions(settings, store, ids, stored, seed, res.run_id)
            if before:
                data, _ = export_graph(store)
                old = train_hdgi(data, settings.hdgi, seed=seed, centre=False)
                assert old.user_ids == ids
                run["before"] = _figures(store, kind, ids, old.personas, activity)
                # sessions of the uncentred model, saved and loaded like a real run, against its personas
                old_dir = tmp / f"old-{kind}-{seed}"
                assert old.model is not None
                old.model.save(old_dir / "personas" / old.run_id / "model.pt")
                run["before"]["sessions"] = _sessions(
                    settings.model_copy(update={"workdir": old_dir}), store, ids, old.personas, seed, old.run_id
                )
            print(kind, seed, _round(_headline(kind, run)), flush=True)
            out["runs"].append(_round(run))
    finally:
        store.close()
    return out


def _headline(kind: str, run: dict[str, Any]) -> dict[str, Any]:
    h: dict[str, Any] = {}
    for when in ("before", "after"):
        if when not in run:
            continue
        r = run[when]
        h[f"{when}_mean_pair_cosine"] = r["geometry"]["mean_pair_cosine"]
        if kind == "demo":
            h[f"{when}_taste_precision_at_10"] = r["taste_precision_at_10"]
        else:
            for rel in ("HAS_GENRE", "DIRECTED_BY"):
                h[f"{when}_{rel}_lift"] = r["overlap_at_10"][rel]["share"]["lift"]
    return h


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", default="0", help="comma-separated HDGI seeds")
    ap.add_argument("--threads", type=int, default=1, help="torch threads")
    ap.add_argument("--stores", default="ml100k,demo")
    ap.add_argument("--no-before", action="store_true", help="skip the uncentred (pre-fix) training")
    args = ap.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    seeds = [int(s) for s in args.seeds.split(",")]
    tmp = Path(tempfile.mkdtemp(prefix="bench-persona-similarity-"))
    t0 = time.perf_counter()
    try:
        stores = {k: run_store(k, tmp, seeds, not args.no_before) for k in args.stores.split(",")}
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    summary: dict[str, Any] = {}
    for kind, res in stores.items():
        heads = [_headline(kind, r) for r in res["runs"]]
        summary[kind] = {k: _round(float(np.mean([h[k] for h in heads]))) for k in heads[0]}
    out = write_result(
        "persona_similarity",
        {
            **_commit(),
            "command": "python bench/bench_persona_similarity.py " + " ".join(sys.argv[1:]),
            "threads": args.threads,
            "seeds": seeds,
            "targets": TARGETS,
            "summary_mean_over_seeds": summary,
            "stores": stores,
            "seconds": round(time.perf_counter() - t0, 1),
            "peak_rss_gib": round(peak_rss_mib() / 1024, 2),
        },
    )
    print(summary)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
