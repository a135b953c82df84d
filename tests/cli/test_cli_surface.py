"""The command line's surface: help of every command, --version, `cypher --file/--example/--list-examples`,
typed parameters, how numbers and tables read, and no third-party warnings or bars in our output."""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
import warnings
from pathlib import Path

import pytest
import typer.main
from rich.console import Console
from typer.testing import CliRunner

from persona import __version__
from persona.cli import app, experiment_rows, quiet_third_party, run_rows
from persona.errors import ConfigError

runner = CliRunner()
BACKENDS = ["embedded", pytest.param("neo4j", marks=pytest.mark.neo4j)]
WIDE = {"COLUMNS": "200", "TERMINAL_WIDTH": "200"}


def invoke(*args: str, input: str | None = None):
    return runner.invoke(app, list(args), input=input, env=WIDE)


def _commands():
    def walk(cmd, path=()):
        yield path, cmd
        for name, sub in sorted(getattr(cmd, "commands", {}).items()):
            yield from walk(sub, (*path, name))

    return list(walk(typer.main.get_command(app)))


def _flat(help_text: str) -> str:
    """Help without the panel borders, one space between words."""
    return re.sub(r"\s+", " ", re.sub(r"[│╭╮╰╯─]", " ", help_text))


# the option → the default its help must show, per command
DEFAULTS = {
    ("ingest", "movielens"): {"--hops": "[default: 1, or [ingest] hops]", "--k-core": "[default: 0, or [ingest] k_core]"},
    ("ingest", "amazon"): {"--hops": "[default: 1, or [ingest] hops]", "--k-core": "[default: 0, or [ingest] k_core]"},
    ("ingest", "atomic"): {"--hops": "[default: 1, or [ingest] hops]", "--k-core": "[default: 0, or [ingest] k_core]"},
    ("ingest", "demo"): {"--seed": "[default: 0]", "--users": "[default: 1000, or [ingest] demo_users]"},
    ("train",): {"--seed": "[default: 0, or [rec] seed]", "--epochs": "[default: 25, or [rec] epochs]"},
    ("train", "personas"): {"--epochs": "[default: 100, or [hdgi] epochs]"},
    ("experiment",): {"--epochs": "[default: 25, or [rec] epochs]", "--seeds": "[default: 5]"},
    ("app",): {"--port": "[default: 8501, or [app] port]"},
    ("recommend",): {"--top-k": "[default: 10]"},
}


def _block(help_text: str, option: str) -> str:
    """The help rows of ``option``: its line and the continuation lines up to the next option."""
    lines = help_text.splitlines()
    start = next(i for i, ln in enumerate(lines) if re.search(rf"│[\s*]+{re.escape(option)}\b", ln))
    end = start + 1
    while end < len(lines) and not re.match(r"│[\s*]+-", lines[end]) and not lines[end].startswith("╰"):
        end += 1
    return _flat("\n".join(lines[start:end]))


def test_every_help_renders_flags_as_flags_and_shows_defaults():
    commands = _commands()
    assert len(commands) >= 15
    seen_defaults = set()
    for path, cmd in commands:
        res = invoke(*path, "--help")
        assert res.exit_code == 0, (path, res.output)
        out = res.output
        assert "<bool>" not in out and "<list[" not in out, (path, out)
        assert "Usage:" in out
        for p in cmd.params:
            long = [o for o in p.opts if o.startswith("--")]
            if getattr(p, "is_flag", False) and long:  # a flag: nothing between its names and its help
                row = next(ln for ln in out.splitlines() if re.search(rf"│[\s*]+{re.escape(long[0])}\b", ln))
                assert "<" not in row, (path, row)
        for option, want in DEFAULTS.get(path, {}).items():
            assert want in _block(out, option), (path, option, _block(out, option))
            seen_defaults.add(option)
    assert {"--hops", "--k-core", "--seed", "--epochs", "--port", "--top-k"} <= seen_defaults
    # repeatable options are named by what they take
    assert "--rdf FILE" in _flat(invoke("ingest", "movielens", "--help").output)
    assert "--predicates IRI" in _flat(invoke("enrich", "dbpedia", "--help").output)
    assert "NAME[:TYPE]=VALUE" in invoke("cypher", "--help").output
    rec = _flat(invoke("recommend", "--help").output)
    assert "--items -i" in rec and "--user -u" in rec and "-k" in rec


def test_version():
    res = invoke("--version")
    assert res.exit_code == 0 and res.output.strip() == f"persona-kg {__version__}"


# --------------------------------------------------------------------------------------------- cypher


