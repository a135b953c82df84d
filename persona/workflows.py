"""Plain functions behind the CLI commands (tests call these directly; the Typer layer stays thin)."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

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


PARAM_TYPES = ("int", "float", "str", "bool", "list", "map", "json")
_TRUE, _FALSE = ("true", "yes", "on", "1"), ("false", "no", "off", "0")


def parse_param(text: str) -> tuple[str, Any]:
    """One ``--param``: ``NAME=VALUE`` or ``NAME:TYPE=VALUE``.

    Without a type the value is parsed as JSON when it is valid JSON (numbers, lists), else kept as a
    string. Types: ``int``, ``float``, ``str`` (as given: ``name:str=007``), ``bool`` (true/false,
    yes/no, on/off, 1/0), ``list`` (a JSON array: ``ids:list=["a","b"]``), ``map`` (a JSON object) and
    ``json`` (any JSON value).

    Raises:
        ConfigError: no ``=``, an empty name, an unknown type, or a value that is not of its type.
    """
    if "=" not in text:
        raise ConfigError(f"--param {text!r}: expected NAME=VALUE or NAME:TYPE=VALUE")
    key, raw = text.split("=", 1)
    name, typed, kind = key.partition(":")
    if not typed:
        try:
            return key, json.loads(raw)
        except json.JSONDecodeError:
            return key, raw
    name, kind = name.strip(), kind.strip().lower()
    if not name:
        raise ConfigError(f"--param {text!r}: the name before ':' is empty")
    if kind not in PARAM_TYPES:
        raise ConfigError(f"--param {text!r}: unknown type {kind!r}; expected one of {', '.join(PARAM_TYPES)}")

    def bad(what: str) -> ConfigError:
        return ConfigError(f"--param {text!r}: {raw!r} is not {what}")

    if kind == "str":
        return name, raw
    v = raw.strip()
    if kind == "int":
        try:
            return name, int(v, 10)
        except ValueError:
            raise bad("an int (e.g. 5)") from None
    if kind == "float":
        try:
            f = float(v)
        except ValueError:
            raise bad("a float (e.g. 1.5)") from None
        if not math.isfinite(f):
            raise bad("a finite float")
        return name, f
    if kind == "bool":
        if v.lower() in _TRUE:
            return name, True
        if v.lower() in _FALSE:
            return name, False
        raise bad("a bool (true or false)")
    try:
        value = json.loads(v, parse_constant=_no_constant)
    except (json.JSONDecodeError, ValueError):
        want = {"list": 'a JSON list (e.g. ["a","b"])', "map": 'a JSON object (e.g. {"a":1})', "json": "JSON"}[kind]
        raise bad(want) from None
    if kind == "list" and not isinstance(value, list):
        raise bad('a JSON list (e.g. ["a","b"])')
    if kind == "map" and not isinstance(value, dict):
        raise bad('a JSON object (e.g. {"a":1})')
    return name, value


def _no_constant(c: str) -> Any:
    raise ValueError(f"{c} is not JSON")


def read_query_file(path: str) -> str:
    """The Cypher statement in file ``path`` (``-``: standard input), see :func:`statement`."""
    import sys
    from pathlib import Path

    where = "standard input" if path == "-" else path
    try:
        text = sys.stdin.read() if path == "-" else Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"--file {path}: no such file") from None
    except IsADirectoryError:
        raise ConfigError(f"--file {path}: is a folder, expected a .cypher file") from None
    except UnicodeDecodeError as e:
        raise ConfigError(f"--file {path}: not UTF-8 text ({e.reason} at byte {e.start})") from None
    except OSError as e:
        raise ConfigError(f"--file {path}: {e.strerror or e}") from None
    return statement(text, where)


def statement(text: str, where: str = "the query") -> str:
    """``text`` as one statement: surrounding blank space and one trailing ``;`` removed.

    Raises:
        ConfigError: nothing but comments and blanks.
    """
    body = text.strip()
    if body.endswith(";"):
        body = body[:-1].rstrip()
    if not _strip_comments_and_strings(body).strip():
        raise ConfigError(f"{where}: no Cypher statement in it")
    return body


_PARAM_REF = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)")
_STRINGS_AND_COMMENTS = re.compile(
    r"'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"|`[^`]*`|//[^\n]*|/\*.*?\*/", re.DOTALL
)


def _strip_comments_and_strings(text: str) -> str:
    return _STRINGS_AND_COMMENTS.sub(" ", text)


def query_params(text: str) -> list[str]:
    """The ``$name`` parameters ``text`` uses, in order of first use (strings and comments ignored)."""
    seen: dict[str, None] = {}
    for m in _PARAM_REF.finditer(_strip_comments_and_strings(text)):
        seen.setdefault(m.group(1), None)
    return list(seen)


def check_params(text: str, params: dict[str, Any], where: str = "the query") -> None:
    """Refuse ``text`` when it uses a ``$name`` that ``params`` lacks (one line naming the flags to add)."""
    missing = [p for p in query_params(text) if p not in params]
    if missing:
        flags = " ".join(f"--param {p}=VALUE" for p in missing)
        raise ConfigError(f"{where} needs {', '.join('$' + p for p in missing)}: add {flags}")


def example_description(text: str) -> str:
    """The leading comment of an example, on one line, without its backend prefix
    (``// Neo4j: the 10 users …`` → ``The 10 users …``)."""
    lines: list[str] = []
    for line in text.splitlines():
        line = line.strip()
        if not line.startswith("//"):
            if line or lines:
                break
            continue
        lines.append(line.lstrip("/").strip())
    desc = " ".join(x for x in lines if x)
    desc = re.sub(r"^(Both stores|Neo4j|LadybugDB|Embedded)\s*:\s*", "", desc)
    return desc[:1].upper() + desc[1:]


def list_examples(backend: str | None = None) -> list[dict[str, Any]]:
    """``cypher/examples``: name, backends, the ``$name`` parameters (of ``backend``'s variant when there
    is one) and the description (of the file that serves both backends, else of the Neo4j variant)."""
    from persona.kgstore import queries

    out = []
    for name, files in queries.examples().items():
        backends = list(files)
        both = len(files) == len(queries.BACKENDS) and len(set(files.values())) == 1
        described = queries.example(name, "neo4j" if "neo4j" in files else backends[0])
        used = queries.example(name, backend) if backend in files else described
        out.append({
            "name": name,
            "backends": "both" if both else ", ".join(backends),
            "params": " ".join("$" + p for p in query_params(used)),
            "description": example_description(described),
        })
    return out


def recommend_session(settings: Settings, item_ids: list[str], *, k: int = 10) -> Any:
    """Top-``k`` items after an anonymous session (see :func:`persona.pipeline.recommend_session`)."""
    from persona.pipeline import recommend_session as _rs

    return _rs(settings, item_ids, k=k)
