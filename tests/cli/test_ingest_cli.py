"""`persona ingest`, `stats` and `cypher` through the real CLI, on both stores."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from persona.cli import app

runner = CliRunner()
BACKENDS = ["embedded", pytest.param("neo4j", marks=pytest.mark.neo4j)]


def invoke(*args: str):
    return runner.invoke(app, list(args), catch_exceptions=False)


def stats(uri: str) -> dict:
    res = invoke("stats", "--json", "--store", uri)
    assert res.exit_code == 0, res.output
    return json.loads(res.stdout)


@pytest.mark.realdata
@pytest.mark.slow
@pytest.mark.parametrize("store_uri", BACKENDS, indirect=True)
def test_movielens_with_dbpedia_twice(store_uri: str, datasets: Path):
    args = [
        "ingest", "movielens", str(datasets / "ml-100k"),
        "--link", str(datasets / "dbpedia-movies/ml-100k.link"),
        "--rdf", str(datasets / "dbpedia-movies/movies.nt.gz"),
        "--store", store_uri, "--quiet",
    ]
    first = invoke(*args)
    assert first.exit_code == 0, first.output
    c1 = stats(store_uri)
    assert c1["nodes"]["User"] == 943
    assert c1["nodes"]["Item"] == 1682
    assert c1["rels"]["RATED"] == 100_000
    linked = invoke("cypher", "MATCH (i:Item) WHERE i.iri IS NOT NULL RETURN count(i) AS n", "--json", "--store", store_uri)
    assert json.loads(linked.stdout) == [{"n": 1423}]
    with_kg = invoke(
        "cypher", "MATCH (i:Item)-[:DIRECTED_BY|STARRING|WRITTEN_BY]->(p:Person) RETURN count(DISTINCT i) AS n", "--json",
        "--store", store_uri,
    )
    assert json.loads(with_kg.stdout)[0]["n"] > 1200
    second = invoke(*args)
    assert second.exit_code == 0, second.output
    assert stats(store_uri) == c1


@pytest.mark.parametrize("store_uri", BACKENDS, indirect=True)
def test_bad_input_is_refused_and_store_unchanged(store_uri: str, tmp_path: Path):
    good = tmp_path / "good"
    good.mkdir()
    (good / "u.data").write_text("1\t10\t5\t881250949\n2\t10\t3\t881250950\n")
    (good / "u.user").write_text("1|24|M|technician|85711\n2|53|F|other|94043\n3|23|M|writer|32067\n")
    (good / "u.item").write_text("10|Toy Story (1995)|01-Jan-1995||http://x|0|0|0|1|1|1|0|0|0|0|0|0|0|0|0|0|0|0|0\n", encoding="latin-1")
    assert invoke("ingest", "movielens", str(good), "--store", store_uri, "--quiet").exit_code == 0
    before = stats(store_uri)
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "u.data").write_text("1\t10\t5\t881250949\n3\t10\t4\n")
    for name in ("u.item", "u.user"):
        (bad / name).write_text((good / name).read_text(encoding="latin-1"), encoding="latin-1")
    res = runner.invoke(app, ["ingest", "movielens", str(bad), "--store", store_uri, "--quiet"])
    assert res.exit_code == 2
    assert "u.data:2" in res.output and "nothing was written" in res.output
    assert stats(store_uri) == before
    # --skip-invalid: the bad line is counted and written to the rejects file
    rejects = tmp_path / "rejects.jsonl"
    res = invoke("ingest", "movielens", str(bad), "--skip-invalid", "--rejects", str(rejects), "--store", store_uri, "--quiet")
    assert res.exit_code == 0, res.output
    rows = [json.loads(x) for x in rejects.read_text().splitlines()]
    assert len(rows) == 1 and rows[0]["line"] == 2


@pytest.mark.parametrize("store_uri", BACKENDS, indirect=True)
def test_cypher_is_read_only_unless_write(store_uri: str):
    assert invoke("ingest", "demo", "--users", "30", "--items", "40", "--store", store_uri, "--quiet").exit_code == 0
    res = runner.invoke(app, ["cypher", "MATCH (u:User) SET u.age = 1 RETURN count(u)", "--store", store_uri])
    assert res.exit_code == 2
    assert "--write" in res.output or "read" in res.output.lower()
    ok = invoke("cypher", "MATCH (u:User {id: $id}) SET u.age = $age RETURN u.age AS age", "--param", "id=U00001",
                "--param", "age=41", "--write", "--json", "--store", store_uri)
    assert json.loads(ok.stdout) == [{"age": 41}]
    evil = "x'}) DETACH DELETE n //"
    res = invoke("cypher", "MATCH (u:User {id: $id}) RETURN count(u) AS n", "--param", f"id={evil}", "--json", "--store", store_uri)
    assert json.loads(res.stdout) == [{"n": 0}]
    assert stats(store_uri)["nodes"]["User"] == 30


def test_missing_file_and_unknown_store(tmp_path: Path):
    res = runner.invoke(app, ["ingest", "movielens", str(tmp_path / "nope"), "--store", f"embedded:{tmp_path / 'kg.db'}"])
    assert res.exit_code == 2
    assert "nope" in res.output
    res = runner.invoke(app, ["stats", "--store", f"embedded:{tmp_path / 'absent.db'}"])
    assert res.exit_code == 2 and "no such embedded store" in res.output
