"""The ``persona`` command line. Each command parses its options and calls one plain function.

One module per group of commands: :mod:`._base` (the root app, the error guard, shared options),
:mod:`.ingest` (``ingest``, ``enrich``), :mod:`.train` (``train``, ``experiment``), :mod:`.query`
(``recommend``, ``explain``, ``runs``, ``stats``, ``cypher``, ``app``).
"""

from __future__ import annotations

from persona._json import dumps as dumps_json

from . import ingest, query, serve, train
from ._base import app, mask_secrets, quiet_third_party
from .train import experiment_rows, run_rows

__all__ = ["app", "dumps_json", "experiment_rows", "ingest", "mask_secrets", "query", "quiet_third_party", "run_rows", "serve", "train"]
