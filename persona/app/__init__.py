"""The Streamlit explorer of a persona-kg store (``persona app``).

``explorer.py`` is the Streamlit script; :func:`launch` serves it. :class:`ExplorerData` holds the read
queries (``cypher/app_*.cypher``), :func:`neighbourhood_graph` the interactive graph's nodes and edges,
``analysis`` the persona map and run evaluation, ``_why`` the reasons in words; none imports Streamlit,
so tests and other front ends can use them. The graph component (``_component.py``, ``_network/``) ships
its JavaScript inside the package.
"""

from ._graph import neighbourhood_graph
from ._launch import explorer_path, launch, streamlit_command
from .data import (
    ExplorerData,
    Neighbourhood,
    Overview,
    UserProfile,
    parse_attention,
    session_rows,
    specificity,
    summary_source_label,
)

__all__ = [
    "ExplorerData",
    "Neighbourhood",
    "Overview",
    "UserProfile",
    "explorer_path",
    "launch",
    "neighbourhood_graph",
    "parse_attention",
    "session_rows",
    "specificity",
    "streamlit_command",
    "summary_source_label",
]
