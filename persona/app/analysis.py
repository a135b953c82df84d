"""What the explorer computes over a whole store: the persona map and a run's evaluation.

Plain functions over DataFrames (no Streamlit, no store): :func:`persona_map` projects every persona to
2-D (scikit-learn PCA) and clusters them (k-means), :func:`cluster_summaries` names each cluster's most
specific attributes (lift over the whole store), :func:`activity_buckets` splits HR@10 by how much
history a user has, and :func:`list_quality` measures catalogue coverage and popularity bias of a run's
written-back lists.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

#: How many clusters the persona map draws at most.
MAX_CLUSTERS = 8


@dataclass
class PersonaMap:
    """Every persona in 2-D.

    Attributes:
        points: ``user, x, y, cluster`` plus the user facts given (``planted_taste``, ``occupation``…).
        explained: Share of the personas' variance the two axes keep.
    """

    points: pd.DataFrame
    explained: float


def persona_map(personas: pd.DataFrame, *, clusters: int = MAX_CLUSTERS, seed: int = 0) -> PersonaMap:
    """PCA to 2-D and k-means clusters of the personas (cosine geometry: vectors are unit-normalised first).

    Args:
        personas: ``user, persona`` and any fact columns to keep.
        clusters: Number of k-means clusters (at most the number of users).
        seed: Seed of k-means and of the PCA solver.

    Raises:
        ValueError: no persona, or personas of different sizes.
    """
    from sklearn.cluster import KMeans
    from sklearn.decomposition import PCA

    if personas.empty:
        raise ValueError("no stored personas: run `persona train` first")
    sizes = {len(v) for v in personas["persona"]}
    if len(sizes) != 1:
        raise ValueError(f"personas of different sizes {sorted(sizes)}: the store mixes two persona runs")
    x = np.stack([np.asarray(v, dtype=np.float64) for v in personas["persona"]])
    x = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
    n = len(x)
    points = personas.drop(columns="persona").reset_index(drop=True).copy()
    if n >= 2:
        pca = PCA(n_components=2, random_state=seed)
        xy = pca.fit_transform(x)
        explained = float(pca.explained_variance_ratio_.sum())
    else:
        xy, explained = np.zeros((n, 2)), 1.0
    points["x"], points["y"] = xy[:, 0], xy[:, 1]
    k = max(1, min(int(clusters), n))
    labels = KMeans(n_clusters=k, n_init=4, random_state=seed).fit_predict(x) if k > 1 else np.zeros(n, dtype=int)
    # number clusters by size, largest first, so that "cluster 1" means the same on every rerun
    order = pd.Series(labels).value_counts().index.tolist()
    points["cluster"] = [f"cluster {order.index(c) + 1}" for c in labels]
    return PersonaMap(points, explained)


def top_by_user(counts: pd.DataFrame) -> pd.Series:
    """Each user's most frequent attribute name (``counts``: ``user, name, n``; ties by name)."""
    if counts.empty:
        return pd.Series(dtype=object)
    c = counts.assign(name=counts["name"].fillna(counts.get("attr", "")).astype(str))
    c = c.sort_values(["user", "n", "name"], ascending=[True, False, True]).drop_duplicates("user")
    return c.set_index("user")["name"]


def cluster_summaries(points: pd.DataFrame, counts: pd.DataFrame, *, top: int = 5, min_users: float = 0.1) -> pd.DataFrame:
    """Each cluster's most specific attributes: lift of the attribute among the cluster's training
    interactions over the whole store's, among attributes at least ``min_users`` of its users reach.

    Args:
        points: :attr:`PersonaMap.points` (``user, cluster``).
        counts: ``user, label, attr, name, n``: training interactions per user and attribute.
        top: Attributes named per cluster.
        min_users: Share of the cluster's users an attribute must reach (rare ones explain no cluster).

    Returns:
        ``cluster, users, attributes`` (a readable list: "Alfred Hitchcock (Person, lift 6.1)"), by cluster.
    """
    sizes = points.groupby("cluster").size()
    if counts.empty:
        return pd.DataFrame({"cluster": sizes.index, "users": sizes.values, "attributes": ""})
    c = counts.merge(points[["user", "cluster"]], on="user")
    total = c.groupby(["label", "attr"])["n"].sum()
    share_all = total / max(float(total.sum()), 1.0)
    rows = []
    for cl, g in c.groupby("cluster"):
        per = g.groupby(["label", "attr"]).agg(n=("n", "sum"), users=("user", "nunique"), name=("name", "first"))
        per = per[per["users"] >= max(2, min_users * sizes[cl])]
        if per.empty:
            rows.append((cl, int(sizes[cl]), ""))
            continue
        lift = (per["n"] / max(float(g["n"].sum()), 1.0)) / share_all.reindex(per.index)
        per = per.assign(lift=lift).sort_values(["lift", "n"], ascending=False).head(top)
        text = "; ".join(f"{r.name if isinstance(r.name, str) and r.name else idx[1]} ({idx[0]}, lift {r.lift:.1f})"
                         for idx, r in per.iterrows())
        rows.append((cl, int(sizes[cl]), text))
    out = pd.DataFrame(rows, columns=["cluster", "users", "attributes"])
    return out.sort_values("cluster", key=lambda s: s.str.extract(r"(\d+)")[0].astype(int)).reset_index(drop=True)


