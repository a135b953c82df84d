"""Metrics against hand-computed cases: ranks, ties, seen-item exclusion, sampled-100."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch

from persona.rec import EvalSet, Interactions, evaluate, metrics_from_ranks, rank_targets
from persona.rec.evaluate import metric_values, sampled_ranks, seen_mask

NINF = float("-inf")


def test_rank_counts_items_scoring_higher() -> None:
    scores = torch.tensor([[NINF, 0.1, 0.9, 0.5, 0.3], [NINF, 0.9, 0.8, 0.7, 0.6]])
    ranks = rank_targets(scores, torch.tensor([3, 1]))
    assert ranks.tolist() == [1, 0]


def test_ties_are_pessimistic() -> None:
    # item 4 ties with the target (item 2): it counts as ranked above
    scores = torch.tensor([[NINF, 0.5, 0.9, 0.1, 0.9]])
    assert rank_targets(scores, torch.tensor([2])).tolist() == [1]
    # all equal: the target comes last among the 4 real items
    flat = torch.tensor([[0.0, 1.0, 1.0, 1.0, 1.0]])
    assert rank_targets(flat, torch.tensor([3])).tolist() == [3]
    m = metrics_from_ranks(rank_targets(flat, torch.tensor([3])), ks=(1, 3, 4))
    assert m["hr@3"] == 0.0 and m["hr@4"] == 1.0


def test_padding_column_never_counts() -> None:
    scores = torch.tensor([[5.0, 0.1, 0.2]])  # column 0 has the highest score but is padding
    assert rank_targets(scores, torch.tensor([2])).tolist() == [0]


def test_seen_items_excluded_but_never_the_target() -> None:
    scores = torch.tensor([[NINF, 0.9, 0.8, 0.7, 0.6, 0.5]])
    hist = [np.array([1, 2, 5])]
    excl = seen_mask(hist, 6)
    assert excl.tolist() == [[False, True, True, False, False, True]]
    # target 4: items 1, 2 (seen) removed, item 3 remains above
    assert rank_targets(scores, torch.tensor([4]), excl).tolist() == [1]
    # target 2 is itself in the history (a repeat): it stays, item 1 is removed
    assert rank_targets(scores, torch.tensor([2]), excl).tolist() == [0]
    assert rank_targets(scores, torch.tensor([2])).tolist() == [1]


def test_metric_values_by_hand() -> None:
    ranks = torch.tensor([0, 1, 4, 150])
    m = metrics_from_ranks(ranks, ks=(1, 5, 100))
    assert m["n_users"] == 4
    assert m["hr@1"] == pytest.approx(0.25)
    assert m["hr@5"] == pytest.approx(0.75)
    assert m["hr@100"] == pytest.approx(0.75)
    assert m["ndcg@5"] == pytest.approx((1 + 1 / math.log2(3) + 1 / math.log2(6)) / 4)
    assert m["ndcg@1"] == pytest.approx(0.25)
    assert m["mrr"] == pytest.approx((1 + 1 / 2 + 1 / 5 + 1 / 151) / 4)
    assert m["mrr@5"] == pytest.approx((1 + 1 / 2 + 1 / 5) / 4)
    per_user = metric_values(ranks, ks=(5,))
    assert per_user["hr@5"].tolist() == [1.0, 1.0, 1.0, 0.0]


def test_rank_rejects_padding_target_and_nan() -> None:
    with pytest.raises(ValueError, match="padding"):
        rank_targets(torch.zeros(1, 3), torch.tensor([0]))
    with pytest.raises(ValueError, match="NaN"):
        rank_targets(torch.tensor([[0.0, float("nan"), 1.0]]), torch.tensor([1]))


def test_sampled_ranks_use_only_non_interacted_items() -> None:
    n = 150
    scores = torch.arange(n + 1, dtype=torch.float32)[None].repeat(2, 1)  # score = item index
    scores[1] = -scores[1]
    inter = torch.zeros(2, n + 1, dtype=torch.bool)
    inter[:, 1:50] = True  # items 1..49 interacted: never negatives
    targets = torch.tensor([50, 50])
    gen = torch.Generator().manual_seed(0)
    # exactly 100 non-interacted items remain (51..150): all drawn; row 0 ranks below all, row 1 above all
    r = sampled_ranks(scores, targets, inter, 100, gen)
    assert r.tolist() == [100, 0]
    # fewer candidates than requested negatives: only real ones count
    inter[:, 51:140] = True
    r = sampled_ranks(scores, targets, inter, 100, torch.Generator().manual_seed(0))
    assert r.tolist() == [11, 0]


def test_sampled_ranks_are_seeded() -> None:
    g = torch.Generator().manual_seed(1)
    scores = torch.randn(8, 401, generator=g)
    t = torch.arange(1, 9)
    inter = torch.zeros(8, 401, dtype=torch.bool)
    a = sampled_ranks(scores, t, inter, 100, torch.Generator().manual_seed(7))
    b = sampled_ranks(scores, t, inter, 100, torch.Generator().manual_seed(7))
    c = sampled_ranks(scores, t, inter, 100, torch.Generator().manual_seed(8))
    assert torch.equal(a, b)
    assert not torch.equal(a, c)


def test_sampled_negatives_are_a_uniform_subset_of_the_allowed_items() -> None:
    # row r asks "is item j(r) among the negatives?": j(r) scores above the target, every other item below
    n_items, k, reps = 300, 100, 200
    items = torch.arange(1, n_items + 1).repeat_interleave(reps)
    scores = torch.full((len(items), n_items + 1), -1.0)
    scores[torch.arange(len(items)), items] = 1.0
    targets = torch.full((len(items),), 51)
    scores[:, 51] = 0.0
    inter = torch.zeros(len(items), n_items + 1, dtype=torch.bool)
    inter[:, 1:51] = True  # items 1..50 interacted
    drawn = sampled_ranks(scores, targets, inter, k, torch.Generator().manual_seed(3)).double()
    per_item = drawn.view(n_items, reps).mean(1)
    assert per_item[:51].sum() == 0  # interacted items and the target are never negatives
    allowed = per_item[51:]
    # without replacement: each allowed item is in the subset with probability k / 249 (0.402);
    # with repeats it would be 1 - (1 - 1/249)^100 = 0.331
    assert float(allowed.mean()) == pytest.approx(k / 249, abs=0.006)
    assert float(allowed.min()) > 0.25 and float(allowed.max()) < 0.55


class _PopularityScorer:
    """A real baseline: scores items by their train-split counts."""

    def __init__(self, inter: Interactions) -> None:
        self.pop = torch.zeros(inter.n_items + 1)
        for s, c in zip(inter.seqs, inter.codes):
            for i in s[c == 0]:
                self.pop[i] += 1

    def score_eval_set(self, es: EvalSet) -> torch.Tensor:
        out = self.pop[None].repeat(len(es), 1)
        out[:, 0] = NINF
        return out


def test_evaluate_end_to_end_by_hand() -> None:
    # train counts: a=3, b=2, c=1, d=0, e=0 (d, e appear only as targets)
    rows = [
        ("u1", "a", 0, "train"),
        ("u1", "b", 1, "train"),
        ("u1", "c", 2, "valid"),
        ("u1", "d", 3, "test"),
        ("u2", "a", 0, "train"),
        ("u2", "c", 1, "train"),
        ("u2", "b", 2, "valid"),
        ("u2", "a", 3, "test"),
        ("u3", "a", 0, "train"),
        ("u3", "b", 1, "train"),
        ("u3", "e", 2, "valid"),
        ("u3", "c", 3, "test"),
    ]
    inter = Interactions.from_frame(pd.DataFrame(rows, columns=["user", "item", "pos", "split"]))
    pop = _PopularityScorer(inter)
    # test, exclude seen: u1 (seen a,b,c) target d: e ties d (0 = 0) -> rank 1
    # u2 (seen a,c,b) target a (repeat, kept): nothing left above -> rank 0
    # u3 (seen a,b,e) target c: rank 0
    m = evaluate(pop, inter, "test", ks=(1, 2), sampled=0)
    assert m["hr@1"] == pytest.approx(2 / 3)
    assert m["mrr"] == pytest.approx((1 / 2 + 1 + 1) / 3)
    # without exclusion: u1 d: a, b, c, e above/tied -> 4; u2 a: 0; u3 c: a, b -> 2
    m = evaluate(pop, inter, "test", ks=(1, 5), exclude_seen=False, sampled=0)
    assert m["mrr"] == pytest.approx((1 / 5 + 1 + 1 / 3) / 3)
    assert m["hr@1"] == pytest.approx(1 / 3)
    # validation: u1 (seen a,b) target c -> 0; u2 (seen a,c) target b -> 0; u3 (seen a,b) target e: c, d above/tied -> 2
    m = evaluate(pop, inter, "valid", ks=(1,), sampled=0)
    assert m["hr@1"] == pytest.approx(2 / 3)
    assert m["n_users"] == 3
