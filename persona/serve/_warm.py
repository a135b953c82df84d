"""A train run held in memory: everything a request needs is loaded once, so a request only computes.

:class:`WarmRun` follows :func:`persona.pipeline.recommend_user`, :func:`~persona.pipeline.recommend_session`,
:func:`~persona.pipeline.explain_user` and :func:`~persona.pipeline.explain_session` step by step, with
their per-call loads moved to :meth:`WarmRun.load`: the two SASRec models (through
:func:`persona.pipeline.load_recommender`, so the run resolves exactly as ``persona recommend`` resolves
it), the run's persona model, the item titles, the stored personas and the explanation index.

The store is read once, at load, and closed: no request touches it. That keeps the answers one
consistent snapshot (LadybugDB lets another process open the file read-write while a reader holds it, so
a reader kept open could see a ``persona train`` half-written) and leaves no connection to share between
the server's threads. A new run is served after a restart (or :meth:`WarmRun.load` again).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from persona.config import Settings
from persona.errors import ConfigError, ModelError, NotFoundError

if TYPE_CHECKING:
    from persona.explain import GraphIndex
    from persona.learn.hdgi import PersonaModel
    from persona.pipeline import ServedRun

#: Longest list a request may ask for (the retriever's default candidate count; ``persona recommend -k``).
MAX_K = 100
#: Most paths per explained item (``persona explain --k``).
MAX_PATHS = 20


def _check_k(k: int, name: str = "k", top: int = MAX_K) -> int:
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 1 <= int(k) <= top:
        raise ConfigError(f"{name}: expected an integer from 1 to {top}, got {k!r}")
    return int(k)


class WarmRun:
    """One train run of one store, loaded for serving.

    Build it with :meth:`load`. The methods are safe to call from several threads: torch forwards run one
    at a time (a lock), everything else only reads what :meth:`load` built.

    Example:
        >>> warm = WarmRun.load(load_settings(store="embedded:ml.db"))  # doctest: +SKIP
        >>> warm.recommend_user("1", k=3)[0]  # doctest: +SKIP
        {'rank': 1, 'item': '501', 'title': 'Dumbo', 'score': 4.719}
    """

    def __init__(self, settings: Settings, served: ServedRun, *, titles: dict[str, str | None],
                 index: GraphIndex, personas: dict[str, np.ndarray], persona_model: PersonaModel | None,
                 load_s: float) -> None:
        self.settings = settings
        self.recommender, self.run, self.folder = served
        self.titles = titles
        self.index = index
        self.persona_model = persona_model
        self.load_s = load_s
        # explain_session's nearest stored personas: top_k_cosine's rule (zero vectors left out, ties by
        # id) against the session's persona alone, instead of every user against every user per request
        kept = sorted(u for u, v in personas.items() if float(np.linalg.norm(v)) > 0)
        self._persona_ids = kept
        mat = np.stack([personas[u] for u in kept]).astype(np.float64) if kept else np.zeros((0, 1))
        self._personas = (mat / np.linalg.norm(mat, axis=1, keepdims=True).clip(min=1e-12)).astype(np.float32)
        self._has_personas = bool(personas)
        self._kg = self.recommender.retriever.settings.user_emb == "kg"
        self._torch = threading.Lock()  # one forward at a time: modules and the persona builder are shared

    @classmethod
    def load(cls, settings: Settings, run_id: str | None = None) -> WarmRun:
        """Load the store's newest train run (or ``run_id``) and what its requests read.

        Raises:
            ModelError: the store has no train run, its files are missing or another store's, or it has no
                persona model although its retriever needs one.
            NotFoundError: ``run_id`` is not a run of the store.
            StoreError: the store cannot be opened.
        """
        from persona import pipeline, runs
        from persona.explain import load_index
        from persona.rec.inputs import vectors
        from persona.workflows import connect

        t0 = time.perf_counter()
        served = pipeline.load_recommender(settings, run_id)
        two, run = served.recommender, served.run
        kg = two.retriever.settings.user_emb == "kg"
        if kg and not run.persona_run:
            raise ModelError(f"run {run.id} has no persona run recorded; retrain with `persona train`")
        persona_model = None
        if run.persona_run:
            from persona.learn.personas import load_persona_model

            try:
                persona_model = load_persona_model(runs.store_dir(settings.workdir, run.store_id), run.persona_run,
                                                   settings.hdgi.device)
            except NotFoundError:
                if kg:  # the retriever needs it; otherwise only a session's similar users do
                    raise
        with connect(settings, read_only=True) as store:
            items = list(two.retriever.interactions.items)
            titles: dict[str, str | None] = {r["id"]: r["title"] for r in store.run_named("rec_item_titles", {"ids": items})}
            personas = vectors(store, "rec_user_personas")
            index = load_index(store)
        return cls(settings, served, titles=titles, index=index, personas=personas, persona_model=persona_model,
                   load_s=time.perf_counter() - t0)

    # ------------------------------------------------------------------ what is loaded
    @property
    def users(self) -> int:
        """Users the run knows."""
        return len(self.recommender.retriever.interactions.users)

    @property
    def items(self) -> int:
        """Items of the run's catalogue."""
        return len(self.recommender.retriever.interactions.items)

    def describe(self) -> dict[str, Any]:
        """The run being served (``GET /health``): ids, sizes, when it was made and how long loading took."""
        rs = self.recommender.retriever.settings
        return {"run": self.run.id, "created_at": self.run.created_at, "persona_run": self.run.persona_run,
                "store_id": self.run.store_id, "users": self.users, "items": self.items,
                "retriever": {"user_emb": rs.user_emb, "item_emb": rs.item_emb}, "max_k": MAX_K,
                "load_seconds": round(self.load_s, 2)}

    # ------------------------------------------------------------------ lists
    def recommend_user(self, user: str, k: int = 10) -> list[dict[str, Any]]:
        """Top-``k`` for a known user from their whole history: ``rank, item, title, score`` per item, the
        list ``persona recommend --user`` prints for the same run.

        Raises:
            ConfigError: ``k`` is not in 1–:data:`MAX_K`.
            NotFoundError: the run does not know ``user``.
        """
        k = _check_k(k)
        inter = self.recommender.retriever.interactions
        if user not in inter.user_index:
            raise NotFoundError(f"unknown user {user!r}: not in the trained run (users look like {inter.users[0]!r})")
        with self._torch:
            recs = self.recommender.recommend([user], k=k, history="all")
        return self._rows(recs)

    def recommend_session(self, items: Sequence[str], k: int = 10) -> list[dict[str, Any]]:
        """Top-``k`` after an anonymous session (item ids, oldest first; its items excluded), its persona
        inferred by the run's persona model: the list ``persona recommend --items`` prints.

        Raises:
            ConfigError: no items, or ``k`` out of range.
            NotFoundError: an item is not in the run's catalogue.
        """
        k = _check_k(k)
        ids = self._session(items)
        with self._torch:
            vec = self._session_persona(ids)
            recs = self.recommender.recommend_session(ids, vec, k=k)
        return self._rows(recs)

    # ------------------------------------------------------------------ explanations
    def explain_user(self, user: str, *, item: str | None = None, k: int = 10, paths: int = 3) -> list[dict[str, Any]]:
        """The served top-``k`` of ``user`` with the reasons of each item (or only ``item``'s): ``rank, item,
        title, score, reason, paths``, scored as :func:`persona.pipeline.explain_user` scores them.

        Raises:
            ConfigError: ``k`` or ``paths`` out of range.
            NotFoundError: unknown user, or ``item`` not in the user's list.
        """
        from persona.explain import explain

        paths = _check_k(paths, "paths", MAX_PATHS)
        rows = self.recommend_user(user, k)
        if item is not None:
            rows = [r for r in rows if r["item"] == item]
            if not rows:
                raise NotFoundError(f"item {item!r} is not among user {user!r}'s top {k} of run {self.run.id}")
        found = explain(self.index, pd.DataFrame({"user": user, "item": [r["item"] for r in rows]}), k=paths)
        return [self._with_reasons(r, found[(user, r["item"])]) for r in rows]

    def explain_session(self, items: Sequence[str], *, k: int = 10, paths: int = 3) -> list[dict[str, Any]]:
        """A session's top-``k`` with reasons: paths from the session's items, and the stored users whose
        personas are nearest the session's (:func:`persona.pipeline.explain_session`).

        Raises:
            ConfigError: no items, ``k`` or ``paths`` out of range.
            NotFoundError: an item is not in the run's catalogue.
        """
        paths = _check_k(paths, "paths", MAX_PATHS)
        recs, _near, found = self.session(items, k=_check_k(k), paths=paths)
        return [self._with_reasons(r, found[("session", r["item"])]) for r in self._rows(recs)]

    def session(
        self, items: Sequence[str], *, k: int = 10, paths: int = 3
    ) -> tuple[pd.DataFrame, list[str], dict[tuple[str, str], list[Any]]]:
        """A session's top-``k`` (``item, rank, score``), the stored users nearest its persona, and the
        explanation paths of each recommendation (keyed ``("session", item)``): what the HTTP server and
        the explorer's session panel both answer from.

        Raises:
            ConfigError: no items. NotFoundError: an item is not in the run's catalogue.
        """
        from persona.explain import explain

        ids = self._session(items)
        with self._torch:
            vec = self._session_persona(ids, for_similar=True)
            recs = self.recommender.recommend_session(ids, vec if self._kg else None, k=k)
        near = self._nearest(vec)
        found = explain(self.index, pd.DataFrame({"user": "session", "item": recs["item"].astype(str).tolist()}),
                        histories={"session": ids}, similar={"session": near}, attention={}, k=paths)
        return recs.reset_index(drop=True), near, found

    # ------------------------------------------------------------------ helpers
    def _session(self, items: Sequence[str]) -> list[str]:
        ids = [str(i) for i in items]
        if not ids:
            raise ConfigError("items: the session is empty; give at least one item id")
        inter = self.recommender.retriever.interactions
        unknown = [i for i in ids if i not in inter.item_index]
        if unknown:
            raise NotFoundError(f"unknown item(s) {unknown}: not in the trained catalogue (items look like {inter.items[0]!r})")
        return ids

    def _session_persona(self, ids: list[str], *, for_similar: bool = False) -> np.ndarray | None:
        """The session's persona when the retriever reads one (``user_emb = "kg"``) or, ``for_similar``, when
        stored personas exist to compare it with; else ``None``."""
        needed = self._kg or (for_similar and self._has_personas and bool(self.run.persona_run))
        if not needed:
            return None
        if self.persona_model is None:
            raise ModelError(f"run {self.run.id}: its persona model {self.run.persona_run!r} is missing; "
                             "retrain with `persona train`")
        return self.persona_model.infer_persona(ids)

    def _nearest(self, vec: np.ndarray | None) -> list[str]:
        """The ``rec.similar_k`` stored users nearest the session persona, as :func:`persona.similarity.top_k_cosine`
        ranks them (most similar first, equal scores by id)."""
        if vec is None or not self._persona_ids:
            return []
        v = np.asarray(vec, dtype=np.float64)
        norm = float(np.linalg.norm(v))
        if norm == 0:
            return []
        sims = self._personas @ (v / norm).astype(np.float32)
        n = min(int(self.settings.rec.similar_k), len(sims))
        order = np.lexsort((np.arange(len(sims)), -sims))[:n]
        return [self._persona_ids[j] for j in order]

    def _rows(self, recs: pd.DataFrame) -> list[dict[str, Any]]:
        return [{"rank": int(rank), "item": str(item), "title": self.titles.get(str(item)), "score": float(score)}
                for rank, item, score in zip(recs["rank"], recs["item"], recs["score"])]

    def _with_reasons(self, row: dict[str, Any], found: list[Any]) -> dict[str, Any]:
        from persona.explain import NO_PATH

        return {**row, "score": round(row["score"], 4),
                "reason": "; ".join(p.text for p in found[:2]) if found else NO_PATH,
                "paths": [p.as_dict() for p in found]}
