"""Sources → :class:`persona.kgstore.GraphFrames`, parsed completely before anything is written.

Readers (each returns one complete ``GraphFrames``; nothing touches a store):

* :func:`read_movielens` — GroupLens ML-100K folder (+ optional ``.link`` and DBpedia RDF).
* :func:`read_amazon` — Amazon Review Data 2018 reviews + metadata JSON lines.
* :func:`read_atomic` — RecBole atomic files (``.inter``, ``.item``, ``.user``, ``.kg``, ``.link``).
* :func:`read_rdf` — N-Triples / Turtle / RDF/XML knowledge about linked items.
* :func:`fetch_dbpedia` — the same knowledge from a SPARQL endpoint, cached on disk.
* :func:`generate_demo` — a synthetic shop with planted personas (ground truth for evaluation).

Every reader orders each user's interactions chronologically and splits them leave-one-out
(:func:`assign_split`), optionally after a k-core (:func:`k_core`). Bad input raises
:class:`InputError` naming the file, the line and what was expected; ``skip_invalid=True`` skips bad
records instead, counts them in ``stats["skipped"]`` and logs them to a ``rejects`` JSON-lines file.
"""

from .amazon import read_amazon
from .atomic import read_atomic, relation_iri
from .demo import generate_demo
from .errors import FetchError, InputError
from .movielens import read_movielens
from .rdf import read_rdf
from .sequences import assign_split, k_core
from .sparql import fetch_dbpedia, fetch_triples

__all__ = [
    "FetchError",
    "InputError",
    "assign_split",
    "fetch_dbpedia",
    "fetch_triples",
    "generate_demo",
    "k_core",
    "read_amazon",
    "read_atomic",
    "read_movielens",
    "read_rdf",
    "relation_iri",
]
