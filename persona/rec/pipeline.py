"""Two-stage recommendation (the paper's Sec. 4.2): a persona-aware SASRec retriever, a plain SASRec reranker.

1. The **retriever** — SASRec with a user-embedding variant (``user_emb`` in none / random / llm / kg) and
   an item-embedding variant (``item_emb`` in random / text) — scores the whole catalogue; its top
   ``candidates`` (100) items, seen items excluded, are the candidate set.
2. The **reranker** — plain SASRec (no user input, random item init) trained on the same sequences —
   reorders the candidates by its own scores to favour short-term intent; the top ``k`` form the list.

Evaluation of the reranked list stays a full-catalogue ranking: candidates take ranks 0..C-1 in reranker
order, every other item follows in retriever order. A target outside the candidates therefore keeps its
retriever rank, and HR@C of the reranked list equals the retriever's HR@C exactly (ties included: both
use the retriever's pessimistic rank to decide whether the target made the cut).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import Tensor

from persona.config import RecSettings

from .evaluate import DEFAULT_KS, metrics_from_ranks, rank_targets, sampled_ranks, seen_mask
from .model import SASRecRecommender
from .sequences import Interactions

log = logging.getLogger(__name__)


def two_stage_ranks(
    ret_scores: Tensor, rer_scores: Tensor, targets: Tensor, exclude: Tensor | None, n_candidates: int
) -> tuple[Tensor, Tensor]:
    """Ranks of the targets under the retriever alone and after reranking its top ``n_candidates``.

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
    b = len(targets)
    rows = torch.arange(b, device=ret_scores.device)
    ret_rank = rank_targets(ret_scores, targets, exclude)
    masked = ret_scores.clone()
    masked[:, 0] = float("-inf")
    if exclude is not None:
        keep_t = masked[rows, targets].clone()
        masked = masked.masked_fill(exclude, float("-inf"))
        masked[rows, targets] = keep_t
    c = min(n_candidates, masked.shape[1] - 1)
    cand = masked.topk(c, dim=1).indices
    real = masked.gather(1, cand) > float("-inf")
    t = rer_scores[rows, targets]
    rs = rer_scores.gather(1, cand)
    rer_rank = ((rs >= t[:, None]) & real & (cand != targets[:, None])).sum(1)
    return ret_rank, torch.where(ret_rank < c, rer_rank, ret_rank)


def evaluate_two_stage(
    retriever: SASRecRecommender,
    reranker: SASRecRecommender,
    split: str = "test",
    *,
    ks: Iterable[int] = DEFAULT_KS,
    n_candidates: int | None = None,
    exclude_seen: bool | None = None,
    sampled: int = 100,
    seed: int = 0,
    chunk: int = 2048,
) -> dict[str, dict[str, float]]:
    """Full-ranking metrics of the retriever and of the reranked list on ``split``.

    Returns:
        ``{'retriever': {...}, 'reranked': {...}}`` with the keys of :func:`metrics_from_ranks`; the
        retriever also gets ``sampled100/…`` figures.

    Raises:
        ValueError: the two models were trained on different catalogues.
    """
    _, inter = retriever._require_fit()
    _, inter2 = reranker._require_fit()
    if inter.items != inter2.items:
        raise ValueError("retriever and reranker were trained on different item catalogues")
    c = n_candidates or retriever.settings.candidates
    excl_on = retriever.settings.exclude_seen if exclude_seen is None else exclude_seen
    ks = tuple(ks)
    es = inter.eval_set(split)  # type: ignore[arg-type]
    full_hist = inter.eval_set("all", es.users).history
    gen = torch.Generator().manual_seed(seed)
    ret_r, fin_r, smp_r = [], [], []
    for start in range(0, len(es), chunk):
        part = es.subset(slice(start, start + chunk))
        a = retriever.score_eval_set(part)
        b = reranker.score_eval_set(part).to(a.device)
        tgt = torch.as_tensor(part.targets, device=a.device)
        excl = seen_mask(part.history, a.shape[1], a.device) if excl_on else None
        r1, r2 = two_stage_ranks(a, b, tgt, excl, c)
        ret_r.append(r1.cpu())
        fin_r.append(r2.cpu())
        if sampled:
            m = seen_mask(full_hist[start : start + chunk], a.shape[1], a.device)
            smp_r.append(sampled_ranks(a, tgt, m, sampled, gen).cpu())
    empty = torch.zeros(0, dtype=torch.long)
    out_ret = metrics_from_ranks(torch.cat(ret_r) if ret_r else empty, ks)
    out_fin = metrics_from_ranks(torch.cat(fin_r) if fin_r else empty, ks)
    if sampled:
        sm = metrics_from_ranks(torch.cat(smp_r) if smp_r else empty, tuple(k for k in ks if k <= sampled))
        out_ret.update({f"sampled{sampled}/{k}": v for k, v in sm.items() if k != "n_users"})
    return {"retriever": out_ret, "reranked": out_fin}


