"""Why an item is recommended: scored paths through the graph from what a user consumed to the item.

Three kinds of path, each scored so that **specific** evidence wins:

* **shared entity** — ``history item -[T]-> entity <-[T']- recommended item`` (a director, an author, a
  series, a genre, a category…). Score ``idf(e) · (1 + a_label) · (1 + ¼ ln n)``: ``idf(e) = ln(N / df(e))``
  with ``N`` items and ``df(e)`` the items linked to ``e`` (a director of 3 films beats "Drama" of 400);
  ``a_label`` is the share of the user's persona attention (``User.persona_attention``) on meta-paths
  through that label (``U-I-Person-I-U`` for a ``Person``), so the relations that shape the persona
  count more; ``n`` is how many history items share ``e``.
* **item–item edge** — ``history item -[ALSO_BUY|ALSO_VIEW|…]- recommended item``. Score
  ``ln(N) · (1 + a_I-I) · (1 + ¼ ln n)``: a direct link is as specific as an entity only two items share.
* **similar users** — of the user's ``SIMILAR`` users (top-K by persona), ``c`` consumed the item.
  Score ``ln(1 + c) · (1 + a_U-I-U) · ln(N) / 2``.

A recommended item with no path gets the explicit reason ``"no graph path: ranked from the session
sequence"``. :func:`explain` returns all paths; :func:`reasons` the compact form written on
``RECOMMENDED`` (``reason``: the best path in words, ``why``: compact JSON of the top two paths), readable by plain Cypher on
both stores: ``MATCH (:User {id: $u})-[r:RECOMMENDED]->(i) RETURN i.title, r.reason, r.why``.

Everything is computed in bulk with sparse matrices (one pass for all users' lists), so explaining every
list of a run costs seconds, not a query per row.
"""

from __future__ import annotations

import functools
import json
import math
import re
import urllib.parse
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import sparse

from persona.errors import ConfigError, NotFoundError
from persona.kgstore import GraphStore, Progress

NO_PATH = "no graph path: ranked from the session sequence"
#: How much the number of history items sharing the evidence counts, on a log scale: small, so that one
#: shared director (specific) still outranks a category fourteen history items share (generic).
COUNT_WEIGHT = 0.25
#: Pairs explained at once: the sparse products over a chunk (pairs × entities, users × pairs) and its paths
#: are what an explanation holds in memory, so a chunk bounds it (≈ 0.4 GiB here) whatever the number of lists.
PAIR_CHUNK = 20_000
#: Item-item relationship types that explain directly (SIMILAR is the run's own output: never evidence).
ITEM_ITEM_TYPES = ("ALSO_BUY", "ALSO_VIEW", "PREVIOUS_WORK", "SUBSEQUENT_WORK")
#: Verbs for the sentence of a shared-entity path, by relationship type.
_VERBS = {
    "DIRECTED_BY": "directed by", "STARRING": "starring", "WRITTEN_BY": "written by", "AUTHOR": "by",
    "IN_SERIES": "in the series", "HAS_GENRE": "in the genre", "LITERARY_GENRE": "in the genre",
    "IN_CATEGORY": "in the category", "HAS_BRAND": "from", "PUBLISHED_BY": "published by",
    "PRODUCED_BY": "produced by", "MUSIC_BY": "with music by", "HAS_SUBJECT": "about",
    "DISTRIBUTED_BY": "distributed by", "WON_AWARD": "winner of", "COVER_ARTIST": "with cover art by",
}


#: A DBpedia-style trailing disambiguator: "(film)", "(1999 film)", "(writer/producer)", "(band)".
_DISAMBIGUATOR = re.compile(r"\s+\((?=[^()]*[A-Za-z])[^()]*\)$")


