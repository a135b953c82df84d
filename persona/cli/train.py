"""``persona train``, ``persona train personas`` and ``persona experiment``."""

from __future__ import annotations

import math
import os

# Spinning OpenMP workers steal the second core from everything else on small machines (measured ~10×
# slower SASRec epochs on a busy 2-core box); passive waiting costs little when the machine is idle.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape

from persona import workflows
from persona._ui import console, err_console, progress_bar, table
from persona.config import HDGISettings, RecSettings, Settings

from ._base import (
    ConfigOpt,
    DeviceOpt,
    QuietOpt,
    StoreOpt,
    _config_default,
    _fail,
    _settings,
    _Typer,
    app,
    apply_device,
)

train_app = _Typer(help="Learn personas and train the recommender (the whole pipeline without a subcommand).")
app.add_typer(train_app, name="train")


def _train_settings(store: str | None, config: Path | None, device: str | None, **rec: Any) -> Settings:
    s = _settings(store, config)
    apply_device(s, device)
    upd = {k: v for k, v in rec.items() if v is not None}
    if upd:
        s.rec = s.rec.model_copy(update=upd)
    return s


def _status(msg: str) -> None:
    err_console.print(f"[dim]{escape(msg)}[/]", highlight=False, soft_wrap=True)


@train_app.callback(invoke_without_command=True)
def train_cmd(
    ctx: typer.Context,
    user_emb: Annotated[
        str | None,
        typer.Option("--user-emb", metavar="KIND", help="Retriever user embedding: none | random | llm | kg."
                     + _config_default(RecSettings, "user_emb", "rec")),
    ] = None,
    item_emb: Annotated[
        str | None,
        typer.Option("--item-emb", metavar="KIND", help="Retriever item embedding: random | text."
                     + _config_default(RecSettings, "item_emb", "rec")),
    ] = None,
    seed: Annotated[
        int | None,
        typer.Option("--seed", min=0, metavar="S", help="Random seed of the recommender." + _config_default(RecSettings, "seed", "rec")),
    ] = None,
    epochs: Annotated[
        int | None,
        typer.Option("--epochs", min=1, metavar="N", help="SASRec epochs: the length of the cosine schedule (early stopping may end sooner)."
                     + _config_default(RecSettings, "epochs", "rec")),
    ] = None,
    skip_personas: Annotated[bool, typer.Option("--skip-personas", help="Reuse the personas already in the store.")] = False,
    device: DeviceOpt = None,
    store: StoreOpt = None,
    config: ConfigOpt = None,
    quiet: QuietOpt = False,
) -> None:
    """Text embeddings → personas → retriever → reranker → evaluation → write-back."""
    if ctx.invoked_subcommand is not None:
        return
    from persona.pipeline import train

    if user_emb not in (None, "none", "random", "llm", "kg"):
        _fail(f"--user-emb {user_emb!r}: expected none, random, llm or kg")
    if item_emb not in (None, "random", "text"):
        _fail(f"--item-emb {item_emb!r}: expected random or text")
    s = _train_settings(store, config, device, user_emb=user_emb, item_emb=item_emb, epochs=epochs)
    with progress_bar(quiet) as progress:
        rep = train(s, skip_personas=skip_personas, seed=seed, progress=progress, log=_status)
    _print_metrics(f"test metrics (full ranking), run {rep.run_id}", rep.metrics)
    console.print(table("run", run_rows(rep.timings, rep.written), caption=f"run dir: {rep.run_dir}"))


_TIMING_NAMES = {"personas_s": "personas", "load_s": "loading", "rec_s": "recommender", "write_back_s": "write-back"}


def run_rows(timings: dict[str, float], written: dict[str, int]) -> dict[str, Any]:
    """The ``run`` table of ``persona train``: seconds per stage (shown ``77.9 s``), then what was written."""
    rows: dict[str, Any] = {f"{_TIMING_NAMES.get(k, k.removesuffix('_s'))} time": float(v) for k, v in timings.items()}
    if timings:
        rows["total time"] = float(sum(timings.values()))
    rows.update({f"{k} written": v for k, v in written.items()})
    return rows


_METRIC_LABELS = {"hr@10": "HR@10", "ndcg@10": "NDCG@10", "mrr": "MRR", "hr@100": "HR@100"}


def _print_metrics(title: str, metrics: dict[str, dict[str, float]]) -> None:
    keys = _METRIC_LABELS
    rows = [{"stage": stage, **{lab: m.get(k, m.get(lab)) for k, lab in keys.items()}} for stage, m in metrics.items()]
    console.print(table(title, rows, ["stage", *keys.values()], kinds={lab: "metric" for lab in keys.values()}))


@train_app.command("personas")
def train_personas_cmd(
    device: DeviceOpt = None,
    epochs: Annotated[
        int | None,
        typer.Option("--epochs", min=1, metavar="N", help="Maximum HDGI epochs." + _config_default(HDGISettings, "epochs", "hdgi")),
    ] = None,
    store: StoreOpt = None,
    config: ConfigOpt = None,
    quiet: QuietOpt = False,
) -> None:
    """Text-initialise the graph and learn HDGI personas; write them to User.persona."""
    from persona.pipeline import train_personas_recorded

    s = _train_settings(store, config, device)
    if epochs:
        s.hdgi = s.hdgi.model_copy(update={"epochs": epochs})
    with progress_bar(quiet) as progress, workflows.connect(s) as st:
        res = train_personas_recorded(st, s, progress=progress, log=_status)
    console.print(table(f"personas, run {res.run_id}", {
        "users": len(res.user_ids), "dimension": int(res.personas.shape[1]), "epochs": len(res.losses),
        "final loss": float(res.losses[-1]) if res.losses else None,
    }))
    att = getattr(res, "attention", None)
    if isinstance(att, dict) and att and all(isinstance(v, (int, float)) for v in att.values()):
        console.print(table("meta-path attention (mean over users)", {k: float(v) for k, v in att.items()},
                            kinds="weight", names=("meta-path", "attention")))


