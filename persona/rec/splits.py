"""Splitting interaction frames: leave-one-out positions and splits, and sessions by inactivity gaps.

The leave-one-out rule itself is :func:`persona.ingest.sequences.assign_split` (what ``persona ingest``
stores); :func:`leave_one_out` applies it to a frame with ``user``/``item``/``ts`` columns.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from persona.ingest.sequences import assign_split


def split_sessions(
    df: pd.DataFrame,
    gap_s: float,
    *,
    ts: str = "ts",
    user: str = "user",
    pos: str = "pos",
    out: str = "session",
) -> pd.DataFrame:
    """Number each user's sessions: a new session starts after more than ``gap_s`` seconds of inactivity.

    Args:
        df: interactions with ``user``, ``pos`` and a timestamp column ``ts`` (unix seconds or datetime).
        gap_s: inactivity gap in seconds; a gap strictly larger starts a new session.
        ts, user, pos: column names.
        out: name of the added column (session number per user, from 0).

    Returns:
        A copy of ``df`` (same row order) with the ``out`` column.

    Raises:
        ValueError: a column is missing, a timestamp is missing, or time runs backwards along ``pos``.
    """
    for c in (ts, user, pos):
        if c not in df.columns:
            raise ValueError(f"split_sessions: missing column {c!r}")
    if gap_s <= 0:
        raise ValueError(f"split_sessions: gap_s must be positive, got {gap_s}")
    t = df[ts]
    if pd.api.types.is_datetime64_any_dtype(t):
        secs = (t - pd.Timestamp(0, tz=getattr(t.dt, "tz", None))).dt.total_seconds().to_numpy()
    else:
        secs = pd.to_numeric(t, errors="coerce").to_numpy(dtype=float)
    if np.isnan(secs).any():
        r = int(np.flatnonzero(np.isnan(secs))[0])
        raise ValueError(f"split_sessions: record {r}: {ts!r} is missing or not a number ({df[ts].iat[r]!r})")
    order = np.lexsort((df[pos].to_numpy(), df[user].astype(str).to_numpy()))
    u = df[user].astype(str).to_numpy()[order]
    s = secs[order]
    new_user = np.ones(len(order), dtype=bool)
    new_user[1:] = u[1:] != u[:-1]
    gap = np.zeros(len(order))
    gap[1:] = s[1:] - s[:-1]
    back = (~new_user) & (gap < 0)
    if back.any():
        r = int(order[np.flatnonzero(back)[0]])
        raise ValueError(
            f"split_sessions: record {r}: user {u[np.flatnonzero(back)[0]]!r}: {ts!r} decreases along {pos!r}"
        )
    start = new_user | (gap > gap_s)
    counter = np.cumsum(start)
    first = np.maximum.accumulate(np.where(new_user, counter, 0))
    res = df.copy()
    sess = np.empty(len(order), dtype=np.int64)
    sess[order] = counter - first
    res[out] = sess
    return res


def leave_one_out(
    df: pd.DataFrame,
    *,
    by: str = "ts",
    user: str = "user",
    item: str = "item",
    order: str | None = None,
    min_interactions: int = 3,
) -> pd.DataFrame:
    """Assign ``pos`` and ``split`` the way ``persona ingest`` does: last = test, second-last = valid.

    This is :func:`persona.ingest.sequences.assign_split` under the column names of a rec frame, so a
    dataset split here equals the split the store holds after ingesting it. Each user's history is
    ordered by ``by`` ascending (nulls last); equal values keep the record order (the ``order`` column,
    or the row order of ``df`` when ``order`` is ``None``), then go by item id. Users with fewer than
    ``min_interactions`` interactions keep everything in train.

    Returns:
        A copy sorted by user and ``pos`` with ``pos`` (0..n-1) and ``split`` columns.

    Raises:
        ValueError: a column is missing.

    Example:
        >>> df = pd.DataFrame({"user": [1, 1, 1], "item": ["c", "a", "b"], "ts": [5, 5, 1]})
        >>> leave_one_out(df)[["item", "split"]].values.tolist()
        [['b', 'train'], ['c', 'valid'], ['a', 'test']]
    """
    for c in (user, item, by, *([order] if order else [])):
        if c not in df.columns:
            raise ValueError(f"leave_one_out: missing column {c!r}")
    return assign_split(df, user=user, item=item, ts=by, order=order, min_interactions=min_interactions)
