"""What the explorer reads from a store: plain functions over :class:`~persona.kgstore.GraphStore`.

Every query is a named file ``cypher/app_*.cypher`` run read-only through ``store.run_named``; nothing
here imports Streamlit, so the same functions serve tests and other front ends.

One :class:`ExplorerData` wraps one open store. Streamlit serves every browser session from threads of
one process and shares the cached store between them, so calls are serialised with a lock: an embedded
LadybugDB connection runs one transaction at a time.
"""

from __future__ import annotations

import json
import math
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from persona.kgstore import GraphStore, StoreError

#: Relationship types that do not lead from an item to an attribute.
_NON_ATTRIBUTE_RELS = ("RATED", "RECOMMENDED", "ALSO_BUY", "ALSO_VIEW")


@dataclass(frozen=True)
class UserProfile:
    """One user's written-back persona and summary.

    Attributes:
        id: User id.
        persona: The HDGI persona vector, or None before ``persona train``.
        attention: Meta-path name → attention weight, heaviest first (empty when absent or unreadable).
        attention_error: Why ``persona_attention`` could not be read, if it could not.
        persona_run: Run id that wrote the persona.
        persona_model: Model that wrote the persona.
        summary: LLM or extractive summary of the user's taste.
        summary_source: ``llm:<model>`` or ``extractive``.
        planted_taste: Ground-truth taste of the generated demo data (never a model input).
    """

    id: str
    persona: np.ndarray | None
    attention: dict[str, float]
    attention_error: str | None
    persona_run: str | None
    persona_model: str | None
    summary: str | None
    summary_source: str | None
    planted_taste: int | None


@dataclass
class Neighbourhood:
    """A user's persona neighbourhood, ready to draw.

    Attributes:
        user: The user's id.
        items: Shown training items: ``item, title, pos`` (the most telling ones, not all).
        n_train: Number of training items the user has in all.
        attributes: Top attributes of the training items: ``label, attr, name, n_items, shared_by``
            (``n_items``: the user's training items reaching it; ``shared_by``: similar users whose
            training items reach it too).
        links: Edges from shown items to top attributes: ``item, label, attr``.
        similar: Most similar users by persona: ``user, similarity`` (best first).
        overlap: Similar users' training items reaching top attributes: ``user, label, attr, n``.
        note: Why part of the picture is missing (e.g. no persona yet), or None.
    """

    user: str
    items: pd.DataFrame
    n_train: int
    attributes: pd.DataFrame
    links: pd.DataFrame
    similar: pd.DataFrame
    overlap: pd.DataFrame
    note: str | None = None


@dataclass
class Overview:
    """Node and relationship counts of the store (labels/types with at least one row)."""

    nodes: dict[str, int] = field(default_factory=dict)
    rels: dict[str, int] = field(default_factory=dict)

    @property
    def users(self) -> int:
        """Number of users."""
        return self.nodes.get("User", 0)

    @property
    def has_recommendations(self) -> bool:
        """Whether any RECOMMENDED relationship exists."""
        return self.rels.get("RECOMMENDED", 0) > 0

    @property
    def has_attributes(self) -> bool:
        """Whether items link to attribute nodes at all."""
        return any(t not in _NON_ATTRIBUTE_RELS for t in self.rels)


def parse_attention(text: str | None, user_id: str) -> dict[str, float]:
    """Read ``User.persona_attention`` (a JSON object ``{meta-path: weight}``), heaviest first.

    Args:
        text: The stored JSON string (None or empty → no weights).
        user_id: The user, named in the error message.

    Returns:
        Meta-path name → weight, sorted by weight descending, then name.

    Raises:
        ValueError: ``text`` is not a JSON object of finite numbers.
    """
    if text is None or not str(text).strip():
        return {}
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise ValueError(
            f"User {user_id!r}: persona_attention is not valid JSON ({e.msg} at char {e.pos}); "
            "expected an object {meta-path name: weight}, as written by `persona train`"
        ) from None
    if not isinstance(data, dict):
        raise ValueError(  # noqa: TRY004 (a bad stored value, like the JSON errors above)
            f"User {user_id!r}: persona_attention is a JSON {type(data).__name__}; "
            "expected an object {meta-path name: weight}"
        )
    out: dict[str, float] = {}
    for name, weight in data.items():
        if isinstance(weight, bool) or not isinstance(weight, (int, float)) or not math.isfinite(weight):
            raise ValueError(
                f"User {user_id!r}: persona_attention[{name!r}] = {weight!r}; expected a finite number"
            )
        out[str(name)] = float(weight)
    return dict(sorted(out.items(), key=lambda kv: (-kv[1], kv[0])))


def summary_source_label(source: str | None) -> str:
    """A human label for ``User.llm_summary_source`` (``llm:<model>`` or ``extractive``)."""
    if not source:
        return "source unknown"
    if source.startswith("llm:"):
        return f"LLM summary ({source[4:] or 'unnamed model'})"
    if source == "extractive":
        return "Extractive summary (no LLM configured)"
    return f"Summary ({source})"


