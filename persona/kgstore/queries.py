"""Named Cypher queries, loaded from ``cypher/*.cypher`` (installed as ``persona.cypher``).

A file may hold one statement, or per-backend variants separated by ``// @embedded`` and ``// @neo4j``
lines when the dialects differ; text before the first marker is shared.
"""

from __future__ import annotations

from functools import lru_cache
from importlib import resources


def names() -> list[str]:
    """All query names (file stems) shipped with the package."""
    return sorted(p.name[:-7] for p in resources.files("persona.cypher").iterdir() if p.name.endswith(".cypher"))


@lru_cache(maxsize=None)
def _read(name: str) -> str:
    path = resources.files("persona.cypher") / f"{name}.cypher"
    if not path.is_file():
        raise KeyError(f"no query named {name!r}; known: {', '.join(names())}")
    return path.read_text(encoding="utf-8")


def load(name: str, backend: str) -> str:
    """Return the text of query ``name`` for ``backend`` ("embedded" or "neo4j")."""
    text = _read(name)
    if "// @" not in text:
        return text.strip()
    shared: list[str] = []
    variants: dict[str, list[str]] = {}
    current: str | None = None
    for line in text.splitlines():
        if line.strip().startswith("// @"):
            current = line.strip()[4:].strip()
            variants[current] = []
        elif current is None:
            shared.append(line)
        else:
            variants[current].append(line)
    if backend not in variants:
        raise KeyError(f"query {name!r} has no variant for backend {backend!r}")
    return "\n".join(shared + variants[backend]).strip()


BACKENDS = ("embedded", "neo4j")


def examples() -> dict[str, dict[str, str]]:
    """The example queries of ``cypher/examples/``: name → {backend: file name}.

    ``NAME.cypher`` runs on both backends; ``NAME.embedded.cypher`` / ``NAME.neo4j.cypher`` are the
    variants of one example for one backend each.
    """
    folder = resources.files("persona.cypher") / "examples"
    if not folder.is_dir():
        return {}
    found: dict[str, dict[str, str]] = {}
    for p in sorted(folder.iterdir(), key=lambda p: p.name):
        if not p.name.endswith(".cypher") or not p.is_file():
            continue
        stem = p.name[: -len(".cypher")]
        name, _, backend = stem.rpartition(".")
        if name and backend in BACKENDS:
            found.setdefault(name, {})[backend] = p.name
        else:
            for b in BACKENDS:
                found.setdefault(stem, {}).setdefault(b, p.name)
    return found


def example(name: str, backend: str) -> str:
    """The text of example ``name`` for ``backend``, picking the ``.embedded.``/``.neo4j.`` variant.

    Raises:
        NotFoundError: no such example, or it exists only for the other backend.
    """
    from persona.errors import NotFoundError

    found = examples()
    if name not in found:
        known = ", ".join(found) or "none"
        raise NotFoundError(f"no example named {name!r}; known: {known} (see persona cypher --list-examples)")
    files = found[name]
    if backend not in files:
        raise NotFoundError(f"example {name!r} exists only for {' and '.join(files)}")
    return (resources.files("persona.cypher") / "examples" / files[backend]).read_text(encoding="utf-8")