@pytest.fixture
def demo_store(store_uri: str) -> str:
    res = invoke("ingest", "demo", "--users", "30", "--items", "40", "--store", store_uri, "--quiet")
    assert res.exit_code == 0, res.output
    return store_uri


@pytest.mark.parametrize("store_uri", BACKENDS, indirect=True)
def test_cypher_file_stdin_example_and_list(demo_store: str, tmp_path: Path):
    uri = demo_store
    q = tmp_path / "count.cypher"
    q.write_text("// how many users\nMATCH (u:User) WHERE u.id STARTS WITH $p RETURN count(u) AS n;\n")
    res = invoke("cypher", "--file", str(q), "--param", "p:str=U", "--json", "--store", uri)
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout) == [{"n": 30}]
    res = invoke("cypher", "--file", "-", "--json", "--store", uri, input="MATCH (i:Item) RETURN count(i) AS n\n")
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout) == [{"n": 40}]
    # a shipped example for both stores, with its parameter
    res = invoke("cypher", "--example", "persona_drivers", "--param", "user=U00001", "--json", "--store", uri)
    assert res.exit_code == 0, res.output
    (row,) = json.loads(res.stdout)
    assert row["train_items"] > 0
    res = invoke("cypher", "--example", "taste_overlap", "--param", "user=U00001", "--store", uri)
    assert res.exit_code == 0, res.output
    # a missing parameter, an unknown example, the wrong backend: one line, exit 2, nothing run
    res = invoke("cypher", "--example", "persona_drivers", "--store", uri)
    assert res.exit_code == 2 and "needs $user" in res.output and "--param user=" in res.output
    res = invoke("cypher", "--example", "nope", "--store", uri)
    assert res.exit_code == 2 and "no example named 'nope'" in res.output
    if uri.startswith("embedded:"):
        res = invoke("cypher", "--example", "similar_items", "--param", "item=B000000001", "--store", uri)
        assert res.exit_code == 2
        assert res.output.strip() == "error: example 'similar_items' exists only for neo4j"
    # exactly one source of the statement
    for args in ([], ["MATCH (n) RETURN n", "--file", str(q)], ["--file", str(q), "--example", "taste_overlap"]):
        res = invoke("cypher", *args, "--store", uri)
        assert res.exit_code == 2 and "exactly one of QUERY, --file FILE or --example NAME" in res.output, args
    res = invoke("cypher", "--file", str(tmp_path / "absent.cypher"), "--store", uri)
    assert res.exit_code == 2 and "no such file" in res.output
    # the list: name, backends, parameters, description
    res = invoke("cypher", "--list-examples", "--json", "--store", uri)
    assert res.exit_code == 0, res.output
    listed = {r["name"]: r for r in json.loads(res.stdout)}
    assert set(listed) >= {"persona_drivers", "similar_items", "similar_users", "taste_overlap"}
    assert listed["similar_items"]["backends"] == "neo4j"
    assert listed["similar_users"]["backends"] == "embedded, neo4j"
    assert listed["persona_drivers"]["backends"] == "both" and listed["persona_drivers"]["params"] == "$user"
    assert listed["similar_items"]["description"].startswith("Items whose text embedding")
    table = invoke("cypher", "--list-examples", "--store", uri)
    assert table.exit_code == 0 and "similar_users" in table.output and "exists" not in table.output


def test_example_variant_is_picked_per_backend():
    from persona.kgstore import queries

    assert "queryNodes" in queries.example("similar_users", "neo4j")
    assert "array_cosine_similarity" in queries.example("similar_users", "embedded")
    assert queries.example("taste_overlap", "neo4j") == queries.example("taste_overlap", "embedded")
    with pytest.raises(KeyError, match="exists only for neo4j"):
        queries.example("similar_items", "embedded")


@pytest.mark.parametrize("store_uri", BACKENDS, indirect=True)
def test_typed_params_reach_the_database(demo_store: str):
    res = invoke(
        "cypher", "RETURN $k AS k, $name AS name, $x AS x, $flag AS flag, $ids AS ids, $plain AS plain",
        "--param", "k:int=5", "--param", "name:str=007", "--param", "x:float=1.5", "--param", "flag:bool=true",
        "--param", 'ids:list=["a","b"]', "--param", "plain=007", "--json", "--store", demo_store,
    )
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout) == [{"k": 5, "name": "007", "x": 1.5, "flag": True, "ids": ["a", "b"], "plain": "007"}]
    bad = invoke("cypher", "RETURN $k AS k", "--param", "k:int=five", "--store", demo_store)
    assert bad.exit_code == 2
    assert bad.output.strip() == "error: --param 'k:int=five': 'five' is not an int (e.g. 5)"