def test_ranks(retriever: SASRecRecommender, reranker: SASRecRecommender, split: str = "test") -> pd.DataFrame:
    """Per user, the held-out item of ``split`` and its 1-based full-ranking ranks under the retriever and
    in the final (reranked) list — the ranks :func:`evaluate_two_stage` turns into metrics, user by user.

    Returns:
        ``user, item, retriever_rank, final_rank, candidates``.
    """
    _, inter = retriever._require_fit()
    c = retriever.settings.candidates
    es = inter.eval_set(split)  # type: ignore[arg-type]
    rows = []
    for start in range(0, len(es), 2048):
        part = es.subset(slice(start, start + 2048))
        a = retriever.score_eval_set(part)
        b = reranker.score_eval_set(part).to(a.device)
        tgt = torch.as_tensor(part.targets, device=a.device)
        excl = seen_mask(part.history, a.shape[1], a.device) if retriever.settings.exclude_seen else None
        r1, r2 = two_stage_ranks(a, b, tgt, excl, c)
        rows.append(pd.DataFrame({
            "user": [inter.users[u] for u in part.users], "item": [inter.items[t - 1] for t in part.targets],
            "retriever_rank": (r1.cpu().numpy() + 1), "final_rank": (r2.cpu().numpy() + 1), "candidates": c,
        }))
    return pd.concat(rows, ignore_index=True) if rows else pd.DataFrame(
        columns=["user", "item", "retriever_rank", "final_rank", "candidates"])


def make_retriever(
    settings: RecSettings,
    user_vecs: Mapping[str, np.ndarray] | None,
    item_text: Mapping[str, np.ndarray] | None,
    seed: int,
    **kwargs: Any,
) -> SASRecRecommender:
    """An unfitted retriever for ``settings.user_emb`` / ``settings.item_emb`` (vectors passed only when used)."""
    return SASRecRecommender(
        settings,
        user_emb=user_vecs if settings.user_emb in ("llm", "kg") else None,
        item_emb=item_text if settings.item_emb == "text" else None,
        seed=seed,
        **kwargs,
    )


def make_reranker(settings: RecSettings, seed: int, **kwargs: Any) -> SASRecRecommender:
    """An unfitted reranker: the same settings with ``user_emb='none'``, ``item_emb='random'``."""
    return SASRecRecommender(settings, seed=seed, user_variant="none", item_variant="random", **kwargs)