def readable_name(name: str | None, ident: str = "") -> str:
    """A display name for an entity or item: its stored ``name``, else one derived from its IRI ``ident``.

    A DBpedia resource keeps everything after ``/resource/`` (``Frost/Nixon_(film)`` is one name, not
    ``Nixon (film)``), percent-escapes and underscores are undone, and a trailing disambiguator such as
    "(film)" or "(writer/producer)" is dropped (a year alone, as in "Toy Story (1995)", is kept). A stored
    name that is itself an IRI, or that is the last path segment of ``ident`` (what a naive split on ``/``
    makes of it), is derived again from ``ident``.

    Example:
        >>> readable_name(None, "http://dbpedia.org/resource/Fahrenheit_9/11")
        'Fahrenheit 9/11'
        >>> readable_name("Nixon (film)", "http://dbpedia.org/resource/Frost/Nixon_(film)")
        'Frost/Nixon'
    """
    text = str(name).strip() if name is not None else ""
    iri = str(ident or "")
    if "://" in text:
        iri, text = text, ""
    naive = urllib.parse.unquote(iri.rstrip("/").rsplit("/", 1)[-1].rsplit("#", 1)[-1]).replace("_", " ").strip()
    if "://" in iri and (not text or text == naive):
        tail = iri.split("/resource/", 1)[1] if "/resource/" in iri else iri.rstrip("/").rsplit("/", 1)[-1]
        text = urllib.parse.unquote(tail.rsplit("#", 1)[-1] if "/resource/" not in iri else tail).replace("_", " ")
    text = " ".join(text.split())
    if not text:
        return iri
    if "://" in iri or str(ident).startswith(("dbr:", "res:")):
        text = _DISAMBIGUATOR.sub("", text) or text
    return text


@dataclass
class Path:
    """One explanation path: nodes ``(label, id, name)`` and the relationship types between them."""

    kind: str  # "entity" | "item" | "users"
    score: float
    nodes: list[tuple[str, str, str]]
    rels: list[str]
    text: str
    extra: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind, "score": round(self.score, 4), "text": self.text,
            "nodes": [{"label": lab, "id": i, "name": n} for lab, i, n in self.nodes], "rels": self.rels, **self.extra,
        }


@dataclass
class GraphIndex:
    """The parts of the graph explanations read, as sparse matrices over item and entity indices."""

    items: list[str]
    item_index: dict[str, int]
    titles: dict[str, str]
    entities: list[tuple[str, str]]  # (label, id)
    entity_names: list[str]
    item_entity: sparse.csr_matrix  # items × entities, value = index+1 of the relationship type
    rel_types: list[str]
    item_item: sparse.csr_matrix  # items × items (symmetric), value = index+1 of the type
    item_rel_types: list[str]
    idf: np.ndarray  # per entity
    users: list[str] = field(default_factory=list)
    user_index: dict[str, int] = field(default_factory=dict)
    history: sparse.csr_matrix | None = None  # users × items (1 = consumed, any split)
    similar: sparse.csr_matrix | None = None  # users × users (SIMILAR edges)
    attention: dict[str, dict[str, float]] = field(default_factory=dict)

    @property
    def n_items(self) -> int:
        return len(self.items)

    @functools.cached_property
    def consumed(self) -> np.ndarray:
        """Every consumed (user, item) pair of :attr:`history` as one sorted int64 code, ``user * n_items +
        item`` (computed once per index: the explorer and ``persona serve`` explain many lists with one)."""
        if self.history is None:
            return np.zeros(0, dtype=np.int64)
        h = self.history.tocoo()
        keep = h.data > 0
        return np.unique(h.row[keep].astype(np.int64) * self.history.shape[1] + h.col[keep].astype(np.int64))


