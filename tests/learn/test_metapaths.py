"""Meta-path parsing and composition on a graph small enough to compute by hand."""

from __future__ import annotations

import pandas as pd
import pytest
import torch

from persona.learn.export import build_hetero
from persona.learn.metapaths import MetaPathBuilder, default_metapaths, parse_metapath, resolve_metapaths


def tiny():
    """3 users, 4 items, 2 genres, one ALSO_BUY.

    u0 rated i0 i1; u1 rated i1 i2; u2 rated i3. i0,i1 → g0; i2,i3 → g1. i2 also-buy i3.
    """
    nodes = {
        "User": pd.DataFrame({"id": ["u0", "u1", "u2"]}),
        "Item": pd.DataFrame({"id": ["i0", "i1", "i2", "i3"]}),
        "Genre": pd.DataFrame({"id": ["g0", "g1"]}),
    }
    edges = [
        (
            "User",
            "RATED",
            "Item",
            pd.DataFrame({"src": ["u0", "u0", "u1", "u1", "u2"], "dst": ["i0", "i1", "i1", "i2", "i3"]}),
        ),
        (
            "Item",
            "HAS_GENRE",
            "Genre",
            pd.DataFrame({"src": ["i0", "i1", "i2", "i3"], "dst": ["g0", "g0", "g1", "g1"]}),
        ),
        ("Item", "ALSO_BUY", "Item", pd.DataFrame({"src": ["i2"], "dst": ["i3"]})),
    ]
    return build_hetero(nodes, edges)


def as_dict(e) -> dict[tuple[int, int], float]:
    """{(source, target user): path count}."""
    return {(int(s), int(t)): float(w) for (s, t), w in zip(e.edge_index.t().tolist(), e.weight.tolist())}


def build(**kw) -> MetaPathBuilder:
    data, _ = tiny()
    return MetaPathBuilder(data, **{"max_sample": None, "hub_quantile": 1.0, **kw})


def test_user_item_user_counts_match_hand_computation() -> None:
    b = build()
    # M Mᵀ = [[2,1,0],[1,2,0],[0,0,1]] without the diagonal
    assert as_dict(b.edges(parse_metapath("U-I-U"))) == {(1, 0): 1.0, (0, 1): 1.0}


def test_genre_paths_match_hand_computation() -> None:
    b = build()
    # U-I-Genre = M B: u0 → g0 twice; u1 → g0, g1; u2 → g1
    assert as_dict(b.edges(parse_metapath("U-I-Genre"))) == {
        (0, 0): 2.0,
        (0, 1): 1.0,
        (1, 1): 1.0,
        (1, 2): 1.0,
    }
    # (M B)(M B)ᵀ = [[4,2,0],[2,2,1],[0,1,1]] without the diagonal
    assert as_dict(b.edges(parse_metapath("U-I-Genre-I-U"))) == {
        (1, 0): 2.0,
        (0, 1): 2.0,
        (2, 1): 1.0,
        (1, 2): 1.0,
    }


def test_item_item_path_uses_both_directions() -> None:
    b = build()
    # u1 -i2- also_buy -i3- u2 and back through the reverse edge
    assert as_dict(b.edges(parse_metapath("U-I-I-U"))) == {(2, 1): 1.0, (1, 2): 1.0}


def test_direct_hop_keeps_every_training_edge() -> None:
    b = build(max_sample=1)  # caps never apply to direct edges
    assert as_dict(b.edges(parse_metapath("U-I"))) == {
        (0, 0): 1.0,
        (1, 0): 1.0,
        (1, 1): 1.0,
        (2, 1): 1.0,
        (3, 2): 1.0,
    }


def test_hub_pruning_drops_popular_intermediates() -> None:
    # item degrees (users) are 1,2,1,1; the 0.5 quantile is 1, so i1 is a hub and U-I-U loses u0–u1
    assert as_dict(build(hub_quantile=0.5).edges(parse_metapath("U-I-U"))) == {}
    # U-I-Genre-I-U: i1 is pruned as the first intermediate (user side), genres (2 items each) are not,
    # and the second Item position is measured on Genre→Item (1 genre each): u0 then reaches u1 via
    # i0-g0-i1, u1 (without i1) reaches only u2 via i2-g1-i3, and u2 reaches u1 via i3-g1-i2
    assert as_dict(build(hub_quantile=0.5).edges(parse_metapath("U-I-Genre-I-U"))) == {
        (1, 0): 1.0,
        (2, 1): 1.0,
        (1, 2): 1.0,
    }


def test_max_sample_keeps_the_strongest_neighbours() -> None:
    e = as_dict(build(max_sample=1).edges(parse_metapath("U-I-Genre-I-U")))
    # u1 reaches u0 by 2 paths and u2 by 1: only u0 stays
    assert e == {(1, 0): 2.0, (0, 1): 2.0, (1, 2): 1.0}


def test_new_rows_link_to_existing_users() -> None:
    b = build()
    start = torch.sparse_csr_tensor(
        torch.tensor([0, 1]), torch.tensor([2]), torch.ones(1), (1, 4)
    )  # a session with i2
    assert as_dict(b.edges(parse_metapath("U-I-U"), start)) == {(1, 0): 1.0}  # user u1 shares i2
    assert as_dict(b.edges(parse_metapath("U-I-Genre"), start)) == {(1, 0): 1.0}
    assert as_dict(b.edges(parse_metapath("U-I-Genre-I-U"), start)) == {(1, 0): 1.0, (2, 0): 1.0}


def test_parse_restrictions_and_names() -> None:
    mp = parse_metapath("U - I - Person[DIRECTED_BY|WRITTEN_BY] - I - U")
    assert mp.name == "U-I-Person[DIRECTED_BY|WRITTEN_BY]-I-U"
    assert mp.types == ("User", "Item", "Person", "Item", "User")
    assert mp.rels == (
        None,
        frozenset({"DIRECTED_BY", "WRITTEN_BY"}),
        frozenset({"DIRECTED_BY", "WRITTEN_BY"}),
        None,
    )
    assert mp.homogeneous and mp.end == "User"
    ab = parse_metapath("User-Item-Item[ALSO_BUY]-User")
    assert ab.name == "U-I-I[ALSO_BUY]-U" and ab.rels == (None, frozenset({"ALSO_BUY"}), None)
    assert not parse_metapath("U-I-Genre").homogeneous


@pytest.mark.parametrize(
    "text, message",
    [
        ("U", "at least two labels"),
        ("I-U", "must start at the user"),
        ("U--I", "bad token"),
        ("U-I-Gen re", "bad token"),
    ],
)
def test_parse_errors(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_metapath(text)


def test_restricted_hop_without_edges_is_refused() -> None:
    b = build()
    with pytest.raises(ValueError, match=r"no edges from Item to Genre of type \['AUTHOR'\]"):
        b.edges(parse_metapath("U-I-Genre[AUTHOR]"))


def test_default_and_resolved_metapaths() -> None:
    data, _ = tiny()
    assert [m.name for m in default_metapaths(data)] == [
        "U-I",
        "U-I-Genre",
        "U-I-U",
        "U-I-I-U",
        "U-I-Genre-I-U",
    ]
    with pytest.raises(ValueError, match="label 'Person' is not in the graph"):
        resolve_metapaths(data, ["U-I-Person"])
    with pytest.raises(ValueError, match="listed twice"):
        resolve_metapaths(data, ["U-I", "User-Item"])
