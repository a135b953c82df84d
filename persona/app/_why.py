"""Why an item is recommended, for the page: the paths written on ``RECOMMENDED.why`` as sentences.

``persona train`` writes each recommendation's best paths in compact JSON (:func:`persona.explain.reasons`):
``["entity", score, <history item>, <REL>, <entity id>]``, ``["item", score, <history item>, <REL>]``,
``["users", score, <similar users who consumed it>, <of>]``. This module reads them back and says them in
words with the names the page shows, naming every training item of the user that shares the evidence
("“Psycho” and “Vertigo”, in your history, are directed by Alfred Hitchcock, as is “Rear Window”").
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from persona.explain import NO_PATH, relation_words


@dataclass(frozen=True)
class WhyPath:
    """One explanation path of a recommendation.

    Attributes:
        kind: ``entity`` (shared attribute), ``item`` (direct item–item edge) or ``users`` (similar users).
        score: The path's score (specific evidence scores higher, see :mod:`persona.explain`).
        history: History item the path starts from (``entity``/``item``), else None.
        rel: Relationship type into the recommended item (``entity``/``item``), else None.
        entity: The shared entity id (``entity``), else None.
        users: Similar users who consumed the item (``users``).
        of: How many similar users there are (``users``).
        via: Every training item of the user sharing the entity (filled by :func:`with_shared_items`).
    """

    kind: str
    score: float
    history: str | None = None
    rel: str | None = None
    entity: str | None = None
    users: int = 0
    of: int = 0
    via: tuple[str, ...] = field(default=())


def parse_why(text: Any) -> list[WhyPath]:
    """The paths of a stored ``why`` (JSON list); an absent or unreadable value gives no paths."""
    if not isinstance(text, str) or not text.strip():
        return []
    try:
        data = json.loads(text)
    except ValueError:
        return []
    out: list[WhyPath] = []
    for p in data if isinstance(data, list) else []:
        if not isinstance(p, list) or len(p) < 2 or not isinstance(p[1], (int, float)):
            continue
        kind, score = str(p[0]), float(p[1])
        if kind == "entity" and len(p) >= 5:
            out.append(WhyPath("entity", score, history=str(p[2]), rel=str(p[3]), entity=str(p[4])))
        elif kind == "item" and len(p) >= 4:
            out.append(WhyPath("item", score, history=str(p[2]), rel=str(p[3])))
        elif kind == "users" and len(p) >= 4 and isinstance(p[2], int) and isinstance(p[3], int):
            out.append(WhyPath("users", score, users=int(p[2]), of=int(p[3])))
    return out


def with_shared_items(paths: Sequence[WhyPath], links: Mapping[str, Sequence[str]]) -> list[WhyPath]:
    """Fill :attr:`WhyPath.via` of entity paths: the path's history item, then the other training items
    reaching the entity (``links``: entity id → the user's training items reaching it, most telling first)."""
    out = []
    for p in paths:
        if p.kind == "entity" and p.entity is not None:
            via = [p.history] if p.history else []
            via += [i for i in links.get(p.entity, ()) if i not in via]
            p = WhyPath(p.kind, p.score, p.history, p.rel, p.entity, p.users, p.of, tuple(i for i in via if i))
        out.append(p)
    return out


#: Relation phrases that read as a verb of their own ("star", not "are starring"): plural, singular.
_VERB_FORMS = {
    "starring": ("star", "stars"),
    "with music by": ("have music by", "has music by"),
    "with cover art by": ("have cover art by", "has cover art by"),
    "winner of": ("won", "won"),
}


def _quote(title: str) -> str:
    return f"“{title}”"


def _list(titles: Sequence[str], limit: int = 3) -> str:
    shown = [_quote(t) for t in titles[:limit]]
    more = len(titles) - len(shown)
    if more > 0:
        return ", ".join(shown) + f" and {more} more"
    return shown[0] if len(shown) == 1 else ", ".join(shown[:-1]) + " and " + shown[-1]


def sentence(path: WhyPath, item_title: str, titles: Mapping[str, str], names: Mapping[str, str], *,
             where: str = "in your history") -> str:
    """One path in words.

    Args:
        path: The path.
        item_title: Title of the recommended item.
        titles: Item id → title.
        names: Entity id → display name.
        where: Where the history items are ("in your history", "in this session").

    Example:
        >>> p = WhyPath("entity", 6.1, "i1", "DIRECTED_BY", "p:h", via=("i1", "i2"))
        >>> sentence(p, "Rear Window", {"i1": "Psycho", "i2": "Vertigo"}, {"p:h": "Alfred Hitchcock"})
        '“Psycho” and “Vertigo”, in your history, are directed by Alfred Hitchcock, as is “Rear Window”.'
    """
    if path.kind == "users":
        who = "user" if path.of == 1 else "users"
        if where == "in your history":
            return f"{path.users} of your {path.of} most similar {who} (by persona) have {_quote(item_title)} in their history."
        return f"{path.users} of the {path.of} {who} whose personas are nearest this session have {_quote(item_title)} in their history."
    words = relation_words(path.rel or "")
    if path.kind == "item":
        hist = titles.get(path.history or "", path.history or "?")
        return f"{_quote(item_title)} is {words} {_quote(hist)}, {where}."
    name = names.get(path.entity or "", path.entity or "?")
    via = [titles.get(i, i) for i in (path.via or ((path.history,) if path.history else ()))]
    if words in _VERB_FORMS:
        words = _VERB_FORMS[words][0 if len(via) > 1 else 1]
        verb = ""
    else:
        verb = "are " if len(via) > 1 else "is "
    tail = f"as is {_quote(item_title)}" if verb else f"as does {_quote(item_title)}"
    if not via:
        return f"{_quote(item_title)} is {words} {name}."
    return f"{_list(via)}, {where}, {verb}{words} {name}, {tail}."


def reason_lines(
    why: Any, reason: Any, item_title: str, titles: Mapping[str, str], names: Mapping[str, str],
    links: Mapping[str, Sequence[str]] | None = None,
) -> list[str]:
    """The reasons of one recommendation in words, best first.

    From ``why`` when it holds paths; else the stored one-sentence ``reason``; else a note that the run
    stored none.
    """
    paths = with_shared_items(parse_why(why), links or {})
    if paths:
        return [sentence(p, item_title, titles, names) for p in paths]
    if isinstance(reason, str) and reason.strip():
        if reason == NO_PATH:
            return ["No graph path links it to your history: it is ranked from the order of what you consumed."]
        return [reason]
    return ["No reason stored for this recommendation (the run that wrote it predates explanations)."]
