"""Reproduce the paper's Table 3: retriever variants, then reranking, mean ± std over seeds.

Rows (user embedding, item embedding) of the retriever: (none, random), (none, text), (random, text),
(llm, text), (kg, text); each also reranked by plain SASRec (none, random). Per seed the reranker is
trained once and is the same model as the (none, random) retriever (same settings and seed). A variant
whose vectors are not given (e.g. no LLM personas) is skipped with a note.

Columns: HR@10, NDCG@10, MRR (full, no cut-off) and HR@100 on the test split, full-catalogue ranking
(see :mod:`persona.rec.evaluate`); ``results.csv`` also has NDCG@100, MRR@10/@100 and the sampled-100
figures of the retriever.

Outputs in ``out_dir``: ``results.csv`` (one row per variant, stage and seed), ``summary.csv`` (mean and
std), ``results.md`` (Markdown table "mean ± std"), ``results.png`` (bars with std error bars) and
``config.json`` (settings, seeds, data sizes).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from persona.config import RecSettings

from .pipeline import evaluate_two_stage, make_reranker, make_retriever
from .sequences import Interactions

log = logging.getLogger(__name__)

TABLE3_VARIANTS: tuple[tuple[str, str], ...] = (
    ("none", "random"),
    ("none", "text"),
    ("random", "text"),
    ("llm", "text"),
    ("kg", "text"),
)
HEADLINE = ("hr@10", "ndcg@10", "mrr", "hr@100")
_LABELS = {"hr@10": "HR@10", "ndcg@10": "NDCG@10", "mrr": "MRR", "hr@100": "HR@100"}
_NAMES = {"none": "None", "random": "Random", "llm": "LLM", "kg": "KG+LLM", "text": "Description (LLM)"}


def run_experiment(
    inter: Interactions,
    user_vecs_by_variant: Mapping[str, Mapping[str, np.ndarray]],
    item_text: Mapping[str, np.ndarray] | None,
    settings: RecSettings,
    seeds: Sequence[int] = (0, 1, 2),
    out_dir: str | Path = "runs/table3",
    *,
    variants: Sequence[tuple[str, str]] = TABLE3_VARIANTS,
    split: str = "test",
    progress: Callable[[str], None] | None = None,
) -> pd.DataFrame:
    """Train and evaluate every variant for every seed; write the tables and the chart.

    Args:
        inter: interactions.
        user_vecs_by_variant: ``{'kg': {user: vec}, 'llm': {user: vec}}``; a missing key skips that row.
        item_text: item id -> text vector (rows with ``item_emb='text'`` are skipped when ``None``).
        settings: hyperparameters shared by every model (``user_emb``/``item_emb`` are set per row).
        seeds: seeds; each gives one independent training of every model.
        out_dir: output folder (created).
        variants: ``(user_emb, item_emb)`` rows.
        split: evaluation split.
        progress: called with a short message before each training.

    Returns:
        The summary DataFrame (one row per stage and variant; ``<metric>_mean``, ``<metric>_std``).
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    runnable: list[tuple[str, str]] = []
    skipped: list[str] = []
    for ue, ie in variants:
        if ue in ("llm", "kg") and ue not in user_vecs_by_variant:
            skipped.append(f"({ue}, {ie}): no {ue} user vectors")
        elif ie == "text" and item_text is None:
            skipped.append(f"({ue}, {ie}): no item text vectors")
        else:
            runnable.append((ue, ie))
    for note in skipped:
        log.warning("skipping %s", note)
    rows: list[dict[str, Any]] = []
    for seed in seeds:
        if progress:
            progress(f"seed {seed}: reranker (none, random)")
        t0 = time.perf_counter()
        reranker = make_reranker(settings, seed).fit(inter)
        rer_s = time.perf_counter() - t0
        for ue, ie in runnable:
            s = RecSettings.model_validate({**settings.model_dump(), "user_emb": ue, "item_emb": ie})
            if (ue, ie) == ("none", "random"):
                retriever, fit_s = reranker, rer_s
            else:
                if progress:
                    progress(f"seed {seed}: retriever ({ue}, {ie})")
                t0 = time.perf_counter()
                retriever = make_retriever(s, user_vecs_by_variant.get(ue), item_text, seed).fit(inter)
                fit_s = time.perf_counter() - t0
            res = evaluate_two_stage(retriever, reranker, split, seed=seed)
            for stage, metrics in (("retriever", res.retriever), ("reranked", res.reranked)):
                rows.append(
                    {
                        "stage": stage,
                        "user_emb": ue,
                        "item_emb": ie,
                        "seed": seed,
                        **metrics,
                        "best_epoch": retriever.best_epoch,
                        "valid_ndcg@10": retriever.best_score,
                        "fit_seconds": fit_s,
                    }
                )
    per_seed = pd.DataFrame(rows)
    per_seed.to_csv(out / "results.csv", index=False)
    summary = summarise(per_seed)
    summary.to_csv(out / "summary.csv", index=False)
    (out / "results.md").write_text(
        markdown_table(summary, n_seeds=len(seeds), skipped=skipped), encoding="utf-8"
    )
    plot_results(summary, out / "results.png")
    (out / "config.json").write_text(
        json.dumps(
            {
                "settings": settings.model_dump(),
                "seeds": list(seeds),
                "split": split,
                "variants": [list(v) for v in runnable],
                "skipped": skipped,
                "data": {
                    "users": inter.n_users,
                    "items": inter.n_items,
                    "interactions": len(inter),
                    "session_mode": inter.session_mode,
                },
            },
            indent=2,
        ),
        encoding="utf-8",
    )
    return summary


