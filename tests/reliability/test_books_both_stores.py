"""Amazon-KG Books + DBpedia books, the paper's dataset family, loads into both stores alike.

It used to stop the embedded store with "Cannot bind Language as a relationship pattern label": the
relationship type LANGUAGE and the label Language share LadybugDB's case-insensitive table namespace.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from persona.ingest import read_atomic
from persona.kgstore.schema import NODE_TYPES, REL_TYPES, check_no_label_clash, register_predicate

pytestmark = [pytest.mark.realdata, pytest.mark.slow]


def test_books_with_dbpedia_load_identically(store, datasets: Path):
    d = datasets / "amazon-kg"
    frames = read_atomic(d / "Amazon-KG-5core-Books", rdf=(d / "dbpedia-books.nt.gz",))
    store.load(frames)
    counts = store.counts()
    assert counts["rels"]["IN_LANGUAGE"] == 444
    assert counts["nodes"]["Language"] == 35
    assert counts["rels"]["RATED"] == 115_572
    stored = {**counts["nodes"], **counts["rels"]}
    assert stored == {k: v for k, v in frames.counts().items() if v}  # every parsed row, on either backend
    assert not any(store.load(frames).values())  # and a second load writes nothing


def test_no_relationship_type_spells_a_label():
    labels = {lab.lower() for lab in NODE_TYPES}
    assert not [t for t in REL_TYPES if t.lower() in labels]
    with pytest.raises(ValueError, match="spells the node label 'Person'"):
        check_no_label_clash("PERSON")
    with pytest.raises(ValueError, match="spells the node label"):
        register_predicate("http://example.org/series", "SERIES", "Series")
