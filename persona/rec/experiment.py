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

Interruption: each (variant, seed) result is in ``results.csv`` as soon as it is measured (the file is
rewritten atomically, so it never holds half a row), and each model writes a training checkpoint under
``checkpoints/`` at every validation. Running the same experiment again skips the finished (variant,
seed) pairs, resumes a model from its checkpoint, and gives the same rows as an uninterrupted run. Every
row carries a ``settings_digest`` (settings, split, data and the vectors it uses); a rerun that would
mix results of other settings or data is refused, and ``fresh=True`` (``--fresh``) starts over.

Why one long module: an experiment's plan, its resumable results file, and the summary, Markdown and
plot made from that file share one row format.
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol, runtime_checkable

import numpy as np
import pandas as pd

from persona.config import RecSettings
from persona.errors import ConfigError, atomic_save

from ._checkpoint import fingerprint
from ._parallel import Fits
from ._training import EpochRecord
from .model import SASRecRecommender
from .pipeline import Retriever, evaluate_two_stage, final_weight, make_reranker, make_retriever
from .popularity import PopularityRecommender
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
_NAMES = {"none": "None", "random": "Random", "llm": "LLM", "kg": "KG+LLM", "meantext": "Mean item text",
          "lightgcn": "LightGCN (collaborative)", "kg_ui": "HDGI, interactions only (U-I, U-I-U)",
          "popularity": "Most popular", "text": "Description (LLM)"}
#: User embeddings given as vectors (the retriever keeps them fixed); the rest are learned or absent.
VECTOR_USERS = ("llm", "kg", "meantext", "lightgcn", "kg_ui")
#: The rows a user would try first, beside the paper's five: popularity, the mean item text, a
#: collaborative user vector, and the ablation that says what the knowledge graph adds to HDGI.
BASELINE_VARIANTS: tuple[tuple[str, str], ...] = (
    ("popularity", "none"),
    ("meantext", "text"),
    ("lightgcn", "text"),
    ("kg_ui", "text"),
)
_KEY = ("user_emb", "item_emb", "seed")
_STAGES = ("retriever", "reranked", "final")
#: Files of an experiment folder that a fresh start removes (checkpoints too).
OUTPUTS = ("results.csv", "summary.csv", "results.md", "results.png", "config.json", "significance.csv")
RESULTS = "results.csv"
CHECKPOINTS = "checkpoints"
PER_USER = "per_user"  # the final lists' per-user test ranks, one file per (row, seed): the paired test

OnEpoch = Callable[[EpochRecord], None]


@dataclass
class SeededVectors:
    """User vectors learned anew for each seed (HDGI personas, LightGCN vectors), made on first use.

    Attributes:
        recipe: what fixes them besides the seed (settings and data), a digest; it enters the rows'
            ``settings_digest`` in place of the vectors, so finished rows are recognised without
            relearning the vectors.
        make: ``seed -> {user: vector}`` (the caller may cache on disk).
    """

    recipe: str
    make: Callable[[int], Mapping[str, np.ndarray]]
    _made: dict[int, Mapping[str, np.ndarray]] = field(default_factory=dict, repr=False)

    def __call__(self, seed: int) -> Mapping[str, np.ndarray]:
        if seed not in self._made:
            self._made.clear()  # keep one seed: a row's job holds its own seed's vectors while it fits
            self._made[seed] = self.make(seed)
        return self._made[seed]


UserVectors = Mapping[str, np.ndarray] | SeededVectors
# results.csv is read back and rewritten: floats must survive exactly (pandas < 3's default parser can be
# one ulp off; pandas 3 round-trips by default and deprecates the option)
_EXACT: dict[str, Any] = {"float_precision": "round_trip"} if int(pd.__version__.split(".")[0]) < 3 else {}


@runtime_checkable
class TrainingProgress(Protocol):
    """Where training progress is shown (the CLI draws Rich bars: :func:`persona._ui.progress_bar`)."""

    def model(self, description: str, epochs: int) -> AbstractContextManager[OnEpoch]:
        """A bar for one model while it trains: the context yields its per-epoch callback."""
        ...

    def overall(self, description: str, total: int, done: int = 0) -> AbstractContextManager[Callable[[], None]]:
        """A bar over ``total`` units (``done`` already finished) with the time left: the context yields
        the callback that marks one more unit finished."""
        ...


