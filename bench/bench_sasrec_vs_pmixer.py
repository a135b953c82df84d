"""Our plain SASRec against pmixer/SASRec.pytorch, side by side on ML-100K: wall time vs validation NDCG@10.

Run: ``python bench/bench_sasrec_vs_pmixer.py --pmixer DIR [--threads 2] [--eval-every 5] [--patience 20]
[--max-seconds 960] [--max-epochs 1000] [--seed 0]``

``DIR`` is a copy of https://github.com/pmixer/SASRec.pytorch (Apache-2.0) outside this repository: a
checkout, or its ``python/model.py`` and ``python/utils.py`` extracted (``DIR/python/…``; an optional
``DIR/COMMIT`` file names the commit when ``DIR`` is not a git checkout). Nothing of it is copied here: its
module ``SASRec`` and its batch sampler ``WarpSampler`` are imported from ``DIR`` at run time.

Both sides use the same data and the same measurement:

* **Split**: ML-100K ``u.data`` through persona's one leave-one-out rule (:func:`persona.rec.leave_one_out`,
  the rule ``persona ingest`` stores): per user, last rating = test, second-last = valid, the rest train.
  pmixer is given exactly these train/valid/test items (our item indices 1..n), not its own partition.
* **Evaluation**: full ranking over the whole catalogue, the user's earlier items excluded, pessimistic ties
  (:func:`persona.rec.evaluate.ranks_for`, the function our ``fit`` validates with). Validation input = train
  items; test input = train + valid items. pmixer's own evaluation (100 sampled negatives) is not used.
* **Clock**: wall seconds from the start of training (building windows/sampler and model included) to the
  end of each validation; validation time counts on both sides, test evaluation on neither.
* **Machine**: CPU, ``torch.set_num_threads(--threads)`` and ``OMP_WAIT_POLICY=PASSIVE`` on both sides (as
  persona's CLI sets it); each side runs in a fresh process, one after the other.

**Ours**: :class:`persona.rec.SASRecRecommender` with the default :class:`RecSettings` and
``user_emb="none", item_emb="random"`` (the plain model: max_len 50, hidden 64, 2 blocks, 1 head, dropout
0.2, full-catalogue cross-entropy, lr 0.007 cosine over 25 epochs, batch 128, validation every epoch,
patience 10), its own ``fit``; an ``on_epoch`` callback records the curve.

**pmixer**: its ``main.py`` training loop re-created around its imported code: its defaults for ML-1M-like
data (README: lr 0.001, maxlen 200, dropout 0.2, hidden 50, 2 blocks, 1 head, batch 128, Adam betas
(0.9, 0.98), post-LN as ``norm_first`` is off by default, l2_emb 0), Xavier-normal init of every matrix with
the padding rows zeroed, ``ceil(users / 128)`` steps per epoch from ``WarpSampler`` (one window of the last
``maxlen`` train items per sampled user, one negative per position outside the user's train items), BCE on
positive and negative logits at non-padding positions. One sampler worker instead of main.py's three: on a
2-core machine three sampling processes only compete with the two torch threads. Its validation runs every
``--eval-every`` epochs (main.py: 20); training stops after ``--patience`` validations without a new best
validation NDCG@10, at ``--max-epochs`` (main.py's default 1000) or after ``--max-seconds`` of wall time,
whichever comes first; the weights of the best validation are kept and tested.

Writes ``bench/results/sasrec_vs_pmixer.json``: machine, commit, data size, settings, both curves as
``[seconds, epoch, valid NDCG@10]``, the time of each side's best validation, the test NDCG@10 / HR@10 of each
best model, and ``speed_ratio`` = our best-validation time / pmixer's (target: <= 0.5, with our test
NDCG@10 >= pmixer's). The machine may be shared: the load average at each side's start and end and the
process CPU seconds (``cpu_ratio_at_best``; pmixer's sampler process counted apart) are recorded too, and
``time_to_match`` says when each side first reached the other's best validation NDCG@10.
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import importlib.util
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import DATASETS, write_result

NAME = "sasrec_vs_pmixer"

#: pmixer/SASRec.pytorch defaults for ML-1M-like data (its README's command; its main.py's other defaults).
PMIXER_ARGS = {
    "batch_size": 128, "lr": 0.001, "maxlen": 200, "hidden_units": 50, "num_blocks": 2, "num_heads": 1,
    "dropout_rate": 0.2, "l2_emb": 0.0, "norm_first": False, "device": "cpu", "adam_betas": (0.9, 0.98),
}


def _interactions() -> Any:
    import pandas as pd

    from persona.rec import Interactions, leave_one_out

    raw = pd.read_csv(DATASETS / "ml-100k" / "u.data", sep="\t", names=["user", "item", "rating", "ts"],
                      dtype={"user": str, "item": str})
    return Interactions.from_frame(leave_one_out(raw, by="ts"), source="ml-100k/u.data")


def _full_ranking(score_fn: Any, es: Any) -> dict[str, float]:
    from persona.rec import metrics_from_ranks
    from persona.rec.evaluate import ranks_for

    m = metrics_from_ranks(ranks_for(score_fn, es, exclude_seen=True), (10,))
    return {"ndcg@10": round(m["ndcg@10"], 4), "hr@10": round(m["hr@10"], 4), "users": int(m["n_users"])}


# --------------------------------------------------------------------------------------------------- ours

def run_ours(args: argparse.Namespace) -> dict[str, Any]:
    """Fit the plain SASRecRecommender with its defaults; record (seconds, epoch, valid NDCG@10)."""
    from persona.config import RecSettings
    from persona.rec import SASRecRecommender

    inter = _interactions()
    settings = RecSettings(user_emb="none", item_emb="random", seed=args.seed)
    if args.smoke:
        settings = settings.model_copy(update={"epochs": 2})
    curve: list[list[float]] = []
    cpu: dict[int, float] = {}
    epoch_seconds: list[float] = []
    load = [round(x, 2) for x in os.getloadavg()]
    t0, c0 = time.perf_counter(), time.process_time()

    def on_epoch(rec: dict[str, Any]) -> None:
        epoch_seconds.append(round(rec["seconds"], 3))
        if "valid_ndcg@10" in rec:
            curve.append([round(time.perf_counter() - t0, 2), rec["epoch"], round(rec["valid_ndcg@10"], 4)])
            cpu[rec["epoch"]] = round(time.process_time() - c0, 2)

    model = SASRecRecommender(settings, on_epoch=on_epoch).fit(inter)
    total, total_cpu = time.perf_counter() - t0, time.process_time() - c0
    best = next(c for c in curve if c[1] == model.best_epoch)
    test = _full_ranking(model.score_eval_set, inter.eval_set("test"))
    module = model.module
    assert module is not None
    return {
        "settings": settings.model_dump(include={"max_len", "hidden", "blocks", "heads", "dropout", "lr",
                                                 "lr_schedule", "batch_size", "epochs", "patience", "eval_every",
                                                 "loss", "user_emb", "item_emb", "seed"}),
        "parameters": sum(p.numel() for p in module.parameters()),
        "curve": curve, "epoch_seconds": epoch_seconds, "total_seconds": round(total, 2),
        "cpu_seconds": {"at_best": cpu[best[1]], "total": round(total_cpu, 2)},
        "load_average_start_end": [load, [round(x, 2) for x in os.getloadavg()]],
        "best": {"seconds": best[0], "epoch": best[1], "valid_ndcg@10": best[2]}, "test": test,
    }


# ------------------------------------------------------------------------------------------------- pmixer

def _load(path: Path, name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise SystemExit(f"{path}: cannot import")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    spec.loader.exec_module(mod)
    return mod


def _pmixer_dir(d: str) -> Path:
    root = Path(d).expanduser().resolve()
    for cand in (root / "python", root):
        if (cand / "model.py").is_file() and (cand / "utils.py").is_file():
            return cand
    raise SystemExit(f"--pmixer {d}: expected python/model.py and python/utils.py of pmixer/SASRec.pytorch there")


def _pmixer_source(d: str) -> dict[str, Any]:
    py = _pmixer_dir(d)
    root = Path(d).expanduser().resolve()
    rev = "unknown"
    if (root / "COMMIT").is_file():
        rev = (root / "COMMIT").read_text().strip()
    else:
        try:
            rev = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True,
                                 check=True).stdout.strip()
        except (OSError, subprocess.CalledProcessError):
            pass
    return {"repo": "https://github.com/pmixer/SASRec.pytorch", "licence": "Apache-2.0", "commit": rev,
            "sha256": {f: hashlib.sha256((py / f).read_bytes()).hexdigest()[:16] for f in ("model.py", "utils.py")}}


def run_pmixer(args: argparse.Namespace) -> dict[str, Any]:
    """pmixer's main.py loop on our split, validated by full ranking every ``eval_every`` epochs."""
    import numpy as np
    import torch

    from persona.rec import pad_left

    py = _pmixer_dir(args.pmixer)
    pm_model = _load(py / "model.py", "pmixer_model")
    pm_utils = _load(py / "utils.py", "pmixer_utils")
    inter = _interactions()
    valid_es, test_es = inter.eval_set("valid"), inter.eval_set("test")
    a = SimpleNamespace(**PMIXER_ARGS)
    n_users, n_items = inter.n_users, inter.n_items
    # its user ids are 1..n; its item ids are ours (1..n_items, 0 = padding)
    _, train_seqs = inter.train_sequences()
    user_train = {u + 1: s.tolist() for u, s in enumerate(train_seqs)}
    all_items = np.arange(n_items + 1)

    np.random.seed(args.seed)  # WarpSampler seeds its workers from numpy's global RNG
    torch.manual_seed(args.seed)
    load = [round(x, 2) for x in os.getloadavg()]
    t0, c0 = time.perf_counter(), time.process_time()
    sampler = pm_utils.WarpSampler(user_train, n_users, n_items, batch_size=a.batch_size, maxlen=a.maxlen,
                                   n_workers=1)
    model = pm_model.SASRec(n_users, n_items, a).to(a.device)
    for _, p in model.named_parameters():  # main.py: Xavier-normal where it applies, padding rows zero
        if p.dim() >= 2:
            torch.nn.init.xavier_normal_(p.data)
    model.pos_emb.weight.data[0, :] = 0
    model.item_emb.weight.data[0, :] = 0
    bce = torch.nn.BCEWithLogitsLoss()
    opt = torch.optim.Adam(model.parameters(), lr=a.lr, betas=a.adam_betas)
    steps = (len(user_train) - 1) // a.batch_size + 1

    @torch.no_grad()
    def scores(es: Any) -> torch.Tensor:
        model.eval()
        out = []
        for b in range(0, len(es), 256):
            seq = pad_left(es.inputs[b : b + 256], a.maxlen)
            out.append(model.predict(es.users[b : b + 256] + 1, seq, all_items))
        s = torch.cat(out)
        s[:, 0] = float("-inf")
        return s

    curve: list[list[float]] = []
    cpu: dict[int, float] = {}
    epoch_seconds: list[float] = []
    best_score, best_state, bad, epoch, stop = -1.0, None, 0, 0, "max_epochs"
    max_epochs = 2 * args.eval_every if args.smoke else args.max_epochs
    try:
        while epoch < max_epochs:
            epoch += 1
            te = time.perf_counter()
            model.train()
            for _ in range(steps):
                u, seq, pos, neg = (np.array(x) for x in sampler.next_batch())
                pos_logits, neg_logits = model(u, seq, pos, neg)
                opt.zero_grad()
                where = np.where(pos != 0)
                loss = bce(pos_logits[where], torch.ones_like(pos_logits[where]))
                loss = loss + bce(neg_logits[where], torch.zeros_like(neg_logits[where]))
                for p in model.item_emb.parameters():
                    loss = loss + a.l2_emb * torch.sum(p**2)
                loss.backward()
                opt.step()
            epoch_seconds.append(round(time.perf_counter() - te, 3))
            if epoch % args.eval_every:
                continue
            ndcg = _full_ranking(scores, valid_es)["ndcg@10"]
            now = time.perf_counter() - t0
            curve.append([round(now, 2), epoch, ndcg])
            cpu[epoch] = round(time.process_time() - c0, 2)
            print(f"pmixer epoch {epoch}: {now:.0f}s valid NDCG@10 {ndcg:.4f}", file=sys.stderr, flush=True)
            if ndcg > best_score:
                best_score, best_state, bad = ndcg, copy.deepcopy(model.state_dict()), 0
            else:
                bad += 1
            if bad >= args.patience:
                stop = f"patience ({args.patience} validations without a new best)"
                break
            if now >= args.max_seconds:
                stop = f"max_seconds ({args.max_seconds})"
                break
    finally:
        sampler.close()  # terminates and joins its worker, so RUSAGE_CHILDREN below includes it
    total, total_cpu = time.perf_counter() - t0, time.process_time() - c0
    sampler_cpu = resource.getrusage(resource.RUSAGE_CHILDREN)
    assert best_state is not None
    model.load_state_dict(best_state)
    best = max(curve, key=lambda c: (c[2], -c[0]))  # first epoch that reached the best score
    return {
        "source": _pmixer_source(args.pmixer),
        "settings": {**{k: v for k, v in PMIXER_ARGS.items() if k != "device"}, "sampler_workers": 1,
                     "loss": "bce, 1 negative per position", "steps_per_epoch": steps,
                     "eval_every": args.eval_every, "patience": args.patience, "max_epochs": max_epochs,
                     "max_seconds": args.max_seconds, "seed": args.seed},
        "parameters": sum(p.numel() for p in model.parameters()),
        "curve": curve, "epoch_seconds_mean": round(float(np.mean(epoch_seconds)), 3),
        "epochs": epoch, "stopped_by": stop, "total_seconds": round(total, 2),
        "cpu_seconds": {"at_best": cpu[best[1]], "total": round(total_cpu, 2),
                        "sampler_process_total": round(sampler_cpu.ru_utime + sampler_cpu.ru_stime, 2)},
        "load_average_start_end": [load, [round(x, 2) for x in os.getloadavg()]],
        "best": {"seconds": best[0], "epoch": best[1], "valid_ndcg@10": best[2]},
        "test": _full_ranking(scores, test_es),
    }


