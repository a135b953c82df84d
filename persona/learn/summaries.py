"""Store-facing text generation: LLM item descriptions, user-preference summaries and their vectors.

* :func:`describe_items` — the Table 2 "Item Description" prompt per title; answers go to
  ``Item.generated_description`` (and into item texts when ``text.use_generated_descriptions``).
* :func:`summarise_users` — the Table 2 "User Preference" keywords from each user's chronological
  *training* history (titles + attribute names); without an endpoint the extractive fallback
  (:func:`persona.learn.llm.extractive_user_summary`). Written to ``User.llm_summary`` and
  ``User.llm_summary_source`` (``llm:<model>`` or ``extractive``).
* :func:`user_summary_vectors` — the paper's "LLM" user-embedding variant: each user's summary encoded
  with the text encoder.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from persona.errors import ConfigError
from persona.kgstore import GraphStore

from .llm import LLMClient, extractive_user_summary, item_description_prompt, user_preference_prompt
from .text import TextEncoder, clean_text, name_from_iri

Progress = Callable[[str, int, int], None]
Log = Callable[[str], None]

#: Attribute labels preferred as "features" in the user-preference prompt, most telling first.
_FEATURE_ORDER = (
    "Genre",
    "LiteraryGenre",
    "Category",
    "Subject",
    "Person",
    "Series",
    "Brand",
    "Award",
    "MediaType",
)


def _noop(_: str) -> None:
    pass


def _frame(store: GraphStore, name: str) -> pd.DataFrame:
    return store.frame_named(name)


def _present(v: Any) -> bool:
    if v is None:
        return False
    if isinstance(v, float):
        return not np.isnan(v)
    return True


def item_features(store: GraphStore, *, per_item: int = 6) -> dict[str, list[str]]:
    """item id → attribute names (genres, categories, people…), most telling labels first.

    Names come from the item's outgoing knowledge edges (``export_kg_edges``) and its ``categories``.
    """
    ents = _frame(store, "export_entity_text")
    names = {
        (str(lab), str(i)): (clean_text(n) if _present(n) and clean_text(n) else name_from_iri(str(i)))
        for lab, i, n in zip(ents["label"], ents["id"], ents["name"])
    }
    kg = _frame(store, "export_kg_edges")
    kg = kg[kg["src_label"].astype(str) == "Item"]
    kg = kg[kg["dst_label"].astype(str) != "Item"]
    rank = {lab: k for k, lab in enumerate(_FEATURE_ORDER)}
    out: dict[str, list[str]] = {}
    rows = sorted(
        zip(kg["src"].astype(str), kg["dst_label"].astype(str), kg["dst"].astype(str)),
        key=lambda r: (r[0], rank.get(r[1], len(rank)), r[2]),
    )
    for item, lab, dst in rows:
        out.setdefault(item, []).append(names.get((lab, dst), name_from_iri(dst)))
    items = _frame(store, "export_item_text")
    for i, cats in zip(items["id"].astype(str), items["categories"]):
        if _present(cats) and not isinstance(cats, str):
            out.setdefault(i, []).extend(c for c in (clean_text(x) for x in list(cats)) if c)
    return {k: list(dict.fromkeys(v))[:per_item] for k, v in out.items()}


def _persona_lag(settings: Any) -> int:
    """``settings.rec.persona_lag`` (0 for settings objects without a ``rec`` section)."""
    return int(getattr(getattr(settings, "rec", None), "persona_lag", 0) or 0)


def summary_source(kind: str, lag: int = 0) -> str:
    """The ``User.llm_summary_source`` tag: ``extractive`` or ``llm:<model>``, plus ``; lag N`` when each
    user's last ``N`` training items were held back (``RecSettings.persona_lag``)."""
    return f"{kind}; lag {lag}" if lag > 0 else kind


def training_histories(store: GraphStore, lag: int = 0) -> dict[str, list[str]]:
    """user id → training item ids in chronological order (``RATED.pos``); valid/test are excluded, and so
    are each user's last ``lag`` training items, never the first (``RecSettings.persona_lag``)."""
    r = _frame(store, "export_rated_train")
    if r.empty:
        return {}
    from persona.rec.sequences import kept_for_persona

    r = r.assign(src=r["src"].astype(str), dst=r["dst"].astype(str), pos=pd.to_numeric(r["pos"]).fillna(0))
    r = r[kept_for_persona(r["src"], r["pos"], lag)].sort_values(["src", "pos", "dst"], kind="stable")
    return {u: g["dst"].tolist() for u, g in r.groupby("src", sort=True)}


