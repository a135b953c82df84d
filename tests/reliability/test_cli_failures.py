"""Every failure a person can cause is one line on stderr and exit 2; secrets never appear; nothing is
created or left behind as a side effect. Programming errors keep their traceback (not tested here)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from persona.cli import app, dumps_json, mask_secrets

runner = CliRunner()
BACKENDS = ["embedded", pytest.param("neo4j", marks=pytest.mark.neo4j)]
SECRET = "s3cret-Pa55word"


def fail(args: list[str], env: dict | None = None):
    res = runner.invoke(app, args, env=env)
    assert res.exit_code == 2, (args, res.exit_code, res.output, res.exception)
    assert not isinstance(res.exception, Exception) or isinstance(res.exception, SystemExit), res.exception
    text = res.output.strip()
    assert text.startswith("error:") or "Invalid value" in text or "Usage:" in text, text
    assert "Traceback" not in text
    return text


@pytest.mark.parametrize(
    "uri, expected",
    [
        ("bolt//127.0.0.1:7697", "not a valid URI"),
        ("embeded:x.db", "unknown store URI scheme 'embeded'"),
        ("http://127.0.0.1:7474", "unknown store URI scheme 'http'"),
        ("bolt:127.0.0.1", "expected bolt://host:port"),
        ("embedded:", "with a file path"),
    ],
)
@pytest.mark.parametrize("command", [["stats"], ["train", "-q"], ["train", "personas", "-q"], ["ingest", "demo", "-q"]])
def test_bad_store_uris_are_refused_and_create_nothing(tmp_path: Path, monkeypatch, uri, expected, command):
    monkeypatch.chdir(tmp_path)
    text = fail([*command, "--store", uri])
    assert expected in text
    assert list(tmp_path.iterdir()) == []  # no store, no .persona folder at an odd relative path


@pytest.mark.parametrize("command", [["train", "-q"], ["train", "personas", "-q"], ["experiment", "--seeds", "1", "-q"],
                                     ["stats"], ["recommend", "--user", "u1"], ["cypher", "RETURN 1"]])
def test_missing_embedded_store_is_an_error_not_a_new_empty_store(tmp_path: Path, monkeypatch, command):
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "absent.db"
    text = fail([*command, "--store", f"embedded:{path}"])
    assert "no such embedded store" in text or "no trained run" in text
    assert not path.exists()


def test_a_directory_or_a_foreign_file_is_not_a_store(tmp_path: Path):
    d = tmp_path / "adir"
    d.mkdir()
    (d / "x").write_text("x")
    assert "is a directory" in fail(["stats", "--store", f"embedded:{d}"])
    f = tmp_path / "notes.txt"
    f.write_text("not a database" * 100)
    text = fail(["ingest", "demo", "-q", "--store", f"embedded:{f}"])
    assert "not a persona-kg embedded store" in text and "re-run" not in text
    assert f.read_text() == "not a database" * 100


@pytest.mark.parametrize("command", [["stats"], ["train", "-q"], ["ingest", "demo", "-q"], ["cypher", "RETURN 1"]])
def test_neo4j_down_is_one_line(command):
    text = fail([*command, "--store", "bolt://127.0.0.1:1"])
    assert "cannot reach Neo4j at bolt://127.0.0.1:1" in text and "--store" in text


def test_passwords_are_masked_in_uris_and_messages():
    text = fail(["stats", "--store", f"bolt://neo4j:{SECRET}@127.0.0.1:1"])
    assert SECRET not in text
    text = fail(["stats", "--store", "bolt://127.0.0.1:1"], env={"NEO4J_PASSWORD": SECRET})
    assert SECRET not in text
    assert mask_secrets(f"x bolt://neo4j:{SECRET}@h:7687 y") == "x bolt://neo4j:***@h:7687 y"


def test_non_string_password_in_toml_is_not_echoed(tmp_path: Path):
    cfg = tmp_path / "persona.toml"
    cfg.write_text("[neo4j]\npassword = 98765432\n")
    text = fail(["stats", "--config", str(cfg), "--store", f"embedded:{tmp_path / 'x.db'}"])
    assert "neo4j.password" in text and "98765432" not in text


@pytest.mark.parametrize(
    "args, expected",
    [
        (["ingest", "movielens", ".", "--hops", "0"], "--hops"),
        (["ingest", "movielens", ".", "--k-core", "-1"], "--k-core"),
        (["recommend", "--user", "u1", "--k", "0"], "--top-k"),
        (["recommend", "--user", "u1", "-k", "150"], "--top-k"),
        (["experiment", "--seeds", "0"], "--seeds"),
        (["train", "--epochs", "0"], "--epochs"),
        (["ingest", "demo", "--users", "3"], "--users"),
        (["experiment", "--variants", "kg/nope"], "--variants"),
        (["train", "--user-emb", "xyz"], "--user-emb"),
        (["cypher", "RETURN 1", "--param", "novalue"], "--param"),
        (["recommend", "--items", " , "], "--items"),
    ],
)
def test_bad_flags_are_one_clear_line(tmp_path: Path, monkeypatch, args, expected):
    monkeypatch.chdir(tmp_path)
    text = fail([*args, "--store", f"embedded:{tmp_path / 'kg.db'}"]) if args[0] != "ingest" or "--hops" in args or "--k-core" in args or "--users" in args else fail(args)
    assert expected in text


def test_cuda_without_cuda_is_one_line(tmp_path: Path):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    runner.invoke(app, ["ingest", "demo", "--users", "30", "--items", "40", "-q", "--store", f"embedded:{tmp_path / 'kg.db'}"])
    for cmd in (["train", "-q"], ["train", "personas", "-q"]):
        text = fail([*cmd, "--device", "cuda", "--store", f"embedded:{tmp_path / 'kg.db'}"])
        assert "CUDA is not available" in text and "--device cpu" in text
    assert "expected cpu, cuda or cuda:N" in fail(["train", "--device", "gpu0", "--store", f"embedded:{tmp_path / 'kg.db'}"])


@pytest.mark.parametrize("store_uri", BACKENDS, indirect=True)
def test_json_is_strict_and_typed_the_same_on_both_stores(store_uri: str):
    assert runner.invoke(app, ["ingest", "demo", "--users", "30", "--items", "40", "-q", "--store", store_uri]).exit_code == 0
    q = ("MATCH (u:User)-[r:RATED]->() WITH sum(r.pos) AS s, count(*) AS n, avg(r.rating) AS a "
         "RETURN s, n, a, (s * 1.0) / 0.0 AS inf, 0.0 / 0.0 AS nan, true AS b")
    res = runner.invoke(app, ["cypher", q, "--json", "--store", store_uri])
    assert res.exit_code == 0, res.output
    (row,) = json.loads(res.stdout, parse_constant=lambda c: pytest.fail(f"non-standard JSON constant {c}"))
    assert isinstance(row["s"], int) and isinstance(row["n"], int) and isinstance(row["a"], float)
    assert row["inf"] is None and row["nan"] is None and row["b"] is True
    assert dumps_json({"x": float("inf"), "y": [float("nan"), 1.5]}) == json.dumps({"x": None, "y": [None, 1.5]}, indent=2)


def test_disk_full_leaves_no_partial_file_and_keeps_the_old_one(tmp_path: Path):
    import torch

    from persona.errors import ResourceError, atomic_save

    target = tmp_path / "model.pt"
    torch.save({"v": 1}, target)
    if not os.path.exists("/dev/full"):
        pytest.skip("no /dev/full on this system")
    # the temporary file the writer opens is a link to /dev/full: every write(2) there fails with ENOSPC
    (tmp_path / "model.pt.tmp").symlink_to("/dev/full")
    with pytest.raises(ResourceError, match="disk full while writing .*model.pt"):
        atomic_save(torch.save, {"v": 2, "big": torch.zeros(1 << 20)}, target)
    assert torch.load(target) == {"v": 1}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.pt"]
