"""What the explorer reads from a store: plain functions over :class:`~persona.kgstore.GraphStore`.

Every query is a named file ``cypher/app_*.cypher`` run read-only through ``store.run_named``; nothing
here imports Streamlit, so the same functions serve tests and other front ends.

One :class:`ExplorerData` wraps one open store. Streamlit serves every browser session from threads of
one process and shares the cached store between them, so calls are serialised with a lock: an embedded
LadybugDB connection runs one transaction at a time.

Why one long module: every store read the explorer makes, each a named query plus its shaping, in one
place the page and the tests both use (the page itself is :mod:`persona.app.explorer`).
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

from persona.explain import readable_name
from persona.kgstore import GraphStore, StoreError
from persona.kgstore.schema import ENTITY_LABELS
from persona.runs import RunRecord, list_runs

#: Relationship types that do not lead from an item to an attribute.
_NON_ATTRIBUTE_RELS = ("RATED", "RECOMMENDED", "ALSO_BUY", "ALSO_VIEW", "SIMILAR", "HELD_OUT")
#: Columns of :attr:`Neighbourhood.scores`.
SCORE_COLUMNS = ["label", "attr", "name", "n_items", "items_with", "specificity"]
#: Attributes whose specificity is asked for (by the user's item count): bounds one query's size.
_MAX_CANDIDATES = 1500


def specificity(n_items: Any, items_with: Any, catalogue: int) -> Any:
    """How telling an attribute is of a user: ``idf · log2(1 + n)``.

    ``idf = ln(N / df)`` with ``N`` catalogue items and ``df`` the items reaching the attribute (a director
    of 3 films is specific, "Drama" of 400 is not); ``n`` is how many of the user's training items reach it,
    on a log scale, so that 15 comedies do not outweigh 3 films of one director.

    Example:
        >>> round(float(specificity(3, 4, 1682)), 2), round(float(specificity(30, 700, 1682)), 2)
        (12.08, 4.34)
    """
    n = np.asarray(n_items, dtype=np.float64)
    df = np.maximum(np.asarray(items_with, dtype=np.float64), 1.0)
    return np.log(max(int(catalogue), 1) / df).clip(min=0.0) * np.log2(1.0 + n)


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
        all_links: Every training item → attribute edge of the user: ``item, label, attr, name`` (what a
            click on a node expands to).
        scores: Every attribute of the user's training items with its specificity: ``label, attr, name,
            n_items, items_with, specificity`` (best first).
        titles: Item id → title of every training item.
    """

    user: str
    items: pd.DataFrame
    n_train: int
    attributes: pd.DataFrame
    links: pd.DataFrame
    similar: pd.DataFrame
    overlap: pd.DataFrame
    note: str | None = None
    all_links: pd.DataFrame = field(default_factory=lambda: _frame([], ["item", "label", "attr", "name"]))
    scores: pd.DataFrame = field(default_factory=lambda: _frame([], SCORE_COLUMNS))
    titles: dict[str, str] = field(default_factory=dict)


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
        Meta-path name → weight (rounded to 4 decimals), sorted by weight descending, then name.

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
        out[str(name)] = round(float(weight), 4)  # stored as float32: 0.1584 not 0.15839999914169312
    return dict(sorted(out.items(), key=lambda kv: (-kv[1], kv[0])))


