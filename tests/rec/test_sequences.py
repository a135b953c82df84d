"""Interactions: index maps, split inputs, validation errors, sessions, leave-one-out."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from persona.rec import Interactions, leave_one_out, pad_left, split_sessions


def _frame() -> pd.DataFrame:
    rows = [
        ("bob", "m2", 0, "train"),
        ("bob", "m1", 1, "train"),
        ("bob", "m3", 2, "train"),
        ("bob", "m4", 3, "valid"),
        ("bob", "m5", 4, "test"),
        ("ann", "m3", 1, "train"),
        ("ann", "m1", 0, "train"),  # rows out of order on purpose
        ("cid", "m5", 0, "train"),
        ("cid", "m2", 1, "train"),  # < 3 interactions: all train
    ]
    return pd.DataFrame(rows, columns=["user", "item", "pos", "split"])


def test_index_maps_and_sequences() -> None:
    inter = Interactions.from_frame(_frame())
    assert inter.users == ["ann", "bob", "cid"]
    assert inter.items == ["m1", "m2", "m3", "m4", "m5"]
    assert inter.item_index["m1"] == 1 and inter.item_id(5) == "m5"
    assert (inter.n_users, inter.n_items, len(inter)) == (3, 5, 9)
    assert inter.seqs[0].tolist() == [1, 3]  # ann ordered by pos
    assert inter.seqs[1].tolist() == [2, 1, 3, 4, 5]
    assert inter.codes[1].tolist() == [0, 0, 0, 1, 2]


def test_inputs_per_split() -> None:
    inter = Interactions.from_frame(_frame())
    v = inter.eval_set("valid")
    assert v.users.tolist() == [1]  # only bob has targets
    assert v.inputs[0].tolist() == [2, 1, 3] and v.targets.tolist() == [4]
    t = inter.eval_set("test")
    assert t.inputs[0].tolist() == [2, 1, 3, 4] and t.targets.tolist() == [5]
    assert t.history[0].tolist() == [2, 1, 3, 4]
    a = inter.eval_set("all", ["cid", "bob"])
    assert [x.tolist() for x in a.inputs] == [[5, 2], [2, 1, 3, 4, 5]]
    assert a.targets.tolist() == [0, 0]
    allv = inter.eval_set("valid", with_target=False)
    assert len(allv) == 3 and allv.targets.tolist() == [0, 4, 0]
    assert inter.targets("test").tolist() == [0, 5, 0]


def test_train_sequences_use_train_split_only() -> None:
    inter = Interactions.from_frame(_frame())
    users, seqs = inter.train_sequences()
    assert users.tolist() == [0, 1, 2]
    assert [s.tolist() for s in seqs] == [[1, 3], [2, 1, 3], [5, 2]]


def test_vectors_aligned_to_indices() -> None:
    inter = Interactions.from_frame(_frame())
    mat, missing = inter.item_matrix({"m1": np.array([1.0, 0.0]), "m3": np.array([0.0, 1.0])})
    assert mat.shape == (6, 2)
    assert mat[0].tolist() == [0.0, 0.0] and mat[1].tolist() == [1.0, 0.0] and mat[3].tolist() == [0.0, 1.0]
    assert missing == ["m2", "m4", "m5"]
    assert mat[2].tolist() == [0.5, 0.5]  # missing -> mean of the given
    umat, umiss = inter.user_matrix({"bob": np.ones(3), "ann": np.zeros(3), "cid": np.full(3, 2.0)})
    assert umat[:, 0].tolist() == [0.0, 1.0, 2.0] and umiss == []
    with pytest.raises(ValueError, match="differ in dimension"):
        inter.user_matrix({"bob": np.ones(3), "ann": np.zeros(2)})


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d.drop(columns=["pos"]), r"missing column\(s\) \['pos'\]"),
        (
            lambda d: d.assign(split=d["split"].replace({"test": "holdout"})),
            r"record 4 .*'holdout' is not one of",
        ),
        (
            lambda d: d.assign(pos=d["pos"].where(d.index != 1, 0)),
            r"record 1: user 'bob' has two interactions at pos 0",
        ),
        (
            lambda d: d.assign(split=d["split"].where(d.index != 0, "test").where(d.index != 4, "train")),
            r"user 'bob' .*expected train < valid < test",
        ),
        (lambda d: d.assign(split=d["split"].where(d.index != 2, "valid")), r"user 'bob' has 2 'valid' rows"),
        (
            lambda d: d.assign(pos=d["pos"].astype(object).where(d.index != 3, "x")),
            r"record 3 \(user 'bob'\): pos 'x' is not an integer",
        ),
    ],
)
def test_bad_input_names_the_record(mutate, message: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError, match=message):
        Interactions.from_frame(mutate(_frame()), source="ratings.csv")


def test_bad_input_names_the_source() -> None:
    with pytest.raises(ValueError, match=r"^ratings.csv: no interactions"):
        Interactions.from_frame(_frame().iloc[:0], source="ratings.csv")


def test_pad_left_keeps_most_recent() -> None:
    out = pad_left([np.array([1, 2, 3, 4]), np.array([7]), np.array([], dtype=np.int64)], max_len=3)
    assert out.tolist() == [[2, 3, 4], [0, 0, 7], [0, 0, 0]]
    assert pad_left([np.array([], dtype=np.int64)], max_len=3).tolist() == [[0]]


def test_split_sessions_by_gap() -> None:
    df = pd.DataFrame(
        {
            "user": ["a", "a", "a", "a", "b", "b", "a"],
            "pos": [0, 1, 2, 3, 0, 1, 4],
            "ts": [0, 100, 400, 450, 1000, 5000, 1051],
        }
    ).sample(frac=1.0, random_state=3)  # row order must not matter
    out = split_sessions(df, gap_s=300)
    got = out.sort_values(["user", "pos"])["session"].tolist()
    # a: 0,100 | 400 (gap 300 is not > 300) ,450 | 1051 (gap 601); b: 1000 | 5000
    assert got == [0, 0, 0, 0, 1, 0, 1]
    assert out.index.tolist() == df.index.tolist()
    dt = df.assign(ts=pd.to_datetime(df["ts"], unit="s"))
    assert split_sessions(dt, gap_s=300)["session"].tolist() == out["session"].tolist()


def test_split_sessions_rejects_time_going_backwards() -> None:
    df = pd.DataFrame({"user": ["a", "a"], "pos": [0, 1], "ts": [10, 5]})
    with pytest.raises(ValueError, match="user 'a': 'ts' decreases along 'pos'"):
        split_sessions(df, gap_s=60)


def test_session_mode_inputs_are_the_current_session() -> None:
    df = pd.DataFrame(
        {
            "user": ["a"] * 6,
            "item": ["x1", "x2", "x3", "x4", "x5", "x6"],
            "ts": [0, 10, 10_000, 10_010, 10_020, 50_000],
        }
    )
    df = split_sessions(leave_one_out(df), gap_s=3600)
    inter = Interactions.from_frame(df, session_col="session")
    assert inter.session_mode
    _users, seqs = inter.train_sequences()
    assert [s.tolist() for s in seqs] == [[1, 2], [3, 4]]  # one sequence per session, train items only
    v = inter.eval_set("valid")  # target x5 in session 1 after x3, x4
    assert (
        v.inputs[0].tolist() == [3, 4] and v.history[0].tolist() == [1, 2, 3, 4] and v.targets.tolist() == [5]
    )
    t = inter.eval_set("test")  # target x6 opens session 2: empty input, full history seen
    assert t.inputs[0].tolist() == [] and t.history[0].tolist() == [1, 2, 3, 4, 5]
    a = inter.eval_set("all")
    assert a.inputs[0].tolist() == [6]


def test_leave_one_out_breaks_ties_like_ingest() -> None:
    # equal timestamps keep the record (row) order, the rule `persona ingest` stores; then item id
    df = pd.DataFrame({"user": [1, 1, 1, 1, 2], "item": ["c", "a", "b", "d", "z"], "ts": [5, 5, 5, 9, 1]})
    out = leave_one_out(df)
    assert out["item"].tolist() == ["c", "a", "b", "d", "z"]
    assert out["split"].tolist() == ["train", "train", "valid", "test", "train"]
    assert out["pos"].tolist() == [0, 1, 2, 3, 0]
    both = leave_one_out(df.assign(rec=[2, 1, 1, 0, 0]), order="rec")  # a and b share a record: item decides
    assert both["item"].tolist() == ["a", "b", "c", "d", "z"]


def test_rec_split_equals_ingest_split_on_ties() -> None:
    from persona.ingest.sequences import finish_interactions

    rng = np.random.default_rng(0)
    rows = [
        (f"u{u}", f"i{i}", int(rng.integers(0, 3)))  # three timestamps for eight items: ties everywhere
        for u in range(40)
        for i in rng.choice(50, size=int(rng.integers(2, 9)), replace=False)
    ]
    df = pd.DataFrame(rows, columns=["user", "item", "ts"]).sample(frac=1.0, random_state=1)
    rec = leave_one_out(df)
    stored = finish_interactions(
        pd.DataFrame({"src": df["user"], "dst": df["item"], "rating": 1.0, "ts": df["ts"], "order": np.arange(len(df))}),
        0,
        {},
    )
    assert len(rec) == len(stored) == len(df)
    key = ["user", "item", "pos", "split"]
    got = rec[key].sort_values(["user", "pos"]).reset_index(drop=True)
    want = stored.rename(columns={"src": "user", "dst": "item"})[key].sort_values(["user", "pos"]).reset_index(drop=True)
    assert got.equals(want)
    assert (df.groupby("user")["ts"].nunique() < df.groupby("user").size()).mean() > 0.5  # the ties are real
    assert set(got["split"]) == {"train", "valid", "test"}


def test_fingerprint_tracks_content() -> None:
    a = Interactions.from_frame(_frame())
    b = Interactions.from_frame(_frame())
    c = Interactions.from_frame(_frame().assign(item=lambda d: d["item"].replace({"m5": "m6"})))
    assert a.fingerprint() == b.fingerprint() != c.fingerprint()
