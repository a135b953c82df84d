"""The main job: text embeddings → personas → retriever → reranker → evaluation → write-back.

``persona train`` calls :func:`train`; ``persona recommend`` calls :func:`recommend_user` /
:func:`recommend_session`; ``persona experiment`` calls :func:`experiment`. A run's models live in
``<workdir>/runs/<run_id>/`` (``latest`` points at the newest), so recommending needs no retraining.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from persona.config import Settings
from persona.errors import ConfigError, ModelError, NotFoundError
from persona.kgstore import GraphFrames, GraphStore, Progress
from persona.workflows import connect

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


def interactions_frame(store: GraphStore) -> pd.DataFrame:
    """All RATED edges as ``user, item, pos, split, ts`` (the split decides what models may see)."""
    df = store.frame(_q(store, "rec_interactions"))
    if df.empty:
        raise ModelError(f"{store.uri}: no RATED interactions; run `persona ingest …` first")
    return df


def vectors(store: GraphStore, name: str) -> dict[str, np.ndarray]:
    """id → vector from a named query returning ``id, vec``."""
    df = store.frame(_q(store, name))
    return {i: np.asarray(v, dtype=np.float32) for i, v in zip(df["id"], df["vec"]) if v is not None}


def load_interactions(store: GraphStore, settings: Settings) -> Any:
    """Interactions for the sequence models, in the session view when ``rec.session_gap_s`` is set."""
    from persona.rec import Interactions, split_sessions

    df = interactions_frame(store)
    gap = settings.rec.session_gap_s
    if gap:
        if df["ts"].isna().any():
            raise ConfigError(f"{store.uri}: rec.session_gap_s needs timestamps, and some interactions have none")
        return Interactions.from_frame(split_sessions(df, gap), session_col="session", source=store.uri)
    return Interactions.from_frame(df, source=store.uri)


def _q(store: GraphStore, name: str) -> str:
    from persona.kgstore import queries

    return queries.load(name, store.backend)


def user_vectors(store: GraphStore, settings: Settings, variant: str, log: Log = _noop) -> dict[str, np.ndarray] | None:
    """User vectors for a retriever variant: ``kg`` personas, ``llm`` summary embeddings, else None."""
    if variant == "kg":
        vecs = vectors(store, "rec_user_personas")
        if not vecs:
            raise ModelError("no personas in the store; run `persona train personas` first")
        return vecs
    if variant == "llm":
        from persona.learn.summaries import user_summary_vectors

        return user_summary_vectors(store, settings, log=log)
    return None


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
    from persona.rec import TwoStageRecommender, run_two_stage

    rs = settings.rec.model_copy(update={"seed": settings.rec.seed if seed is None else seed})
    run_id = time.strftime("%Y%m%d-%H%M%S-") + uuid.uuid4().hex[:6]
    run_dir = Path(settings.workdir) / "runs" / run_id
    run_dir.mkdir(parents=True, exist_ok=True)
    timings: dict[str, float] = {}
    persona_info: dict[str, Any] = {}
    with connect(settings) as store:
        if not skip_personas:
            from persona.learn.personas import train_personas

            t0 = time.perf_counter()
            log("personas: text embeddings → graph export → HDGI")
            res = train_personas(store, settings, workdir=Path(settings.workdir), progress=progress, log=log)
            timings["personas_s"] = time.perf_counter() - t0
            persona_info = {"run": res.run_id, "users": len(res.user_ids), "dim": int(res.personas.shape[1]),
                            "epochs": len(res.losses), "final_loss": float(res.losses[-1]) if res.losses else None}
        t0 = time.perf_counter()
        inter = load_interactions(store, settings)
        item_text = vectors(store, "rec_item_vectors") if rs.item_emb == "text" else None
        if rs.item_emb == "text" and not item_text:
            raise ModelError("no item text embeddings in the store; run `persona train personas` first")
        uvecs = user_vectors(store, settings, rs.user_emb, log)
        timings["load_s"] = time.perf_counter() - t0

        t0 = time.perf_counter()
        log(f"retriever (user={rs.user_emb}, item={rs.item_emb}) and reranker: training SASRec")
        out = run_two_stage(inter, uvecs, item_text, rs, rs.seed)
        timings["rec_s"] = time.perf_counter() - t0
        retriever, reranker = out["models"]
        retriever.save(run_dir / "retriever.pt")
        reranker.save(run_dir / "reranker.pt")

        t0 = time.perf_counter()
        two = TwoStageRecommender(retriever, reranker)
        recs = two.recommend(None, k=recommend_k or rs.k, history="all")
        written = write_recommendations(store, recs, run_id)
        timings["write_back_s"] = time.perf_counter() - t0

    metrics = {"retriever": out["retriever"], "reranked": out["reranked"]}
    meta = {
        "run_id": run_id, "store": settings.store, "metrics": metrics, "timings": timings, "persona": persona_info,
        "rec": rs.model_dump(), "text_model": settings.text.model, "hdgi": settings.hdgi.model_dump(),
        "best_epoch": out.get("retriever_best_epoch"), "valid_ndcg@10": out.get("retriever_valid_ndcg@10"),
    }
    (run_dir / "run.json").write_text(json.dumps(meta, indent=2, default=float))
    latest = Path(settings.workdir) / "runs" / "latest"
    latest.write_text(run_id)
    return TrainReport(run_id, metrics, timings, {"RECOMMENDED": written}, persona_info, run_dir)


def write_recommendations(store: GraphStore, recs: pd.DataFrame, run_id: str) -> int:
    """Replace earlier ``RECOMMENDED`` edges with ``{rank, score, run}`` edges of this run."""
    store.delete_rels("RECOMMENDED")
    g = GraphFrames()
    g.add_rels(
        "RECOMMENDED", "User", "Item",
        pd.DataFrame({"src": recs["user"].astype(str), "dst": recs["item"].astype(str),
                      "rank": recs["rank"].astype(int), "score": recs["score"].astype(float), "run": run_id}),
    )
    return store.load(g).get("RECOMMENDED", 0)


def _latest_run(settings: Settings) -> Path:
    runs = Path(settings.workdir) / "runs"
    latest = runs / "latest"
    if not latest.is_file():
        raise ModelError(f"no trained run under {runs}; run `persona train` first")
    return runs / latest.read_text().strip()


def load_recommender(settings: Settings) -> Any:
    """The latest run's two-stage recommender."""
    from persona.rec import SASRecRecommender, TwoStageRecommender

    run = _latest_run(settings)
    dev = settings.rec.device
    return TwoStageRecommender(SASRecRecommender.load(run / "retriever.pt", dev), SASRecRecommender.load(run / "reranker.pt", dev))


