"""Array helpers of the sequence data: left padding, vector stacking, integer columns."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd


def pad_left(seqs: Sequence[np.ndarray], max_len: int, *, width: int | None = None) -> np.ndarray:
    """Right-align the last ``max_len`` items of each sequence in a zero-padded int64 matrix.

    Args:
        seqs: item-index arrays.
        max_len: items kept per sequence (the most recent ones).
        width: matrix width; default the longest kept sequence (at least 1).

    Returns:
        ``[len(seqs), width]`` with each sequence ending in the last column.
    """
    lens = [min(len(s), max_len) for s in seqs]
    w = width if width is not None else max([1, *lens])
    out = np.zeros((len(seqs), w), dtype=np.int64)
    for r, (s, n) in enumerate(zip(seqs, lens)):
        n = min(n, w)
        if n:
            out[r, w - n :] = s[len(s) - n :]
    return out


def int_column(col: pd.Series, name: str, d: pd.DataFrame, source: str) -> np.ndarray:
    vals = pd.to_numeric(col, errors="coerce").to_numpy(dtype=float)
    bad = np.isnan(vals) | (vals != np.round(vals))
    if bad.any():
        r = int(np.flatnonzero(bad)[0])
        raise ValueError(
            f"{source}: record {r} (user {d['user'].iat[r]!r}): {name} {col.iat[r]!r} is not an integer"
        )
    return vals.astype(np.int64)


def stack_vectors(
    vecs: Mapping[str, np.ndarray], ids: list[str], what: str, *, pad_row: bool
) -> tuple[np.ndarray, list[str]]:
    present = list(vecs.values())
    if not present:
        raise ValueError(f"no {what} vectors given")
    dims = {np.asarray(v).reshape(-1).shape[0] for v in present}
    if len(dims) != 1:
        raise ValueError(f"{what} vectors differ in dimension: {sorted(dims)}")
    d = dims.pop()
    rows: list[np.ndarray | None] = []
    missing: list[str] = []
    for i in ids:
        v = vecs.get(i)
        if v is None:
            missing.append(i)
            rows.append(None)
        else:
            rows.append(np.asarray(v, dtype=np.float32).reshape(-1))
    have = [r for r in rows if r is not None]
    if not have:
        raise ValueError(f"none of the {len(ids)} {what}s has a vector (ids do not match?)")
    mean = np.mean(have, axis=0).astype(np.float32)
    mat = np.stack([r if r is not None else mean for r in rows]).astype(np.float32)
    if pad_row:
        mat = np.concatenate([np.zeros((1, d), dtype=np.float32), mat])
    return mat, missing
