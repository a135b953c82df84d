"""Does a persona carry taste? Checks of learned personas against ground truth and baselines.

* :func:`kmeans_nmi` / :func:`planted_taste_report` — on generated data (``persona ingest demo``),
  k-means clusters of personas against ``User.planted_taste``, next to random vectors (chance level),
  the mean of the user's training-item text embeddings, and (optionally) an HDGI ablation trained on
  random item features (``HDGISettings.item_features='random'``).
* :func:`heldout_genre_report` — on real data (ML-100K + genres), how well a vector predicts the
  genres of the user's *held-out* (valid + test) items: personas vs random vectors vs a bag-of-items
  baseline (the user's training items as a multi-hot vector), with cross-validated logistic regression.
  Reported: top-1 hit rate (the most probable genre is among the held-out items' genres), and accuracy
  and macro-F1 on the dominant held-out genre.
* Similarity of stored personas (what vector indexes, Cypher cosine and similarity edges use):
  :func:`persona_geometry` (mean cosine of random user pairs, the mean vector against the spread, the
  principal components and how the first tracks user activity), :func:`taste_precision` /
  :func:`planted_taste_precision` (share of a user's k most similar users with its planted taste) and
  :func:`neighbour_overlap_lift` (how much more a user's k most similar users share the attributes of
  the user's *held-out* items than k random users do).

Why one long module: every diagnostic reads the same exported frames and shares the neighbour
search (:func:`cosine_neighbours`) and the bag-of-items matrices.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any, Literal, overload

import numpy as np
import pandas as pd
from scipy import sparse
from sklearn.cluster import KMeans
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import f1_score, normalized_mutual_info_score
from sklearn.model_selection import KFold, StratifiedKFold
from sklearn.preprocessing import StandardScaler

from persona.errors import ModelError
from persona.kgstore import GraphStore


def _frame(store: GraphStore, name: str) -> pd.DataFrame:
    return store.frame_named(name)


def random_vectors(n: int, dim: int, seed: int = 0) -> np.ndarray:
    """Gaussian vectors, the chance-level baseline."""
    return np.random.default_rng(seed).standard_normal((n, dim)).astype(np.float32)


def kmeans_nmi(
    vectors: np.ndarray, labels: Sequence[int] | np.ndarray, *, k: int | None = None, seed: int = 0
) -> float:
    """NMI between k-means clusters of ``vectors`` and ``labels`` (``k`` = number of distinct labels).

    Args:
        vectors: ``[n, d]``.
        labels: Ground-truth class per row.
        k: Clusters (default: number of distinct labels).
        seed: k-means seed (10 restarts).
    """
    y = np.asarray(labels)
    if len(y) != len(vectors):
        raise ValueError(f"{len(vectors)} vectors but {len(y)} labels")
    k = k or len(np.unique(y))
    pred = KMeans(n_clusters=k, n_init=10, random_state=seed).fit_predict(
        np.asarray(vectors, dtype=np.float64)
    )
    return float(normalized_mutual_info_score(y, pred))


def mean_item_text(store: GraphStore, user_ids: Sequence[str]) -> np.ndarray:
    """Per user, the mean text embedding of its training items (a no-learning baseline)."""
    from .export import embeddings_from_column

    items = _frame(store, "export_items")
    x, _ = embeddings_from_column(items["text_emb"])
    if x is None:
        raise ModelError("items have no text_emb; run `persona train personas` (text encoding) first")
    idx = pd.Index(items["id"].astype(str))
    r = _frame(store, "export_rated_train")
    u = pd.Index([str(v) for v in user_ids]).get_indexer(r["src"].astype(str))
    i = idx.get_indexer(r["dst"].astype(str))
    ok = (u >= 0) & (i >= 0)
    m = sparse.csr_matrix((np.ones(ok.sum()), (u[ok], i[ok])), shape=(len(user_ids), len(idx)))
    deg = np.asarray(m.sum(1)).clip(min=1)
    return np.asarray(m @ x) / deg


def planted_taste_report(
    store: GraphStore,
    user_ids: Sequence[str],
    personas: np.ndarray,
    *,
    ablation: np.ndarray | None = None,
    seed: int = 0,
) -> dict[str, float]:
    """k-means NMI against ``User.planted_taste`` for personas and baselines.

    Args:
        store: Store holding a generated graph (users with ``planted_taste``).
        user_ids: Row ids of ``personas``.
        personas: ``[n, d]`` persona vectors.
        ablation: Optional personas trained with random item features (same rows).
        seed: Seed of k-means and of the random baseline.

    Returns:
        ``{"personas": nmi, "random": nmi, "mean_item_text": nmi, ["random_item_features": nmi], "users": n}``.

    Raises:
        ValueError: no user has a planted taste (not generated data).
    """
    info = _frame(store, "export_user_info")
    taste = dict(zip(info["id"].astype(str), info["planted_taste"]))
    rows = [
        n for n, u in enumerate(user_ids) if taste.get(str(u)) is not None and not pd.isna(taste.get(str(u)))
    ]
    if not rows:
        raise ValueError(
            "no user has planted_taste; this check needs a generated graph (`persona ingest demo`)"
        )
    y = np.array([int(taste[str(user_ids[n])]) for n in rows])
    ids = [str(user_ids[n]) for n in rows]
    out = {
        "users": float(len(rows)),
        "personas": kmeans_nmi(personas[rows], y, seed=seed),
        "random": kmeans_nmi(random_vectors(len(rows), personas.shape[1], seed), y, seed=seed),
        "mean_item_text": kmeans_nmi(mean_item_text(store, ids), y, seed=seed),
    }
    if ablation is not None:
        out["random_item_features"] = kmeans_nmi(ablation[rows], y, seed=seed)
    return out


def heldout_genres(store: GraphStore, *, label: str = "Genre") -> dict[str, list[str]]:
    """user id → genre names (``label`` nodes) of the user's held-out items, with repetition."""
    held = _frame(store, "export_rated_heldout")
    kg = _frame(store, "export_kg_edges")
    kg = kg[(kg["src_label"].astype(str) == "Item") & (kg["dst_label"].astype(str) == label)]
    item_genres: dict[str, list[str]] = {}
    for s, d in zip(kg["src"].astype(str), kg["dst"].astype(str)):
        item_genres.setdefault(s, []).append(d)
    out: dict[str, list[str]] = {}
    for u, i in zip(held["src"].astype(str), held["dst"].astype(str)):
        out.setdefault(u, []).extend(item_genres.get(i, []))
    return {u: g for u, g in out.items() if g}