def run_two_stage(
    inter: Interactions,
    user_vecs: Mapping[str, np.ndarray] | None,
    item_text: Mapping[str, np.ndarray] | None,
    settings: RecSettings,
    seed: int,
    *,
    reranker: SASRecRecommender | None = None,
    split: str = "test",
    ks: Iterable[int] = DEFAULT_KS,
    on_epoch: Callable[[dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    """Train the retriever (and the reranker unless given), evaluate both stages on ``split``.

    Args:
        inter: interactions.
        user_vecs: user id -> persona vector for ``settings.user_emb`` in ``{'llm', 'kg'}`` (else ignored).
        item_text: item id -> text vector for ``settings.item_emb == 'text'`` (else ignored).
        settings: retriever settings (variant, hyperparameters, candidates).
        seed: seed of both models.
        reranker: an already fitted reranker on ``inter`` (reused across variants); ``None`` trains one.
            The (none, random) retriever is itself the reranker and is reused as such.
        split: evaluation split.
        ks: cut-offs.
        on_epoch: per-epoch callback for both trainings.

    Returns:
        ``{'retriever': metrics, 'reranked': metrics, 'user_emb', 'item_emb', 'seed',
        'retriever_best_epoch', 'retriever_valid_ndcg@10', 'fit_seconds', 'models': (retriever, reranker)}``.
    """
    t0 = time.perf_counter()
    retriever = make_retriever(settings, user_vecs, item_text, seed, on_epoch=on_epoch).fit(inter)
    fit_s = time.perf_counter() - t0
    if reranker is None:
        if retriever.variant == ("none", "random"):
            reranker = retriever
        else:
            reranker = make_reranker(settings, seed, on_epoch=on_epoch).fit(inter)
    res: dict[str, Any] = dict(evaluate_two_stage(retriever, reranker, split, ks=ks, seed=seed))
    res.update(
        user_emb=settings.user_emb,
        item_emb=settings.item_emb,
        seed=seed,
        retriever_best_epoch=retriever.best_epoch,
        **{"retriever_valid_ndcg@10": retriever.best_score},
        fit_seconds=fit_s,
        models=(retriever, reranker),
    )
    return res


class TwoStageRecommender:
    """Retrieve ``candidates`` items with a persona-aware SASRec, rerank them with a plain SASRec.

    Args:
        retriever: fitted retriever.
        reranker: fitted reranker on the same catalogue.
        candidates: candidate set size; default the retriever's ``settings.candidates``.
        k: final list length; default the retriever's ``settings.k``.
    """

    def __init__(
        self,
        retriever: SASRecRecommender,
        reranker: SASRecRecommender,
        *,
        candidates: int | None = None,
        k: int | None = None,
    ) -> None:
        _, a = retriever._require_fit()
        _, b = reranker._require_fit()
        if a.items != b.items:
            raise ValueError("retriever and reranker were trained on different item catalogues")
        self.retriever, self.reranker = retriever, reranker
        self.candidates = candidates or retriever.settings.candidates
        self.k = k or retriever.settings.k

    def recommend(
        self, users: list[str] | str | None = None, *, k: int | None = None, history: str = "all"
    ) -> pd.DataFrame:
        """Final top-``k`` lists for known users: ``user, item, rank, score (reranker), retriever_rank``."""
        k = k or self.k
        cand = self.retriever.recommend(users, k=self.candidates, history=history)  # type: ignore[arg-type]
        scores = self.reranker.score(sorted(set(cand["user"])), split=history)  # type: ignore[arg-type]
        _, inter = self.reranker._require_fit()
        order = {u: i for i, u in enumerate(sorted(set(cand["user"])))}
        rows = cand["user"].map(order).to_numpy()
        cols = inter.encode_items(cand["item"].tolist())
        cand = cand.rename(columns={"rank": "retriever_rank"}).drop(columns=["score"])
        cand["score"] = scores[torch.tensor(rows), torch.tensor(cols)].numpy().astype(float)
        cand = cand.sort_values(
            ["user", "score", "retriever_rank"], ascending=[True, False, True], kind="stable"
        )
        cand["rank"] = cand.groupby("user").cumcount() + 1
        out = cand[cand["rank"] <= k]
        return out[["user", "item", "rank", "score", "retriever_rank"]].reset_index(drop=True)

    def recommend_session(
        self, items: list[str], user_vec: np.ndarray | None = None, *, k: int | None = None
    ) -> pd.DataFrame:
        """Final top-``k`` after an anonymous session; the persona vector goes to the retriever only."""
        k = k or self.k
        rm, _ = self.retriever._require_fit()
        cand = self.retriever.recommend_session(items, user_vec if rm.has_user else None, k=self.candidates)
        rer = self.reranker.recommend_session(
            items, None, k=self.reranker.module.n_items if self.reranker.module else 1, exclude_seen=True
        )
        score = dict(zip(rer["item"], rer["score"]))
        cand = cand.rename(columns={"rank": "retriever_rank"})
        cand["score"] = cand["item"].map(score).astype(float)
        cand = cand.sort_values(["score", "retriever_rank"], ascending=[False, True], kind="stable").head(k)
        cand["rank"] = np.arange(1, len(cand) + 1)
        return cand[["item", "rank", "score", "retriever_rank"]].reset_index(drop=True)
