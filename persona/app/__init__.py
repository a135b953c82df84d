"""The Streamlit explorer of a persona-kg store (``persona app``).

``explorer.py`` is the Streamlit script; :func:`launch` serves it. :class:`ExplorerData` holds the read
queries (``cypher/app_*.cypher``) and imports no Streamlit, so tests and other front ends can use it.
"""

from ._graph import neighbourhood_dot
from ._launch import explorer_path, launch, streamlit_command
from .data import (
    ExplorerData,
    Neighbourhood,
    Overview,
    UserProfile,
    parse_attention,
    session_rows,
    summary_source_label,
)

__all__ = [
    "ExplorerData",
    "Neighbourhood",
    "Overview",
    "UserProfile",
    "explorer_path",
    "launch",
    "neighbourhood_dot",
    "parse_attention",
    "session_rows",
    "streamlit_command",
    "summary_source_label",
]