def clear_results(out_dir: str | Path) -> None:
    """Remove an experiment's outputs and checkpoints from ``out_dir`` (a fresh start)."""
    out = Path(out_dir)
    for name in OUTPUTS:
        (out / name).unlink(missing_ok=True)
    for folder in (out / CHECKPOINTS, out / PER_USER):
        if folder.is_dir():
            for f in folder.iterdir():
                if f.is_file():
                    f.unlink()
            with contextlib.suppress(OSError):
                folder.rmdir()


def row_digest(
    inter: Interactions,
    settings: RecSettings,
    variant: tuple[str, str],
    user_vecs: UserVectors | None,
    item_text: Mapping[str, np.ndarray] | None,
    split: str,
    *,
    data: str | None = None,
) -> str:
    """The ``settings_digest`` of a (variant, seed) result: settings (all but the seed, which the row
    names), split, the data's fingerprint and the vectors the variant uses (see
    :func:`persona.runs.digest`); ``data`` = a precomputed :meth:`Interactions.fingerprint`."""
    from persona.runs import digest

    ue, ie = variant
    cfg = {k: v for k, v in settings.model_dump().items() if k != "seed"}
    cfg.update(user_emb=ue, item_emb=ie)
    uv = user_vecs if ue in VECTOR_USERS else None
    iv = item_text if ie == "text" else None
    recipe = None
    if isinstance(uv, SeededVectors):
        recipe, uv = uv.recipe, None
    if ue == "popularity":
        cfg = {"candidates": settings.candidates, "exclude_seen": settings.exclude_seen, "reranker": cfg}
    vec = fingerprint(settings, inter, uv, iv, 1).vectors if (uv is not None or iv is not None) else "none"
    return digest({"settings": cfg, "split": split, "data": data or inter.fingerprint(), "vectors": vec,
                   **({"seeded_vectors": recipe} if recipe else {})})