def load_index(store: GraphStore) -> GraphIndex:
    """Read items, item→entity and item–item edges, histories, SIMILAR users and persona attention."""
    edges = store.frame_named("export_kg_edges")
    inter = store.frame_named("rec_interactions")
    ents = store.frame_named("export_entity_text")
    items = sorted(set(inter["item"].astype(str)) | set(edges.loc[edges["src_label"] == "Item", "src"].astype(str)))
    item_index = {it: i for i, it in enumerate(items)}
    titles_rows = store.run_named("rec_item_titles", {"ids": items})
    titles = {r["id"]: r["title"] or r["id"] for r in titles_rows}
    names = {(str(lab), str(i)): (n if n is not None else None) for lab, i, n in zip(ents["label"], ents["id"], ents["name"])}

    ie = edges[(edges["src_label"] == "Item") & (edges["dst_label"] != "Item") & (edges["dst_label"] != "User")]
    ie = ie[ie["src"].astype(str).isin(item_index)]
    ent_keys = sorted(set(zip(ie["dst_label"].astype(str), ie["dst"].astype(str))))
    ent_index = {k: j for j, k in enumerate(ent_keys)}
    rel_types = sorted(set(ie["rel"].astype(str)))
    rel_index = {t: k for k, t in enumerate(rel_types)}
    rows = ie["src"].astype(str).map(item_index).to_numpy(dtype=np.int64)
    cols = np.array([ent_index[(a, b)] for a, b in zip(ie["dst_label"].astype(str), ie["dst"].astype(str))], dtype=np.int64)
    vals = ie["rel"].astype(str).map(rel_index).to_numpy(dtype=np.int64) + 1
    a = sparse.csr_matrix((vals.astype(np.float64), (rows, cols)), shape=(len(items), len(ent_keys)))
    a.sum_duplicates()
    a.data = np.minimum(a.data, len(rel_types))  # two types to one entity: keep one (rare)
    df = np.asarray((a > 0).sum(axis=0)).ravel()
    idf = np.log(max(len(items), 1) / np.maximum(df, 1))

    ii = edges[(edges["src_label"] == "Item") & (edges["dst_label"] == "Item") & edges["rel"].isin(ITEM_ITEM_TYPES)]
    ii = ii[ii["src"].astype(str).isin(item_index) & ii["dst"].astype(str).isin(item_index)]
    item_rel_types = sorted(set(ii["rel"].astype(str)))
    ir_index = {t: k for k, t in enumerate(item_rel_types)}
    r2 = ii["src"].astype(str).map(item_index).to_numpy(dtype=np.int64)
    c2 = ii["dst"].astype(str).map(item_index).to_numpy(dtype=np.int64)
    v2 = ii["rel"].astype(str).map(ir_index).to_numpy(dtype=np.float64) + 1.0
    b = sparse.csr_matrix((np.concatenate([v2, v2]), (np.concatenate([r2, c2]), np.concatenate([c2, r2]))),
                          shape=(len(items), len(items)))
    b.data = np.minimum(b.data, max(len(item_rel_types), 1))

    users = sorted(set(inter["user"].astype(str)))
    user_index = {u: i for i, u in enumerate(users)}
    pos = pd.to_numeric(inter["pos"], errors="coerce").fillna(0).to_numpy(dtype=np.float64)
    h = sparse.csr_matrix(
        (pos + 1.0, (inter["user"].astype(str).map(user_index).to_numpy(dtype=np.int64),
                     inter["item"].astype(str).map(item_index).to_numpy(dtype=np.int64))),
        shape=(len(users), len(items)),
    )  # value: chronological position + 1, so "like …" names the most recent history items
    sim_rows = store.run_named("explain_similar_users")
    s_r = [user_index[r["src"]] for r in sim_rows if r["src"] in user_index and r["dst"] in user_index]
    s_c = [user_index[r["dst"]] for r in sim_rows if r["src"] in user_index and r["dst"] in user_index]
    s = sparse.csr_matrix((np.ones(len(s_r)), (s_r, s_c)), shape=(len(users), len(users)))
    att: dict[str, dict[str, float]] = {}
    for r in store.run_named("explain_user_attention"):
        try:
            v = json.loads(r["att"]) if r["att"] else {}
        except (TypeError, ValueError):
            v = {}
        if isinstance(v, dict):
            att[r["id"]] = {str(k): float(x) for k, x in v.items() if isinstance(x, (int, float))}
    return GraphIndex(
        items=items, item_index=item_index, titles=titles, entities=ent_keys,
        entity_names=[readable_name(names.get(k), k[1]) for k in ent_keys], item_entity=a, rel_types=rel_types,
        item_item=b.tocsr(), item_rel_types=item_rel_types, idf=idf, users=users, user_index=user_index,
        history=h, similar=s, attention=att,
    )


def label_attention(att: Mapping[str, float], label: str) -> float:
    """The share of a persona's attention on meta-paths through ``label`` (``U-I-<label>-I-U``,
    ``U-I-<label>``); ``I-I`` for item–item paths, ``U-I-U`` for similar users."""
    if label in ("I-I", "U-I-U"):
        return float(sum(v for k, v in att.items() if label in k.split("-", 1)[-1] or k == label))
    return float(sum(v for k, v in att.items() if f"-{label}" in k))


