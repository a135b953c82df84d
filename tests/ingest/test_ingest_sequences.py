"""Chronological positions, leave-one-out splits, k-core and duplicate handling."""

from __future__ import annotations

import pandas as pd
from persona.ingest import assign_split, k_core
from persona.ingest.sequences import drop_duplicate_pairs, finish_interactions


def _by_user(df: pd.DataFrame, user: str) -> list[tuple[str, int, str]]:
    d = df[df["src"] == user].sort_values("pos")
    return list(zip(d["dst"], d["pos"], d["split"]))


def test_assign_split_orders_by_time_and_splits_leave_one_out() -> None:
    df = pd.DataFrame(
        {
            "src": ["u1", "u1", "u1", "u1", "u2", "u2", "u3"],
            "dst": ["a", "b", "c", "d", "a", "b", "c"],
            "ts": [40, 10, 30, 20, 5, 1, 7],
        }
    )
    out = assign_split(df)
    assert _by_user(out, "u1") == [("b", 0, "train"), ("d", 1, "train"), ("c", 2, "valid"), ("a", 3, "test")]
    # fewer than 3 interactions: everything is train
    assert _by_user(out, "u2") == [("b", 0, "train"), ("a", 1, "train")]
    assert _by_user(out, "u3") == [("c", 0, "train")]
    assert out["pos"].dtype == "int64"
    assert len(out) == len(df)


def test_equal_timestamps_break_ties_by_record_order_then_item() -> None:
    df = pd.DataFrame(
        {
            "src": ["u"] * 4,
            "dst": ["z", "y", "x", "w"],
            "ts": [100, 100, 100, 50],
            "order": [1, 2, 2, 3],  # y and x share a record number: item id decides
        }
    )
    out = assign_split(df)
    assert _by_user(out, "u") == [("w", 0, "train"), ("z", 1, "train"), ("x", 2, "valid"), ("y", 3, "test")]


def test_missing_timestamps_use_record_order() -> None:
    df = pd.DataFrame(
        {"src": ["u"] * 3, "dst": ["c", "a", "b"], "ts": pd.array([None, None, None], dtype="Int64")}
    )
    out = assign_split(df, order=None)
    assert _by_user(out, "u") == [("c", 0, "train"), ("a", 1, "valid"), ("b", 2, "test")]


def test_assign_split_custom_columns_and_empty() -> None:
    df = pd.DataFrame({"user": ["u", "u", "u"], "item": ["a", "b", "c"], "time": [3, 2, 1]})
    out = assign_split(df, user="user", item="item", ts="time", order=None)
    assert out["item"].tolist() == ["c", "b", "a"]
    assert out["split"].tolist() == ["train", "valid", "test"]
    empty = assign_split(pd.DataFrame({"src": [], "dst": [], "ts": []}))
    assert empty.empty and {"pos", "split"} <= set(empty.columns)


def test_k_core_iterates_to_a_fixed_point() -> None:
    # item "x" has 2 users; removing it drops u3 below 2, which drops item "y" below 2 …
    rows = [
        ("u1", "a"),
        ("u1", "b"),
        ("u2", "a"),
        ("u2", "b"),
        ("u3", "x"),
        ("u3", "y"),
        ("u4", "y"),
        ("u4", "a"),
    ]
    df = pd.DataFrame(rows, columns=["src", "dst"])
    out = k_core(df, 2)
    assert set(zip(out["src"], out["dst"])) == {("u1", "a"), ("u1", "b"), ("u2", "a"), ("u2", "b")}
    # every survivor satisfies the core property
    assert out["src"].value_counts().min() >= 2 and out["dst"].value_counts().min() >= 2
    assert k_core(df, 0) is df
    assert k_core(df, 3).empty


def test_duplicates_keep_the_first_interaction_chronologically() -> None:
    df = pd.DataFrame(
        {
            "src": ["u", "u", "u", "v"],
            "dst": ["a", "b", "a", "a"],
            "rating": [1.0, 2.0, 5.0, 3.0],
            "ts": [30, 20, 10, 10],
            "order": [1, 2, 3, 4],
        }
    )
    kept, n = drop_duplicate_pairs(df)
    assert n == 1
    assert sorted(zip(kept["src"], kept["dst"], kept["rating"])) == [
        ("u", "a", 5.0),
        ("u", "b", 2.0),
        ("v", "a", 3.0),
    ]
    stats: dict = {}
    rated = finish_interactions(df, 0, stats)
    assert stats["duplicates"] == 1 and stats["k_core_removed"] == 0
    assert list(rated.columns) == ["src", "dst", "rating", "ts", "pos", "split"]
    assert rated[rated.src == "u"][["dst", "ts", "pos"]].values.tolist() == [["a", 10, 0], ["b", 20, 1]]
