"""SASRecRecommender: learning a known pattern, seeds, checkpoints, save/load, recommending."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from persona.config import RecSettings
from persona.rec import Interactions, SASRecRecommender

from .synth import chain_frame

FAST = {
    "hidden": 32,
    "blocks": 1,
    "heads": 1,
    "dropout": 0.1,
    "lr": 5e-3,
    "batch_size": 64,
    "eval_every": 2,
    "patience": 3,
}


@pytest.fixture(scope="module")
def chain() -> Interactions:
    return Interactions.from_frame(chain_frame())


def _rec(**kw) -> SASRecRecommender:  # type: ignore[no-untyped-def]
    args = {**FAST, "epochs": 30, "user_variant": "none", "item_variant": "random", **kw}
    return SASRecRecommender(**args)


def test_learns_next_item_pattern(chain: Interactions) -> None:
    rec = _rec(epochs=40, patience=10).fit(chain)
    m = rec.evaluate("test", ks=(1, 10), sampled=0)
    assert m["hr@1"] >= 0.97
    assert m["n_users"] == 120
    assert rec.best_score > 0.95 and 0 < rec.best_epoch <= 40
    # the ring continues: after i004 comes i005, then i006
    top = rec.recommend_session(["i003", "i004"], k=3)
    assert top["item"].iloc[0] == "i005"
    assert top["rank"].tolist() == [1, 2, 3]
    assert "i003" not in set(top["item"]) and "i004" not in set(top["item"])


def test_bce_loss_also_learns(chain: Interactions) -> None:
    rec = _rec(loss="bce", epochs=40, n_neg=4).fit(chain)
    assert rec.evaluate("test", ks=(10,), sampled=0)["hr@10"] >= 0.9


def test_same_seed_same_results_and_caller_rng_untouched(chain: Interactions) -> None:
    torch.manual_seed(123)
    state = torch.get_rng_state()
    a = _rec(epochs=4, seed=7).fit(chain)
    assert torch.equal(torch.get_rng_state(), state)  # fit runs in its own RNG scope
    torch.manual_seed(999)  # the caller's RNG does not influence a seeded fit
    b = _rec(epochs=4, seed=7).fit(chain)
    c = _rec(epochs=4, seed=8).fit(chain)
    assert a.evaluate("test") == b.evaluate("test")
    assert torch.equal(a.score(split="test"), b.score(split="test"))
    assert [h["loss"] for h in a.history] == [h["loss"] for h in b.history]
    assert not torch.equal(a.score(split="test"), c.score(split="test"))


def test_checkpoint_resume_matches_uninterrupted_run(chain: Interactions, tmp_path: Path) -> None:
    # constant learning rate: the epoch budget may grow on resume (a cosine schedule pins it, tested below)
    full = _rec(epochs=6, patience=10, lr_schedule="constant").fit(chain)
    ck = tmp_path / "ck.pt"
    _rec(epochs=4, patience=10, checkpoint=ck, lr_schedule="constant").fit(chain)  # "interrupted" after 4 epochs
    assert ck.exists()
    resumed = _rec(epochs=6, patience=10, checkpoint=ck, lr_schedule="constant").fit(chain)
    assert [h["epoch"] for h in resumed.history] == [1, 2, 3, 4, 5, 6]
    assert [h["loss"] for h in resumed.history] == [h["loss"] for h in full.history]
    assert torch.equal(resumed.score(split="test"), full.score(split="test"))
    with pytest.raises(ValueError, match=r"differs in \['settings.hidden'\]"):
        _rec(epochs=6, hidden=16, checkpoint=ck, lr_schedule="constant").fit(chain)


def test_cosine_schedule_resumes_mid_schedule_and_pins_the_epoch_budget(
    chain: Interactions, tmp_path: Path
) -> None:
    from persona.rec.model import scheduled_lr

    s = RecSettings(lr=4e-3, epochs=5, lr_schedule="cosine")
    lrs = [scheduled_lr(s, i, 10) for i in range(50)]
    assert lrs[9] == pytest.approx(4e-3) and lrs[0] == pytest.approx(4e-4)  # one-epoch linear warm-up
    assert all(a >= b for a, b in zip(lrs[9:], lrs[10:]))  # then non-increasing
    assert lrs[-1] == pytest.approx(0.0, abs=1e-12)
    kw = {"epochs": 5, "patience": 10, "eval_every": 1, "lr_schedule": "cosine"}
    full = _rec(**kw).fit(chain)
    ck = tmp_path / "ck.pt"

    class Stop(Exception):
        pass

    def stop_at_3(rec: dict) -> None:  # type: ignore[type-arg]
        if rec["epoch"] == 3:
            raise Stop

    with pytest.raises(Stop):
        _rec(**kw, checkpoint=ck, on_epoch=stop_at_3).fit(chain)
    resumed = _rec(**kw, checkpoint=ck).fit(chain)
    assert [h["loss"] for h in resumed.history] == [h["loss"] for h in full.history]
    assert torch.equal(resumed.score(split="test"), full.score(split="test"))
    assert [h["loss"] for h in full.history] != [h["loss"] for h in _rec(**{**kw, "lr_schedule": "constant"}).fit(chain).history]
    with pytest.raises(ValueError, match=r"settings.epochs"):  # the budget shapes the schedule
        _rec(**{**kw, "epochs": 8}, checkpoint=ck).fit(chain)


def test_early_stopping_restores_best_state(chain: Interactions) -> None:
    rec = _rec(epochs=60, patience=2, eval_every=1, lr=2e-2).fit(chain)
    vals = [h["valid_ndcg@10"] for h in rec.history]
    assert rec.best_score == max(vals)
    assert rec.history[-1]["epoch"] == rec.best_epoch + 2 or rec.history[-1]["epoch"] == 60
    from persona.rec.evaluate import metrics_from_ranks, ranks_for

    es = chain.eval_set("valid")
    now = metrics_from_ranks(ranks_for(rec.score_eval_set, es), (10,))["ndcg@10"]
    assert now == pytest.approx(rec.best_score)


def test_save_load_round_trip(chain: Interactions, tmp_path: Path) -> None:
    rec = _rec(epochs=4).fit(chain)
    rec.save(tmp_path / "model.pt")
    back = SASRecRecommender.load(tmp_path / "model.pt")
    assert torch.equal(back.score(["u001", "u002"]), rec.score(["u001", "u002"]))
    assert back.recommend_session(["i010"], k=5).equals(rec.recommend_session(["i010"], k=5))
    assert back.settings == rec.settings
    assert back.interactions.users == chain.users and back.interactions.fingerprint() == chain.fingerprint()


def test_recommend_for_users_excludes_history(chain: Interactions) -> None:
    rec = _rec().fit(chain)
    out = rec.recommend(["u000", "u005"], k=4)
    assert out.groupby("user").size().to_dict() == {"u000": 4, "u005": 4}
    for u in ("u000", "u005"):
        hist = {chain.items[i - 1] for i in chain.seqs[chain.user_index[u]]}
        got = out[out["user"] == u]
        assert not hist & set(got["item"])
        last = chain.seqs[chain.user_index[u]][-1]
        assert got["item"].iloc[0] == chain.items[last % chain.n_items]  # the next item on the ring
        assert got["score"].is_monotonic_decreasing
    same = rec.recommend(items=["i003", "i004"], k=3)
    assert same["item"].tolist() == rec.recommend_session(["i003", "i004"], k=3)["item"].tolist()
    keep = rec.recommend(["u000"], k=chain.n_items, exclude_seen=False)
    assert len(keep) == chain.n_items


def test_persona_model_needs_and_uses_vectors(chain: Interactions) -> None:
    rng = np.random.default_rng(0)
    vecs = {u: rng.normal(size=8).astype(np.float32) for u in chain.users}
    with pytest.raises(ValueError, match="needs user vectors"):
        _rec(user_variant="kg", epochs=1).fit(chain)
    rec = _rec(user_variant="kg", user_emb=vecs, epochs=4).fit(chain)
    a = rec.recommend_session(["i003", "i004"], vecs["u000"], k=30)
    b = rec.recommend_session(["i003", "i004"], vecs["u001"], k=30)
    assert not np.allclose(a.sort_values("item")["score"], b.sort_values("item")["score"])
    mean = rec.recommend_session(["i003", "i004"], None, k=30)  # population-average persona
    assert len(mean) == 28
    with pytest.raises(ValueError, match="3 dimensions; this model.s persona vectors have 8"):
        rec.recommend_session(["i003"], np.zeros(3))
    plain = _rec(epochs=1).fit(chain)
    with pytest.raises(ValueError, match="no user input"):
        plain.recommend_session(["i003"], vecs["u000"])


def test_settings_overrides_and_errors(chain: Interactions) -> None:
    rec = SASRecRecommender(RecSettings(hidden=16), user_variant="random", item_variant="random", blocks=1)
    assert (rec.settings.hidden, rec.settings.blocks, rec.variant) == (16, 1, ("random", "random"))
    with pytest.raises(TypeError, match="unknown RecSettings field"):
        SASRecRecommender(hiden=16)
    with pytest.raises(RuntimeError, match="not fitted"):
        rec.score()
    with pytest.raises(ValueError, match="needs item text vectors"):
        SASRecRecommender(user_variant="none", item_variant="text", epochs=1).fit(chain)
    with pytest.raises(KeyError, match="not in the catalogue"):
        _rec(epochs=1).fit(chain).recommend_session(["nope"])
