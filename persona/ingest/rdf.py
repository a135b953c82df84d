"""RDF knowledge (DBpedia dumps, SPARQL answers, RecBole ``.kg`` triples) → entity nodes and edges.

Files are N-Triples, Turtle or RDF/XML, plain or gzip, recognised by their extension (``.nt``,
``.ntriples``, ``.ttl``, ``.turtle``, ``.n3``, ``.rdf``, ``.owl``, ``.xml``, each optionally ``.gz``).
N-Triples goes through a hand-written line parser (:mod:`._ntriples`) with rdflib as the fallback for
lines it does not handle; other formats are parsed by rdflib.

Mapping (the same for files, SPARQL and ``.kg``):

* Only triples reachable from a linked item's IRI within ``hops`` are kept: hop 1 are the triples whose
  subject is a linked item; hop 2 those whose subject is an object reached at hop 1, and so on.
* A predicate in :data:`persona.kgstore.schema.PREDICATES` (the DBpedia table, plus
  ``[ingest.predicates]``) becomes its relationship type towards its target label (``dbo:director`` →
  ``DIRECTED_BY`` → ``Person``). Any other IRI-valued predicate gets its own type and target label
  derived from its name by :func:`persona.kgstore.schema.derive_predicate_rules`
  (``film.film.directed_by`` → ``FILM_DIRECTED_BY`` → ``Person``, ``http://example.org/mood`` →
  ``MOOD`` → ``Entity``) and is counted in ``stats["unknown_predicates"]`` ({predicate: triples});
  literal-valued ones are counted in ``stats["unknown_literal_predicates"]`` and skipped (known
  predicates with a literal object are counted in ``stats["literal_objects_skipped"]``). The mapping
  used, table and derived alike, is ``stats["predicate_types"]``: {"predicate → TYPE → Label":
  triples}, read back as rows by :func:`predicate_map` (the ingest commands print it).
* An object that is itself a linked item's IRI resolves to that ``Item`` (``dbo:previousWork`` between
  two books in the catalogue joins the two items) instead of a separate entity node.
* An entity reached through several predicates with different target labels gets one label: the most
  frequent among its incoming edges (``Entity`` only if nothing else), ties broken by the order of
  :data:`~persona.kgstore.schema.ENTITY_LABELS`; such entities are counted in ``stats["label_conflicts"]``.
* Entity node id = the full IRI; ``name`` = its English (or untagged) ``rdfs:label`` when the data has
  one, otherwise derived from the IRI (:func:`iri_name`: percent-decoded, ``_`` → space, parenthetical
  disambiguation kept, e.g. ``Flawless (1999 film)``).
* Item→entity edges have ``src_label="Item"`` (ids = item ids, several if items share an IRI); 2-hop
  edges start at the entity's own label.

The result holds entity nodes and edges only; ``Item`` endpoints are the readers' items (or, loaded on
their own, items already in the store, matched by id).

Why one long module: parsing, the predicate table's application and the hop-limited walk share one
:class:`TripleIndex`; the line parser itself is :mod:`._ntriples`.
"""

from __future__ import annotations

import json
import re
import xml.parsers.expat
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from os import PathLike
from pathlib import Path
from typing import Any

import pandas as pd
import rdflib
from rdflib.exceptions import ParserError

from persona.errors import ConfigError
from persona.kgstore.frames import GraphFrames
from persona.kgstore.schema import ENTITY_LABELS, PREDICATES, derive_predicate_rules

from ._io import iter_line_blocks, read_bytes
from ._ntriples import Triple, check_text, match_line, parse_slow, relative_iri
from ._text import bad_iri_char, iri_name
from ._values import HOPS, check_reader_args
from .errors import InputError, RecordPolicy, show

RDFS_LABEL = "http://www.w3.org/2000/01/rdf-schema#label"
#: Joins predicate, relationship type and target label in the keys of ``stats["predicate_types"]``: one
#: flat {key: triples} dict adds up when the statistics of several sources are merged.
MAP_SEP = " → "


