"""The synthetic demo: deterministic, planted tastes visible in attributes, text, links and sessions."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from ingest_testutil import rel

from persona.ingest import generate_demo
from persona.ingest.demo import THEMES


@pytest.fixture(scope="module")
def demo():
    return generate_demo(users=300, items=240, tastes=6, seed=3)


def test_deterministic_and_seed_dependent(demo) -> None:
    again = generate_demo(users=300, items=240, tastes=6, seed=3)
    for label, df in demo.nodes.items():
        pd.testing.assert_frame_equal(df, again.nodes[label])
    for a, b in zip(demo.rels, again.rels):
        pd.testing.assert_frame_equal(a.df, b.df)
    other = generate_demo(users=300, items=240, tastes=6, seed=4)
    assert not rel(other, "RATED")["dst"].equals(rel(demo, "RATED")["dst"])


def test_shape_and_ground_truth(demo) -> None:
    c = demo.counts()
    assert (c["User"], c["Item"]) == (300, 240)
    items = demo.nodes["Item"]
    assert sorted(items["planted_taste"].value_counts().tolist()) == [40] * 6
    assert set(demo.nodes["User"]["planted_taste"]) <= set(range(6))
    assert set(items["domain"]) == {"book"} and items["title"].is_unique
    r = rel(demo, "RATED")
    n = r.groupby("src").size()
    assert n.min() >= 8 and n.max() <= 40
    assert not r.duplicated(["src", "dst"]).any()
    assert (r.groupby("src")["split"].apply(lambda s: (s == "test").sum()) == 1).all()
    demo.validate()


def test_text_carries_the_taste(demo) -> None:
    items = demo.nodes["Item"]
    for k, th in enumerate(THEMES[:6]):
        desc = items.loc[items["planted_taste"] == k, "description"]
        assert desc.str.contains(th.name, regex=False).all()
        others = items.loc[items["planted_taste"] != k, "description"]
        assert not others.str.contains(th.name, regex=False).any()


def test_attributes_and_links_follow_the_taste(demo) -> None:
    taste = demo.nodes["Item"].set_index("id")["planted_taste"]
    genre = rel(demo, "HAS_GENRE")
    own_genres = {th.genres[0] for th in THEMES[:6]}
    g = genre[genre["dst"].isin(own_genres)]
    # every item carries its taste's first genre, and that genre belongs to one taste only
    assert g.groupby("dst").apply(lambda d: taste[d["src"]].nunique()).eq(1).all()
    author = rel(demo, "AUTHOR")
    majority = (
        author.assign(t=taste[author["src"]].to_numpy())
        .groupby("dst")["t"]
        .agg(lambda s: s.value_counts().iloc[0] / len(s))
    )
    assert majority.mean() > 0.9  # authors write mostly within one taste (a few crossovers)
    for kind in ("ALSO_BUY", "ALSO_VIEW"):
        e = rel(demo, kind)
        same = (taste[e["src"]].to_numpy() == taste[e["dst"]].to_numpy()).mean()
        assert 0.75 < same < 1.0


def test_sessions_mix_intent_and_long_term_taste(demo) -> None:
    r = rel(demo, "RATED").sort_values(["src", "pos"])
    it = demo.nodes["Item"].set_index("id")["planted_taste"]
    ut = demo.nodes["User"].set_index("id")["planted_taste"]
    own = it[r["dst"]].to_numpy() == ut[r["src"]].to_numpy()
    # expected share of own-taste items: p_own_intent + (1 - p_own_intent) * (1 - p_intent) = 0.65
    assert 0.6 < own.mean() < 0.7
    gaps = r.groupby("src")["ts"].diff().dropna().to_numpy()
    assert ((gaps < 15 * 60) | (gaps >= 86400)).all()  # minutes inside a session, >= 1 day between
    # inside a session the taste repeats more often than chance: intent matters
    same_session = gaps < 86400
    t = it[r["dst"]].to_numpy()
    first = r.groupby("src").cumcount().to_numpy() > 0
    consecutive_same = (t[1:] == t[:-1])[first[1:]]
    assert consecutive_same[same_session].mean() > consecutive_same[~same_session].mean() + 0.1
    assert demo.stats["sessions"] > 300


def test_arguments_are_checked() -> None:
    with pytest.raises(ValueError, match="tastes must be between 1 and 12"):
        generate_demo(tastes=13)
    with pytest.raises(ValueError, match="at least 4 per taste"):
        generate_demo(items=10, tastes=8)
    small = generate_demo(users=5, items=8, tastes=1, seed=0)
    assert set(small.nodes["User"]["planted_taste"]) == {0}
    assert np.all(rel(small, "RATED").groupby("src").size() <= 8)


def test_knowledge_layer_adds_exact_sizes_without_changing_the_shop() -> None:
    """The benchmarks' Table 1-sized graph is the demo plus its DBpedia-like knowledge layer: exactly the
    requested entities/triples, distinct triples, taste-bearing relations mostly within the item's taste,
    and the rest of the graph identical to the plain demo of the same seed."""
    from persona.ingest.demo import KG_RELATIONS, generate_demo

    plain = generate_demo(users=60, items=80, tastes=4, seed=3)
    kg = generate_demo(users=60, items=80, tastes=4, seed=3, kg_entities=400, kg_triples=1500, p_kg_taste=0.9)
    for label, df in plain.nodes.items():
        assert df.equals(kg.nodes[label].iloc[: len(df)].reset_index(drop=True)), label
    plain_rels = {r.type: r.df for r in plain.rels}
    kg_rels = {r.type: r.df for r in kg.rels}
    for t, df in plain_rels.items():
        assert df.equals(kg_rels[t]), t
    layer = [t for t, _, _, _ in KG_RELATIONS]
    triples = sum(len(kg_rels[t]) for t in layer if t in kg_rels)
    assert triples == 1500
    new_entities = sum(len(kg.nodes[lab]) - len(plain.nodes.get(lab, [])) for lab in kg.nodes)
    assert 390 <= new_entities <= 410  # shares are rounded per label
    taste = dict(zip(kg.nodes["Item"]["id"], kg.nodes["Item"]["planted_taste"]))
    sub = kg_rels["HAS_SUBJECT"]
    assert not sub.duplicated(["src", "dst"]).any()
    ids = kg.nodes["Subject"]["id"].tolist()
    ent_taste = {e: k % 4 for k, e in enumerate(ids)}
    within = (sub["src"].map(taste) == sub["dst"].map(ent_taste)).mean()
    assert within > 0.85  # 0.9 from the taste pool, plus the global pool's own quarter
