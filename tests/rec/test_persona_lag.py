"""The leakage guard of fixed user vectors (``rec.persona_lag``).

A persona learned from all of a user's training items contains every training target; a retriever that
reads it at every position learns to find the targets inside the vector, which fails on the held-out item
(on Amazon-KG Books every text-derived persona lowered validation NDCG@10 from 0.11 to 0.03). With
``persona_lag = m`` the vector is learned without the user's last ``m`` training items and only the
positions that predict those items see it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
import torch

from persona.config import RecSettings
from persona.errors import ConfigError
from persona.learn.export import _drop_last
from persona.learn.summaries import summary_source
from persona.rec import Interactions, SASRecRecommender, split_sessions
from persona.rec._training import training_windows
from persona.rec.inputs import check_persona_lag, mean_text_vectors, persona_interactions
from persona.rec.sasrec import SASRec
from persona.rec.sequences import held_back


def _frame(n_users: int = 6) -> pd.DataFrame:
    rows = []
    for u in range(n_users):
        n = 4 + u  # 4..9 train items
        for p in range(n):
            rows.append((f"u{u}", f"i{(u + p) % 12:02d}", p, "train", p * 60 + (7200 if p >= n - 2 else 0)))
        rows.append((f"u{u}", f"i{(u + n) % 12:02d}", n, "valid", n * 60 + 7200))
        rows.append((f"u{u}", f"i{(u + n + 1) % 12:02d}", n + 1, "test", n * 60 + 7260))
    return pd.DataFrame(rows, columns=["user", "item", "pos", "split", "ts"])


def test_module_shows_the_persona_to_the_last_positions_only() -> None:
    torch.manual_seed(0)
    table = torch.randn(2, 8)
    m = SASRec(20, max_len=6, hidden=16, user_mode="fixed", user_table=table, persona_window=2).eval()
    seq = torch.tensor([[0, 3, 4, 5, 6, 7]])
    a = m(seq, torch.tensor([[1.0] * 8]))
    b = m(seq, torch.tensor([[-2.0] * 8]))
    # slots: 0 = persona, 1..6 = items; the first four item slots never attend to the persona
    assert torch.allclose(a[:, 1:5], b[:, 1:5], atol=1e-6)
    assert not torch.allclose(a[:, 5:], b[:, 5:])
    # persona_on=False hides it from every item slot
    off = torch.tensor([False])
    assert torch.allclose(m(seq, torch.tensor([[1.0] * 8]), off)[:, 1:], m(seq, torch.tensor([[-2.0] * 8]), off)[:, 1:],
                          atol=1e-6)
    # without a window every slot sees it
    full = SASRec(20, max_len=6, hidden=16, user_mode="fixed", user_table=table).eval()
    full.load_state_dict(m.state_dict())
    assert not torch.allclose(full(seq, torch.tensor([[1.0] * 8]))[:, 2:3], full(seq, torch.tensor([[-2.0] * 8]))[:, 2:3])
    with pytest.raises(ValueError, match="persona_window"):
        SASRec(20, persona_window=-1)


@pytest.mark.parametrize("sessions", [False, True])
def test_windows_keep_the_persona_for_the_held_back_targets_only(sessions: bool) -> None:
    df = _frame()
    if sessions:
        df = split_sessions(df, gap_s=3600)
    inter = Interactions.from_frame(df, session_col="session" if sessions else None)
    lag = 2
    w = training_windows(inter, max_len=3, persona=True, lag=lag)
    assert w.persona_on is not None
    users, _ = inter.train_sequences()
    last = {u: k for k, u in enumerate(users.tolist())}
    for row in range(len(w)):
        u = int(w.users[row])
        train = inter.seqs[u][inter.codes[u] == 0]
        back = set(train[-lag:].tolist())
        if bool(w.persona_on[row]):
            # the window ends the user's last training sequence: its last `lag` targets are the held-back items
            seen = [int(t) for t in (*w.targets[row, -lag:].tolist(), int(w.targets[row, 0])) if t]
            assert set(seen) <= back
            if not sessions:
                assert w.targets[row, -lag:].tolist() == train[-lag:].tolist()
            else:  # the last session holds exactly the two held-back items: slot 0 predicts the first
                assert sorted(seen) == sorted(back)
        else:
            assert int(w.targets[row, 0]) == 0  # the persona slot predicts nothing it was learned from
    assert int(w.persona_on.sum()) == len(last)  # one window per user sees the persona
    assert training_windows(inter, 3, persona=True).persona_on is None  # lag 0: the paper's setup
    if not sessions:  # a lag longer than a history: the first item stays in the persona, slot 0 never predicts it
        long = training_windows(inter, max_len=12, persona=True, lag=12)
        assert (long.targets[:, 0] == 0).all() and bool(long.persona_on.all())


def test_vector_sources_leave_out_the_last_items() -> None:
    df = _frame(3)
    text = {i: np.eye(12, dtype=np.float32)[int(i[1:])] for i in df["item"].unique()}
    kept = persona_interactions(df, 2)
    for u, g in df[df["split"] == "train"].groupby("user"):
        assert sorted(kept[kept["user"] == u]["pos"]) == sorted(g["pos"])[:-2]
    got = mean_text_vectors(df, text, lag=2)
    first = df[(df["user"] == "u0") & (df["pos"] < 2)]["item"]
    assert np.allclose(got["u0"], np.mean([text[i] for i in first], axis=0))
    inter = Interactions.from_frame(df)
    _, items = inter.persona_items(2)
    assert [len(x) for x in items] == [2, 3, 4]
    # a short history keeps its first item: 4 train items, lag 6 -> the persona is learned from 1
    assert [len(x) for x in inter.persona_items(6)[1]] == [1, 1, 1]
    assert persona_interactions(df, 6).groupby("user")["pos"].max().tolist() == [0, 0, 0]
    assert len(mean_text_vectors(df, text, lag=6)) == 3
    assert held_back(np.array([1, 2, 5]), 3).tolist() == [0, 1, 3]
    assert persona_interactions(df, 0).equals(df[df["split"] == "train"])
    rated = pa.table({"src": ["a", "a", "a", "b"], "dst": ["x", "y", "z", "x"], "pos": [2, 0, 1, 0]})
    assert _drop_last(rated, 1).to_pydict() == {"src": ["a", "a", "b"], "dst": ["y", "z", "x"], "pos": [0, 1, 0]}
    assert _drop_last(rated, 0) is rated
    assert _drop_last(rated, 5).to_pydict() == {"src": ["a", "b"], "dst": ["y", "x"], "pos": [0, 0]}
    assert summary_source("extractive", 3) == "extractive; lag 3" and summary_source("llm:m") == "llm:m"


def test_retriever_with_the_guard_trains_and_scores() -> None:
    df = _frame()
    inter = Interactions.from_frame(df)
    text = {i: np.random.default_rng(int(i[1:])).normal(size=8).astype(np.float32) for i in inter.items}
    users = {u: np.random.default_rng(k).normal(size=8).astype(np.float32) for k, u in enumerate(inter.users)}
    s = RecSettings(user_emb="meantext", item_emb="text", persona_lag=2, epochs=2, hidden=8, blocks=1, max_len=5)
    m = SASRecRecommender(s, user_emb=users, item_emb=text).fit(inter)
    assert m.module is not None and m.module.persona_window == 2
    assert np.isfinite(m.best_score)
    plain = SASRecRecommender(s.model_copy(update={"user_emb": "none"}), item_emb=text).fit(inter)
    assert plain.module is not None and plain.module.persona_window == 0


def test_stored_personas_of_another_lag_are_refused(store, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from persona import runs
    from persona.kgstore import GraphFrames

    check_persona_lag(store, 0)  # no personas, no run: nothing to compare, lag 0 is what such personas saw
    g = GraphFrames()
    g.add_nodes("User", pd.DataFrame({"id": ["u1"]}))
    store.load(g)
    store.set_node_properties("User", pd.DataFrame({"id": ["u1"], "persona": [[0.1, 0.2]], "persona_run": ["p1"]}))
    check_persona_lag(store, 0)  # personas without a run record saw every training item
    with pytest.raises(ConfigError):
        check_persona_lag(store, 2)
    record = runs.RunRecord(id="p1", kind="personas", created_at=runs.now(), store_id="s",
                            settings={"persona_lag": 3}, metrics={}, artefacts="x", persona_run="p1")
    runs.record_run(store, record, tmp_path)
    check_persona_lag(store, 3)
    with pytest.raises(ConfigError, match=r"persona_lag = 3.*asks for 0.*PERSONA_REC__PERSONA_LAG=3"):
        check_persona_lag(store, 0)


def test_a_model_saved_before_the_guard_loads_as_it_was_trained(tmp_path) -> None:  # type: ignore[no-untyped-def]
    df = _frame()
    inter = Interactions.from_frame(df)
    users = {u: np.random.default_rng(k).normal(size=8).astype(np.float32) for k, u in enumerate(inter.users)}
    s = RecSettings(user_emb="kg", item_emb="random", persona_lag=0, epochs=1, hidden=8, blocks=1, max_len=5)
    m = SASRecRecommender(s, user_emb=users).fit(inter, valid=False)
    m.save(tmp_path / "m.pt")
    payload = torch.load(tmp_path / "m.pt", weights_only=True)
    del payload["settings"]["persona_lag"]  # the file format of earlier versions
    torch.save(payload, tmp_path / "old.pt")
    back = SASRecRecommender.load(tmp_path / "old.pt")
    assert back.settings.persona_lag == 0 and back.module is not None and back.module.persona_window == 0
    assert torch.equal(back.score(inter.users[:2]), m.score(inter.users[:2]))