def _bag_of_items(store: GraphStore, user_ids: Sequence[str]) -> sparse.csr_matrix:
    r = _frame(store, "export_rated_train")
    items = pd.Index(sorted(set(r["dst"].astype(str))))
    u = pd.Index([str(v) for v in user_ids]).get_indexer(r["src"].astype(str))
    i = items.get_indexer(r["dst"].astype(str))
    ok = u >= 0
    return sparse.csr_matrix((np.ones(ok.sum()), (u[ok], i[ok])), shape=(len(user_ids), len(items)))


def _cv_scores(
    X: Any, genre_sets: list[set[str]], dominant: np.ndarray, classes: list[str], seed: int
) -> dict[str, float]:
    """Cross-validated multi-label LR (top-1 hit) and multiclass LR (dominant genre accuracy, macro-F1)."""
    n = len(dominant)
    Y = np.array([[c in s for c in classes] for s in genre_sets], dtype=int)
    counts = Counter(dominant.tolist())
    strat = min(counts.values()) >= 5
    folds = (
        StratifiedKFold(5, shuffle=True, random_state=seed)
        if strat
        else KFold(5, shuffle=True, random_state=seed)
    ).split(np.zeros(n), dominant if strat else None)
    hits = np.zeros(n, dtype=bool)
    pred_dom = np.empty(n, dtype=object)
    dense = not sparse.issparse(X)
    for train, test in folds:
        Xtr, Xte = X[train], X[test]
        if dense:
            sc = StandardScaler().fit(Xtr)
            Xtr, Xte = sc.transform(Xtr), sc.transform(Xte)
        probs = np.zeros((len(test), len(classes)))
        for c in range(len(classes)):
            yc = Y[train, c]
            if yc.min() == yc.max():
                probs[:, c] = yc[0]
                continue
            clf = LogisticRegression(max_iter=2000, C=0.5).fit(Xtr, yc)
            probs[:, c] = clf.predict_proba(Xte)[:, 1]
        top = probs.argmax(1)
        hits[test] = Y[test, top].astype(bool)
        train_classes = sorted(set(dominant[train]))
        if len(train_classes) == 1:
            pred_dom[test] = train_classes[0]
        else:
            clf = LogisticRegression(max_iter=2000, C=0.5).fit(Xtr, dominant[train])
            pred_dom[test] = clf.predict(Xte)
    return {
        "top1_hit": float(hits.mean()),
        "dominant_accuracy": float((pred_dom == dominant).mean()),
        "dominant_macro_f1": float(f1_score(dominant, pred_dom.astype(str), average="macro")),
    }


