"""One meaning of "load" on both stores: a reload updates what changed, everything else stays.

Both backends load a graph, then a corrected and grown version of it, and must end with exactly the
properties a clean load of the second version gives — including every relationship property.
"""

from __future__ import annotations

import pandas as pd

from persona.kgstore import GraphFrames

RATED_COLS = ["src", "dst", "rating", "ts", "pos", "split"]


def _graph(rated: list[tuple], titles: dict[str, str], predicates: list[tuple] = ()) -> GraphFrames:
    g = GraphFrames()
    users = sorted({r[0] for r in rated})
    items = sorted({r[1] for r in rated} | set(titles))
    g.add_nodes("User", pd.DataFrame({"id": users}))
    g.add_nodes("Item", pd.DataFrame({"id": items, "title": [titles.get(i) for i in items], "domain": "movie"}))
    g.add_rels("RATED", "User", "Item", pd.DataFrame(rated, columns=RATED_COLS))
    if predicates:
        g.add_nodes("Entity", pd.DataFrame({"id": sorted({p[1] for p in predicates})}))
        g.add_rels("RELATED_TO", "Item", "Entity", pd.DataFrame(predicates, columns=["src", "dst", "predicate"]))
    return g


FIRST = [
    ("u1", "i1", 3.0, 10, 0, "train"),
    ("u1", "i2", 4.0, 20, 1, "valid"),
    ("u1", "i3", 5.0, 30, 2, "test"),
    ("u2", "i1", 2.0, 5, 0, "train"),
]
# u1's rating of i1 corrected 3 -> 99 (the range check is the parser's job, not the store's), and u1
# gained a fourth interaction: the splits of u1 move (i3 becomes valid, i4 test).
SECOND = [
    ("u1", "i1", 99.0, 10, 0, "train"),
    ("u1", "i2", 4.0, 20, 1, "train"),
    ("u1", "i3", 5.0, 30, 2, "valid"),
    ("u1", "i4", 1.0, 40, 3, "test"),
    ("u2", "i1", 2.0, 5, 0, "train"),
]


def _rated(store) -> list[dict]:
    rows = store.run(
        "MATCH (u:User)-[r:RATED]->(i:Item) RETURN u.id AS src, i.id AS dst, r.rating AS rating, r.ts AS ts, "
        "r.pos AS pos, r.split AS split ORDER BY src, dst"
    )
    return [{k: (float(v) if k == "rating" else v) for k, v in r.items()} for r in rows]


def test_reload_updates_relationship_properties_like_a_clean_load(store):
    store.load(_graph(FIRST, {"i1": "Alpha"}))
    written = store.load(_graph(SECOND, {"i1": "Alpha (corrected)"}))
    # changed: (u1,i1) rating, (u1,i2) split, (u1,i3) split; new: (u1,i4)
    assert written["RATED"] == 4
    expected = [dict(zip(RATED_COLS, r)) for r in sorted(SECOND)]
    assert _rated(store) == expected
    tests = store.run("MATCH (u:User)-[r:RATED]->() WHERE r.split = 'test' RETURN u.id AS u, count(*) AS n ORDER BY u")
    assert tests == [{"u": "u1", "n": 1}]
    assert store.run("MATCH (i:Item {id: 'i1'}) RETURN i.title AS t") == [{"t": "Alpha (corrected)"}]
    # a third identical load changes nothing
    assert store.load(_graph(SECOND, {"i1": "Alpha (corrected)"})).get("RATED", 0) == 0


def test_reload_with_null_keeps_the_stored_value(store):
    store.load(_graph(FIRST, {}))
    partial = GraphFrames()
    partial.add_rels("RATED", "User", "Item", pd.DataFrame({"src": ["u1"], "dst": ["i1"], "rating": [None], "split": ["valid"]}))
    store.load(partial)
    row = store.run("MATCH (:User {id: 'u1'})-[r:RATED]->(:Item {id: 'i1'}) RETURN r.rating AS rating, r.split AS split, r.ts AS ts")
    assert row == [{"rating": 3.0, "split": "valid", "ts": 10}]


def test_keyed_relationships_stay_apart(store):
    preds = [("i1", "e1", "http://x/p"), ("i1", "e1", "http://x/q")]
    store.load(_graph(FIRST, {}, preds))
    store.load(_graph(FIRST, {}, preds))
    rows = store.run("MATCH (:Item)-[r:RELATED_TO]->(:Entity) RETURN r.predicate AS p ORDER BY p")
    assert rows == [{"p": "http://x/p"}, {"p": "http://x/q"}]


def test_grown_file_reingest_keeps_one_test_item_per_user(store):
    """The case from the issue: re-ingesting a grown interaction file must leave every user with one
    ``test`` and one ``valid`` interaction, as a clean ingest does."""
    def rated(n_per_user: int) -> list[tuple]:
        out = []
        for u in range(5):
            for k in range(n_per_user):
                split = "test" if k == n_per_user - 1 else "valid" if k == n_per_user - 2 else "train"
                out.append((f"u{u}", f"i{(u + k) % 9}", 1.0 + k % 5, 100 * k, k, split))
        return out

    store.load(_graph(rated(4), {}))
    store.load(_graph(rated(8), {}))
    per_user = store.run(
        "MATCH (u:User)-[r:RATED]->() WITH u.id AS u, r.split AS s, count(*) AS n WHERE s <> 'train' "
        "RETURN u, s, n ORDER BY u, s"
    )
    assert all(r["n"] == 1 for r in per_user), per_user
    assert len(per_user) == 10
