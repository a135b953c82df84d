"""The persona neighbourhood as a Graphviz DOT picture.

DOT is drawn in the browser by Streamlit's own bundled Graphviz (WebAssembly), so the picture needs no
network and no system ``dot`` binary.
"""

from __future__ import annotations

from .data import Neighbourhood

#: Fill colour per attribute label (others get the last one).
_COLOURS = {
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


def _q(text: object, limit: int = 32) -> str:
    """A DOT string literal: shortened, quotes and backslashes escaped."""
    s = " ".join(str(text).split())
    if len(s) > limit:
        s = s[: limit - 1] + "…"
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def neighbourhood_dot(nb: Neighbourhood, *, max_shared: int = 3) -> str:
    """Draw the user, shown training items, top attributes and similar users, left to right.

    Edges: user → item (trained on), item → attribute, similar user → attribute for the ``max_shared``
    top attributes that most of that user's training items reach (thicker: more items; the tooltip
    gives the count). Attributes reached only by items not drawn hang off the user with a dashed edge
    labelled with the count; similar users sharing no top attribute hang off the user, dotted.

    Args:
        nb: What :meth:`ExplorerData.neighbourhood` gathered.
        max_shared: Attribute edges drawn per similar user at most (more turn the picture into a mesh).
    """
    lines = [
        "digraph persona {",
        '  graph [rankdir=LR, bgcolor="transparent", nodesep=0.15, ranksep=0.6, fontname="Helvetica"];',
        '  node [fontname="Helvetica", fontsize=10, style=filled, penwidth=0.8];',
        '  edge [color="#8a8a8a", arrowsize=0.5, fontname="Helvetica", fontsize=8];',
        f'  u [label={_q(nb.user)}, shape=doublecircle, fillcolor="#4c78a8", fontcolor=white];',
    ]
    item_node = {}
    for n, row in enumerate(nb.items.itertuples(index=False)):
        item_node[row.item] = f"i{n}"
        title = row.title if isinstance(row.title, str) and row.title else row.item
        lines.append(f'  i{n} [label={_q(title)}, shape=box, fillcolor="#e8eef7", tooltip={_q(row.item, 200)}];')
        lines.append(f"  u -> i{n};")
    attr_node = {}
    linked = set(nb.links["attr"]) if len(nb.links) else set()
    for n, row in enumerate(nb.attributes.itertuples(index=False)):
        node = f"a{n}"
        attr_node[(row.label, row.attr)] = node
        name = row.name if isinstance(row.name, str) and row.name else row.attr
        label = _q(f"{name}")[:-1] + f'\\n{row.label} · {row.n_items} of yours"'
        colour = _COLOURS.get(row.label, _OTHER)
        lines.append(f'  {node} [label={label}, shape=ellipse, fillcolor="{colour}", tooltip={_q(row.attr, 200)}];')
        if row.attr not in linked:
            lines.append(f'  u -> {node} [style=dashed, label="{row.n_items}"];')
    for row in nb.links.itertuples(index=False):
        if row.item in item_node and (row.label, row.attr) in attr_node:
            lines.append(f"  {item_node[row.item]} -> {attr_node[(row.label, row.attr)]};")
    user_node = {}
    for n, row in enumerate(nb.similar.itertuples(index=False)):
        user_node[row.user] = f"s{n}"
        label = _q(row.user)[:-1] + f'\\nsimilarity {row.similarity:.2f}"'
        lines.append(f'  s{n} [label={label}, shape=box, style="rounded,filled", fillcolor="#f2cfa6", fontsize=9];')
    connected = set()
    order = {key: n for n, key in enumerate(attr_node)}
    strongest = sorted(
        (r for r in nb.overlap.itertuples(index=False) if r.user in user_node and (r.label, r.attr) in attr_node),
        key=lambda r: (r.user, -int(r.n), order[(r.label, r.attr)]),
    )
    top_n = max((int(r.n) for r in strongest), default=1)
    per_user: dict[str, int] = {}
    for row in strongest:
        if per_user.get(row.user, 0) >= max_shared:
            continue
        per_user[row.user] = per_user.get(row.user, 0) + 1
        connected.add(row.user)
        width = 0.6 + 2.4 * int(row.n) / top_n
        # written attribute -> user so that similar users rank right of the attributes; the arrow is
        # drawn back, from the similar user to the attribute it shares
        lines.append(
            f"  {attr_node[(row.label, row.attr)]} -> {user_node[row.user]} "
            f'[dir=back, color="#e39c4a", style=dashed, penwidth={width:.1f}, '
            f'tooltip="{int(row.n)} of {row.user}\'s training items"];'
        )
    for uid, node in user_node.items():
        if uid not in connected:
            lines.append(f'  u -> {node} [style=dotted, color="#e39c4a"];')
    lines.append("}")
    return "\n".join(lines)