def predicate_map(stats: Mapping[str, Any]) -> list[tuple[str, str, str, int]]:
    """Rows (predicate, relationship type, target label, triples) of ``stats["predicate_types"]``, sorted."""
    out = []
    for key, n in (stats.get("predicate_types") or {}).items():
        pred, rel, label = str(key).rsplit(MAP_SEP, 2)
        out.append((pred, rel, label, int(n)))
    return sorted(out)


_FORMATS = {
    ".nt": "nt",
    ".ntriples": "nt",
    ".ttl": "turtle",
    ".turtle": "turtle",
    ".n3": "n3",
    ".rdf": "xml",
    ".owl": "xml",
    ".xml": "xml",
}
_FORMAT_NAMES = {"nt": "N-Triples", "turtle": "Turtle", "n3": "Notation3", "xml": "RDF/XML"}


@dataclass
class TripleIndex:
    """Parsed triples grouped by subject, plus the best label of every subject seen.

    Attributes:
        by_subject: subject IRI → list of (predicate, object, object is a literal).
        labels: subject IRI → (rank, label); rank 0 = ``@en``, 1 = no language tag.
        read: statements read; fallback: N-Triples lines that needed rdflib; blank: statements dropped
            because a blank node was the subject or object.
    """

    by_subject: dict[str, list[tuple[str, str, bool]]] = field(default_factory=lambda: defaultdict(list))
    labels: dict[str, tuple[int, str]] = field(default_factory=dict)
    read: int = 0
    fallback: int = 0
    blank: int = 0

    def add(self, s: str, p: str, o: str, literal: bool, lang: str | None, keep: set[str] | None) -> None:
        """Add one triple; with ``keep`` only subjects in it are indexed (labels always are)."""
        if p == RDFS_LABEL and literal:
            rank = 0 if lang == "en" or (lang and lang.startswith("en-")) else 1 if lang is None else None
            if rank is not None:
                old = self.labels.get(s)
                if old is None or rank < old[0]:
                    self.labels[s] = (rank, o)
            return
        if keep is None or s in keep:
            self.by_subject[s].append((p, o, literal))


def rdf_format(path: Path) -> str:
    """rdflib format name from the file extension (``.gz`` ignored), else :class:`InputError`."""
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] == ".gz":
        suffixes = suffixes[:-1]
    fmt = _FORMATS.get(suffixes[-1]) if suffixes else None
    if fmt is None:
        raise InputError(
            path,
            None,
            "an RDF file named *.nt, *.ttl, *.rdf, *.owl, *.xml or *.n3 (optionally .gz)",
            f"extension {''.join(path.suffixes) or '(none)'}",
        )
    return fmt


def parse_ntriples(path: Path, index: TripleIndex, keep: set[str] | None, policy: RecordPolicy) -> None:
    """Add the statements of an N-Triples file to ``index`` (fast path, rdflib fallback per line).

    The loop is written for speed (blocks of decoded text, one regular expression per line, indexing
    inlined); :meth:`TripleIndex.add` has the same semantics.
    """
    by_subject = index.by_subject
    match = match_line
    read = fallback = blank = 0
    for first, lines in iter_line_blocks(path, policy, expected="N-Triples statements"):
        for n, line in enumerate(lines, first):
            m = match(line)
            if m is not None:
                s, p, o, lit, lang = m.groups()
                read += 1
                if o is None:
                    if p == RDFS_LABEL:
                        index.add(s, p, lit, True, lang.lower() if lang else None, keep)
                        continue
                    o = lit
                if keep is None or s in keep:
                    by_subject[s].append((p, o, lit is not None))
                continue
            stripped = line.strip()
            if not stripped or stripped[0] == "#":
                continue
            try:
                ts = parse_slow(stripped)
            except (ParserError, ValueError) as e:
                rel = relative_iri(stripped)
                if rel is not None:
                    err = InputError(
                        path,
                        n,
                        "an N-Triples statement with absolute IRIs such as <http://…> (N-Triples has no "
                        "base IRI to resolve relative ones against)",
                        f"the relative IRI {show(rel)}",
                    )
                else:
                    why = (str(e).splitlines() or [type(e).__name__])[0][:120]
                    err = InputError(
                        path,
                        n,
                        'an N-Triples statement (<subject> <predicate> <object> or "literal" .)',
                        f"{show(stripped)} ({why})",
                    )
                policy.bad(err, line)
                continue
            read += 1
            fallback += 1
            if not ts:
                blank += 1
            for t in ts:
                index.add(t.s, t.p, t.o, t.literal, t.lang, keep)
    index.read += read
    index.fallback += fallback
    index.blank += blank


