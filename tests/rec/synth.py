"""Tiny synthetic interaction data with known structure, for the rec tests."""

from __future__ import annotations

import numpy as np
import pandas as pd
from persona.rec import leave_one_out


def chain_frame(
    n_users: int = 120, n_items: int = 30, min_len: int = 5, max_len: int = 10, seed: int = 0
) -> pd.DataFrame:
    """Each user walks the item ring: i_k -> i_{k+1 mod n_items}; returns user, item, ts, pos, split."""
    rng = np.random.default_rng(seed)
    rows = []
    for u in range(n_users):
        start = int(rng.integers(0, n_items))
        for p in range(int(rng.integers(min_len, max_len + 1))):
            rows.append((f"u{u:03d}", f"i{(start + p) % n_items:03d}", p))
    return leave_one_out(pd.DataFrame(rows, columns=["user", "item", "ts"]))


def taste_frame(
    n_tastes: int = 10,
    users_per_taste: int = 30,
    items_per_taste: int = 3,
    n_shared: int = 30,
    sessions: int = 5,
    seed: int = 0,
) -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
    """Sessions ``[shared item, taste item]``; the taste item depends only on the user's latent taste.

    The shared item is drawn at random, so a session alone says nothing about which taste item comes next;
    the user vectors (one-hot taste + noise) do. Timestamps put an hour between the two items of a session
    and a day between sessions.

    Returns:
        ``(interactions with user, item, ts, pos, split, session, user vectors)``.
    """
    rng = np.random.default_rng(seed)
    rows = []
    vecs: dict[str, np.ndarray] = {}
    for taste in range(n_tastes):
        for j in range(users_per_taste):
            user = f"u{taste:02d}_{j:02d}"
            v = np.zeros(n_tastes + 6, dtype=np.float32)
            v[taste] = 1.0
            vecs[user] = v + rng.normal(0, 0.1, size=v.shape).astype(np.float32)
            for k in range(sessions):
                t0 = k * 86_400
                rows.append((user, f"s{int(rng.integers(n_shared)):02d}", t0))
                rows.append((user, f"t{taste:02d}_{int(rng.integers(items_per_taste))}", t0 + 3_600))
    df = leave_one_out(pd.DataFrame(rows, columns=["user", "item", "ts"]), by="ts")
    from persona.rec import split_sessions

    return split_sessions(df, gap_s=6 * 3_600), vecs
