"""The persona job end to end on the embedded store: text, export, HDGI, write-back, inference, summaries."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from persona.errors import ModelError, NotFoundError
from persona.kgstore import open_store
from persona.learn.personas import encode_graph_text, infer_persona, load_persona_model, train_personas
from persona.learn.summaries import describe_items, summarise_users, training_histories, user_summary_vectors

from .chat_server import ChatServer
from .conftest import small_settings


@pytest.fixture
def demo_store(settings, demo_frames):
    store = open_store(settings.store)
    store.init_schema()
    store.load(demo_frames)
    yield store
    store.close()


def test_train_personas_writes_back_and_serves_sessions(demo_store, settings) -> None:
    res = train_personas(demo_store, settings, workdir=settings.workdir)
    assert res.personas.shape == (120, 32) and len(res.losses) == 30
    assert res.extra["text_written"]["Item"] == 64 and res.extra["text_written"]["Genre"] > 0
    rows = demo_store.run(
        "MATCH (u:User) RETURN u.id AS id, u.persona AS p, u.persona_attention AS a, u.persona_run AS r, u.persona_model AS m"
    )
    assert len(rows) == 120 and {r["r"] for r in rows} == {res.run_id}
    got = {r["id"]: np.asarray(r["p"], dtype=np.float32) for r in rows}
    for uid, vec in zip(res.user_ids, res.personas):
        np.testing.assert_allclose(got[uid], vec, atol=1e-6)
    att = json.loads(rows[0]["a"])
    assert set(att) == set(res.attention) and sum(att.values()) == pytest.approx(1.0, abs=2e-3)
    assert rows[0]["m"].startswith("hdgi(hidden=32, features=text, text=all-MiniLM-L6-v2")
    items = demo_store.run("MATCH (i:Item) RETURN i.text_emb AS e, i.emb_model AS m")
    assert all(len(r["e"]) == 384 and r["m"] == "sentence-transformers/all-MiniLM-L6-v2" for r in items)
    # the persona index finds a user's own persona first
    uid, vec = res.user_ids[3], res.personas[3]
    hits = demo_store.vector_search("User", "persona", vec, k=3)
    assert hits[0][0] == uid and hits[0][1] == pytest.approx(1.0, abs=1e-4)
    # the saved model embeds an anonymous session without the store
    hist = training_histories(demo_store, settings.rec.persona_lag)[uid]  # what the persona was learned from
    v = infer_persona(settings, hist, run_id=res.run_id)
    assert v.shape == (32,) and float(v @ vec / np.linalg.norm(v) / np.linalg.norm(vec)) > 0.9
    assert load_persona_model(settings.workdir, res.run_id).run_id == res.run_id
    assert not (Path(settings.workdir) / "personas" / "latest").exists()  # runs are named, never "the latest"
    run = json.loads((Path(settings.workdir) / "personas" / res.run_id / "run.json").read_text())
    lag = run["persona_lag"]
    assert lag == settings.rec.persona_lag == 3  # each user's last 3 training items are held back
    assert run["graph"]["rated_train"] == sum(len(h) for h in training_histories(demo_store, lag).values())
    assert run["graph"]["rated_train"] < sum(len(h) for h in training_histories(demo_store).values())

    # a second run re-encodes nothing and rewrites no embedding
    again = train_personas(demo_store, settings, workdir=settings.workdir)
    assert again.extra["text_written"] == {lab: 0 for lab in res.extra["text_written"]}


def test_text_is_rewritten_when_a_description_changes(demo_store, settings, monkeypatch) -> None:
    import persona.learn.personas as personas

    monkeypatch.setattr(personas, "WRITE_ROWS", 5)  # written in parts (13 of them): every vector still lands
    assert encode_graph_text(demo_store, settings, workdir=settings.workdir)["Item"] == 64
    stored = demo_store.frame_named("export_item_text")
    assert stored["text_emb"].map(lambda v: v is not None and len(v) == 384).all()
    demo_store.set_node_properties(
        "Item",
        __import__("pandas").DataFrame({"id": ["B003000000"], "generated_description": ["A new text."]}),
    )
    written = encode_graph_text(demo_store, settings, workdir=settings.workdir)
    assert written["Item"] == 1 and written.get("Genre", 0) == 0
    settings.text.use_generated_descriptions = False
    assert encode_graph_text(demo_store, settings, workdir=settings.workdir)["Item"] == 1


def test_no_model_yet(settings) -> None:
    with pytest.raises(NotFoundError, match="no persona model for run 'r1'; run `persona train personas` first"):
        infer_persona(settings, ["x"], run_id="r1")
    with pytest.raises(ModelError, match="no persona run id given"):
        infer_persona(settings, ["x"], run_id="")


def test_unknown_run_names_the_known_ones(demo_store, settings) -> None:
    res = train_personas(demo_store, settings.model_copy(update={"hdgi": small_settings(epochs=1)}),
                         workdir=settings.workdir, write=False)
    with pytest.raises(NotFoundError, match=f"no persona model for run 'nope'; runs there: {res.run_id}"):
        load_persona_model(settings.workdir, "nope")
    assert load_persona_model(settings.workdir, res.run_id).run_id == res.run_id


def test_extractive_summaries_and_their_vectors(demo_store, settings) -> None:
    vecs = user_summary_vectors(demo_store, settings)
    assert len(vecs) == 120 and all(v.shape == (384,) for v in vecs.values())
    rows = {
        r["id"]: r
        for r in demo_store.run(
            "MATCH (u:User) RETURN u.id AS id, u.llm_summary AS s, u.llm_summary_source AS src"
        )
    }
    assert {r["src"] for r in rows.values()} == {"extractive; lag 3"}  # without each user's last 3 items
    # the summary names the genre that dominates the user's training history
    genres = {
        r["i"]: r["g"]
        for r in demo_store.run(
            "MATCH (i:Item)-[:HAS_GENRE]->(g:Genre) WHERE g.id <> 'Fiction' AND g.id <> 'Nonfiction' RETURN i.id AS i, g.name AS g"
        )
    }
    uid, hist = next(iter(training_histories(demo_store, settings.rec.persona_lag).items()))
    top = max({genres[i] for i in hist if i in genres}, key=lambda g: sum(genres.get(i) == g for i in hist))
    assert top in rows[uid]["s"].split(", ")
    again = user_summary_vectors(demo_store, settings)  # stored summaries are reused
    np.testing.assert_array_equal(again[uid], vecs[uid])


def test_llm_descriptions_and_summaries(demo_store, settings) -> None:
    with ChatServer() as srv:
        settings.llm.url, settings.llm.model = srv.url, "tiny-llm"
        assert describe_items(demo_store, settings, workdir=settings.workdir) == 64
        assert describe_items(demo_store, settings, workdir=settings.workdir) == 0  # only missing ones
        df = summarise_users(demo_store, settings, workdir=settings.workdir)
        prompts = [b["messages"][0]["content"] for b in srv.requests]
    desc = demo_store.run("MATCH (i:Item) RETURN i.generated_description AS d")
    assert all(r["d"].startswith("ECHO: ") and r["d"].endswith("Response:") for r in desc)
    kept = training_histories(demo_store, settings.rec.persona_lag)  # every user keeps at least one item
    assert len(df) == len(kept) == 120 and (df["llm_summary"] != "").all()
    assert set(df["llm_summary_source"]) == {"llm:tiny-llm; lag 3"}
    user_prompts = [p for p in prompts if p.startswith("Based on the titles")]
    # one request per distinct history (the client asks once per distinct prompt)
    assert len(user_prompts) == len({tuple(h) for h in kept.values()}) and "\n1. " in user_prompts[0]
