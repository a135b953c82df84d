"""The shared base of the sequence recommenders: what a fitted model answers (Cornac's ``Recommender``).

A subclass fits a module and implements :meth:`SequentialRecommender.score_eval_set` (catalogue scores
for the inputs of an :class:`~persona.rec.sequences.EvalSet`) and
:meth:`SequentialRecommender.score_session` (the same for an anonymous session); the base turns scores
into metrics and top-``k`` frames, so ranking, seen-item exclusion and id translation are written once.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
import pandas as pd
import torch
from torch import Tensor

from persona.config import RecSettings

from .evaluate import evaluate, seen_mask
from .sasrec import SASRec
from .sequences import EvalSet, Interactions


class SequentialRecommender:
    """Scores, metrics and top-``k`` lists of a fitted sequence model.

    Attributes:
        settings: the model's settings (``k``, ``exclude_seen`` are the defaults here).
        device: where scores are computed.
        module: the fitted module (``None`` before fitting).
        inter: the interactions it was fitted on (``None`` before fitting).
    """

    settings: RecSettings
    device: torch.device
    module: SASRec | None
    inter: Interactions | None

    @property
    def interactions(self) -> Interactions:
        """The interactions the model was fitted on (ids, histories); raises if not fitted."""
        return self._require_fit()[1]

    def _require_fit(self) -> tuple[SASRec, Interactions]:
        if self.module is None or self.inter is None:
            raise RuntimeError("the recommender is not fitted; call fit(inter) or load(path) first")
        return self.module, self.inter

    # ------------------------------------------------------------------ what a subclass scores

    def score_eval_set(self, es: EvalSet) -> Tensor:
        """Catalogue scores ``[len(es), n_items + 1]`` (column 0 = -inf) for the inputs of ``es``."""
        raise NotImplementedError

    def score_session(
        self,
        items: Sequence[str],
        user_vec: np.ndarray | None = None,
        *,
        unknown: Literal["error", "skip"] = "error",
    ) -> Tensor:
        """Catalogue scores ``[1, n_items + 1]`` (column 0 = -inf) after the session ``items``."""
        raise NotImplementedError

    # ------------------------------------------------------------------ built on the scores

    def score(
        self,
        users: Sequence[str] | np.ndarray | str | None = None,
        split: Literal["valid", "test", "all"] = "test",
    ) -> Tensor:
        """Scores of every catalogue item for ``users`` given their inputs for ``split``.

        Args:
            users: user ids (or indices); ``None`` = every user.
            split: ``'valid'`` (input = train items), ``'test'`` (train + valid) or ``'all'`` (whole history).

        Returns:
            CPU tensor ``[len(users), n_items + 1]``; column ``i`` scores item index ``i``, column 0 = -inf.
        """
        _, inter = self._require_fit()
        es = inter.eval_set(split, users, with_target=False)
        return self.score_eval_set(es).cpu()

    def evaluate(self, split: str = "test", **kwargs: Any) -> dict[str, float]:
        """Full-ranking metrics on ``split`` (see :func:`persona.rec.evaluate.evaluate` for ``kwargs``)."""
        _, inter = self._require_fit()
        kwargs.setdefault("exclude_seen", self.settings.exclude_seen)
        return evaluate(self, inter, split, **kwargs)

    # ------------------------------------------------------------------ recommending

    def recommend(
        self,
        users: Sequence[str] | str | None = None,
        *,
        items: Sequence[str] | None = None,
        user_vec: np.ndarray | None = None,
        k: int | None = None,
        exclude_seen: bool | None = None,
        history: Literal["valid", "test", "all"] = "all",
    ) -> pd.DataFrame:
        """Top-``k`` items for known users, or for an item sequence (then see :meth:`recommend_session`).

        Args:
            users: user ids; ``None`` with ``items=None`` = every user.
            items: an item-id sequence instead of users (an anonymous session).
            user_vec: persona vector for ``items`` (persona models only).
            k: list length; default ``settings.k``.
            exclude_seen: drop items of the user's known history; default ``settings.exclude_seen``.
            history: which history is the input: ``'all'`` (everything known — for deployment),
                ``'test'`` (train + valid) or ``'valid'`` (train).

        Returns:
            DataFrame ``user, item, rank (1..k), score`` (``user`` is empty for a session).
        """
        k = k or self.settings.k
        excl = self.settings.exclude_seen if exclude_seen is None else exclude_seen
        if items is not None:
            df = self.recommend_session(items, user_vec, k=k, exclude_seen=excl)
            df.insert(0, "user", "")
            return df
        _module, inter = self._require_fit()
        es = inter.eval_set(history, users, with_target=False)
        rows: list[pd.DataFrame] = []
        for start in range(0, len(es), 2048):
            part = es.subset(slice(start, start + 2048))
            sc = self.score_eval_set(part)
            if excl:
                sc = sc.masked_fill(seen_mask(part.history, sc.shape[1], sc.device), float("-inf"))
            rows.append(self._topk_frame(sc, k, [inter.users[u] for u in part.users]))
        return pd.concat(rows, ignore_index=True) if rows else _empty_frame()

    @torch.no_grad()
    def recommend_session(
        self,
        items: Sequence[str],
        user_vec: np.ndarray | None = None,
        *,
        k: int | None = None,
        exclude_seen: bool = True,
        unknown: Literal["error", "skip"] = "error",
    ) -> pd.DataFrame:
        """Top-``k`` items after an anonymous session ``items`` (chronological item ids).

        Args:
            items: the session so far; the last ``max_len`` are used.
            user_vec: a persona vector (same space as the ``user_emb`` vectors given at training; for the
                ``'random'`` variant, a vector of the learned table). ``None`` on a persona model uses the
                mean training persona (a "population-average" user).
            k: list length; default ``settings.k``.
            exclude_seen: drop the session's items.
            unknown: ``'error'`` or ``'skip'`` item ids not in the catalogue.

        Returns:
            DataFrame ``item, rank, score``.

        Raises:
            ValueError: ``user_vec`` is given to a model without a persona token, or has the wrong size.
        """
        k = k or self.settings.k
        sc = self.score_session(items, user_vec, unknown=unknown)
        if exclude_seen:
            sc = sc.masked_fill(self.session_mask(items, unknown=unknown), float("-inf"))
        df = self._topk_frame(sc, k, [""])
        return df.drop(columns=["user"])

    def session_mask(self, items: Sequence[str], *, unknown: Literal["error", "skip"] = "error") -> Tensor:
        """Boolean ``[1, n_items + 1]``, true at the session's items (the seen items of a session)."""
        _, inter = self._require_fit()
        idx = inter.encode_items(items, unknown=unknown)
        return seen_mask([idx], inter.n_items + 1, self.device)

    def _topk_frame(self, scores: Tensor, k: int, users: list[str]) -> pd.DataFrame:
        _, inter = self._require_fit()
        kk = min(k, scores.shape[1] - 1)
        top = scores.topk(kk, dim=1)
        val, ind = top.values.cpu().numpy(), top.indices.cpu().numpy()
        ok = np.isfinite(val)
        items = np.asarray(inter.items, dtype=object)
        r, c = np.nonzero(ok)
        return pd.DataFrame(
            {
                "user": np.asarray(users, dtype=object)[r],
                "item": items[ind[r, c] - 1],
                "rank": c + 1,
                "score": val[r, c].astype(float),
            }
        )


def _empty_frame() -> pd.DataFrame:
    return pd.DataFrame({"user": [], "item": [], "rank": [], "score": []})