#: Base IRI for parsing Turtle / RDF/XML: a relative IRI in the file resolves to something starting with
#: it and is refused (rdflib's default base, the current directory, would make it a file: IRI).
#: ``.invalid`` is a reserved top-level domain, so no real IRI starts with this.
RELATIVE_BASE = "http://persona-relative.invalid/"

_XML_ENCODING = re.compile(rb"""^<\?xml[^>]*\bencoding\s*=\s*["']([A-Za-z0-9._-]+)["']""")
_TTL_IRI_REF = re.compile(r"<([^<>\s\"{}|^`\\]*)>")
_XML_IRI_ATTR = re.compile(r"""\b(?:rdf:(?:about|resource|ID|datatype)|xml:base)\s*=\s*["']([^"']*)["']""")
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*:")


def _check_utf8(path: Path, data: bytes) -> None:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        col = e.start - (data.rfind(b"\n", 0, e.start) + 1) + 1
        raise InputError(path, line, "UTF-8 text", f"byte 0x{data[e.start]:02x} at column {col}") from None


class _EntityBomb(Exception):
    pass


def _check_entity_expansion(path: Path, data: bytes) -> None:
    """Refuse RDF/XML whose DTD entities expand to far more text than the file holds ("billion laughs").

    expat's own guard starts at 8 MiB of expansion; rdflib gathers character data quadratically, so
    even 1 MB of expanded entities takes it minutes. Legitimate files use entities for namespace IRIs.
    """
    limit = 10 * len(data) + 100_000
    total = 0
    parser = xml.parsers.expat.ParserCreate()

    def count(text: str) -> None:
        nonlocal total
        total += len(text)
        if total > limit:
            raise _EntityBomb

    def start(_name: str, attrs: dict[str, str]) -> None:
        count("".join(attrs.values()))

    parser.CharacterDataHandler = count
    parser.StartElementHandler = start
    try:
        parser.Parse(data, True)
    except _EntityBomb:
        raise InputError(
            path,
            parser.CurrentLineNumber,
            f"RDF/XML whose entities expand to at most {limit} characters",
            "entity references that expand to more (an XML entity bomb?)",
        ) from None
    except xml.parsers.expat.ExpatError:
        pass  # rdflib reports syntax errors with its own message


def _relative_sources(text: str, fmt: str) -> list[tuple[str, int, str]]:
    """(resolved IRI, line, as written) for each relative IRI reference written in the file."""
    pattern = _XML_IRI_ATTR if fmt == "xml" else _TTL_IRI_REF
    out = []
    for m in pattern.finditer(text):
        ref = m.group(1)
        if _SCHEME.match(ref):
            continue
        if fmt == "xml" and m.group(0).lstrip().startswith("rdf:ID"):
            ref = "#" + ref
        line = text.count("\n", 0, m.start()) + 1
        out.append((str(rdflib.URIRef(ref, base=RELATIVE_BASE)), line, m.group(0)))
    return out


def _relative_line(term: str, sources: list[tuple[str, int, str]]) -> tuple[int | None, str | None]:
    """Line and written form of the reference that ``term`` (resolved against the sentinel) came from."""
    exact = [s for s in sources if s[0] == term]
    if exact:
        return exact[0][1], exact[0][2]
    prefixes = [s for s in sources if term.startswith(s[0])]  # via @prefix / @base / xml:base
    if prefixes:
        best = max(prefixes, key=lambda s: len(s[0]))
        return best[1], best[2]
    return None, None


