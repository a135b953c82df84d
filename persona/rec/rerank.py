"""The one rerank rule of the two-stage recommender, shared by evaluation and serving.

:func:`rerank` takes the retriever's top ``C`` items (seen items excluded) and orders them by the
reranker's score, ties by retriever order. Serving (:class:`~persona.rec.pipeline.TwoStageRecommender`)
shows the first ``k`` of that order; evaluation (:func:`two_stage_ranks`) gives a held-out item its
position in it, counting reranker ties pessimistically (the item after every candidate it ties with),
or its retriever rank when it is not a candidate. Outside exact ties the evaluated rank of an item is
therefore its served position (``tests/rec/test_pipeline.py`` checks this user by user).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from .evaluate import rank_targets

NINF = float("-inf")


@dataclass(frozen=True)
class Reranked:
    """Candidates in final order, one row per input row.

    Attributes:
        items: ``[B, C]`` item indices, best first.
        scores: ``[B, C]`` their reranker scores.
        retriever_rank: ``[B, C]`` their 0-based rank in the retriever's candidate list.
        valid: ``[B, C]`` false where a row had fewer than ``C`` eligible items (those cells pad the end).
    """

    items: Tensor
    scores: Tensor
    retriever_rank: Tensor
    valid: Tensor


def rerank(ret_scores: Tensor, rer_scores: Tensor, exclude: Tensor | None, n_candidates: int) -> Reranked:
    """Retrieve ``n_candidates`` items by ``ret_scores`` and order them by ``rer_scores``.

    Args:
        ret_scores: retriever scores ``[B, n_items + 1]`` (column 0 is padding and never a candidate).
        rer_scores: reranker scores ``[B, n_items + 1]``, same device.
        exclude: boolean ``[B, n_items + 1]``, items that may not be candidates (the seen items); ``None``.
        n_candidates: candidate set size ``C`` (at most ``n_items``).

    Returns:
        The :class:`Reranked` candidates: reranker score descending, ties by retriever rank.
    """
    masked = ret_scores.clone()
    masked[:, 0] = NINF
    if exclude is not None:
        masked = masked.masked_fill(exclude, NINF)
    c = min(n_candidates, masked.shape[1] - 1)
    top = masked.topk(c, dim=1)
    cand, valid = top.indices, top.values > NINF
    rs = rer_scores.gather(1, cand)
    order = torch.sort(rs.masked_fill(~valid, NINF), dim=1, descending=True, stable=True).indices
    return Reranked(
        items=cand.gather(1, order),
        scores=rs.gather(1, order),
        retriever_rank=order,
        valid=valid.gather(1, order),
    )


def two_stage_ranks(
    ret_scores: Tensor, rer_scores: Tensor, targets: Tensor, exclude: Tensor | None, n_candidates: int
) -> tuple[Tensor, Tensor]:
    """Ranks of the targets under the retriever alone and after :func:`rerank`.

    Args:
        ret_scores: retriever scores ``[B, n_items + 1]``.
        rer_scores: reranker scores ``[B, n_items + 1]``.
        targets: ``[B]`` target item indices.
        exclude: boolean ``[B, n_items + 1]`` seen items (never candidates; the target is never excluded).
        n_candidates: candidate set size ``C``.

    Returns:
        ``(retriever ranks, reranked ranks)``, 0-based, pessimistic ties. A target with retriever rank
        ``< C`` gets its rank among the candidates by reranker score; otherwise it keeps the retriever rank.
    """
    rows = torch.arange(len(targets), device=ret_scores.device)
    ret_rank = rank_targets(ret_scores, targets, exclude)
    if exclude is not None:
        exclude = exclude.clone()
        exclude[rows, targets] = False
    r = rerank(ret_scores, rer_scores, exclude, n_candidates)
    c = r.items.shape[1]
    t = rer_scores[rows, targets]
    rer_rank = ((r.scores >= t[:, None]) & r.valid & (r.items != targets[:, None])).sum(1)
    return ret_rank, torch.where(ret_rank < c, rer_rank, ret_rank)
