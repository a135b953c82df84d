"""A fast N-Triples line parser, with rdflib as the fallback for what it does not handle.

The fast path covers the statements real DBpedia dumps are made of: ``<s> <p> <o> .`` and
``<s> <p> "literal"(@lang|^^<type>)? .`` without backslash escapes. Anything else (escapes, blank
nodes, comments after the dot, malformed lines) goes to rdflib's own N-Triples parser, one line at a
time, which either understands it or produces the syntax error reported for that line.
"""

from __future__ import annotations

from typing import NamedTuple

import rdflib
from rdflib.plugins.parsers.ntriples import W3CNTriplesParser


class Triple(NamedTuple):
    """One parsed statement. ``o`` is an IRI, or the lexical form when ``literal`` is true."""

    s: str
    p: str
    o: str
    literal: bool
    lang: str | None  # language tag of a literal, else None


def _iri_ok(iri: str) -> bool:
    # IRIREF forbids spaces, quotes and angle brackets; an empty IRI is no resource either
    return bool(iri) and " " not in iri and '"' not in iri and "<" not in iri and "\t" not in iri


def parse_fast(line: str) -> Triple | None:
    """Parse one stripped, non-comment N-Triples line; None when the fast path cannot decide."""
    if line[0] != "<" or "\\" in line:
        return None
    i = line.find(">", 1)
    if i < 0:
        return None
    s = line[1:i]
    rest = line[i + 1 :].lstrip()
    if not rest or rest[0] != "<":
        return None
    j = rest.find(">", 1)
    if j < 0:
        return None
    p = rest[1:j]
    rest = rest[j + 1 :].lstrip()
    if not rest.endswith(".") or not _iri_ok(s) or not _iri_ok(p):
        return None
    body = rest[:-1].rstrip()
    if not body:
        return None
    c = body[0]
    if c == "<":
        if body[-1] != ">":
            return None
        o = body[1:-1]
        if not _iri_ok(o):
            return None
        return Triple(s, p, o, False, None)
    if c == '"':
        k = body.find('"', 1)
        if k < 0:
            return None
        value = body[1:k]
        suffix = body[k + 1 :]
        if not suffix:
            return Triple(s, p, value, True, None)
        if suffix[0] == "@" and len(suffix) > 1 and " " not in suffix:
            return Triple(s, p, value, True, suffix[1:].lower())
        if suffix.startswith("^^<") and suffix.endswith(">") and _iri_ok(suffix[3:-1]):
            return Triple(s, p, value, True, None)
        return None
    return None


class _Sink:
    def __init__(self) -> None:
        self.triples: list[tuple[object, object, object]] = []

    def triple(self, s: object, p: object, o: object) -> None:
        self.triples.append((s, p, o))


def parse_slow(line: str) -> list[Triple]:
    """Parse one line with rdflib; raises ``rdflib``'s ``ParserError`` on bad syntax.

    Statements whose subject or object is a blank node are dropped (they cannot be reached from a
    linked item's IRI); the caller counts lines, not triples, for the statistics.
    """
    sink = _Sink()
    parser = W3CNTriplesParser(sink=sink)  # type: ignore[arg-type]
    parser.parsestring(line + "\n")
    out = []
    for s, p, o in sink.triples:
        if not isinstance(s, rdflib.URIRef) or not isinstance(p, rdflib.URIRef):
            continue
        if isinstance(o, rdflib.URIRef):
            out.append(Triple(str(s), str(p), str(o), False, None))
        elif isinstance(o, rdflib.Literal):
            out.append(Triple(str(s), str(p), str(o), True, o.language.lower() if o.language else None))
    return out
