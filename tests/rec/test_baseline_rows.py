"""Rows a user would try first in `persona experiment`: popularity, and user vectors learned per seed."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from persona.config import RecSettings
from persona.errors import ConfigError
from persona.pipeline import parse_variants
from persona.rec import Interactions, run_experiment
from persona.rec.evaluate import rank_targets
from persona.rec.experiment import SeededVectors
from persona.rec.popularity import PopularityRecommender

from .synth import chain_frame

S = RecSettings(epochs=2, eval_every=1, patience=2, hidden=8, blocks=1, candidates=10)


def test_popularity_counts_training_items_only() -> None:
    raw = pd.DataFrame({"user": ["a", "a", "a", "b", "b", "b", "c", "c", "c"],
                        "item": ["x", "y", "z", "x", "z", "y", "w", "z", "y"],
                        "pos": [0, 1, 2] * 3, "split": ["train", "valid", "test"] * 3})
    inter = Interactions.from_frame(raw)
    pop = PopularityRecommender(S).fit(inter)
    assert pop.counts() == {"x": 2, "w": 1, "y": 0, "z": 0}  # y and z are only ever valid/test items
    s = pop.score_eval_set(inter.eval_set("test"))
    assert s.shape == (3, inter.n_items + 1) and torch.isinf(s[:, 0]).all()
    order = [inter.items[int(i) - 1] for i in s[0, 1:].argsort(descending=True) + 1]
    assert order[:2] == ["x", "w"]  # ties (y, z) stay in a fixed order: all scores distinct
    assert len(set(s[0, 1:].tolist())) == inter.n_items
    assert np.isfinite(pop.best_score)


def test_popularity_row_goes_through_both_stages(tmp_path: Path) -> None:
    assert parse_variants("popularity,kg_ui/text,lightgcn/text") == [
        ("popularity", "none"), ("kg_ui", "text"), ("lightgcn", "text")]
    with pytest.raises(ConfigError, match="popularity"):
        parse_variants("popular")
    inter = Interactions.from_frame(chain_frame(n_users=60, n_items=20, seed=2))
    run_experiment(inter, {}, None, S, seeds=[0], out_dir=tmp_path, variants=[("none", "random"), ("popularity", "none")])
    res = pd.read_csv(tmp_path / "results.csv")
    pop = res[res["user_emb"] == "popularity"].set_index("stage")
    assert sorted(pop.index) == ["final", "reranked", "retriever"]
    # the retriever row is the popularity ranking itself, measured on the test split
    es = inter.eval_set("test")
    p = PopularityRecommender(S).fit(inter)
    from persona.rec.evaluate import metrics_from_ranks, seen_mask

    scores = p.score_eval_set(es)
    ranks = rank_targets(scores, torch.as_tensor(es.targets), seen_mask(es.history, scores.shape[1]))
    assert pop.loc["retriever", "ndcg@10"] == pytest.approx(metrics_from_ranks(ranks, (10,))["ndcg@10"])
    # the reranked list is the plain SASRec's order of popularity's candidates: HR@candidates is kept
    assert pop.loc["reranked", f"hr@{S.candidates}"] == pytest.approx(pop.loc["retriever", f"hr@{S.candidates}"])
    assert "| Most popular |" in (tmp_path / "results.md").read_text()
    assert (tmp_path / "per_user" / "popularity-none-seed0.csv").is_file()


def test_seeded_vectors_are_made_per_seed_and_not_again_on_rerun(tmp_path: Path) -> None:
    inter = Interactions.from_frame(chain_frame(n_users=60, n_items=20, seed=3))
    text = {i: np.random.default_rng(0).normal(size=8).astype(np.float32) for i in inter.items}
    calls: list[int] = []

    def make(seed: int) -> dict[str, np.ndarray]:
        calls.append(seed)
        rng = np.random.default_rng(seed)
        return {u: rng.normal(size=4).astype(np.float32) for u in inter.users}

    def source() -> SeededVectors:
        return SeededVectors(recipe="test-recipe", make=make)

    rows = [("none", "random"), ("lightgcn", "text")]
    run_experiment(inter, {"lightgcn": source()}, text, S, seeds=[0, 1], out_dir=tmp_path, variants=rows)
    assert calls == [0, 1]  # one learning per seed, with that seed
    res = pd.read_csv(tmp_path / "results.csv")
    lg = res[(res["user_emb"] == "lightgcn") & (res["stage"] == "retriever")]
    assert list(lg["seed"]) == [0, 1] and lg["settings_digest"].nunique() == 1
    run_experiment(inter, {"lightgcn": source()}, text, S, seeds=[0, 1], out_dir=tmp_path, variants=rows)
    assert calls == [0, 1]  # finished rows are recognised by the recipe: nothing is learned again
    with pytest.raises(ConfigError, match="--fresh"):  # another recipe is other settings
        run_experiment(inter, {"lightgcn": SeededVectors(recipe="other", make=make)}, text, S, seeds=[0, 1],
                       out_dir=tmp_path, variants=rows)


def test_attribute_agreement_follows_the_recent_items() -> None:
    from persona.rec.experiment import attribute_agreement

    raw = pd.DataFrame({"user": ["a"] * 4 + ["b"] * 4, "item": ["h1", "h2", "h3", "h4", "d1", "d2", "d3", "d4"],
                        "pos": [0, 1, 2, 3] * 2, "split": ["train", "train", "valid", "test"] * 2})
    inter = Interactions.from_frame(raw)
    attrs = {"h1": frozenset({"horror"}), "h2": frozenset({"horror"}), "h3": frozenset({"horror"}),
             "d1": frozenset({"doc"}), "d2": frozenset({"doc"}), "d3": frozenset({"doc"}), "d4": frozenset({"doc"})}
    lists = pd.DataFrame({"user": ["a", "a", "b", "b"], "item": ["h4", "d4", "h1", "d4"], "rank": [1, 2, 1, 2]})
    # a: h4 has no attribute, d4 is a documentary after horror -> 0 of 2; b: d4 agrees -> 1 of 2
    assert attribute_agreement(inter, lists, attrs, "test") == pytest.approx(0.25)
    # window=1 looks at the last input item only: a's is h2 (horror), b's is d2 (doc) -> the same shares
    assert attribute_agreement(inter, lists, attrs, "test", window=1) == pytest.approx(0.25)
    assert np.isnan(attribute_agreement(inter, lists, {}, "test"))


def test_final_list_falls_back_to_the_reranker_when_validation_says_the_retriever_hurts(tmp_path: Path) -> None:
    """A retriever input that carries no signal cannot make the final list worse than the model without it:
    on a ring walk popularity is useless, so validation picks the reranker's own ranking."""
    from persona.rec.pipeline import TwoStageRecommender, evaluate_two_stage, final_weight, make_reranker

    inter = Interactions.from_frame(chain_frame(n_users=80, n_items=30, seed=4))
    s = S.model_copy(update={"epochs": 15, "hidden": 16})
    rer = make_reranker(s, 0).fit(inter)
    pop = PopularityRecommender(s).fit(inter)
    choice = final_weight(pop, rer, s)
    assert choice.fallback and choice.alone > max(choice.curve.values())
    res = evaluate_two_stage(pop, rer, "test", weight=choice.weight, fallback=True)
    assert res.final["ndcg@10"] == pytest.approx(rer.evaluate("test")["ndcg@10"])
    assert res.final["ndcg@10"] > res.reranked["ndcg@10"]  # the paper's list stays on popularity's candidates
    lists = TwoStageRecommender(pop, rer, weight=choice.weight, fallback=True).recommend(None, k=5, history="test")
    own = rer.recommend(None, k=5, history="test")
    assert lists.sort_values(["user", "rank"])["item"].tolist() == own.sort_values(["user", "rank"])["item"].tolist()
    assert final_weight(pop, rer, s.model_copy(update={"final_stage": "paper"})).fallback is False
    run_experiment(inter, {}, None, s, seeds=[0], out_dir=tmp_path, variants=[("none", "random"), ("popularity", "none")])
    res_csv = pd.read_csv(tmp_path / "results.csv").set_index(["user_emb", "stage"])
    assert res_csv.loc[("popularity", "final"), "final_fallback"] == 1
    assert res_csv.loc[("popularity", "final"), "ndcg@10"] == pytest.approx(res_csv.loc[("none", "final"), "ndcg@10"])


