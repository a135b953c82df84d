"""Interaction tables: chronological positions, leave-one-out splits, k-core filtering, duplicates.

Every reader turns its interactions into one frame with the columns of a ``RATED`` relationship
(``src`` = user id, ``dst`` = item id, ``rating``, ``ts``) plus a private ``order`` column (the record
number in the source), then calls :func:`finish_interactions`: drop repeated (user, item) pairs, apply
the k-core, number each user's interactions chronologically and split them leave-one-out.

Chronological order within a user is ``ts`` ascending, ties broken by the record order in the source,
then by item id (so equal timestamps, which ML-100K has many of, still give one deterministic order).
Sources without timestamps (Amazon-KG ``.inter``) have ``ts`` null: the record order is the order.

:func:`assign_split` is the project's only leave-one-out rule: the split stored on ``RATED`` comes from
it, and :func:`persona.rec.leave_one_out` (tests, benchmarks, frames that never went through a store)
calls it, so a dataset splits the same way whichever path it takes.
"""

from __future__ import annotations

from os import PathLike
from typing import Any

import numpy as np
import pandas as pd

from .errors import InputError

_TS_MISSING = np.iinfo(np.int64).max  # null timestamps sort after every real one


def _order_keys(df: pd.DataFrame, user: str, item: str, ts: str, order: str | None) -> np.ndarray:
    """Row permutation sorting by (user, ts, record order, item)."""
    n = len(df)
    rec = (
        df[order].to_numpy(dtype=np.int64)
        if order is not None and order in df
        else np.arange(n, dtype=np.int64)
    )
    if ts in df:
        t = pd.to_numeric(df[ts], errors="coerce")
        tsv = t.fillna(_TS_MISSING).to_numpy(dtype=np.float64)  # float keeps the sentinel after real values
    else:
        tsv = np.zeros(n)
    users = pd.factorize(df[user].astype(str), sort=True)[0]
    items = pd.factorize(df[item].astype(str), sort=True)[0]
    # np.lexsort sorts by the last key first
    return np.lexsort((items, rec, tsv, users))


def assign_split(
    df: pd.DataFrame,
    *,
    user: str = "src",
    item: str = "dst",
    ts: str = "ts",
    order: str | None = "order",
    min_interactions: int = 3,
) -> pd.DataFrame:
    """Add ``pos`` and ``split`` to an interaction table (a copy is returned, sorted by user, pos).

    ``pos`` numbers each user's interactions 0..n-1 chronologically: by ``ts`` (nulls last), ties broken
    by ``order`` (the record number in the source; the current row order when the column is absent),
    then by item id. ``split`` is leave-one-out: the last interaction is ``test``, the second-last
    ``valid``, the rest ``train``; users with fewer than ``min_interactions`` interactions are all ``train``.

    Args:
        df: One row per interaction.
        user: Column with user ids (``src`` in a RATED frame).
        item: Column with item ids (``dst``).
        ts: Column with unix timestamps (may be missing or null).
        order: Column with the source record order; absent (or ``None``) = current row order.
        min_interactions: Users with fewer interactions keep everything in ``train``.

    Returns:
        The sorted copy with ``pos`` (int64) and ``split`` (str) added.

    Example:
        >>> df = pd.DataFrame({"src": ["u"] * 3, "dst": ["a", "b", "c"], "ts": [3, 1, 2]})
        >>> assign_split(df)[["dst", "pos", "split"]].values.tolist()
        [['b', 0, 'train'], ['c', 1, 'valid'], ['a', 2, 'test']]
    """
    if df.empty:
        out = df.copy()
        out["pos"] = pd.Series(dtype="int64")
        out["split"] = pd.Series(dtype="str")
        return out
    perm = _order_keys(df, user, item, ts, order)
    out = df.iloc[perm].reset_index(drop=True)
    pos = out.groupby(user, sort=False).cumcount().to_numpy(dtype=np.int64)
    n = out.groupby(user, sort=False)[user].transform("size").to_numpy(dtype=np.int64)
    split = np.full(len(out), "train", dtype=object)
    long = n >= min_interactions
    split[long & (pos == n - 1)] = "test"
    split[long & (pos == n - 2)] = "valid"
    out["pos"] = pos
    out["split"] = split
    return out


