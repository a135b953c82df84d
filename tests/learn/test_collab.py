"""The collaborative baseline: LightGCN user vectors from the training interactions only."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from torch_geometric.nn.models import LightGCN

from persona.errors import ConfigError, ModelError
from persona.learn.collab import _normalised_adjacency, _SymmetricLGConv, lightgcn_user_vectors
from persona.rec import Interactions, leave_one_out, split_sessions

FAST = {"dim": 16, "layers": 2, "epochs": 40, "batch_size": 64, "lr": 1e-2}


def _groups(users_per_group: int = 20, items_per_group: int = 12, length: int = 8, seed: int = 0) -> pd.DataFrame:
    """Two planted groups: users ``a..`` read only items ``a_..``, users ``b..`` only items ``b_..``.

    Returns:
        ``user, item, ts, pos, split`` (leave-one-out: last item test, second-last valid).
    """
    rng = np.random.default_rng(seed)
    rows = []
    for g in ("a", "b"):
        for k in range(users_per_group):
            for t, i in enumerate(rng.choice(items_per_group, size=length, replace=False)):
                rows.append((f"{g}{k:02d}", f"{g}_{int(i):02d}", 3_600 * t))
    return leave_one_out(pd.DataFrame(rows, columns=["user", "item", "ts"]))


def _cosines(vecs: dict[str, np.ndarray]) -> tuple[float, float]:
    """Mean cosine similarity of distinct users in the same group and of users in different groups."""
    users = sorted(vecs)
    m = np.stack([vecs[u] for u in users]).astype(np.float64)
    m /= np.linalg.norm(m, axis=1, keepdims=True)
    sim = m @ m.T
    g = np.array([u[0] for u in users])
    same = g[:, None] == g[None, :]
    np.fill_diagonal(same, False)
    return float(sim[same].mean()), float(sim[g[:, None] != g[None, :]].mean())


def test_every_user_with_training_items_gets_a_finite_vector() -> None:
    df = _groups(users_per_group=6)
    only_held_out = pd.DataFrame(
        {"user": ["zz", "zz"], "item": ["a_00", "b_00"], "ts": [0, 1], "pos": [0, 1], "split": ["valid", "test"]}
    )
    inter = Interactions.from_frame(pd.concat([df, only_held_out], ignore_index=True))
    vecs = lightgcn_user_vectors(inter, dim=12, layers=2, epochs=3, batch_size=32)
    assert list(vecs) == [u for u in inter.users if u != "zz"]  # user-index order, no held-out-only user
    for v in vecs.values():
        assert v.shape == (12,) and v.dtype == np.float32 and np.isfinite(v).all()
    assert len({v.tobytes() for v in vecs.values()}) == len(vecs)  # not one shared vector


def test_same_seed_same_vectors_other_seed_other_vectors() -> None:
    inter = Interactions.from_frame(_groups(users_per_group=8))
    kw = {"dim": 8, "layers": 2, "epochs": 4, "batch_size": 32}
    first, again, other = (lightgcn_user_vectors(inter, seed=s, **kw) for s in (3, 3, 4))
    assert all(np.array_equal(first[u], again[u]) for u in first)
    assert not any(np.allclose(first[u], other[u]) for u in first)


def test_the_callers_global_random_state_is_untouched() -> None:
    inter = Interactions.from_frame(_groups(users_per_group=6))
    torch.manual_seed(123)
    np.random.seed(7)
    expected_torch, expected_np = torch.rand(4), np.random.rand(4)
    torch.manual_seed(123)
    np.random.seed(7)
    lightgcn_user_vectors(inter, dim=8, epochs=3, batch_size=32, seed=0)
    assert torch.equal(torch.rand(4), expected_torch)
    assert np.array_equal(np.random.rand(4), expected_np)


def test_it_learns_the_planted_groups() -> None:
    inter = Interactions.from_frame(_groups())
    within, across = _cosines(lightgcn_user_vectors(inter, **FAST))
    # propagation alone already mixes the neighbours of a group; training must add to that
    within0, across0 = _cosines(lightgcn_user_vectors(inter, **{**FAST, "epochs": 1, "lr": 1e-9}))
    assert within > across + 0.8, (within, across)
    assert within - across > (within0 - across0) + 0.3, (within, across, within0, across0)


def test_valid_and_test_items_do_not_move_any_vector() -> None:
    df = _groups(users_per_group=8)
    base = lightgcn_user_vectors(Interactions.from_frame(df), **{**FAST, "epochs": 5})
    test_row = (df["user"] == "a00") & (df["split"] == "test")
    valid_row = (df["user"] == "b03") & (df["split"] == "valid")
    for row, item in ((test_row, "b_05"), (test_row, "never_trained"), (valid_row, "a_01")):
        changed = df.copy()
        changed.loc[row, "item"] = item
        got = lightgcn_user_vectors(Interactions.from_frame(changed), **{**FAST, "epochs": 5})
        assert list(got) == list(base)
        assert all(np.array_equal(got[u], base[u]) for u in base), item


def test_sessions_and_repeats_collapse_to_the_same_training_pairs() -> None:
    df = _groups(users_per_group=6)
    kw = {"dim": 8, "epochs": 3, "batch_size": 32}
    plain = lightgcn_user_vectors(Interactions.from_frame(df), **kw)
    sessions = Interactions.from_frame(split_sessions(df, gap_s=1_800), session_col="session")
    assert sessions.session_mode and len(sessions.train_sequences()[1]) > sessions.n_users
    repeat = df[(df["user"] == "a00") & (df["split"] == "train")].head(1).assign(pos=-1, ts=-3_600)
    repeated = Interactions.from_frame(pd.concat([repeat, df], ignore_index=True))
    assert len(repeated) == len(df) + 1
    for other in (lightgcn_user_vectors(sessions, **kw), lightgcn_user_vectors(repeated, **kw)):
        assert all(np.array_equal(plain[u], other[u]) for u in plain)


def test_propagation_equals_pyg_lightgcn_on_the_edge_index() -> None:
    # the symmetric sparse operator must give PyG's own LGConv normalisation, values and gradients
    pos_u = torch.tensor([0, 0, 1, 2, 2, 2, 3])
    pos_i = torch.tensor([0, 1, 1, 0, 2, 3, 3])
    n_users, n_items = 4, 4
    torch.manual_seed(0)
    stock = LightGCN(n_users + n_items, 5, 3)
    ours = LightGCN(n_users + n_items, 5, 3)
    ours.convs = torch.nn.ModuleList(_SymmetricLGConv() for _ in range(3))
    ours.load_state_dict(stock.state_dict())
    edge_index = torch.stack([torch.cat([pos_u, pos_i + n_users]), torch.cat([pos_i + n_users, pos_u])])
    want = stock.get_embedding(edge_index)
    got = ours.get_embedding(_normalised_adjacency(pos_u, pos_i, n_users, n_items))
    assert torch.allclose(got, want, atol=1e-6)
    weights = torch.linspace(-1, 1, want.numel()).view_as(want)
    (want * weights).sum().backward()
    (got * weights).sum().backward()
    assert torch.allclose(ours.embedding.weight.grad, stock.embedding.weight.grad, atol=1e-6)


def test_no_training_interactions_is_a_model_error() -> None:
    df = pd.DataFrame({"user": ["a", "a", "b"], "item": ["x", "y", "x"], "pos": [0, 1, 0],
                       "split": ["valid", "test", "test"]})
    with pytest.raises(ModelError, match="no training interactions"):
        lightgcn_user_vectors(Interactions.from_frame(df))


def test_bad_sizes_are_config_errors() -> None:
    inter = Interactions.from_frame(_groups(users_per_group=2))
    with pytest.raises(ConfigError, match="dim must be >= 1"):
        lightgcn_user_vectors(inter, dim=0)
    with pytest.raises(ConfigError, match="lr must be > 0"):
        lightgcn_user_vectors(inter, lr=0.0)
