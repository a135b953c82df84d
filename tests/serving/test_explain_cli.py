"""`persona train` → `runs`, `recommend --run`, `explain` for a known user and a session, on both stores;
every RECOMMENDED edge carries a reason readable by plain Cypher; bad input is one line, exit 2."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from persona.cli import app

runner = CliRunner()
BACKENDS = ["embedded", pytest.param("neo4j", marks=pytest.mark.neo4j)]
pytestmark = pytest.mark.slow


def ok(*args: str) -> str:
    res = runner.invoke(app, list(args))
    assert res.exit_code == 0, (args, res.output, res.exception)
    return res.stdout


def fails(*args: str) -> str:
    res = runner.invoke(app, list(args))
    assert res.exit_code == 2, (args, res.output)
    assert "Traceback" not in res.output
    return res.output


@pytest.mark.parametrize("store_uri", BACKENDS, indirect=True)
def test_runs_explain_and_reasons_on_both_stores(store_uri: str, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    ok("ingest", "demo", "--users", "80", "--items", "60", "-q", "--store", store_uri)
    cfg = tmp_path / "persona.toml"
    cfg.write_text("[hdgi]\nepochs = 3\nhidden = 32\n[rec]\nhidden = 32\nblocks = 1\n")
    ok("train", "--epochs", "2", "-q", "--store", store_uri, "--config", str(cfg))
    runs = json.loads(ok("runs", "--json", "--store", store_uri))
    assert [r["kind"] for r in runs] == ["train", "personas"]
    run = runs[0]["id"]
    assert runs[0]["metrics"]["reranked"]["hr@10"] >= 0
    shown = json.loads(ok("runs", "show", run, "--store", store_uri))
    assert shown["persona_run"] == runs[1]["id"] and shown["store_id"]

    # every written-back recommendation has a reason, readable by plain Cypher
    rows = json.loads(ok("cypher", "MATCH (:User)-[r:RECOMMENDED]->(i:Item) RETURN r.reason AS reason, r.why AS why",
                         "--json", "--store", store_uri))
    assert len(rows) == 80 * 10 and all(r["reason"] for r in rows)
    assert all(isinstance(json.loads(r["why"]), list) for r in rows)

    recs = json.loads(ok("recommend", "--user", "U00001", "--json", "--run", run, "--store", store_uri))
    out = json.loads(ok("explain", "--user", "U00001", "--json", "--store", store_uri))
    assert [r["item"] for r in out] == [r["item"] for r in recs]
    assert all(r["reason"] for r in out) and any(r["paths"] for r in out)
    one = json.loads(ok("explain", "--user", "U00001", "--item", recs[0]["item"], "--k", "2", "--json", "--store", store_uri))
    assert len(one) == 1 and len(one[0]["paths"]) <= 2
    sess = json.loads(ok("explain", "--items", "B000000001,B000000002", "--top-k", "5", "--json", "--store", store_uri))
    assert len(sess) == 5 and all(r["reason"] for r in sess)

    assert "unknown user 'nobody'" in fails("explain", "--user", "nobody", "--store", store_uri)
    assert "unknown run 'nope'" in fails("explain", "--user", "U00001", "--run", "nope", "--store", store_uri)
    assert "unknown run 'nope'" in fails("runs", "show", "nope", "--store", store_uri)
    assert "is not among" in fails("explain", "--user", "U00001", "--item", "B000000059x", "--store", store_uri)
    assert "unknown item" in fails("explain", "--items", "nope1,nope2", "--store", store_uri)
    fails("explain", "--user", "U00001", "--k", "0", "--store", store_uri)
    assert "exactly one of" in fails("explain", "--store", store_uri)
