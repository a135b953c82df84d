"""The PyG export reads the same graph from LadybugDB and from Neo4j (``store`` runs both backends)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
import torch

from persona.kgstore import GraphFrames, queries
from persona.learn.export import (
    _split_by,
    build_hetero,
    embeddings_from_column,
    export_graph,
    hetero_from_frames,
)


def frames() -> GraphFrames:
    g = GraphFrames()
    g.add_nodes("User", pd.DataFrame({"id": ["u2", "u1"]}))
    g.add_nodes("Item", pd.DataFrame({"id": ["i1", "i2", "i3"], "title": ["Alpha", "Beta", "Gamma"]}))
    g.add_nodes("Person", pd.DataFrame({"id": ["p1"], "name": ["Mel Brooks"]}))
    g.add_nodes("Genre", pd.DataFrame({"id": ["g1", "g2"], "name": ["Comedy", "Western"]}))
    g.add_nodes("Award", pd.DataFrame({"id": ["a1"], "name": ["Oscar"]}))
    g.add_rels(
        "RATED",
        "User",
        "Item",
        pd.DataFrame(
            {
                "src": ["u1", "u1", "u1", "u2", "u2"],
                "dst": ["i1", "i2", "i3", "i2", "i3"],
                "rating": [5.0, 4.0, 3.0, 2.0, 1.0],
                "ts": [1, 2, 3, 1, 2],
                "pos": [0, 1, 2, 0, 1],
                "split": ["train", "valid", "test", "train", "train"],
            }
        ),
    )
    g.add_rels("DIRECTED_BY", "Item", "Person", pd.DataFrame({"src": ["i1", "i2"], "dst": ["p1", "p1"]}))
    g.add_rels(
        "HAS_GENRE", "Item", "Genre", pd.DataFrame({"src": ["i1", "i3", "i3"], "dst": ["g1", "g1", "g2"]})
    )
    g.add_rels("ALSO_BUY", "Item", "Item", pd.DataFrame({"src": ["i1"], "dst": ["i3"]}))
    g.add_rels(
        "WON_AWARD", "Person", "Award", pd.DataFrame({"src": ["p1"], "dst": ["a1"]})
    )  # a 2-hop entity edge
    return g


def edges(data, et) -> set[tuple[str, str]]:
    s, _, d = et
    ei = data[et].edge_index
    return {(data[s].node_ids[a], data[d].node_ids[b]) for a, b in ei.t().tolist()}


def check(data, maps) -> None:
    assert data["User"].node_ids == ["u1", "u2"] and data["Item"].node_ids == ["i1", "i2", "i3"]
    assert list(maps.to_index("Item", ["i3", "nope"])) == [2, -1]
    assert maps.to_ids("Genre", [1, 0]) == ["g2", "g1"]
    # only training interactions: u1's i2 (valid) and i3 (test) never reach learning
    assert edges(data, ("User", "RATED", "Item")) == {("u1", "i1"), ("u2", "i2"), ("u2", "i3")}
    assert edges(data, ("Item", "rev_RATED", "User")) == {("i1", "u1"), ("i2", "u2"), ("i3", "u2")}
    assert edges(data, ("Item", "DIRECTED_BY", "Person")) == {("i1", "p1"), ("i2", "p1")}
    assert edges(data, ("Item", "HAS_GENRE", "Genre")) == {("i1", "g1"), ("i3", "g1"), ("i3", "g2")}
    assert edges(data, ("Genre", "rev_HAS_GENRE", "Item")) == {("g1", "i1"), ("g1", "i3"), ("g2", "i3")}
    assert edges(data, ("Item", "ALSO_BUY", "Item")) == {("i1", "i3")}
    assert edges(data, ("Item", "rev_ALSO_BUY", "Item")) == {("i3", "i1")}
    assert edges(data, ("Person", "WON_AWARD", "Award")) == {("p1", "a1")}
    pos = dict(
        zip(
            [tuple(e) for e in data["User", "RATED", "Item"].edge_index.t().tolist()],
            data["User", "RATED", "Item"].pos.tolist(),
        )
    )
    assert pos[(1, 2)] == 1  # u2 → i3 is u2's second interaction


def test_export_from_store(store) -> None:
    store.load(frames())
    # text embeddings as written back by the text step: items fully, genres partly
    store.set_node_properties(
        "Item", pd.DataFrame({"id": ["i1", "i2", "i3"], "text_emb": [[1.0, 0.0], [0.0, 1.0], [0.5, 0.5]]})
    )
    store.set_node_properties("Genre", pd.DataFrame({"id": ["g2"], "text_emb": [[0.25, 0.75]]}))
    data, maps = export_graph(store)
    check(data, maps)
    torch.testing.assert_close(data["Item"].x, torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.5, 0.5]]))
    torch.testing.assert_close(data["Genre"].x, torch.tensor([[0.0, 0.0], [0.25, 0.75]]))
    assert data["Genre"].x_missing == 1
    assert data["Person"].get("x") is None
    assert data.stats == {"users": 2, "items": 3, "entities": 4, "rated_train": 3, "kg_edges": 7}



def test_entity_features_of_every_label_follow_their_ids(store) -> None:
    """Entity vectors are read as one matrix for all labels and gathered per label in id order: each
    row of ``data[label].x`` is the vector stored on that row's node."""
    store.load(frames())
    vec = {"g2": [0.2, 0.8], "g1": [0.1, 0.9], "p1": [0.3, 0.7], "a1": [0.4, 0.6]}
    for label, ids in (("Genre", ["g2", "g1"]), ("Person", ["p1"]), ("Award", ["a1"])):
        store.set_node_properties(label, pd.DataFrame({"id": ids, "text_emb": [vec[i] for i in ids]}))
    data, _ = export_graph(store)
    for label in ("Genre", "Person", "Award"):
        want = torch.tensor([vec[i] for i in data[label].node_ids])
        torch.testing.assert_close(data[label].x, want)
        assert data[label].x_missing == 0

