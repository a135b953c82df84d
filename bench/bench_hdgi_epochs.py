"""Persona quality against HDGI epochs on the Movies & TV-sized planted-taste graph.

Run: ``python bench/bench_hdgi_epochs.py [--epochs 40,80,140] [--threads 2]``. Writes
``bench/results/hdgi_epochs.json``: per epoch budget, training seconds, seconds per epoch and the k-means
NMI of the personas against the planted tastes (next to random vectors and the users' mean item text).
This is the evidence behind the default ``hdgi.epochs``.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import MOVIES_TV, planted_movies_tv, write_result


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--epochs", default="40,80,140")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    from persona.config import load_settings
    from persona.kgstore import open_store
    from persona.learn.diagnostics import planted_taste_report
    from persona.learn.export import export_graph
    from persona.learn.hdgi import train_hdgi
    from persona.learn.personas import encode_graph_text

    tmp = Path(tempfile.mkdtemp(prefix="bench-hdgi-epochs-"))
    try:
        g = planted_movies_tv()
        store = open_store(f"embedded:{tmp / 'kg.db'}")
        store.init_schema()
        store.load(g)
        base = load_settings(None, workdir=tmp / "work")
        encode_graph_text(store, base, workdir=base.workdir)
        data, _ = export_graph(store)
        runs = []
        for ep in map(int, args.epochs.split(",")):
            settings = load_settings(None, workdir=tmp / "work", hdgi={"epochs": ep})
            t = time.perf_counter()
            res = train_hdgi(data, settings.hdgi, seed=0)
            seconds = time.perf_counter() - t
            nmi = planted_taste_report(store, res.user_ids, res.personas)
            run = {
                "epochs": ep,
                "seconds": round(seconds, 1),
                "seconds_per_epoch": round(res.extra["seconds_per_epoch"], 3),
                "best_epoch": res.best_epoch,
                "stopped_early": res.stopped_early,
                "nmi": {k: round(v, 4) for k, v in nmi.items() if k != "users"},
            }
            print(run, flush=True)
            runs.append(run)
        store.close()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    out = write_result(
        "hdgi_epochs",
        {"graph": "Movies & TV-sized planted-taste graph (Table 1 sizes, 10 tastes)", "sizes": MOVIES_TV,
         "threads": args.threads, "runs": runs},
    )
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
