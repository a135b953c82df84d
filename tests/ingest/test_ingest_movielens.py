"""MovieLens 100K reader: tiny hand-written folders, then the real ML-100K (+ DBpedia links)."""

from __future__ import annotations

from pathlib import Path

import pytest
from ingest_testutil import EVIL, edges, rel, write
from persona.ingest import InputError, read_movielens

FLAGS = ["0"] * 19


def _flags(*on: int) -> str:
    f = list(FLAGS)
    for i in on:
        f[i] = "1"
    return "|".join(f)


def make_ml(
    tmp: Path, *, data: str | None = None, items: str | None = None, users: str | None = None
) -> Path:
    d = tmp / "ml"
    write(
        d / "u.item",
        items
        if items is not None
        else (
            f"1|Toy Story (1995)|01-Jan-1995||http://x|{_flags(3, 4, 5)}\n"
            f"2|Usual Suspects, The (1995)|14-Aug-1995||http://x|{_flags(6, 16)}\n"
            f"3|Café Society|01-Jan-1997||http://x|{_flags(8)}\n"
            f"4|unknown|||http://x|{_flags(0)}\n"
        ),
        encoding="latin-1",
    )
    write(d / "u.user", users if users is not None else "1|24|M|technician|85711\n2|53|F|other|94043\n")
    write(
        d / "u.data",
        data
        if data is not None
        else (
            "1\t2\t5\t100\n"
            "1\t1\t3\t50\n"
            "1\t3\t4\t100\n"  # same time as item 2: the file order decides (2 before 3)
            "2\t1\t2\t10\n"
            "2\t4\t1\t20\n"
            "1\t1\t1\t200\n"  # a repeat of (1, 1): the first (ts 50) is kept
        ),
    )
    return d


def test_tiny_movielens_values(tmp_path: Path) -> None:
    gf = read_movielens(make_ml(tmp_path))
    items = gf.nodes["Item"].set_index("id")
    assert items.loc["1", "title"] == "Toy Story" and items.loc["1", "year"] == 1995
    assert items.loc["2", "title"] == "The Usual Suspects"
    assert (
        items.loc["3", "title"] == "Café Society" and items.loc["3", "year"] == 1997
    )  # latin-1, year from date
    assert items.loc["4", "title"] == "unknown" and items["year"].isna()["4"]
    assert set(items["domain"]) == {"movie"}
    users = gf.nodes["User"].set_index("id")
    assert users.loc["2"].tolist() == [53, "F", "other"]
    assert edges(gf, "HAS_GENRE") == {
        ("1", "Animation"), ("1", "Children's"), ("1", "Comedy"), ("2", "Crime"), ("2", "Thriller"),
        ("3", "Drama"), ("4", "unknown"),
    }  # fmt: skip
    assert set(gf.nodes["Genre"]["id"]) == {
        "Animation",
        "Children's",
        "Comedy",
        "Crime",
        "Thriller",
        "Drama",
        "unknown",
    }
    r = rel(gf, "RATED").sort_values(["src", "pos"])
    assert r[["src", "dst", "rating", "ts", "pos", "split"]].values.tolist() == [
        ["1", "1", 3.0, 50, 0, "train"],
        ["1", "2", 5.0, 100, 1, "valid"],
        ["1", "3", 4.0, 100, 2, "test"],
        ["2", "1", 2.0, 10, 0, "train"],
        ["2", "4", 1.0, 20, 1, "train"],
    ]
    assert gf.stats["records"] == 6 and gf.stats["duplicates"] == 1 and gf.stats["skipped"] == 0


def test_link_sets_iri_and_k_core_drops_items(tmp_path: Path) -> None:
    d = make_ml(tmp_path)
    link = write(
        tmp_path / "ml.link",
        "item_id:token\tentity_id:token\n1\tres:Toy_Story\n2\thttp://dbpedia.org/resource/The_Usual_Suspects\n",
    )
    gf = read_movielens(d, link=link)
    iri = gf.nodes["Item"].set_index("id")["iri"]
    assert iri["1"] == "http://dbpedia.org/resource/Toy_Story"
    assert iri["2"] == "http://dbpedia.org/resource/The_Usual_Suspects"
    assert iri.isna()["3"]
    # only item 1 has 2 users; then user 2 keeps 1 interaction < 2 … the 2-core is empty, which is an
    # error naming the counts before it (it used to give an empty graph silently)
    with pytest.raises(
        InputError, match=r"u\.data: expected interactions left after the 2-core .* none of 5"
    ):
        read_movielens(d, k_core=2)


