"""The most-popular baseline: every user gets the catalogue in order of training interactions.

The first baseline a recommender user tries, and the one that tells whether a model learned more than
popularity. Counts come from ``split == 'train'`` only, so the valid and test items never raise an item's
score. It answers what a retriever answers (:class:`persona.rec.pipeline.Retriever`), so ``persona
experiment`` evaluates it through the same two stages as the SASRec rows: its top 100 are the
candidates the plain SASRec reranks, and the final list fuses both with a weight chosen on validation.

Example:
    >>> import pandas as pd
    >>> from persona.rec import Interactions, leave_one_out
    >>> raw = pd.DataFrame({"user": list("aaabbbccc"), "item": list("xyzxywxyv"), "ts": [1, 2, 3] * 3})
    >>> pop = PopularityRecommender().fit(Interactions.from_frame(leave_one_out(raw, by="ts")))
    >>> pop.counts()
    {'x': 3, 'v': 0, 'w': 0, 'y': 0, 'z': 0}
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from persona.config import RecSettings

from .sequences import EvalSet, Interactions


class PopularityRecommender:
    """Scores every item by its number of training interactions (ties: the lower item index first).

    Attributes:
        settings: candidates and ``exclude_seen`` are read from it (the rest is unused).
        best_epoch: 0 (nothing is trained).
        best_score: its validation NDCG@10 once fitted.
    """

    variant = ("popularity", "none")

    def __init__(self, settings: RecSettings | None = None) -> None:
        self.settings = settings or RecSettings(user_emb="none", item_emb="random")
        self.best_epoch = 0
        self.best_score = float("nan")
        self.history: list[dict[str, float]] = []
        self._inter: Interactions | None = None
        self._scores: Tensor | None = None

    def __repr__(self) -> str:
        return f"PopularityRecommender(items={self._inter.n_items if self._inter else 'unfitted'})"

    def fit(self, inter: Interactions) -> PopularityRecommender:
        """Count the training interactions of every item; the validation NDCG@10 goes to ``best_score``."""
        from .evaluate import metrics_from_ranks, ranks_for

        _, seqs = inter.train_sequences()
        flat = np.concatenate([np.asarray(s, dtype=np.int64) for s in seqs]) if len(seqs) else np.zeros(0, np.int64)
        counts = np.bincount(flat, minlength=inter.n_items + 1).astype(np.float64)
        # scores are positions in a stable sort, so ties (by item index) stay ordered in float32 too
        order = np.argsort(-counts[1:], kind="stable") + 1
        scores = np.full(inter.n_items + 1, -np.inf)
        scores[order] = np.arange(inter.n_items, 0, -1, dtype=np.float64)
        self._inter, self._scores = inter, torch.as_tensor(scores, dtype=torch.float32)
        self._counts = counts
        es = inter.eval_set("valid")
        if len(es):
            ranks = ranks_for(self.score_eval_set, es, exclude_seen=self.settings.exclude_seen)
            self.best_score = metrics_from_ranks(ranks, (10,))["ndcg@10"]
        return self

    @property
    def interactions(self) -> Interactions:
        """The interactions it was fitted on; raises if not fitted."""
        if self._inter is None:
            raise RuntimeError("the recommender is not fitted; call fit(inter) first")
        return self._inter

    def counts(self) -> dict[str, int]:
        """Training interactions per item id, most popular first."""
        inter = self.interactions
        order = np.argsort(-self._counts[1:], kind="stable")
        return {inter.items[i]: int(self._counts[i + 1]) for i in order}

    def score_eval_set(self, es: EvalSet) -> Tensor:
        """Catalogue scores ``[len(es), n_items + 1]`` (column 0 = -inf): the same popularity row for all."""
        if self._scores is None:
            raise RuntimeError("the recommender is not fitted; call fit(inter) first")
        return self._scores.expand(len(es), -1).clone()
