"""The explorer page, run by Streamlit's AppTest against a real embedded store."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pytest
from persona.app import explorer_path
from persona.kgstore import open_store

from .conftest import TITLES, U1_ATTENTION, U1_HISTORY, U1_RECS, U1_SUMMARY, build_store

pytest.importorskip("streamlit")
from streamlit.testing.v1 import AppTest


def _page(monkeypatch: pytest.MonkeyPatch, uri: str, user: str | None = None) -> AppTest:
    monkeypatch.setenv("PERSONA_STORE", uri)
    at = AppTest.from_file(str(explorer_path()), default_timeout=60)
    if user is not None:
        at.query_params["user"] = user
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _texts(at: AppTest) -> list[str]:
    kinds = ("title", "subheader", "caption", "markdown", "info", "warning", "error", "success")
    return [str(e.value) for kind in kinds for e in at.get(kind)]


@pytest.fixture(autouse=True)
def _fresh_cache():
    """Each test opens its own store; release cached stores (closing them) afterwards."""
    import streamlit as st

    yield
    st.cache_resource.clear()


def test_user_page_shows_history_attention_summary_and_recommendations(monkeypatch, trained_store):
    at = _page(monkeypatch, trained_store, "u1")
    texts = _texts(at)
    assert at.title[0].value == "User u1"
    assert "6 interactions (train 4, valid 1, test 1)" in at.caption[0].value

    # history: every interaction with its title, split and rating, in chronological order
    history = next(d.value for d in at.dataframe if "split" in d.value.columns)
    assert history["title"].tolist() == [TITLES[i] for i, _ in U1_HISTORY]
    assert history["split"].tolist() == [s for _, s in U1_HISTORY]
    assert history["rating"].tolist() == [5.0, 4.5, 4.0, 3.5, 3.0, 2.5]

    # attention weights, heaviest first
    assert "Attention weights: U-I-Genre-I-U 0.550 · U-I-Person-I-U 0.350 · U-I-U 0.100" in texts
    (chart,) = at.get("vega_lite_chart")
    spec = json.loads(chart.proto.spec)
    assert spec["mark"]["type"] == "bar"
    assert spec["encoding"]["y"]["sort"] == "-x"  # heaviest meta-path on top
    bars = pa.ipc.open_stream(chart.proto.datasets[0].data.data).read_all().to_pandas()
    assert dict(zip(bars["meta-path"], bars["weight"])) == U1_ATTENTION

    # summary with its source
    assert "**Extractive summary (no LLM configured)**" in texts and U1_SUMMARY in texts

    # recommendations of the newest run, by rank, held-out test item marked
    recs = at.table[0].value
    assert recs["rank"].tolist() == [1, 2, 3, 4, 5]
    assert recs["title"].tolist() == [TITLES[i] for i, _ in U1_RECS]
    assert recs["score"].round(2).tolist() == [s for _, s in U1_RECS]
    assert recs["note"].tolist() == ["", "", "held-out test item", "", ""]
    assert at.selectbox(key="rec_run").value == "run-2"
    assert at.success[0].value == "Held-out test item “Silent Movie” is at rank 3."

    # neighbourhood: the picture holds u1's training items, the shared attributes and similar users
    dot = at.get("graphviz_chart")[0].proto.spec
    for title in ("Blazing Saddles", "Young Frankenstein", "The Producers", "Spaceballs"):
        assert f'label="{title}"' in dot
    assert "High Anxiety" not in dot and "Silent Movie" not in dot  # valid/test items are not training data
    assert 'label="Comedy\\nGenre · 4 of yours"' in dot and 'label="Mel Brooks\\nPerson · 4 of yours"' in dot
    assert 'label="u2\\nsimilarity 0.99"' in dot
    assert any("[u2](?user=u2) · similarity 0.994" in t for t in texts)


@pytest.mark.parametrize("store", [pytest.param("neo4j", marks=pytest.mark.neo4j)], indirect=True)
def test_user_page_on_neo4j(monkeypatch, trained):
    """The same page from a Neo4j server (the neo4j variants of cypher/app_*.cypher)."""
    at = _page(monkeypatch, trained.uri, "u1")
    assert at.title[0].value == "User u1" and not at.error
    assert at.table[0].value["title"].tolist() == [TITLES[i] for i, _ in U1_RECS]
    assert at.success[0].value == "Held-out test item “Silent Movie” is at rank 3."
    assert "Attention weights: U-I-Genre-I-U 0.550 · U-I-Person-I-U 0.350 · U-I-U 0.100" in _texts(at)
    dot = at.get("graphviz_chart")[0].proto.spec
    assert 'label="Comedy\\nGenre · 4 of yours"' in dot and 'label="u2\\nsimilarity 0.99"' in dot


def test_older_run_can_be_selected(monkeypatch, trained_store):
    at = _page(monkeypatch, trained_store, "u1")
    at.selectbox(key="rec_run").select("run-1").run()
    recs = at.table[0].value
    assert recs["title"].tolist() == ["The Piano", "Schindler's List"]
    assert at.info[-1].value == "Held-out test item “Silent Movie” is not in this list."


def test_picking_a_user_in_the_sidebar_updates_the_page_and_address(monkeypatch, trained_store):
    at = _page(monkeypatch, trained_store)
    assert at.title[0].value == "User u1"  # the first user by default
    at.sidebar.selectbox(key="user_pick").select("u2").run()
    assert at.title[0].value == "User u2"
    assert at.query_params["user"] == "u2"
    assert at.table[0].value["title"].tolist() == ["Hot Shots!"]


def test_unknown_user_gets_a_clear_message(monkeypatch, trained_store):
    at = _page(monkeypatch, trained_store, "nobody")
    assert [w.value for w in at.warning] == [
        f"No user with id “nobody” in {trained_store}. Pick a user in the sidebar."
    ]
    assert not at.table and not at.get("graphviz_chart")


def test_user_without_persona(monkeypatch, trained_store):
    at = _page(monkeypatch, trained_store, "u5")
    texts = _texts(at)
    assert "no persona yet (run `persona train`), so no similar users" in texts
    assert any(t.startswith("no attention weights stored") for t in texts)
    assert any(t.startswith("no recommendations stored for this user") for t in texts)
    dot = at.get("graphviz_chart")[0].proto.spec
    assert 'label="Young Frankenstein"' in dot and "similarity" not in dot


def test_empty_store(monkeypatch, tmp_path):
    uri = f"embedded:{tmp_path / 'empty.db'}"
    store = open_store(uri)
    store.init_schema()
    store.close()
    at = _page(monkeypatch, uri)
    assert [i.value for i in at.info] == [
        f"The store {uri} holds no users yet. Load data with `persona ingest …`, then `persona train`."
    ]


def test_store_that_cannot_be_opened(monkeypatch, tmp_path):
    uri = f"embedded:{tmp_path / 'missing.db'}"
    at = _page(monkeypatch, uri)
    assert len(at.error) == 1
    msg = at.error[0].value
    assert msg.startswith(f"Cannot reach the store {uri}.") and "no such embedded store" in msg
    assert not (tmp_path / "missing.db").exists()  # the page never creates a store


def test_neo4j_server_that_is_not_running(monkeypatch):
    import socket

    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    uri = f"bolt://127.0.0.1:{port}"
    at = _page(monkeypatch, uri)
    assert len(at.error) == 1 and at.error[0].value.startswith(f"Cannot reach the store {uri}.")
    assert "Connection refused" in at.error[0].value


def test_store_without_recommendations_or_attributes(monkeypatch, tmp_path):
    """Right after `persona ingest` (no RECOMMENDED table, no attribute relationships)."""
    from persona.kgstore import GraphFrames

    g = GraphFrames()
    g.add_nodes("User", pd.DataFrame({"id": ["a"]}))
    g.add_nodes("Item", pd.DataFrame({"id": ["x", "y", "z"], "title": ["X", "Y", "Z"]}))
    g.add_rels("RATED", "User", "Item", pd.DataFrame(
        {"src": "a", "dst": ["x", "y", "z"], "pos": [0, 1, 2], "split": ["train", "valid", "test"], "rating": 1.0}
    ))
    uri = f"embedded:{tmp_path / 'ingested.db'}"
    store = open_store(uri)
    store.load(g)
    store.close()
    at = _page(monkeypatch, uri, "a")
    texts = _texts(at)
    assert any(t.startswith("no recommendations stored for this user") for t in texts)
    assert not at.error
    dot = at.get("graphviz_chart")[0].proto.spec
    assert 'label="X"' in dot and 'label="Y"' not in dot


def test_session_panel_hidden_without_recommend_session(monkeypatch, trained_store):
    from persona import workflows

    monkeypatch.delattr(workflows, "recommend_session", raising=False)
    at = _page(monkeypatch, trained_store, "u1")
    assert "Anonymous session" not in [h.value for h in at.header]


def test_session_panel_calls_recommend_session(monkeypatch, trained_store):
    """With a real (if simple) session recommender: items sharing the most attributes with the session."""
    from persona import workflows

    calls = []

    def recommend_session(settings, item_ids, *, k=10):
        calls.append((settings.store, list(item_ids), k))
        store = open_store(settings.store, read_only=True)
        try:
            rows = store.run(
                "MATCH (s:Item)-[:HAS_GENRE]->(g:Genre)<-[:HAS_GENRE]-(i:Item) "
                "WHERE s.id IN $ids AND NOT i.id IN $ids RETURN i.id AS item, count(*) AS score "
                "ORDER BY score DESC, item LIMIT $k",
                {"ids": list(item_ids), "k": k},
            )
        finally:
            store.close()
        return [(r["item"], float(r["score"])) for r in rows]

    monkeypatch.setattr(workflows, "recommend_session", recommend_session, raising=False)
    at = _page(monkeypatch, trained_store, "u1")
    assert "Anonymous session" in [h.value for h in at.header]
    at.text_input(key="session_search").input("hot").run()
    at.multiselect(key="session_items").select("i09").run()
    at.number_input(key="session_k").set_value(3).run()
    assert calls[-1] == (trained_store, ["i09"], 3)
    table = at.table[-1].value
    # i09 is a comedy parody: the parodies i01, i04, i07, i08 share two genres with it
    assert table["title"].tolist() == ["Blazing Saddles", "Spaceballs", "Airplane!"]
    assert table["score"].tolist() == [2.0, 2.0, 2.0]
    assert table["rank"].tolist() == [1, 2, 3]


def test_fixture_graph(tmp_path: Path):
    """The fixture itself holds exactly the graph the tests above reason about."""
    store = open_store(build_store(tmp_path / "kg.db"), read_only=True)
    try:
        assert store.counts() == {
            "nodes": {"Genre": 3, "Item": 12, "Person": 2, "User": 5},
            "rels": {"ALSO_VIEW": 1, "DIRECTED_BY": 9, "HAS_GENRE": 17, "RATED": 19, "RECOMMENDED": 8},
        }
    finally:
        store.close()