@pytest.mark.parametrize("fallback", [False, True])
def test_one_scoring_pass_gives_the_served_lists_and_ranks(fallback: bool) -> None:
    """The experiment's per-user ranks and diagnostics lists come from the metrics' own scoring pass: the
    same ranks as :func:`test_ranks` and the same lists as the served :class:`TwoStageRecommender`."""
    from persona.rec.pipeline import TwoStageRecommender, evaluate_two_stage, make_reranker, make_retriever, test_ranks

    inter = Interactions.from_frame(chain_frame(n_users=40, n_items=25, seed=5))
    s = S.model_copy(update={"epochs": 3, "user_emb": "none", "item_emb": "random"})
    ret = make_retriever(s.model_copy(update={"user_emb": "random"}), None, None, 1).fit(inter)
    rer = make_reranker(s, 0).fit(inter)
    res = evaluate_two_stage(ret, rer, "test", weight=0.4, fallback=fallback, keep_ranks=True, lists_k=10)
    assert res.ranks is not None and res.lists is not None
    want = test_ranks(ret, rer, "test", weight=0.4, fallback=fallback)
    pd.testing.assert_frame_equal(res.ranks.reset_index(drop=True), want.reset_index(drop=True), check_dtype=False)
    served = TwoStageRecommender(ret, rer, weight=0.4, fallback=fallback).recommend(None, k=10, history="test")
    key = ["user", "rank"]
    assert res.lists.sort_values(key)["item"].tolist() == served.sort_values(key)["item"].tolist()
    from persona.rec.evaluate import metrics_from_ranks

    final = metrics_from_ranks(torch.as_tensor(want["final_rank"].to_numpy() - 1), (10,))
    assert res.final["ndcg@10"] == pytest.approx(final["ndcg@10"])