def test_ids_are_kept_verbatim(tmp_path: Path) -> None:
    d = make_ml(
        tmp_path,
        items=f"{EVIL}|Evil (1999)|||http://x|{_flags(1)}\n",
        users=f"{EVIL}|30|M|hacker|00000\n",
        data=f"{EVIL}\t{EVIL}\t4\t1\n",
    )
    gf = read_movielens(d)
    assert gf.nodes["User"]["id"].tolist() == [EVIL]
    assert gf.nodes["Item"]["id"].tolist() == [EVIL]
    assert edges(gf, "RATED") == {(EVIL, EVIL)}


def test_wrong_field_count_names_file_and_line(tmp_path: Path) -> None:
    d = make_ml(tmp_path, data="1\t1\t5\t10\n1\t2\t5\n")
    with pytest.raises(InputError) as e:
        read_movielens(d)
    assert str(e.value).startswith(
        f"{d / 'u.data'}:2: expected 4 tab-separated fields (user, item, rating, timestamp), got 3"
    )
    assert e.value.line == 2 and e.value.got == "3"


def test_non_numeric_timestamp(tmp_path: Path) -> None:
    d = make_ml(tmp_path, data="1\t1\t5\t10\n1\t2\t5\tyesterday\n")
    with pytest.raises(
        InputError, match=r"u\.data:2: expected an integer unix timestamp \(4th field\), got 'yesterday'"
    ):
        read_movielens(d)


def test_unknown_item_and_conflicting_duplicate_rows(tmp_path: Path) -> None:
    d = make_ml(tmp_path, data="1\t99\t5\t10\n")
    with pytest.raises(InputError, match=r"u\.data:1: expected an item id listed in u\.item, got '99'"):
        read_movielens(d)
    items = f"1|A (1990)|||x|{_flags(1)}\n1|B (1991)|||x|{_flags(1)}\n2|C (1992)|||x|{_flags(2)}\n2|C (1992)|||x|{_flags(2)}\n"
    d2 = make_ml(tmp_path / "b", items=items, data="1\t1\t5\t10\n1\t2\t4\t11\n")
    with pytest.raises(InputError, match=r"u\.item:2: expected one row per movie id"):
        read_movielens(d2)
    gf = read_movielens(d2, skip_invalid=True)
    assert gf.nodes["Item"].set_index("id").loc["1", "title"] == "A"  # first row kept
    assert gf.stats["skipped"] == 1 and gf.stats["duplicate_rows"] == 1  # identical repeat of id 2 is fine


def test_missing_folder(tmp_path: Path) -> None:
    with pytest.raises(
        InputError, match="expected a folder with u.data, u.item and u.user, got no such file"
    ):
        read_movielens(tmp_path / "nowhere")


@pytest.mark.realdata
def test_real_ml100k_with_dbpedia(datasets: Path) -> None:
    gf = read_movielens(
        datasets / "ml-100k",
        link=datasets / "dbpedia-movies" / "ml-100k.link",
        rdf=datasets / "dbpedia-movies" / "movies.nt.gz",
    )
    c = gf.counts()
    assert (c["User"], c["Item"], c["RATED"], c["Genre"]) == (943, 1682, 100_000, 19)
    items = gf.nodes["Item"].set_index("id")
    assert items["iri"].notna().sum() == 1423
    assert items.loc["2", "iri"] == "http://dbpedia.org/resource/GoldenEye"
    assert items.loc["1", "title"] == "Toy Story" and items.loc["1", "year"] == 1995
    r = rel(gf, "RATED")
    assert r["split"].value_counts().to_dict() == {"train": 100_000 - 2 * 943, "valid": 943, "test": 943}
    assert (r.groupby("src")["pos"].max() + 1).sum() == 100_000
    # DBpedia: the 1,423 linked items are all considered; 1,323 of them have triples in the dump
    assert gf.stats["linked_items"] == 1423 and gf.stats["linked_items_with_triples"] == 1323
    assert gf.stats["rdf_triples"] == 34_941 and gf.stats["unknown_predicates"] == {}
    directed = edges(gf, "DIRECTED_BY", "Item", "Person")
    assert ("2", "http://dbpedia.org/resource/Martin_Campbell") in directed  # GoldenEye
    linked_with_edges = {
        s
        for rf in gf.rels
        if rf.src_label == "Item" and rf.type != "RATED" and rf.type != "HAS_GENRE"
        for s in rf.df["src"]
    }
    assert len(linked_with_edges) == 1323
    people = gf.nodes["Person"].set_index("id")["name"]
    assert people["http://dbpedia.org/resource/Martin_Campbell"] == "Martin Campbell"
    gf.validate()
