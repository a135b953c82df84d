"""`persona enrich dbpedia` against a real SPARQL endpoint (pyoxigraph over HTTP on 127.0.0.1)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from persona.cli import app

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "ingest"))
from sparql_server import SparqlServer, load_store

runner = CliRunner()


def _counts(uri: str) -> dict:
    res = runner.invoke(app, ["stats", "--json", "--store", uri])
    assert res.exit_code == 0, res.output
    return json.loads(res.stdout)


@pytest.mark.realdata
@pytest.mark.slow
def test_enrich_equals_the_dump_and_replays_offline(datasets: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.chdir(tmp_path)  # the SPARQL cache lives under ./.persona
    ml, link, nt = datasets / "ml-100k", datasets / "dbpedia-movies/ml-100k.link", datasets / "dbpedia-movies/movies.nt.gz"
    from_dump = f"embedded:{tmp_path / 'dump.db'}"
    assert runner.invoke(app, ["ingest", "movielens", str(ml), "--link", str(link), "--rdf", str(nt), "-s", from_dump, "-q"]).exit_code == 0
    enriched = f"embedded:{tmp_path / 'enriched.db'}"
    assert runner.invoke(app, ["ingest", "movielens", str(ml), "--link", str(link), "-s", enriched, "-q"]).exit_code == 0
    assert "Person" not in _counts(enriched)["nodes"]
    with SparqlServer(load_store(nt)) as srv:
        res = runner.invoke(app, ["enrich", "dbpedia", "--endpoint", srv.url, "--rate-limit", "0", "--batch", "200", "-s", enriched, "-q"])
        assert res.exit_code == 0, res.output
        asked = len(srv.queries)
    assert asked > 0
    got = _counts(enriched)
    want = _counts(from_dump)
    for rel in ("DIRECTED_BY", "STARRING", "WRITTEN_BY", "MUSIC_BY", "DISTRIBUTED_BY"):
        assert got["rels"][rel] == want["rels"][rel], rel
    # offline: the server is gone, the cache answers, nothing changes
    res = runner.invoke(app, ["enrich", "dbpedia", "--endpoint", srv.url, "--offline", "--batch", "200", "-s", enriched, "-q"])
    assert res.exit_code == 0, res.output
    assert _counts(enriched) == got
    # a query that was never cached: a clear error, exit 2, nothing written
    res = runner.invoke(app, ["enrich", "dbpedia", "--endpoint", srv.url, "--offline", "--batch", "7", "-s", enriched, "-q"])
    assert res.exit_code == 2 and "no cached answer" in res.output
    assert _counts(enriched) == got