def parse_with_rdflib(
    path: Path, fmt: str, index: TripleIndex, keep: set[str] | None, policy: RecordPolicy | None = None
) -> None:
    """Add the statements of a Turtle / RDF/XML / N3 file (whole-file rdflib parse).

    Syntax errors and non-UTF-8 Turtle raise :class:`InputError` (these files cannot be parsed in
    part). A statement with a relative IRI (one that would need a base IRI the file does not declare)
    or a lone surrogate escape is a bad record for ``policy``.
    """
    policy = policy or RecordPolicy()
    data = read_bytes(path)
    if fmt == "xml":
        declared = _XML_ENCODING.match(data)
        if not data.startswith((b"\xff\xfe", b"\xfe\xff")) and (
            declared is None or declared.group(1).lower().replace(b"_", b"-") in (b"utf-8", b"utf8")
        ):
            _check_utf8(path, data[3:] if data.startswith(b"\xef\xbb\xbf") else data)
        if b"<!ENTITY" in data:
            _check_entity_expansion(path, data)
    else:
        if data.startswith(b"\xef\xbb\xbf"):
            data = data[3:]
        _check_utf8(path, data)
    g = rdflib.Graph()
    try:
        g.parse(data=data, format=fmt, publicID=RELATIVE_BASE)
    except Exception as e:  # noqa: BLE001 - rdflib raises BadSyntax, SAXParseException, ParserError, ValueError…
        line = _error_line(e)
        why = getattr(e, "_why", None) or (
            e.getMessage() if hasattr(e, "getMessage") else (str(e).splitlines() or [type(e).__name__])[0]
        )
        raise InputError(path, line, f"valid {_FORMAT_NAMES[fmt]}", f"a syntax error: {why}") from None
    name = _FORMAT_NAMES[fmt]
    base = "an xml:base attribute" if fmt == "xml" else "a @base declaration"
    sources: list[tuple[str, int, str]] | None = None
    bad: list[tuple[int | None, str, str, str]] = []  # (line, expected, got, raw statement)
    for s, p, o in g:
        index.read += 1
        if not isinstance(s, rdflib.URIRef) or not isinstance(p, rdflib.URIRef):
            index.blank += 1
            continue
        terms = [str(s), str(p), str(o)]
        iris = terms[:2] + terms[2:] * isinstance(o, rdflib.URIRef)
        if isinstance(o, rdflib.Literal) and o.datatype is not None:
            iris.append(str(o.datatype))
        raw = f"{_term(s)} {_term(p)} {_term(o)} ."
        rel = next((t for t in iris if t.startswith(RELATIVE_BASE)), None)
        if rel is not None:
            if sources is None:
                sources = _relative_sources(data.decode("utf-8", "replace"), fmt)
            line, written = _relative_line(rel, sources)
            expected = f"{name} statements with absolute IRIs (relative ones need {base} in the file)"
            bad.append(
                (line, expected, f"the relative IRI {show(written)}" if written else "a relative IRI", raw)
            )
            continue
        wrong = next((t for t in iris if bad_iri_char(t)), None)
        if wrong is not None:
            expected = f'{name} IRIs without spaces, control characters, <, > or " (percent-encode them)'
            bad.append((None, expected, f"{show(wrong)}, which contains {bad_iri_char(wrong)!r}", raw))
            continue
        try:
            text = check_text(terms[2])
            check_text(terms[0])
            check_text(terms[1])
        except ValueError as e:
            bad.append((None, f"{name} statements of valid Unicode text", str(e), raw))
            continue
        if isinstance(o, rdflib.URIRef):
            index.add(terms[0], terms[1], text, False, None, keep)
        elif isinstance(o, rdflib.Literal):
            index.add(terms[0], terms[1], text, True, o.language.lower() if o.language else None, keep)
        else:
            index.blank += 1
    for line, expected, got, raw in sorted(bad, key=lambda b: (b[0] or 0, b[3])):
        policy.bad(InputError(path, line, expected, got), raw)


def _term(t: object) -> str:
    """An RDF term for the rejects file (rdflib's ``n3()`` refuses the malformed IRIs reported here)."""
    if isinstance(t, rdflib.URIRef):
        return f"<{t}>"
    if isinstance(t, rdflib.Literal):
        text = str(t).encode("utf-8", "backslashreplace").decode("utf-8")
        return json.dumps(text, ensure_ascii=False) + (f"@{t.language}" if t.language else "")
    return f"_:{t}"