def _titles(store: GraphStore, ids: list[str]) -> dict[str, str]:
    rows = store.run_named("rec_item_titles", {"ids": ids})
    return {r["id"]: r["title"] for r in rows}


def recommend_user(settings: Settings, user: str, *, k: int = 10) -> pd.DataFrame:
    """Top-``k`` for a known user from their whole history (``item, title, rank, score``)."""
    two = load_recommender(settings)
    inter = two.retriever.interactions
    if user not in inter.user_index:
        raise NotFoundError(f"unknown user {user!r}: not in the trained run (users look like {inter.users[0]!r})")
    recs = two.recommend([user], k=k, history="all")
    with connect(settings, read_only=True) as store:
        titles = _titles(store, recs["item"].tolist())
    recs["title"] = recs["item"].map(titles)
    return recs[["rank", "item", "title", "score"]]


def recommend_session(settings: Settings, item_ids: list[str], *, k: int = 10) -> pd.DataFrame:
    """Top-``k`` after an anonymous session; its persona is inferred from its items (no retraining)."""
    two = load_recommender(settings)
    inter = two.retriever.interactions
    unknown = [i for i in item_ids if i not in inter.item_index]
    if unknown:
        raise NotFoundError(f"unknown item(s) {unknown}: not in the trained catalogue (items look like {inter.items[0]!r})")
    vec = None
    if two.retriever.settings.user_emb == "kg":
        from persona.learn.personas import infer_persona

        vec = infer_persona(settings, item_ids)
    recs = two.recommend_session(list(item_ids), vec, k=k)
    with connect(settings, read_only=True) as store:
        titles = _titles(store, recs["item"].tolist())
    recs["title"] = recs["item"].map(titles)
    return recs[["rank", "item", "title", "score"]]


def parse_variants(text: str) -> list[tuple[str, str]]:
    """``"none/random,kg/text"`` → ``[("none", "random"), ("kg", "text")]``.

    Raises:
        ValueError: a pair is not ``USER/ITEM`` with USER in none|random|llm|kg and ITEM in random|text.
    """
    users, items = ("none", "random", "llm", "kg"), ("random", "text")
    out: list[tuple[str, str]] = []
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        ue, sep, ie = part.partition("/")
        if not sep or ue not in users or ie not in items:
            raise ConfigError(
                f"--variants: {part!r} is not USER/ITEM with USER one of {', '.join(users)} "
                f"and ITEM one of {', '.join(items)} (e.g. none/random,kg/text)"
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
    progress: Progress | None = None,
    log: Log = _noop,
) -> str:
    """Table 3 on the configured store: returns the Markdown table (also written to ``out_dir``).

    Personas are learned once (fixed HDGI seed) from the training graph; each seed retrains every
    SASRec model. The ``llm`` row uses LLM summaries when an endpoint is configured, otherwise the
    extractive fallback, labelled as such in ``config.json``.
    """
    from persona.rec import run_experiment
    from persona.rec.experiment import TABLE3_VARIANTS

    out_dir = Path(out_dir)
    with connect(settings) as store:
        if not skip_personas:
            from persona.learn.personas import train_personas

            log("personas: text embeddings → graph export → HDGI")
            train_personas(store, settings, workdir=Path(settings.workdir), progress=progress, log=log)
        inter = load_interactions(store, settings)
        item_text = vectors(store, "rec_item_vectors") or None
        by_variant: dict[str, dict[str, np.ndarray]] = {}
        kg = vectors(store, "rec_user_personas")
        if kg:
            by_variant["kg"] = kg
        llm = user_vectors(store, settings, "llm", log)
        if llm:
            by_variant["llm"] = llm
    run_experiment(inter, by_variant, item_text, settings.rec, seeds=seeds, out_dir=out_dir,
                   variants=variants or TABLE3_VARIANTS, progress=log)
    md = out_dir / "results.md"
    notes = [f"Store: {settings.store}. Text model: {settings.text.model}. Personas: HDGI seed {settings.hdgi.seed}, "
             f"learned from training interactions only."]
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
