"""Full-ranking evaluation: HR@K, NDCG@K, MRR over the whole catalogue, and sampled-100 as a secondary figure.

Protocol (one held-out target per user, leave-one-out):

* **Full ranking.** Every catalogue item is scored; the target's 0-based rank ``r`` is the number of
  other items that outrank it. HR@K = ``[r < K]``, NDCG@K = ``1 / log2(r + 2)`` if ``r < K`` else 0,
  MRR = ``1 / (r + 1)`` (no cut-off; ``mrr@K`` is the truncated variant). Per-user values are averaged.
  HR@100 is the recall of a 100-candidate retriever.
* **Ties are pessimistic**: an item with a score equal to the target's counts as ranked above it. A model
  that gives everything the same score therefore gets HR@K = 0 instead of an optimistic 1; with
  continuous scores from a trained model ties practically never happen.
* **Seen items.** With ``exclude_seen`` (the default) every item the user interacted with before the
  target (the :attr:`EvalSet.history`; in the default, non-session mode this is exactly the model's input
  sequence, up to ``max_len`` truncation) is removed from the ranking; the target itself is never
  removed, even when it repeats an earlier item. Amazon 5-core data has almost no repeats and ML-100K
  has none (one rating per user-item pair), so excluding seen items only removes impossible answers.
* **Sampled-100** (labelled ``sampled100/…``): the target is ranked against 100 items drawn uniformly,
  without replacement, from the items the user never interacted with in any split, using a seeded
  ``torch.Generator``. Reported only as a secondary figure; full ranking is the headline (sampled
  metrics can reorder models, Krichene & Rendle, KDD 2020).

Everything is vectorised torch on chunks of users.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Protocol

import numpy as np
import torch
from torch import Tensor

from .sequences import EvalSet, Interactions, pad_left

DEFAULT_KS = (10, 100)


class Scorer(Protocol):
    """Anything that scores the whole catalogue for the rows of an :class:`EvalSet`."""

    def score_eval_set(self, es: EvalSet) -> Tensor:
        """``[len(es), n_items + 1]`` scores, column 0 = padding (ignored)."""
        ...


def seen_mask(history: Sequence[np.ndarray], n_cols: int, device: torch.device | str = "cpu") -> Tensor:
    """Boolean ``[len(history), n_cols]``: True where the column's item is in the user's history."""
    h = torch.as_tensor(pad_left(history, max_len=max([1, *(len(x) for x in history)])), device=device)
    m = torch.zeros(len(history), n_cols, dtype=torch.bool, device=device)
    m.scatter_(1, h, True)
    m[:, 0] = False
    return m


def rank_targets(scores: Tensor, targets: Tensor, exclude: Tensor | None = None) -> Tensor:
    """0-based rank of each target among all catalogue items (pessimistic ties).

    Args:
        scores: ``[B, n_items + 1]``; column 0 is padding and never counts.
        targets: ``[B]`` item indices (>= 1).
        exclude: optional boolean ``[B, n_items + 1]``; True items are removed from the ranking (the
            target is kept even if marked).

    Returns:
        ``[B]`` int64 ranks: the number of non-excluded items other than the target whose score is
        greater than or equal to the target's.

    Raises:
        ValueError: a target is padding, or a target score is NaN.
    """
    if (targets < 1).any():
        raise ValueError("rank_targets: a target is 0 (padding); drop users without a target first")
    rows = torch.arange(len(targets), device=scores.device)
    t = scores[rows, targets]
    if torch.isnan(t).any():
        raise ValueError("rank_targets: a target score is NaN")
    above = scores >= t[:, None]
    above[:, 0] = False
    above[rows, targets] = False
    if exclude is not None:
        above.masked_fill_(exclude, False)
    return above.sum(1, dtype=torch.int32).long()  # an int32 count is about twice as fast as int64's


def metric_values(ranks: Tensor, ks: Iterable[int] = DEFAULT_KS) -> dict[str, Tensor]:
    """Per-user metrics from 0-based ranks: ``hr@K``, ``ndcg@K``, ``mrr@K`` for each K, and ``mrr``."""
    r = ranks.to(torch.float64)
    out: dict[str, Tensor] = {}
    for k in ks:
        hit = r < k
        out[f"hr@{k}"] = hit.to(torch.float64)
        out[f"ndcg@{k}"] = torch.where(hit, 1.0 / torch.log2(r + 2.0), torch.zeros_like(r))
        out[f"mrr@{k}"] = torch.where(hit, 1.0 / (r + 1.0), torch.zeros_like(r))
    out["mrr"] = 1.0 / (r + 1.0)
    return out


def metrics_from_ranks(ranks: Tensor, ks: Iterable[int] = DEFAULT_KS) -> dict[str, float]:
    """Averages of :func:`metric_values` over users, plus ``n_users``."""
    vals = metric_values(ranks, ks)
    out = {k: float(v.mean()) if len(v) else float("nan") for k, v in vals.items()}
    out["n_users"] = len(ranks)
    return out


def sampled_ranks(
    scores: Tensor, targets: Tensor, interacted: Tensor, n_neg: int, generator: torch.Generator
) -> Tensor:
    """Rank of each target among ``n_neg`` random never-interacted items (pessimistic ties).

    Each row's negatives are a uniform random subset of its allowed items (not interacted, not the target,
    not padding): the first ``n_neg`` distinct allowed items of a row of uniform draws, which is uniform
    over subsets by symmetry. That costs ``[B, 2·n_neg + 64]`` draws instead of a random key per catalogue
    item; a row whose draws hold too few allowed items (a user who interacted with much of a small
    catalogue) draws instead from a random key per item, which also returns every allowed item when there
    are fewer than ``n_neg``.

    Args:
        scores: ``[B, n_items + 1]``.
        targets: ``[B]``.
        interacted: boolean ``[B, n_items + 1]``, True for every item of the user (all splits).
        n_neg: negatives per user; fewer when the user has not enough non-interacted items.
        generator: a CPU generator (seeded by the caller).

    Returns:
        ``[B]`` ranks in ``0..n_neg``.
    """
    b, n = scores.shape
    dev = scores.device
    rows = torch.arange(b, device=dev)
    k = min(n_neg, n - 1)
    pick = torch.zeros(b, k, dtype=torch.long, device=dev)
    ok = torch.zeros(b, k, dtype=torch.bool, device=dev)
    if k > 0 and b > 0:
        draws = torch.randint(1, n, (b, 2 * k + 64), generator=generator).to(dev)
        good = ~interacted.gather(1, draws) & (draws != targets[:, None])
        srt, order = draws.sort(dim=1, stable=True)
        dup = torch.zeros_like(good)
        dup[:, 1:] = srt[:, 1:] == srt[:, :-1]
        good &= ~torch.zeros_like(good).scatter_(1, order, dup)  # a repeat of an earlier draw
        pos = good.cumsum(1)
        enough = pos[:, -1] >= k
        take = good & (pos <= k)
        pick[enough] = draws[enough][take[enough]].view(-1, k)
        ok[enough] = True
        few = (~enough).nonzero().flatten()
        if len(few):  # rare: a random key per catalogue item for these rows
            keys = torch.rand(len(few), n, generator=generator).to(dev)
            forbidden = interacted[few].clone()
            forbidden[:, 0] = True
            forbidden[torch.arange(len(few), device=dev), targets[few]] = True
            keys = keys.masked_fill(forbidden, 2.0)
            sel = keys.topk(k, dim=1, largest=False).indices
            pick[few], ok[few] = sel, keys.gather(1, sel) < 2.0
    t = scores[rows, targets]
    neg = scores.gather(1, pick)
    return ((neg >= t[:, None]) & ok).sum(1)


def evaluate(
    model: Scorer,
    inter: Interactions,
    split: str = "test",
    *,
    ks: Iterable[int] = DEFAULT_KS,
    exclude_seen: bool = True,
    sampled: int = 100,
    seed: int = 0,
    chunk: int = 2048,
    users: Sequence[str] | np.ndarray | None = None,
) -> dict[str, float]:
    """Full-ranking metrics (and sampled-``sampled`` metrics) of a model on ``split``.

    Args:
        model: a :class:`Scorer` (e.g. a fitted ``SASRecRecommender``).
        inter: the interactions the model was trained on.
        split: ``'valid'`` or ``'test'``.
        ks: cut-offs.
        exclude_seen: remove the user's earlier items from the ranking (see the module doc).
        sampled: negatives for the secondary sampled metrics; 0 skips them.
        seed: seed of the sampled negatives.
        chunk: users scored at once.
        users: restrict to these users (ids or indices); default every user with a target.

    Returns:
        ``{'hr@10': …, 'ndcg@10': …, 'mrr@10': …, 'hr@100': …, …, 'mrr': …, 'n_users': …}`` and, with
        ``sampled``, the same keys prefixed ``sampled100/``.
    """
    es = inter.eval_set(split, users)  # type: ignore[arg-type]
    ks = tuple(ks)
    all_ranks, s_ranks = [], []
    gen = torch.Generator().manual_seed(seed)
    full_hist = inter.eval_set("all", es.users).history if sampled else None
    for start in range(0, len(es), chunk):
        part = es.subset(slice(start, start + chunk))
        scores = model.score_eval_set(part)
        tgt = torch.as_tensor(part.targets, device=scores.device)
        excl = seen_mask(part.history, scores.shape[1], scores.device) if exclude_seen else None
        all_ranks.append(rank_targets(scores, tgt, excl).cpu())
        if sampled and full_hist is not None:
            inter_mask = seen_mask(full_hist[start : start + chunk], scores.shape[1], scores.device)
            s_ranks.append(sampled_ranks(scores, tgt, inter_mask, sampled, gen).cpu())
    ranks = torch.cat(all_ranks) if all_ranks else torch.zeros(0, dtype=torch.long)
    out = metrics_from_ranks(ranks, ks)
    if sampled:
        sr = torch.cat(s_ranks) if s_ranks else torch.zeros(0, dtype=torch.long)
        sm = metrics_from_ranks(sr, tuple(k for k in ks if k <= sampled))
        out.update({f"sampled{sampled}/{k}": v for k, v in sm.items() if k != "n_users"})
    return out


def ranks_for(
    score_fn: Callable[[EvalSet], Tensor], es: EvalSet, *, exclude_seen: bool = True, chunk: int = 2048
) -> Tensor:
    """Full-ranking 0-based ranks of ``es``'s targets, scoring ``chunk`` users at a time with ``score_fn``."""
    out = []
    for start in range(0, len(es), chunk):
        part = es.subset(slice(start, start + chunk))
        scores = score_fn(part)
        tgt = torch.as_tensor(part.targets, device=scores.device)
        excl = seen_mask(part.history, scores.shape[1], scores.device) if exclude_seen else None
        out.append(rank_targets(scores, tgt, excl).cpu())
    return torch.cat(out) if out else torch.zeros(0, dtype=torch.long)