# --------------------------------------------------------------------------------------------------- main

def _first_at(curve: list[list[float]], level: float) -> float | None:
    """Seconds at which a curve first reaches ``level`` validation NDCG@10 (``None``: never)."""
    return next((c[0] for c in curve if c[2] >= level), None)


def _child(side: str, args: argparse.Namespace) -> dict[str, Any]:
    """Run one side in a fresh process (its own OpenMP start-up and allocator), return its result."""
    with tempfile.TemporaryDirectory(prefix="persona-vs-pmixer-") as tmp:
        out = Path(tmp) / "result.json"
        cmd = [sys.executable, __file__, "--side", side, "--out", str(out), "--pmixer", args.pmixer,
               "--threads", str(args.threads), "--eval-every", str(args.eval_every), "--patience", str(args.patience),
               "--max-seconds", str(args.max_seconds), "--max-epochs", str(args.max_epochs), "--seed", str(args.seed)]
        if args.smoke:
            cmd.append("--smoke")
        env = {**os.environ, "OMP_WAIT_POLICY": "PASSIVE", "HF_HUB_OFFLINE": "1"}
        subprocess.run(cmd, env=env, check=True)
        result: dict[str, Any] = json.loads(out.read_text())
        return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--pmixer", required=True, help="copy of pmixer/SASRec.pytorch outside this repository")
    ap.add_argument("--threads", type=int, default=2, help="torch threads, both sides")
    ap.add_argument("--eval-every", type=int, default=5, help="pmixer: epochs between validations")
    ap.add_argument("--patience", type=int, default=20, help="pmixer: validations without a new best before stopping")
    ap.add_argument("--max-seconds", type=float, default=960.0, help="pmixer: wall-time cap (checked at validations)")
    ap.add_argument("--max-epochs", type=int, default=1000, help="pmixer: epoch cap (its main.py default)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--smoke", action="store_true", help="2 epochs of ours, 2 validations of pmixer; no JSON")
    ap.add_argument("--side", choices=["ours", "pmixer"], help=argparse.SUPPRESS)
    ap.add_argument("--out", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.side:
        import torch

        torch.set_num_threads(args.threads)
        res = run_ours(args) if args.side == "ours" else run_pmixer(args)
        res["torch_threads"] = torch.get_num_threads()
        Path(args.out).write_text(json.dumps(res))
        return
    _pmixer_dir(args.pmixer)  # fail before the first side runs
    t0 = time.perf_counter()
    ours = _child("ours", args)
    print(f"ours: best valid NDCG@10 {ours['best']['valid_ndcg@10']} at {ours['best']['seconds']}s "
          f"(epoch {ours['best']['epoch']}), test {ours['test']}", flush=True)
    pm = _child("pmixer", args)
    print(f"pmixer: best valid NDCG@10 {pm['best']['valid_ndcg@10']} at {pm['best']['seconds']}s "
          f"(epoch {pm['best']['epoch']}), test {pm['test']}, stopped by {pm['stopped_by']}", flush=True)
    ratio = ours["best"]["seconds"] / pm["best"]["seconds"]
    match = {
        "pmixer_seconds_to_our_best_valid": _first_at(pm["curve"], ours["best"]["valid_ndcg@10"]),
        "our_seconds_to_pmixer_best_valid": _first_at(ours["curve"], pm["best"]["valid_ndcg@10"]),
    }
    met = ratio <= 0.5 and ours["test"]["ndcg@10"] >= pm["test"]["ndcg@10"]
    print(f"speed ratio (ours / pmixer, time to best validation) {ratio:.3f}; target met: {met}")
    if args.smoke:
        return
    inter = _interactions()
    out = write_result(NAME, {
        "data": {"dataset": "ML-100K (u.data)", "users": inter.n_users, "items": inter.n_items,
                 "interactions": len(inter), "split": "persona.rec.leave_one_out (last = test, second-last = valid)",
                 "valid_users": len(inter.eval_set("valid")), "test_users": len(inter.eval_set("test"))},
        "protocol": "full ranking over all items, the user's earlier items excluded, pessimistic ties; wall seconds "
                    "from training start to the end of each validation (validation included, test excluded); "
                    f"CPU, {args.threads} torch threads, OMP_WAIT_POLICY=PASSIVE, each side in a fresh process",
        "command": "python bench/bench_sasrec_vs_pmixer.py " + " ".join(sys.argv[1:]),
        "curve_columns": ["seconds", "epoch", "valid_ndcg@10"],
        "ours": ours, "pmixer": pm,
        "speed_ratio": round(ratio, 3),
        "cpu_ratio_at_best": round(ours["cpu_seconds"]["at_best"] / pm["cpu_seconds"]["at_best"], 3),
        "time_to_match": match,
        "test_ndcg@10_difference": round(ours["test"]["ndcg@10"] - pm["test"]["ndcg@10"], 4),
        "target": "ours reaches its best validation NDCG@10 in <= 1/2 of pmixer's time, test NDCG@10 >= pmixer's",
        "target_met": met, "total_seconds": round(time.perf_counter() - t0, 1),
    })
    print(f"→ {out}")


if __name__ == "__main__":
    main()
