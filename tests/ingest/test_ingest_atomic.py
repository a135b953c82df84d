"""RecBole atomic files: tiny .inter/.item/.user/.kg/.link sets, then the real Amazon-KG files."""

from __future__ import annotations

from pathlib import Path

import pytest
from ingest_testutil import EVIL, edges, rel, write

from persona.ingest import read_atomic, relation_iri
from persona.ingest.rdf import predicate_map

DBR = "http://dbpedia.org/resource/"


def test_without_timestamp_file_order_is_chronological(tmp_path: Path) -> None:
    write(
        tmp_path / "Shop-Books.inter",
        "user_id:token\titem_id:token\trating:float\n"
        "u1\ti3\t1\nu1\ti1\t1\nu1\ti2\t1\nu2\ti1\t\nu1\ti4\t1\nu1\ti1\t1\n",
    )
    gf = read_atomic(tmp_path / "Shop-Books")
    r = rel(gf, "RATED").sort_values(["src", "pos"])
    assert r[["src", "dst", "pos", "split"]].values.tolist() == [
        ["u1", "i3", 0, "train"],
        ["u1", "i1", 1, "train"],
        ["u1", "i2", 2, "valid"],
        ["u1", "i4", 3, "test"],
        ["u2", "i1", 0, "train"],
    ]
    assert r["ts"].isna().all()
    assert (
        r.set_index(["src", "dst"]).loc[("u2", "i1"), "rating"]
        != r.set_index(["src", "dst"]).loc[("u2", "i1"), "rating"]
    )  # NaN
    assert gf.stats["timestamps"] is False and gf.stats["duplicates"] == 1
    assert set(gf.nodes["Item"]["domain"]) == {"book"}
    assert gf.nodes["Item"]["title"].isna().all()  # no .item, no .link


def test_with_timestamp_item_user_link_and_kg(tmp_path: Path) -> None:
    p = tmp_path / "ds"
    write(p.with_suffix(".inter"), "user_id:token\titem_id:token\trating:float\ttimestamp:float\n"
          "u1\ti1\t5\t300\nu1\ti2\t4\t100.0\nu1\ti3\t3\t200\nu2\ti2\t2\t10\n")  # fmt: skip
    write(p.with_suffix(".item"), "item_id:token\tmovie_title:token_seq\trelease_year:token\tclass:token_seq\tprice:float\n"
          "i1\tThe Matrix\t1999\tAction Sci-Fi\t9.5\ni2\tHeat\t1995\tCrime\t\ni3\t\t\t\t\n")  # fmt: skip
    write(
        p.with_suffix(".user"),
        "user_id:token\tage:token\tgender:token\toccupation:token\tzip_code:token\nu1\t30\tF\tnurse\t123\n",
    )
    write(
        p.with_suffix(".link"),
        "item_id:token\tentity_id:token\ni1\tres:The_Matrix\ni3\tres:Ronin_(film)\ni9\tres:Nope\n",
    )
    write(p.with_suffix(".kg"), "head_id:token\trelation_id:token\ttail_id:token\n"
          "res:The_Matrix\tdirected_by\tres:The_Wachowskis\n"
          "res:The_Matrix\tdbo:starring\tres:Keanu_Reeves\n"
          "res:Keanu_Reeves\tsubject_is\tres:Category:Actors\n"
          "res:The_Matrix\tsubsequentWork\tres:Ronin_(film)\n"
          "res:Ronin_(film)\tmood\tres:Dark\n")  # fmt: skip
    gf = read_atomic(p, domain="movie", hops=2)
    items = gf.nodes["Item"].set_index("id")
    assert items.loc["i1", ["title", "year", "iri"]].tolist() == ["The Matrix", 1999, DBR + "The_Matrix"]
    assert items.loc["i3", "title"] == "Ronin (film)"  # from the link
    assert items["iri"].isna()["i2"]
    assert edges(gf, "HAS_GENRE") == {("i1", "Action"), ("i1", "Sci-Fi"), ("i2", "Crime")}
    users = gf.nodes["User"].set_index("id")
    assert users.loc["u1", ["age", "gender", "occupation"]].tolist() == [30, "F", "nurse"]
    assert users["age"].isna()["u2"]
    r = rel(gf, "RATED").sort_values(["src", "pos"])
    assert r[["src", "dst", "ts", "split"]].values.tolist()[:3] == [
        ["u1", "i2", 100, "train"],
        ["u1", "i3", 200, "valid"],
        ["u1", "i1", 300, "test"],
    ]
    assert edges(gf, "DIRECTED_BY", "Item", "Person") == {("i1", DBR + "The_Wachowskis")}
    assert edges(gf, "STARRING", "Item", "Person") == {("i1", DBR + "Keanu_Reeves")}
    assert edges(gf, "HAS_SUBJECT", "Person", "Subject") == {
        (DBR + "Keanu_Reeves", DBR + "Category:Actors")
    }  # hop 2
    assert edges(gf, "SUBSEQUENT_WORK", "Item", "Item") == {("i1", "i3")}  # object is a linked item
    # a relation outside the table is its own type (not RELATED_TO), towards Entity: "mood" names no label
    assert edges(gf, "MOOD", "Item", "Entity") == {("i3", DBR + "Dark")}
    assert rel(gf, "RELATED_TO").empty
    assert gf.stats["unknown_predicates"] == {"mood": 1} and gf.stats["kg_rows"] == 5
    assert ("mood", "MOOD", "Entity", 1) in predicate_map(gf.stats)
    assert ("http://dbpedia.org/ontology/director", "DIRECTED_BY", "Person", 1) in predicate_map(gf.stats)
    assert gf.stats["links"] == 3 and gf.stats["linked_items"] == 2
    gf.validate()
    one_hop = read_atomic(p, domain="movie")
    assert edges(one_hop, "HAS_SUBJECT") == set()