def heldout_genre_report(
    store: GraphStore,
    user_ids: Sequence[str],
    personas: np.ndarray,
    *,
    label: str = "Genre",
    seed: int = 0,
) -> dict[str, Any]:
    """How well user vectors predict the genres of the user's held-out (valid + test) items.

    The dominant genre of a user is the most frequent genre among its held-out items; ties go to the
    genre that is rarer over all held-out items, then alphabetically (so a tie is not always "Drama").

    Args:
        store: Store with ``RATED`` splits and ``Item -[…]-> label`` edges (ML-100K genres).
        user_ids: Row ids of ``personas``.
        personas: ``[n, d]``.
        label: Attribute label holding genres.
        seed: Seed of the folds and of the random baseline.

    Returns:
        ``{"users": n, "classes": k, "majority": acc, "personas": {...}, "random": {...},
        "bag_of_items": {...}}`` where each ``{...}`` has ``top1_hit``, ``dominant_accuracy``,
        ``dominant_macro_f1``.

    Raises:
        ValueError: no user has held-out items with genres.
    """
    hg = heldout_genres(store, label=label)
    rows = [n for n, u in enumerate(user_ids) if str(u) in hg]
    if len(rows) < 10:
        raise ValueError(f"only {len(rows)} users have held-out items with {label} edges; need at least 10")
    ids = [str(user_ids[n]) for n in rows]
    overall = Counter(g for u in ids for g in hg[u])
    dominant = np.array(
        [min(Counter(hg[u]).items(), key=lambda kv: (-kv[1], overall[kv[0]], kv[0]))[0] for u in ids],
        dtype=object,
    ).astype(str)
    sets = [set(hg[u]) for u in ids]
    classes = sorted(overall)
    majority = Counter(dominant.tolist()).most_common(1)[0][1] / len(dominant)
    return {
        "users": len(rows),
        "classes": len(classes),
        "majority": float(majority),
        "personas": _cv_scores(np.asarray(personas)[rows], sets, dominant, classes, seed),
        "random": _cv_scores(
            random_vectors(len(rows), personas.shape[1], seed), sets, dominant, classes, seed
        ),
        "bag_of_items": _cv_scores(_bag_of_items(store, ids), sets, dominant, classes, seed),
    }


