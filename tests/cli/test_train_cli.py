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
    assert sorted(per_seed.seed.unique()) == [0, 1] and set(per_seed.stage) == {"retriever", "reranked", "final"}
    assert per_seed["hr@10"].between(0, 1).all()
    md = (tmp_path / "t3/results.md").read_text()
    assert "KG persona" in md and "Item text (all-MiniLM-L6-v2)" in md and "±" in md and "HDGI seed" in md
    assert (tmp_path / "t3/results.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "[1/4] seed 0: reranker (none, random)" in res.output  # one line before each model, with its place
    # per-seed personas: seed 0's are the store's, seed 1's are learned with seed 1; both cached by seed
    assert "personas (kg): HDGI seed 1" in res.output and "personas (kg): HDGI seed 0" not in res.output
    cached = sorted(p.name.split("-")[1] for p in (tmp_path / "t3/vectors").glob("kg-seed*.npz"))
    assert cached == ["seed0", "seed1"]

    # the same command again: every (row, seed) is done, so nothing is trained and the personas are reused
    before = (tmp_path / "t3/results.csv").read_bytes()
    cmd = ["experiment", "--seeds", "2", "--variants", "none/random,kg/text", "--out", "t3", "-s", store, "-q"]
    again = runner.invoke(app, cmd)
    assert again.exit_code == 0, again.output
    assert "personas: reusing run" in again.output and "seed 0: reranker" not in again.output
    assert "HDGI seed 1" not in again.output  # nothing relearned
    assert (tmp_path / "t3/results.csv").read_bytes() == before and "kg/text" in again.output
    # other settings would mix results: refused in one line naming --fresh
    other = runner.invoke(app, [*cmd, "--epochs", "3"])
    assert other.exit_code == 2 and "--fresh" in other.output and "Traceback" not in other.output
    assert (tmp_path / "t3/results.csv").read_bytes() == before


def test_experiment_baseline_rows_on_a_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """The rows a user tries first run from the store: popularity, LightGCN, HDGI on interactions only;
    the final lists carry the session-agreement diagnostic (the demo's items have genres and categories)."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "persona.toml").write_text(
        "[hdgi]\nepochs = 3\nhidden = 16\n[rec]\nepochs = 2\nhidden = 16\neval_every = 1\nbatch_size = 256\n"
    )
    store = "embedded:exp.db"
    assert runner.invoke(app, ["ingest", "demo", "--users", "60", "--items", "40", "-s", store, "-q"]).exit_code == 0
    res = runner.invoke(app, ["experiment", "--seeds", "1", "--variants", "none/random,popularity,lightgcn/text,kg_ui/text",
                              "--out", "t3", "-s", store, "-q"])
    assert res.exit_code == 0, res.output
    assert "personas (kg_ui): HDGI seed 0, meta-paths U-I, U-I-U" in res.output and "LightGCN user vectors: seed 0" in res.output
    import pandas as pd

    per_seed = pd.read_csv(tmp_path / "t3/results.csv")
    assert set(zip(per_seed.user_emb, per_seed.item_emb)) == {
        ("none", "random"), ("popularity", "none"), ("lightgcn", "text"), ("kg_ui", "text")}
    fin = per_seed[per_seed.stage == "final"]
    assert fin["attr_agreement@10"].between(0, 1).all() and fin["coverage@10"].between(0, 1).all()
    md = (tmp_path / "t3/results.md").read_text()
    assert "Most popular" in md and "LightGCN" in md and "interactions only" in md
    assert "LLM row" not in md  # no llm row ran: no note about its summaries
    assert sorted(p.name.split("-seed")[0] for p in (tmp_path / "t3/vectors").glob("*.npz")) == ["kg_ui", "lightgcn"]
    # a baseline row is not a model `persona train` serves: one line, before anything is trained
    bad = runner.invoke(app, ["train", "--skip-personas", "-s", store, "-q"], env={"PERSONA_REC__USER_EMB": "kg_ui"})
    assert bad.exit_code == 2 and "baseline row of `persona experiment`" in bad.output and "Traceback" not in bad.output


def test_progress_bars_show_models_and_time_left_and_hide_finished_rows():
    """The bars `persona train` and `persona experiment` draw (on a terminal; `-q` or a pipe: none)."""
    import io

    from rich.console import Console

    from persona._ui import progress_bar
    from persona.rec.experiment import TrainingProgress

    with progress_bar(quiet=True) as none:
        assert none is None
    buf = io.StringIO()
    with progress_bar(console=Console(file=buf, force_terminal=True, width=160)) as bars:
        assert isinstance(bars, TrainingProgress)
        prog = bars._prog
        shown = lambda: [t.description for t in prog.tasks if t.visible]
        bars("HDGI epochs", 57, 200)  # stopped early, short of its total
        bars("encoding texts", 10, 10)  # another stage: the first is over, and this one is finished
        assert shown() == []
        with bars.overall("Table 3", total=4, done=1) as advance:
            prog.refresh()
            assert "1/4" in buf.getvalue() and "estimating time left" in buf.getvalue()
            with bars.model("seed 0: retriever (kg, text)", 5) as on_epoch:
                on_epoch({"epoch": 1, "loss": 0.75, "seconds": 0.1, "valid_ndcg@10": 0.0812})
                on_epoch({"epoch": 2, "loss": 0.5, "seconds": 0.1, "valid_ndcg@10": 0.07})
                prog.refresh()
                out = buf.getvalue()
                assert "2/5" in out and "loss 0.5000 · valid NDCG@10 0.0700 (best 0.0812)" in out
                assert shown() == ["Table 3", "seed 0: retriever (kg, text)"]
            assert shown() == ["Table 3"]  # a finished model's bar disappears
            advance()
            prog.refresh()
            assert "2/4" in buf.getvalue() and "left" in buf.getvalue().split("2/4")[-1]
        assert shown() == []


def test_train_draws_one_bar_per_model():
    """`persona train` draws one bar per model, retriever and reranker, each fed by its own epoch
    callback (the two train side by side)."""
    from contextlib import contextmanager

    from persona.config import RecSettings
    from persona.pipeline import _model_bars

    seen: list[tuple[str, int]] = []
    open_bars: list[str] = []

    class Bars:
        def __call__(self, desc: str, done: int, total: int) -> None:
            pass

        @contextmanager
        def model(self, description: str, epochs: int):
            open_bars.append(description)
            yield lambda rec: seen.append((description, rec["epoch"]))
            open_bars.remove(description)

        @contextmanager
        def overall(self, description: str, total: int, done: int = 0):
            yield lambda: None

    rs = RecSettings(user_emb="kg", item_emb="text", epochs=3)
    with _model_bars(Bars(), rs) as (on_ret, on_rer):
        # both bars open before the first epoch: the two models may train side by side
        assert on_ret is not None and on_rer is not None
        assert open_bars == ["SASRec retriever (kg, text)", "SASRec reranker (none, random)"]
        for e in (1, 2):  # interleaved epochs land on their own model's bar
            on_ret({"epoch": e, "loss": 1.0, "seconds": 0.1})
            on_rer({"epoch": e, "loss": 1.0, "seconds": 0.1})
        on_ret({"epoch": 3, "loss": 1.0, "seconds": 0.1})
    assert open_bars == []
    assert seen == [("SASRec retriever (kg, text)", 1), ("SASRec reranker (none, random)", 1),
                    ("SASRec retriever (kg, text)", 2), ("SASRec reranker (none, random)", 2),
                    ("SASRec retriever (kg, text)", 3)]
    with _model_bars(Bars(), RecSettings(user_emb="none", item_emb="random")) as (on_ret, on_rer):
        assert on_ret is not None and on_rer is None  # the plain retriever is its own reranker: one bar
    with _model_bars(None, rs) as nothing:
        assert nothing == (None, None)
