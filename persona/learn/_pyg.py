"""PyG's generated message-passing code, without the files it leaves behind.

The first time a process instantiates a ``MessagePassing`` class, PyG (2.5 and later) renders that class's
``propagate`` (and ``edge_updater``) from a Jinja template, writes it to a ``NamedTemporaryFile(delete=False)``
in the system temp directory, imports it, and never removes the file. Every process that learned personas
left two files in ``/tmp`` (``GATConv``), every LightGCN baseline two more: after a few weeks of experiments a
user's ``/tmp`` held hundreds. The imported module keeps its code in memory, so the file can go as soon as the
class is built; only the source lines of a traceback through ``propagate`` are lost.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

#: Suffixes PyG gives its generated modules' names (``{module}_{Class}_propagate``).
_GENERATED = ("_propagate", "_edge_updater")


def remove_generated_sources() -> int:
    """Delete the temp files of the PyG modules this process generated; returns how many were removed.

    Only a file that is a loaded module's own ``__file__``, lies directly in the temp directory and is named
    after that module as PyG names them (``{module name}_XXXXXXXX.py``) is touched.
    """
    tmp = Path(tempfile.gettempdir()).resolve()
    removed = 0
    for name in [n for n in sys.modules if n.endswith(_GENERATED)]:
        file = getattr(sys.modules[name], "__file__", None)
        if not file:
            continue
        path = Path(file)
        if path.suffix != ".py" or not path.name.startswith(f"{name}_") or path.parent.resolve() != tmp:
            continue
        try:
            path.unlink()
        except FileNotFoundError:
            continue
        removed += 1
    return removed