def activity_buckets(held: pd.DataFrame, k: int = 10) -> pd.DataFrame:
    """HR@``k`` of the held-out item by how many training items users have.

    Args:
        held: ``user, retriever_rank, final_rank, n_train`` (one row per user).
        k: The cut-off.

    Returns:
        ``activity, users, hr_retriever, hr_final`` (activity ranges of about equal user counts).
    """
    cols = ["activity", "users", "hr_retriever", "hr_final"]
    if held.empty:
        return pd.DataFrame(columns=cols)
    h = held.assign(n_train=pd.to_numeric(held["n_train"]).astype(int))
    edges = sorted(set(np.quantile(h["n_train"], [0, 0.25, 0.5, 0.75, 1.0]).round().astype(int).tolist()))
    if len(edges) < 2:
        edges = [edges[0], edges[0]]
    rows = []
    lo = edges[0]
    for hi in edges[1:]:
        last = hi == edges[-1]
        g = h[(h["n_train"] >= lo) & ((h["n_train"] <= hi) if last else (h["n_train"] < hi))]
        if len(g):
            top = hi if last else hi - 1
            rows.append((f"{lo}–{top} items" if top > lo else f"{lo} items", len(g),
                         float((g["retriever_rank"] <= k).mean()), float((g["final_rank"] <= k).mean())))
        lo = hi
    return pd.DataFrame(rows, columns=cols)


@dataclass
class ListQuality:
    """Coverage and popularity bias of a run's lists.

    Attributes:
        coverage: Share of the catalogue that appears in at least one list.
        distinct: Distinct recommended items.
        catalogue: Catalogue size.
        rec_popularity: Mean popularity percentile (0–100) of recommended items, one count per slot.
        history_popularity: The same over the training interactions (what users actually consumed).
        top10_share: Share of recommendation slots taken by the 10 % most popular items.
    """

    coverage: float
    distinct: int
    catalogue: int
    rec_popularity: float
    history_popularity: float
    top10_share: float


def list_quality(recommended: pd.DataFrame, popularity: pd.DataFrame, catalogue: int) -> ListQuality:
    """Coverage and popularity bias of a run's written-back lists.

    Args:
        recommended: ``item, n``: how often each item is recommended.
        popularity: ``item, n``: training interactions per item.
        catalogue: Number of items in the store.
    """
    pop = popularity.set_index("item")["n"].astype(float) if len(popularity) else pd.Series(dtype=float)
    pct = pop.rank(pct=True) * 100.0
    rec = recommended.set_index("item")["n"].astype(float) if len(recommended) else pd.Series(dtype=float)
    slots = float(rec.sum())
    rec_pct = float((pct.reindex(rec.index).fillna(0.0) * rec).sum() / slots) if slots else float("nan")
    hist_pct = float((pct * pop).sum() / pop.sum()) if len(pop) and pop.sum() else float("nan")
    n_top = max(1, round(0.1 * max(catalogue, 1)))
    top_items = set(pop.sort_values(ascending=False).index[:n_top])
    top_share = float(rec[rec.index.isin(top_items)].sum() / slots) if slots else float("nan")
    return ListQuality(
        coverage=len(rec) / max(catalogue, 1), distinct=len(rec), catalogue=int(catalogue),
        rec_popularity=rec_pct, history_popularity=hist_pct, top10_share=top_share,
    )


def natural_key(text: str) -> tuple[tuple[int, int | str], ...]:
    """Sort key that orders digit runs by value: ``u2`` before ``u10``, ``"9"`` before ``"10"``."""
    import re

    return tuple((0, int(p)) if p.isdigit() else (1, p) for p in re.split(r"(\d+)", str(text)) if p != "")
