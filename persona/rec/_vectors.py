"""External user and item vectors, aligned to an :class:`Interactions`' indices (missing rows warned)."""

from __future__ import annotations

import logging
from collections.abc import Mapping

import numpy as np

from .sequences import Interactions

log = logging.getLogger(__name__)

VectorsArg = Mapping[str, np.ndarray] | np.ndarray | None


def user_matrix(vectors: VectorsArg, inter: Interactions, variant: str) -> np.ndarray:
    """``[n_users, d]`` user vectors for the ``variant`` (``'llm'``/``'kg'``) user embedding.

    Args:
        vectors: a mapping user id -> vector (a user without one gets the mean vector, warned), or an
            array whose rows follow ``inter.users``.
        inter: the interactions.
        variant: the user-embedding variant, for messages.

    Raises:
        ValueError: no vectors, or an array of the wrong shape.
    """
    if vectors is None:
        raise ValueError(f"user_emb={variant!r} needs user vectors (user_emb=…)")
    if isinstance(vectors, np.ndarray):
        if vectors.ndim != 2 or vectors.shape[0] != inter.n_users:
            raise ValueError(
                f"user vectors: expected an array [n_users={inter.n_users}, d], got {vectors.shape}"
            )
        return vectors.astype(np.float32)
    mat, missing = inter.user_matrix(vectors)
    if missing:
        log.warning(
            "%d of %d users have no %s vector; they get the mean vector (e.g. %s)",
            len(missing),
            inter.n_users,
            variant,
            missing[:3],
        )
    return mat


def item_matrix(vectors: VectorsArg, inter: Interactions) -> np.ndarray:
    """``[n_items + 1, d]`` item text vectors, row 0 (padding) zeros.

    Args:
        vectors: a mapping item id -> vector (an item without one gets the mean vector, warned), or an
            array whose rows follow ``inter.items`` (``n_items`` rows, or ``n_items + 1`` with row 0 padding).
        inter: the interactions.

    Raises:
        ValueError: no vectors, or an array of the wrong shape.
    """
    if vectors is None:
        raise ValueError("item_emb='text' needs item text vectors (item_emb=…)")
    if isinstance(vectors, np.ndarray):
        if vectors.ndim != 2 or vectors.shape[0] not in (inter.n_items, inter.n_items + 1):
            raise ValueError(
                f"item vectors: expected an array [n_items={inter.n_items} (+1), d], got {vectors.shape}"
            )
        v = vectors.astype(np.float32)
        if v.shape[0] == inter.n_items + 1:
            return v
        return np.concatenate([np.zeros((1, v.shape[1]), np.float32), v])
    mat, missing = inter.item_matrix(vectors)
    if missing:
        log.warning(
            "%d of %d items have no text vector; they get the mean vector (e.g. %s)",
            len(missing),
            inter.n_items,
            missing[:3],
        )
    return mat