def explain(
    index: GraphIndex,
    pairs: pd.DataFrame,
    *,
    histories: Mapping[str, Sequence[str]] | None = None,
    similar: Mapping[str, Sequence[str]] | None = None,
    attention: Mapping[str, Mapping[str, float]] | None = None,
    k: int = 3,
) -> dict[tuple[str, str], list[Path]]:
    """Up to ``k`` scored paths for each ``(user, item)`` of ``pairs`` (columns ``user``, ``item``).

    ``histories`` / ``similar`` / ``attention`` override the stored ones (an anonymous session passes its
    items, its nearest users by persona and no attention). Best path first; an empty list means no path.
    """
    if k < 1:
        raise ConfigError(f"--k must be at least 1, got {k}")
    out: dict[tuple[str, str], list[Path]] = {}
    for _, part in _explain_chunks(index, pairs, histories=histories, similar=similar, attention=attention, k=k):
        out.update(part)
    return out


def explain_reasons(
    index: GraphIndex, pairs: pd.DataFrame, *, keep: int = 2, progress: Progress | None = None
) -> pd.DataFrame:
    """:func:`reasons` of :func:`explain` for ``pairs``, ``PAIR_CHUNK`` pairs at a time, so memory stays that of
    one chunk's paths however many lists are explained (the write-back of every user's list); ``progress``
    hears ``("explanations", pairs done, pairs)`` after each chunk."""
    frames = []
    for done, part in _explain_chunks(index, pairs, histories=None, similar=None, attention=None, k=3):
        frames.append(reasons(part, keep=keep))
        if progress is not None:
            progress("explanations", done, len(pairs))
    return pd.concat(frames, ignore_index=True) if frames else reasons({}, keep=keep)


def _explain_chunks(
    index: GraphIndex,
    pairs: pd.DataFrame,
    *,
    histories: Mapping[str, Sequence[str]] | None,
    similar: Mapping[str, Sequence[str]] | None,
    attention: Mapping[str, Mapping[str, float]] | None,
    k: int,
) -> Iterator[tuple[int, dict[tuple[str, str], list[Path]]]]:
    """``(pairs done, paths of the chunk)`` per ``PAIR_CHUNK`` pairs; the item–entity matrices once for all."""
    a_bin = (index.item_entity > 0).astype(np.float64).tocsr()
    a_csc = index.item_entity.tocsc()
    a_csc.sort_indices()
    for start in range(0, len(pairs), PAIR_CHUNK):
        part = pairs.iloc[start : start + PAIR_CHUNK]
        yield start + len(part), _explain_part(index, part, a_bin, a_csc, histories=histories, similar=similar,
                                               attention=attention, k=k)


def _similar_consumed(similar: sparse.csr_matrix, rows: np.ndarray, items: np.ndarray, consumed: np.ndarray,
                      n_items: int) -> tuple[np.ndarray, np.ndarray]:
    """Per pair (user row, item): how many of the user's SIMILAR users consumed the item, and of how many
    (``consumed``: :attr:`GraphIndex.consumed`).

    Each pair's few similar users are looked up in the sorted ``consumed`` codes, so a pair costs its
    similar users, not the item's whole column of consumers (which grows with the users: a popular item's
    column, copied once per pair, made this step quadratic in the data)."""
    su = similar[rows].tocoo()
    code = su.col.astype(np.int64) * n_items + items[su.row]
    at = np.minimum(np.searchsorted(consumed, code), max(len(consumed) - 1, 0))
    hit = consumed[at] == code if len(consumed) else np.zeros(len(code), dtype=bool)
    count = np.bincount(su.row, weights=su.data * hit, minlength=len(rows))
    total = np.bincount(su.row, weights=su.data, minlength=len(rows))
    return count.astype(int), total.astype(int)


