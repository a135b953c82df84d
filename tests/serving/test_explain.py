"""Explanations are right, not just present: on a graph whose answer is known, on both stores."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from persona.explain import NO_PATH, explain, label_attention, load_index, reasons
from persona.kgstore import GraphFrames


def known_graph() -> GraphFrames:
    """Eight films, all Drama; a rare director shared by i1 and i5; i2 bought with i6; i3/i4 and i7/i8
    share a series and a person of equal rarity (attention decides)."""
    g = GraphFrames()
    items = [f"i{k}" for k in range(1, 9)]
    g.add_nodes("User", pd.DataFrame({"id": ["u1", "u2", "u3"], "persona_attention": [
        json.dumps({"U-I-Series-I-U": 0.8, "U-I-Person-I-U": 0.1, "U-I-U": 0.1}), None, None]}))
    g.add_nodes("Item", pd.DataFrame({"id": items, "title": [f"Film {k}" for k in range(1, 9)], "domain": "movie"}))
    g.add_nodes("Genre", pd.DataFrame({"id": ["g:drama"], "name": ["Drama"]}))
    g.add_nodes("Person", pd.DataFrame({"id": ["p:rare", "p:two"], "name": ["Rare Director", "Two Films"]}))
    g.add_nodes("Series", pd.DataFrame({"id": ["s:saga"], "name": ["The Saga"]}))
    rated = [("u1", "i1", 0, "train"), ("u1", "i2", 1, "train"), ("u1", "i3", 2, "train"), ("u2", "i5", 0, "train"),
             ("u2", "i6", 1, "train"), ("u3", "i5", 0, "train")]
    g.add_rels("RATED", "User", "Item", pd.DataFrame(
        [{"src": u, "dst": i, "pos": p, "split": s, "rating": 4.0, "ts": 100 + p} for u, i, p, s in rated]))
    g.add_rels("HAS_GENRE", "Item", "Genre", pd.DataFrame({"src": items, "dst": "g:drama"}))
    g.add_rels("DIRECTED_BY", "Item", "Person", pd.DataFrame({"src": ["i1", "i5", "i3", "i4"], "dst": ["p:rare", "p:rare", "p:two", "p:two"]}))
    g.add_rels("IN_SERIES", "Item", "Series", pd.DataFrame({"src": ["i3", "i4"], "dst": ["s:saga", "s:saga"]}))
    g.add_rels("ALSO_BUY", "Item", "Item", pd.DataFrame({"src": ["i2"], "dst": ["i6"]}))
    g.add_rels("SIMILAR", "User", "User", pd.DataFrame({"src": ["u1", "u1"], "dst": ["u2", "u3"], "score": [0.9, 0.8],
                                                       "rank": [1, 2], "run": "r"}))
    return g


@pytest.fixture
def index(store):
    store.load(known_graph())
    return load_index(store)


def _pairs(*items: str) -> pd.DataFrame:
    return pd.DataFrame({"user": "u1", "item": list(items)})


def test_a_rare_shared_director_beats_a_genre_everyone_has(index):
    paths = explain(index, _pairs("i5"))[("u1", "i5")]
    top = paths[0]
    assert top.kind == "entity" and top.rels == ["DIRECTED_BY", "DIRECTED_BY"]
    assert [n[1] for n in top.nodes] == ["i1", "p:rare", "i5"]
    assert top.text == "directed by Rare Director, like “Film 1”"
    assert all(p.nodes[1][1] != "g:drama" for p in paths if p.kind == "entity")  # Drama has idf 0: no reason


def test_item_item_edges_and_similar_users(index):
    p6 = explain(index, _pairs("i6"))[("u1", "i6")]
    kinds = [p.kind for p in p6]
    assert kinds[0] == "item" and p6[0].rels == ["ALSO_BUY"] and p6[0].nodes[0][1] == "i2"
    assert "users" in kinds  # u2, one of u1's two similar users, consumed i6
    users = next(p for p in p6 if p.kind == "users")
    assert users.text == "1 of your 2 most similar users consumed it"
    p5 = explain(index, _pairs("i5"))[("u1", "i5")]
    assert next(p for p in p5 if p.kind == "users").extra["similar_users"] == 2


def test_persona_attention_decides_between_equally_specific_entities(index):
    # i4 shares both p:two and s:saga with u1's i3 (each on two items): u1's persona attends to series
    top = explain(index, _pairs("i4"))[("u1", "i4")][0]
    assert top.nodes[1][1] == "s:saga"
    flipped = explain(index, _pairs("i4"), attention={"u1": {"U-I-Person-I-U": 0.9}})[("u1", "i4")][0]
    assert flipped.nodes[1][1] == "p:two"
    assert label_attention({"U-I-Series-I-U": 0.8, "U-I-Series": 0.1}, "Series") == pytest.approx(0.9)


def test_no_path_is_said_explicitly_and_reasons_are_compact(index):
    paths = explain(index, _pairs("i7", "i5"))
    assert paths[("u1", "i7")] == []
    r = reasons(paths).set_index("item")
    assert r.loc["i7", "reason"] == NO_PATH and r.loc["i7", "why"] == "[]"
    why = json.loads(r.loc["i5", "why"])
    assert why[0][0] == "entity" and why[0][2:] == ["i1", "DIRECTED_BY", "p:rare"]
    assert r.loc["i5", "reason"] == "directed by Rare Director, like “Film 1”"
    assert len(r.loc["i5", "why"]) < 120


def test_an_anonymous_session_is_explained_from_its_items(index):
    paths = explain(index, pd.DataFrame({"user": "s", "item": ["i5", "i6"]}), histories={"s": ["i1"]},
                    similar={"s": []}, attention={})
    assert paths[("s", "i5")][0].nodes[1][1] == "p:rare"
    assert paths[("s", "i6")] == []


def test_bad_ids_are_clear(index):
    from persona.errors import ConfigError, NotFoundError

    with pytest.raises(NotFoundError, match="unknown item 'nope'"):
        explain(index, _pairs("nope"))
    with pytest.raises(NotFoundError, match="unknown user 'ghost'"):
        explain(index, pd.DataFrame({"user": ["ghost"], "item": ["i1"]}))
    with pytest.raises(ConfigError, match="at least 1"):
        explain(index, _pairs("i5"), k=0)


def test_explaining_in_chunks_gives_the_same_reasons(index, monkeypatch):
    """The write-back explains every list a few thousand pairs at a time to bound memory: chunk borders
    (one inside a user's list) change nothing, paths or reasons."""
    import persona.explain as E

    pairs = pd.DataFrame({"user": ["u1"] * 4 + ["u2", "u2", "u3"], "item": ["i5", "i6", "i4", "i7", "i1", "i3", "i6"]})
    whole = explain(index, pairs)
    expected = reasons(whole)
    monkeypatch.setattr(E, "PAIR_CHUNK", 3)
    assert {key: [p.as_dict() for p in ps] for key, ps in explain(index, pairs).items()} == \
        {key: [p.as_dict() for p in ps] for key, ps in whole.items()}
    seen: list[tuple[str, int, int]] = []
    got = E.explain_reasons(index, pairs, progress=lambda *a: seen.append(a))
    pd.testing.assert_frame_equal(got, expected)
    assert seen == [("explanations", 3, 7), ("explanations", 6, 7), ("explanations", 7, 7)]
    assert (got["reason"] != NO_PATH).sum() >= 4  # the fixture's paths are there, not only empty lists
    assert E.explain_reasons(index, pairs.iloc[:0]).columns.tolist() == ["user", "item", "reason", "why"]


def test_similar_users_who_consumed_the_item_counted_per_pair_as_by_definition() -> None:
    """The "k of your 10 most similar users consumed it" counts look each pair's similar users up among the
    consumed (user, item) codes; they equal the definition Σ_v similar[u, v] · [history[v, item] > 0]."""
    from scipy import sparse

    from persona.explain import GraphIndex, _similar_consumed

    rng = np.random.default_rng(0)
    n_users, n_items = 60, 25
    history = sparse.random(n_users, n_items, density=0.2, format="csr", random_state=1, data_rvs=lambda n: rng.integers(1, 9, n).astype(float))
    history.data[::7] = 0.0  # stored zeros are not consumption
    similar = sparse.random(n_users, n_users, density=0.15, format="csr", random_state=2, data_rvs=np.ones)
    rows = rng.integers(0, n_users, 300)
    items = rng.integers(0, n_items, 300)
    index = GraphIndex(items=[], item_index={}, titles={}, entities=[], entity_names=[], item_entity=sparse.csr_matrix((0, 0)),
                       rel_types=[], item_item=sparse.csr_matrix((0, 0)), item_rel_types=[], idf=np.zeros(0), history=history)
    count, total = _similar_consumed(similar, rows, items, index.consumed, n_items)
    dense_h, dense_s = history.toarray() > 0, similar.toarray()
    assert count.tolist() == [int(dense_s[u] @ dense_h[:, i]) for u, i in zip(rows, items)]
    assert total.tolist() == [int(dense_s[u].sum()) for u in rows]
    assert count.max() > 0 and (count < total).any()
