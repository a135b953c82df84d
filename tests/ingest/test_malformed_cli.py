"""The malformed-input corpus through the real CLI, on both stores: exit 2, one ``error:`` line naming
the file and line, and the store exactly as it was (a store that already holds data)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from test_malformed_corpus import AM_CASES, AT_CASES, ML_CASES, Case, _write
from typer.testing import CliRunner

from persona.cli import app

runner = CliRunner()
BACKENDS = ["embedded", pytest.param("neo4j", marks=pytest.mark.neo4j)]

# every MovieLens, Amazon and atomic case whose reader is called with default arguments
SAMPLE = [c for c in ML_CASES + AM_CASES + AT_CASES if not c.kwargs][::3]


def _argv(case: Case, tmp: Path) -> list[str]:
    if case in ML_CASES:
        argv = ["ingest", "movielens", str(tmp / "ml")]
        if (tmp / "ml.link").exists():
            argv += ["--link", str(tmp / "ml.link")]
        return argv
    if case in AM_CASES:
        return ["ingest", "amazon", "--reviews", str(tmp / "reviews.json"), "--meta", str(tmp / "meta.json")]
    return ["ingest", "atomic", str(tmp / "d")]


def _stats(uri: str) -> dict:
    res = runner.invoke(app, ["stats", "--json", "--store", uri])
    assert res.exit_code == 0, res.output
    return json.loads(res.stdout)


def test_sample_is_large_enough():
    assert len(SAMPLE) >= 20


@pytest.mark.parametrize("store_uri", BACKENDS, indirect=True)
def test_malformed_files_leave_the_store_as_it_was(store_uri: str, tmp_path: Path):
    assert runner.invoke(app, ["ingest", "demo", "--users", "30", "--items", "40", "-q", "--store", store_uri]).exit_code == 0
    before = _stats(store_uri)
    tried = 0
    for case in SAMPLE:
        if case in ML_CASES + AM_CASES and case.call.__name__ not in ("ml_call", "am_call"):
            continue  # a case with its own reader call (other arguments) is for the corpus test only
        d = tmp_path / case.id
        d.mkdir()
        _write(d, case)
        res = runner.invoke(app, [*_argv(case, d), "--store", store_uri, "-q"])
        where = str(d / case.file) + ("" if case.line is None else f":{case.line}")
        assert res.exit_code == 2, (case.id, res.output)
        assert res.output.startswith(f"error: {where}: expected"), (case.id, res.output)
        assert "nothing was written" in res.output and "Traceback" not in res.output
        tried += 1
    assert tried >= 20
    assert _stats(store_uri) == before
