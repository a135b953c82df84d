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
    shared, variants, current = [], {}, None
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
