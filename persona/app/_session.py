"""Recommendations with reasons for an anonymous session, from a model loaded once.

:class:`SessionModel` holds what :func:`persona.pipeline.explain_session` loads on every call (the run's
two-stage recommender, its persona model, the stored personas and the explanation index), so the explorer
keeps one per store and run across reruns (``st.cache_resource``) and answers a session in well under a
second once loaded. It follows :func:`persona.pipeline.recommend_session` step by step (same run
resolution through :func:`persona.pipeline.load_recommender`, which refuses another store's model).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from persona.errors import ConfigError, ModelError, NotFoundError


@dataclass
class SessionAnswer:
    """A session's recommendations: ``rank, item, title, score`` and each item's reasons in words."""

    recs: pd.DataFrame
    reasons: dict[str, list[str]]
    similar: list[str]
    run: str


class SessionModel:
    """The newest (or a given) train run of a store, ready to recommend for sessions.

    Args:
        settings: persona-kg settings whose ``store`` is the store to answer for.
        run_id: A train run of that store (default: its newest).

    Raises:
        ModelError: the store has no train run, or the run's files are missing or another store's.
    """

    def __init__(self, settings: Any, run_id: str | None = None) -> None:
        from persona import pipeline, runs
        from persona.explain import load_index
        from persona.kgstore import open_store

        self.settings = settings
        self.two, self.run, self.folder = pipeline.load_recommender(settings, run_id)
        self.persona_model = None
        if getattr(self.two.retriever.settings, "user_emb", None) == "kg":
            from persona.learn.personas import load_persona_model

            if not self.run.persona_run:
                raise ModelError(f"run {self.run.id} has no persona run recorded; retrain with `persona train`")
            sdir = runs.store_dir(settings.workdir, self.run.store_id)
            try:
                self.persona_model = load_persona_model(sdir, self.run.persona_run, getattr(settings.hdgi, "device", "cpu") or "cpu")
            except FileNotFoundError as e:
                raise ModelError(f"run {self.run.id}: {e}") from None
        store = open_store(settings.store, user=settings.neo4j.user, password=settings.neo4j.password.get_secret_value(),
                           database=settings.neo4j.database, read_only=True)
        try:
            self.index = load_index(store)
            personas = store.frame_named("rec_user_personas")
        finally:
            store.close()
        self.user_ids = [str(u) for u in personas["id"]] if len(personas) else []
        mat = np.stack([np.asarray(v, dtype=np.float32) for v in personas["vec"]]) if self.user_ids else np.zeros((0, 1))
        self.personas = mat / np.maximum(np.linalg.norm(mat, axis=1, keepdims=True), 1e-12)
        self._lock = threading.Lock()  # one torch forward at a time per model

    @property
    def catalogue(self) -> list[str]:
        """Item ids the run knows."""
        return list(self.two.retriever.interactions.items)

    def recommend(self, items: Sequence[str], k: int = 10) -> SessionAnswer:
        """Top-``k`` after the session ``items`` (oldest first) with each item's reasons.

        Raises:
            ConfigError: the session is empty.
            NotFoundError: an item is not in the run's catalogue.
        """
        from persona.explain import explain

        from ._why import WhyPath, sentence

        items = [str(i) for i in items]
        if not items:
            raise ConfigError("the session is empty: pick at least one item")
        inter = self.two.retriever.interactions
        unknown = [i for i in items if i not in inter.item_index]
        if unknown:
            raise NotFoundError(f"item(s) {', '.join(unknown)} are not in the catalogue run {self.run.id} was trained on")
        with self._lock:
            vec = self.persona_model.infer_persona(items) if self.persona_model is not None else None
            recs = self.two.recommend_session(items, vec, k=int(k))
        similar: list[str] = []
        if vec is not None and len(self.user_ids):
            v = np.asarray(vec, dtype=np.float32)
            sims = self.personas @ (v / max(float(np.linalg.norm(v)), 1e-12))
            n = min(int(self.settings.rec.similar_k), len(sims))
            similar = [self.user_ids[j] for j in np.argsort(-sims, kind="stable")[:n]]
        recs = recs.reset_index(drop=True)
        recs["title"] = [self.index.titles.get(str(i), str(i)) for i in recs["item"]]
        known = [i for i in recs["item"].astype(str) if i in self.index.item_index]
        paths = explain(self.index, pd.DataFrame({"user": "session", "item": known}),
                        histories={"session": items}, similar={"session": similar}, attention={}, k=3) if known else {}
        titles = self.index.titles
        reasons: dict[str, list[str]] = {}
        for item, title in zip(recs["item"].astype(str), recs["title"]):
            lines = []
            for p in paths.get(("session", item), []):
                if p.kind == "entity":
                    wp = WhyPath("entity", p.score, p.nodes[0][1], p.rels[1], p.nodes[1][1],
                                 via=tuple(i for i in items if i != item and _shares(self.index, i, p.nodes[1])))
                    lines.append(sentence(wp, title, titles, {p.nodes[1][1]: _display(p.nodes[1])}, where="in this session"))
                elif p.kind == "item":
                    wp = WhyPath("item", p.score, p.nodes[0][1], p.rels[0])
                    lines.append(sentence(wp, title, titles, {}, where="in this session"))
                else:
                    wp = WhyPath("users", p.score, users=int(p.extra.get("similar_users", 0)), of=int(p.extra.get("of", 0)))
                    lines.append(sentence(wp, title, titles, {}, where="in this session"))
            reasons[item] = lines or ["No graph path links it to this session: it is ranked from the order of the items."]
        return SessionAnswer(recs[["rank", "item", "title", "score"]], reasons, similar, self.run.id)


def _display(node: tuple[str, str, str]) -> str:
    from persona.explain import readable_name

    return readable_name(node[2], node[1])


def _shares(index: Any, item: str, entity: tuple[str, str, str]) -> bool:
    """Whether ``item`` links to ``entity`` in the explanation index."""
    r = index.item_index.get(item)
    if r is None:
        return False
    try:
        e = index.entities.index((entity[0], entity[1]))
    except ValueError:
        return False
    return bool(index.item_entity[r, e] > 0)
