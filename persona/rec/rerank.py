"""The one rerank rule of the two-stage recommender, shared by evaluation and serving.

:func:`rerank` takes the retriever's top ``C`` items (seen items excluded) and orders them by a final
score, ties by retriever order: ``w·z(retriever) + (1 − w)·z(reranker)``, each score standardised over the
row's candidates (:func:`fuse`). ``w = 0`` is the paper's list (reranker order), ``w = 1`` the retriever's;
the weight is chosen on validation (:func:`persona.rec.pipeline.choose_weight`). Serving (:class:`~persona.rec.pipeline.TwoStageRecommender`)
shows the first ``k`` of that order; evaluation (:func:`two_stage_ranks`) gives a held-out item its
position in it, counting reranker ties pessimistically (the item after every candidate it ties with),
or its retriever rank when it is not a candidate. Outside exact ties the evaluated rank of an item is
therefore its served position (``tests/rec/test_pipeline.py`` checks this user by user).
"""

from __future__ import annotations

from collections.abc import Sequence
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
        scores: ``[B, C]`` their final scores (the reranker's own scores when the weight is 0).
        retriever_rank: ``[B, C]`` their 0-based rank in the retriever's candidate list.
        valid: ``[B, C]`` false where a row had fewer than ``C`` eligible items (those cells pad the end).
    """

    items: Tensor
    scores: Tensor
    retriever_rank: Tensor
    valid: Tensor


def fuse(ret_c: Tensor, rer_c: Tensor, valid: Tensor, weight: float) -> Tensor:
    """Final scores of candidates: ``weight·z(ret_c) + (1 − weight)·z(rer_c)``, z over each row's valid
    candidates (a constant row standardises to 0). ``weight == 0`` returns ``rer_c`` itself, so the
    paper's order and its ties are exactly the reranker's."""
    if weight == 0.0:
        return rer_c
    if weight == 1.0:
        return ret_c

    def z(x: Tensor) -> Tensor:
        v = valid.to(x.dtype)
        n = v.sum(1, keepdim=True).clamp(min=1)
        xv = torch.where(valid, x, torch.zeros_like(x))
        mean = xv.sum(1, keepdim=True) / n
        var = (((xv - mean) * v) ** 2).sum(1, keepdim=True) / n
        return (x - mean) / var.sqrt().clamp(min=1e-12)

    return weight * z(ret_c) + (1.0 - weight) * z(rer_c)


def _retrieve(
    ret_scores: Tensor, exclude: Tensor | None, n_candidates: int, keep: Tensor | None = None
) -> tuple[Tensor, Tensor, Tensor]:
    """The retriever's top ``n_candidates`` per row: ``(items, their retriever scores, valid)``.

    Column 0 and ``exclude``-d items are never candidates, except ``keep[row]`` (the evaluated target,
    which a seen-item mask may mark). One full-catalogue pass; everything after it is ``[B, C]``.
    """
    masked = ret_scores.clone()
    masked[:, 0] = NINF
    if exclude is not None:
        masked.masked_fill_(exclude, NINF)
        if keep is not None:
            rows = torch.arange(len(keep), device=masked.device)
            masked[rows, keep] = ret_scores[rows, keep]
    c = min(n_candidates, masked.shape[1] - 1)
    top = masked.topk(c, dim=1)
    return top.indices, top.values, top.values > NINF


def _order(cand: Tensor, ret_c: Tensor, rer_c: Tensor, valid: Tensor, weight: float) -> Reranked:
    """Candidates in final order (:func:`fuse` score descending, ties by retriever rank)."""
    if not 0.0 <= weight <= 1.0:
        raise ValueError(f"fusion weight must be in [0, 1], got {weight}")
    fs = fuse(ret_c, rer_c, valid, weight)
    order = torch.sort(fs.masked_fill(~valid, NINF), dim=1, descending=True, stable=True).indices
    return Reranked(
        items=cand.gather(1, order),
        scores=fs.gather(1, order),
        retriever_rank=order,
        valid=valid.gather(1, order),
    )


def rerank(
    ret_scores: Tensor, rer_scores: Tensor, exclude: Tensor | None, n_candidates: int, weight: float = 0.0
) -> Reranked:
    """Retrieve ``n_candidates`` items by ``ret_scores`` and order them by the final score.

    Args:
        ret_scores: retriever scores ``[B, n_items + 1]`` (column 0 is padding and never a candidate).
        rer_scores: reranker scores ``[B, n_items + 1]``, same device.
        exclude: boolean ``[B, n_items + 1]``, items that may not be candidates (the seen items); ``None``.
        n_candidates: candidate set size ``C`` (at most ``n_items``).
        weight: the retriever's weight in the final score (:func:`fuse`); 0 = the paper's reranker order.

    Returns:
        The :class:`Reranked` candidates: final score descending, ties by retriever rank.
    """
    cand, ret_c, valid = _retrieve(ret_scores, exclude, n_candidates)  # _order checks the weight
    return _order(cand, ret_c, rer_scores.gather(1, cand), valid, weight)


def two_stage_ranks(
    ret_scores: Tensor, rer_scores: Tensor, targets: Tensor, exclude: Tensor | None, n_candidates: int,
    weight: float = 0.0,
) -> tuple[Tensor, Tensor]:
    """Ranks of the targets under the retriever alone and after :func:`rerank` with ``weight``.

    Args:
        ret_scores: retriever scores ``[B, n_items + 1]``.
        rer_scores: reranker scores ``[B, n_items + 1]``.
        targets: ``[B]`` target item indices.
        exclude: boolean ``[B, n_items + 1]`` seen items (never candidates; the target is never excluded).
        n_candidates: candidate set size ``C``.
        weight: the retriever's weight in the final score (0 = the paper's reranked list).

    Returns:
        ``(retriever ranks, final ranks)``, 0-based, pessimistic ties. A target with retriever rank
        ``< C`` gets its rank among the candidates by final score; otherwise it keeps the retriever rank.
    """
    ret_rank, (final,) = two_stage_ranks_by_weight(ret_scores, rer_scores, targets, exclude, n_candidates, (weight,))
    return ret_rank, final


def two_stage_ranks_by_weight(
    ret_scores: Tensor, rer_scores: Tensor, targets: Tensor, exclude: Tensor | None, n_candidates: int,
    weights: Sequence[float],
) -> tuple[Tensor, list[Tensor]]:
    """:func:`two_stage_ranks` for several fusion weights at once: the retriever ranks, and the final
    ranks per weight. The full-catalogue work (the target's retriever rank, the top-``C`` retrieval, the
    reranker's scores of the candidates) is done once; each weight only reorders ``[B, C]`` candidates.
    """
    ret_rank = rank_targets(ret_scores, targets, exclude)
    cand, ret_c, valid = _retrieve(ret_scores, exclude, n_candidates, keep=targets)
    rer_c = rer_scores.gather(1, cand)
    c = cand.shape[1]
    finals = []
    for w in weights:
        r = _order(cand, ret_c, rer_c, valid, w)
        is_t = r.items == targets[:, None]
        t = torch.where(is_t, r.scores, torch.full_like(r.scores, NINF)).max(1).values  # NINF: not a candidate
        rer_rank = ((r.scores >= t[:, None]) & r.valid & ~is_t).sum(1)
        finals.append(torch.where(ret_rank < c, rer_rank, ret_rank))
    return ret_rank, finals
