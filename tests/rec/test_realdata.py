"""SASRec on MovieLens 100K (real data): it must beat the popularity baseline on full ranking."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import torch
from persona.rec import EvalSet, Interactions, SASRecRecommender, evaluate, leave_one_out

pytestmark = [pytest.mark.realdata, pytest.mark.slow]


class _Popularity:
    def __init__(self, inter: Interactions) -> None:
        self.pop = torch.zeros(inter.n_items + 1)
        for s, c in zip(inter.seqs, inter.codes):
            self.pop.index_add_(0, torch.as_tensor(s[c == 0]), torch.ones(int((c == 0).sum())))

    def score_eval_set(self, es: EvalSet) -> torch.Tensor:
        out = self.pop[None].repeat(len(es), 1)
        out[:, 0] = float("-inf")
        return out


def test_sasrec_beats_popularity_on_ml100k(datasets: Path) -> None:
    raw = pd.read_csv(datasets / "ml-100k" / "u.data", sep="\t", names=["user", "item", "rating", "ts"])
    inter = Interactions.from_frame(leave_one_out(raw, by="ts"), source="ml-100k/u.data")
    assert (inter.n_users, inter.n_items, len(inter)) == (943, 1682, 100_000)
    pop = evaluate(_Popularity(inter), inter, "test", sampled=0)
    rec = SASRecRecommender(
        user_variant="none",
        item_variant="random",
        hidden=32,
        blocks=1,
        dropout=0.2,
        lr=5e-3,
        batch_size=128,
        epochs=8,
        eval_every=2,
        patience=3,
        seed=0,
    ).fit(inter)
    m = rec.evaluate("test")
    assert m["n_users"] == 943
    assert m["ndcg@10"] > pop["ndcg@10"] + 0.01
    assert m["hr@10"] > pop["hr@10"]
    assert m["sampled100/hr@10"] > m["hr@10"]  # sampled metrics are the easier, secondary figure
