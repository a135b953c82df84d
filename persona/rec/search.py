"""Random hyperparameter search on validation NDCG@10 over the paper's grid (Sec. 5.2.1).

The paper tunes depth {1, 2, 3}, hidden size {32, 64, 128}, heads {1, 2}, dropout {0.1, 0.2, 0.3, 0.5},
learning rate {1e-3, 5e-4} and batch size {64, 128, 256} on validation NDCG@10. The full grid has 432
points; :func:`random_search` draws ``trials`` distinct points in a seeded order and trains each with
early stopping, stopping early when ``time_budget_s`` is spent (a running trial is finished, never cut).
"""

from __future__ import annotations

import itertools
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from persona.config import RecSettings

from .pipeline import make_retriever
from .sequences import Interactions

log = logging.getLogger(__name__)

PAPER_SPACE: dict[str, list[Any]] = {
    "blocks": [1, 2, 3],
    "hidden": [32, 64, 128],
    "heads": [1, 2],
    "dropout": [0.1, 0.2, 0.3, 0.5],
    "lr": [1e-3, 5e-4],
    "batch_size": [64, 128, 256],
}


@dataclass
class SearchResult:
    """Outcome of :func:`random_search`.

    Attributes:
        best: the input settings with the best trial's values.
        table: one row per trial: the searched values, ``valid_ndcg@10``, ``best_epoch``, ``epochs``,
            ``seconds``; sorted best first.
        stopped_by: ``'trials'`` or ``'time'``.
    """

    best: RecSettings
    table: pd.DataFrame
    stopped_by: str


def random_search(
    inter: Interactions,
    settings: RecSettings,
    *,
    user_vecs: Mapping[str, np.ndarray] | None = None,
    item_text: Mapping[str, np.ndarray] | None = None,
    space: Mapping[str, Sequence[Any]] = PAPER_SPACE,
    trials: int = 12,
    time_budget_s: float | None = None,
    seed: int = 0,
    on_trial: Callable[[dict[str, Any]], None] | None = None,
) -> SearchResult:
    """Search ``space`` at random for the best validation NDCG@10.

    Args:
        inter: interactions (validation targets required).
        settings: base settings (variant, epochs, patience, device…); searched fields are overridden.
        user_vecs: persona vectors if ``settings.user_emb`` is ``'llm'`` or ``'kg'``.
        item_text: item text vectors if ``settings.item_emb == 'text'``.
        space: field -> candidate values (RecSettings field names).
        trials: most trials.
        time_budget_s: no new trial starts after this many seconds (``None`` = no limit).
        seed: order of the draws (the models themselves use ``settings.seed``).
        on_trial: called with each trial's row.

    Returns:
        A :class:`SearchResult`.

    Raises:
        ValueError: an unknown field in ``space``, or ``trials < 1``.
    """
    bad = set(space) - set(RecSettings.model_fields)
    if bad:
        raise ValueError(f"search space has fields that are not RecSettings fields: {sorted(bad)}")
    if trials < 1:
        raise ValueError("trials must be at least 1")
    keys = list(space)
    grid = [dict(zip(keys, vals)) for vals in itertools.product(*(space[k] for k in keys))]
    grid = [g for g in grid if g.get("hidden", settings.hidden) % g.get("heads", settings.heads) == 0]
    order = np.random.default_rng(seed).permutation(len(grid))
    rows: list[dict[str, Any]] = []
    t0 = time.perf_counter()
    stopped_by = "trials"
    for n, gi in enumerate(order[:trials]):
        if n and time_budget_s is not None and time.perf_counter() - t0 >= time_budget_s:
            stopped_by = "time"
            break
        params = grid[int(gi)]
        s = RecSettings.model_validate({**settings.model_dump(), **params})
        t1 = time.perf_counter()
        rec = make_retriever(s, user_vecs, item_text, s.seed).fit(inter, valid=True)
        row = {
            "trial": n,
            **params,
            "valid_ndcg@10": rec.best_score,
            "best_epoch": rec.best_epoch,
            "epochs": len(rec.history),
            "seconds": time.perf_counter() - t1,
        }
        rows.append(row)
        log.info("trial %d: %s", n, row)
        if on_trial is not None:
            on_trial(row)
    table = (
        pd.DataFrame(rows).sort_values("valid_ndcg@10", ascending=False, kind="stable").reset_index(drop=True)
    )
    best_params = {k: _py(table.iloc[0][k]) for k in keys}
    best = RecSettings.model_validate({**settings.model_dump(), **best_params})
    return SearchResult(best=best, table=table, stopped_by=stopped_by)


def _py(v: Any) -> Any:
    return v.item() if isinstance(v, np.generic) else v
