"""Recommendations with reasons for an anonymous session, from a run loaded once.

:class:`SessionModel` is the explorer's face of :class:`persona.serve.WarmRun` — the loaded run that
`persona serve` answers from (the two-stage recommender, its persona model, the stored personas and the
explanation index, resolved through :func:`persona.pipeline.load_recommender`, which refuses another
store's model). The explorer keeps one per store and run across reruns (``st.cache_resource``); what it
adds is the reasons in words.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from persona.errors import ConfigError


@dataclass
class SessionAnswer:
    """A session's recommendations: ``rank, item, title, score`` and each item's reasons in words."""

    recs: pd.DataFrame
    reasons: dict[str, list[str]]
    similar: list[str]
    run: str


class SessionModel:
    """The newest (or a given) train run of a store, ready to recommend for sessions.

    Args:
        settings: persona-kg settings whose ``store`` is the store to answer for.
        run_id: A train run of that store (default: its newest).

    Raises:
        ModelError: the store has no train run, or the run's files are missing or another store's.
    """

    def __init__(self, settings: Any, run_id: str | None = None) -> None:
        from persona.serve import WarmRun

        self.settings = settings
        self.warm = WarmRun.load(settings, run_id)  # the loaded run `persona serve` answers from
        self.two, self.run, self.index = self.warm.recommender, self.warm.run, self.warm.index

    @property
    def catalogue(self) -> list[str]:
        """Item ids the run knows."""
        return list(self.two.retriever.interactions.items)

    def recommend(self, items: Sequence[str], k: int = 10) -> SessionAnswer:
        """Top-``k`` after the session ``items`` (oldest first) with each item's reasons.

        Raises:
            ConfigError: the session is empty.
            NotFoundError: an item is not in the run's catalogue.
        """
        from ._why import WhyPath, sentence

        items = [str(i) for i in items]
        if not items:
            raise ConfigError("the session is empty: pick at least one item")
        recs, similar, paths = self.warm.session(items, k=int(k), paths=3)
        recs["title"] = [self.index.titles.get(str(i), str(i)) for i in recs["item"]]
        titles = self.index.titles
        reasons: dict[str, list[str]] = {}
        for item, title in zip(recs["item"].astype(str), recs["title"]):
            lines = []
            for p in paths.get(("session", item), []):
                if p.kind == "entity":
                    wp = WhyPath("entity", p.score, p.nodes[0][1], p.rels[1], p.nodes[1][1],
                                 via=tuple(i for i in items if i != item and _shares(self.index, i, p.nodes[1])))
                    lines.append(sentence(wp, title, titles, {p.nodes[1][1]: _display(p.nodes[1])}, where="in this session"))
                elif p.kind == "item":
                    wp = WhyPath("item", p.score, p.nodes[0][1], p.rels[0])
                    lines.append(sentence(wp, title, titles, {}, where="in this session"))
                else:
                    wp = WhyPath("users", p.score, users=int(p.extra.get("similar_users", 0)), of=int(p.extra.get("of", 0)))
                    lines.append(sentence(wp, title, titles, {}, where="in this session"))
            reasons[item] = lines or ["No graph path links it to this session: it is ranked from the order of the items."]
        return SessionAnswer(recs[["rank", "item", "title", "score"]], reasons, similar, self.run.id)


def _display(node: tuple[str, str, str]) -> str:
    from persona.explain import readable_name

    return readable_name(node[2], node[1])


def _shares(index: Any, item: str, entity: tuple[str, str, str]) -> bool:
    """Whether ``item`` links to ``entity`` in the explanation index."""
    r = index.item_index.get(item)
    if r is None:
        return False
    try:
        e = index.entities.index((entity[0], entity[1]))
    except ValueError:
        return False
    return bool(index.item_entity[r, e] > 0)
