"""Amazon Review Data 2018 reader: tiny JSON lines (plain and gzip), then the real Magazine category."""

from __future__ import annotations

from pathlib import Path

import pytest
from ingest_testutil import EVIL, edges, jsonl, rel, write
from persona.ingest import read_amazon


def _review(u: str, i: str, r: float, t: int) -> dict:
    return {"reviewerID": u, "asin": i, "overall": r, "unixReviewTime": t, "reviewText": "..."}


REVIEWS = [
    _review("u1", "A", 5.0, 300),
    _review("u1", "B", 4.0, 100),
    _review("u1", "C", 3.0, 200),
    _review("u2", "A", 2.0, 50),
    _review("u2", "A", 1.0, 60),  # repeat: the first (ts 50) is kept
]
META = [
    {
        "asin": "A",
        "title": '<span class="a-size-medium a-color-secondary"',
        "description": [
            "Garden &amp; Home is the <b>best</b> guide to your garden. Every issue has plans.",
            "",
        ],
        "brand": "Hearst Magazines",
        "category": ["Magazine Subscriptions", "Home &amp; Garden"],
        "also_buy": ["B", "ZZZ"],
        "also_view": ["C", "A"],
        "main_cat": "Magazine Subscriptions",
    },
    {
        "asin": "B",
        "title": "Road &amp; Track",
        "description": "Cars.",
        "brand": "",
        "category": ["Magazine Subscriptions", "Automotive"],
        "also_buy": ["A"],
    },
    {"asin": "UNREVIEWED", "title": "Nobody", "also_buy": ["A"]},
    {
        "asin": "B",
        "title": "Road &amp; Track",
        "description": "Cars.",
        "brand": "",
        "category": ["Magazine Subscriptions", "Automotive"],
        "also_buy": ["A"],
    },
    {"asin": "C", "title": ' Magazines" />', "description": []},
]


@pytest.mark.parametrize("gz", [False, True])
def test_tiny_amazon_values(tmp_path: Path, gz: bool) -> None:
    ext = ".json.gz" if gz else ".json"
    r = write(tmp_path / f"reviews{ext}", jsonl(REVIEWS), gz=gz)
    m = write(tmp_path / f"meta{ext}", jsonl(META), gz=gz)
    gf = read_amazon(r, m)
    items = gf.nodes["Item"].set_index("id")
    assert sorted(items.index) == ["A", "B", "C"]  # unreviewed metadata rows are dropped
    assert (
        items.loc["A", "title"] == "Garden & Home is the best guide to your garden"
    )  # dirty title → description
    assert (
        items.loc["A", "description"]
        == "Garden & Home is the best guide to your garden. Every issue has plans."
    )
    assert items.loc["B", "title"] == "Road & Track"
    assert items.loc["C", "title"] == "C"  # nothing usable → asin
    assert list(items.loc["A", "categories"]) == ["Magazine Subscriptions", "Home & Garden"]
    assert set(items["domain"]) == {"magazine"}
    assert edges(gf, "HAS_BRAND") == {("A", "Hearst Magazines")}
    assert edges(gf, "IN_CATEGORY") == {
        ("A", "Magazine Subscriptions"), ("A", "Home & Garden"), ("B", "Magazine Subscriptions"), ("B", "Automotive"),
    }  # fmt: skip
    assert edges(gf, "ALSO_BUY") == {("A", "B"), ("B", "A")}  # ZZZ is not an item of the frame
    assert edges(gf, "ALSO_VIEW") == {("A", "C")}  # no self loop
    rated = rel(gf, "RATED").sort_values(["src", "pos"])
    assert rated[["src", "dst", "rating", "ts", "pos", "split"]].values.tolist() == [
        ["u1", "B", 4.0, 100, 0, "train"],
        ["u1", "C", 3.0, 200, 1, "valid"],
        ["u1", "A", 5.0, 300, 2, "test"],
        ["u2", "A", 2.0, 50, 0, "train"],
    ]
    s = gf.stats
    assert (s["records"], s["duplicates"], s["meta_rows"], s["meta_duplicates"], s["meta_missing"]) == (
        5,
        1,
        5,
        1,
        0,
    )
    assert (s["titles_from_description"], s["titles_from_asin"], s["also_buy_outside"]) == (1, 1, 1)


