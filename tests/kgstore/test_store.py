"""Store behaviour that both backends must share (run on LadybugDB and on a real Neo4j server)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from persona.kgstore import GraphFrames, StoreError, queries

EVIL = "x'}) DETACH DELETE n //"


def small_graph() -> GraphFrames:
    g = GraphFrames()
    g.add_nodes("User", pd.DataFrame({"id": ["u1", "u2", EVIL], "age": [20, None, 33]}))
    g.add_nodes("Item", pd.DataFrame({"id": ["i1", "i2", "i3"], "title": ["Alpha", "Beta", None], "domain": "movie"}))
    g.add_nodes("Person", pd.DataFrame({"id": ["http://dbpedia.org/resource/Mel_Brooks"], "name": ["Mel Brooks"]}))
    g.add_rels(
        "RATED",
        "User",
        "Item",
        pd.DataFrame(
            {
                "src": ["u1", "u1", "u1", "u2", EVIL],
                "dst": ["i1", "i2", "i3", "i1", "i2"],
                "rating": [5.0, 4.0, 3.0, 2.0, 1.0],
                "ts": [10, 20, 30, 5, 7],
                "pos": [0, 1, 2, 0, 0],
                "split": ["train", "valid", "test", "train", "train"],
            }
        ),
    )
    g.add_rels("DIRECTED_BY", "Item", "Person", pd.DataFrame({"src": ["i1", "i2"], "dst": ["http://dbpedia.org/resource/Mel_Brooks"] * 2}))
    g.add_rels("ALSO_BUY", "Item", "Item", pd.DataFrame({"src": ["i1"], "dst": ["i2"]}))
    return g


EXPECTED = {
    "nodes": {"Item": 3, "Person": 1, "User": 3},
    "rels": {"ALSO_BUY": 1, "DIRECTED_BY": 2, "RATED": 5},
}


def test_load_counts_and_idempotent(store):
    written = store.load(small_graph())
    assert written["RATED"] == 5 and written["User"] == 3
    assert store.counts() == EXPECTED
    again = store.load(small_graph())
    assert again.get("RATED", 0) == 0 and again.get("User", 0) == 0
    assert store.counts() == EXPECTED


def test_resume_after_partial_load(store):
    g = small_graph()
    partial = GraphFrames(nodes=dict(g.nodes), rels=[g.rels[0]])
    store.load(partial)
    assert store.counts()["rels"] == {"RATED": 5}
    store.load(g)  # the re-run completes what was missing
    assert store.counts() == EXPECTED


def test_injection_ids_are_plain_strings(store):
    store.load(small_graph())
    rows = store.run("MATCH (u:User {id: $id})-[r:RATED]->(i:Item) RETURN u.id AS u, i.id AS i", {"id": EVIL})
    assert rows == [{"u": EVIL, "i": "i2"}]
    assert store.counts()["nodes"]["Item"] == 3


def test_properties_roundtrip_and_update(store):
    store.load(small_graph())
    rows = store.run("MATCH (i:Item) RETURN i.id AS id, i.title AS title ORDER BY id")
    assert [r["title"] for r in rows] == ["Alpha", "Beta", None]
    g = GraphFrames()
    g.add_nodes("Item", pd.DataFrame({"id": ["i3", "i1"], "title": ["Gamma", None]}))
    store.load(g)  # a null does not wipe an existing value, a new value is set
    rows = store.run("MATCH (i:Item) RETURN i.id AS id, i.title AS title ORDER BY id")
    assert [r["title"] for r in rows] == ["Alpha", "Beta", "Gamma"]
    r = store.run("MATCH (:User {id: 'u1'})-[r:RATED]->(:Item {id: 'i2'}) RETURN r.split AS s, r.pos AS p, r.ts AS t")
    assert r == [{"s": "valid", "p": 1, "t": 20}]


def test_read_only_is_enforced_by_the_database(store):
    store.load(small_graph())
    with pytest.raises(StoreError):
        store.run("CREATE (:User {id: 'sneaky'})")
    # a write hidden behind a comment or odd spacing is refused too: no text inspection involved
    with pytest.raises(StoreError):
        store.run("MATCH (u:User {id: 'u1'})\n  // just reading\n  SET u.age = 99 RETURN u.id")
    assert store.run("MATCH (u:User {id: 'u1'}) RETURN u.age AS a") == [{"a": 20}]
    store.run("MATCH (u:User {id: 'u1'}) SET u.age = 21", write=True)
    assert store.run("MATCH (u:User {id: 'u1'}) RETURN u.age AS a") == [{"a": 21}]


def test_frame_and_training_export_excludes_held_out(store):
    store.load(small_graph())
    df = store.frame(
        "MATCH (u:User)-[r:RATED]->(i:Item) WHERE r.split = $split RETURN u.id AS user, i.id AS item ORDER BY user, item",
        {"split": "train"},
    )
    assert list(zip(df["user"], df["item"])) == [("u1", "i1"), ("u2", "i1"), (EVIL, "i2")]


def test_vectors_and_search(store):
    store.load(small_graph())
    vecs = pd.DataFrame({"id": ["u1", "u2", EVIL], "persona": [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.7, 0.7, 0.0]]})
    assert store.set_node_properties("User", vecs) == 3
    store.create_vector_index("User", "persona", 3)
    hits = store.vector_search("User", "persona", np.array([1.0, 0.1, 0.0]), k=2)
    assert [h[0] for h in hits] == ["u1", EVIL]
    assert hits[0][1] == pytest.approx(0.995, abs=1e-3)
    back = store.run("MATCH (u:User {id: 'u2'}) RETURN u.persona AS p")[0]["p"]
    assert np.allclose(back, [0.0, 1.0, 0.0])


def test_many_vectors_written_in_batches(store):
    # more rows than one checkpointed batch of list values (LIST_SET_ROWS) on the embedded store
    from persona.kgstore.embedded import LIST_SET_ROWS

    n = 2 * LIST_SET_ROWS + 7
    g = GraphFrames()
    g.add_nodes("Person", pd.DataFrame({"id": [f"p{i}" for i in range(n)], "name": [f"P {i}" for i in range(n)]}))
    store.load(g)
    vecs = np.arange(n * 4, dtype=np.float32).reshape(n, 4)
    df = pd.DataFrame({"id": [f"p{i}" for i in range(n)], "text_emb": [v.tolist() for v in vecs], "emb_model": "m"})
    assert store.set_node_properties("Person", df) == n
    back = store.frame("MATCH (p:Person) RETURN p.id AS id, p.text_emb AS v, p.emb_model AS m")
    got = {i: np.asarray(v, dtype=np.float32) for i, v in zip(back["id"], back["v"])}
    assert len(got) == n and set(back["m"]) == {"m"}
    for i in (0, LIST_SET_ROWS - 1, LIST_SET_ROWS, n - 1):
        np.testing.assert_array_equal(got[f"p{i}"], vecs[i])


def test_delete_rels_by_property(store):
    store.load(small_graph())
    g = GraphFrames()
    g.add_rels("RECOMMENDED", "User", "Item", pd.DataFrame({"src": ["u1", "u2"], "dst": ["i2", "i3"], "rank": [1, 1], "score": [0.5, 0.4], "run": ["a", "b"]}))
    store.load(g)
    assert store.delete_rels("RECOMMENDED", prop="run", value="a") == 1
    assert store.counts()["rels"]["RECOMMENDED"] == 1


def test_missing_endpoint_is_a_clear_error(store):
    store.load(small_graph())
    g = GraphFrames()
    g.add_rels("ALSO_VIEW", "Item", "Item", pd.DataFrame({"src": ["i1"], "dst": ["nope"]}))
    with pytest.raises(StoreError, match="nope"):
        store.load(g)


@pytest.mark.parametrize("name", queries.names())
def test_every_named_query_parses(store, name):
    """Each cypher/*.cypher file compiles on this backend (run on an empty-ish graph with null params)."""
    store.load(small_graph())
    text = queries.load(name, store.backend)
    params = {p: None for p in _params(text)}
    params.update({k: v for k, v in _SAMPLE_PARAMS.items() if k in params})
    is_write = any(w in text.upper() for w in ("SET ", "CREATE ", "MERGE ", "DELETE "))
    store.run(text, params, write=is_write)


_SAMPLE_PARAMS = {"split": "train", "user": "u1", "item": "i1", "k": 5, "limit": 5, "ids": ["u1"], "vector": [1.0, 0.0, 0.0], "run": "r", "type": "RATED"}


def _params(text: str) -> set[str]:
    import re

    return set(re.findall(r"\$([A-Za-z_][A-Za-z0-9_]*)", text))


def test_related_to_keeps_each_predicate(store):
    store.load(small_graph())
    g = GraphFrames()
    g.add_nodes("Entity", pd.DataFrame({"id": ["http://e/x"], "name": ["x"]}))
    g.add_rels("RELATED_TO", "Item", "Entity", pd.DataFrame({"src": ["i1", "i1"], "dst": ["http://e/x"] * 2, "predicate": ["http://p/a", "http://p/b"]}))
    store.load(g)
    store.load(g)
    assert store.counts()["rels"]["RELATED_TO"] == 2


def _examples() -> list:
    from pathlib import Path

    folder = Path(__file__).resolve().parents[2] / "cypher" / "examples"
    return sorted(folder.glob("*.cypher"))


@pytest.mark.parametrize("path", _examples(), ids=lambda p: p.name)
def test_readme_cypher_examples_run(store, path):
    """The Cypher examples of the README run on the backends they are written for."""
    from persona.errors import NotFoundError
    from persona.kgstore import queries

    parts = path.name.split(".")
    if len(parts) == 3 and parts[1] != store.backend:
        # Written for the other backend: this backend serves its own variant of the example (run by its
        # own case) or, when there is none, `persona cypher --example` says so instead of running the
        # other backend's text.
        variants = queries.examples()[parts[0]]
        if store.backend in variants:
            assert variants[store.backend] != path.name
            assert queries.example(parts[0], store.backend) != path.read_text(encoding="utf-8")
        else:
            with pytest.raises(NotFoundError, match=f"exists only for {parts[1]}"):
                queries.example(parts[0], store.backend)
        return
    g = small_graph()
    g.add_nodes("Genre", pd.DataFrame({"id": ["g1"], "name": ["Comedy"]}))
    g.add_rels("HAS_GENRE", "Item", "Genre", pd.DataFrame({"src": ["i1", "i2"], "dst": ["g1", "g1"]}))
    g.add_rels("AUTHOR", "Item", "Person", pd.DataFrame({"src": ["i3"], "dst": ["http://dbpedia.org/resource/Mel_Brooks"]}))
    g.add_rels("RECOMMENDED", "User", "Item", pd.DataFrame({"src": ["u1"], "dst": ["i2"], "rank": [1], "score": [0.9], "run": ["r"],
                                                          "reason": ["in the genre Comedy, like “Alpha”"], "why": ["[]"]}))
    g.add_rels("SIMILAR", "User", "User", pd.DataFrame({"src": ["u1"], "dst": ["u2"], "score": [0.8], "rank": [1], "run": ["r"]}))
    store.load(g)
    store.set_node_properties("User", pd.DataFrame({"id": ["u1", "u2"], "persona": [[1.0] * 64, [0.5] * 64]}))
    store.set_node_properties("Item", pd.DataFrame({"id": ["i1", "i2"], "text_emb": [[1.0] * 8, [0.5] * 8]}))
    store.create_vector_index("User", "persona", 64)
    store.create_vector_index("Item", "text_emb", 8)
    text = "\n".join(l for l in path.read_text().splitlines() if not l.strip().startswith("//")).strip().rstrip(";")
    rows = store.run(text, {"user": "u1", "item": "i1"})
    assert rows, f"{path.name} returned no rows on the fixture graph"


def test_idle_block_keeps_the_store_usable_after(store):
    store.load(small_graph())
    with store.idle():
        pass
    assert store.counts() == EXPECTED
    store.set_node_properties("Item", pd.DataFrame({"id": ["i1"], "title": ["Alpha II"]}))
    assert store.run("MATCH (i:Item {id: 'i1'}) RETURN i.title AS t") == [{"t": "Alpha II"}]