@app.command("experiment")
def experiment_cmd(
    seeds: Annotated[int, typer.Option("--seeds", min=1, metavar="N", help="Number of seeds (0..N-1); mean ± std over them.")] = 5,
    out: Annotated[
        Path, typer.Option("--out", metavar="DIR", help="Output folder for results.csv, summary.csv, results.md and results.png.")
    ] = Path("runs/table3"),
    skip_personas: Annotated[bool, typer.Option("--skip-personas", help="Reuse the personas already in the store.")] = False,
    epochs: Annotated[
        int | None,
        typer.Option("--epochs", min=1, metavar="N", help="SASRec epochs per model: the length of the cosine schedule (early stopping may end sooner)."
                     + _config_default(RecSettings, "epochs", "rec")),
    ] = None,
    variants: Annotated[
        str | None,
        typer.Option(
            "--variants", metavar="USER/ITEM,…",
            help="Rows to run as USER/ITEM pairs, comma-separated (e.g. none/random,kg/text), USER one of none, "
            "random, llm, kg, meantext, lightgcn, kg_ui, or 'popularity'; default: the paper's five, then "
            "popularity, meantext/text, lightgcn/text and kg_ui/text.",
        ),
    ] = None,
    fresh: Annotated[
        bool,
        typer.Option("--fresh", help="Discard the results and checkpoints already in --out and start over "
                     "(by default a rerun skips the finished (row, seed) results and continues)."),
    ] = False,
    personas_once: Annotated[
        bool,
        typer.Option("--personas-once", help="Learn the HDGI personas once (the store's seed) instead of once per "
                     "seed; cheaper, but the std then leaves out HDGI's own variance."),
    ] = False,
    jobs: Annotated[
        int | None,
        typer.Option("--jobs", min=1, metavar="N", help="Models fitted at once, sharing the CPU threads (default: 2 "
                     "on a CPU with two cores or more, 1 on a GPU); reproducible for a given N, and equal across N "
                     "up to float rounding."),
    ] = None,
    device: DeviceOpt = None,
    store: StoreOpt = None,
    config: ConfigOpt = None,
    quiet: QuietOpt = False,
) -> None:
    """Reproduce the paper's Table 3 on the store's data, with the baselines a user would try first:
    retriever rows, the paper's reranking and the final list, mean ± std over seeds.

    Each (row, seed) result is saved to results.csv as soon as it is done: after an interruption the
    same command continues where it stopped.
    """
    from persona.pipeline import experiment, parse_variants

    rows = parse_variants(variants) if variants else None
    s = _train_settings(store, config, device, epochs=epochs)
    with progress_bar(quiet) as progress:
        summary_md = experiment(s, seeds=list(range(seeds)), out_dir=out, skip_personas=skip_personas,
                                variants=rows, fresh=fresh, personas_once=personas_once, jobs=jobs,
                                progress=progress, log=_status)
    print_experiment(out, summary_md)


def experiment_rows(summary: Any) -> list[dict[str, str]]:
    """Table 3 rows from ``summary.csv`` (``stage, user_emb, item_emb, <metric>_mean, <metric>_std``):
    the retriever variant as ``--variants`` spells it (``kg/text``), cells ``mean`` over ``± std`` to 4
    places (the mean alone for one seed)."""
    from persona._ui import fmt_metric

    out = []
    for r in summary.to_dict("records"):
        row = {"stage": str(r["stage"]), "retriever": f"{r['user_emb']}/{r['item_emb']}"}
        for key, label in _METRIC_LABELS.items():
            mean, std = r.get(f"{key}_mean"), r.get(f"{key}_std")
            if mean is None or not math.isfinite(float(mean)):
                row[label] = "n/a"
            elif std is None or not math.isfinite(float(std)):
                row[label] = fmt_metric(float(mean))
            else:
                row[label] = f"{fmt_metric(float(mean))}\n± {fmt_metric(float(std))}"
        out.append(row)
    return out


def print_experiment(out: Path, summary_md: str) -> None:
    """Table 3 as a Rich table (from ``summary.csv``), the run's notes below it, then the files written."""
    import pandas as pd

    summary_csv = Path(out) / "summary.csv"
    lines = [ln.strip() for ln in summary_md.splitlines()]
    heading = lines[0] if lines and not lines[0].startswith("|") else ""
    notes = [ln[2:] for ln in lines if ln.startswith("- ")]
    skipped = [ln for ln in lines if ln.startswith("Skipped:")]
    if summary_csv.is_file():
        rows = experiment_rows(pd.read_csv(summary_csv))
        note = ("Reranked rows: plain SASRec (none/random) reranks that retriever's candidates; "
                "kg = KG+LLM personas, llm = LLM summaries, kg_ui = HDGI on U-I/U-I-U only, "
                "popularity = most popular items.")
        caption = " ".join(x for x in (heading, note) if x)
        console.print(table("Table 3 (test split)", rows, caption=caption, section_by="stage",
                            right=list(_METRIC_LABELS.values())))
    else:  # pragma: no cover - pipeline.experiment always writes it
        console.print(summary_md, markup=False, highlight=False)
    for line in skipped + notes:
        console.print(escape(line.replace("**", "")), style="dim", highlight=False)
    console.print(f"written: {out}/results.csv, summary.csv, results.md, results.png", highlight=False, soft_wrap=True)