def _error_line(e: BaseException) -> int | None:
    if hasattr(e, "getLineNumber"):  # xml.sax.SAXParseException
        try:
            return int(e.getLineNumber())
        except (TypeError, ValueError):
            return None
    lines = getattr(e, "lines", None)  # notation3.BadSyntax: 0-based line
    if isinstance(lines, int):
        return lines + 1
    return None


def index_files(
    paths: Iterable[str | PathLike[str]], links: Mapping[str, str], hops: int, policy: RecordPolicy
) -> TripleIndex:
    """Parse every RDF file into one :class:`TripleIndex` (only linked subjects when ``hops == 1``)."""
    check_reader_args(hops=hops)
    index = TripleIndex()
    keep = set(links.values()) if hops <= 1 else None
    for p in paths:
        path = Path(p)
        fmt = rdf_format(path)
        if fmt == "nt":
            parse_ntriples(path, index, keep, policy)
        else:
            parse_with_rdflib(path, fmt, index, keep, policy)
    return index


def index_triples(triples: Iterable[Triple]) -> TripleIndex:
    """A :class:`TripleIndex` from already parsed triples (SPARQL answers, ``.kg`` rows)."""
    index = TripleIndex()
    for t in triples:
        index.read += 1
        index.add(t.s, t.p, t.o, t.literal, t.lang, None)
    return index


def frames_from_index(index: TripleIndex, links: Mapping[str, str], hops: int = HOPS) -> GraphFrames:
    """Map indexed triples reachable from the linked items to entity nodes and edges (see module doc).

    Args:
        index: Parsed triples.
        links: item id → entity IRI.
        hops: How far from the linked items triples are followed (≥ 1).

    Returns:
        Entity nodes (``id``, ``iri``, ``name``) per label and the edges; ``stats`` as in the module doc
        plus ``rdf_triples`` (statements read), ``rdf_fallback_lines``, ``rdf_edges`` (edges made),
        ``linked_items`` and ``linked_items_with_triples``.
    """
    if hops < 1:
        raise ConfigError(f"hops must be at least 1, got {hops}")
    items_of: dict[str, list[str]] = defaultdict(list)
    for item, iri in links.items():
        items_of[iri].append(str(item))

    unknown: Counter[str] = Counter()
    unknown_lit: Counter[str] = Counter()
    lit_known: Counter[str] = Counter()
    walked: list[tuple[str, str, str]] = []  # (subject, predicate, object)
    visited = set(items_of)
    frontier = sorted(items_of)
    for _hop in range(hops):
        nxt: list[str] = []
        for s in frontier:
            for p, o, literal in index.by_subject.get(s, ()):
                if literal:
                    (lit_known if p in PREDICATES else unknown_lit)[p] += 1
                    continue
                if p not in PREDICATES:
                    unknown[p] += 1
                walked.append((s, p, o))
                if o not in visited:
                    visited.add(o)
                    nxt.append(o)
        frontier = nxt

    rules = {p: PREDICATES[p] for p in {p for _, p, _ in walked} - unknown.keys()}
    rules.update(derive_predicate_rules(unknown))
    edges: list[tuple[str, str, str, str]] = []  # (subject, predicate, object, rel type)
    votes: dict[str, Counter[str]] = defaultdict(Counter)
    used: Counter[str] = Counter()
    for s, p, o in walked:
        rule = rules[p]
        edges.append((s, p, o, rule.rel_type))
        used[p] += 1
        if o not in items_of:
            votes[o][rule.target] += 1

    order = {lab: i for i, lab in enumerate(ENTITY_LABELS)}
    label_of: dict[str, str] = {}
    conflicts = 0
    for iri, c in votes.items():
        cands = [lab for lab in c if lab != "Entity"] or ["Entity"]
        if len(c) > 1:
            conflicts += 1
        label_of[iri] = min(cands, key=lambda lab: (-c[lab], order.get(lab, len(order))))

    groups: dict[tuple[str, str, str], list[tuple[str, str, str]]] = defaultdict(list)
    with_triples: set[str] = set()
    for s, p, o, rel in edges:
        if s in items_of:
            srcs, src_label = items_of[s], "Item"
            with_triples.add(s)
        else:
            srcs, src_label = [s], label_of[s]
        if o in items_of:
            dsts, dst_label = items_of[o], "Item"
        else:
            dsts, dst_label = [o], label_of[o]
        for a in srcs:
            for b in dsts:
                groups[(rel, src_label, dst_label)].append((a, b, p))

    gf = GraphFrames()
    by_label: dict[str, list[str]] = defaultdict(list)
    for iri, lab in label_of.items():
        by_label[lab].append(iri)
    for lab in sorted(by_label):
        iris = sorted(by_label[lab])
        names = [index.labels[i][1] if i in index.labels else iri_name(i) for i in iris]
        iri_col = [
            i if i.startswith(("http://", "https://")) else None for i in iris
        ]  # .kg tokens aren't IRIs
        gf.add_nodes(lab, pd.DataFrame({"id": iris, "iri": iri_col, "name": names}))
    for (rel, sl, dl), rows in sorted(groups.items()):
        df = pd.DataFrame(rows, columns=["src", "dst", "predicate"])
        if rel != "RELATED_TO":
            df = df.drop(columns="predicate")
        gf.add_rels(rel, sl, dl, df)
    n_edges = sum(len(rf.df) for rf in gf.rels)
    gf.stats.update(
        {
            "rdf_triples": index.read,
            "rdf_fallback_lines": index.fallback,
            "rdf_blank_nodes_skipped": index.blank,
            "rdf_edges": n_edges,
            "linked_items": len(links),
            "linked_items_with_triples": sum(len(items_of[i]) for i in with_triples),
            "unknown_predicates": dict(unknown),
            "predicate_types": {
                f"{p}{MAP_SEP}{rules[p].rel_type}{MAP_SEP}{rules[p].target}": n
                for p, n in sorted(used.items())
            },
            "unknown_literal_predicates": dict(unknown_lit),
            "literal_objects_skipped": dict(lit_known),
            "label_conflicts": conflicts,
        }
    )
    return gf


