"""The heterogeneous knowledge-graph schema shared by both backends.

The schema is a whitelist: every label and relationship type that reaches a Cypher string comes from
here, never from input. Values always travel as ``$parameters``.

Design choices (documented in the README):

* Items carry one label, ``Item``, with a ``domain`` property (``movie``, ``book``, ``product``,
  ``magazine``…). One label keeps every query, the PyG export and the embedded store's fixed schema the
  same across datasets; the domain is data, not schema.
* DBpedia objects are typed by the predicate that reaches them (``dbo:director`` → ``Person``), through
  :data:`PREDICATES`. A predicate not in the table is kept as ``RELATED_TO {predicate}`` towards an
  ``Entity`` node, and reported, never silently dropped.
"""

from __future__ import annotations

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
    "RELATED_TO": RelType("RELATED_TO", {"predicate": "STRING"}, "A DBpedia predicate not in the table."),
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
    """Add a predicate rule (from configuration). Names are validated against the whitelist rules."""
    check_name(rel_type)
    check_no_label_clash(rel_type)
    if target not in NODE_TYPES:
        raise ValueError(f"unknown node label {target!r} for predicate {iri}; expected one of {sorted(NODE_TYPES)}")
    PREDICATES[iri] = PredicateRule(rel_type, target)
    REL_TYPES.setdefault(rel_type, RelType(rel_type, {}, "DBpedia predicate (configured)"))


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