def test_export_adds_metapath_edges(store) -> None:
    store.load(frames())
    data, _ = export_graph(store, metapaths=["U-I-U", "U-I-Genre"], max_sample=None, hub_quantile=1.0)
    e = data["User", "U-I-U", "User"]
    assert e.edge_index.tolist() == [[], []]  # u1 and u2 share no training item
    g = data["Genre", "U-I-Genre", "User"]
    assert sorted(zip(g.edge_index.t().tolist(), g.edge_weight.tolist())) == [
        ([0, 0], 1.0),
        ([0, 1], 1.0),
        ([1, 1], 1.0),
    ]


def test_frames_give_the_same_graph_without_a_store() -> None:
    data, maps = hetero_from_frames(frames())
    check(data, maps)


def test_export_queries_exist_for_both_backends() -> None:
    for name in [n for n in queries.names() if n.startswith("export_")]:
        for backend in ("embedded", "neo4j"):
            text = queries.load(name, backend)
            assert text.lstrip().startswith(("MATCH", "//")) and "RETURN" in text, name


def test_embedding_column_forms() -> None:
    x, mask = embeddings_from_column(pd.Series([[1.0, 2.0], None, np.array([3.0, 4.0])]))
    np.testing.assert_array_equal(x, [[1, 2], [0, 0], [3, 4]])
    assert mask.tolist() == [True, False, True]
    assert embeddings_from_column(pd.Series([None, None]))[0] is None
    with pytest.raises(ValueError, match="differ in length"):
        embeddings_from_column(pd.Series([[1.0], [1.0, 2.0]]))


def test_embedding_column_arrow_fast_path_and_nulls() -> None:
    full = pa.array([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]], type=pa.list_(pa.float32()))
    x, mask = embeddings_from_column(full.slice(1))  # a sliced array: offsets do not start at 0
    np.testing.assert_array_equal(x, [[3, 4], [5, 6]])
    assert mask.all()
    with_null = pa.array([[1.0, 2.0], None, [5.0, 6.0]], type=pa.list_(pa.float32()))
    x, mask = embeddings_from_column(with_null)
    np.testing.assert_array_equal(x, [[1, 2], [0, 0], [5, 6]])
    assert mask.tolist() == [True, False, True]


def test_split_by_groups_rows_by_key() -> None:
    tbl = pa.table({"a": ["x", "y", "x", "y", "x"], "b": ["1", "1", "2", "1", "1"], "v": [0, 1, 2, 3, 4]})
    groups = _split_by(tbl, ["a", "b"])
    assert [(k, rows.tolist()) for k, rows in groups] == [
        (("x", "1"), [0, 4]),
        (("x", "2"), [2]),
        (("y", "1"), [1, 3]),
    ]
    assert _split_by(tbl.slice(0, 0), ["a"]) == []


def test_duplicate_ids_are_refused() -> None:
    with pytest.raises(ValueError, match="node id 'a' appears twice"):
        build_hetero({"User": pd.DataFrame({"id": ["a", "a"]})}, [])
