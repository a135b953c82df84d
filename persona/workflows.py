"""Plain functions behind the CLI commands (tests call these directly; the Typer layer stays thin)."""

from __future__ import annotations

import json
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Iterator

from persona.config import Settings
from persona.errors import ConfigError
from persona.kgstore import GraphFrames, GraphStore, Progress, StoreError, open_store, register_predicate


@contextmanager
def connect(settings: Settings, *, read_only: bool = False, create: bool = False) -> Iterator[GraphStore]:
    """Open the configured store and close it afterwards.

    ``read_only`` means the same on both backends (see :func:`persona.kgstore.open_store`); ``create``
    lets an embedded store be created (only ingest does: other commands refuse a missing store).
    """
    store = open_store(
        settings.store,
        user=settings.neo4j.user,
        password=settings.neo4j.password.get_secret_value(),
        database=settings.neo4j.database,
        read_only=read_only,
        create=create,
    )
    try:
        yield store
    finally:
        store.close()


class LoadInterrupted(StoreError):
    """A load stopped part-way (server gone, batch refused): running the same command again resumes it."""


def apply_predicates(settings: Settings) -> None:
    """Register the config file's extra RDF predicate rules."""
    for iri, (rel, target) in settings.ingest.predicates.items():
        try:
            register_predicate(iri, rel, target)
        except ValueError as e:
            raise ConfigError(f"[ingest.predicates] {iri!r}: {e}") from None


@dataclass
class IngestReport:
    """What an ingest wrote and what the store holds afterwards."""

    parsed: dict[str, int]
    written: dict[str, int]
    counts: dict[str, dict[str, int]]
    stats: dict[str, Any] = field(default_factory=dict)


def load_frames(
    settings: Settings, parse: Callable[[], GraphFrames], *, progress: Progress | None = None
) -> IngestReport:
    """Parse completely (errors leave the store untouched), then load into the configured store."""
    apply_predicates(settings)
    frames = parse()
    frames.validate()
    with connect(settings, create=True) as store:
        store.init_schema()
        try:
            written = store.load(frames, batch_size=settings.ingest.batch_size, progress=progress)
        except StoreError as e:
            raise LoadInterrupted(str(e)) from None
        counts = store.counts()
    return IngestReport(frames.counts(), written, counts, dict(frames.stats))


def stats(settings: Settings) -> dict[str, dict[str, int]]:
    """Node counts per label and relationship counts per type."""
    with connect(settings, read_only=True) as store:
        return store.counts()


def cypher(settings: Settings, query: str, params: dict[str, Any], *, write: bool = False) -> list[dict[str, Any]]:
    """Run one Cypher statement; read-only unless ``write`` (enforced by the database)."""
    with connect(settings, read_only=not write) as store:
        return store.run(query, params, write=write)


def parse_param(text: str) -> tuple[str, Any]:
    """``k=v`` → (k, v) with v parsed as JSON when it is valid JSON (numbers, lists), else a string."""
    if "=" not in text:
        raise ConfigError(f"--param {text!r}: expected NAME=VALUE")
    k, v = text.split("=", 1)
    try:
        return k, json.loads(v)
    except json.JSONDecodeError:
        return k, v


def recommend_session(settings: Settings, item_ids: list[str], *, k: int = 10) -> Any:
    """Top-``k`` items after an anonymous session (see :func:`persona.pipeline.recommend_session`)."""
    from persona.pipeline import recommend_session as _rs

    return _rs(settings, item_ids, k=k)
