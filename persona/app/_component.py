"""The interactive neighbourhood graph: a bidirectional Streamlit component served from this package.

``_network/index.html`` draws :func:`persona.app.neighbourhood_graph`'s nodes and edges with the vendored
vis-network build (``_network/vis-network.min.js``, Apache-2.0 OR MIT, licences beside it): pan, zoom,
click a node to expand it. A click on a recommendation sends ``{"event": "select", "item", "nonce"}``
back to the script. Nothing is fetched from the network.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

#: Folder of the component's files (inside the installed package).
COMPONENT_DIR = Path(__file__).resolve().with_name("_network")

_component: Any = None


def graph_component(spec: dict[str, Any], *, key: str, height: int = 560) -> Any:
    """Draw ``spec`` and return the last event the browser sent (None before the first click)."""
    global _component
    if _component is None:
        import streamlit.components.v1 as components

        _component = components.declare_component("persona_graph", path=str(COMPONENT_DIR))
    return _component(spec=spec, height=int(height), key=key, default=None)
