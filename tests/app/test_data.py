"""ExplorerData and its named queries, on both backends (LadybugDB, and Neo4j when NEO4J_URI is set)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from persona.app import (
    ExplorerData,
    neighbourhood_graph,
    parse_attention,
    session_rows,
    specificity,
    summary_source_label,
)
from persona.kgstore import queries

from .conftest import PERSONAS, TITLES, U1_ATTENTION, U1_HISTORY, U1_RECS, U1_SUMMARY


def _cos(a: list[float], b: list[float]) -> float:
    return float(np.dot(a, b) / np.linalg.norm(a) / np.linalg.norm(b))


def test_every_app_query_has_both_dialects():
    for name in (n for n in queries.names() if n.startswith("app_")):
        for backend in ("embedded", "neo4j"):
            text = "\n".join(ln for ln in queries.load(name, backend).splitlines() if not ln.lstrip().startswith("//"))
            assert "RETURN" in text, (name, backend)
            if backend == "embedded":
                assert "labels(" not in text and "type(" not in text, name
            else:
                assert "label(" not in text.replace("labels(", ""), name


def test_users_profile_and_history(trained):
    data = ExplorerData(trained)
    assert data.overview().users == 5 and data.overview().has_recommendations and data.overview().has_attributes
    assert data.find_users() == ["u1", "u2", "u3", "u4", "u5"]
    assert data.find_users("3") == ["u3"] and data.find_users("", limit=2) == ["u1", "u2"]
    p = data.user("u1")
    assert p is not None
    np.testing.assert_allclose(p.persona, PERSONAS["u1"], rtol=1e-6)
    assert p.attention == U1_ATTENTION and list(p.attention) == ["U-I-Genre-I-U", "U-I-Person-I-U", "U-I-U"]
    assert (p.persona_run, p.persona_model, p.summary, p.summary_source) == ("run-2", "hdgi", U1_SUMMARY, "extractive")
    assert data.user("nobody") is None
    bare = data.user("u5")
    assert bare is not None and bare.persona is None and bare.attention == {} and bare.summary is None
    h = data.history("u1")
    assert h["item"].tolist() == [i for i, _ in U1_HISTORY]
    assert h["split"].tolist() == [s for _, s in U1_HISTORY]
    assert h["title"].tolist() == [TITLES[i] for i, _ in U1_HISTORY]
    assert h["pos"].tolist() == [0, 1, 2, 3, 4, 5]
    assert data.history("nobody").empty


def test_recommendations_by_run_then_rank(trained):
    recs = ExplorerData(trained).recommendations("u1")
    assert recs["run"].tolist() == ["run-1"] * 2 + ["run-2"] * 5
    new = recs[recs["run"] == "run-2"]
    assert new["rank"].tolist() == [1, 2, 3, 4, 5]
    assert new["item"].tolist() == [i for i, _ in U1_RECS]
    assert new["score"].round(6).tolist() == [s for _, s in U1_RECS]
    assert new["title"].tolist() == [TITLES[i] for i, _ in U1_RECS]
    assert ExplorerData(trained).recommendations("u5").empty


def test_similar_users_by_persona(trained):
    data = ExplorerData(trained)
    p = data.user("u1")
    sim = data.similar_users("u1", p.persona, k=3)
    assert sim["user"].tolist() == ["u2", "u3", "u4"]  # u1 itself is left out
    expected = [_cos(PERSONAS["u1"], PERSONAS[u]) for u in ("u2", "u3", "u4")]
    # Neo4j's vector index quantises vectors (5.23+ default), so its cosines are close, not exact
    np.testing.assert_allclose(sim["similarity"], expected, atol=1e-3 if trained.backend == "embedded" else 2e-2)
    assert data.similar_users("u1", p.persona, k=0).empty


def test_attributes_overlap_and_briefs(trained):
    data = ExplorerData(trained)
    edges = data.item_attributes("u1")
    # training items only (i05 valid and i06 test are not reached), attribute nodes only (no ALSO_VIEW item)
    assert set(edges["item"]) == {"i01", "i02", "i03", "i04"}
    got = set(zip(edges["item"], edges["rel"], edges["label"], edges["attr"], edges["name"]))
    assert ("i01", "HAS_GENRE", "Genre", "g:parody", "Parody") in got
    assert ("i03", "DIRECTED_BY", "Person", "p:brooks", "Mel Brooks") in got
    assert len(got) == 4 + 4 + 2  # comedy ×4, Mel Brooks ×4, parody ×2
    ov = data.attribute_overlap(["u2", "u3"], ["g:comedy", "p:brooks", "g:drama"])
    assert sorted(map(tuple, ov[["user", "attr", "n"]].values.tolist())) == [
        ("u2", "g:comedy", 2), ("u2", "p:brooks", 2), ("u3", "g:comedy", 2), ("u3", "p:brooks", 1),
    ]
    briefs = data.user_briefs(["u2", "u4"]).sort_values("user")
    assert briefs["n_train"].tolist() == [2, 1]
    assert briefs["summary_source"].tolist() == ["llm:Qwen/Qwen3-8B", "extractive"]


def test_neighbourhood_by_count(trained):
    data = ExplorerData(trained)
    p = data.user("u1")
    nb = data.neighbourhood("u1", p.persona, k_users=2, n_attributes=2, n_items=3, rank_by="count")
    assert nb.n_train == 4
    # Comedy and Mel Brooks reach all four training items; Parody (two) falls outside the top two
    assert list(zip(nb.attributes["name"], nb.attributes["n_items"], nb.attributes["shared_by"])) == [
        ("Comedy", 4, 2), ("Mel Brooks", 4, 2),
    ]
    # all training items link to both top attributes, so the three most recent are shown, in order
    assert nb.items["item"].tolist() == ["i02", "i03", "i04"]
    assert len(nb.links) == 6
    assert nb.similar["user"].tolist() == ["u2", "u3"]
    assert sorted(map(tuple, nb.overlap[["user", "attr", "n"]].values.tolist())) == [
        ("u2", "g:comedy", 2), ("u2", "p:brooks", 2), ("u3", "g:comedy", 2), ("u3", "p:brooks", 1),
    ]

    none = data.neighbourhood("u5", None)
    assert none.note == "no persona yet (run `persona train`), so no similar users"
    assert none.similar.empty and none.items["item"].tolist() == ["i02", "i04"]


def test_neighbourhood_by_specificity(trained):
    """Comedy reaches 10 of the 12 items: it says little. Mel Brooks (6 items) and Parody (5) say more."""
    data = ExplorerData(trained)
    p = data.user("u1")
    nb = data.neighbourhood("u1", p.persona, k_users=2, n_attributes=2, n_items=3)
    got = list(zip(nb.attributes["name"], nb.attributes["n_items"], nb.attributes["items_with"]))
    assert got == [("Mel Brooks", 4, 6), ("Parody", 2, 5)]
    np.testing.assert_allclose(nb.attributes["specificity"], [np.log(12 / 6) * np.log2(5), np.log(12 / 5) * np.log2(3)])
    assert nb.scores["name"].tolist() == ["Mel Brooks", "Parody", "Comedy"]  # every attribute, best first
    # the shown items are those reaching most top attributes (Blazing Saddles, Spaceballs: both), then recency
    assert nb.items["item"].tolist() == ["i01", "i03", "i04"]
    assert sorted(map(tuple, nb.links[["item", "attr"]].values.tolist())) == [
        ("i01", "g:parody"), ("i01", "p:brooks"), ("i03", "p:brooks"), ("i04", "g:parody"), ("i04", "p:brooks"),
    ]
    assert set(nb.all_links["item"]) == {"i01", "i02", "i03", "i04"} and len(nb.all_links) == 10
    assert nb.titles["i02"] == "Young Frankenstein"


def test_specificity_favours_rare_attributes():
    # a director with 3 of the user's films (4 in the catalogue) beats a genre 30 of them share (700 items)
    director, genre = specificity([3, 30], [4, 700], 1682)
    assert director > 2 * genre
    assert specificity(5, 1682, 1682) == 0.0  # an attribute every item has says nothing


def test_neighbourhood_graph(trained):
    data = ExplorerData(trained)
    p = data.user("u1")
    nb = data.neighbourhood("u1", p.persona, k_users=2, n_attributes=2, n_items=3)
    recs = data.recommendations("u1")
    recs = recs[recs["run"] == "run-2"]
    spec = neighbourhood_graph(nb, recs, selected="i06", entities={"p:brooks": ("Person", "Mel Brooks")})
    nodes = {n["id"]: n for n in spec["nodes"]}
    edges = {e["id"]: e for e in spec["edges"]}
    assert {"u", "i:i01", "i:i03", "i:i04", "a:Person:p:brooks", "a:Genre:g:parody", "s:u2", "s:u3"} <= set(nodes)
    # every recommendation is a clickable node; its stored paths link it to the history
    assert {n["select"] for n in nodes.values() if "select" in n} == {"i07", "i08", "i06", "i09", "i10"}
    assert "i:i01->r:i07" in edges  # Airplane! is viewed together with Blazing Saddles
    assert "i:i04->a:Genre:g:parody" in edges and "a:Genre:g:parody->r:i08" in edges
    assert "u->r:i08" in edges and edges["u->r:i08"]["label"] == "1/3 similar"
    assert "u->r:i10" in edges  # no path: hangs off the user, dotted
    # the selected one (Silent Movie, by Mel Brooks) is highlighted, the rest fade
    assert edges["a:Person:p:brooks->r:i06"]["color"] == {"color": "#d62728"}
    assert edges["i:i01->r:i07"]["color"] == {"color": "#e4e4e4"}
    assert nodes["r:i06"]["borderWidth"] == 3 and nodes["r:i07"]["borderWidth"] == 1
    # a click on Young Frankenstein's attribute... every hidden node is a real neighbour of the clicked one
    assert [n["id"] for n in spec["hidden"]["a:Person:p:brooks"]["nodes"]] == ["i:i02"]
    assert [n["label"] for n in spec["hidden"]["i:i01"]["nodes"]] == ["Comedy"]
    again = neighbourhood_graph(nb, recs, selected="i07")
    assert again["key"] != spec["key"]
    assert neighbourhood_graph(nb, recs, selected="i06", entities={"p:brooks": ("Person", "Mel Brooks")})["key"] == spec["key"]

    none = data.neighbourhood("u5", None)
    bare = neighbourhood_graph(none, None)
    assert [n["id"] for n in bare["nodes"]] == [
        "u", "i:i02", "i:i04", "a:Person:p:brooks", "a:Genre:g:parody", "a:Genre:g:comedy",
    ]
    assert not any(n["id"].startswith(("s:", "r:")) for n in bare["nodes"])


def test_item_search_and_titles(trained):
    data = ExplorerData(trained)
    found = data.search_items("THE ")
    assert found["title"].tolist() == ["The Naked Gun", "The Piano", "The Producers"]
    assert data.search_items("", limit=2)["title"].tolist() == ["Airplane!", "Blazing Saddles"]
    assert data.item_titles(["i01", "missing"]) == {"i01": "Blazing Saddles"}


def test_parse_attention_errors_name_the_user():
    assert parse_attention(None, "u") == {} and parse_attention("  ", "u") == {}
    assert list(parse_attention(json.dumps({"b": 0.2, "a": 0.2, "c": 0.6}), "u")) == ["c", "a", "b"]
    with pytest.raises(ValueError, match=r"User 'u7': persona_attention is not valid JSON"):
        parse_attention("{oops", "u7")
    with pytest.raises(ValueError, match=r"is a JSON list; expected an object"):
        parse_attention("[1, 2]", "u7")
    with pytest.raises(ValueError, match=r"persona_attention\['x'\] = 'high'; expected a finite number"):
        parse_attention('{"x": "high"}', "u7")


def test_summary_source_label():
    assert summary_source_label("llm:Qwen/Qwen3-8B") == "LLM summary (Qwen/Qwen3-8B)"
    assert summary_source_label("extractive") == "Extractive summary (no LLM configured)"
    assert summary_source_label(None) == "source unknown"
    assert summary_source_label("extractive; lag 3") == "Extractive summary (no LLM configured, without the last 3 training items)"
    assert summary_source_label("llm:m; lag 2") == "LLM summary (m, without the last 2 training items)"


def test_session_rows_shapes():
    rows = session_rows([("a", 0.5), {"id": "b", "score": 0.25, "title": "B"}])
    assert rows[["rank", "item", "score"]].values.tolist() == [[1, "a", 0.5], [2, "b", 0.25]]
    assert pd.isna(rows["title"][0]) and rows["title"][1] == "B"
    assert session_rows(pd.DataFrame({"item": ["a"], "score": [0.5]}))["item"].tolist() == ["a"]
    with pytest.raises(ValueError, match="row 1"):
        session_rows([{"score": 1.0}])