def _explain_part(
    index: GraphIndex,
    pairs: pd.DataFrame,
    a_bin: sparse.csr_matrix,
    a_csc: sparse.csc_matrix,
    *,
    histories: Mapping[str, Sequence[str]] | None,
    similar: Mapping[str, Sequence[str]] | None,
    attention: Mapping[str, Mapping[str, float]] | None,
    k: int,
) -> dict[tuple[str, str], list[Path]]:
    n = max(index.n_items, 2)
    log_n = math.log(n)
    users = pairs["user"].astype(str).tolist()
    items = pairs["item"].astype(str).tolist()
    r_idx = np.array([index.item_index.get(i, -1) for i in items])
    if (r_idx < 0).any():
        bad = items[int(np.argmax(r_idx < 0))]
        raise NotFoundError(f"unknown item {bad!r}: not in the store's catalogue")
    # history rows (users × items) for the distinct users of the pairs
    keys = sorted(set(users))
    if histories is not None:
        hrows = [[index.item_index[i] for i in histories.get(u, ()) if i in index.item_index] for u in keys]
        hist = sparse.csr_matrix(
            (np.concatenate([np.arange(1.0, len(r) + 1) for r in hrows]) if hrows else np.zeros(0),
             (np.repeat(np.arange(len(keys)), [len(r) for r in hrows]), np.array([c for r in hrows for c in r], dtype=np.int64))),
            shape=(len(keys), index.n_items),
        )
    else:
        assert index.history is not None
        missing = [u for u in keys if u not in index.user_index]
        if missing:
            raise NotFoundError(f"unknown user {missing[0]!r}: not in the store")
        hist = index.history[[index.user_index[u] for u in keys]]
    recency = hist.tocsr()
    hist = (recency > 0).astype(np.float64).tocsr()
    urow = {u: j for j, u in enumerate(keys)}
    p_rows = np.array([urow[u] for u in users], dtype=np.int64)
    counts = (hist @ a_bin).tocsr()  # users × entities: history items reaching each entity
    shared = a_bin[r_idx].multiply(counts[p_rows]).tocsr()  # pairs × entities: n sharing
    direct = index.item_item[r_idx].multiply(hist[p_rows]).tocsr()  # pairs × items: direct links to history
    # similar users who consumed the item
    if similar is not None:
        sim_count = np.array([
            int(sum(1 for v in similar.get(u, ()) if v in index.user_index and index.history is not None
                    and index.history[index.user_index[v], r] > 0))
            for u, r in zip(users, r_idx)
        ])
        sim_total = np.array([len(similar.get(u, ())) for u in users])
    elif index.similar is not None and index.history is not None:
        sim_count, sim_total = _similar_consumed(
            index.similar, np.array([index.user_index[u] for u in users], dtype=np.int64), r_idx, index.consumed,
            index.history.shape[1])
    else:
        sim_count = np.zeros(len(users), dtype=int)
        sim_total = np.zeros(len(users), dtype=int)
    att_all = attention if attention is not None else index.attention
    hist_lists = {}
    for u, j in urow.items():  # each user's history, most recent first
        row = recency.getrow(j)
        hist_lists[u] = row.indices[np.argsort(-row.data, kind="stable")]
    out: dict[tuple[str, str], list[Path]] = {}
    # per label, each user's attention share (one look-up per pair instead of a scan per entity)
    labels = sorted({lab for lab, _ in index.entities})
    lab_of = {lab: j for j, lab in enumerate(labels)}
    ent_lab = np.array([lab_of[lab] for lab, _ in index.entities], dtype=np.int64)
    shares: dict[str, tuple[np.ndarray, float, float]] = {}
    for u in keys:
        att = att_all.get(u, {})
        shares[u] = (np.array([label_attention(att, lab) for lab in labels]), label_attention(att, "I-I"),
                     label_attention(att, "U-I-U"))
    for p, (u, it, r) in enumerate(zip(users, items, r_idx)):
        lab_share, ii_share, uu_share = shares[u]
        cands: list[Path] = []
        lo, hi = shared.indptr[p], shared.indptr[p + 1]
        if hi > lo:
            cols, nshare = shared.indices[lo:hi], shared.data[lo:hi]
            sc = index.idf[cols] * (1 + lab_share[ent_lab[cols]]) * (1 + COUNT_WEIGHT * np.log(nshare))
            for j in np.argsort(-sc, kind="stable")[:k]:
                if sc[j] <= 1e-9:  # an entity every item has ("Books") explains nothing
                    break
                cands.append(_entity_path(index, a_csc, it, int(r), int(cols[j]), hist_lists[u], float(sc[j])))
        lo, hi = direct.indptr[p], direct.indptr[p + 1]
        if hi > lo:
            base = log_n * (1 + ii_share) * (1 + COUNT_WEIGHT * math.log(hi - lo))
            order = {int(h): n for n, h in enumerate(hist_lists[u])}
            pairs_ = sorted(zip(direct.indices[lo:hi], direct.data[lo:hi]), key=lambda x: order.get(int(x[0]), 0))
            for h_i, t in pairs_[:k]:
                rel = index.item_rel_types[int(t) - 1]
                hid = index.items[int(h_i)]
                cands.append(Path(
                    "item", base, [("Item", hid, index.titles.get(hid, hid)), ("Item", it, index.titles.get(it, it))],
                    [rel], f"{_rel_words(rel)} {_title(index, hid)}",
                ))
        c = int(sim_count[p])
        if c > 0:
            total = int(sim_total[p])
            cands.append(Path(
                "users", math.log(1 + c) * (1 + uu_share) * log_n / 2,
                [("User", u, u), ("Item", it, index.titles.get(it, it))], ["SIMILAR", "RATED"],
                f"{c} of your {total} most similar users consumed it", {"similar_users": c, "of": total},
            ))
        cands.sort(key=lambda x: -x.score)
        out[(u, it)] = cands[:k]
    return out


