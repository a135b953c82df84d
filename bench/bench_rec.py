"""Benchmark persona.rec at the size of the paper's Amazon Movies & TV data (Table 1).

Synthetic sequences with the paper's sizes — 10,849 users, 3,672 items, 87,376 interactions, every user
with at least 5 interactions (5-core), Zipf-like item popularity — measure:

* SASRec training seconds per epoch (default RecSettings: hidden 64, 2 blocks, 1 head, max_len 50,
  batch 128) for the plain model and the persona + text variant (d_user 64, d_text 384), CE and BCE;
* full-ranking evaluation throughput (users/s): ranking alone on a given score matrix
  (10,000 users x 3,673 columns, seen items excluded) and end to end (model scoring + ranking);
* the sampled-100 secondary metric's extra cost.

Writes ``bench/results/rec.json`` with machine information (CPU count and model, RAM, load average
at start: other processes on the machine distort timings) and the data sizes.

Each configuration runs in a fresh process: 1 thread, 2 threads, and 2 threads with
``OMP_WAIT_POLICY=PASSIVE``. On a machine whose other core is busy (other processes; the load average is
recorded), OpenMP's default spin-waiting makes every two-thread parallel region wait for a descheduled
thread, and training becomes several times slower than on one thread; the passive policy avoids that.

Usage: ``python bench/bench_rec.py [--configs 1,2,2:PASSIVE] [--epochs 2] [--device cpu] [--out bench/results/rec.json]``
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from persona.config import RecSettings
from persona.rec import Interactions, SASRecRecommender, metrics_from_ranks, rank_targets
from persona.rec.evaluate import sampled_ranks, seen_mask

N_USERS, N_ITEMS, N_INTER = 10_849, 3_672, 87_376


def synthetic_frame(seed: int = 0) -> pd.DataFrame:
    """Leave-one-out interactions of the Movies & TV size (exact counts)."""
    rng = np.random.default_rng(seed)
    extra = rng.geometric(1 / 4.0, size=N_USERS) - 1  # mean about 3 beyond the 5-core minimum
    lens = 5 + extra
    diff = N_INTER - int(lens.sum())
    while diff:  # adjust to the exact total, keeping every user >= 5
        u = rng.integers(N_USERS)
        step = 1 if diff > 0 else -1
        if lens[u] + step >= 5:
            lens[u] += step
            diff -= step
    p = 1.0 / np.arange(1, N_ITEMS + 1) ** 0.8
    p /= p.sum()
    items = rng.choice(N_ITEMS, size=N_INTER, p=p)
    items[rng.permutation(N_INTER)[:N_ITEMS]] = np.arange(N_ITEMS)  # every item occurs
    users = np.repeat(np.arange(N_USERS), lens)
    pos = np.concatenate([np.arange(n) for n in lens])
    split = np.where(
        pos == np.repeat(lens, lens) - 1, "test", np.where(pos == np.repeat(lens, lens) - 2, "valid", "train")
    )
    return pd.DataFrame(
        {"user": [f"u{u}" for u in users], "item": [f"i{i}" for i in items], "pos": pos, "split": split}
    )


def machine() -> dict[str, object]:
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    ram = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                ram = round(int(line.split()[1]) / 1024**2, 1)
    except OSError:
        pass
    return {
        "cpu_count": os.cpu_count(),
        "cpu_model": model,
        "ram_gib": ram,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
    }


def time_epochs(inter: Interactions, settings: RecSettings, epochs: int, **kw: object) -> dict[str, object]:
    secs: list[float] = []
    rec = SASRecRecommender(
        settings, epochs=epochs, eval_every=10_000, on_epoch=lambda r: secs.append(r["seconds"]), **kw
    )  # type: ignore[arg-type]
    t0 = time.perf_counter()
    rec.fit(inter, valid=False)
    total = time.perf_counter() - t0
    X, _, _ = rec.training_tensors(inter)
    es = inter.eval_set("test")
    t1 = time.perf_counter()
    m = rec.evaluate("test", sampled=0)
    e2e = time.perf_counter() - t1
    return {
        "seconds_per_epoch_median": statistics.median(secs),
        "seconds_per_epoch_all": secs,
        "fit_seconds_total": total,
        "training_windows": len(X),
        "eval_users": len(es),
        "eval_end_to_end_seconds": e2e,
        "eval_end_to_end_users_per_s": len(es) / e2e,
        "test_ndcg@10_after_epochs": m["ndcg@10"],
    }


def bench_ranking(inter: Interactions, n_users: int = 10_000, repeats: int = 3) -> dict[str, object]:
    es = inter.eval_set("test").subset(slice(0, n_users))
    g = torch.Generator().manual_seed(0)
    scores = torch.randn(len(es), inter.n_items + 1, generator=g)
    scores[:, 0] = float("-inf")
    targets = torch.as_tensor(es.targets)
    full_hist = inter.eval_set("all", es.users).history

    def rank_all() -> torch.Tensor:
        out = []
        for s in range(0, len(es), 2048):
            part = es.subset(slice(s, s + 2048))
            excl = seen_mask(part.history, scores.shape[1])
            out.append(rank_targets(scores[s : s + 2048], targets[s : s + 2048], excl))
        r = torch.cat(out)
        metrics_from_ranks(r)
        return r

    def sampled_all() -> None:
        gen = torch.Generator().manual_seed(0)
        for s in range(0, len(es), 2048):
            m = seen_mask(full_hist[s : s + 2048], scores.shape[1])
            sampled_ranks(scores[s : s + 2048], targets[s : s + 2048], m, 100, gen)

    rank_all()  # warm-up
    t = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        rank_all()
        t.append(time.perf_counter() - t0)
    ts = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        sampled_all()
        ts.append(time.perf_counter() - t0)
    best = min(t)
    return {
        "users": len(es),
        "columns": scores.shape[1],
        "full_ranking_seconds_best": best,
        "full_ranking_seconds_all": t,
        "full_ranking_users_per_s": len(es) / best,
        "sampled100_seconds_best": min(ts),
    }


CONFIGS = ("1", "2", "2:PASSIVE")


def run_section(inter: Interactions, threads: int, epochs: int, device: str) -> dict[str, object]:
    """Every measurement at one torch thread count (in this process)."""
    torch.set_num_threads(threads)
    rng = np.random.default_rng(1)
    users = {u: rng.normal(size=64).astype(np.float32) for u in inter.users}
    text = {i: rng.normal(size=384).astype(np.float32) for i in inter.items}
    base = RecSettings(device=device)
    return {
        "torch_threads": threads,
        "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY", "(default)"),
        "load_average_at_start": list(os.getloadavg()),
        "ranking_only": bench_ranking(inter),
        "train": {
            "none_random_ce": time_epochs(inter, base, epochs, user_variant="none", item_variant="random"),
            "kg_text_ce": time_epochs(
                inter, base, epochs, user_variant="kg", item_variant="text", user_emb=users, item_emb=text
            ),
            "none_random_bce": time_epochs(
                inter,
                base.model_copy(update={"loss": "bce"}),
                epochs,
                user_variant="none",
                item_variant="random",
            ),
        },
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--configs",
        default=",".join(CONFIGS),
        help="comma-separated THREADS[:OMP_WAIT_POLICY] configurations, each measured in a fresh process",
    )
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "rec.json")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args()

    t0 = time.perf_counter()
    inter = Interactions.from_frame(synthetic_frame())
    build_s = time.perf_counter() - t0
    if args.child:
        print(json.dumps(run_section(inter, int(args.child), args.epochs, args.device)))
        return
    res: dict[str, object] = {
        "machine": machine(),
        "data": {
            "users": inter.n_users,
            "items": inter.n_items,
            "interactions": len(inter),
            "valid_users": int((inter.targets("valid") > 0).sum()),
            "test_users": int((inter.targets("test") > 0).sum()),
            "interactions_from_frame_seconds": build_s,
        },
        "settings": RecSettings(device=args.device).model_dump(),
        "epochs_timed": args.epochs,
    }
    for cfg in args.configs.split(","):
        threads, _, policy = cfg.partition(":")
        env = dict(os.environ)
        env.pop("OMP_WAIT_POLICY", None)
        if policy:
            env["OMP_WAIT_POLICY"] = policy  # read once when OpenMP starts: needs a fresh process
        cmd = [
            sys.executable,
            __file__,
            "--child",
            threads,
            "--epochs",
            str(args.epochs),
            "--device",
            args.device,
        ]
        out = subprocess.run(cmd, env=env, check=True, capture_output=True, text=True).stdout
        res[f"threads_{threads}" + (f"_{policy.lower()}" if policy else "")] = json.loads(
            out.strip().splitlines()[-1]
        )
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(res, indent=2), encoding="utf-8")
    print(json.dumps(res, indent=2))


if __name__ == "__main__":
    main()
