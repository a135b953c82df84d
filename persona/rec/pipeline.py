"""Two-stage recommendation (the paper's Sec. 4.2): a persona-aware SASRec retriever, a plain SASRec reranker.

1. The **retriever** — SASRec with a user-embedding variant (``user_emb`` in none / random / llm / kg) and
   an item-embedding variant (``item_emb`` in random / text) — scores the whole catalogue; its top
   ``candidates`` (100) items, seen items excluded, are the candidate set.
2. The **reranker** — plain SASRec (no user input, random item init) trained on the same sequences —
   scores the candidates for short-term intent.
3. The **final** list orders the candidates by ``w·z(retriever) + (1 − w)·z(reranker)``
   (:func:`persona.rec.rerank.fuse`), ``w`` chosen on the validation split among
   ``settings.fusion_weights`` (:func:`choose_weight`); ``final_stage = "paper"`` fixes ``w = 0``, the
   paper's persona-blind reranked list, which is always reported too (``reranked``). The persona-blind
   reranker alone gives back the retriever's persona gain; the fused list keeps it when validation says so
   and falls back to the paper's order when it does not.

Evaluation of the reranked list stays a full-catalogue ranking: candidates take ranks 0..C-1 in reranker
order, every other item follows in retriever order. A target outside the candidates therefore keeps its
retriever rank, and HR@C of the reranked list equals the retriever's HR@C exactly (ties included: both
use the retriever's pessimistic rank to decide whether the target made the cut).

Why ~400 lines: the two stages' training, evaluation, weight choice and serving share one scoring loop
(:func:`_chunks`) and one rerank rule (:mod:`persona.rec.rerank`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

import numpy as np
import pandas as pd
import torch
from torch import Tensor

from persona.config import RecSettings

from ._training import EpochRecord
from .evaluate import DEFAULT_KS, metrics_from_ranks, rank_targets, sampled_ranks, seen_mask
from .model import SASRecRecommender
from .rerank import Reranked, rerank, two_stage_ranks, two_stage_ranks_by_weight
from .sequences import EvalSet, Interactions, validation_sample

__all__ = [
    "FinalChoice",
    "Retriever",
    "TwoStageMetrics",
    "TwoStageRecommender",
    "TwoStageRun",
    "choose_weight",
    "evaluate_two_stage",
    "final_weight",
    "make_reranker",
    "make_retriever",
    "run_two_stage",
    "test_ranks",
    "two_stage_ranks",
]

log = logging.getLogger(__name__)
History = Literal["valid", "test", "all"]


class Retriever(Protocol):
    """What the first stage must answer: a fitted SASRec, or a model-free baseline such as
    :class:`persona.rec.popularity.PopularityRecommender`."""

    settings: RecSettings
    best_epoch: int
    best_score: float

    @property
    def interactions(self) -> Interactions: ...

    def score_eval_set(self, es: EvalSet) -> Tensor: ...


@dataclass(frozen=True)
class TwoStageMetrics:
    """Full-ranking metrics of both stages (keys of :func:`~persona.rec.evaluate.metrics_from_ranks`).

    Attributes:
        retriever: the retriever's metrics, with ``sampled100/…`` figures when sampled ranking ran.
        reranked: the metrics of the paper's reranked list (reranker order, ``w = 0``).
        final: the metrics of the final list at ``weight`` (equal to ``reranked`` when ``weight == 0``).
        weight: the retriever's weight in the final score.
        ranks: with ``keep_ranks``, per user the target and its 1-based retriever and final ranks (the
            frame :func:`test_ranks` returns), from the same scoring pass.
        lists: with ``lists_k``, per user the final top-``lists_k`` (``user, item, rank``), same pass.
    """

    retriever: dict[str, float]
    reranked: dict[str, float]
    final: dict[str, float]
    weight: float = 0.0
    ranks: pd.DataFrame | None = None
    lists: pd.DataFrame | None = None


@dataclass(frozen=True)
class FinalChoice:
    """How the final list is made, as chosen on the validation split.

    Attributes:
        weight: the retriever's weight in the fused score (0 = the paper's reranked list).
        curve: validation NDCG@10 of the fused list per weight tried (empty for 'paper').
        fallback: the reranker's own full ranking beat every fused list on validation, so the final list
            is that ranking: the retriever — and with it the persona — is left out, because on this data
            it did not help. Only the 'fusion' final stage falls back; the paper's never does.
        alone: validation NDCG@10 of the reranker's own ranking (NaN when not compared).
    """

    weight: float
    curve: dict[float, float]
    fallback: bool = False
    alone: float = float("nan")


@dataclass(frozen=True)
class TwoStageRun:
    """What :func:`run_two_stage` trained and measured.

    Attributes:
        metrics: both stages' metrics on the evaluation split, with the per-user ranks (``metrics.ranks``).
        user_emb: the retriever's user-embedding variant.
        item_emb: the retriever's item-embedding variant.
        seed: the seed of both models.
        retriever_best_epoch: the epoch whose weights the retriever kept.
        retriever_valid_ndcg: the retriever's best validation NDCG@10.
        final_weight: the retriever's weight in the final list (chosen on validation, or 0 for 'paper').
        weight_curve: validation NDCG@10 of the final list per weight tried (empty for 'paper').
        final_fallback: the final list is the reranker's own ranking (see :class:`FinalChoice`).
        fit_seconds: the retriever's training time.
        seconds: wall time of each part: ``fit`` (both models, side by side with ``jobs = 2``), ``choose``
            (the final stage's weight on validation) and ``evaluate`` (both stages on the split).
        retriever: the fitted retriever.
        reranker: the fitted reranker (the retriever itself for the ``(none, random)`` variant).
    """

    metrics: TwoStageMetrics
    user_emb: str
    item_emb: str
    seed: int
    retriever_best_epoch: int
    retriever_valid_ndcg: float
    final_weight: float
    weight_curve: dict[float, float]
    fit_seconds: float
    retriever: SASRecRecommender
    reranker: SASRecRecommender
    final_fallback: bool = False
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def models(self) -> tuple[SASRecRecommender, SASRecRecommender]:
        """``(retriever, reranker)``."""
        return self.retriever, self.reranker


def _same_catalogue(retriever: Retriever, reranker: SASRecRecommender) -> Interactions:
    inter, inter2 = retriever.interactions, reranker.interactions
    if inter.items != inter2.items:
        raise ValueError("retriever and reranker were trained on different item catalogues")
    return inter


def _chunks(
    retriever: Retriever, reranker: SASRecRecommender, es: EvalSet, exclude_seen: bool, chunk: int
) -> Iterator[tuple[EvalSet, Tensor, Tensor, Tensor | None]]:
    """``(rows, retriever scores, reranker scores, seen mask or None)`` for ``es``, ``chunk`` rows at a time."""
    for start in range(0, len(es), chunk):
        part = es.subset(slice(start, start + chunk))
        a = retriever.score_eval_set(part)
        b = reranker.score_eval_set(part).to(a.device)
        yield part, a, b, seen_mask(part.history, a.shape[1], a.device) if exclude_seen else None


def evaluate_two_stage(
    retriever: Retriever,
    reranker: SASRecRecommender,
    split: str = "test",
    *,
    ks: Iterable[int] = DEFAULT_KS,
    n_candidates: int | None = None,
    exclude_seen: bool | None = None,
    sampled: int = 100,
    seed: int = 0,
    chunk: int = 2048,
    weight: float = 0.0,
    fallback: bool = False,
    keep_ranks: bool = False,
    lists_k: int = 0,
) -> TwoStageMetrics:
    """Full-ranking metrics of the retriever, of the paper's reranked list and of the final list (fusion
    ``weight``, or with ``fallback`` the reranker's own full ranking) on ``split``; with ``keep_ranks`` and
    ``lists_k`` also the per-user ranks and the final top lists, from the same scoring pass (the models
    score ``split`` once).

    Returns:
        Both stages' metrics; the retriever also gets ``sampled100/…`` figures.

    Raises:
        ValueError: the two models were trained on different catalogues.
    """
    inter = _same_catalogue(retriever, reranker)
    c = n_candidates or retriever.settings.candidates
    excl_on = retriever.settings.exclude_seen if exclude_seen is None else exclude_seen
    ks = tuple(ks)
    es = inter.eval_set(split)  # type: ignore[arg-type]
    full_hist = inter.eval_set("all", es.users).history
    gen = torch.Generator().manual_seed(seed)
    ret_r, rer_r, fin_r, smp_r = [], [], [], []
    rank_frames: list[pd.DataFrame] = []
    list_frames: list[pd.DataFrame] = []
    for n, (part, a, b, excl) in enumerate(_chunks(retriever, reranker, es, excl_on, chunk)):
        tgt = torch.as_tensor(part.targets, device=a.device)
        ws = (0.0,) if fallback or weight == 0.0 else (0.0, weight)
        r1, finals = two_stage_ranks_by_weight(a, b, tgt, excl, c, ws)
        ret_r.append(r1.cpu())
        rer_r.append(finals[0].cpu())
        fin_r.append(rank_targets(b, tgt, excl).cpu() if fallback else finals[-1].cpu())
        users = [inter.users[u] for u in part.users]
        if keep_ranks:
            rank_frames.append(pd.DataFrame({
                "user": users, "item": [inter.items[t - 1] for t in part.targets],
                "retriever_rank": r1.cpu().numpy() + 1, "final_rank": fin_r[-1].numpy() + 1, "candidates": c,
            }))
        if lists_k:
            r = rerank(b, b, excl, c) if fallback else rerank(a, b, excl, c, weight)
            list_frames.append(lists_frame(r, lists_k, users, inter.items))
        if sampled:
            m = seen_mask(full_hist[n * chunk : (n + 1) * chunk], a.shape[1], a.device)
            smp_r.append(sampled_ranks(a, tgt, m, sampled, gen).cpu())
    empty = torch.zeros(0, dtype=torch.long)
    out_ret = metrics_from_ranks(torch.cat(ret_r) if ret_r else empty, ks)
    out_rer = metrics_from_ranks(torch.cat(rer_r) if rer_r else empty, ks)
    out_fin = metrics_from_ranks(torch.cat(fin_r) if fin_r else empty, ks)
    if sampled:
        sm = metrics_from_ranks(torch.cat(smp_r) if smp_r else empty, tuple(k for k in ks if k <= sampled))
        out_ret.update({f"sampled{sampled}/{k}": v for k, v in sm.items() if k != "n_users"})
    ranks = (pd.concat(rank_frames, ignore_index=True) if rank_frames else pd.DataFrame(
        columns=["user", "item", "retriever_rank", "final_rank", "candidates"])) if keep_ranks else None
    lists = (pd.concat(list_frames, ignore_index=True) if list_frames else lists_frame(None, 0, [], [])) if lists_k else None
    return TwoStageMetrics(retriever=out_ret, reranked=out_rer, final=out_fin, weight=weight, ranks=ranks, lists=lists)


def choose_weight(
    retriever: Retriever,
    reranker: SASRecRecommender,
    weights: Sequence[float],
    *,
    split: str = "valid",
    chunk: int = 2048,
) -> tuple[float, dict[float, float]]:
    """The fusion weight with the best NDCG@10 of the final list on ``split`` (validation: the test split
    is never looked at), ties to the smaller weight; and NDCG@10 per weight.

    The two models score ``split`` once; each weight only reorders the candidates.
    """
    ws = _weights(weights)
    curve, _ = _validation_curve(retriever, reranker, ws, split, chunk)
    best = max(ws, key=lambda w: (curve[w], -w))
    return best, curve


def _weights(weights: Sequence[float]) -> list[float]:
    ws = sorted({float(w) for w in weights})
    if not ws or any(not 0.0 <= w <= 1.0 for w in ws):
        raise ValueError(f"fusion weights must be a non-empty list in [0, 1], got {list(weights)}")
    return ws


def _validation_curve(
    retriever: Retriever, reranker: SASRecRecommender, ws: Sequence[float], split: str, chunk: int
) -> tuple[dict[float, float], float]:
    """NDCG@10 on ``split`` of the final list per weight, and of the reranker's own ranking; one scoring pass."""
    inter = _same_catalogue(retriever, reranker)
    c = retriever.settings.candidates
    es = inter.eval_set(split)  # type: ignore[arg-type]
    if split == "valid":
        es = validation_sample(es, retriever.settings.valid_users)  # the users the models were validated on
    ranks: dict[float, list[Tensor]] = {w: [] for w in ws}
    alone: list[Tensor] = []
    for part, a, b, excl in _chunks(retriever, reranker, es, retriever.settings.exclude_seen, chunk):
        tgt = torch.as_tensor(part.targets, device=a.device)
        for w, r in zip(ws, two_stage_ranks_by_weight(a, b, tgt, excl, c, ws)[1]):  # one retrieval per chunk
            ranks[w].append(r.cpu())
        alone.append(rank_targets(b, tgt, excl).cpu())
    empty = torch.zeros(0, dtype=torch.long)
    curve = {w: metrics_from_ranks(torch.cat(r) if r else empty, (10,))["ndcg@10"] for w, r in ranks.items()}
    return curve, metrics_from_ranks(torch.cat(alone) if alone else empty, (10,))["ndcg@10"]


def test_ranks(
    retriever: Retriever, reranker: SASRecRecommender, split: str = "test", *, chunk: int = 2048,
    weight: float = 0.0, fallback: bool = False,
) -> pd.DataFrame:
    """Per user, the held-out item of ``split`` and its 1-based full-ranking ranks under the retriever and
    in the final list (fusion ``weight``; with ``fallback`` the reranker's own ranking) — the ranks
    :func:`evaluate_two_stage` turns into metrics.

    Returns:
        ``user, item, retriever_rank, final_rank, candidates``.
    """
    res = evaluate_two_stage(retriever, reranker, split, chunk=chunk, weight=weight, fallback=fallback,
                             sampled=0, keep_ranks=True)
    assert res.ranks is not None
    return res.ranks


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
        user_emb=user_vecs if settings.user_emb in ("llm", "kg", "meantext", "lightgcn", "kg_ui") else None,
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
    on_epoch: Callable[[EpochRecord], None] | None = None,
    jobs: int = 1,
    on_epoch_reranker: Callable[[EpochRecord], None] | None = None,
) -> TwoStageRun:
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
        on_epoch: per-epoch callback of the retriever's training (and of the reranker's, unless
            ``on_epoch_reranker`` is given).
        jobs: 2 fits the retriever and the reranker side by side in threads (:mod:`persona.rec._parallel`;
            the same models as one after the other).
        on_epoch_reranker: per-epoch callback of the reranker's training.

    Returns:
        The fitted models, their metrics and the retriever's training figures.
    """
    from ._parallel import Fits

    def fit_timed(model: SASRecRecommender) -> tuple[SASRecRecommender, float]:
        t0 = time.perf_counter()
        return model.fit(inter), time.perf_counter() - t0

    own = reranker is None and (settings.user_emb, settings.item_emb) != ("none", "random")
    t0 = time.perf_counter()
    with Fits(jobs if own else 1) as fits:  # the retriever and the reranker side by side
        ret_job = fits.submit(fit_timed, make_retriever(settings, user_vecs, item_text, seed, on_epoch=on_epoch))
        rer_cb = on_epoch_reranker or on_epoch
        rer_job = fits.submit(fit_timed, make_reranker(settings, seed, on_epoch=rer_cb)) if own else None
        retriever, fit_s = ret_job.result()
        if rer_job is not None:
            reranker = rer_job.result()[0]
    if reranker is None:
        reranker = retriever
    t1 = time.perf_counter()
    choice = final_weight(retriever, reranker, settings)
    weight, curve = choice.weight, choice.curve
    t2 = time.perf_counter()
    metrics = evaluate_two_stage(retriever, reranker, split, ks=ks, seed=seed, weight=weight,
                                 fallback=choice.fallback, keep_ranks=True)
    return TwoStageRun(
        metrics=metrics,
        user_emb=settings.user_emb,
        item_emb=settings.item_emb,
        seed=seed,
        retriever_best_epoch=retriever.best_epoch,
        retriever_valid_ndcg=retriever.best_score,
        final_weight=weight,
        weight_curve=curve,
        fit_seconds=fit_s,
        retriever=retriever,
        reranker=reranker,
        final_fallback=choice.fallback,
        seconds={"fit": t1 - t0, "choose": t2 - t1, "evaluate": time.perf_counter() - t2},
    )


def final_weight(
    retriever: Retriever, reranker: SASRecRecommender, settings: RecSettings
) -> FinalChoice:
    """``settings.final_stage``'s final list, chosen on validation.

    'paper': weight 0. 'fusion': the weight of :func:`choose_weight`; and when the reranker's own full
    ranking has a higher validation NDCG@10 than every fused list, that ranking (``fallback``), so a
    retriever input that carries no signal for this data — or hurts — cannot make the final list worse
    than the model without it on validation.
    """
    if settings.final_stage == "paper" or retriever is reranker:
        return FinalChoice(0.0, {})
    ws = _weights(settings.fusion_weights)
    curve, alone = _validation_curve(retriever, reranker, ws, "valid", 2048)
    weight = max(ws, key=lambda w: (curve[w], -w))
    return FinalChoice(weight, curve, fallback=alone > max(curve.values()), alone=alone)


class TwoStageRecommender:
    """Retrieve ``candidates`` items with a persona-aware SASRec, rerank them with a plain SASRec.

    Both methods order the candidates with :func:`persona.rec.rerank.rerank`, the rule
    :func:`evaluate_two_stage` measures.

    Args:
        retriever: fitted retriever.
        reranker: fitted reranker on the same catalogue.
        candidates: candidate set size; default the retriever's ``settings.candidates``.
        k: final list length; default the retriever's ``settings.k``.
        weight: the retriever's weight in the final score (:func:`persona.rec.rerank.fuse`); 0 = the
            paper's reranked list.
        fallback: serve the reranker's own ranking (:class:`FinalChoice`); the retriever is unused.

    Raises:
        ValueError: the two models were trained on different catalogues.
    """

    def __init__(
        self,
        retriever: Retriever,
        reranker: SASRecRecommender,
        *,
        candidates: int | None = None,
        k: int | None = None,
        weight: float = 0.0,
        fallback: bool = False,
    ) -> None:
        self.inter = _same_catalogue(retriever, reranker)
        self.weight = float(weight)
        self.fallback = fallback
        # the fallback list is the reranker's own ranking: it retrieves its candidates too
        self.retriever, self.reranker = (reranker if fallback else retriever), reranker
        self.candidates = candidates or retriever.settings.candidates
        self.k = k or retriever.settings.k

    def __repr__(self) -> str:
        return f"TwoStageRecommender({self.retriever!r}, {self.reranker!r}, candidates={self.candidates}, k={self.k}, weight={self.weight})"

    def recommend(
        self, users: Sequence[str] | str | None = None, *, k: int | None = None, history: History = "all"
    ) -> pd.DataFrame:
        """Final top-``k`` lists for known users: ``user, item, rank, score (final), retriever_rank``.

        Args:
            users: user ids; ``None`` = every user.
            k: list length; default ``self.k``.
            history: the input: ``'all'`` (everything known, for deployment), ``'test'`` (train + valid,
                the input :func:`test_ranks` evaluates) or ``'valid'`` (train).
        """
        k = k or self.k
        es = self.inter.eval_set(history, users, with_target=False)
        excl = self.retriever.settings.exclude_seen
        frames = [
            self._frame(rerank(a, b, m, self.candidates, self.weight), k, [self.inter.users[u] for u in part.users])
            for part, a, b, m in _chunks(self.retriever, self.reranker, es, excl, 2048)
        ]
        return pd.concat(frames, ignore_index=True) if frames else self._frame(None, k, [])

    def recommend_session(
        self, items: list[str], user_vec: np.ndarray | None = None, *, k: int | None = None
    ) -> pd.DataFrame:
        """Final top-``k`` after an anonymous session (its items excluded): ``item, rank, score,
        retriever_rank``; the persona vector goes to the retriever only."""
        k = k or self.k
        if not isinstance(self.retriever, SASRecRecommender):
            raise TypeError(f"{type(self.retriever).__name__} does not score sessions")
        rm, _ = self.retriever._require_fit()
        a = self.retriever.score_session(items, user_vec if rm.has_user else None)
        b = self.reranker.score_session(items).to(a.device)
        r = rerank(a, b, self.retriever.session_mask(items), self.candidates, self.weight)
        return self._frame(r, k, [""]).drop(columns=["user"])

    def _frame(self, r: Reranked | None, k: int, users: list[str]) -> pd.DataFrame:
        return lists_frame(r, k, users, self.inter.items)


def lists_frame(r: Reranked | None, k: int, users: Sequence[str], item_ids: Sequence[str]) -> pd.DataFrame:
    """Top-``k`` rows of a :class:`Reranked` as ``user, item, rank, score, retriever_rank`` (1-based)."""
    cols = ["user", "item", "rank", "score", "retriever_rank"]
    if r is None or not len(users):
        return pd.DataFrame({c: [] for c in cols})
    kk = min(k, r.items.shape[1])
    valid = r.valid[:, :kk].cpu().numpy()
    row, col = np.nonzero(valid)
    items = np.asarray(item_ids, dtype=object)
    return pd.DataFrame({
        "user": np.asarray(users, dtype=object)[row],
        "item": items[r.items[:, :kk].cpu().numpy()[row, col] - 1],
        "rank": col + 1,
        "score": r.scores[:, :kk].cpu().numpy()[row, col].astype(float),
        "retriever_rank": r.retriever_rank[:, :kk].cpu().numpy()[row, col] + 1,
    })
