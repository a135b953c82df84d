"""RDF knowledge (DBpedia dumps, SPARQL answers, RecBole ``.kg`` triples) → entity nodes and edges.

Files are N-Triples, Turtle or RDF/XML, plain or gzip, recognised by their extension (``.nt``,
``.ntriples``, ``.ttl``, ``.turtle``, ``.n3``, ``.rdf``, ``.owl``, ``.xml``, each optionally ``.gz``).
N-Triples goes through a hand-written line parser (:mod:`._ntriples`) with rdflib as the fallback for
lines it does not handle; other formats are parsed by rdflib.

Mapping (the same for files, SPARQL and ``.kg``):

* Only triples reachable from a linked item's IRI within ``hops`` are kept: hop 1 are the triples whose
  subject is a linked item; hop 2 those whose subject is an object reached at hop 1, and so on.
* A predicate in :data:`persona.kgstore.schema.PREDICATES` becomes its relationship type towards its
  target label (``dbo:director`` → ``DIRECTED_BY`` → ``Person``). Any other IRI-valued predicate becomes
  ``RELATED_TO {predicate: IRI}`` towards an ``Entity`` node and is counted in
  ``stats["unknown_predicates"]`` ({IRI: triples}); literal-valued ones are counted in
  ``stats["unknown_literal_predicates"]`` and skipped (known predicates with a literal object are
  counted in ``stats["literal_objects_skipped"]``).
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
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from os import PathLike
from pathlib import Path

import pandas as pd
import rdflib
from persona.kgstore.frames import GraphFrames
from persona.kgstore.schema import ENTITY_LABELS, PREDICATES
from rdflib.exceptions import ParserError

from ._io import iter_line_blocks, read_bytes
from ._ntriples import Triple, match_line, parse_slow
from ._text import iri_name
from .errors import InputError, RecordPolicy, show

RDFS_LABEL = "http://www.w3.org/2000/01/rdf-schema#label"

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
                policy.bad(
                    InputError(
                        path,
                        n,
                        'an N-Triples statement (<subject> <predicate> <object> or "literal" .)',
                        f"{show(stripped)} ({str(e).splitlines()[0][:120]})",
                    ),
                    line,
                )
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


def parse_with_rdflib(path: Path, fmt: str, index: TripleIndex, keep: set[str] | None) -> None:
    """Add the statements of a Turtle / RDF/XML / N3 file (whole-file rdflib parse)."""
    data = read_bytes(path)
    g = rdflib.Graph()
    try:
        g.parse(data=data, format=fmt)
    except Exception as e:  # noqa: BLE001 - rdflib raises BadSyntax, SAXParseException, ParserError, ValueError…
        line = _error_line(e)
        why = getattr(e, "_why", None) or (
            e.getMessage() if hasattr(e, "getMessage") else str(e).splitlines()[0]
        )
        raise InputError(path, line, f"valid {_FORMAT_NAMES[fmt]}", f"a syntax error: {why}") from None
    for s, p, o in g:
        index.read += 1
        if not isinstance(s, rdflib.URIRef) or not isinstance(p, rdflib.URIRef):
            index.blank += 1
            continue
        if isinstance(o, rdflib.URIRef):
            index.add(str(s), str(p), str(o), False, None, keep)
        elif isinstance(o, rdflib.Literal):
            index.add(str(s), str(p), str(o), True, o.language.lower() if o.language else None, keep)
        else:
            index.blank += 1


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
    index = TripleIndex()
    keep = set(links.values()) if hops <= 1 else None
    for p in paths:
        path = Path(p)
        fmt = rdf_format(path)
        if fmt == "nt":
            parse_ntriples(path, index, keep, policy)
        else:
            parse_with_rdflib(path, fmt, index, keep)
    return index


def index_triples(triples: Iterable[Triple]) -> TripleIndex:
    """A :class:`TripleIndex` from already parsed triples (SPARQL answers, ``.kg`` rows)."""
    index = TripleIndex()
    for t in triples:
        index.read += 1
        index.add(t.s, t.p, t.o, t.literal, t.lang, None)
    return index


def frames_from_index(index: TripleIndex, links: Mapping[str, str], hops: int = 1) -> GraphFrames:
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
        raise ValueError(f"hops must be at least 1, got {hops}")
    items_of: dict[str, list[str]] = defaultdict(list)
    for item, iri in links.items():
        items_of[iri].append(str(item))

    unknown: Counter[str] = Counter()
    unknown_lit: Counter[str] = Counter()
    lit_known: Counter[str] = Counter()
    edges: list[tuple[str, str, str, str, str]] = []  # (subject, predicate, object, rel type, target label)
    votes: dict[str, Counter[str]] = defaultdict(Counter)
    visited = set(items_of)
    frontier = sorted(items_of)
    for _hop in range(hops):
        nxt: list[str] = []
        for s in frontier:
            for p, o, literal in index.by_subject.get(s, ()):
                rule = PREDICATES.get(p)
                if literal:
                    (lit_known if rule else unknown_lit)[p] += 1
                    continue
                if rule is None:
                    unknown[p] += 1
                    rel, target = "RELATED_TO", "Entity"
                else:
                    rel, target = rule.rel_type, rule.target
                edges.append((s, p, o, rel, target))
                if o not in items_of:
                    votes[o][target] += 1
                if o not in visited:
                    visited.add(o)
                    nxt.append(o)
        frontier = nxt

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
    for s, p, o, rel, _target in edges:
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
    hops: int = 1,
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
        skip_invalid: Skip malformed N-Triples lines (logged to ``rejects``) instead of raising.
            Turtle and RDF/XML syntax errors always raise: those files cannot be parsed in part.
        rejects: JSON-lines file for skipped lines.

    Returns:
        Entity nodes and edges; ``stats`` keys listed in :func:`frames_from_index`, plus ``skipped``.

    Raises:
        InputError: missing or empty file, unknown extension, truncated gzip, non-UTF-8 text, a syntax
            error (with its line when the parser reports one).

    Example:
        >>> gf = read_rdf("movies.nt.gz", {"2": "http://dbpedia.org/resource/GoldenEye"})  # doctest: +SKIP
    """
    if isinstance(paths, (str, PathLike)):
        paths = [paths]
    policy = RecordPolicy(skip_invalid, rejects)
    index = index_files(paths, links, hops, policy)
    gf = frames_from_index(index, links, hops)
    policy.finish(gf.stats)
    return gf
