"""Neo4j-only behaviour of :class:`~persona.kgstore.neo4j.Neo4jStore`, on a real server (``NEO4J_URI``).

The behaviour both backends share lives in ``test_store.py``; this file covers what only the Neo4j
backend has: server-side constraints and indexes, vector-index replacement, error messages of the
driver layer, batch boundaries and type coercion of the column parameters.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator

import numpy as np
import pandas as pd
import pytest
from persona.kgstore import NODE_TYPES, GraphFrames, GraphStore, StoreError, open_store
from persona.kgstore.frames import RelFrame

pytestmark = pytest.mark.neo4j


@pytest.fixture
def neo() -> Iterator[GraphStore]:
    uri = os.environ.get("NEO4J_URI")
    if not uri:
        pytest.skip("NEO4J_URI is not set; start a server with `scripts/neo4j.sh start` and export NEO4J_URI")
    s = open_store(uri)
    s.clear()
    s.init_schema()
    yield s
    s.clear()
    s.close()


def _chain(n_users: int, n_items: int) -> GraphFrames:
    g = GraphFrames()
    g.add_nodes("User", pd.DataFrame({"id": [f"u{i}" for i in range(n_users)]}))
    g.add_nodes("Item", pd.DataFrame({"id": [f"i{i}" for i in range(n_items)], "domain": "book"}))
    src = [f"u{i % n_users}" for i in range(n_items)]
    dst = [f"i{i}" for i in range(n_items)]
    g.add_rels(
        "RATED", "User", "Item", pd.DataFrame({"src": src, "dst": dst, "rating": 3.0, "split": "train"})
    )
    return g


def test_constraints_and_indexes_exist(neo):
    rows = neo.run(
        "SHOW CONSTRAINTS YIELD labelsOrTypes, properties, type RETURN labelsOrTypes[0] AS l, properties AS p, type AS t"
    )
    unique = {r["l"] for r in rows if r["p"] == ["id"] and r["t"] == "UNIQUENESS"}
    assert set(NODE_TYPES) <= unique
    idx = neo.run(
        "SHOW INDEXES YIELD labelsOrTypes, properties, entityType RETURN labelsOrTypes[0] AS l, properties[0] AS p, entityType AS e"
    )
    assert {"l": "RATED", "p": "split", "e": "RELATIONSHIP"} in idx
    assert {"l": "RECOMMENDED", "p": "run", "e": "RELATIONSHIP"} in idx
    neo.init_schema()  # idempotent
    assert len(neo.run("SHOW CONSTRAINTS YIELD name RETURN name")) == len(rows)


def test_duplicate_id_is_refused_by_the_constraint(neo):
    neo.load(_chain(1, 1))
    with pytest.raises(StoreError, match="already exists"):
        neo.run("CREATE (:User {id: 'u0'})", write=True)


def test_small_batches_progress_and_written_counts(neo):
    g = _chain(3, 7)
    seen: list[tuple[str, int, int]] = []
    written = neo.load(g, batch_size=2, progress=lambda d, done, total: seen.append((d, done, total)))
    assert written == {"User": 3, "Item": 7, "RATED": 7}
    assert neo.counts() == {"nodes": {"Item": 7, "User": 3}, "rels": {"RATED": 7}}
    # one call per batch: ceil(3/2) + ceil(7/2) + ceil(7/2) = 2 + 4 + 4
    assert len(seen) == 10
    assert [s[1] for s in seen] == sorted(s[1] for s in seen) and seen[-1][1:] == (17, 17)
    assert seen[0][0] == "nodes User" and seen[-1][0] == "rels RATED (User->Item)"
    # change one rating and one title: exactly those rows count as written, nothing is duplicated
    upd = GraphFrames()
    upd.add_nodes("Item", pd.DataFrame({"id": ["i3", "i4"], "title": ["New", None]}))
    upd.add_rels(
        "RATED",
        "User",
        "Item",
        pd.DataFrame({"src": ["u0", "u1"], "dst": ["i0", "i1"], "rating": [5.0, 3.0]}),
    )
    assert neo.load(upd, batch_size=2) == {"Item": 1, "RATED": 1}
    assert neo.run(
        "MATCH (:User {id:'u0'})-[r:RATED]->(:Item {id:'i0'}) RETURN r.rating AS r, r.split AS s"
    ) == [{"r": 5.0, "s": "train"}]
    assert neo.counts()["rels"] == {"RATED": 7}


def test_later_loads_add_only_what_is_missing(neo):
    neo.load(_chain(2, 4))  # RATED u0->i0, u1->i1, u0->i2, u1->i3 (first load: plain CREATE path)
    more = pd.DataFrame({"src": ["u0", "u0", "u1"], "dst": ["i0", "i1", "i0"], "rating": [3.0, 4.0, 1.0]})
    # u0->i0 is unchanged; u0->i1 and u1->i0 are new (existence-check path)
    assert neo.load(GraphFrames(rels=[RelFrame("RATED", "User", "Item", more)])) == {"RATED": 2}
    assert neo.counts()["rels"] == {"RATED": 6}
    # a frame built by hand may repeat a pair: the first row wins, nothing is duplicated
    dup = pd.DataFrame({"src": ["i0", "i0"], "dst": ["i1", "i1"]})
    assert neo.load(GraphFrames(rels=[RelFrame("ALSO_VIEW", "Item", "Item", dup)])) == {"ALSO_VIEW": 1}
    assert neo.counts()["rels"] == {"ALSO_VIEW": 1, "RATED": 6}


def test_missing_endpoint_rolls_back_its_batch(neo):
    neo.load(_chain(2, 4))
    bad = pd.DataFrame({"src": ["i0", "i1", "i2", "i3"], "dst": ["i1", "i2", "ghost", "i0"]})
    g = GraphFrames(rels=[RelFrame("ALSO_BUY", "Item", "Item", bad)])
    with pytest.raises(
        StoreError, match=r"rows 2\.\.3: 1 rows .*1 dst ids have no Item node \(e\.g\. \['ghost'\]\)"
    ):
        neo.load(g, batch_size=2)
    # the first batch committed; the failing one rolled back whole (i3 -> i0 is not there)
    got = neo.run("MATCH (a)-[:ALSO_BUY]->(b) RETURN a.id AS a, b.id AS b ORDER BY a")
    assert got == [{"a": "i0", "b": "i1"}, {"a": "i1", "b": "i2"}]


def test_values_are_coerced_to_schema_types(neo):
    g = GraphFrames()
    # a nullable integer column arrives as float64 with NaN; the store must write integers
    g.add_nodes("User", pd.DataFrame({"id": [1, 2], "age": [30.0, np.nan], "gender": ["F", None]}))
    g.add_nodes(
        "Item", pd.DataFrame({"id": ["a"], "year": [np.int64(1999)], "categories": [np.array(["x", "y"])]})
    )
    neo.load(g)
    rows = neo.run(
        "MATCH (u:User) RETURN u.id AS id, u.age AS age, valueType(u.age) AS t, u.gender AS g ORDER BY id"
    )
    assert rows == [
        {"id": "1", "age": 30, "t": "INTEGER NOT NULL", "g": "F"},
        {"id": "2", "age": None, "t": "NULL", "g": None},
    ]
    item = neo.run("MATCH (i:Item) RETURN i.year AS y, i.categories AS c")[0]
    assert item == {"y": 1999, "c": ["x", "y"]}
    bad = GraphFrames()
    bad.add_nodes("User", pd.DataFrame({"id": ["3"], "age": [30.5]}))
    with pytest.raises(StoreError, match=r"User\.age: row 0: expected INT64, got 30\.5"):
        neo.load(bad)


def test_set_node_properties_null_removes_and_unknown_ids_are_skipped(neo):
    neo.load(_chain(2, 2))
    df = pd.DataFrame({"id": ["u0", "u1", "nobody"], "persona": [np.ones(4, np.float32), None, [0.0] * 4]})
    assert neo.set_node_properties("User", df) == 2
    got = neo.run("MATCH (u:User) RETURN u.id AS id, u.persona AS p ORDER BY id")
    assert got == [{"id": "u0", "p": [1.0, 1.0, 1.0, 1.0]}, {"id": "u1", "p": None}]
    assert neo.set_node_properties("User", pd.DataFrame({"id": ["u1"], "persona": [[2.0, 0, 0, 0]]})) == 1
    assert neo.set_node_properties("User", pd.DataFrame({"id": ["u1"], "persona": [None]})) == 1
    assert neo.run("MATCH (u:User {id:'u1'}) RETURN u.persona AS p") == [{"p": None}]
    with pytest.raises(StoreError, match="not a schema property"):
        neo.set_node_properties("User", pd.DataFrame({"id": ["u0"], "bogus": [1]}))
    with pytest.raises(ValueError, match="unknown node label"):
        neo.set_node_properties("User`) DETACH DELETE (n", pd.DataFrame({"id": ["u0"], "age": [1]}))


def test_vector_index_is_replaced_when_the_dimension_changes(neo):
    neo.load(_chain(3, 1))
    emb = {"u0": [1.0, 0.0, 0.0], "u1": [0.0, 1.0, 0.0], "u2": [-1.0, 0.0, 0.0]}
    neo.set_node_properties("User", pd.DataFrame({"id": list(emb), "persona": list(emb.values())}))
    name = neo.create_vector_index("User", "persona", 3)
    assert neo.create_vector_index("User", "persona", 3) == name  # idempotent
    hits = neo.vector_search("User", "persona", [1.0, 1.0, 0.0], k=3)
    # cosine itself (Neo4j's score (1 + cos) / 2 is converted back)
    assert [h[0] for h in hits[:2]] == sorted(["u0", "u1"]) and hits[2][0] == "u2"
    assert [round(h[1], 4) for h in hits] == [0.7071, 0.7071, -0.7071]
    with pytest.raises(StoreError, match="query vector has 2 dimensions; the index on User.persona has 3"):
        neo.vector_search("User", "persona", [1.0, 0.0], k=1)
    neo.set_node_properties(
        "User", pd.DataFrame({"id": ["u0", "u1"], "persona": [[0.0, 0.0, 0.0, 1.0], [0.0, 0.0, 1.0, 0.0]]})
    )
    neo.create_vector_index("User", "persona", 4)
    cfg = neo.run(
        "SHOW VECTOR INDEXES YIELD name, options WHERE name = $n RETURN options.indexConfig AS c", {"n": name}
    )
    assert cfg[0]["c"]["vector.dimensions"] == 4
    assert (
        cfg[0]["c"]["vector.quantization.enabled"] is False
    )  # exact cosine scores, as in the embedded store
    assert [h[0] for h in neo.vector_search("User", "persona", np.array([0.0, 0.0, 0.1, 1.0]), k=1)] == ["u0"]
    with pytest.raises(StoreError, match="not a FLOAT"):
        neo.create_vector_index("User", "gender", 4)


def test_vector_search_without_index_is_a_clear_error(neo):
    neo.run("DROP INDEX item_text_emb_vector IF EXISTS", write=True)
    with pytest.raises(StoreError, match="no vector index on Item.text_emb"):
        neo.vector_search("Item", "text_emb", [1.0], k=1)


@pytest.mark.slow
def test_deletes_and_clear_loop_past_one_batch(neo):
    n = 105  # 105 * 104 ALSO_VIEW pairs > the 10,000-row delete batch
    g = GraphFrames()
    ids = [f"i{i}" for i in range(n)]
    g.add_nodes("Item", pd.DataFrame({"id": ids}))
    pairs = pd.DataFrame([(a, b) for a in ids for b in ids if a != b], columns=["src", "dst"])
    g.add_rels("ALSO_VIEW", "Item", "Item", pairs)
    assert neo.load(g, batch_size=10_000)["ALSO_VIEW"] == n * (n - 1)
    assert neo.delete_rels("ALSO_VIEW") == n * (n - 1)
    assert neo.counts() == {"nodes": {"Item": n}, "rels": {}}
    neo.clear()
    assert neo.counts() == {"nodes": {}, "rels": {}}


def test_read_only_refusal_names_the_remedy(neo):
    with pytest.raises(StoreError, match="run it with write=True"):
        neo.run("MERGE (:Genre {id: 'g'})")
    assert neo.counts()["nodes"] == {}


def test_unreachable_server_and_bad_password_messages():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        free_port = s.getsockname()[1]
    with pytest.raises(StoreError, match=rf"bolt://127\.0\.0\.1:{free_port}.*scripts/neo4j\.sh start"):
        open_store(f"bolt://127.0.0.1:{free_port}")
    uri = os.environ.get("NEO4J_URI")
    if not uri:
        pytest.skip("NEO4J_URI is not set")
    with pytest.raises(StoreError) as err:
        open_store(uri, password="definitely-not-it")
    assert "refused the credentials" in str(err.value) and "definitely-not-it" not in str(err.value)


@pytest.mark.parametrize("name", ["export_kg_edges", "export_rated_train", "export_items", "export_entities",
                                  "export_users", "rec_interactions", "export_item_text"])
def test_columnar_fetch_equals_record_per_row(neo: GraphStore, name: str) -> None:
    """arrow_named's one-record-of-lists answer holds the same rows as the driver's record-per-row path,
    nulls included (a column with nulls is fetched as one-element rows, since collect() drops nulls)."""
    from persona.kgstore import queries
    from persona.kgstore.neo4j import _to_df, columnar_query

    from .test_store import small_graph

    g = small_graph()
    g.add_nodes("Genre", pd.DataFrame({"id": ["g1", "g2"], "name": ["Comedy", None]}))
    g.add_rels("HAS_GENRE", "Item", "Genre", pd.DataFrame({"src": ["i1", "i2", "i3"], "dst": ["g1", "g1", "g2"]}))
    neo.load(g)
    neo.set_node_properties("Item", pd.DataFrame({"id": ["i1"], "text_emb": [[0.5, 0.25]]}))  # others stay null
    cypher = queries.load(name, "neo4j")
    got = neo.frame_named(name)
    ref = neo._read(cypher, _to_df, cypher, {})  # type: ignore[attr-defined]
    assert list(got.columns) == list(ref.columns) and len(got) == len(ref) > 0
    key = list(ref.columns)

    def cell(v: object) -> str:
        if v is None or (isinstance(v, float) and np.isnan(v)):
            return "∅"
        return str(v.tolist() if hasattr(v, "tolist") else v)

    def canon(df: pd.DataFrame) -> list[tuple]:
        return sorted(tuple(cell(v) for v in row) for row in df[key].itertuples(index=False))

    assert canon(got) == canon(ref)
    assert "collect(" in columnar_query(cypher, key) and columnar_query(cypher, key).count("RETURN") == 1