@pytest.mark.parametrize(
    ("text", "want"),
    [
        ("k:int=5", ("k", 5)),
        ("k:int=-3", ("k", -3)),
        ("name:str=007", ("name", "007")),
        ("x:float=1.5", ("x", 1.5)),
        ("flag:bool=true", ("flag", True)),
        ("flag:bool=No", ("flag", False)),
        ('ids:list=["a","b"]', ("ids", ["a", "b"])),
        ('m:map={"a":1}', ("m", {"a": 1})),
        ("v:json=null", ("v", None)),
        ("k=5", ("k", 5)),
        ("k=007", ("k", "007")),
        ("k=[1,2]", ("k", [1, 2])),
        ("id=x'}) DETACH DELETE n //", ("id", "x'}) DETACH DELETE n //")),
        ("s:str=a=b", ("s", "a=b")),
    ],
)
def test_parse_param(text: str, want: tuple):
    from persona.workflows import parse_param

    assert parse_param(text) == want


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("k:int=5.5", "is not an int"),
        ("x:float=abc", "is not a float"),
        ("x:float=inf", "is not a finite float"),
        ("b:bool=maybe", "is not a bool"),
        ("ids:list=a,b", "is not a JSON list"),
        ("ids:list={}", "is not a JSON list"),
        ("m:map=[1]", "is not a JSON object"),
        ("k:integer=5", "unknown type 'integer'"),
        (":int=5", "name before ':' is empty"),
        ("novalue", "expected NAME=VALUE"),
    ],
)
def test_parse_param_refuses_bad_values(text: str, message: str):
    from persona.workflows import parse_param

    with pytest.raises(ConfigError, match=re.escape(message)):
        parse_param(text)


# --------------------------------------------------------------------------------------------- output


def test_numbers_read_at_a_glance():
    from persona._ui import fmt, format_rows, kind_of

    rows = [
        {"stage": "retriever", "HR@10": 0.123412, "fit_seconds": 77.94, "attention": 0.15834, "rating": 2.0,
         "flag": True, "n": 12345, "ts": 1521528772, "x": 2.0},
        {"stage": "reranked", "HR@10": 0.5, "fit_seconds": 0.04, "attention": 1 / 3, "rating": 4.5,
         "flag": False, "n": 7, "ts": 1, "x": 0.1234567},
    ]
    cols = list(rows[0])
    assert format_rows(rows, cols) == [
        ["retriever", "0.1234", "77.9 s", "0.158", "2", "true", "12,345", "1521528772", "2"],
        ["reranked", "0.5000", "0.0 s", "0.333", "4.5", "false", "7", "1", "0.1235"],
    ]
    assert [kind_of(c) for c in ("ndcg@10_mean", "personas_s", "cosine", "r.rating", "final loss", "title")] == [
        "metric", "seconds", "weight", "rating", "metric", None,
    ]
    assert fmt(float("nan")) == "n/a" and fmt(None) == ""
    assert fmt('{"U-I": 0.158341, "U-I-Genre": 0.5}', "weight") == '{"U-I": 0.158, "U-I-Genre": 0.500}'
    vec = fmt([0.123456] * 64)
    assert vec.endswith(", … (64 values)]") and len(vec) <= 60 and "0.123, 0.123" in vec
    assert run_rows({"personas_s": 77.91, "load_s": 0.04}, {"RECOMMENDED": 2000}) == {
        "personas time": 77.91, "loading time": 0.04, "total time": pytest.approx(77.95), "RECOMMENDED written": 2000,
    }


def _render(renderable, width: int = 60) -> str:
    buf = io.StringIO()
    Console(file=buf, width=width, color_system=None, legacy_windows=False).print(renderable)
    return buf.getvalue()


def test_tables_fit_and_titles_are_not_cut_mid_word():
    from persona._ui import table

    long_store = "embedded:/home/someone/projects/recsys/demo.db"
    out = _render(table(f"nodes in {long_store}", {"User": 943, "Item": 1682}, names=("label", "nodes")))
    lines = out.splitlines()
    assert lines[0].rstrip() == f"nodes in {long_store}"  # one line, although the table is narrow
    assert "│ User  │   943 │" in out and "│ Item  │ 1,682 │" in out
    run = _render(table("run", run_rows({"personas_s": 77.91}, {"RECOMMENDED": 2000}), caption="run dir: .persona/runs/x"))
    assert "│ personas time       │ 77.9 s │" in run and "│ RECOMMENDED written │  2,000 │" in run
    assert run.splitlines()[-1].rstrip() == "run dir: .persona/runs/x"
    # a cell of ids wraps at spaces, never inside an id, while the table fits the width
    row = {"session": " ".join(f"B{i:09d}" for i in range(12)), "score": 0.5}
    out = _render(table(None, [row]), width=40)
    assert all(len(ln) <= 40 for ln in out.splitlines())
    assert all(re.fullmatch(r"(B\d{9} ?)+", cell.strip()) for ln in out.splitlines()[3:-1]
               for cell in [ln.split("│")[1]] if cell.strip())