def _title(index: GraphIndex, item: str) -> str:
    t = index.titles.get(item) or item
    return f"“{t}”"


def _rel_words(rel: str) -> str:
    return {"ALSO_BUY": "bought together with", "ALSO_VIEW": "viewed together with",
            "PREVIOUS_WORK": "the sequel/prequel of", "SUBSEQUENT_WORK": "the sequel/prequel of"}.get(rel, rel.lower())


def relation_words(rel: str) -> str:
    """How a reason says a relationship type: ``DIRECTED_BY`` → "directed by", ``ALSO_VIEW`` → "viewed
    together with" (the words :func:`explain`'s sentences use)."""
    if rel in ITEM_ITEM_TYPES:
        return _rel_words(rel)
    return _VERBS.get(rel, rel.lower().replace("_", " "))


def _entity_path(index: GraphIndex, a_csc: sparse.csc_matrix, item: str, r: int, e: int, hist: np.ndarray,
                 score: float) -> Path:
    lo, hi = a_csc.indptr[e], a_csc.indptr[e + 1]
    linked, types = a_csc.indices[lo:hi], a_csc.data[lo:hi]  # items of entity e (sorted), their rel types
    # history items sharing e, most recent first: a look-up of the few history items in the sorted column
    # (np.isin would sort the column, thousands of items for a popular entity, once per pair)
    at = np.minimum(np.searchsorted(linked, hist), len(linked) - 1)
    via = hist[(linked[at] == hist) & (hist != r)]
    t_r = index.rel_types[int(types[np.searchsorted(linked, r)]) - 1]
    t_h = index.rel_types[int(types[np.searchsorted(linked, via[0])]) - 1] if len(via) else ""
    hid = index.items[int(via[0])] if len(via) else item
    label, eid = index.entities[e]
    name = index.entity_names[e] or eid
    shown = ", ".join(_title(index, index.items[int(h)]) for h in via[:2]) + (f" and {len(via) - 2} more" if len(via) > 2 else "")
    verb = _VERBS.get(t_r, t_r.lower().replace("_", " "))
    text = f"{verb} {name}, like {shown}" if len(via) else f"{verb} {name}"
    return Path(
        "entity", score,
        [("Item", hid, index.titles.get(hid, hid)), (label, eid, name), ("Item", item, index.titles.get(item, item))],
        [t_h, t_r], text, {"shared_by": len(via), "idf": round(float(index.idf[e]), 4)},
    )


def reasons(paths: Mapping[tuple[str, str], list[Path]], *, keep: int = 2) -> pd.DataFrame:
    """The compact form written on ``RECOMMENDED``: ``user, item, reason`` (the best path in words) and
    ``why`` (JSON list of the top ``keep`` paths, each ``[kind, score, via…]``: ``["entity", 2.31,
    "<history item>", "<REL>", "<entity id>"]``, ``["item", 5.4, "<history item>", "<REL>"]``, ``["users",
    1.2, <similar users who consumed it>, <of>]``)."""
    rows = []
    for (u, it), ps in paths.items():
        if not ps:
            rows.append((u, it, NO_PATH, "[]"))
            continue
        why = []
        for p in ps[:keep]:
            if p.kind == "entity":
                why.append(["entity", round(p.score, 2), p.nodes[0][1], p.rels[1], p.nodes[1][1]])
            elif p.kind == "item":
                why.append(["item", round(p.score, 2), p.nodes[0][1], p.rels[0]])
            else:
                why.append(["users", round(p.score, 2), p.extra.get("similar_users"), p.extra.get("of")])
        rows.append((u, it, ps[0].text, json.dumps(why, separators=(",", ":"), ensure_ascii=False)))
    return pd.DataFrame(rows, columns=["user", "item", "reason", "why"])
