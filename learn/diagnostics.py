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
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy import sparse
from sklearn.cluster import KMeans
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import f1_score, normalized_mutual_info_score
from sklearn.model_selection import KFold, StratifiedKFold
from sklearn.preprocessing import StandardScaler

from persona.errors import ModelError
from persona.kgstore.queries import load as load_query


def _frame(store: Any, name: str) -> pd.DataFrame:
    return store.frame(load_query(name, store.backend), {})


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


def mean_item_text(store: Any, user_ids: Sequence[str]) -> np.ndarray:
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
    store: Any,
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


def heldout_genres(store: Any, *, label: str = "Genre") -> dict[str, list[str]]:
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


def _bag_of_items(store: Any, user_ids: Sequence[str]) -> sparse.csr_matrix:
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
    store: Any,
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