def read_rdf(
    paths: str | PathLike[str] | Sequence[str | PathLike[str]],
    links: Mapping[str, str],
    *,
    hops: int = HOPS,
    skip_invalid: bool = False,
    rejects: str | PathLike[str] | None = None,
) -> GraphFrames:
    """Read RDF files and keep the knowledge about the linked items (see the module doc for the mapping).

    Args:
        paths: One file or several (N-Triples, Turtle, RDF/XML; ``.gz`` or not; by extension).
        links: item id → entity IRI (e.g. from a ``.link`` file).
        hops: Follow triples this many steps from the linked items (1 = their own triples). With 1,
            only the linked subjects' triples (and every ``rdfs:label``) are kept while parsing; with
            more, all triples are held in memory until the mapping.
        skip_invalid: Skip malformed N-Triples lines, and Turtle / RDF/XML statements with relative
            IRIs (logged to ``rejects``), instead of raising. Turtle and RDF/XML syntax errors always
            raise: those files cannot be parsed in part.
        rejects: JSON-lines file for skipped lines.

    Returns:
        Entity nodes and edges; ``stats`` keys listed in :func:`frames_from_index`, plus ``skipped``.

    Raises:
        InputError: missing or empty file, unknown extension, truncated gzip, non-UTF-8 text, a syntax
            error (with its line when the parser reports one), a relative IRI (N-Triples has no base;
            Turtle and RDF/XML files must declare one to use them).
        ValueError: ``hops`` below 1.

    Example:
        >>> gf = read_rdf("movies.nt.gz", {"2": "http://dbpedia.org/resource/GoldenEye"})  # doctest: +SKIP
    """
    check_reader_args(hops=hops)
    if isinstance(paths, (str, PathLike)):
        paths = [paths]
    policy = RecordPolicy(skip_invalid, rejects)
    index = index_files(paths, links, hops, policy)
    gf = frames_from_index(index, links, hops)
    policy.finish(gf.stats)
    return gf
