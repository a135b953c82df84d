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


def _graph(at: AppTest) -> dict:
    """The spec the page sent to the neighbourhood graph component (exactly one on the page)."""
    (el,) = at.get("component_instance")
    return json.loads(el.proto.json_args)["spec"]


def _labels(at: AppTest) -> list[str]:
    return [n["label"] for n in _graph(at)["nodes"]]


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

    # neighbourhood: the graph holds u1's training items, the shared attributes, similar users, and the
    # recommendations (High Anxiety, the validation item, is neither training data nor recommended)
    labels = _labels(at)
    for title in ("Blazing Saddles", "Young Frankenstein", "The Producers", "Spaceballs"):
        assert title in labels
    assert "High Anxiety" not in labels and "Silent Movie" not in labels
    assert {"Comedy", "Mel Brooks", "Parody", "u2\n0.99"} <= set(labels)
    assert [lab for lab in labels if lab.startswith("#")] == [f"#{r} {TITLES[i]}" for r, (i, _) in enumerate(U1_RECS, 1)]
    mel = next(n for n in _graph(at)["nodes"] if n["label"] == "Mel Brooks")
    assert mel["title"] == "Mel Brooks\nPerson · 4 of your training items · 6 items in the catalogue\np:brooks"
    assert any("[u2](?user=u2) · similarity 0.994" in t for t in texts)

    # why: the first recommendation is selected, its stored path in words, and highlighted in the graph
    assert at.radio(key="why_pick").value == "i07"
    assert "- “Airplane!” is viewed together with “Blazing Saddles”, in your history." in texts
    edges = {e["id"]: e for e in _graph(at)["edges"]}
    assert edges["i:i01->r:i07"]["color"] == {"color": "#d62728"}


@pytest.mark.parametrize("store", [pytest.param("neo4j", marks=pytest.mark.neo4j)], indirect=True)
def test_user_page_on_neo4j(monkeypatch, trained):
    """The same page from a Neo4j server (the neo4j variants of cypher/app_*.cypher)."""
    at = _page(monkeypatch, trained.uri, "u1")
    assert at.title[0].value == "User u1" and not at.error
    assert at.table[0].value["title"].tolist() == [TITLES[i] for i, _ in U1_RECS]
    assert at.success[0].value == "Held-out test item “Silent Movie” is at rank 3."
    assert "Attention weights: U-I-Genre-I-U 0.550 · U-I-Person-I-U 0.350 · U-I-U 0.100" in _texts(at)
    assert {"Comedy", "Mel Brooks", "u2\n0.99", "#3 Silent Movie"} <= set(_labels(at))
    at.radio(key="why_pick").set_value("i06").run()
    # the path's own history item first, then u1's other Mel Brooks films, most recent first
    assert ("- “Spaceballs”, “The Producers”, “Young Frankenstein” and 1 more, in your history, are directed by "
            "Mel Brooks, as is “Silent Movie”.") in _texts(at)


def test_older_run_can_be_selected(monkeypatch, trained_store):
    at = _page(monkeypatch, trained_store, "u1")
    at.selectbox(key="rec_run").select("run-1").run()
    recs = at.table[0].value
    assert recs["title"].tolist() == ["The Piano", "Schindler's List"]
    assert at.info[-1].value == (
        "Held-out test item “Silent Movie” is not in this list: the list is computed from the whole history, "
        "test item included, and never repeats an item. Its rank at test time is below."
    )
    # the older run stored no reasons: the page says so instead of inventing one
    assert "- No reason stored for this recommendation (the run that wrote it predates explanations)." in _texts(at)


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
    assert not at.table and not at.get("component_instance")


def test_user_without_persona(monkeypatch, trained_store):
    at = _page(monkeypatch, trained_store, "u5")
    texts = _texts(at)
    assert "no persona yet (run `persona train`), so no similar users" in texts
    assert any(t.startswith("no attention weights stored") for t in texts)
    assert any(t.startswith("no recommendations stored for this user") for t in texts)
    labels = _labels(at)
    assert "Young Frankenstein" in labels and not any(n["id"].startswith("s:") for n in _graph(at)["nodes"])


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
    labels = _labels(at)
    assert "X" in labels and "Y" not in labels


def test_choosing_a_recommendation_shows_its_reasons(monkeypatch, trained_store):
    at = _page(monkeypatch, trained_store, "u1")
    at.radio(key="why_pick").set_value("i08").run()
    texts = _texts(at)
    assert "**The Naked Gun**" in texts
    assert ("- “Spaceballs” and “Blazing Saddles”, in your history, are in the genre Parody, as is “The Naked Gun”.\n"
            "- 1 of your 3 most similar users (by persona) have “The Naked Gun” in their history.") in texts
    edges = {e["id"]: e for e in _graph(at)["edges"]}
    assert edges["a:Genre:g:parody->r:i08"]["color"] == {"color": "#d62728"}
    assert edges["i:i01->r:i07"]["color"] == {"color": "#e4e4e4"}
    at.radio(key="why_pick").set_value("i10").run()
    assert "- No graph path links it to your history: it is ranked from the order of what you consumed." in _texts(at)


