"""Runs live in the store they were trained on.

Every ``persona train`` (and ``persona train personas``) writes a ``(:Run {id, kind, created_at, store_id,
settings, settings_digest, metrics, artefacts, persona_run})`` node into the graph it trained on, and
everything the run writes back names its id (``User.persona_run``, ``RECOMMENDED.run``, ``SIMILAR.run``,
``HELD_OUT.run``). Model files go to ``<workdir>/stores/<store id>/runs/<run id>/`` (personas under
``…/personas/<run id>/``): the store's identity (a UUID set at schema creation, :meth:`GraphStore.identity`)
keys them, so two stores never share a ``latest`` and a model never answers for another store.

Serving (``persona recommend``, ``explain``, the explorer) asks the store for its newest ``train`` run
(or the ``--run`` given) and refuses, naming both, a run whose files are missing or were written for
another store.
"""

from __future__ import annotations

import datetime
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from persona.errors import ModelError, NotFoundError
from persona.kgstore import GraphFrames, GraphStore, StoreError

RUN_FILE = "run.json"


@dataclass
class RunRecord:
    """One run as recorded in the store (``settings`` and ``metrics`` decoded from JSON)."""

    id: str
    kind: str
    created_at: str
    store_id: str
    settings: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    artefacts: str = ""
    persona_run: str | None = None

    @property
    def settings_digest(self) -> str:
        return digest(self.settings)

    def headline(self) -> dict[str, Any]:
        """The run's headline test metrics: ``{stage: {hr@10, ndcg@10, mrr}}``."""
        keys = ("hr@10", "ndcg@10", "mrr")
        return {stage: {k: m.get(k) for k in keys if k in m} for stage, m in self.metrics.items() if isinstance(m, dict)}


def digest(settings: dict[str, Any]) -> str:
    """A short, stable digest of a settings dict (12 hex digits of SHA-256 over sorted JSON)."""
    return hashlib.sha256(json.dumps(settings, sort_keys=True, default=str).encode()).hexdigest()[:12]


def now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="microseconds")


def store_identity(store: GraphStore) -> str:
    """The store's identity, created if the store predates identities (a write)."""
    sid = store.identity()
    if sid is None:
        store.init_schema()
        sid = store.identity()
    if sid is None:  # pragma: no cover - init_schema always creates one
        raise StoreError(f"{store.uri}: the store has no identity")
    return sid


def store_dir(workdir: Path | str, store_id: str) -> Path:
    """``<workdir>/stores/<store id>``: every model file of that store's runs lives below it."""
    return Path(workdir) / "stores" / store_id


def record_run(store: GraphStore, run: RunRecord, workdir: Path | str, extra: dict[str, Any] | None = None) -> None:
    """Write ``run`` as a ``Run`` node (idempotent by id) and its ``run.json`` into its artefacts folder
    (merged into a ``run.json`` already there, e.g. the persona job's; ``extra`` adds fields)."""
    g = GraphFrames()
    g.add_nodes(
        "Run",
        pd.DataFrame(
            {
                "id": [run.id],
                "kind": [run.kind],
                "created_at": [run.created_at],
                "store_id": [run.store_id],
                "settings": [json.dumps(run.settings, sort_keys=True, default=str)],
                "settings_digest": [run.settings_digest],
                "metrics": [json.dumps(run.metrics, sort_keys=True, default=float)],
                "artefacts": [run.artefacts],
                "persona_run": [run.persona_run],
            }
        ),
    )
    store.load(g)
    folder = Path(workdir) / run.artefacts
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / RUN_FILE
    meta = json.loads(path.read_text()) if path.is_file() else {}
    meta.update(extra or {})
    meta.update({
        "run_id": run.id, "kind": run.kind, "created_at": run.created_at, "store_id": run.store_id,
        "store": store.uri, "settings": run.settings, "metrics": run.metrics, "persona_run": run.persona_run,
    })
    path.write_text(json.dumps(meta, indent=2, default=float))


def _decode(row: dict[str, Any]) -> RunRecord:
    def load(v: Any) -> dict[str, Any]:
        try:
            out = json.loads(v) if v else {}
        except (TypeError, ValueError):
            out = {}
        return out if isinstance(out, dict) else {}

    return RunRecord(
        id=row["id"], kind=row.get("kind") or "", created_at=row.get("created_at") or "",
        store_id=row.get("store_id") or "", settings=load(row.get("settings")), metrics=load(row.get("metrics")),
        artefacts=row.get("artefacts") or "", persona_run=row.get("persona_run"),
    )


def list_runs(store: GraphStore, kind: str | None = None) -> list[RunRecord]:
    """The store's runs, newest first (only ``kind`` when given)."""
    try:
        rows = store.run_named("runs_list")
    except StoreError:  # a store created before runs were recorded has no Run table
        return []
    runs = [_decode(r) for r in rows]
    return [r for r in runs if kind is None or r.kind == kind]


def get_run(store: GraphStore, run_id: str) -> RunRecord:
    """The run ``run_id`` of this store.

    Raises:
        NotFoundError: the store has no such run (the message lists the newest ones).
    """
    runs = list_runs(store)
    for r in runs:
        if r.id == run_id:
            return r
    known = ", ".join(r.id for r in runs[:5]) or "none"
    raise NotFoundError(f"unknown run {run_id!r} in {store.uri} (its runs, newest first: {known}; see `persona runs`)")


def newest_run(store: GraphStore, kind: str = "train") -> RunRecord:
    """The newest ``kind`` run recorded in the store.

    Raises:
        ModelError: the store has none.
    """
    runs = list_runs(store, kind)
    if not runs:
        raise ModelError(f"no {kind} run is recorded in {store.uri}; run `persona train --store {store.uri}` first")
    return runs[0]


def resolve_run(store: GraphStore, workdir: Path | str, run_id: str | None = None, kind: str = "train") -> tuple[RunRecord, Path]:
    """The run that answers for ``store``: ``run_id``, or the newest ``kind`` run recorded in the store.

    Returns:
        ``(record, artefacts folder)``.

    Raises:
        ModelError: the store has no such run, its files are missing, or they belong to another store
            (both stores are named).
        NotFoundError: ``run_id`` is not a run of this store.
    """
    sid = store.identity()
    if run_id is not None:
        run = get_run(store, run_id)
    else:
        run = newest_run(store, kind)
    if sid is not None and run.store_id and run.store_id != sid:
        raise ModelError(f"run {run.id} was recorded for store {run.store_id}, but {store.uri} is store {sid}")
    folder = Path(workdir) / run.artefacts
    meta_path = folder / RUN_FILE
    if not meta_path.is_file():
        raise ModelError(
            f"run {run.id} of {store.uri}: its model files are missing under {folder} "
            f"(another --workdir? re-run `persona train --store {store.uri}`)"
        )
    meta = json.loads(meta_path.read_text())
    if meta.get("store_id") != (sid or run.store_id) or meta.get("run_id") != run.id:
        raise ModelError(
            f"{folder} holds run {meta.get('run_id')} of store {meta.get('store_id')} ({meta.get('store')}), "
            f"not run {run.id} of {store.uri} (store {sid}); refusing to answer with another store's model"
        )
    return run, folder