def run_experiment(
    inter: Interactions,
    user_vecs_by_variant: Mapping[str, UserVectors],
    item_text: Mapping[str, np.ndarray] | None,
    settings: RecSettings,
    seeds: Sequence[int] = (0, 1, 2),
    out_dir: str | Path = "runs/table3",
    *,
    variants: Sequence[tuple[str, str]] = TABLE3_VARIANTS,
    split: str = "test",
    progress: Callable[[str], None] | None = None,
    bars: TrainingProgress | None = None,
    fresh: bool = False,
    meta: Mapping[str, Any] | None = None,
    labels: Mapping[str, str] | None = None,
    item_attributes: Mapping[str, frozenset[str]] | None = None,
    jobs: int = 1,
) -> pd.DataFrame:
    """Train and evaluate every variant for every seed; write the tables and the chart.

    Finished (variant, seed) pairs in ``out_dir/results.csv`` are kept and not trained again (see the
    module docstring); the tables are recomputed from ``results.csv``.

    Args:
        inter: interactions.
        user_vecs_by_variant: ``{'kg': {user: vec}, 'llm': {user: vec}}``, or a :class:`SeededVectors`
            for vectors learned per seed; a missing key skips that row.
        item_text: item id -> text vector (rows with ``item_emb='text'`` are skipped when ``None``).
        settings: hyperparameters shared by every model (``user_emb``/``item_emb`` are set per row).
        seeds: seeds; each gives one independent training of every model.
        out_dir: output folder (created).
        variants: ``(user_emb, item_emb)`` rows.
        split: evaluation split.
        progress: called with a short message before each training (position and time left included).
        bars: per-model and overall progress bars.
        fresh: discard the results and checkpoints already in ``out_dir`` and start over.
        meta: extra fields for ``config.json`` (written at the start and at the end).
        labels: names of the variants in the table and the chart, over the defaults (e.g. ``{"llm":
            "Summary (extractive)"}`` when no LLM wrote the summaries).
        item_attributes: item id -> its genres / categories, for the ``attr_agreement@10`` diagnostic of
            the final lists (left out when ``None``).
        jobs: models fitted at once, in threads sharing torch's threads (:mod:`persona.rec._parallel`),
            from one queue over all seeds (the next seed's models start while this seed's last ones
            finish); reproducible for a given value, equal across values up to the float rounding of the
            thread count.

    Returns:
        The summary DataFrame (one row per stage and variant; ``<metric>_mean``, ``<metric>_std``).

    Raises:
        ConfigError: ``results.csv`` holds results of other settings or data, or of (variant, seed) pairs
            this run does not ask for; the message names ``--fresh``.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    names = {**_NAMES, **(labels or {})}
    if fresh:
        clear_results(out)
    runnable: list[tuple[str, str]] = []
    skipped: list[str] = []
    for ue, ie in variants:
        if ue in VECTOR_USERS and ue not in user_vecs_by_variant:
            skipped.append(f"({ue}, {ie}): no {ue} user vectors")
        elif ie == "text" and item_text is None:
            skipped.append(f"({ue}, {ie}): no item text vectors")
        else:
            runnable.append((ue, ie))
    for note in skipped:
        log.warning("skipping %s", note)
    seeds = list(seeds)
    data = inter.fingerprint()
    digests = {
        v: row_digest(inter, settings, v, user_vecs_by_variant.get(v[0]), item_text, split, data=data)
        for v in runnable
    }
    results = out / RESULTS
    rows = _finished(results, digests, seeds)
    done = {(r["user_emb"], r["item_emb"], int(r["seed"])) for r in rows}
    config = _config(inter, settings, seeds, split, runnable, skipped, meta)
    (out / "config.json").write_text(json.dumps(config, indent=2), encoding="utf-8")
    # the reranker first: it is the (none, random) retriever, so that row is measured as soon as it is trained
    order = sorted(runnable, key=lambda v: v != ("none", "random"))
    plan = [(seed, v) for seed in seeds for v in order]
    row_order = [(seed, v) for seed in seeds for v in runnable]
    todo = [(seed, v) for seed, v in plan if (*v, seed) not in done]
    if done:
        log.info("%s: %d of %d results already there; %d to go", results, len(plan) - len(todo), len(plan), len(todo))
    ckdir = out / CHECKPOINTS
    _drop_stale_checkpoints(ckdir, {
        _ckpt_name(v, seed, digests.get(v) or _digest_nr(inter, settings, split, data))
        for seed in seeds for v in [*runnable, ("none", "random")]
    })
    clock = _Clock(len(plan) - len(todo), len(todo))
    overall = bars.overall("Table 3 results", len(plan), len(plan) - len(todo)) if bars else contextlib.nullcontext(None)
    # The whole experiment is one queue of jobs (models fitted ``jobs`` at a time): a seed's reranker, then
    # its rows, seed after seed. A row's job fits its retriever (learning the seed's HDGI or LightGCN vectors
    # first when the row needs them), waits for its seed's reranker and measures the row, so the next
    # seed's models start while this seed's last ones finish and no core waits at a seed's end. The
    # reranker's job measures the (none, random) row, which is that same model. Rows are written in queue
    # order as they finish.
    vectors_lock = threading.Lock()  # per-seed vectors read the store: one learner at a time
    pct = popularity_percentiles(inter)  # every row's popularity diagnostic reads the same percentiles

    def row_vectors(ue: str, seed: int) -> Any:
        uv = user_vecs_by_variant.get(ue)
        if not isinstance(uv, SeededVectors):
            return uv
        with vectors_lock:
            if progress:
                progress(clock.prefix() + f"seed {seed}: {ue} user vectors")
            return uv(seed)

    def measure(v: tuple[str, str], seed: int, retriever: Retriever, fit_s: float,
                reranker: SASRecRecommender) -> list[dict[str, Any]]:
        ue, ie = v
        choice = final_weight(retriever, reranker, retriever.settings)
        weight, fallback = choice.weight, choice.fallback
        res = evaluate_two_stage(retriever, reranker, split, seed=seed, weight=weight, fallback=fallback,
                                 keep_ranks=True, lists_k=10)
        assert res.ranks is not None and res.lists is not None
        diag = _per_user_and_diagnostics(inter, res.ranks, res.lists, split, out, v, seed, item_attributes, pct)
        return [
            {
                "stage": stage,
                "user_emb": ue,
                "item_emb": ie,
                "seed": seed,
                **metrics,
                "best_epoch": retriever.best_epoch,
                "valid_ndcg@10": retriever.best_score,
                "fit_seconds": fit_s,
                "final_weight": weight,
                "final_fallback": int(fallback),
                "settings_digest": digests[v],
            }
            for stage, metrics in (("retriever", res.retriever), ("reranked", res.reranked),
                                   ("final", {**res.final, **diag}))
        ]

    with overall as advance, Fits(jobs) as fits:

        def fit_one(make: Callable[..., SASRecRecommender], msg: str) -> tuple[SASRecRecommender, float]:
            if progress:
                progress(clock.prefix() + msg)
            return _fit(make, inter, msg, bars, settings.epochs, fits.check)

        def reranker_job(seed: int, ck: Path, msg: str, measured: bool) -> tuple[SASRecRecommender, list[dict[str, Any]]]:
            model, fit_s = fit_one(functools.partial(make_reranker, settings, seed, checkpoint=ck), msg)
            return model, (measure(("none", "random"), seed, model, fit_s, model) if measured else [])

        def row_job(v: tuple[str, str], seed: int, ck: Path | None, rer: Any) -> list[dict[str, Any]]:
            ue, ie = v
            retriever: Retriever
            if ue == "popularity":
                t0 = time.perf_counter()
                retriever = PopularityRecommender(settings).fit(inter)
                fit_s = time.perf_counter() - t0
            else:
                s = RecSettings.model_validate({**settings.model_dump(), "user_emb": ue, "item_emb": ie})
                msg = f"seed {seed}: retriever ({ue}, {ie})" + (", resumed from its checkpoint" if ck and ck.is_file() else "")
                make = functools.partial(make_retriever, s, row_vectors(ue, seed), item_text, seed, checkpoint=ck)
                retriever, fit_s = fit_one(make, msg)
            return measure(v, seed, retriever, fit_s, rer.result()[0])

        queue: list[tuple[int, tuple[str, str], Any, Any, Path | None]] = []  # (seed, row, reranker, job, checkpoint)
        rer_cks: dict[int, Path] = {}
        for seed in seeds:
            pending = [v for v in order if (seed, v) in todo]
            if not pending:
                continue
            nr_digest = digests.get(("none", "random")) or _digest_nr(inter, settings, split, data)
            rer_cks[seed] = rer_ck = ckdir / _ckpt_name(("none", "random"), seed, nr_digest)
            msg = f"seed {seed}: reranker (none, random)" + (", resumed from its checkpoint" if rer_ck.is_file() else "")
            rer = fits.submit(reranker_job, seed, rer_ck, msg, ("none", "random") in pending)
            for v in pending:
                if v == ("none", "random"):
                    queue.append((seed, v, rer, rer, None))
                    continue
                ck = None if v[0] == "popularity" else ckdir / _ckpt_name(v, seed, digests[v])
                queue.append((seed, v, rer, fits.submit(row_job, v, seed, ck, rer), ck))
        for i, (seed, v, rer, job, ck) in enumerate(queue):
            rer.result()  # with one job, fits run here, when asked for: the seed's reranker first
            got = job.result()
            rows.extend(got[1] if v == ("none", "random") else got)
            todo.remove((seed, v))
            _write_results(rows, results, row_order)
            _write_tables(results, out, len(seeds), skipped, partial=(len(plan) - len(todo), len(plan)), names=names)
            if ck is not None:
                ck.unlink(missing_ok=True)
            if all(q[0] != seed for q in queue[i + 1:]):
                rer_cks[seed].unlink(missing_ok=True)
            clock.tick()
            if advance is not None:
                advance()
    with contextlib.suppress(OSError):
        ckdir.rmdir()
    if not rows:
        raise ConfigError("no Table 3 row could run: " + ("; ".join(skipped) or "no variants given"))
    _write_results(rows, results, row_order)
    summary = _write_tables(results, out, len(seeds), skipped, names=names)
    plot_results(summary, out / "results.png", names=names)
    config["complete"] = True
    (out / "config.json").write_text(json.dumps(config, indent=2), encoding="utf-8")
    return summary



def popularity_percentiles(inter: Interactions) -> pd.Series:
    """Each item's popularity percentile over the training interactions (index: item codes 1..n; 1.0 = the
    most interacted-with item), the scale of the ``popularity_pct@10`` diagnostic. Training items only: no
    test leakage. The same for every row and seed of an experiment, so computed once."""
    train = inter.eval_set("valid", with_target=False).history
    counts = pd.Series(np.concatenate([np.asarray(h) for h in train]) if len(train) else np.zeros(0, int)).value_counts()
    pop = pd.Series(0, index=range(1, inter.n_items + 1), dtype=float).add(counts, fill_value=0)
    return pop.rank(pct=True, method="average")


def _per_user_and_diagnostics(
    inter: Interactions, ranks: pd.DataFrame, lists: pd.DataFrame, split: str, out: Path, variant: tuple[str, str],
    seed: int, item_attributes: Mapping[str, frozenset[str]] | None = None, pct: pd.Series | None = None,
) -> dict[str, float]:
    """Write the final list's per-user test ranks (``per_user/<user>-<item>-seed<k>.csv``: the paired test
    reads them) and return the final lists' diagnostics: catalogue coverage of the top 10, the mean
    popularity percentile of its items (1 = the most popular item), so popularity bias is visible, and
    with ``item_attributes`` their agreement with the current session (:func:`attribute_agreement`).
    ``ranks`` and ``lists`` come from the same scoring pass as the row's metrics
    (:func:`~persona.rec.pipeline.evaluate_two_stage`): the final lists of the users evaluated on ``split``;
    ``pct``: :func:`popularity_percentiles` of ``inter``, when the caller has them."""
    folder = out / PER_USER
    folder.mkdir(exist_ok=True)
    name = f"{variant[0]}-{variant[1]}-seed{seed}.csv"
    atomic_save(lambda d, fh: fh.write(d.to_csv(index=False).encode("utf-8")),
                ranks[["user", "item", "retriever_rank", "final_rank"]], folder / name)
    pct = popularity_percentiles(inter) if pct is None else pct
    codes: Any = inter.encode_items(lists["item"].tolist()) if len(lists) else []
    diag = {
        "coverage@10": float(lists["item"].nunique() / max(inter.n_items, 1)),
        "popularity_pct@10": float(pct.reindex(codes).mean()) if len(codes) else float("nan"),
    }
    if item_attributes:
        diag["attr_agreement@10"] = attribute_agreement(inter, lists, item_attributes, split)
    return diag


def attribute_agreement(
    inter: Interactions, lists: pd.DataFrame, item_attributes: Mapping[str, frozenset[str]], split: str,
    *, window: int = 5,
) -> float:
    """How often a recommended item shares a genre or category with what the user is doing now.

    For each user, the fraction of the top-10 items of ``lists`` (``user, item, rank``) that share at
    least one attribute with the model's input on ``split``: the current session in session mode, else the
    last ``window`` items (the short-term intent a session-based recommender should follow). Users whose
    input has no attributed item are left out; NaN when none is left. A popularity-biased list scores low
    here even when its HR is fair.
    """
    history: Literal["valid", "test"] = "test" if split == "test" else "valid"
    es = inter.eval_set(history)
    recent: dict[str, set[str]] = {}
    for u, inp in zip(es.users, es.inputs):
        items = inp if inter.session_mode else inp[-window:]
        attrs = set().union(*(item_attributes.get(inter.items[i - 1], frozenset()) for i in items)) if len(items) else set()
        if attrs:
            recent[inter.users[u]] = attrs
    top = lists[lists["rank"] <= 10]
    shares = [
        float(np.mean([bool(item_attributes.get(i, frozenset()) & recent[user]) for i in g["item"]]))
        for user, g in top.groupby("user", sort=False) if user in recent
    ]
    return float(np.mean(shares)) if shares else float("nan")


def paired_tests(out: Path, metric_k: int = 10) -> pd.DataFrame:
    """Wilcoxon signed-rank tests of every ``kg`` row's final NDCG@10 against each other row's, paired by
    (user, seed) over the per-user test ranks of ``out/per_user``: ``row, baseline, pairs, mean_diff,
    p_value`` (two-sided; NaN when fewer than 10 pairs or no difference at all)."""
    from scipy.stats import wilcoxon

    folder = out / PER_USER
    if not folder.is_dir():
        return pd.DataFrame(columns=["row", "baseline", "pairs", "mean_diff", "p_value"])
    frames = []
    for f in sorted(folder.glob("*.csv")):
        ue, ie, rest = f.stem.split("-", 2)
        d = pd.read_csv(f, dtype={"user": str, "item": str})
        d["row"], d["seed"] = f"{ue}/{ie}", int(rest.removeprefix("seed"))
        frames.append(d)
    if not frames:
        return pd.DataFrame(columns=["row", "baseline", "pairs", "mean_diff", "p_value"])
    allr = pd.concat(frames, ignore_index=True)
    r = allr["final_rank"].to_numpy(dtype=float)
    allr["ndcg"] = np.where(r <= metric_k, 1.0 / np.log2(r + 1.0), 0.0)
    wide = allr.pivot_table(index=["user", "seed"], columns="row", values="ndcg")
    rows = []
    for row in [c for c in wide.columns if c.startswith("kg/")]:
        for base in [c for c in wide.columns if c != row]:
            both = wide[[row, base]].dropna()
            diff = both[row] - both[base]
            p = float("nan")
            if len(both) >= 10 and (diff != 0).any():
                p = float(wilcoxon(both[row], both[base], zero_method="wilcox").pvalue)
            rows.append({"row": row, "baseline": base, "pairs": len(both), "mean_diff": float(diff.mean()), "p_value": p})
    return pd.DataFrame(rows)


class _Clock:
    """Position and time left (mean seconds per (variant, seed) pair finished by this process)."""

    def __init__(self, done_before: int, todo: int) -> None:
        self.before, self.todo, self.finished, self.t0 = done_before, todo, 0, time.perf_counter()

    def tick(self) -> None:
        self.finished += 1

    def prefix(self) -> str:
        pos = f"[{self.before + self.finished + 1}/{self.before + self.todo}"
        if not self.finished:
            return pos + "] "
        per = (time.perf_counter() - self.t0) / self.finished
        left = per * (self.todo - self.finished)
        return pos + f", {_duration(left)} left] "


def _duration(seconds: float) -> str:
    """``about 12 min``, ``about 1 h 05 min``, ``under a minute``."""
    if seconds < 60:
        return "under a minute"
    m = round(seconds / 60)
    return f"about {m} min" if m < 60 else f"about {m // 60} h {m % 60:02d} min"


def _drop_stale_checkpoints(ckdir: Path, wanted: set[str]) -> None:
    """Checkpoints of other settings or data cannot be resumed: remove them (they would only fill the disk)."""
    if ckdir.is_dir():
        for f in ckdir.glob("*.pt"):
            if f.name not in wanted:
                f.unlink()


def _digest_nr(inter: Interactions, settings: RecSettings, split: str, data: str) -> str:
    return row_digest(inter, settings, ("none", "random"), None, None, split, data=data)


def _ckpt_name(variant: tuple[str, str], seed: int, row_digest: str) -> str:
    return f"{variant[0]}-{variant[1]}-seed{seed}-{row_digest}.pt"


def _fit(
    make: Callable[..., SASRecRecommender],
    inter: Interactions,
    description: str,
    bars: TrainingProgress | None,
    epochs: int,
    check: Callable[[], None] | None = None,
) -> tuple[SASRecRecommender, float]:
    """Fit a model (resuming from its checkpoint when there is one) under its own bar.

    Returns:
        The model and its training seconds, counting the epochs an interrupted process spent on it (the
        checkpoint's history) but not the time lost since its last validation.
    """
    ran = 0
    bar_cm: AbstractContextManager[OnEpoch | None] = (
        bars.model(description, epochs) if bars else contextlib.nullcontext(None)
    )
    with bar_cm as bar:

        def on_epoch(rec: EpochRecord) -> None:
            nonlocal ran
            ran += 1
            if bar is not None:
                bar(rec)
            if check is not None:
                check()

        t0 = time.perf_counter()
        model = make(on_epoch=on_epoch).fit(inter)
        seconds = time.perf_counter() - t0
    earlier = model.history[: len(model.history) - ran]
    return model, seconds + sum(float(r["seconds"]) for r in earlier)


def _finished(path: Path, digests: Mapping[tuple[str, str], str], seeds: Sequence[int]) -> list[dict[str, Any]]:
    """The rows of ``results.csv`` (both stages of each finished pair), checked against this run.

    Raises:
        ConfigError: the file is not this run's to continue (names ``--fresh``).
    """
    if not path.is_file():
        return []
    text = {"stage": str, "user_emb": str, "item_emb": str, "settings_digest": str}
    df = pd.read_csv(path, dtype=text, **_EXACT)
    if df.empty:
        return []
    again = "pass --fresh to start over (it deletes them) or use another --out"
    if "settings_digest" not in df.columns:
        raise ConfigError(f"{path}: its results carry no settings digest (an older persona-kg wrote them); {again}")
    outside: list[str] = []
    for (ue, ie, seed), g in df.groupby(list(_KEY), sort=False):
        name = f"{ue}/{ie} seed {seed}"
        want = digests.get((str(ue), str(ie)))
        if want is None or int(seed) not in seeds:
            outside.append(name)
        elif set(g["settings_digest"]) != {want}:
            have = ", ".join(sorted(set(g["settings_digest"])))
            raise ConfigError(
                f"{path}: {name} was run with other settings or data (digest {have}, this run {want}); {again}"
            )
    if outside:
        raise ConfigError(
            f"{path}: holds results this run does not ask for ({', '.join(outside)}); rerun with the same "
            f"--seeds/--variants (more seeds are fine), or {again}"
        )
    complete = df.groupby(list(_KEY), sort=False)["stage"].transform(lambda s: set(s) == set(_STAGES))
    return [dict(r) for r in df[complete.astype(bool)].to_dict("records")]


def _write_results(rows: list[dict[str, Any]], path: Path, plan: Sequence[tuple[int, tuple[str, str]]]) -> None:
    """Rewrite ``results.csv`` atomically, rows in plan order (so resumed and uninterrupted runs agree)."""
    pos = {(v[0], v[1], seed): i for i, (seed, v) in enumerate(plan)}
    df = pd.DataFrame(rows)
    key = [pos.get((r["user_emb"], r["item_emb"], int(r["seed"])), len(pos)) * len(_STAGES) + _STAGES.index(r["stage"])
           for r in rows]
    df = df.iloc[np.argsort(key, kind="stable")].reset_index(drop=True)
    atomic_save(lambda d, fh: fh.write(d.to_csv(index=False).encode("utf-8")), df, path)


def _write_tables(
    results: Path, out: Path, n_seeds: int, skipped: Sequence[str], *, partial: tuple[int, int] | None = None,
    names: Mapping[str, str] | None = None,
) -> pd.DataFrame:
    """``summary.csv`` and ``results.md`` recomputed from ``results.csv``."""
    per_seed = pd.read_csv(results, **_EXACT, dtype={"user_emb": str, "item_emb": str})
    summary = summarise(per_seed)
    atomic_save(lambda d, fh: fh.write(d.to_csv(index=False).encode("utf-8")), summary, out / "summary.csv")
    md = markdown_table(summary, n_seeds=n_seeds, skipped=skipped, partial=partial, names=names)
    tests = paired_tests(out)
    if len(tests):
        atomic_save(lambda d, fh: fh.write(d.to_csv(index=False).encode("utf-8")), tests, out / "significance.csv")
        md += ("\nPaired Wilcoxon signed-rank test of the final lists' NDCG@10 per (user, seed), KG row against "
               "each other row (`significance.csv`):\n\n| row | against | pairs | mean difference | p |\n|---|---|---|---|---|\n")
        md += "".join(f"| {t.row} | {t.baseline} | {t.pairs} | {t.mean_diff:+.4f} | "
                      + ("—" if not np.isfinite(t.p_value) else f"{t.p_value:.3g}") + " |\n" for t in tests.itertuples())
    atomic_save(lambda t, fh: fh.write(t.encode("utf-8")), md, out / "results.md")
    return summary


def _config(
    inter: Interactions,
    settings: RecSettings,
    seeds: Sequence[int],
    split: str,
    runnable: Sequence[tuple[str, str]],
    skipped: Sequence[str],
    meta: Mapping[str, Any] | None,
) -> dict[str, Any]:
    return {
        "settings": settings.model_dump(),
        "seeds": list(seeds),
        "split": split,
        "variants": [list(v) for v in runnable],
        "skipped": list(skipped),
        "data": {
            "users": inter.n_users,
            "items": inter.n_items,
            "interactions": len(inter),
            "session_mode": inter.session_mode,
        },
        **dict(meta or {}),
        "complete": False,
    }


def summarise(per_seed: pd.DataFrame) -> pd.DataFrame:
    """Mean and sample std (ddof=1; NaN for one seed) of every metric per (stage, user_emb, item_emb)."""
    metrics = [c for c in per_seed.columns if c not in ("stage", "user_emb", "item_emb", "seed", "settings_digest")]
    g = per_seed.groupby(["stage", "user_emb", "item_emb"], sort=False)[metrics]
    mean = g.mean().add_suffix("_mean")
    std = g.std(ddof=1).add_suffix("_std")
    n = g.size().rename("n_seeds")
    res = pd.concat([mean, std, n], axis=1).reset_index()
    res["stage"] = pd.Categorical(res["stage"], list(_STAGES), ordered=True)
    return (
        res.sort_values("stage", kind="stable")
        .reset_index(drop=True)
        .assign(stage=lambda d: d["stage"].astype(str))
    )


def markdown_table(
    summary: pd.DataFrame, *, n_seeds: int, skipped: Sequence[str] = (), partial: tuple[int, int] | None = None,
    names: Mapping[str, str] | None = None,
) -> str:
    """Table 3 as Markdown: retriever rows, then a "Reranking" section, cells "mean ± std".

    ``partial``: ``(finished, planned)`` (variant, seed) pairs while the experiment still runs.
    """
    nm = names or _NAMES
    head = "| User embedding | Item embedding | " + " | ".join(_LABELS[m] for m in HEADLINE) + " |"
    lines = [
        "Full-catalogue ranking, test split, "
        + (f"mean ± std over {n_seeds} seeds" if n_seeds > 1 else "one seed (no std)")
        + "; MRR without cut-off; HR@100 = recall of the 100 retrieved candidates.",
        "",
        head,
        "|" + "---|" * (2 + len(HEADLINE)),
    ]
    for stage in _STAGES:
        part = summary[summary["stage"] == stage]
        if stage == "reranked" and len(part):
            lines.append(
                "| **Reranking, the paper's** (SASRec: none, random) | retriever → | "
                + " | ".join("" for _ in HEADLINE)
                + " |"
            )
        if stage == "final" and len(part):
            lines.append(
                "| **Final** (retriever and reranker fused, weight chosen on validation) | retriever → | "
                + " | ".join("" for _ in HEADLINE)
                + " |"
            )
        for _, r in part.iterrows():
            cells = [_cell(r[f"{m}_mean"], r[f"{m}_std"]) for m in HEADLINE]
            lines.append(
                f"| {nm.get(r['user_emb'], r['user_emb'])} | {nm.get(r['item_emb'], r['item_emb'])} | "
                + " | ".join(cells)
                + " |"
            )
    if skipped:
        lines += ["", "Skipped: " + "; ".join(skipped) + "."]
    if partial is not None:
        done, planned = partial
        lines += ["", f"Partial: {done} of {planned} (variant, seed) results so far; the same command continues."]
    return "\n".join(lines) + "\n"


def _cell(mean: float, std: float) -> str:
    return f"{mean:.4f}" if not np.isfinite(std) else f"{mean:.4f} ± {std:.4f}"


def plot_results(summary: pd.DataFrame, path: str | Path, *, names: Mapping[str, str] | None = None) -> None:
    """Grouped bars (retriever, the paper's reranked list, final) per variant, one panel per headline
    metric, std error bars and value labels. Each panel's axis spans the bars' range (not from 0), so
    differences of a few per cent are visible; the axis label says so."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    nm = names or _NAMES
    ret = summary[summary["stage"] == "retriever"].reset_index(drop=True)
    rer = summary[summary["stage"] == "reranked"].reset_index(drop=True)
    fin = summary[summary["stage"] == "final"].reset_index(drop=True)
    labels = [f"{nm.get(u, u)}\n{nm.get(i, i)}" for u, i in zip(ret["user_emb"], ret["item_emb"])]
    x = np.arange(len(ret))
    fig, axes = plt.subplots(1, len(HEADLINE), figsize=(4.6 * len(HEADLINE), 4.2))
    for ax, m in zip(np.atleast_1d(axes), HEADLINE):
        lo, hi = np.inf, -np.inf
        for off, part, name in ((-0.27, ret, "retriever"), (0.0, rer, "reranked (paper)"), (0.27, fin, "final")):
            if not len(part):
                continue
            mean = part[f"{m}_mean"].to_numpy(dtype=float)
            err = np.nan_to_num(part[f"{m}_std"].to_numpy(dtype=float))
            bars = ax.bar(x + off, mean, width=0.27, yerr=err, capsize=3, label=name)
            ax.bar_label(bars, labels=[f"{v:.3f}" for v in mean], fontsize=5.5, padding=2, rotation=90)
            lo, hi = min(lo, float(np.nanmin(mean - err))), max(hi, float(np.nanmax(mean + err)))
        if np.isfinite(lo) and np.isfinite(hi):
            pad = max(hi - lo, 1e-4) * 0.35
            ax.set_ylim(max(0.0, lo - pad), hi + pad)
            ax.set_ylabel("axis not from 0", fontsize=7)
        ax.set_title(_LABELS[m])
        ax.set_xticks(x)
        ax.set_xticklabels(labels, fontsize=6.5)
        ax.grid(axis="y", alpha=0.3)
    np.atleast_1d(axes)[0].legend(fontsize=7)
    fig.suptitle("Retriever variants (user / item embedding), the paper's reranked list and the final list — "
                 "mean ± std over seeds", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
