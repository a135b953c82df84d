"""The main job end to end: `persona ingest demo && persona train`, then `persona recommend`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from persona.cli import app

runner = CliRunner()


@pytest.mark.slow
@pytest.mark.parametrize("store_uri", ["embedded", pytest.param("neo4j", marks=pytest.mark.neo4j)], indirect=True)
def test_demo_train_recommend(store_uri: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "persona.toml").write_text(
        "[hdgi]\nepochs = 4\nhidden = 16\n[rec]\nepochs = 2\nhidden = 16\neval_every = 1\nbatch_size = 256\n"
    )
    assert runner.invoke(app, ["ingest", "demo", "--users", "80", "--items", "60", "-s", store_uri, "-q"]).exit_code == 0
    res = runner.invoke(app, ["train", "-s", store_uri, "-q"])
    assert res.exit_code == 0, res.output
    assert "HR@10" in res.output and "reranked" in res.output

    def cypher(q: str, *params: str) -> list:
        out = runner.invoke(app, ["cypher", q, "--json", "-s", store_uri, *params])
        assert out.exit_code == 0, out.output
        return json.loads(out.stdout)

    # personas, attention and run are on every user; recommendations are in the graph
    rows = cypher("MATCH (u:User) WHERE u.persona IS NOT NULL RETURN count(u) AS n, min(size(u.persona)) AS d")
    assert rows == [{"n": 80, "d": 16}]
    att = json.loads(cypher("MATCH (u:User {id: 'U00001'}) RETURN u.persona_attention AS a")[0]["a"])
    assert att and all(0.0 <= v <= 1.0 for v in att.values())
    rec = cypher("MATCH (u:User)-[r:RECOMMENDED]->(i:Item) RETURN count(r) AS n, count(DISTINCT u) AS users, max(r.rank) AS k")
    assert rec == [{"n": 800, "users": 80, "k": 10}]
    # nothing recommended is already in the user's history
    seen = cypher("MATCH (u:User)-[:RECOMMENDED]->(i:Item)<-[:RATED]-(u) RETURN count(i) AS n")
    assert seen == [{"n": 0}]
    # recommend for a known user and for an anonymous session
    out = runner.invoke(app, ["recommend", "--user", "U00001", "--k", "5", "--json", "-s", store_uri])
    assert out.exit_code == 0, out.output
    recs = json.loads(out.stdout)
    assert [r["rank"] for r in recs] == [1, 2, 3, 4, 5] and all(r["title"] for r in recs)
    out = runner.invoke(app, ["recommend", "--items", "B000000001,B000000002", "--k", "3", "--json", "-s", store_uri])
    assert out.exit_code == 0, out.output
    sess = json.loads(out.stdout)
    assert len(sess) == 3 and not {"B000000001", "B000000002"} & {r["item"] for r in sess}
    bad = runner.invoke(app, ["recommend", "--user", "nobody", "-s", store_uri])
    assert bad.exit_code == 2 and "unknown user" in bad.output
    # a second train replaces the run's RECOMMENDED edges instead of adding to them
    assert runner.invoke(app, ["train", "--skip-personas", "-s", store_uri, "-q"]).exit_code == 0
    assert cypher("MATCH ()-[r:RECOMMENDED]->() RETURN count(r) AS n, count(DISTINCT r.run) AS runs") == [{"n": 800, "runs": 1}]


@pytest.mark.slow
def test_experiment_table_and_chart(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """`persona experiment` writes Table 3 (CSV, Markdown, PNG) for the rows asked for, two seeds."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "persona.toml").write_text(
        "[hdgi]\nepochs = 3\nhidden = 16\n[rec]\nepochs = 2\nhidden = 16\neval_every = 1\nbatch_size = 256\n"
    )
    store = "embedded:exp.db"
    assert runner.invoke(app, ["ingest", "demo", "--users", "60", "--items", "40", "-s", store, "-q"]).exit_code == 0
    bad = runner.invoke(app, ["experiment", "--variants", "kg/bert", "-s", store, "-q"])
    assert bad.exit_code == 2 and "kg/bert" in bad.output and "USER/ITEM" in bad.output
    res = runner.invoke(
        app,
        ["experiment", "--seeds", "2", "--variants", "none/random,kg/text", "--out", "t3", "-s", store, "-q"],
    )
    assert res.exit_code == 0, res.output
    import pandas as pd

    per_seed = pd.read_csv(tmp_path / "t3/results.csv")
    assert sorted(set(zip(per_seed.user_emb, per_seed.item_emb))) == [("kg", "text"), ("none", "random")]
    assert sorted(per_seed.seed.unique()) == [0, 1] and set(per_seed.stage) == {"retriever", "reranked"}
    assert per_seed["hr@10"].between(0, 1).all()
    md = (tmp_path / "t3/results.md").read_text()
    assert "KG+LLM" in md and "±" in md and "HDGI seed" in md
    assert (tmp_path / "t3/results.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