def test_persona_map_and_run_views_on_a_store_without_runs(monkeypatch, trained_store):
    at = _page(monkeypatch, trained_store, "u1")
    at.sidebar.radio(key="view").set_value("Persona map").run()
    assert not at.exception and not at.error
    assert at.title[0].value == "Persona map"
    (chart,) = at.get("vega_lite_chart")
    points = pa.ipc.open_stream(chart.proto.datasets[0].data.data).read_all().to_pandas()
    assert sorted(points["user"]) == ["u1", "u2", "u3", "u4"]  # u5 has no persona
    assert dict(zip(points["user"], points["role"]))["u1"] == "this user"
    assert at.selectbox(key="map_colour").options == ["cluster", "top genre"]
    at.selectbox(key="map_colour").select("top genre").run()
    points = pa.ipc.open_stream(at.get("vega_lite_chart")[0].proto.datasets[0].data.data).read_all().to_pandas()
    assert dict(zip(points["user"], points["colour"])) == {"u1": "Comedy", "u2": "Comedy", "u3": "Comedy", "u4": "Drama"}
    clusters = at.dataframe[0].value
    assert clusters["users"].sum() == 4

    at.sidebar.radio(key="view").set_value("Run & evaluation").run()
    assert [i.value for i in at.info] == [
        (f"No training run is recorded in {trained_store}: `persona train --store …` records one "
         "(metrics, held-out ranks, lists).")
    ]
    at.sidebar.radio(key="view").set_value("Anonymous session").run()
    assert "Anonymous session" in [h.value for h in at.header] and not at.error
    assert at.info[0].value.startswith(f"No training run is recorded in {trained_store}, so there is no model")


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


@pytest.mark.slow
def test_a_trained_run_in_every_view(monkeypatch, demo_run):
    """On a store `persona train` wrote: held-out rank, reasons, run metrics, and a session with reasons."""
    uri, work = demo_run
    monkeypatch.setenv("PERSONA_WORKDIR", str(work))
    store = open_store(uri, read_only=True)
    try:
        (held,) = store.run("MATCH (:User {id: 'U00001'})-[h:HELD_OUT]->(i:Item) RETURN i.title AS t, h.final_rank AS r")
        (run,) = store.run("MATCH (r:Run {kind: 'train'}) RETURN r.id AS id")
    finally:
        store.close()
    at = _page(monkeypatch, uri, "U00001")
    assert not at.error
    verdict = "a hit at HR@10" if held["r"] <= 10 else "a miss at HR@10"
    assert any(t.startswith(f"“{held['t']}”: rank **{held['r']}** of the full catalogue at test time") and verdict in t
               for t in _texts(at))
    first_rec = at.radio(key="why_pick").options[0]
    reasons = [t for t in _texts(at) if t.startswith("- ") and first_rec.split(" ", 1)[1] in t]
    assert reasons, "the selected recommendation's reasons name it"
    assert sum(1 for n in _graph(at)["nodes"] if "select" in n) == 10

    at.sidebar.radio(key="view").set_value("Run & evaluation").run()
    assert not at.error
    metrics = at.dataframe[0].value
    stages = metrics["stage"].tolist()
    assert "retriever" in stages and ({"final", "final (reranked)"} & set(stages)), stages
    assert metrics["hr@10"].between(0, 1).all()
    buckets = at.dataframe[1].value
    assert buckets["users"].sum() == 120
    assert at.metric[0].label == "Catalogue coverage"

    at.sidebar.radio(key="view").set_value("Anonymous session").run()
    at.text_input(key="session_search").input("no title has this").run()
    assert "No item title contains 'no title has this'." in [i.value for i in at.info]
    at.text_input(key="session_search").input("").run()
    first = at.multiselect(key="session_items").options[0]
    item = first.rsplit("(", 1)[1].rstrip(")")
    at.multiselect(key="session_items").select(item).run()
    assert not at.error and not at.warning, [w.value for w in at.warning]
    recs = at.table[-1].value
    assert len(recs) == 10 and item not in recs["item"].tolist()
    assert at.caption[0].value.startswith("Pick items") and any(c.value.startswith(f"run {run['id']}") for c in at.caption)
    why = at.markdown[-1].value
    assert why.count("**#") == 10
