"""A fast N-Triples line parser, with rdflib as the fallback for what it does not handle.

The fast path covers the statements real DBpedia dumps are made of: ``<s> <p> <o> .`` and
``<s> <p> "literal"(@lang|^^<type>)? .`` without backslash escapes. Anything else (escapes, blank
nodes, comments after the dot, malformed lines) goes to rdflib's own N-Triples parser, one line at a
time, which either understands it or produces the syntax error reported for that line.
"""

from __future__ import annotations

import re
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


# One regular expression for the common statement shapes (matching in C is ~2x faster than slicing):
# <s> <p> <o> .   and   <s> <p> "literal"(@lang | ^^<datatype>)? .   without escapes.
# IRIs must be absolute (start with a scheme such as http:): N-Triples has no base to resolve against.
_IRI_BODY = r'[A-Za-z][A-Za-z0-9+.\-]*:[^<>"{}|^`\\\x00-\x20]*'
_IRI = r"<(" + _IRI_BODY + r")>"
_LINE = re.compile(
    r"[ \t]*" + _IRI + r"[ \t]+" + _IRI + r"[ \t]+"
    r"(?:" + _IRI + r'|"([^"\\\n\r]*)"(?:@([a-zA-Z]+(?:-[a-zA-Z0-9]+)*)|\^\^<' + _IRI_BODY + r">)?)"
    r"[ \t]*\.[ \t]*$"
)
match_line = _LINE.match

_IRI_REF = re.compile(r"<([^<>\s]*)>")
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*:")
# What rdflib's own N-Triples IRI pattern refuses, checked again after its escapes are decoded.
_NOT_IN_IRI = re.compile(r'[\x00-\x20<>"]')


def relative_iri(line: str) -> str | None:
    """The first ``<IRI>`` of an N-Triples line that has no scheme (``<foo>``, ``<#x>``), else None."""
    for m in _IRI_REF.finditer(line):
        if not _SCHEME.match(m.group(1)):
            return m.group(0)
    return None


def parse_fast(line: str) -> Triple | None:
    """Parse one N-Triples line; None when the fast path cannot decide (escapes, blank nodes, errors)."""
    m = match_line(line)
    if m is None:
        return None
    s, p, o, lit, lang = m.groups()
    if o is not None:
        return Triple(s, p, o, False, None)
    return Triple(s, p, lit, True, lang.lower() if lang else None)


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
            out.append(Triple(check_iri(str(s)), check_iri(str(p)), check_iri(str(o)), False, None))
        elif isinstance(o, rdflib.Literal):
            lang = o.language.lower() if o.language else None
            out.append(Triple(check_iri(str(s)), check_iri(str(p)), check_text(str(o)), True, lang))
    return out


def check_iri(iri: str) -> str:
    """``iri`` if it holds no character that IRIs forbid (escapes can produce them), else ValueError."""
    m = _NOT_IN_IRI.search(iri)
    if m:
        raise ValueError(f"IRI {iri[:60]!r} contains {m.group()!r}")
    return check_text(iri)


def check_text(text: str) -> str:
    """``text`` with surrogate pairs written as two escapes joined; ValueError for a lone surrogate."""
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        pass
    try:
        return text.encode("utf-16-le", "surrogatepass").decode("utf-16-le")
    except UnicodeDecodeError:
        raise ValueError("a lone surrogate escape (\\uD800–\\uDFFF) is not a character") from None