def test_domain_override_and_missing_meta(tmp_path: Path) -> None:
    r = write(tmp_path / "Books_5.json", jsonl(REVIEWS[:2]))
    gf = read_amazon(r, None, domain="book")
    assert gf.nodes["Item"]["title"].tolist() == ["A", "B"]
    assert set(gf.nodes["Item"]["domain"]) == {"book"}
    assert read_amazon(r, None).nodes["Item"]["domain"].iloc[0] == "book"  # guessed from the file name
    assert gf.stats["meta_missing"] == 2


def test_ids_are_kept_verbatim(tmp_path: Path) -> None:
    r = write(tmp_path / "r.json", jsonl([_review(EVIL, EVIL, 5, 1)]))
    m = write(tmp_path / "m.json", jsonl([{"asin": EVIL, "title": EVIL, "brand": EVIL, "category": [EVIL]}]))
    gf = read_amazon(r, m)
    assert gf.nodes["User"]["id"].tolist() == [EVIL]
    assert gf.nodes["Item"][["id", "title"]].values.tolist() == [[EVIL, EVIL]]
    assert edges(gf, "HAS_BRAND") == {(EVIL, EVIL)} and edges(gf, "IN_CATEGORY") == {(EVIL, EVIL)}


@pytest.mark.realdata
def test_real_magazine_subscriptions(datasets: Path) -> None:
    d = datasets / "amazon2018-magazine"
    gf = read_amazon(d / "Magazine_Subscriptions_5.json.gz", d / "meta_Magazine_Subscriptions.json.gz")
    c = gf.counts()
    assert (c["User"], c["Item"]) == (348, 157)
    s = gf.stats
    assert s["records"] == 2375 and c["RATED"] == 2375 - s["duplicates"] == 2302
    assert s["meta_rows"] == 3385 and s["meta_missing"] == 6 and s["skipped"] == 0
    items = gf.nodes["Item"].set_index("id")
    assert not items["title"].str.contains("<|>|&amp;", regex=True).any()
    assert items["title"].str.len().min() > 0
    assert items.loc["B00005N7P0", "title"] == "MAXIMUM PC is the ultimate upgrade for the savvy PC owners"
    assert set(items["domain"]) == {"magazine"}
    assert ("B00005N7P0", "Magazine Subscriptions") in edges(gf, "IN_CATEGORY")
    ab = rel(gf, "ALSO_BUY")
    assert len(ab) > 0 and set(ab["src"]) | set(ab["dst"]) <= set(items.index)
    rated = rel(gf, "RATED")
    n_user = rated.groupby("src").size()
    assert (rated["split"] == "test").sum() == (n_user >= 3).sum()
    gf.validate()


def test_link_and_rdf(tmp_path: Path) -> None:
    r = write(tmp_path / "r.json", jsonl(REVIEWS))
    m = write(tmp_path / "m.json", jsonl(META))
    link = write(tmp_path / "a.link", "item_id:token\tentity_id:token\nA\tres:Garden_Mag\nZZZ\tres:Other\n")
    nt = write(
        tmp_path / "k.nt",
        "<http://dbpedia.org/resource/Garden_Mag> <http://dbpedia.org/ontology/publisher> "
        "<http://dbpedia.org/resource/Hearst_Communications> .\n",
    )
    gf = read_amazon(r, m, link=link, rdf=nt)
    iri = gf.nodes["Item"].set_index("id")["iri"]
    assert iri["A"] == "http://dbpedia.org/resource/Garden_Mag" and iri.isna()[["B", "C"]].all()
    assert edges(gf, "PUBLISHED_BY", "Item", "Company") == {
        ("A", "http://dbpedia.org/resource/Hearst_Communications")
    }
    assert gf.stats["links"] == 2 and gf.stats["linked_items"] == 1
    with pytest.raises(ValueError, match="no item is linked"):
        read_amazon(r, m, rdf=nt)
