"""The recommender's inputs as the store holds them: interactions (with their stored split) and vectors.

Read through named queries (``cypher/rec_*.cypher``), so the split every model sees is the one
``persona ingest`` stored (:func:`persona.ingest.sequences.assign_split`).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from persona.config import Settings
from persona.errors import ConfigError, ModelError
from persona.kgstore import GraphStore

from .sequences import Interactions, kept_for_persona
from .splits import split_sessions

__all__ = ["interactions_frame", "load_interactions", "mean_text_vectors", "user_vectors", "vectors"]

Log = Callable[[str], None]


def _noop(_: str) -> None:
    pass


def persona_interactions(interactions: pd.DataFrame, lag: int = 0) -> pd.DataFrame:
    """The interactions a user vector may be learned from: the ``train`` rows, less each user's last ``lag``
    of them by ``pos`` (at most all but the first; the leakage guard of ``RecSettings.persona_lag``)."""
    train = interactions[interactions["split"] == "train"]
    return train if lag <= 0 else train[kept_for_persona(train["user"], train["pos"], lag)]


def interactions_frame(store: GraphStore) -> pd.DataFrame:
    """All RATED edges as ``user, item, pos, split, ts`` (the split decides what models may see)."""
    df = store.frame_named("rec_interactions")
    if df.empty:
        raise ModelError(f"{store.uri}: no RATED interactions; run `persona ingest …` first")
    return df


def vectors(store: GraphStore, name: str) -> dict[str, np.ndarray]:
    """id → vector from a named query returning ``id, vec``."""
    df = store.frame_named(name)
    return {i: np.asarray(v, dtype=np.float32) for i, v in zip(df["id"], df["vec"]) if v is not None}


def load_interactions(store: GraphStore, settings: Settings) -> Interactions:
    """Interactions for the sequence models, in the session view when ``rec.session_gap_s`` is set."""
    df = interactions_frame(store)
    gap = settings.rec.session_gap_s
    if gap:
        if df["ts"].isna().any():
            raise ConfigError(f"{store.uri}: rec.session_gap_s needs timestamps, and some interactions have none")
        return Interactions.from_frame(split_sessions(df, gap), session_col="session", source=store.uri)
    return Interactions.from_frame(df, source=store.uri)


def user_vectors(store: GraphStore, settings: Settings, variant: str, log: Log = _noop) -> dict[str, np.ndarray] | None:
    """User vectors for a retriever variant: ``kg`` personas, ``llm`` summary embeddings, ``meantext`` the
    mean text vector of each user's training items (:func:`mean_text_vectors`), else None."""
    if variant == "kg":
        vecs = vectors(store, "rec_user_personas")
        if not vecs:
            raise ModelError("no personas in the store; run `persona train personas` first")
        check_persona_lag(store, settings.rec.persona_lag)
        return vecs
    if variant == "llm":
        from persona.learn.summaries import user_summary_vectors

        return user_summary_vectors(store, settings, log=log)
    if variant == "meantext":
        vecs = mean_text_vectors(interactions_frame(store), vectors(store, "rec_item_vectors"),
                                 lag=settings.rec.persona_lag)
        if not vecs:
            raise ModelError("no item text embeddings in the store; run `persona train personas` first")
        return vecs
    return None


def stored_persona_lag(store: GraphStore) -> int:
    """The ``persona_lag`` the store's personas were learned with (0 for runs recorded before the setting
    existed, or personas without a run record: those saw every training item)."""
    from persona.errors import NotFoundError
    from persona.runs import get_run

    rows = store.run_named("rec_persona_run")
    if not rows:
        return 0
    try:
        run = get_run(store, str(rows[0]["run"]))
    except NotFoundError:
        return 0
    return int(run.settings.get("persona_lag", 0) or 0)


def check_persona_lag(store: GraphStore, lag: int) -> None:
    """Refuse personas learned with another ``persona_lag`` than the retriever's: a retriever that shows
    the persona to its last ``lag`` positions needs personas that never saw those items.

    Raises:
        ConfigError: the lags differ (the message says how to fix either side).
    """
    have = stored_persona_lag(store)
    if have != lag:
        raise ConfigError(
            f"{store.uri}: the stored personas were learned with rec.persona_lag = {have}, and this run asks for "
            f"{lag}; relearn them (`persona train` without --skip-personas) or set rec.persona_lag = {have} "
            f"(PERSONA_REC__PERSONA_LAG={have})"
        )


def mean_text_vectors(
    interactions: pd.DataFrame, item_text: dict[str, np.ndarray], *, lag: int = 0
) -> dict[str, np.ndarray]:
    """user → mean text vector of the user's **training** items (valid/test items never enter), the
    cheapest persona a user would try first; users whose training items have no text are left out.
    ``lag``: leave out each user's last ``lag`` training items too, never the first (``RecSettings.persona_lag``)."""
    if not item_text:
        return {}
    train = persona_interactions(interactions, lag)
    train = train[train["item"].isin(item_text)]
    train = train.sort_values(["user", "item"], kind="stable")  # the store returns rows in no fixed order
    out: dict[str, np.ndarray] = {}
    for user, items in train.groupby("user", sort=True)["item"]:
        out[str(user)] = np.mean(np.stack([item_text[i] for i in items]), axis=0).astype(np.float32)
    return out
