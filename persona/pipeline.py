"""The main job: text embeddings → personas → retriever → reranker → evaluation → write-back.

``persona train`` calls :func:`train`; ``persona recommend`` calls :func:`recommend_user` /
:func:`recommend_session`; ``persona experiment`` calls :func:`experiment`. A run's models live in
``<workdir>/runs/<run_id>/`` (``latest`` points at the newest), so recommending needs no retraining.

Why one long module: it is the application's one orchestration layer (train, serve-side loading,
recommend, experiment, explain), each a thin sequence of calls into ``rec``, ``learn`` and ``kgstore``;
its store readers and write-back already live in :mod:`persona.rec.inputs` and :mod:`persona.rec.writeback`.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np
import pandas as pd

from persona.config import Settings
from persona.errors import ConfigError, ModelError, NotFoundError, atomic_save
from persona.kgstore import GraphStore, Progress
from persona.rec._parallel import auto_jobs
from persona.rec.inputs import check_persona_lag, interactions_frame, load_interactions, user_vectors, vectors
from persona.rec.writeback import write_held_out, write_recommendations
from persona.workflows import connect

if TYPE_CHECKING:
    from persona.rec import TwoStageRecommender
    from persona.runs import RunRecord

__all__ = [
    "ServedRun", "TrainReport", "experiment", "explain_session", "explain_user", "interactions_frame",
    "load_interactions", "load_recommender", "parse_variants", "recommend_session", "recommend_user", "train",
    "train_personas_recorded", "user_vectors", "vectors", "write_held_out", "write_recommendations",
]

Log = Callable[[str], None]


def _noop(_: str) -> None:
    pass


@dataclass
class TrainReport:
    """What ``persona train`` did: run id, metrics per stage, timings, what was written."""

    run_id: str
    metrics: dict[str, dict[str, float]]
    timings: dict[str, float] = field(default_factory=dict)
    written: dict[str, int] = field(default_factory=dict)
    persona: dict[str, Any] = field(default_factory=dict)
    run_dir: Path | None = None


def train(
    settings: Settings,
    *,
    skip_personas: bool = False,
    seed: int | None = None,
    recommend_k: int | None = None,
    progress: Progress | None = None,
    log: Log = _noop,
) -> TrainReport:
    """Run the default pipeline on the configured store and write personas and recommendations back.

    Args:
        settings: configuration (store, text model, HDGI and SASRec settings, variants).
        skip_personas: reuse the personas already in the store (``--skip-personas``).
        seed: overrides ``settings.rec.seed``.
        recommend_k: length of the lists written back as ``RECOMMENDED`` (default ``settings.rec.k``).
        progress: progress callback.
        log: one-line status messages.

    Returns:
        A :class:`TrainReport` with the test metrics of the retriever and of the reranked list.
    """
    from persona import runs
    from persona.rec import TwoStageRecommender, run_two_stage

    rs = settings.rec.model_copy(update={"seed": settings.rec.seed if seed is None else seed})
    if rs.user_emb in ("lightgcn", "kg_ui"):
        raise ConfigError(f"rec.user_emb = {rs.user_emb!r} is a baseline row of `persona experiment` "
                          "(--variants), not a model `persona train` serves; use none, random, llm, kg or meantext")
    run_id = time.strftime("%Y%m%d-%H%M%S-") + uuid.uuid4().hex[:6]
    timings: dict[str, float] = {}
    persona_info: dict[str, Any] = {}
    with connect(settings) as store:
        sid = runs.store_identity(store)
        sdir = runs.store_dir(settings.workdir, sid)
        run_dir = sdir / "runs" / run_id
        run_dir.mkdir(parents=True, exist_ok=True)
        persona_run = None
        if not skip_personas:
            t0 = time.perf_counter()
            log("personas: text embeddings → graph export → HDGI")
            res = train_personas_recorded(store, settings, progress=progress, log=log)
            timings["personas_s"] = time.perf_counter() - t0
            persona_run = res.run_id
            persona_info = {"run": res.run_id, "users": len(res.user_ids), "dim": int(res.personas.shape[1]),
                            "epochs": len(res.losses), "final_loss": float(res.losses[-1]) if res.losses else None}
        else:
            persona_run = _stored_persona_run(store)
        t0 = time.perf_counter()
        inter = load_interactions(store, settings)
        item_text = vectors(store, "rec_item_vectors") if rs.item_emb == "text" else None
        if rs.item_emb == "text" and not item_text:
            raise ModelError("no item text embeddings in the store; run `persona train personas` first")
        uvecs = user_vectors(store, settings, rs.user_emb, log)
        timings["load_s"] = time.perf_counter() - t0

        t0 = time.perf_counter()
        log(f"retriever (user={rs.user_emb}, item={rs.item_emb}) and reranker: training SASRec")
        with _model_bars(progress, rs) as (on_ret, on_rer):
            out = run_two_stage(inter, uvecs, item_text, rs, rs.seed, on_epoch=on_ret, on_epoch_reranker=on_rer,
                                jobs=auto_jobs(rs.device))
        timings["rec_s"] = time.perf_counter() - t0
        # the parts of the stages (not stages of their own): where the time of rec_s and write_back_s goes
        parts = {f"rec_{part}_s": v for part, v in out.seconds.items()}
        retriever, reranker = out.retriever, out.reranker
        retriever.save(run_dir / "retriever.pt")
        reranker.save(run_dir / "reranker.pt")
        final = {"stage": rs.final_stage, "weight": out.final_weight, "fallback": out.final_fallback,
                 "valid_ndcg@10": {str(w): v for w, v in out.weight_curve.items()}}
        if out.final_fallback:
            log("final list: the reranker's own ranking (on validation it beat every fusion with the retriever)")
        atomic_save(lambda obj, fh: fh.write(json.dumps(obj, indent=2).encode()), final, run_dir / "final.json")

        from persona.explain import explain_reasons, load_index
        from persona.similarity import write_similar

        t0 = time.perf_counter()
        two = TwoStageRecommender(retriever, reranker, weight=out.final_weight, fallback=out.final_fallback)
        log(f"final lists: top {recommend_k or rs.k} for {inter.n_users:,} users")
        recs = two.recommend(None, k=recommend_k or rs.k, history="all")
        parts["lists_s"] = time.perf_counter() - t0
        written: dict[str, int] = {}
        log("write-back: SIMILAR edges (personas, item vectors) and HELD_OUT ranks")
        t1 = time.perf_counter()
        written.update(write_similar(store, retriever, uvecs if rs.user_emb == "kg" else vectors(store, "rec_user_personas"),
                                     run_id, k=settings.rec.similar_k))
        parts["similar_s"] = time.perf_counter() - t1
        # the test ranks of the metrics' own scoring pass (the test split is not scored twice)
        assert out.metrics.ranks is not None
        written["HELD_OUT"] = write_held_out(store, out.metrics.ranks, run_id)
        t1 = time.perf_counter()
        log(f"explanations: graph paths for {len(recs):,} recommended items")
        why = explain_reasons(load_index(store), recs[["user", "item"]], progress=progress)
        timings["explain_s"] = time.perf_counter() - t1
        log(f"write-back: {len(recs):,} RECOMMENDED edges with their reasons")
        written["RECOMMENDED"] = write_recommendations(store, recs.merge(why, on=["user", "item"], how="left"), run_id)
        timings["write_back_s"] = time.perf_counter() - t0 - timings["explain_s"]

        metrics = {"retriever": out.metrics.retriever, "reranked": out.metrics.reranked, "final": out.metrics.final}
        record = runs.RunRecord(
            id=run_id, kind="train", created_at=runs.now(), store_id=sid,
            settings={"rec": rs.model_dump(), "text_model": settings.text.model, "hdgi": settings.hdgi.model_dump()},
            metrics=metrics, artefacts=str(run_dir.relative_to(settings.workdir)), persona_run=persona_run,
        )
        runs.record_run(store, record, settings.workdir, extra={
            "timings": timings, "timing_parts": parts, "persona": persona_info, "best_epoch": out.retriever_best_epoch, "final": final,
            "valid_ndcg@10": out.retriever_valid_ndcg,
            "epochs": {"retriever": [dict(r) for r in retriever.history],
                       "reranker": [dict(r) for r in reranker.history] if reranker is not retriever else "the retriever"}})
    return TrainReport(run_id, metrics, timings, written, persona_info, run_dir)


@contextmanager
def _model_bars(progress: Progress | None, rs: Any) -> Iterator[tuple[Callable[[Any], None] | None, Callable[[Any], None] | None]]:
    """Per-epoch callbacks of :func:`persona.rec.run_two_stage` for the retriever and the reranker, each
    drawing its own bar when ``progress`` can (the two may train side by side)."""
    from persona.rec.experiment import TrainingProgress

    if not isinstance(progress, TrainingProgress):
        yield None, None
        return
    with ExitStack() as stack:
        ret = stack.enter_context(progress.model(f"SASRec retriever ({rs.user_emb}, {rs.item_emb})", rs.epochs))
        plain = (rs.user_emb, rs.item_emb) == ("none", "random")
        rer = None if plain else stack.enter_context(progress.model("SASRec reranker (none, random)", rs.epochs))
        yield ret, rer


def train_personas_recorded(store: GraphStore, settings: Settings, *, progress: Progress | None = None,
                            log: Log = _noop, write: bool = True) -> Any:
    """:func:`persona.learn.personas.train_personas` with the model kept under the store's folder and a
    ``Run {kind: 'personas'}`` recorded in the store."""
    from persona import runs
    from persona.learn.personas import train_personas

    sid = runs.store_identity(store)
    sdir = runs.store_dir(settings.workdir, sid)
    res = train_personas(store, settings, workdir=Path(settings.workdir), progress=progress, log=log,
                         write=write, model_dir=sdir / "personas")
    record = runs.RunRecord(
        id=res.run_id, kind="personas", created_at=runs.now(), store_id=sid,
        settings={"hdgi": settings.hdgi.model_dump(), "text_model": settings.text.model,
                  "persona_lag": settings.rec.persona_lag},
        metrics={"epochs": len(res.losses), "final_loss": float(res.losses[-1]) if res.losses else None,
                 "attention": res.attention},
        artefacts=str((sdir / "personas" / res.run_id).relative_to(settings.workdir)), persona_run=res.run_id,
    )
    runs.record_run(store, record, settings.workdir)  # merged into the persona job's own run.json
    return res


def _stored_persona_run(store: GraphStore) -> str | None:
    rows = store.run_named("rec_persona_run")
    return rows[0]["run"] if rows else None


class ServedRun(NamedTuple):
    """A trained run ready to serve: its two-stage recommender, its record, its artefacts folder."""

    recommender: TwoStageRecommender
    run: RunRecord
    folder: Path


def load_recommender(settings: Settings, run_id: str | None = None) -> ServedRun:
    """The two-stage recommender of the store's newest ``train`` run (or ``run_id``), with its record.

    Raises:
        ModelError: the store has no run, or the run's files are missing or another store's.
    """
    from persona import runs
    from persona.rec import SASRecRecommender, TwoStageRecommender

    with connect(settings, read_only=True) as store:
        run, folder = runs.resolve_run(store, settings.workdir, run_id)
    dev = settings.rec.device
    final = folder / "final.json"  # runs before the fused final stage have none: the paper's list
    choice = json.loads(final.read_text()) if final.is_file() else {}
    two = TwoStageRecommender(SASRecRecommender.load(folder / "retriever.pt", dev),
                              SASRecRecommender.load(folder / "reranker.pt", dev),
                              weight=float(choice.get("weight", 0.0)), fallback=bool(choice.get("fallback", False)))
    return ServedRun(two, run, folder)


def _titles(store: GraphStore, ids: list[str]) -> dict[str, str]:
    rows = store.run_named("rec_item_titles", {"ids": ids})
    return {r["id"]: r["title"] for r in rows}


def recommend_user(settings: Settings, user: str, *, k: int = 10, run_id: str | None = None) -> pd.DataFrame:
    """Top-``k`` for a known user from their whole history (``item, title, rank, score``), by the store's
    newest run (or ``run_id``)."""
    two, _run, _ = load_recommender(settings, run_id)
    inter = two.retriever.interactions
    if user not in inter.user_index:
        raise NotFoundError(f"unknown user {user!r}: not in the trained run (users look like {inter.users[0]!r})")
    recs = two.recommend([user], k=k, history="all")
    with connect(settings, read_only=True) as store:
        titles = _titles(store, recs["item"].tolist())
    recs["title"] = recs["item"].map(titles)
    return recs[["rank", "item", "title", "score"]]


def recommend_session(settings: Settings, item_ids: list[str], *, k: int = 10, run_id: str | None = None) -> pd.DataFrame:
    """Top-``k`` after an anonymous session; its persona is inferred from its items (no retraining) by the
    persona model of the same run."""
    from persona import runs

    two, run, _ = load_recommender(settings, run_id)
    inter = two.retriever.interactions
    unknown = [i for i in item_ids if i not in inter.item_index]
    if unknown:
        raise NotFoundError(f"unknown item(s) {unknown}: not in the trained catalogue (items look like {inter.items[0]!r})")
    vec = None
    if two.retriever.settings.user_emb == "kg":
        from persona.learn.personas import infer_persona

        if not run.persona_run:
            raise ModelError(f"run {run.id} has no persona run recorded; retrain with `persona train`")
        sdir = runs.store_dir(settings.workdir, run.store_id)
        vec = infer_persona(settings.model_copy(update={"workdir": sdir}), item_ids, run_id=run.persona_run)
    recs = two.recommend_session(list(item_ids), vec, k=k)
    with connect(settings, read_only=True) as store:
        titles = _titles(store, recs["item"].tolist())
    recs["title"] = recs["item"].map(titles)
    return recs[["rank", "item", "title", "score"]]


def parse_variants(text: str) -> list[tuple[str, str]]:
    """``"none/random,kg/text"`` → ``[("none", "random"), ("kg", "text")]``.

    Raises:
        ConfigError: a pair is not ``USER/ITEM`` with USER in none|random|llm|kg|meantext|lightgcn|kg_ui and
            ITEM in random|text, nor ``popularity``.
    """
    users, items = ("none", "random", "llm", "kg", "meantext", "lightgcn", "kg_ui"), ("random", "text")
    out: list[tuple[str, str]] = []
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        if part in ("popularity", "popularity/none"):
            ue, ie = "popularity", "none"
        else:
            ue, sep, ie = part.partition("/")
            if not sep or ue not in users or ie not in items:
                raise ConfigError(
                    f"--variants: {part!r} is not USER/ITEM with USER one of {', '.join(users)} "
                    f"and ITEM one of {', '.join(items)}, or 'popularity' (e.g. none/random,kg/text)"
                )
        if (ue, ie) not in out:
            out.append((ue, ie))
    if not out:
        raise ConfigError("--variants: no USER/ITEM pair given")
    return out


def experiment(
    settings: Settings,
    *,
    seeds: list[int],
    out_dir: Path,
    skip_personas: bool = False,
    variants: list[tuple[str, str]] | None = None,
    fresh: bool = False,
    personas_once: bool = False,
    jobs: int | None = None,
    progress: Progress | None = None,
    log: Log = _noop,
) -> str:
    """Table 3 on the configured store, with the baselines: returns the Markdown table (also written to
    ``out_dir``).

    Rows (default): the paper's five, then popularity, the mean item text, LightGCN and HDGI on the
    interaction meta-paths alone (:data:`persona.rec.experiment.BASELINE_VARIANTS`). Personas are learned
    from the training graph only. Each seed relearns everything its rows train — SASRec, the HDGI personas
    (``kg``, ``kg_ui``) and LightGCN — so the std covers their variance; per-seed vectors are cached under
    ``out_dir/vectors`` (:mod:`persona.seeded`). ``personas_once`` uses the store's personas (one HDGI
    seed) for every seed, the cheaper protocol of earlier versions. ``jobs`` models are fitted at once
    (default: 2 on a CPU with two cores or more; reproducible for a given value). The ``llm`` row uses LLM summaries when
    an endpoint is configured, otherwise the extractive fallback, labelled as such.

    Each (row, seed) result goes to ``results.csv`` as soon as it is measured; running the same
    experiment again continues where it stopped (reusing the personas it learned, when the store still
    holds them) and ``fresh`` starts over (see :mod:`persona.rec.experiment`).

    Raises:
        ConfigError: ``out_dir`` holds results of other settings or data (the message names ``--fresh``).
    """
    from persona.rec import run_experiment
    from persona.rec.experiment import (
        BASELINE_VARIANTS,
        CHECKPOINTS,
        RESULTS,
        TABLE3_VARIANTS,
        TrainingProgress,
        UserVectors,
        clear_results,
    )
    from persona.seeded import INTERACTION_METAPATHS, hdgi_personas, lightgcn_vectors

    out_dir = Path(out_dir)
    rows = list(variants or (*TABLE3_VARIANTS, *BASELINE_VARIANTS))
    wanted = {ue for ue, _ in rows}
    if fresh:
        clear_results(out_dir)
        for f in (out_dir / "vectors").glob("*.npz") if (out_dir / "vectors").is_dir() else ():
            f.unlink()
    with connect(settings) as store:
        persona_run = _stored_persona_run(store)
        resumed = _resumable_persona_run(out_dir, RESULTS, CHECKPOINTS)
        if not skip_personas and resumed is not None and resumed == persona_run:
            log(f"personas: reusing run {persona_run}, which the experiment already in {out_dir} used "
                "(--fresh learns them again)")
        elif not skip_personas:
            log("personas: text embeddings → graph export → HDGI")
            persona_run = train_personas_recorded(store, settings, progress=progress, log=log).run_id
        inter = load_interactions(store, settings)
        item_text = vectors(store, "rec_item_vectors") or None
        by_variant: dict[str, UserVectors] = {}
        folder = out_dir / "vectors"
        kg = vectors(store, "rec_user_personas")
        if kg and "kg" in wanted:
            check_persona_lag(store, settings.rec.persona_lag)
            by_variant["kg"] = kg if personas_once else hdgi_personas(
                store, settings, inter, folder, stored=kg, progress=progress, log_fn=log)
        if "kg_ui" in wanted and item_text is not None:
            by_variant["kg_ui"] = hdgi_personas(store, settings, inter, folder, metapaths=INTERACTION_METAPATHS,
                                                name="kg_ui", progress=progress, log_fn=log)
        if "lightgcn" in wanted:
            by_variant["lightgcn"] = lightgcn_vectors(inter, folder, device=settings.rec.device,
                                                      lag=settings.rec.persona_lag, log_fn=log)
        if "llm" in wanted:
            llm = user_vectors(store, settings, "llm", log)
            if llm:
                by_variant["llm"] = llm
        if "meantext" in wanted:
            by_variant["meantext"] = user_vectors(store, settings, "meantext", log) or {}
        attrs: dict[str, set[str]] = {}
        for r in store.run_named("rec_item_attributes"):
            attrs.setdefault(str(r["item"]), set()).add(str(r["attr"]))
        model = settings.text.model.rsplit("/", 1)[-1]
        labels = ({"llm": "LLM summary", "kg": "KG+LLM", "text": f"Description ({model})"} if settings.llm.url else
                  {"llm": "Summary (extractive)", "kg": "KG persona", "text": f"Item text ({model})"})
        run_experiment(inter, by_variant, item_text, settings.rec, seeds=seeds, out_dir=out_dir,
                       variants=rows, progress=log, labels=labels,
                       bars=progress if isinstance(progress, TrainingProgress) else None,
                       jobs=jobs or auto_jobs(settings.rec.device),
                       meta={"persona_run": persona_run, "personas": "once" if personas_once else "per seed"},
                       item_attributes={i: frozenset(a) for i, a in attrs.items()} or None)
    md = out_dir / "results.md"
    notes = [(f"Store: {settings.store}. Text model: {settings.text.model}. Personas learned from training "
              "interactions only, " + (f"HDGI seed {settings.hdgi.seed} for every seed." if personas_once else
                                       "HDGI seed = the row's seed: HDGI (and LightGCN) relearned for each seed, "
                                       f"cached under {out_dir / 'vectors'}."))]
    if settings.rec.session_gap_s:
        notes.append(f"Session view: histories cut at {settings.rec.session_gap_s:g} s of inactivity; models see the current session only.")
    if "llm" in by_variant:
        src = f"LLM summaries from {settings.llm.model} at {settings.llm.url}" if settings.llm.url else (
            "**extractive** summaries (no LLM endpoint configured: tf-idf of the KG attributes of each user's training items, "
            "in the prompt's output form), not LLM output")
        notes.append(f"LLM row: user vectors are text embeddings of {src}.")
    md.write_text(md.read_text(encoding="utf-8").rstrip() + "\n\n" + "\n".join(f"- {n}" for n in notes) + "\n", encoding="utf-8")
    cfg = out_dir / "config.json"
    data = json.loads(cfg.read_text())
    data["notes"] = notes
    data["session_gap_s"] = settings.rec.session_gap_s
    cfg.write_text(json.dumps(data, indent=2))
    return md.read_text(encoding="utf-8")


def _resumable_persona_run(out_dir: Path, results: str, checkpoints: str) -> str | None:
    """The persona run an unfinished experiment in ``out_dir`` used (``None``: nothing to resume)."""
    cfg = out_dir / "config.json"
    started = (out_dir / results).is_file() or any((out_dir / checkpoints).glob("*.pt"))
    if not started or not cfg.is_file():
        return None
    try:
        run = json.loads(cfg.read_text(encoding="utf-8")).get("persona_run")
    except (OSError, ValueError):
        return None
    return run if isinstance(run, str) else None


def explain_user(settings: Settings, user: str, *, item: str | None = None, k: int = 3,
                 run_id: str | None = None) -> list[dict[str, Any]]:
    """The reasons behind a user's written-back list of the store's newest run (or ``run_id``).

    Returns one dict per recommended item (``rank, item, title, score, paths``), or only ``item``'s.

    Raises:
        NotFoundError: unknown user, unknown run, or ``item`` not in the user's list.
        ModelError: the store has no run.
    """
    from persona import runs
    from persona.explain import NO_PATH, explain, load_index

    if k < 1:
        raise ConfigError(f"--top-k must be at least 1, got {k}")
    with connect(settings, read_only=True) as store:
        # the written-back list and the graph are in the store: no model file is needed
        run = runs.get_run(store, run_id) if run_id else runs.newest_run(store)
        rows = store.run_named("explain_user_list", {"user": user, "run": run.id})
        if not rows:
            known = store.run_named("explain_user_exists", {"user": user})
            if not known:
                raise NotFoundError(f"unknown user {user!r} in {store.uri}")
            raise NotFoundError(f"user {user!r} has no recommendations of run {run.id} in {store.uri}")
        if item is not None:
            rows = [r for r in rows if r["item"] == item]
            if not rows:
                raise NotFoundError(f"item {item!r} is not among user {user!r}'s recommendations of run {run.id}")
        index = load_index(store)
    paths = explain(index, pd.DataFrame({"user": user, "item": [r["item"] for r in rows]}), k=k)
    out = []
    for r in rows:
        ps = paths[(user, r["item"])]
        out.append({"rank": r["rank"], "item": r["item"], "title": r["title"], "score": round(float(r["score"]), 4), "run": run.id,
                    "reason": "; ".join(p.text for p in ps[:2]) if ps else NO_PATH,
                    "paths": [p.as_dict() for p in ps]})
    return out


def explain_session(settings: Settings, item_ids: list[str], *, k: int = 3, top_k: int = 10,
                    run_id: str | None = None) -> list[dict[str, Any]]:
    """Recommendations for an anonymous session with their reasons: paths from the session's items, and
    the users whose stored personas are nearest the session's inferred persona."""
    from persona import runs
    from persona.explain import NO_PATH, explain, load_index
    from persona.similarity import top_k_cosine

    if k < 1:
        raise ConfigError(f"--top-k must be at least 1, got {k}")
    recs = recommend_session(settings, item_ids, k=top_k, run_id=run_id)
    similar: dict[str, list[str]] = {"session": []}
    with connect(settings, read_only=True) as store:
        run, _ = runs.resolve_run(store, settings.workdir, run_id)
        personas = vectors(store, "rec_user_personas")
        index = load_index(store)
    if personas and run.persona_run:
        from persona.learn.personas import infer_persona

        vec = infer_persona(settings.model_copy(update={"workdir": runs.store_dir(settings.workdir, run.store_id)}),
                            item_ids, run_id=run.persona_run)
        ids = ["\0session", *personas]
        mat = np.stack([np.asarray(vec, dtype=np.float32), *[personas[i] for i in personas]])
        near = top_k_cosine(ids, mat, settings.rec.similar_k)
        similar["session"] = near.loc[near["src"] == "\0session", "dst"].tolist()
    paths = explain(index, pd.DataFrame({"user": "session", "item": recs["item"].tolist()}),
                    histories={"session": list(item_ids)}, similar=similar, attention={}, k=k)
    out = []
    for r in recs.to_dict("records"):
        ps = paths[("session", r["item"])]
        out.append({**r, "score": round(float(r["score"]), 4), "run": run.id, "reason": "; ".join(p.text for p in ps[:2]) if ps else NO_PATH,
                    "paths": [p.as_dict() for p in ps]})
    return out
