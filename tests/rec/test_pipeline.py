"""Two-stage retrieval + reranking: rank bookkeeping, HR@C invariance, final lists."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from persona.config import RecSettings
from persona.rec import Interactions, TwoStageRecommender, run_two_stage, two_stage_ranks
from persona.rec.evaluate import seen_mask
from persona.rec.pipeline import make_reranker, make_retriever
from persona.rec.pipeline import test_ranks as held_out_ranks

from .synth import chain_frame

NINF = float("-inf")


def test_two_stage_ranks_by_hand() -> None:
    #                 pad   1    2    3    4    5    6
    ret = torch.tensor([[NINF, 0.9, 0.8, 0.7, 0.6, 0.5, 0.4]] * 3)
    rer = torch.tensor([[NINF, 0.1, 0.2, 0.9, 0.8, 0.0, 5.0]] * 3)
    targets = torch.tensor([3, 6, 4])
    excl = torch.zeros(3, 7, dtype=torch.bool)
    excl[2, 1] = True  # row 2 has seen item 1: candidates become 2, 3, 4
    r_ret, r_fin = two_stage_ranks(ret, rer, targets, excl, n_candidates=3)
    # row 0: candidates 1,2,3; target 3 is the reranker's best -> 0 (retriever said 2)
    # row 1: target 6 is outside the candidates -> keeps retriever rank 5, despite its top reranker score
    # row 2: candidates 2,3,4 (1 excluded); target 4 is second by reranker (3 scores 0.9)
    assert r_ret.tolist() == [2, 5, 2]
    assert r_fin.tolist() == [0, 5, 1]


def test_candidate_cut_uses_pessimistic_retriever_rank() -> None:
    # target 3 ties with item 4 at the cut-off: its pessimistic rank (2) is not < C=2, so it is not a candidate
    ret = torch.tensor([[NINF, 0.9, 0.1, 0.5, 0.5]])
    rer = torch.tensor([[NINF, 0.0, 0.0, 9.0, 0.0]])
    r_ret, r_fin = two_stage_ranks(ret, rer, torch.tensor([3]), None, n_candidates=2)
    assert r_ret.tolist() == [2] and r_fin.tolist() == [2]


def test_hr_at_100_invariant_on_random_scores() -> None:
    g = torch.Generator().manual_seed(0)
    n_users, n_items = 300, 800
    ret = torch.randn(n_users, n_items + 1, generator=g).round(decimals=1)  # coarse: many ties
    rer = torch.randn(n_users, n_items + 1, generator=g)
    ret[:, 0] = rer[:, 0] = NINF
    targets = torch.randint(1, n_items + 1, (n_users,), generator=g)
    excl = torch.rand(n_users, n_items + 1, generator=g) < 0.05
    r_ret, r_fin = two_stage_ranks(ret, rer, targets, excl, n_candidates=100)
    assert torch.equal(r_ret < 100, r_fin < 100)
    assert torch.equal(r_fin[r_ret >= 100], r_ret[r_ret >= 100])
    inside = r_ret < 100
    assert 0 < int(inside.sum()) < n_users
    # inside the candidates the reranker decides: a top reranker score moves the target to rank 0
    rer2 = rer.clone()
    rer2[torch.arange(n_users), targets] = 100.0
    _, r_top = two_stage_ranks(ret, rer2, targets, excl, n_candidates=100)
    assert (r_top[inside] == 0).all()


@pytest.fixture(scope="module")
def chain() -> Interactions:
    return Interactions.from_frame(chain_frame(n_users=150, n_items=60, seed=3))


def test_reranking_keeps_hr_at_candidates(chain: Interactions) -> None:
    s = RecSettings(
        user_emb="random",
        item_emb="text",
        hidden=16,
        blocks=1,
        epochs=6,
        eval_every=2,
        patience=2,
        lr=5e-3,
        batch_size=64,
        candidates=20,
    )
    rng = np.random.default_rng(0)
    text = {i: rng.normal(size=8) for i in chain.items}
    res = run_two_stage(chain, None, text, s, seed=0, ks=(5, 20))
    ret, fin = res.metrics.retriever, res.metrics.reranked
    assert fin["hr@20"] == ret["hr@20"]
    assert 0.0 < ret["hr@20"] < 1.0  # barely trained: the invariance is not trivial
    assert fin["n_users"] == ret["n_users"] == 150
    assert fin["mrr"] != ret["mrr"]
    assert "sampled100/hr@5" in ret and res.seed == 0 and res.user_emb == "random"
    retriever, reranker = res.models
    assert reranker.variant == ("none", "random") and retriever.variant == ("random", "text")


def test_two_stage_final_list(chain: Interactions) -> None:
    s = RecSettings(
        user_emb="none",
        item_emb="random",
        hidden=16,
        blocks=1,
        epochs=20,
        eval_every=2,
        patience=3,
        lr=1e-2,
        batch_size=64,
        candidates=10,
        k=3,
    )
    res = run_two_stage(chain, None, None, s, seed=1)
    retriever, reranker = res.models
    assert retriever is reranker  # (none, random) is its own reranker
    two = TwoStageRecommender(retriever, reranker)
    out = two.recommend(["u000", "u001"])
    assert out.groupby("user").size().tolist() == [3, 3]
    assert set(out["retriever_rank"]) <= set(range(1, 11))
    for _, g in out.groupby("user"):
        assert g["score"].is_monotonic_decreasing and g["rank"].tolist() == [1, 2, 3]
    sess = two.recommend_session(["i010", "i011"])
    assert sess["item"].iloc[0] == "i012"
    assert len(sess) == 3


def test_served_list_is_the_evaluated_ranking(chain: Interactions) -> None:
    # serving and evaluation order candidates by one function: for the same models and the same input
    # (history='test' is the input of the test split), the item served at position p evaluates at rank p
    s = RecSettings(
        user_emb="random", item_emb="random", hidden=16, blocks=1, epochs=4, eval_every=2, lr=5e-3,
        batch_size=64, candidates=15, k=15,
    )  # fmt: skip
    res = run_two_stage(chain, None, None, s, seed=2)
    retriever, reranker = res.models
    assert retriever is not reranker
    served = TwoStageRecommender(retriever, reranker).recommend(None, history="test")
    assert served.groupby("user").size().eq(15).all()

    # the held-out item: served at its evaluated final rank, or not served and ranked beyond the list
    ranks = held_out_ranks(retriever, reranker).merge(served, on=["user", "item"], how="left")
    inside = ranks["rank"].notna()
    assert 0 < int(inside.sum()) < len(ranks)
    assert (ranks.loc[inside, "rank"] == ranks.loc[inside, "final_rank"]).all()
    assert (ranks.loc[~inside, "final_rank"] > 15).all()

    # every served item, taken as the target, evaluates at its served position
    es = chain.eval_set("test")
    a, b = retriever.score_eval_set(es), reranker.score_eval_set(es)
    excl = seen_mask(es.history, a.shape[1])
    by_user = served.set_index(["user", "rank"])["item"]
    for p in range(1, 16):
        items = [by_user[(chain.users[u], p)] for u in es.users]
        targets = torch.as_tensor(chain.encode_items(items))
        _, final = two_stage_ranks(a, b, targets, excl, n_candidates=15)
        assert final.tolist() == [p - 1] * len(es), p


def test_fusion_weight_zero_is_the_paper_and_one_is_the_retriever() -> None:
    from persona.rec.rerank import fuse, rerank

    g = torch.Generator().manual_seed(0)
    ret, rer = torch.randn(4, 31, generator=g), torch.randn(4, 31, generator=g)
    paper, fused0, fused1 = rerank(ret, rer, None, 10), rerank(ret, rer, None, 10, 0.0), rerank(ret, rer, None, 10, 1.0)
    assert torch.equal(paper.items, fused0.items) and torch.equal(paper.scores, fused0.scores)
    top = ret[:, 1:].topk(10, dim=1).indices + 1  # the retriever's own order of its candidates
    assert torch.equal(fused1.items, top)
    half = rerank(ret, rer, None, 10, 0.5)
    assert torch.equal(half.items.sort(1).values, paper.items.sort(1).values)  # same candidates, new order
    # z-scores: the fused score is the mean of the two standardised scores, so shifting or scaling either
    # model's scores leaves the order unchanged
    shifted = rerank(3 * ret + 7, 0.1 * rer - 2, None, 10, 0.5)
    assert torch.equal(shifted.items, half.items)
    valid = torch.ones(4, 10, dtype=torch.bool)
    z = fuse(torch.arange(10.0).expand(4, 10), torch.zeros(4, 10), valid, 0.5)
    assert torch.allclose(z.mean(1), torch.zeros(4), atol=1e-6)  # a constant reranker adds nothing


def test_choose_weight_is_the_validation_best_and_final_ranks_follow_it(chain: Interactions) -> None:
    from persona.rec.pipeline import choose_weight, evaluate_two_stage

    s = RecSettings(epochs=2, hidden=8, blocks=1, candidates=10, user_emb="random", item_emb="random")
    ret = make_retriever(s, None, None, 0).fit(chain)
    rer = make_reranker(s, 1).fit(chain)
    w, curve = choose_weight(ret, rer, [0.0, 0.5, 1.0])
    assert set(curve) == {0.0, 0.5, 1.0} and curve[w] == max(curve.values())
    assert all(w <= v for v in curve if curve[v] == curve[w])  # ties go to the smaller weight
    m = evaluate_two_stage(ret, rer, "valid", weight=w, sampled=0)
    assert m.final["ndcg@10"] == pytest.approx(curve[w])
    assert evaluate_two_stage(ret, rer, "valid", weight=0.0, sampled=0).final == m.reranked
    with pytest.raises(ValueError, match="fusion weights"):
        choose_weight(ret, rer, [1.5])


def test_ranks_for_many_weights_equal_one_rerank_per_weight():
    """The validation curve retrieves once per chunk and reorders the candidates per weight; each weight's
    ranks equal the served list's (a fresh :func:`rerank` with the target unmasked), and the retriever's."""
    from persona.rec.evaluate import rank_targets
    from persona.rec.rerank import rerank, two_stage_ranks_by_weight

    g = torch.Generator().manual_seed(3)
    b, n, c = 64, 300, 20
    ret = torch.randn(b, n + 1, generator=g).round(decimals=1)  # coarse: many ties
    rer = torch.randn(b, n + 1, generator=g).round(decimals=1)
    tgt = torch.randint(1, n + 1, (b,), generator=g)
    tgt[:8] = ret[:8, 1:].argmax(1) + 1  # some targets surely among the candidates
    excl = torch.rand(b, n + 1, generator=g) < 0.3
    excl[torch.arange(b), tgt] = torch.rand(b, generator=g) < 0.5  # the target itself marked seen for some
    ws = [0.0, 0.3, 0.7, 1.0]
    ret_rank, finals = two_stage_ranks_by_weight(ret, rer, tgt, excl, c, ws)
    assert torch.equal(ret_rank, rank_targets(ret, tgt, excl))
    unmasked = excl.clone()
    unmasked[torch.arange(b), tgt] = False
    inside = 0
    for w, fin in zip(ws, finals):
        r = rerank(ret, rer, unmasked, c, w)
        for row in range(b):
            hit = (r.items[row] == tgt[row]).nonzero()
            if ret_rank[row] < c:
                assert hit.numel() == 1
                s = r.scores[row, hit[0, 0]]
                expect = int(((r.scores[row] >= s) & r.valid[row]).sum()) - 1  # ties counted against it
                assert int(fin[row]) == expect
                inside += 1
            else:
                assert int(fin[row]) == int(ret_rank[row])
    assert inside >= 8 * len(ws)