def describe_items(
    store: GraphStore,
    settings: Any,
    *,
    workdir: Path | str,
    overwrite: bool = False,
    progress: Progress | None = None,
    log: Log = _noop,
) -> int:
    """Generate ``Item.generated_description`` with the configured LLM (Table 2 item prompt).

    Args:
        store: The graph store.
        settings: :class:`persona.config.Settings` (``llm`` must have a ``url``).
        workdir: Cache folder root (answers cached under ``<workdir>/llm``).
        overwrite: Regenerate items that already have a description.

    Returns:
        Number of items written.

    Raises:
        ValueError: no endpoint configured.
    """
    if not settings.llm.url:
        raise ConfigError(
            "no LLM endpoint configured ([llm] url / PERSONA_LLM__URL); item descriptions need one"
        )
    items = _frame(store, "export_item_text")
    if not overwrite:
        items = items[~items["generated_description"].map(lambda v: _present(v) and bool(str(v).strip()))]
    items = items[items["title"].map(lambda v: _present(v) and bool(clean_text(v)))]
    if items.empty:
        return 0
    prompts = [
        item_description_prompt(clean_text(t), d if _present(d) else None)
        for t, d in zip(items["title"], items["domain"])
    ]
    log(f"LLM item descriptions: {len(prompts)} titles → {settings.llm.url}")
    with LLMClient.from_settings(settings.llm, cache_dir=Path(workdir) / "llm") as client:
        answers = client.complete_many(prompts, max_tokens=256, on_error="skip", progress=progress)
        failed = client.stats["failed"]
    if failed:
        log(f"LLM item descriptions: {failed} requests failed after retries; those items keep no description")
    df = pd.DataFrame({"id": items["id"].astype(str).tolist(), "generated_description": answers})
    df = df[df["generated_description"].map(lambda a: a is not None and bool(a.strip()))]
    if df.empty:
        return 0
    return int(store.set_node_properties("Item", df))


def summarise_users(
    store: GraphStore,
    settings: Any,
    *,
    workdir: Path | str,
    top_k: int = 8,
    progress: Progress | None = None,
    log: Log = _noop,
) -> pd.DataFrame:
    """Write each user's preference keywords (LLM when configured, else extractive) to the store.

    Returns:
        DataFrame ``id, llm_summary, llm_summary_source``.
    """
    lag = _persona_lag(settings)
    hist = training_histories(store, lag)
    feats = item_features(store)
    if settings.llm.url:
        items = _frame(store, "export_item_text")
        titles = {str(i): clean_text(t) for i, t in zip(items["id"], items["title"]) if _present(t)}
        users = sorted(hist)
        prompts = [
            user_preference_prompt([(titles.get(i, i), feats.get(i, [])) for i in hist[u]]) for u in users
        ]
        log(f"LLM user summaries: {len(prompts)} users → {settings.llm.url}")
        with LLMClient.from_settings(settings.llm, cache_dir=Path(workdir) / "llm") as client:
            answers = client.complete_many(prompts, max_tokens=96, on_error="skip", progress=progress)
        fallback = extractive_user_summary(hist, feats, top_k=top_k)
        src = summary_source(f"llm:{settings.llm.model}", lag)
        df = pd.DataFrame(
            {
                "id": users,
                "llm_summary": [a if a else fallback[u] for u, a in zip(users, answers)],
                "llm_summary_source": [src if a else summary_source("extractive", lag) for a in answers],
            }
        )
    else:
        summ = extractive_user_summary(hist, feats, top_k=top_k)
        df = pd.DataFrame(
            {"id": list(summ), "llm_summary": list(summ.values()), "llm_summary_source": summary_source("extractive", lag)}
        )
    if len(df):
        store.set_node_properties("User", df)
    return df


def user_summary_vectors(
    store: GraphStore,
    settings: Any,
    *,
    workdir: Path | str | None = None,
    refresh: bool = False,
    progress: Progress | None = None,
    log: Log = _noop,
) -> dict[str, np.ndarray]:
    """The "LLM" user embedding of the paper: each user's preference summary, text-encoded.

    Summaries are (re)generated when missing, when ``refresh``, or when their source does not match the
    configuration (an endpoint is configured but the stored ones are extractive, or the other way round).

    Returns:
        user id → unit float32 vector (users with an empty summary are left out).
    """
    workdir = Path(workdir if workdir is not None else settings.workdir)
    info = _frame(store, "export_user_info")
    lag = _persona_lag(settings)
    want = summary_source(f"llm:{settings.llm.model}" if settings.llm.url else "extractive", lag)
    have = info["llm_summary_source"].map(lambda v: str(v) if _present(v) else "")
    if refresh or info.empty or not (have == want).all():
        log(f"user summaries ({want}) → User.llm_summary")
        df = summarise_users(store, settings, workdir=workdir, progress=progress, log=log)
        summaries = dict(zip(df["id"].astype(str), df["llm_summary"]))
    else:
        summaries = {str(i): str(s) for i, s in zip(info["id"], info["llm_summary"]) if _present(s)}
    users = [u for u, s in summaries.items() if s and s.strip()]
    enc = TextEncoder(
        settings.text.model, settings.text.batch_size, settings.text.device, workdir / "text_cache"
    )
    try:
        vecs = enc.encode(["User preferences: " + summaries[u] for u in users], progress=progress)
    finally:
        enc.close()
    return dict(zip(users, vecs))