def _frame(rows: list[dict[str, Any]], columns: Sequence[str]) -> pd.DataFrame:
    """Rows → DataFrame that keeps its columns even when there are no rows."""
    return pd.DataFrame(rows, columns=list(columns))


class ExplorerData:
    """Read access to one store for the explorer.

    Args:
        store: An open store (:func:`persona.kgstore.open_store`); this object does not close it.

    Example:
        >>> data = ExplorerData(open_store("embedded:persona.db", read_only=True))  # doctest: +SKIP
        >>> data.recommendations("u0001").head()  # doctest: +SKIP
    """

    def __init__(self, store: GraphStore) -> None:
        self.store = store
        self._lock = threading.Lock()

    def _run(self, name: str, params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        with self._lock:
            return self.store.run_named(name, params or {})

    # ------------------------------------------------------------------ store level
    def overview(self) -> Overview:
        """Counts per label and relationship type (tells an empty store from a trained one)."""
        with self._lock:
            counts = self.store.counts()
        return Overview(dict(counts.get("nodes", {})), dict(counts.get("rels", {})))

    def find_users(self, text: str = "", limit: int = 200) -> list[str]:
        """User ids containing ``text`` (all users when empty), sorted, at most ``limit``."""
        rows = self._run("app_find_users", {"q": text.strip(), "limit": int(limit)})
        return [r["id"] for r in rows]

    def search_items(self, text: str = "", limit: int = 50) -> pd.DataFrame:
        """Items whose title contains ``text`` (case-insensitive): ``item, title``."""
        rows = self._run("app_search_items", {"q": text.strip(), "limit": int(limit)})
        return _frame(rows, ["item", "title"])

    def item_titles(self, item_ids: Sequence[str]) -> dict[str, str | None]:
        """Item id → title for the given ids (ids not in the store are left out)."""
        rows = self._run("app_item_titles", {"ids": [str(i) for i in item_ids]})
        return {r["item"]: r["title"] for r in rows}

    # ------------------------------------------------------------------ one user
    def user(self, user_id: str) -> UserProfile | None:
        """The user's persona properties, or None when no user has this id."""
        rows = self._run("app_user", {"id": user_id})
        if not rows:
            return None
        r = rows[0]
        try:
            attention, error = parse_attention(r.get("attention"), user_id), None
        except ValueError as e:
            attention, error = {}, str(e)
        persona = r.get("persona")
        return UserProfile(
            id=r["id"],
            persona=None if persona is None or len(persona) == 0 else np.asarray(persona, dtype=np.float32),
            attention=attention,
            attention_error=error,
            persona_run=r.get("persona_run"),
            persona_model=r.get("persona_model"),
            summary=r.get("summary"),
            summary_source=r.get("summary_source"),
            planted_taste=r.get("planted_taste"),
        )

    def history(self, user_id: str) -> pd.DataFrame:
        """The user's interactions in chronological order: ``pos, item, title, split, rating, ts``."""
        rows = self._run("app_history", {"id": user_id})
        return _frame(rows, ["pos", "item", "title", "split", "rating", "ts"])

    def recommendations(self, user_id: str) -> pd.DataFrame:
        """RECOMMENDED lists of the user: ``run, rank, item, title, score``, by run then rank."""
        rows = self._run("app_recommendations", {"id": user_id})
        return _frame(rows, ["run", "rank", "item", "title", "score"])

    def similar_users(self, user_id: str, persona: np.ndarray, k: int = 5) -> pd.DataFrame:
        """The ``k`` users with the most similar personas (cosine), the user excluded: ``user, similarity``."""
        if k <= 0:
            return _frame([], ["user", "similarity"])
        with self._lock:
            hits = self.store.vector_search("User", "persona", persona, k + 1)
        rows = [{"user": uid, "similarity": float(sim)} for uid, sim in hits if uid != user_id][:k]
        return _frame(rows, ["user", "similarity"])

    def user_briefs(self, user_ids: Sequence[str]) -> pd.DataFrame:
        """Short facts about several users: ``user, summary, summary_source, n_train``."""
        rows = self._run("app_user_briefs", {"ids": list(user_ids)})
        return _frame(rows, ["user", "summary", "summary_source", "n_train"])

    def item_attributes(self, user_id: str) -> pd.DataFrame:
        """Attributes of the user's training items: ``item, rel, label, attr, name`` (one row per edge)."""
        rows = self._run("app_item_attributes", {"id": user_id})
        return _frame(rows, ["item", "rel", "label", "attr", "name"])

    def attribute_overlap(self, user_ids: Sequence[str], attr_ids: Sequence[str]) -> pd.DataFrame:
        """For each user, how many of their training items reach each attribute: ``user, label, attr, n``."""
        if not user_ids or not attr_ids:
            return _frame([], ["user", "label", "attr", "n"])
        rows = self._run("app_attribute_overlap", {"users": list(user_ids), "attrs": list(attr_ids)})
        return _frame(rows, ["user", "label", "attr", "n"])

    def neighbourhood(
        self,
        user_id: str,
        persona: np.ndarray | None,
        *,
        history: pd.DataFrame | None = None,
        k_users: int = 5,
        n_attributes: int = 8,
        n_items: int = 10,
        with_attributes: bool = True,
    ) -> Neighbourhood:
        """Gather what the neighbourhood picture shows.

        Attributes are ranked by how many of the user's training items reach them, then by how many of
        the similar users share them, then by name. Shown items are those linked to the most top
        attributes, then the most recent.

        Args:
            user_id: The user.
            persona: The user's persona vector (None: no similar users, with a note saying why).
            history: :meth:`history` of the user, if already read.
            k_users: Similar users to include.
            n_attributes: Top attributes to include.
            n_items: Training items to draw at most.
            with_attributes: False when the store has no item→attribute relationships (skips queries).
        """
        hist = self.history(user_id) if history is None else history
        train = hist[hist["split"] == "train"].sort_values("pos")
        note = None
        if persona is None:
            similar = _frame([], ["user", "similarity"])
            note = "no persona yet (run `persona train`), so no similar users"
        else:
            try:
                similar = self.similar_users(user_id, persona, k_users)
            except StoreError as e:  # e.g. Neo4j without a vector index yet: draw the rest anyway
                similar = _frame([], ["user", "similarity"])
                note = f"similar users unavailable: {e}"

        edges = self.item_attributes(user_id) if with_attributes else _frame([], ["item", "rel", "label", "attr", "name"])
        edges = edges[edges["item"].isin(train["item"])]
        per_attr = (
            edges.drop_duplicates(["item", "label", "attr"])
            .groupby(["label", "attr"], as_index=False)
            .agg(name=("name", "first"), n_items=("item", "nunique"))
        )
        # Overlap is asked for the user's 50 most frequent attributes only: it bounds the query size,
        # and an attribute reached by one item of the user rarely makes the top list anyway.
        candidates = per_attr.sort_values(["n_items", "attr"], ascending=[False, True]).head(50)
        overlap = self.attribute_overlap(similar["user"].tolist(), candidates["attr"].tolist())
        overlap = overlap.merge(candidates[["label", "attr"]], on=["label", "attr"])  # same id, other label
        shared = overlap[overlap["n"] > 0].groupby(["label", "attr"]).size().rename("shared_by").reset_index()
        candidates = candidates.merge(shared, on=["label", "attr"], how="left")
        candidates["shared_by"] = candidates["shared_by"].fillna(0).astype(int)
        candidates["sort_name"] = candidates["name"].fillna(candidates["attr"]).astype(str)
        top = (
            candidates.sort_values(["n_items", "shared_by", "sort_name"], ascending=[False, False, True])
            .head(n_attributes)
            .drop(columns="sort_name")
            .reset_index(drop=True)
        )
        links = edges.merge(top[["label", "attr"]], on=["label", "attr"])[["item", "label", "attr"]].drop_duplicates()
        per_item = links.groupby("item").size().rename("n_links")
        shown = train.assign(n_links=train["item"].map(per_item).fillna(0).astype(int))
        shown = shown.sort_values(["n_links", "pos"], ascending=[False, False]).head(n_items)
        shown = shown.sort_values("pos")[["item", "title", "pos"]].reset_index(drop=True)
        links = links[links["item"].isin(shown["item"])].sort_values(["item", "label", "attr"]).reset_index(drop=True)
        overlap = overlap.merge(top[["label", "attr"]], on=["label", "attr"]).sort_values(["user", "label", "attr"])
        return Neighbourhood(
            user=user_id,
            items=shown,
            n_train=len(train),
            attributes=top,
            links=links,
            similar=similar,
            overlap=overlap[overlap["n"] > 0].reset_index(drop=True),
            note=note,
        )


def session_rows(result: Any) -> pd.DataFrame:
    """Normalise what ``persona.workflows.recommend_session`` returns into ``rank, item, score, title``.

    Accepts a DataFrame or a sequence of mappings with ``item`` (or ``id``) and ``score`` (``title``
    optional), or of ``(item, score)`` pairs; the order given is the ranking.

    Raises:
        ValueError: a row has neither shape.
    """
    if isinstance(result, pd.DataFrame):
        records: list[Any] = result.to_dict("records")
    else:
        records = list(result or [])
    out = []
    for n, rec in enumerate(records, start=1):
        if isinstance(rec, Mapping):
            item = rec.get("item", rec.get("id"))
            if item is None:
                raise ValueError(f"recommend_session row {n}: {dict(rec)!r} has no 'item' (or 'id') key")
            out.append({"rank": n, "item": str(item), "score": rec.get("score"), "title": rec.get("title")})
        elif isinstance(rec, (tuple, list)) and len(rec) == 2:
            out.append({"rank": n, "item": str(rec[0]), "score": rec[1], "title": None})
        else:
            raise ValueError(f"recommend_session row {n}: {rec!r}; expected a mapping with 'item' and 'score' or a pair")
    return _frame(out, ["rank", "item", "score", "title"])
