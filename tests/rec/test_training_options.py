"""The speed options of SASRec training: length-bucketed batches and sampled softmax."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from persona.config import RecSettings
from persona.rec import Interactions, SASRecRecommender
from persona.rec._training import epoch_batches
from persona.rec.sasrec import SASRec

from .synth import chain_frame


def test_bucketed_batches_cover_every_window_once_with_similar_lengths() -> None:
    g = torch.Generator().manual_seed(0)
    lengths = torch.randint(1, 51, (1000,), generator=g)
    for bucketed in (False, True):
        batches = epoch_batches(lengths, 32, torch.Generator().manual_seed(1), bucketed=bucketed, bucket_batches=8)
        assert len(batches) == -(-1000 // 32)  # the same number of optimiser steps either way
        assert sorted(torch.cat(batches).tolist()) == list(range(1000))
    spread = lambda bs: float(torch.stack([lengths[b].max() - lengths[b].min() for b in bs]).float().mean())
    shuffled = epoch_batches(lengths, 32, torch.Generator().manual_seed(1), bucketed=False)
    bucketed_ = epoch_batches(lengths, 32, torch.Generator().manual_seed(1), bucketed=True, bucket_batches=8)
    assert spread(bucketed_) < spread(shuffled) / 4  # a batch holds windows of similar length
    again = epoch_batches(lengths, 32, torch.Generator().manual_seed(1), bucketed=True, bucket_batches=8)
    assert all(torch.equal(a, b) for a, b in zip(bucketed_, again))  # deterministic under the generator


def test_shuffled_batches_are_the_plain_permutation() -> None:
    """'shuffled' draws exactly what training drew before the option existed (results are unchanged)."""
    lengths = torch.ones(300, dtype=torch.long)
    got = epoch_batches(lengths, 128, torch.Generator().manual_seed(5), bucketed=False)
    want = torch.randperm(300, generator=torch.Generator().manual_seed(5)).split(128)
    assert all(torch.equal(a, b) for a, b in zip(got, want))


def test_sampled_softmax_is_a_cross_entropy_over_the_drawn_items() -> None:
    torch.manual_seed(0)
    m = SASRec(n_items=40, max_len=6, hidden=8, blocks=1, heads=1, dropout=0.0)
    m.eval()
    seq = torch.randint(1, 41, (5, 6))
    tgt = torch.randint(1, 41, (5, 6))
    g = torch.Generator().manual_seed(3)
    loss = m.loss(seq, tgt, kind="sampled", n_neg=16, generator=g)
    # the same draw by hand: target logit against the 16 shared negatives, the target itself masked
    neg = torch.randint(1, 41, (16,), generator=torch.Generator().manual_seed(3))
    h = m(seq)[tgt > 0]
    y = tgt[tgt > 0]
    emb = m.item_embeddings()
    logits = torch.cat([(h * emb[y]).sum(-1, keepdim=True), (h @ emb[neg].T).masked_fill(neg[None] == y[:, None], float("-inf"))], 1)
    assert loss.item() == pytest.approx(F.cross_entropy(logits, torch.zeros(len(y), dtype=torch.long)).item(), rel=1e-5)
    assert torch.isfinite(loss) and loss.requires_grad


@pytest.mark.parametrize("options", [{"loss": "sampled", "negatives": 32}, {"batching": "bucketed"}])
def test_training_with_the_options_learns_the_chain(options: dict) -> None:
    inter = Interactions.from_frame(chain_frame(n_users=120, n_items=30))
    s = RecSettings(user_emb="none", item_emb="random", epochs=15, hidden=16, blocks=1, **options)
    m = SASRecRecommender(s).fit(inter)
    assert m.evaluate("test")["hr@10"] > 0.6  # a ring walk is predictable; chance is 10/30


def test_min_epochs_holds_early_stopping_back() -> None:
    from persona.rec._training import TrainState
    from persona.rec.sasrec import SASRec

    m = SASRec(5, max_len=3, hidden=8)
    st = TrainState()
    for epoch, score in enumerate([0.3, 0.2, 0.1, 0.1, 0.1], start=1):
        st.epoch = epoch
        st.observe(score, m, patience=1, min_epochs=4)
        assert st.done == (epoch >= 4)  # patience ran out at epoch 2, but not before epoch 4
    assert st.best_epoch == 1 and st.best_score == 0.3


def test_a_validation_within_noise_of_the_best_does_not_count_against_patience() -> None:
    """``patience_noise``: early stopping counts a validation only when it is clearly (paired, per user)
    below the best one; a dip inside the noise of a small validation split does not stop a model."""
    from persona.rec._training import TrainState, below_best
    from persona.rec.sasrec import SASRec

    g = torch.Generator().manual_seed(0)
    best = (torch.rand(900, generator=g) < 0.2).double() * torch.rand(900, generator=g)  # per-user NDCG@10
    dip = best.clone()
    dip[:400] = best[:400].roll(1)  # hits move between users, as from one epoch to the next ...
    dip -= 0.002 * (dip > 0)  # ... and the mean dips a little: well within one paired standard error
    drop = best * 0.5  # every hit halves: clearly worse
    assert not below_best(dip, best, 1.0) and below_best(dip, best, 0.0) and below_best(drop, best, 1.0)

    m = SASRec(5, max_len=3, hidden=8)
    for noise, bad in ((1.0, [0, 0, 1]), (0.0, [0, 1, 2])):
        st = TrainState()
        for epoch, values in enumerate([best, dip, drop], start=1):
            st.epoch = epoch
            st.observe(float(values.mean()), m, patience=2, values=values, noise=noise)
            assert st.bad == bad[epoch - 1], (noise, epoch)
        assert st.done == (noise == 0.0) and st.best_epoch == 1
        assert st.best_values is best


def test_the_noise_rule_applies_to_small_validation_splits_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """A fit whose validations after the first stay within the noise of the best trains on under the rule, and
    stops after ``patience`` when the split has ``patience_noise_users`` users or more (plain patience)."""
    g = torch.Generator().manual_seed(0)
    best = (torch.rand(60, generator=g) < 0.3).double()
    calls: list[int] = []

    def validations(self: SASRecRecommender, es) -> torch.Tensor:
        calls.append(len(es))
        return best if len(calls) == 1 else best.roll(1) - 0.001 * best.roll(1)  # just below, well inside the noise

    monkeypatch.setattr(SASRecRecommender, "_valid_ndcg", validations)
    inter = Interactions.from_frame(chain_frame(n_users=60, n_items=20))
    epochs = {}
    for users in (61, 60):
        calls.clear()
        s = RecSettings(user_emb="none", item_emb="random", epochs=6, patience=2, hidden=8, blocks=1,
                        patience_noise_users=users)
        m = SASRecRecommender(s).fit(inter)
        epochs[users] = (len(m.history), m.best_epoch)
    assert calls == [60] * 3 and epochs == {61: (6, 1), 60: (3, 1)}


def test_validation_ranks_one_fixed_sample_of_users_when_there_are_more(monkeypatch: pytest.MonkeyPatch) -> None:
    """``valid_users``: early stopping and the final stage's weight rank the same fixed sample of users (the
    same for every model and seed), so validation does not grow with the users; 0 ranks them all."""
    from persona.rec import pipeline
    from persona.rec.sequences import EvalSet

    inter = Interactions.from_frame(chain_frame(n_users=60, n_items=20))
    validated: list[list[int]] = []
    real = SASRecRecommender._valid_ndcg

    def spy(self: SASRecRecommender, es: EvalSet) -> torch.Tensor:
        validated.append(es.users.tolist())
        return real(self, es)

    monkeypatch.setattr(SASRecRecommender, "_valid_ndcg", spy)
    base = RecSettings(epochs=2, eval_every=1, hidden=8, blocks=1, candidates=10, valid_users=15)
    ret = SASRecRecommender(base, user_variant="random", item_variant="random", seed=0).fit(inter)
    rer = SASRecRecommender(base, user_variant="none", item_variant="random", seed=1).fit(inter)
    assert len(validated) == 4 and len(validated[0]) == 15 and all(v == validated[0] for v in validated)
    ranked: list[int] = []
    monkeypatch.setattr(SASRecRecommender, "score_eval_set",
                        lambda self, es, real=SASRecRecommender.score_eval_set: ranked.extend(es.users.tolist()) or real(self, es))
    choice = pipeline.final_weight(ret, rer, ret.settings)
    assert sorted(set(ranked)) == sorted(validated[0]) and choice.curve  # the fusion weight: the same users

    validated.clear()
    SASRecRecommender(base.model_copy(update={"valid_users": 0}), user_variant="none", item_variant="random", seed=0).fit(inter)
    assert len(validated[0]) == len(inter.eval_set("valid")) == 60
