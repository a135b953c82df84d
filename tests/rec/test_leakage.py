"""No held-out item ever reaches the model before its turn.

Every user's valid and test items are unique to that user and appear nowhere else, so any appearance of
them in a training batch, a training target or a validation input is a leak. The module's forward is
instrumented with a forward pre-hook that records every input batch it receives.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from persona.rec import Interactions, SASRecRecommender, split_sessions
from persona.rec.sasrec import SASRec


def _frame() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    rows = []
    for u in range(40):
        n = int(rng.integers(3, 9))
        for p in range(n):
            rows.append((f"u{u}", f"p{int(rng.integers(20)):02d}", p, "train", p * 60))
        rows.append(
            (f"u{u}", f"v{u}", n, "valid", n * 60 + (0 if u % 2 else 7200))
        )  # odd users: same session
        rows.append((f"u{u}", f"t{u}", n + 1, "test", n * 60 + 7260))
    return pd.DataFrame(rows, columns=["user", "item", "pos", "split", "ts"])


class _Spy(SASRecRecommender):
    """Records every (input batch, user batch) the module sees."""

    def __init__(self, *a, **kw) -> None:  # type: ignore[no-untyped-def]
        super().__init__(*a, **kw)
        self.seen: list[tuple[torch.Tensor, torch.Tensor | None]] = []

    def _build(self, inter: Interactions) -> SASRec:
        m = super()._build(inter)
        m.register_forward_pre_hook(
            lambda mod, args: self.seen.append((args[0].clone(), args[1] if len(args) > 1 else None))
        )
        return m


@pytest.mark.parametrize("variant", [("none", "random"), ("kg", "text")])
@pytest.mark.parametrize("sessions", [False, True])
def test_held_out_items_never_reach_training_or_validation(variant: tuple[str, str], sessions: bool) -> None:
    df = _frame()
    if sessions:
        df = split_sessions(df, gap_s=3600)
    inter = Interactions.from_frame(df, session_col="session" if sessions else None)
    valid_items = {inter.item_index[f"v{u}"] for u in range(40)}
    test_items = {inter.item_index[f"t{u}"] for u in range(40)}
    held_out = valid_items | test_items
    rng = np.random.default_rng(1)
    spy = _Spy(
        user_variant=variant[0],
        item_variant=variant[1],
        epochs=3,
        eval_every=1,
        hidden=16,
        blocks=1,
        user_emb={u: rng.normal(size=4) for u in inter.users},
        item_emb={i: rng.normal(size=6) for i in inter.items},
    )

    # the training windows: inputs and targets come from split='train' only
    X, Y, _U = spy.training_tensors(inter)
    assert not held_out & set(X.unique().tolist())
    assert not held_out & set(Y.unique().tolist())
    train_items = {int(i) for s, c in zip(inter.seqs, inter.codes) for i in s[c == 0]}
    assert set(Y.unique().tolist()) - {0} <= train_items

    spy.fit(inter)
    assert len(spy.seen) > 3
    for seq, _ in spy.seen:  # every batch of training and validation
        assert not held_out & set(seq.unique().tolist())

    # at test time the inputs hold train + valid items, never the test item
    spy.seen.clear()
    spy.score(split="test")
    test_inputs = set(torch.cat([s.flatten() for s, _ in spy.seen]).unique().tolist())
    assert not test_items & test_inputs
    es = inter.eval_set("test")
    for u, inp in zip(es.users, es.inputs):
        num = int(inter.users[u][1:])
        assert inter.item_index[f"t{num}"] not in inp.tolist()
        if sessions:
            # even users: the valid item opened the test target's session; odd users: the target opens one
            assert inp.tolist() == ([inter.item_index[f"v{num}"]] if num % 2 == 0 else [])
        else:
            assert inp[-1] == inter.item_index[f"v{num}"]
    with_valid = [int(name[1:]) for name in inter.users if not sessions or int(name[1:]) % 2 == 0]
    assert {inter.item_index[f"v{u}"] for u in with_valid} <= test_inputs


def test_validation_inputs_are_train_items_only() -> None:
    inter = Interactions.from_frame(_frame())
    es = inter.eval_set("valid")
    for u, inp in zip(es.users, es.inputs):
        s, c = inter.seqs[u], inter.codes[u]
        assert inp.tolist() == s[c == 0].tolist()
