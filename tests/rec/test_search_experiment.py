"""Hyperparameter search and the Table 3 experiment on tiny data."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from persona.config import RecSettings
from persona.rec import TABLE3_VARIANTS, Interactions, random_search, run_experiment

from .synth import chain_frame

BASE = RecSettings(user_emb="none", item_emb="random", epochs=4, eval_every=2, patience=2, lr=5e-3)


@pytest.fixture(scope="module")
def chain() -> Interactions:
    return Interactions.from_frame(chain_frame(n_users=60, n_items=20))


def test_random_search_table_and_best(chain: Interactions) -> None:
    space = {"hidden": [8, 16], "blocks": [1], "dropout": [0.1, 0.3], "batch_size": [64]}
    res = random_search(chain, BASE, space=space, trials=3, seed=0)
    t = res.table
    assert len(t) == 3 and res.stopped_by == "trials"
    assert t["valid_ndcg@10"].is_monotonic_decreasing
    assert len(t[["hidden", "dropout"]].drop_duplicates()) == 3  # distinct grid points
    assert (res.best.hidden, res.best.dropout) == (t["hidden"].iloc[0], t["dropout"].iloc[0])
    assert res.best.epochs == 4 and res.best.user_emb == "none"  # the rest comes from the base settings
    again = random_search(chain, BASE, space=space, trials=3, seed=0).table
    pd.testing.assert_frame_equal(t.drop(columns="seconds"), again.drop(columns="seconds"))
    timed = random_search(chain, BASE, space=space, trials=3, time_budget_s=0.0)
    assert len(timed.table) == 1 and timed.stopped_by == "time"
    with pytest.raises(ValueError, match="not RecSettings fields"):
        random_search(chain, BASE, space={"depth": [1]})


def test_experiment_writes_table3(chain: Interactions, tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    users = {v: {u: rng.normal(size=6) for u in chain.users} for v in ("kg", "llm")}
    text = {i: rng.normal(size=10) for i in chain.items}
    s = RecSettings(epochs=2, eval_every=1, patience=2, hidden=8, blocks=1, candidates=10)
    msgs: list[str] = []
    summary = run_experiment(chain, users, text, s, seeds=[0, 1], out_dir=tmp_path, progress=msgs.append)
    per_seed = pd.read_csv(tmp_path / "results.csv")
    assert len(per_seed) == 3 * len(TABLE3_VARIANTS) * 2  # retriever, reranked (paper), final
    assert len(msgs) == 2 * len(
        TABLE3_VARIANTS
    )  # the (none, random) retriever is the reranker: trained once per seed
    assert len(summary) == 3 * len(TABLE3_VARIANTS)
    row = per_seed[(per_seed["stage"] == "retriever") & (per_seed["user_emb"] == "kg")]
    got = summary[(summary["stage"] == "retriever") & (summary["user_emb"] == "kg")].iloc[0]
    assert got["hr@10_mean"] == pytest.approx(row["hr@10"].mean())
    assert got["hr@10_std"] == pytest.approx(row["hr@10"].std(ddof=1))
    rr = per_seed[per_seed["stage"] == "reranked"].reset_index(drop=True)
    rt = per_seed[per_seed["stage"] == "retriever"].reset_index(drop=True)
    assert (rr["hr@10"] == rt["hr@10"]).all()  # candidates=10: reranking cannot change HR@10
    assert (rr["ndcg@10"] != rt["ndcg@10"]).any()
    fin = per_seed[per_seed["stage"] == "final"].reset_index(drop=True)
    fused = fin["final_fallback"] == 0  # a fused list reorders the retriever's 10 candidates: the same HR@10
    assert (fin["hr@10"] == rt["hr@10"])[fused].all() and fin["final_weight"].between(0, 1).all()
    own = fin[(fin["user_emb"] == "none") & (fin["item_emb"] == "random")].set_index("seed")["ndcg@10"]
    for r in fin[~fused].to_dict("records"):  # a fallback list is the reranker's own ranking
        assert r["ndcg@10"] == own[r["seed"]]
    plain = fin[(fin["user_emb"] == "none") & (fin["item_emb"] == "random")]
    assert (plain["final_weight"] == 0).all()  # the (none, random) retriever is the reranker: nothing to fuse
    paper = rr[(rr["user_emb"] == "none") & (rr["item_emb"] == "random")]
    assert plain["ndcg@10"].tolist() == paper["ndcg@10"].tolist()
    # list diagnostics on the final rows, and the paired test of the KG row against every other row
    assert fin["coverage@10"].between(0, 1).all() and fin["popularity_pct@10"].between(0, 1).all()
    sig = pd.read_csv(tmp_path / "significance.csv")
    assert set(sig["row"]) == {"kg/text"} and len(sig) == len(TABLE3_VARIANTS) - 1
    assert (sig["pairs"] == chain.n_users * 2).all()  # every test user, both seeds
    assert sig["p_value"].dropna().between(0, 1).all()
    assert len(list((tmp_path / "per_user").glob("*.csv"))) == len(TABLE3_VARIANTS) * 2
    md = (tmp_path / "results.md").read_text()
    table = [ln for ln in md.splitlines() if ln.startswith("| ")]
    assert sum(ln.count(" ± ") for ln in table) == 4 * 3 * len(TABLE3_VARIANTS)
    assert "mean ± std over 2 seeds" in md
    assert "| KG+LLM | Description (LLM) |" in md and "Reranking" in md and "**Final**" in md and "Wilcoxon" in md
    assert (tmp_path / "results.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (tmp_path / "config.json").exists() and (tmp_path / "summary.csv").exists()
    assert set(rt["seed"]) == {0, 1}


def test_experiment_skips_variants_without_vectors(chain: Interactions, tmp_path: Path) -> None:
    s = RecSettings(epochs=1, eval_every=1, hidden=8, blocks=1)
    summary = run_experiment(chain, {}, None, s, seeds=[0], out_dir=tmp_path)
    assert summary["user_emb"].tolist() == ["none", "none", "none"]  # retriever, reranked, final
    md = (tmp_path / "results.md").read_text()
    assert "Skipped: (none, text): no item text vectors" in md and "(kg, text): no kg user vectors" in md
    assert " ± " not in md and "one seed (no std)" in md