def test_relation_names() -> None:
    assert relation_iri("directed_by") == "http://dbpedia.org/ontology/director"
    assert relation_iri("writer_is") == "http://dbpedia.org/ontology/writer"
    assert relation_iri("subject_is") == "http://purl.org/dc/terms/subject"
    assert relation_iri("dct:subject") == "http://purl.org/dc/terms/subject"
    assert relation_iri("<http://x/y>") == "http://x/y"
    assert relation_iri("film.film.director") == "film.film.director"


def test_ids_are_kept_verbatim(tmp_path: Path) -> None:
    write(tmp_path / "d.inter", f"user_id:token\titem_id:token\n{EVIL}\t{EVIL}\n")
    write(tmp_path / "d.item", f"item_id:token\ttitle:token\n{EVIL}\t{EVIL}\n")
    gf = read_atomic(tmp_path / "d")
    assert gf.nodes["User"]["id"].tolist() == [EVIL]
    assert gf.nodes["Item"][["id", "title"]].values.tolist() == [[EVIL, EVIL]]


def test_dataset_folder_and_k_core(tmp_path: Path) -> None:
    rows = "".join(f"u{u}\ti{i}\n" for u in range(3) for i in range(3)) + "u9\ti9\n"
    write(tmp_path / "shop" / "shop.inter", "user_id:token\titem_id:token\n" + rows)
    gf = read_atomic(tmp_path / "shop", k_core=2)
    assert sorted(gf.nodes["User"]["id"]) == ["u0", "u1", "u2"] and gf.stats["k_core_removed"] == 1
    assert set(gf.nodes["Item"]["domain"]) == {"product"}


@pytest.mark.realdata
@pytest.mark.parametrize(
    ("name", "users", "items", "inter", "domain"),
    [("Books", 10_485, 8_318, 115_572, "book"), ("Movies_and_TV", 5_648, 4_779, 67_066, "movie")],
)
def test_real_amazon_kg(datasets: Path, name: str, users: int, items: int, inter: int, domain: str) -> None:
    gf = read_atomic(datasets / "amazon-kg" / f"Amazon-KG-5core-{name}")
    c = gf.counts()
    assert (c["User"], c["Item"], c["RATED"]) == (users, items, inter)
    it = gf.nodes["Item"]
    assert set(it["domain"]) == {domain}
    assert it["iri"].notna().sum() == items and it["title"].notna().all()  # every item is linked
    r = rel(gf, "RATED")
    assert (r["split"] == "test").sum() == users  # 5-core: every user has >= 3
    assert gf.stats["timestamps"] is False and gf.stats["duplicates"] == 0


@pytest.mark.realdata
def test_real_amazon_kg_books_with_dbpedia(datasets: Path) -> None:
    d = datasets / "amazon-kg"
    gf = read_atomic(d / "Amazon-KG-5core-Books", rdf=d / "dbpedia-books.nt.gz")
    assert gf.stats["rdf_triples"] == 47_082
    assert gf.stats["linked_items"] == 8_318 and gf.stats["linked_items_with_triples"] == 2_116
    title = gf.nodes["Item"].set_index("id")["title"]
    assert title["000100039X"] == "The Prophet (book)"
    authors = edges(gf, "AUTHOR", "Item", "Person")
    assert ("0002051850", DBR + "Ernest_Hemingway") in authors  # For Whom the Bell Tolls
    assert {"Person", "Company", "LiteraryGenre", "Series", "Work"} <= set(gf.nodes)
    gf.validate()
