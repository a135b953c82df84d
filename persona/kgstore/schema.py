"""The heterogeneous knowledge-graph schema shared by both backends.

The schema is a whitelist: every label and relationship type that reaches a Cypher string comes from
here, never from input. Values always travel as ``$parameters``.

Design choices (documented in the README):

* Items carry one label, ``Item``, with a ``domain`` property (``movie``, ``book``, ``product``,
  ``magazine``…). One label keeps every query, the PyG export and the embedded store's fixed schema the
  same across datasets; the domain is data, not schema.
* DBpedia objects are typed by the predicate that reaches them (``dbo:director`` → ``Person``), through
  :data:`PREDICATES`. Any other predicate (Freebase ``film.film.directed_by`` in a RecBole ``.kg`` file,
  an RDF IRI) gets a relationship type and a target label derived from its name by
  :func:`derive_predicate_rules` (rule in its docstring), so each predicate stays its own relation; the
  mapping is reported by the readers and overridable with ``[ingest.predicates]``.

Why one long module: the whitelist of labels, relationship types and predicate rules is one table; the
derivation of types for predicates outside it must see the whole table to avoid collisions.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

#: Property types, in a backend-neutral spelling. ``FLOAT[]`` is a list of floats (embeddings).
PropType = str  # "STRING" | "INT64" | "DOUBLE" | "FLOAT[]" | "STRING[]"


@dataclass(frozen=True)
class NodeType:
    """A node label with its typed properties; ``id`` (STRING) is the primary key of every label."""

    label: str
    props: dict[str, PropType] = field(default_factory=dict)
    description: str = ""


@dataclass(frozen=True)
class RelType:
    """A relationship type with its typed properties and the (source, target) label pairs it joins."""

    type: str
    props: dict[str, PropType] = field(default_factory=dict)
    description: str = ""


# Properties that write-back adds (embeddings, personas) are declared up front so that the embedded
# store's fixed schema can hold them; unset they are NULL.
_EMB = {"text_emb": "FLOAT[]", "emb_model": "STRING"}
_ENTITY_PROPS = {"name": "STRING", "iri": "STRING", **_EMB}

ENTITY_LABELS: tuple[str, ...] = (
    "Person",
    "Genre",
    "Subject",
    "Award",
    "Series",
    "LiteraryGenre",
    "Company",
    "Place",
    "Language",
    "MediaType",
    "Work",
    "OpeningTheme",
    "Brand",
    "Category",
    "Entity",
)

NODE_TYPES: dict[str, NodeType] = {
    "User": NodeType(
        "User",
        {
            "age": "INT64",
            "gender": "STRING",
            "occupation": "STRING",
            # ground truth of `persona ingest demo` only; never an input of any model
            "planted_taste": "INT64",
            "persona": "FLOAT[]",
            "persona_attention": "STRING",  # JSON {meta-path: weight}
            "persona_run": "STRING",
            "persona_model": "STRING",
            "llm_summary": "STRING",
            "llm_summary_source": "STRING",  # "llm:<model>" or "extractive"
        },
        "A user (reviewer, rater). Personas are written back here.",
    ),
    "Item": NodeType(
        "Item",
        {
            "title": "STRING",
            "description": "STRING",
            "generated_description": "STRING",
            "domain": "STRING",
            "year": "INT64",
            "iri": "STRING",
            "categories": "STRING[]",
            "planted_taste": "INT64",
            **_EMB,
        },
        "A recommendable item; `domain` says movie, book, product…",
    ),
    **{lab: NodeType(lab, dict(_ENTITY_PROPS), f"{lab} (attribute or DBpedia entity)") for lab in ENTITY_LABELS},
    "Store": NodeType(
        "Store",
        {"created_at": "STRING"},
        "The store's own identity (one node, `id` a UUID set at schema creation): runs and model artefacts "
        "are keyed by it, so a model never answers for another store.",
    ),
    "Run": NodeType(
        "Run",
        {
            "kind": "STRING",  # "train" (personas + recommender + write-back) or "personas"
            "created_at": "STRING",  # ISO 8601, UTC
            "store_id": "STRING",
            "settings": "STRING",  # JSON
            "settings_digest": "STRING",
            "metrics": "STRING",  # JSON
            "artefacts": "STRING",  # folder of the run's model files, relative to the workdir
            "persona_run": "STRING",
        },
        "A training run recorded in the graph it trained on; everything it writes names its id.",
    ),
}

#: Labels that are bookkeeping, not knowledge: never exported to the models, not in ``counts()``.
META_LABELS: tuple[str, ...] = ("Store", "Run")


def new_identity() -> dict[str, str]:
    """Parameters of a new ``Store`` node: a random UUID and the creation time (UTC, ISO 8601)."""
    import datetime
    import uuid

    return {"id": str(uuid.uuid4()), "t": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")}

REL_TYPES: dict[str, RelType] = {
    "RATED": RelType(
        "RATED",
        {"rating": "DOUBLE", "ts": "INT64", "pos": "INT64", "split": "STRING"},
        "User interacted with item; `pos` is the chronological position, `split` train/valid/test.",
    ),
    "RECOMMENDED": RelType(
        "RECOMMENDED",
        {"rank": "INT64", "score": "DOUBLE", "run": "STRING", "reason": "STRING", "why": "STRING"},
        "A run's list: `reason` one sentence, `why` the top scored graph paths as JSON (persona/explain.py).",
    ),
    "SIMILAR": RelType(
        "SIMILAR",
        {"score": "DOUBLE", "rank": "INT64", "run": "STRING"},
        "User-User by persona cosine, Item-Item by the retriever's item vectors: each node's top-K of a run.",
    ),
    "HELD_OUT": RelType(
        "HELD_OUT",
        {"run": "STRING", "retriever_rank": "INT64", "final_rank": "INT64", "candidates": "INT64"},
        "The user's held-out test item and the 1-based rank the run gave it at evaluation time (full ranking).",
    ),
    "ALSO_BUY": RelType("ALSO_BUY"),
    "ALSO_VIEW": RelType("ALSO_VIEW"),
    "HAS_BRAND": RelType("HAS_BRAND"),
    "IN_CATEGORY": RelType("IN_CATEGORY"),
    "HAS_GENRE": RelType("HAS_GENRE"),
    "RELATED_TO": RelType(
        "RELATED_TO",
        {"predicate": "STRING"},
        "A predicate whose name gives no relationship type (no letter or digit in it): kept as a property.",
    ),
}


#: Relationship properties that are part of a relationship's identity besides (type, src, dst): two
#: RELATED_TO edges between the same nodes with different predicates are two relationships.
REL_KEYS: dict[str, tuple[str, ...]] = {"RELATED_TO": ("predicate",)}


def rel_key(type: str) -> list[str]:
    """Columns that identify one relationship of ``type``: src, dst and any key properties."""
    return ["src", "dst", *REL_KEYS.get(type, ())]


@dataclass(frozen=True)
class PredicateRule:
    """Where one RDF predicate goes: relationship type and the label of its object node."""

    rel_type: str
    target: str


_DBO = "http://dbpedia.org/ontology/"
_DCT = "http://purl.org/dc/terms/"

#: Predicate IRI → (relationship type, object label). Extend with :func:`register_predicate` or the
#: ``[ingest.predicates]`` table of the config file.
PREDICATES: dict[str, PredicateRule] = {
    _DBO + "director": PredicateRule("DIRECTED_BY", "Person"),
    _DBO + "starring": PredicateRule("STARRING", "Person"),
    _DBO + "writer": PredicateRule("WRITTEN_BY", "Person"),
    _DBO + "producer": PredicateRule("PRODUCED_BY", "Person"),
    _DBO + "musicComposer": PredicateRule("MUSIC_BY", "Person"),
    _DBO + "cinematography": PredicateRule("CINEMATOGRAPHY_BY", "Person"),
    _DBO + "editing": PredicateRule("EDITED_BY", "Person"),
    _DBO + "distributor": PredicateRule("DISTRIBUTED_BY", "Company"),
    _DBO + "author": PredicateRule("AUTHOR", "Person"),
    _DBO + "literaryGenre": PredicateRule("LITERARY_GENRE", "LiteraryGenre"),
    _DBO + "publisher": PredicateRule("PUBLISHED_BY", "Company"),
    _DBO + "series": PredicateRule("IN_SERIES", "Series"),
    _DBO + "previousWork": PredicateRule("PREVIOUS_WORK", "Work"),
    _DBO + "subsequentWork": PredicateRule("SUBSEQUENT_WORK", "Work"),
    _DBO + "country": PredicateRule("COUNTRY", "Place"),
    # not LANGUAGE: LadybugDB's table names are case-insensitive, so a type may not spell a label
    _DBO + "language": PredicateRule("IN_LANGUAGE", "Language"),
    _DBO + "coverArtist": PredicateRule("COVER_ARTIST", "Person"),
    _DBO + "mediaType": PredicateRule("MEDIA_TYPE", "MediaType"),
    _DBO + "genre": PredicateRule("HAS_GENRE", "Genre"),
    _DBO + "award": PredicateRule("WON_AWARD", "Award"),
    _DBO + "notableWork": PredicateRule("NOTABLE_WORK", "Work"),
    _DBO + "openingTheme": PredicateRule("OPENING_THEME", "OpeningTheme"),
    _DCT + "subject": PredicateRule("HAS_SUBJECT", "Subject"),
}

#: The table as shipped, before configuration extends or overrides it (for :func:`predicate_source`).
_SHIPPED_PREDICATES: dict[str, PredicateRule] = dict(PREDICATES)


def check_no_label_clash(rel_type: str) -> str:
    """Refuse a relationship type that spells a node label up to case (``LANGUAGE`` vs ``Language``).

    The embedded store keeps node and relationship tables in one case-insensitive namespace, so such a
    type cannot be created there; refusing it everywhere keeps the two backends' schemas the same.
    """
    clash = [lab for lab in NODE_TYPES if lab.lower() == rel_type.lower()]
    if clash:
        raise ValueError(
            f"relationship type {rel_type!r} spells the node label {clash[0]!r}; choose another name "
            f"(e.g. 'IN_{rel_type.upper()}' or 'HAS_{rel_type.upper()}')"
        )
    return rel_type


for _rule in PREDICATES.values():
    REL_TYPES.setdefault(_rule.rel_type, RelType(_rule.rel_type, {}, "DBpedia predicate"))
for _type in REL_TYPES:
    check_no_label_clash(_type)


def register_predicate(iri: str, rel_type: str, target: str) -> None:
    """Add a predicate rule (from configuration). Names are validated against the whitelist rules.

    ``iri`` is the predicate as the data writes it after expansion: a full IRI, or a RecBole ``.kg``
    relation id that is not one (``film.film.actor``). A configured rule takes precedence over a derived
    one (:func:`derive_predicate_rules` is not consulted for it).
    """
    check_name(rel_type)
    check_no_label_clash(rel_type)
    if target not in NODE_TYPES:
        raise ValueError(f"unknown node label {target!r} for predicate {iri}; expected one of {sorted(NODE_TYPES)}")
    PREDICATES[iri] = PredicateRule(rel_type, target)
    DERIVED_PREDICATES.pop(iri, None)
    REL_TYPES.setdefault(rel_type, RelType(rel_type, {}, "DBpedia predicate (configured)"))
    _DERIVED_TYPES.discard(rel_type)  # configured: reserved from now on


def check_name(name: str) -> str:
    """Accept only ``[A-Z][A-Z0-9_]*``-style identifiers for labels and types that enter Cypher text."""
    if not name or not (name[0].isalpha() and all(c.isalnum() or c == "_" for c in name)):
        raise ValueError(f"invalid label or relationship type name: {name!r}")
    return name


def node_label(label: str) -> str:
    """Return ``label`` if it is in the schema, else raise (the whitelist for Cypher text)."""
    if label not in NODE_TYPES:
        raise ValueError(f"unknown node label {label!r}; expected one of {sorted(NODE_TYPES)}")
    return label


def rel_type(name: str) -> str:
    """Return ``name`` if it is a known relationship type, else raise (the whitelist for Cypher text)."""
    if name not in REL_TYPES:
        raise ValueError(f"unknown relationship type {name!r}; expected one of {sorted(REL_TYPES)}")
    return name


# ---------------------------------------------------------------- predicates outside the table

#: Rules derived for predicates outside :data:`PREDICATES` (by :func:`derive_predicate_rules`), kept apart
#: from the table so that ``persona enrich dbpedia`` never asks DBpedia for them.
DERIVED_PREDICATES: dict[str, PredicateRule] = {}
#: Relationship types made by derivation or adopted from a store. They do not reserve their name: the
#: derivation of a predicate must not depend on what this process derived before (a predicate deriving
#: a name another predicate derived earlier shares that type, as it would in a fresh process).
_DERIVED_TYPES: set[str] = set()


def _reserved(name: str) -> bool:
    return name in REL_TYPES and name not in _DERIVED_TYPES

#: A word of a predicate's property name → the label of its objects (:func:`derive_target`). Plurals
#: (``companies``, ``films``) match their singular.
TARGET_WORDS: dict[str, str] = {
    **dict.fromkeys(
        (
            "actor", "actress", "starring", "cast", "director", "directed", "writer", "written", "author",
            "producer", "produced", "composer", "composed", "music", "editor", "edited", "cinematographer",
            "cinematography", "creator", "created", "artist", "performer", "narrator", "illustrator",
            "designer", "person", "people",
        ),
        "Person",
    ),
    "genre": "Genre",
    "subject": "Subject",
    "topic": "Subject",
    "award": "Award",
    "prize": "Award",
    "series": "Series",
    "franchise": "Series",
    **dict.fromkeys(
        ("company", "studio", "distributor", "distributed", "publisher", "published", "organization",
         "network", "manufacturer"),
        "Company",
    ),
    **dict.fromkeys(("country", "nationality", "place", "location", "city", "region"), "Place"),
    "language": "Language",
    **dict.fromkeys(("film", "movie", "work", "book", "prequel", "sequel", "episode"), "Work"),
    "brand": "Brand",
    "category": "Category",
}
_PREPOSITIONS = frozenset({"by", "in", "of", "for", "from", "with", "to", "on", "at", "as"})
_WORD_SPLIT = re.compile(r"[^A-Za-z0-9]+|(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")


def _words(text: str) -> list[str]:
    """``directed_by`` → [directed, by]; ``musicComposer`` → [music, composer] (lower case)."""
    return [w.lower() for w in _WORD_SPLIT.split(text) if w]


#: Words of a namespace IRI that say nothing about it (``http://dbpedia.org/property/`` → ``dbpedia``).
_NS_NOISE = frozenset({"http", "https", "www", "org", "com", "net", "ns", "ontology", "property", "prop",
                       "direct", "terms", "resource", "schema", "vocab"})  # fmt: skip


def _local_name(predicate: str) -> tuple[str, str | None]:
    """(local name, namespace word): ``http://dbpedia.org/property/director`` → (director, dbpedia); a
    ``.kg`` relation id that is not an IRI (``film.film.actor``) is its own local name, without namespace;
    ``fb:film.film.actor`` has the namespace word ``fb``."""
    body = predicate.strip().rstrip("/#")
    cut = max(body.rfind("/"), body.rfind("#"))
    if cut < 0:
        cut = body.rfind(":")
    head, local = (body[:cut], body[cut + 1 :]) if cut >= 0 else ("", body)
    words = [w for w in _words(head) if w not in _NS_NOISE]
    if not words and head:
        words = [w for w in _words(head) if w not in ("http", "https", "www", "org", "com", "net")]
    return local, (words[-1] if words else None)


def _segments(predicate: str) -> tuple[list[str], str | None]:
    """Dotted segments of the local name, a segment repeated next to itself dropped (``film.film``)."""
    local, ns = _local_name(predicate)
    segs: list[str] = []
    for seg in local.split("."):
        if _words(seg) and (not segs or _words(segs[-1]) != _words(seg)):
            segs.append(seg)
    return segs, ns


def _type_name(parts: list[str]) -> str:
    name = "_".join(w.upper() for part in parts for w in _words(part))
    if name and name[0].isdigit():
        name = "P_" + name
    if any(lab.lower() == name.lower() for lab in NODE_TYPES):
        name = "HAS_" + name
    return name


def rel_type_candidates(predicate: str) -> list[str]:
    """Relationship type names for a predicate outside the table, most preferred first.

    The first is the last two dotted segments of the local name in upper snake case: Freebase's
    ``domain.type.property`` gives ``TYPE_PROPERTY`` (``film.film.directed_by`` → ``FILM_DIRECTED_BY``,
    a segment repeated next to itself counted once; ``film.director.film`` → ``DIRECTOR_FILM``), an IRI
    its local name (``http://schema.org/director`` → ``DIRECTOR``, ``…/musicComposer`` →
    ``MUSIC_COMPOSER``). Further candidates add one more leading segment each, then the IRI's namespace
    word (``SCHEMA_DIRECTOR``). A name starting with a digit gets ``P_``; one that spells a node label
    gets ``HAS_`` (``genre`` → ``HAS_GENRE``). Empty when the name has no letter or digit.
    """
    segs, ns = _segments(predicate)
    out: list[str] = []
    for k in range(min(2, len(segs)), len(segs) + 1):
        out.append(_type_name(segs[-k:]))
    if ns is not None and segs:
        out.append(_type_name([ns, *segs]))
    return [n for i, n in enumerate(out) if n and n not in out[:i]]


def derive_target(predicate: str) -> str:
    """The label of a derived predicate's objects, from the words of its property (last dotted segment).

    The head word decides: the word before the first preposition (``films_in_this_genre`` → ``films``,
    ``directed_by`` → ``directed``), else the last word (``production_companies`` → ``companies``). If
    :data:`TARGET_WORDS` does not know it, the words before it are tried from right to left
    (``award_nomination`` → ``award``). Failing that, a property ending in ``_by`` names a ``Person``
    (``costume_design_by``), and anything else is an ``Entity``.
    """
    segs, _ = _segments(predicate)
    words = _words(segs[-1]) if segs else []
    cut = next((i for i, w in enumerate(words) if w in _PREPOSITIONS and i > 0), len(words))
    for w in reversed(words[:cut]):
        for form in (w, w[:-1] if w.endswith("s") else "", w[:-3] + "y" if w.endswith("ies") else "",
                     w[:-2] if w.endswith("es") else ""):  # fmt: skip
            if form in TARGET_WORDS:
                return TARGET_WORDS[form]
    if words and words[-1] == "by":
        return "Person"
    return "Entity"


def derive_predicate_rules(predicates: Iterable[str]) -> dict[str, PredicateRule]:
    """Rules for predicates outside :data:`PREDICATES`, registered as relationship types.

    Each predicate keeps its own type (:func:`rel_type_candidates`) towards the label of
    :func:`derive_target`. Collisions are resolved deterministically: a name of the table or the core
    schema (the table's ``DIRECTED_BY``, ``RATED``, a configured type) is never reused — a type derived
    earlier, in this process or another, is not reserved, so the answer is the same in every process —
    and when several predicates of one call want the same name, all of
    them move on to their next candidate, so the result does not depend on the order of ``predicates``;
    predicates that run out of candidates are numbered in sorted order (``DIRECTOR_2``). Two predicates
    share a type only when :data:`PREDICATES` (the table or ``[ingest.predicates]``) says so. A
    predicate whose name has no letter or digit gets ``RELATED_TO`` (the predicate kept as a property).

    Returns:
        {predicate: rule} for every predicate given that is not in the table (earlier derivations are
        returned as they were).
    """
    out: dict[str, PredicateRule] = {}
    pending: list[str] = []
    for p in sorted(set(predicates)):
        if p in PREDICATES:
            continue
        if p in DERIVED_PREDICATES:
            out[p] = DERIVED_PREDICATES[p]
            continue
        pending.append(p)
    cands = {p: rel_type_candidates(p) for p in pending}
    for p in [p for p in pending if not cands[p]]:
        out[p] = PredicateRule("RELATED_TO", "Entity")
        DERIVED_PREDICATES[p] = out[p]
    pending = [p for p in pending if cands[p]]
    level = dict.fromkeys(pending, 0)

    used: set[str] = set()  # names given to other predicates of this call

    def taken(name: str) -> bool:
        return _reserved(name) or name in used

    def assign(p: str, name: str) -> None:
        used.add(name)
        out[p] = DERIVED_PREDICATES[p] = PredicateRule(name, derive_target(p))
        if name not in REL_TYPES:
            REL_TYPES[name] = RelType(name, {}, f"derived from the predicate {p}")
        _DERIVED_TYPES.add(name)

    while pending:
        groups: dict[str, list[str]] = {}
        for p in pending:
            groups.setdefault(cands[p][min(level[p], len(cands[p]) - 1)], []).append(p)
        for name, ps in sorted(groups.items()):
            if len(ps) == 1 and not taken(name):
                assign(ps[0], name)
                continue
            moving = [p for p in ps if level[p] < len(cands[p]) - 1]
            for p in moving:
                level[p] += 1
            if moving:
                continue
            n = 2
            for p in ps:  # every one has run out of names: number them in sorted order
                while taken(f"{name}_{n}"):
                    n += 1
                assign(p, f"{name}_{n}")
        pending = [p for p in pending if p not in out]
    return out


def predicate_rule(predicate: str) -> PredicateRule | None:
    """The rule of a predicate: the table's (or configuration's), else one derived earlier, else None."""
    return PREDICATES.get(predicate) or DERIVED_PREDICATES.get(predicate)


def predicate_source(predicate: str) -> str:
    """Where a predicate's rule comes from: ``table`` (shipped), ``config``, ``derived`` or ``none``."""
    if predicate in PREDICATES:
        return "table" if _SHIPPED_PREDICATES.get(predicate) == PREDICATES[predicate] else "config"
    return "derived" if predicate in DERIVED_PREDICATES else "none"


def adopt_rel_type(name: str) -> str:
    """Accept a relationship type found in a store (derived or configured by an earlier ingest).

    Derived types live in the process that derived them; a later process (training, the explorer) meets
    them in the store. A name that passes the whitelist's rules (:func:`check_name`, upper case, no label
    spelled) is registered without properties; anything else raises.

    Raises:
        ValueError: the name is not ``[A-Z][A-Z0-9_]*`` or spells a node label.
    """
    if name in REL_TYPES:
        return name
    check_name(name)
    if name != name.upper():
        raise ValueError(f"relationship type {name!r} is not in upper case, so no ingest made it")
    check_no_label_clash(name)
    REL_TYPES[name] = RelType(name, {}, "found in the store (a predicate type of an earlier ingest)")
    _DERIVED_TYPES.add(name)
    return name
