"""The persona neighbourhood as nodes and edges for the interactive graph component (vis-network).

:func:`neighbourhood_graph` is plain Python (no Streamlit): the user, their most telling training items,
the specific attributes those items share, the most similar users, and the recommended items, each linked
to the history by its explanation paths. The paths of the selected recommendation are highlighted, the
rest fade. ``hidden`` lists, per node, what a click on it adds (an item's other attributes, an
attribute's other training items, a similar user's other shared attributes).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

import pandas as pd

from ._why import parse_why
from .data import Neighbourhood

#: Fill colour per attribute label (others get the last one).
COLOURS = {
    "Person": "#f4c7c3",
    "Genre": "#c6e2c0",
    "LiteraryGenre": "#c6e2c0",
    "Subject": "#d9d2e9",
    "Category": "#fff2cc",
    "Brand": "#fce5cd",
    "Company": "#fce5cd",
    "Award": "#ffe599",
    "Series": "#cfe2f3",
    "Work": "#cfe2f3",
    "Place": "#d0e0e3",
    "Language": "#d0e0e3",
}
_OTHER = "#eeeeee"
_USER = "#4c78a8"
_ITEM = "#e8eef7"
_SIMILAR = "#f2cfa6"
_REC = "#b7e1b0"
_HIGHLIGHT = "#d62728"
_FADED = "#e4e4e4"
#: Nodes a click adds at most (an attribute of 200 of the user's films would flood the picture).
EXPAND_LIMIT = 12


def _short(text: object, limit: int = 28) -> str:
    s = " ".join(str(text).split())
    return s if len(s) <= limit else s[: limit - 1] + "…"


def item_node(item: str) -> str:
    """Node id of an item."""
    return f"i:{item}"


def attr_node(label: str, attr: str) -> str:
    """Node id of an attribute."""
    return f"a:{label}:{attr}"


def neighbourhood_graph(
    nb: Neighbourhood,
    recs: pd.DataFrame | None = None,
    *,
    selected: str | None = None,
    entities: Mapping[str, tuple[str, str]] | None = None,
    titles: Mapping[str, str] | None = None,
    max_shared: int = 3,
) -> dict[str, Any]:
    """Nodes and edges of the neighbourhood for the graph component.

    Args:
        nb: What :meth:`ExplorerData.neighbourhood` gathered.
        recs: The recommendations to draw: ``item, title, rank, why`` (``why`` as written by ``persona train``).
        selected: The recommended item whose explanation paths are highlighted.
        entities: Entity id → ``(label, name)`` for entities on explanation paths that ``nb`` does not show.
        titles: Item id → title for history items on explanation paths that ``nb`` does not show.
        max_shared: Attribute edges drawn per similar user at most (more turn the picture into a mesh).

    Returns:
        ``{"key", "nodes", "edges", "hidden"}``: vis-network node and edge dicts; ``key`` changes when the
        picture does; ``hidden[node id]`` = ``{"nodes", "edges"}`` a click on that node adds.
    """
    entities = entities or {}
    titles = {**nb.titles, **(titles or {})}
    nodes: dict[str, dict[str, Any]] = {}
    edges: dict[str, dict[str, Any]] = {}

    def add_node(nid: str, **kw: Any) -> None:
        if nid not in nodes:
            nodes[nid] = {"id": nid, **kw}

    def add_edge(src: str, dst: str, **kw: Any) -> str:
        eid = f"{src}->{dst}"
        if eid not in edges and f"{dst}->{src}" not in edges:
            edges[eid] = {"id": eid, "from": src, "to": dst, **kw}
        return eid if eid in edges else f"{dst}->{src}"

    def item_kw(item: str, title: str | None = None) -> dict[str, Any]:
        t = title or titles.get(item) or item
        return {"label": _short(t), "title": f"{t}\n(item {item}; in your history)", "shape": "box",
                "color": {"background": _ITEM, "border": "#7f93b2"}, "kind": "item"}

    def attr_kw(label: str, attr: str, name: str, n: int | None = None, df: int | None = None) -> dict[str, Any]:
        facts = [label]
        if n is not None:
            facts.append(f"{n} of your training items")
        if df is not None:
            facts.append(f"{df} items in the catalogue")
        return {"label": _short(name), "title": f"{name}\n" + " · ".join(facts) + f"\n{attr}", "shape": "ellipse",
                "color": {"background": COLOURS.get(label, _OTHER), "border": "#999999"}, "kind": "attribute"}

    add_node("u", label=nb.user, title=f"user {nb.user}", shape="dot", size=28,
             color={"background": _USER, "border": "#2d4f75"}, font={"color": "#1d3557", "size": 15}, kind="user")
    for row in nb.items.itertuples(index=False):
        title = row.title if isinstance(row.title, str) and row.title else row.item
        add_node(item_node(row.item), **item_kw(row.item, title))
        add_edge("u", item_node(row.item), color={"color": "#9fb3cf"}, title="in the training history")
    top_keys = set()
    linked = set(nb.links["attr"]) if len(nb.links) else set()
    for row in nb.attributes.itertuples(index=False):
        nid = attr_node(row.label, row.attr)
        top_keys.add((row.label, row.attr))
        df = int(row.items_with) if "items_with" in nb.attributes.columns and pd.notna(row.items_with) else None
        add_node(nid, **attr_kw(row.label, row.attr, row.name if isinstance(row.name, str) else row.attr,
                                int(row.n_items), df))
        if row.attr not in linked:
            add_edge("u", nid, dashes=True, label=str(int(row.n_items)), title=f"{int(row.n_items)} of your training items")
    for row in nb.links.itertuples(index=False):
        if item_node(row.item) in nodes and attr_node(row.label, row.attr) in nodes:
            add_edge(item_node(row.item), attr_node(row.label, row.attr))
    sim_nodes = {}
    for row in nb.similar.itertuples(index=False):
        nid = f"s:{row.user}"
        sim_nodes[row.user] = nid
        add_node(nid, label=f"{row.user}\n{row.similarity:.2f}", title=f"similar user {row.user}\npersona cosine {row.similarity:.3f}",
                 shape="box", color={"background": _SIMILAR, "border": "#c98a3f"}, font={"size": 11}, kind="similar")
    strongest = sorted(
        (r for r in nb.overlap.itertuples(index=False) if r.user in sim_nodes and (r.label, r.attr) in top_keys),
        key=lambda r: (r.user, -int(r.n)),
    )
    top_n = max((int(r.n) for r in strongest), default=1)
    per_user: dict[str, int] = {}
    for r in strongest:
        if per_user.get(r.user, 0) >= max_shared:
            continue
        per_user[r.user] = per_user.get(r.user, 0) + 1
        add_edge(sim_nodes[r.user], attr_node(r.label, r.attr), dashes=True, color={"color": "#e39c4a"},
                 width=1 + 3 * int(r.n) / top_n, title=f"{int(r.n)} of {r.user}'s training items")
    for uid, nid in sim_nodes.items():
        if uid not in per_user:
            add_edge("u", nid, dashes=[2, 4], color={"color": "#e39c4a"}, title="similar by persona")

    # recommendations and their explanation paths
    highlight_nodes: set[str] = set()
    highlight_edges: set[str] = set()
    rec_nodes: set[str] = set()
    if recs is not None and len(recs):
        for row in recs.itertuples(index=False):
            item = str(row.item)
            title = row.title if isinstance(row.title, str) and row.title else item
            nid = f"r:{item}"
            rec_nodes.add(nid)
            is_sel = item == selected
            add_node(nid, label=f"#{int(row.rank)} {_short(title, 24)}", title=f"recommended #{int(row.rank)}: {title}\nclick for why",
                     shape="box", color={"background": _REC, "border": _HIGHLIGHT if is_sel else "#4f9a44"},
                     borderWidth=3 if is_sel else 1, font={"size": 13, "bold": is_sel}, select=item, kind="recommendation")
            path_edges: list[str] = []
            path_nodes: list[str] = [nid]
            paths = parse_why(getattr(row, "why", None))
            for p in paths:
                if p.kind == "entity" and p.entity and p.history:
                    label, name = entities.get(p.entity, ("Entity", p.entity))
                    match = [k for k in top_keys if k[1] == p.entity]
                    a_id = attr_node(*match[0]) if match else attr_node(label, p.entity)
                    if a_id not in nodes:
                        add_node(a_id, **attr_kw(label, p.entity, name))
                    h_id = item_node(p.history)
                    add_node(h_id, **item_kw(p.history))
                    path_edges += [add_edge(h_id, a_id, title=(p.rel or "")), add_edge(a_id, nid, title=(p.rel or ""))]
                    path_nodes += [a_id, h_id]
                elif p.kind == "item" and p.history:
                    h_id = item_node(p.history)
                    add_node(h_id, **item_kw(p.history))
                    path_edges.append(add_edge(h_id, nid, title=p.rel or ""))
                    path_nodes.append(h_id)
                elif p.kind == "users":
                    path_edges.append(add_edge("u", nid, label=f"{p.users}/{p.of} similar",
                                               title=f"{p.users} of your {p.of} most similar users consumed it"))
            if not paths:
                path_edges.append(add_edge("u", nid, dashes=[1, 5], title="no stored path: ranked from the sequence"))
            for e in path_edges:
                edges[e].setdefault("color", {"color": "#8cc084"})
            if is_sel:
                highlight_nodes.update(path_nodes)
                highlight_edges.update(path_edges)
    if selected is not None and highlight_nodes:
        for eid, edge in edges.items():
            if eid in highlight_edges:
                edge.update(color={"color": _HIGHLIGHT}, width=3.5)
            else:
                edge["color"] = {"color": _FADED}
        for nid, n in nodes.items():
            if nid in highlight_nodes or nid == "u":
                n["borderWidth"] = 3
                n["color"] = {**n["color"], "border": _HIGHLIGHT}

    hidden = _expansions(nb, nodes, attr_kw, item_kw)
    spec = {"nodes": list(nodes.values()), "edges": list(edges.values()), "hidden": hidden}
    spec["key"] = hashlib.sha1(json.dumps(spec, sort_keys=True, default=str).encode()).hexdigest()[:16]
    return spec


def _expansions(nb: Neighbourhood, nodes: Mapping[str, Any], attr_kw: Any, item_kw: Any) -> dict[str, Any]:
    """What a click on a node adds: the item's other attributes, the attribute's other training items."""
    out: dict[str, Any] = {}
    links = nb.all_links
    if links is None or links.empty:
        return out
    scores = nb.scores if nb.scores is not None and len(nb.scores) else None
    rank = {}
    if scores is not None:
        rank = {(r.label, r.attr): (n, int(r.items_with), float(r.specificity), int(r.n_items))
                for n, r in enumerate(scores.itertuples(index=False))}
    named = {(r.label, r.attr): (r.name if isinstance(r.name, str) and r.name else r.attr) for r in links.itertuples(index=False)}
    by_item: dict[str, list[tuple[str, str]]] = {}
    by_attr: dict[tuple[str, str], list[str]] = {}
    for r in links.itertuples(index=False):
        by_item.setdefault(r.item, []).append((r.label, r.attr))
        by_attr.setdefault((r.label, r.attr), []).append(r.item)
    big = len(rank) + 1
    for nid in list(nodes):
        if nid.startswith("i:"):
            item = nid[2:]
            attrs = sorted(by_item.get(item, []), key=lambda k: rank.get(k, (big,))[0])
            extra = [k for k in attrs if attr_node(*k) not in nodes][:EXPAND_LIMIT]
            if extra:
                out[nid] = {
                    "nodes": [{"id": attr_node(*k), **attr_kw(k[0], k[1], named[k],
                               rank[k][3] if k in rank else None, rank[k][1] if k in rank else None)} for k in extra],
                    "edges": [{"id": f"{nid}->{attr_node(*k)}", "from": nid, "to": attr_node(*k)} for k in extra],
                }
        elif nid.startswith("a:"):
            label, attr = nid[2:].split(":", 1)
            items = [i for i in by_attr.get((label, attr), []) if item_node(i) not in nodes][:EXPAND_LIMIT]
            if items:
                out[nid] = {
                    "nodes": [{"id": item_node(i), **item_kw(i)} for i in items],
                    "edges": [{"id": f"{item_node(i)}->{nid}", "from": item_node(i), "to": nid} for i in items],
                }
    return out