def k_core(df: pd.DataFrame, k: int, *, user: str = "src", item: str = "dst") -> pd.DataFrame:
    """Keep only users and items with at least ``k`` interactions, repeating until it holds for both.

    Removing a sparse item can push a user below ``k`` and vice versa, so the filter iterates to a fixed
    point (the usual "k-core" of recommendation datasets; the paper uses k=5). ``k <= 1`` returns ``df``.

    Args:
        df: One row per (deduplicated) interaction.
        k: Minimum interactions per user and per item.
        user: User id column.
        item: Item id column.

    Returns:
        The rows that survive, in their original order.
    """
    if k <= 1:
        return df
    keep = np.ones(len(df), dtype=bool)
    u = df[user].to_numpy()
    i = df[item].to_numpy()
    while True:
        uc = pd.Series(u[keep]).value_counts()
        ic = pd.Series(i[keep]).value_counts()
        bad_u = set(uc.index[uc < k])
        bad_i = set(ic.index[ic < k])
        if not bad_u and not bad_i:
            break
        drop = keep & (pd.Series(u).isin(bad_u).to_numpy() | pd.Series(i).isin(bad_i).to_numpy())
        keep &= ~drop
    return df[keep]


def drop_duplicate_pairs(
    df: pd.DataFrame, *, user: str = "src", item: str = "dst"
) -> tuple[pd.DataFrame, int]:
    """Keep each user's chronologically first interaction with an item (RATED is one per pair).

    Returns:
        The table without repeats (same row order as the chronological sort), and how many rows went.
    """
    if df.empty:
        return df, 0
    perm = _order_keys(df, user, item, "ts", "order")
    s = df.iloc[perm]
    dup = s.duplicated([user, item], keep="first").to_numpy()
    return s[~dup], int(dup.sum())


def _n(count: int, noun: str) -> str:
    return f"{count} {noun}" + ("" if count == 1 else "s")


def finish_interactions(
    df: pd.DataFrame, k: int, stats: dict[str, Any], *, source: str | PathLike[str] = "interactions"
) -> pd.DataFrame:
    """The common tail of every reader: duplicates, k-core, positions and splits.

    Args:
        df: Columns ``src, dst, rating, ts, order``.
        k: k-core threshold (0 = off).
        stats: Filled with ``duplicates``, ``k_core`` and ``k_core_removed`` (interactions).
        source: The interactions file (named by the error below).

    Returns:
        A RATED frame: ``src, dst, rating, ts, pos, split`` (``ts`` nullable Int64).

    Raises:
        InputError: (``line=None``) the k-core removes every interaction; the message gives the counts
            before it, so that a workable ``k`` can be chosen.
    """
    df, n_dup = drop_duplicate_pairs(df)
    stats["duplicates"] = stats.get("duplicates", 0) + n_dup
    before = len(df)
    kept = k_core(df, k)
    if before and kept.empty:
        users = df["src"].value_counts()
        items = df["dst"].value_counts()
        raise InputError(
            source,
            None,
            f"interactions left after the {k}-core (users and items with at least {k} interactions each)",
            f"none of {_n(before, 'interaction')} left ({_n(len(users), 'user')} with at most "
            f"{int(users.max())} interactions each, {_n(len(items), 'item')} with at most "
            f"{int(items.max())})",
            hint="use a smaller --k-core, or 0 for none",
        )
    df = kept
    stats["k_core"] = k
    stats["k_core_removed"] = before - len(df)
    df = assign_split(df)
    out = pd.DataFrame(
        {
            "src": df["src"].astype(str).to_numpy(),
            "dst": df["dst"].astype(str).to_numpy(),
            "rating": pd.to_numeric(df["rating"], errors="coerce").astype("float64").to_numpy(),
            "ts": pd.array(df["ts"], dtype="Int64"),
            "pos": df["pos"].to_numpy(dtype=np.int64),
            "split": df["split"].astype(str).to_numpy(),
        }
    )
    return out