def summarise(per_seed: pd.DataFrame) -> pd.DataFrame:
    """Mean and sample std (ddof=1; NaN for one seed) of every metric per (stage, user_emb, item_emb)."""
    metrics = [c for c in per_seed.columns if c not in ("stage", "user_emb", "item_emb", "seed")]
    g = per_seed.groupby(["stage", "user_emb", "item_emb"], sort=False)[metrics]
    mean = g.mean().add_suffix("_mean")
    std = g.std(ddof=1).add_suffix("_std")
    n = g.size().rename("n_seeds")
    res = pd.concat([mean, std, n], axis=1).reset_index()
    res["stage"] = pd.Categorical(res["stage"], ["retriever", "reranked"], ordered=True)
    return (
        res.sort_values("stage", kind="stable")
        .reset_index(drop=True)
        .assign(stage=lambda d: d["stage"].astype(str))
    )


def markdown_table(summary: pd.DataFrame, *, n_seeds: int, skipped: Sequence[str] = ()) -> str:
    """Table 3 as Markdown: retriever rows, then a "Reranking" section, cells "mean ± std"."""
    head = "| User embedding | Item embedding | " + " | ".join(_LABELS[m] for m in HEADLINE) + " |"
    lines = [
        "Full-catalogue ranking, test split, "
        + (f"mean ± std over {n_seeds} seeds" if n_seeds > 1 else "one seed (no std)")
        + "; MRR without cut-off; HR@100 = recall of the 100 retrieved candidates.",
        "",
        head,
        "|" + "---|" * (2 + len(HEADLINE)),
    ]
    for stage in ("retriever", "reranked"):
        part = summary[summary["stage"] == stage]
        if stage == "reranked" and len(part):
            lines.append(
                "| **Reranking** (SASRec: none, random) | retriever → | "
                + " | ".join("" for _ in HEADLINE)
                + " |"
            )
        for _, r in part.iterrows():
            cells = [_cell(r[f"{m}_mean"], r[f"{m}_std"]) for m in HEADLINE]
            lines.append(
                f"| {_NAMES.get(r['user_emb'], r['user_emb'])} | {_NAMES.get(r['item_emb'], r['item_emb'])} | "
                + " | ".join(cells)
                + " |"
            )
    if skipped:
        lines += ["", "Skipped: " + "; ".join(skipped) + "."]
    return "\n".join(lines) + "\n"


def _cell(mean: float, std: float) -> str:
    return f"{mean:.4f}" if not np.isfinite(std) else f"{mean:.4f} ± {std:.4f}"


def plot_results(summary: pd.DataFrame, path: str | Path) -> None:
    """Grouped bars (retriever vs reranked) per variant, one panel per headline metric, std error bars."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ret = summary[summary["stage"] == "retriever"].reset_index(drop=True)
    rer = summary[summary["stage"] == "reranked"].reset_index(drop=True)
    labels = [
        f"{_NAMES.get(u, u)}\n{'text' if i == 'text' else 'random'}"
        for u, i in zip(ret["user_emb"], ret["item_emb"])
    ]
    x = np.arange(len(ret))
    fig, axes = plt.subplots(1, len(HEADLINE), figsize=(4.2 * len(HEADLINE), 3.8))
    for ax, m in zip(np.atleast_1d(axes), HEADLINE):
        for off, part, name in ((-0.2, ret, "retriever"), (0.2, rer, "reranked")):
            if not len(part):
                continue
            err = np.nan_to_num(part[f"{m}_std"].to_numpy(dtype=float))
            ax.bar(x + off, part[f"{m}_mean"], width=0.4, yerr=err, capsize=3, label=name)
        ax.set_title(_LABELS[m])
        ax.set_xticks(x)
        ax.set_xticklabels(labels, fontsize=7)
        ax.grid(axis="y", alpha=0.3)
    np.atleast_1d(axes)[0].legend(fontsize=8)
    fig.suptitle(
        "Retriever variants (user emb / item emb) and SASRec reranking — mean ± std over seeds", fontsize=10
    )
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