def test_experiment_table_rows():
    import pandas as pd

    summary = pd.DataFrame([
        {"stage": "retriever", "user_emb": "kg", "item_emb": "text", "hr@10_mean": 0.56, "hr@10_std": 0.00707,
         "ndcg@10_mean": 0.2981, "ndcg@10_std": 0.0095, "mrr_mean": 0.235, "mrr_std": 0.0147,
         "hr@100_mean": 0.9925, "hr@100_std": float("nan"), "n_seeds": 2},
    ])
    assert experiment_rows(summary) == [{
        "stage": "retriever", "retriever": "kg/text", "HR@10": "0.5600\n± 0.0071", "NDCG@10": "0.2981\n± 0.0095",
        "MRR": "0.2350\n± 0.0147", "HR@100": "0.9925",
    }]


def test_progress_rows_count_their_own_stage():
    from persona._ui import StageCounter

    rows: dict[str, list] = {}

    def add(key, desc, done, total):
        rows[key] = [desc, done, total]

    def update(key, done, total):
        rows[key][1] = done
        if total is not None:
            rows[key][2] = total

    p = StageCounter(add, update, lambda key: rows.pop(key))
    total = 943 + 1682 + 100_000
    p("nodes User", 943, total)  # the stores report a count over all stages…
    p("nodes Item", 943 + 1682, total)
    p("rels RATED", 50_000, total)
    p("rels RATED", total, total)
    p("encoding texts", 64, 120)  # …other work reports per description
    p("encoding texts", 120, 120)
    got = list(rows.values())
    assert got == [
        ["total", total, total],
        ["nodes User", 943, 943],
        ["nodes Item", 1682, 1682],
        ["rels RATED", 100_000, 100_000],
        ["encoding texts", 120, 120],
    ]


def test_quiet_third_party_is_scoped_and_undone_by_verbose(monkeypatch: pytest.MonkeyPatch):
    for k in ("TRANSFORMERS_VERBOSITY", "HF_HUB_DISABLE_PROGRESS_BARS", "TQDM_DISABLE"):
        monkeypatch.delenv(k, raising=False)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        quiet_third_party(verbose=False)
        assert os.environ["TQDM_DISABLE"] == "1" and os.environ["TRANSFORMERS_VERBOSITY"] == "error"
        warnings.warn("`torch.jit.script` is deprecated. Please switch to `torch.compile`", FutureWarning)
        warnings.warn("something else", FutureWarning)
        assert [str(w.message) for w in caught] == ["something else"]
        quiet_third_party(verbose=True)
        assert "TQDM_DISABLE" not in os.environ
        warnings.warn("`torch.jit.script` is deprecated. Please switch to `torch.compile`", FutureWarning)
        assert len(caught) == 2


@pytest.mark.slow
def test_train_prints_no_third_party_warning_or_bar(tmp_path: Path):
    """`persona train` in a fresh process: the text model loads (empty cache), torch_geometric is
    imported, and neither a FutureWarning nor a tqdm bar reaches stdout or stderr."""
    (tmp_path / "persona.toml").write_text(
        "[hdgi]\nepochs = 2\nhidden = 16\n[rec]\nepochs = 1\nhidden = 16\nbatch_size = 256\n"
    )
    env = {k: v for k, v in os.environ.items()
           if k not in ("TRANSFORMERS_VERBOSITY", "HF_HUB_DISABLE_PROGRESS_BARS", "TQDM_DISABLE", "PYTHONWARNINGS")}
    env.update({"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "OMP_NUM_THREADS": "1"})
    store = f"embedded:{tmp_path / 'kg.db'}"

    def persona(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "persona.cli", *args], cwd=tmp_path, env=env,
                              capture_output=True, text=True, timeout=300, check=False)

    ing = persona("ingest", "demo", "--users", "60", "--items", "40", "--store", store, "-q")
    assert ing.returncode == 0, ing.stderr
    res = persona("train", "--epochs", "1", "--store", store)
    assert res.returncode == 0, res.stderr
    both = res.stdout + res.stderr
    assert "HR@10" in res.stdout
    assert "Warning" not in both and "warn" not in both.lower(), both
    assert not re.search(r"\d+%\||it/s\]|s/it\]|█", both), both
    assert "Loading weights" not in both
