"""One definition of each default (persona.config), and the precedence file < environment < flag."""

from __future__ import annotations

import inspect

import pytest

from persona.config import IngestSettings, Neo4jSettings, Settings, load_settings


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    import os

    for k in list(os.environ):
        if k.startswith("PERSONA_") or k in ("NEO4J_USER", "NEO4J_PASSWORD"):
            monkeypatch.delenv(k)
    return monkeypatch


def test_default_then_file_then_env_then_flag(tmp_path, clean_env) -> None:
    cfg = tmp_path / "persona.toml"
    assert load_settings(None).rec.epochs == Settings().rec.epochs == 25
    cfg.write_text('store = "embedded:file.db"\n[rec]\nepochs = 7\nhidden = 32\n[ingest]\nhops = 2\n')
    s = load_settings(cfg)
    assert (s.store, s.rec.epochs, s.rec.hidden, s.ingest.hops) == ("embedded:file.db", 7, 32, 2)
    clean_env.setenv("PERSONA_REC__EPOCHS", "9")
    clean_env.setenv("PERSONA_STORE", "embedded:env.db")
    s = load_settings(cfg)
    assert (s.store, s.rec.epochs, s.rec.hidden, s.ingest.hops) == ("embedded:env.db", 9, 32, 2)
    s = load_settings(cfg, store="embedded:flag.db", rec={"epochs": 11})
    assert (s.store, s.rec.epochs, s.rec.hidden) == ("embedded:flag.db", 11, 32)
    s = load_settings(cfg, store=None)  # an unset flag does not override
    assert s.store == "embedded:env.db"


def test_neo4j_credentials_env_beats_file(tmp_path, clean_env) -> None:
    cfg = tmp_path / "p.toml"
    cfg.write_text('[neo4j]\nuser = "fileuser"\npassword = "filepass"\n')
    s = load_settings(cfg)
    assert (s.neo4j.user, s.neo4j.password.get_secret_value()) == ("fileuser", "filepass")
    clean_env.setenv("NEO4J_PASSWORD", "envpass")
    assert load_settings(cfg).neo4j.password.get_secret_value() == "envpass"


def test_library_defaults_are_the_settings_defaults() -> None:
    """Readers, the SPARQL client and the store opener take their defaults from persona.config."""
    from persona.ingest import amazon, movielens, sparql
    from persona.ingest._values import check_reader_args
    from persona.kgstore import neo4j as neo4j_backend

    ing = IngestSettings()
    for fn in (movielens.read_movielens, amazon.read_amazon, check_reader_args):
        params = inspect.signature(fn).parameters
        assert params["hops"].default == ing.hops and params["k_core"].default == ing.k_core, fn
        if "ts_max" in params:
            assert params["ts_max"].default == ing.ts_max and params["rating_max"].default == ing.rating_max
    assert sparql.DBPEDIA == ing.sparql_endpoint
    from persona.ingest.demo import generate_demo

    demo = inspect.signature(generate_demo).parameters
    assert (demo["users"].default, demo["items"].default) == (ing.demo_users, ing.demo_items)
    # the backend has no password of its own: open_store fills it from Neo4jSettings or the environment
    assert inspect.signature(neo4j_backend.Neo4jStore).parameters["password"].default is inspect.Parameter.empty
    assert Neo4jSettings().password.get_secret_value() == "persona-kg"
