"""Runs live in the store they trained on: two stores in one work folder never share a model, a
mismatched run is refused naming both, every write-back names its run, SIMILAR and HELD_OUT are right."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from persona import pipeline, runs
from persona.config import load_settings
from persona.errors import ModelError, NotFoundError
from persona.ingest import generate_demo
from persona.kgstore import open_store
from persona.similarity import top_k_cosine
from persona.workflows import load_frames

pytestmark = pytest.mark.slow
FAST = {"epochs": 2, "hidden": 32, "blocks": 1, "eval_every": 1}


def _settings(uri: str, workdir: Path):
    s = load_settings(None, store=uri, workdir=str(workdir))
    s.rec = s.rec.model_copy(update=FAST)
    s.hdgi = s.hdgi.model_copy(update={"epochs": 5, "hidden": 32})
    return s


def _ingest(s, seed: int) -> None:
    load_frames(s, lambda: generate_demo(users=120, items=80, seed=seed))


@pytest.fixture(scope="module")
def two_stores(tmp_path_factory) -> dict:
    tmp = tmp_path_factory.mktemp("runs")
    work = tmp / "work"
    out = {}
    for name, seed in (("a", 0), ("b", 5)):
        s = _settings(f"embedded:{tmp / (name + '.db')}", work)
        _ingest(s, seed)  # the two stores share item and user ids (B000000001…, U00001…)
        out[name] = (s, pipeline.train(s))
    return out


def _written(s, user: str) -> list[str]:
    with open_store(s.store, read_only=True) as st:
        rows = st.run("MATCH (:User {id: $u})-[r:RECOMMENDED]->(i:Item) RETURN i.id AS i, r.run AS run ORDER BY r.rank", {"u": user})
    return [r["i"] for r in rows]


def test_each_store_answers_with_its_own_run(two_stores):
    for name in ("a", "b"):
        s, _rep = two_stores[name]
        recs = pipeline.recommend_user(s, "U00001", k=10)
        assert recs["item"].tolist() == _written(s, "U00001"), name
    (sa, ra), (sb, rb) = two_stores["a"], two_stores["b"]
    assert ra.run_dir != rb.run_dir and ra.run_dir.parent.parent != rb.run_dir.parent.parent
    assert pipeline.recommend_user(sa, "U00001")["item"].tolist() != pipeline.recommend_user(sb, "U00001")["item"].tolist()


def test_served_list_is_the_evaluated_ranking_of_the_run(two_stores):
    # `persona recommend USER` and the evaluation's rank function agree item by item on the run's models,
    # with the input serving uses (the whole history)
    from persona.rec import two_stage_ranks
    from persona.rec.evaluate import seen_mask

    s, _rep = two_stores["a"]
    served = pipeline.recommend_user(s, "U00001", k=10)
    two, _run, _folder = pipeline.load_recommender(s)
    inter = two.retriever.interactions
    es = inter.eval_set("all", ["U00001"], with_target=False)
    a, b = two.retriever.score_eval_set(es), two.reranker.score_eval_set(es)
    excl = seen_mask(es.history, a.shape[1])
    targets = torch.as_tensor(inter.encode_items(served["item"].tolist()))
    n = len(targets)
    _, final = two_stage_ranks(a.expand(n, -1), b.expand(n, -1), targets, excl.expand(n, -1), two.candidates,
                               two.weight)
    assert final.tolist() == list(range(n)) and served["rank"].tolist() == list(range(1, n + 1))


def test_runs_are_recorded_and_everything_names_its_run(two_stores):
    s, rep = two_stores["a"]
    with open_store(s.store, read_only=True) as st:
        recorded = runs.list_runs(st)
        kinds = [r.kind for r in recorded]
        assert kinds == ["train", "personas"]
        train = recorded[0]
        assert train.id == rep.run_id and train.store_id == st.identity() and train.persona_run == recorded[1].id
        assert train.metrics["retriever"]["hr@10"] == pytest.approx(rep.metrics["retriever"]["hr@10"])
        for q in ("MATCH ()-[r:RECOMMENDED]->() RETURN DISTINCT r.run AS run",
                  "MATCH ()-[r:SIMILAR]->() RETURN DISTINCT r.run AS run",
                  "MATCH ()-[r:HELD_OUT]->() RETURN DISTINCT r.run AS run"):
            assert st.run(q) == [{"run": rep.run_id}], q
        personas = st.run("MATCH (u:User) RETURN DISTINCT u.persona_run AS run")
        assert personas == [{"run": train.persona_run}]


def test_held_out_ranks_reproduce_the_run_metrics(two_stores):
    s, rep = two_stores["a"]
    with open_store(s.store, read_only=True) as st:
        rows = pd.DataFrame(st.run("MATCH (u:User)-[h:HELD_OUT]->(i:Item) RETURN u.id AS u, i.id AS i, "
                                   "h.retriever_rank AS rr, h.final_rank AS fr"))
        tests = pd.DataFrame(st.run("MATCH (u:User)-[r:RATED {split: 'test'}]->(i:Item) RETURN u.id AS u, i.id AS i"))
    assert len(rows) == rep.metrics["retriever"]["n_users"]
    assert set(map(tuple, rows[["u", "i"]].values)) <= set(map(tuple, tests.values))  # the test items
    assert (rows["rr"] <= 10).mean() == pytest.approx(rep.metrics["retriever"]["hr@10"])
    assert (rows["fr"] <= 10).mean() == pytest.approx(rep.metrics["final"]["hr@10"])


def test_similar_edges_are_each_nodes_top_k(two_stores):
    s, _rep = two_stores["a"]
    with open_store(s.store, read_only=True) as st:
        sims = pd.DataFrame(st.run("MATCH (a:User)-[r:SIMILAR]->(b:User) RETURN a.id AS a, b.id AS b, r.score AS s, r.rank AS k"))
        personas = {r["id"]: np.asarray(r["p"]) for r in st.run("MATCH (u:User) RETURN u.id AS id, u.persona AS p")}
        items = st.run("MATCH (a:Item)-[r:SIMILAR]->(b:Item) RETURN count(*) AS n")[0]["n"]
    assert (sims.groupby("a").size() == s.rec.similar_k).all() and items == 80 * s.rec.similar_k
    u = sims["a"].iloc[0]
    mine = sims[sims["a"] == u].sort_values("k")
    cos = {v: float(personas[u] @ personas[v] / np.linalg.norm(personas[u]) / np.linalg.norm(personas[v]))
           for v in personas if v != u}
    best = sorted(cos, key=lambda v: (-cos[v], v))[: s.rec.similar_k]
    assert mine["b"].tolist() == best
    assert mine["s"].tolist() == pytest.approx([cos[v] for v in best], abs=1e-5)
    assert (sims["a"] != sims["b"]).all()


def test_retraining_replaces_a_runs_edges(two_stores, tmp_path):
    s, rep = two_stores["b"]
    again = pipeline.train(s, skip_personas=True)
    with open_store(s.store, read_only=True) as st:
        assert st.run("MATCH ()-[r:SIMILAR]->() RETURN DISTINCT r.run AS run") == [{"run": again.run_id}]
        assert st.run("MATCH ()-[r:RECOMMENDED]->() RETURN count(*) AS n") == [{"n": 120 * s.rec.k}]
        assert [r.kind for r in runs.list_runs(st)] == ["train", "train", "personas"]
    # an older run can still be asked for by id
    assert len(pipeline.recommend_user(s, "U00002", run_id=rep.run_id)) == 10


def test_missing_or_foreign_artefacts_are_refused_naming_both(two_stores, tmp_path):
    (sa, _ra), (_sb, rb) = two_stores["a"], two_stores["b"]
    other = sa.model_copy(update={"workdir": tmp_path / "elsewhere"})
    with pytest.raises(ModelError, match="model files are missing"):
        pipeline.recommend_user(other, "U00001")
    # a run folder overwritten with another store's files
    with open_store(sa.store, read_only=True) as st:
        _run, folder = runs.resolve_run(st, sa.workdir)
    backup = tmp_path / "backup"
    shutil.copytree(folder, backup)
    try:
        meta = json.loads((rb.run_dir / "run.json").read_text())
        (folder / "run.json").write_text(json.dumps(meta))
        with pytest.raises(ModelError, match="refusing to answer with another store's model") as e:
            pipeline.recommend_user(sa, "U00001")
        assert meta["store_id"] in str(e.value) and sa.store in str(e.value)
    finally:
        shutil.rmtree(folder)
        shutil.copytree(backup, folder)
    with pytest.raises(NotFoundError, match="unknown run 'nope'"):
        pipeline.recommend_user(sa, "U00001", run_id="nope")


def test_a_store_without_runs_says_so(tmp_path):
    s = _settings(f"embedded:{tmp_path / 'c.db'}", tmp_path / "w")
    _ingest(s, 1)
    with pytest.raises(ModelError, match="no train run is recorded in"):
        pipeline.recommend_user(s, "U00001")


def test_top_k_cosine_ties_and_zero_vectors():
    ids = ["b", "a", "c", "z"]
    mat = np.array([[1, 0], [1, 0], [0, 1], [0, 0]], dtype=np.float32)
    out = top_k_cosine(ids, mat, 2)
    assert out[out["src"] == "c"]["dst"].tolist() == ["a", "b"]  # equal scores: id order
    assert "z" not in set(out["src"]) | set(out["dst"])
    assert out[out["src"] == "a"][["dst", "rank"]].values.tolist() == [["b", 1], ["c", 2]]