def summary_source_label(source: str | None) -> str:
    """A human label for ``User.llm_summary_source`` (``llm:<model>`` or ``extractive``, with ``; lag N``
    when the user's last N training items were held back)."""
    if not source:
        return "source unknown"
    source, _, lag = source.partition("; lag ")
    tail = f", without the last {lag} training items" if lag else ""
    if source.startswith("llm:"):
        return f"LLM summary ({source[4:] or 'unnamed model'}{tail})"
    if source == "extractive":
        return f"Extractive summary (no LLM configured{tail})"
    return f"Summary ({source}{tail})"


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
        """RECOMMENDED lists of the user: ``run, rank, item, title, score, reason, why``, by run then rank."""
        rows = self._run("app_recommendations", {"id": user_id})
        return _frame(rows, ["run", "rank", "item", "title", "score", "reason", "why"])

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

    def catalogue_size(self) -> int:
        """Number of items in the store."""
        rows = self._run("app_item_count")
        return int(rows[0]["n"]) if rows else 0

    def attribute_items(self, attr_ids: Sequence[str]) -> pd.DataFrame:
        """How many catalogue items reach each attribute: ``label, attr, n``."""
        if not attr_ids:
            return _frame([], ["label", "attr", "n"])
        return _frame(self._run("app_attribute_items", {"attrs": list(attr_ids)}), ["label", "attr", "n"])

    def similar_edges(self, user_id: str, k: int = 5) -> pd.DataFrame:
        """The user's ``SIMILAR`` users as written by the newest run: ``user, similarity`` (best first)."""
        rows = self._run("app_similar_edges", {"id": user_id})
        return _frame(rows, ["user", "similarity"]).head(max(k, 0)).reset_index(drop=True)

    def held_out(self, user_id: str) -> pd.DataFrame:
        """The user's held-out test item and its test-time ranks per run:
        ``run, item, title, retriever_rank, final_rank, candidates``."""
        rows = self._run("app_held_out", {"id": user_id})
        return _frame(rows, ["run", "item", "title", "retriever_rank", "final_rank", "candidates"])

    def held_out_run(self, run_id: str) -> pd.DataFrame:
        """Every user's held-out rank of one run: ``user, item, retriever_rank, final_rank, n_train``."""
        rows = self._run("app_held_out_run", {"run": run_id})
        return _frame(rows, ["user", "item", "retriever_rank", "final_rank", "n_train"])

    def run_recommended(self, run_id: str) -> pd.DataFrame:
        """How often each item is in one run's written-back lists: ``item, n``."""
        return _frame(self._run("app_run_recommended", {"run": run_id}), ["item", "n"])

    def item_popularity(self) -> pd.DataFrame:
        """Training interactions per item: ``item, n``."""
        return _frame(self._run("app_item_popularity"), ["item", "n"])

    def entity_names(self, ids: Sequence[str]) -> pd.DataFrame:
        """Label and name of attribute/entity nodes: ``label, id, name``."""
        if not ids:
            return _frame([], ["label", "id", "name"])
        return _frame(self._run("app_entity_names", {"ids": list(ids)}), ["label", "id", "name"])

    def personas(self) -> pd.DataFrame:
        """Every stored persona: ``user, persona, planted_taste, occupation, age, gender, persona_run``."""
        cols = ["user", "persona", "planted_taste", "occupation", "age", "gender", "persona_run"]
        return _frame(self._run("app_personas"), cols)

    def user_labels(self, label: str) -> pd.DataFrame:
        """Per user, training interactions per attribute of ``label`` (a whitelisted node label):
        ``user, attr, name, n``."""
        if label not in ENTITY_LABELS:
            raise ValueError(f"unknown attribute label {label!r}; expected one of {', '.join(ENTITY_LABELS)}")
        return _frame(self._run("app_user_labels", {"label": label}), ["user", "attr", "name", "n"])

    def runs(self) -> list[RunRecord]:
        """The store's recorded runs, newest first (none for a store trained before runs were recorded)."""
        with self._lock:
            return list_runs(self.store)

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
        rank_by: str = "specificity",
    ) -> Neighbourhood:
        """Gather what the neighbourhood picture shows.

        Attributes are ranked by :func:`specificity` (``rank_by="specificity"``: a director most of whose
        films the user saw before a genre half the catalogue has) or by how many of the user's training
        items reach them (``rank_by="count"``), then by how many of the similar users share them, then by
        name. Two attributes of one name under different labels ("Gardening" the genre and the category)
        count once, the more telling one. Attributes that only one training item reaches are left out
        when the user has five or more. Shown items are those linked to the most top attributes, then the
        most recent.

        Similar users are the run's ``SIMILAR`` edges when the store has them, else the nearest personas
        by the vector index.

        Args:
            user_id: The user.
            persona: The user's persona vector (None: no similar users, with a note saying why).
            history: :meth:`history` of the user, if already read.
            k_users: Similar users to include.
            n_attributes: Top attributes to include.
            n_items: Training items to draw at most.
            with_attributes: False when the store has no item→attribute relationships (skips queries).
            rank_by: ``"specificity"`` or ``"count"``.
        """
        if rank_by not in ("specificity", "count"):
            raise ValueError(f"rank_by must be 'specificity' or 'count', got {rank_by!r}")
        hist = self.history(user_id) if history is None else history
        train = hist[hist["split"] == "train"].sort_values("pos")
        note = None
        similar = _frame([], ["user", "similarity"])
        if persona is None:
            note = "no persona yet (run `persona train`), so no similar users"
        elif k_users > 0:
            try:
                similar = self.similar_edges(user_id, k_users)
                if similar.empty:
                    similar = self.similar_users(user_id, persona, k_users)
            except StoreError as e:  # e.g. Neo4j without a vector index yet: draw the rest anyway
                note = f"similar users unavailable: {e}"

        edges = self.item_attributes(user_id) if with_attributes else _frame([], ["item", "rel", "label", "attr", "name"])
        edges = edges[edges["item"].isin(train["item"])]
        per_attr = (
            edges.drop_duplicates(["item", "label", "attr"])
            .groupby(["label", "attr"], as_index=False)
            .agg(name=("name", "first"), n_items=("item", "nunique"))
        )
        per_attr["name"] = [readable_name(n if isinstance(n, str) else None, a) for n, a in zip(per_attr["name"], per_attr["attr"])]
        if rank_by == "specificity" and len(per_attr):
            pool = per_attr.sort_values(["n_items", "attr"], ascending=[False, True]).head(_MAX_CANDIDATES)
            df = self.attribute_items(pool["attr"].tolist()).rename(columns={"n": "items_with"})
            per_attr = per_attr.merge(df, on=["label", "attr"], how="left")
            per_attr["items_with"] = per_attr["items_with"].fillna(per_attr["n_items"]).astype(int)
            per_attr["specificity"] = specificity(per_attr["n_items"], per_attr["items_with"], self.catalogue_size())
        else:
            per_attr["items_with"] = per_attr["n_items"].astype(int) if len(per_attr) else pd.Series(dtype=int)
            per_attr["specificity"] = per_attr["n_items"].astype(float) if len(per_attr) else pd.Series(dtype=float)
        per_attr["sort_name"] = per_attr["name"].astype(str)
        per_attr = per_attr.sort_values(["specificity", "n_items", "sort_name"], ascending=[False, False, True])
        scores = per_attr.drop_duplicates("sort_name" if rank_by == "specificity" else ["label", "attr"])
        pool = scores
        if len(train) >= 5 and (scores["n_items"] >= 2).any():
            pool = scores[scores["n_items"] >= 2]
        # Overlap is asked for the 50 best candidates only: it bounds the query size.
        candidates = pool.head(50)
        overlap = self.attribute_overlap(similar["user"].tolist(), candidates["attr"].tolist())
        overlap = overlap.merge(candidates[["label", "attr"]], on=["label", "attr"])  # same id, other label
        shared = overlap[overlap["n"] > 0].groupby(["label", "attr"]).size().rename("shared_by").reset_index()
        candidates = candidates.merge(shared, on=["label", "attr"], how="left")
        candidates["shared_by"] = candidates["shared_by"].fillna(0).astype(int)
        top = (
            candidates.sort_values(["specificity", "shared_by", "sort_name"], ascending=[False, False, True])
            .head(n_attributes)
            .drop(columns="sort_name")
            .reset_index(drop=True)
        )
        top = top[["label", "attr", "name", "n_items", "shared_by", "items_with", "specificity"]]
        links = edges.merge(top[["label", "attr"]], on=["label", "attr"])[["item", "label", "attr"]].drop_duplicates()
        per_item = links.groupby("item").size().rename("n_links")
        shown = train.assign(n_links=train["item"].map(per_item).fillna(0).astype(int))
        shown = shown.sort_values(["n_links", "pos"], ascending=[False, False]).head(n_items)
        shown = shown.sort_values("pos")[["item", "title", "pos"]].reset_index(drop=True)
        links = links[links["item"].isin(shown["item"])].sort_values(["item", "label", "attr"]).reset_index(drop=True)
        overlap = overlap.merge(top[["label", "attr"]], on=["label", "attr"]).sort_values(["user", "label", "attr"])
        all_links = edges.drop_duplicates(["item", "label", "attr"])[["item", "label", "attr"]].merge(
            per_attr[["label", "attr", "name"]], on=["label", "attr"], how="left")
        return Neighbourhood(
            user=user_id,
            items=shown,
            n_train=len(train),
            attributes=top,
            links=links,
            similar=similar,
            overlap=overlap[overlap["n"] > 0].reset_index(drop=True),
            note=note,
            all_links=all_links.reset_index(drop=True),
            scores=scores[SCORE_COLUMNS].reset_index(drop=True),
            titles={str(i): (t if isinstance(t, str) and t else str(i)) for i, t in zip(train["item"], train["title"])},
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