def _unit(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    return x / np.linalg.norm(x, axis=1, keepdims=True).clip(min=1e-12)


def mean_pair_cosine(vectors: np.ndarray, *, pairs: int = 20_000, seed: int = 0) -> float:
    """Mean cosine between ``pairs`` random pairs of distinct rows (≈ 0 for isotropic vectors)."""
    n = len(vectors)
    if n < 2:
        raise ValueError(f"need at least 2 vectors, got {n}")
    rng = np.random.default_rng(seed)
    a = rng.integers(0, n, pairs)
    b = (a + rng.integers(1, n, pairs)) % n  # b != a
    x = _unit(vectors)
    return float((x[a] * x[b]).sum(1).mean())


@overload
def cosine_neighbours(
    vectors: np.ndarray, k: int = ..., *, chunk: int = ..., return_scores: Literal[False] = ...
) -> np.ndarray: ...
@overload
def cosine_neighbours(
    vectors: np.ndarray, k: int = ..., *, chunk: int = ..., return_scores: Literal[True]
) -> tuple[np.ndarray, np.ndarray]: ...
def cosine_neighbours(
    vectors: np.ndarray, k: int = 10, *, chunk: int = 1024, return_scores: bool = False
) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """``[n, k]`` row indices of each row's ``k`` most cosine-similar other rows, most similar first
    (equal scores: lower row index first); with ``return_scores`` also the ``[n, k]`` cosines.

    The one top-k cosine of the project: :func:`persona.similarity.top_k_cosine` (SIMILAR edges) builds
    on it."""
    x = _unit(vectors).astype(np.float32)
    n = len(x)
    k = min(k, n - 1)
    # a chunk's similarity row block and argpartition's int64 indices are chunk × n each: cap the block at
    # ~2²⁴ cells (≈ 0.2 GiB with its temporaries) so 100k users cost what 10k do
    chunk = max(1, min(chunk, (1 << 24) // max(n, 1)))
    out = np.empty((n, k), dtype=np.int64)
    scores = np.empty((n, k), dtype=np.float32)
    for start in range(0, n, chunk):
        sim = x[start : start + chunk] @ x.T
        rows = np.arange(sim.shape[0])
        sim[rows, start + rows] = -np.inf
        top = np.argpartition(-sim, k - 1, axis=1)[:, :k]
        vals = np.take_along_axis(sim, top, 1)
        order = np.lexsort((top, -vals), axis=1)
        out[start : start + chunk] = np.take_along_axis(top, order, 1)
        scores[start : start + chunk] = np.take_along_axis(vals, order, 1)
    return (out, scores) if return_scores else out


def user_activity(store: GraphStore, user_ids: Sequence[str]) -> np.ndarray:
    """Training interactions per user (rows of ``user_ids``)."""
    r = _frame(store, "export_rated_train")
    counts = r["src"].astype(str).value_counts()
    return np.array([int(counts.get(str(u), 0)) for u in user_ids], dtype=np.int64)


def persona_geometry(
    vectors: np.ndarray, activity: np.ndarray | None = None, *, seed: int = 0, components: int = 3
) -> dict[str, Any]:
    """Why (or whether) vectors collapse: a shared direction, its size against the spread, activity.

    Returns:
        ``mean_pair_cosine``; ``mean_norm`` (norm of the mean vector), ``spread`` (RMS distance to the
        mean) and their ratio ``mean_to_spread`` (≫ 1: every vector is mostly the same vector);
        ``explained_variance`` of the first ``components`` principal components (of the centred
        vectors); ``positive_share`` of the entries; and with ``activity`` (interactions per row) the
        Pearson correlations with log activity of the first PC score (``pc1_activity_corr``), of the
        norm (``norm_activity_corr``) and of the cosine to the mean vector (``cos_to_mean_activity_corr``,
        None when the vectors are centred).
    """
    x = np.asarray(vectors, dtype=np.float64)
    mu = x.mean(0)
    c = x - mu
    spread = float(np.sqrt((c**2).sum(1).mean()))
    _, sv, vt = np.linalg.svd(c, full_matrices=False)
    ev = sv**2 / max(float((sv**2).sum()), 1e-300)
    out: dict[str, Any] = {
        "mean_pair_cosine": mean_pair_cosine(x, seed=seed),
        "mean_norm": float(np.linalg.norm(mu)),
        "spread": spread,
        "mean_to_spread": float(np.linalg.norm(mu) / max(spread, 1e-12)),
        "explained_variance": [float(v) for v in ev[:components]],
        "positive_share": float((x > 0).mean()),
    }
    if activity is not None:
        la = np.log(np.asarray(activity, dtype=np.float64).clip(min=1))

        def corr(v: np.ndarray) -> float:
            return float(np.corrcoef(v, la)[0, 1]) if v.std() > 0 and la.std() > 0 else float("nan")

        out["pc1_activity_corr"] = corr(c @ vt[0])
        out["norm_activity_corr"] = corr(np.linalg.norm(x, axis=1))
        # centred vectors have no mean direction to be close to
        has_mean = float(np.linalg.norm(mu)) > 1e-4 * max(spread, 1e-12)
        out["cos_to_mean_activity_corr"] = corr(_unit(x) @ (mu / np.linalg.norm(mu))) if has_mean else None
    return out


def taste_precision(vectors: np.ndarray, labels: Sequence[int] | np.ndarray, k: int = 10) -> float:
    """Share of each row's ``k`` most cosine-similar rows that have its label, averaged over rows."""
    y = np.asarray(labels)
    if len(y) != len(vectors):
        raise ValueError(f"{len(vectors)} vectors but {len(y)} labels")
    nb = cosine_neighbours(vectors, k)
    return float((y[nb] == y[:, None]).mean())


def planted_taste_precision(store: GraphStore, user_ids: Sequence[str], vectors: np.ndarray, k: int = 10) -> float:
    """:func:`taste_precision` against ``User.planted_taste`` (generated data), over users that have one.

    Raises:
        ValueError: no user has a planted taste.
    """
    info = _frame(store, "export_user_info")
    taste = dict(zip(info["id"].astype(str), info["planted_taste"]))
    rows = [n for n, u in enumerate(user_ids) if not pd.isna(taste.get(str(u)))]
    if not rows:
        raise ValueError(
            "no user has planted_taste; this check needs a generated graph (`persona ingest demo`)"
        )
    y = np.array([int(taste[str(user_ids[n])]) for n in rows])
    return taste_precision(np.asarray(vectors)[rows], y, k)


def neighbour_overlap_lift(
    store: GraphStore,
    user_ids: Sequence[str],
    vectors: np.ndarray,
    *,
    rels: Sequence[str] = ("HAS_GENRE", "DIRECTED_BY"),
    k: int = 10,
    draws: int = 20,
    seed: int = 0,
    activity: np.ndarray | None = None,
) -> dict[str, Any]:
    """How much more a user's ``k`` most similar users share its *held-out* items' attributes than random users.

    For each relationship type ``rel`` (``Item -[rel]-> attribute``) and user ``u``, ``A_u`` is the set of
    attributes of ``u``'s held-out (valid + test) items. The overlap of another user ``v`` with ``u`` is

    * ``share``: the share of ``v``'s training items that carry an attribute in ``A_u`` — normalised by
      ``v``'s activity, so a heavy rater is not a good neighbour just for having rated everything;
    * ``coverage``: the share of ``A_u`` found among ``v``'s training items' attributes (rewards heavy
      raters; reported for comparison).

    Each is averaged over ``u``'s ``k`` nearest users (cosine of ``vectors``) and over ``k`` random other
    users (``draws`` draws), then over the users with a non-empty ``A_u``; the lift is the ratio of the
    two means. ``neighbour_activity_ratio`` is the mean activity of the nearest users over the mean
    activity of all users (1 = neighbours as active as anyone).

    Returns:
        ``{rel: {"users": n, "share": {"neighbours", "random", "lift"}, "coverage": {…}}, …,
        "neighbour_activity_ratio": r, "k": k}``.
    """
    from scipy import sparse

    ids = [str(u) for u in user_ids]
    uix = pd.Index(ids)
    n = len(ids)
    kg = _frame(store, "export_kg_edges")
    train = _frame(store, "export_rated_train")
    held = _frame(store, "export_rated_heldout")
    nb = cosine_neighbours(vectors, k)
    k = nb.shape[1]
    rng = np.random.default_rng(seed)
    if activity is None:
        activity = user_activity(store, ids)
    out: dict[str, Any] = {"k": k}

    def binary(rows: np.ndarray, cols: np.ndarray, shape: tuple[int, int]) -> sparse.csr_matrix:
        ok = (rows >= 0) & (cols >= 0)
        m = sparse.csr_matrix((np.ones(int(ok.sum())), (rows[ok], cols[ok])), shape=shape)
        m.data[:] = 1.0
        return m

    for rel in rels:
        edges = kg[(kg["rel"].astype(str) == rel) & (kg["src_label"].astype(str) == "Item")]
        if edges.empty:
            raise ValueError(f"no Item -[{rel}]-> edges in the store")
        items = pd.Index(
            sorted(
                set(train["dst"].astype(str)) | set(held["dst"].astype(str)) | set(edges["src"].astype(str))
            )
        )
        attrs = pd.Index(sorted(set(edges["dst"].astype(str))))
        ia = binary(
            items.get_indexer(edges["src"].astype(str)),
            attrs.get_indexer(edges["dst"].astype(str)),
            (len(items), len(attrs)),
        )
        tr = binary(
            uix.get_indexer(train["src"].astype(str)),
            items.get_indexer(train["dst"].astype(str)),
            (n, len(items)),
        )
        ho = binary(
            uix.get_indexer(held["src"].astype(str)),
            items.get_indexer(held["dst"].astype(str)),
            (n, len(items)),
        )
        a = (ho @ ia).tocsr()
        a.data[:] = 1.0
        a_size = np.asarray(a.sum(1)).ravel()
        rows = np.flatnonzero(a_size > 0)
        if rows.size == 0:
            raise ValueError(f"no user has held-out items with {rel} edges")
        hit_items = (a @ ia.T).tocsr()  # users × items carrying an attribute of A_u
        hit_items.data[:] = 1.0
        t_attr = (tr @ ia).tocsr()
        t_attr.data[:] = 1.0
        t_size = np.asarray(tr.sum(1)).ravel().clip(min=1)
        rand = rng.integers(0, n - 1, (draws, rows.size, k))
        rand += rand >= rows[None, :, None]  # never the user itself
        sums = {"share": [0.0, 0.0], "coverage": [0.0, 0.0]}
        for start in range(0, rows.size, 512):
            r = rows[start : start + 512]
            share = (hit_items[r] @ tr.T).toarray() / t_size[None, :]
            cover = (a[r] @ t_attr.T).toarray() / a_size[r][:, None]
            local = np.arange(r.size)[:, None]
            for name, m in (("share", share), ("coverage", cover)):
                sums[name][0] += float(m[local, nb[r]].mean(1).sum())
                sums[name][1] += float(
                    np.mean([m[local, rand[d, start : start + 512]].mean(1).sum() for d in range(draws)])
                )
        res: dict[str, Any] = {"users": int(rows.size)}
        for name, (top, rnd) in sums.items():
            top, rnd = top / rows.size, rnd / rows.size
            res[name] = {"neighbours": top, "random": rnd, "lift": top / rnd if rnd > 0 else float("nan")}
        out[rel] = res
    act = np.asarray(activity, dtype=np.float64)
    out["neighbour_activity_ratio"] = float(act[nb].mean() / max(act.mean(), 1e-12))
    return out
