"""Every kind of bad input gives an InputError naming file, line and expectation; or is skipped and logged."""

from __future__ import annotations

import gzip
import json
import pickle
from pathlib import Path

import pytest
from ingest_testutil import jsonl, write
from persona.ingest import InputError, read_amazon, read_atomic, read_movielens, read_rdf

REVIEW = {"reviewerID": "u1", "asin": "A1", "overall": 5.0, "unixReviewTime": 100}
META = {"asin": "A1", "title": "Title One", "description": ["Desc"], "brand": "B", "category": ["C"]}


def test_message_format_and_pickling() -> None:
    e = InputError("u.data", 17, "4 tab-separated fields (user, item, rating, timestamp)", "3")
    assert str(e) == "u.data:17: expected 4 tab-separated fields (user, item, rating, timestamp), got 3"
    assert isinstance(e, ValueError)
    e2 = pickle.loads(pickle.dumps(e))
    assert (e2.path, e2.line, e2.expected, e2.got) == ("u.data", 17, e.expected, "3")
    assert (
        str(InputError("f.nt", None, "a non-empty file", "an empty file"))
        == "f.nt: expected a non-empty file, got an empty file"
    )


def test_bad_json_line(tmp_path: Path) -> None:
    reviews = write(tmp_path / "r.json", jsonl([REVIEW]) + '{"reviewerID": "u2", "asin": \n')
    meta = write(tmp_path / "m.json", jsonl([META]))
    with pytest.raises(InputError) as e:
        read_amazon(reviews, meta)
    assert e.value.line == 2 and e.value.path == str(reviews)
    assert "expected one JSON object per line, got invalid JSON (Expecting value at column" in str(e.value)
    assert "--skip-invalid" in str(e.value) and "--rejects FILE" in str(e.value)  # says what to do


def test_json_value_that_is_not_an_object_and_missing_field(tmp_path: Path) -> None:
    meta = write(tmp_path / "m.json", jsonl([META]))
    r1 = write(tmp_path / "r1.json", jsonl([REVIEW]) + "[1, 2]\n")
    with pytest.raises(InputError, match=r"r1\.json:2: expected one JSON object per line, got a JSON list"):
        read_amazon(r1, meta)
    r2 = write(tmp_path / "r2.json", jsonl([REVIEW, {"reviewerID": "u", "overall": 1, "unixReviewTime": 1}]))
    with pytest.raises(
        InputError,
        match=r"r2\.json:2: expected a review with reviewerID, asin, overall and unixReviewTime, got no 'asin'",
    ):
        read_amazon(r2, meta)


def test_non_numeric_timestamp_json(tmp_path: Path) -> None:
    reviews = write(tmp_path / "r.json", jsonl([REVIEW, {**REVIEW, "asin": "A2", "unixReviewTime": "soon"}]))
    with pytest.raises(
        InputError, match=r"r\.json:2: expected an integer unix timestamp for unixReviewTime, got '\"soon\"'"
    ):
        read_amazon(reviews, None)


def test_wrong_column_count_atomic(tmp_path: Path) -> None:
    write(tmp_path / "d.inter", "user_id:token\titem_id:token\trating:float\nu\ti\t1\nu\tj\n")
    with pytest.raises(InputError) as e:
        read_atomic(tmp_path / "d")
    assert str(e.value).startswith(
        f"{tmp_path / 'd.inter'}:3: expected 3 tab-separated fields (user_id, item_id, rating), got 2"
    )


def test_unknown_column_header(tmp_path: Path) -> None:
    write(tmp_path / "d.inter", "user_id:token\titem_id:token\tmood:token\nu\ti\thappy\n")
    with pytest.raises(InputError) as e:
        read_atomic(tmp_path / "d")
    assert e.value.line == 1
    assert "unknown column header 'mood:token'" in str(e.value)
    write(tmp_path / "e.inter", "user_id\titem_id\nu\ti\n")
    with pytest.raises(InputError, match=r"e\.inter:1: .*got column header 'user_id'"):
        read_atomic(tmp_path / "e")


def test_non_utf8(tmp_path: Path) -> None:
    write(tmp_path / "d.inter", b"user_id:token\titem_id:token\nu\ti\nu\t\xe9t\xe9\n")
    with pytest.raises(InputError, match=r"d\.inter:3: expected UTF-8 text, got byte 0xe9 at column 3"):
        read_atomic(tmp_path / "d")


def test_truncated_gzip(tmp_path: Path) -> None:
    full = gzip.compress(
        ("\n".join(json.dumps({**REVIEW, "asin": f"A{i}"}) for i in range(3000)) + "\n").encode()
    )
    p = write(tmp_path / "r.json.gz", full[: len(full) // 2])
    with pytest.raises(InputError) as e:
        read_amazon(p, None)
    assert "expected a complete gzip stream, got a truncated file" in str(e.value)
    assert e.value.line is not None and e.value.line > 1
    bad = write(tmp_path / "x.json.gz", b"this is not gzip at all\n")
    with pytest.raises(InputError, match=r"x\.json\.gz:1: expected gzip data"):
        read_amazon(bad, None)


def test_rdf_syntax_errors(tmp_path: Path) -> None:
    links = {"1": "http://e/a"}
    nt = write(
        tmp_path / "k.nt", "<http://e/a> <http://e/p> <http://e/b> .\n<http://e/a> <http://e/p> oops .\n"
    )
    with pytest.raises(InputError) as e:
        read_rdf(nt, links)
    assert e.value.line == 2 and "expected an N-Triples statement" in str(e.value) and "oops" in str(e.value)
    ttl = write(tmp_path / "k.ttl", "@prefix e: <http://e/> .\ne:a e:p e:b .\ne:a e:p .\n")
    with pytest.raises(InputError) as e:
        read_rdf(ttl, links)
    assert e.value.line == 3 and str(e.value).startswith(
        f"{ttl}:3: expected valid Turtle, got a syntax error"
    )
    xml = write(
        tmp_path / "k.rdf",
        '<?xml version="1.0"?>\n<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">\n'
        '<rdf:Description rdf:about="http://e/a">\n</rdf:RDF>\n',
    )
    with pytest.raises(
        InputError, match=r"k\.rdf:4: expected valid RDF/XML, got a syntax error: mismatched tag"
    ):
        read_rdf(xml, links)
    with pytest.raises(InputError, match=r"expected an RDF file named \*\.nt"):
        read_rdf(write(tmp_path / "k.csv", "a,b\n"), links)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(InputError) as e:
        read_amazon(tmp_path / "nope.json.gz", None)
    assert (
        str(e.value)
        == f"{tmp_path / 'nope.json.gz'}: expected an existing file, got no such file (check the path)"
    )
    with pytest.raises(InputError, match=r"expected an existing RecBole \.inter file"):
        read_atomic(tmp_path / "nothing")
    with pytest.raises(InputError, match="no such file"):
        read_rdf(tmp_path / "none.nt", {})


def test_empty_file(tmp_path: Path) -> None:
    empty = write(tmp_path / "r.json", "\n\n")
    with pytest.raises(InputError, match=r"r\.json: expected review JSON lines .*, got an empty file"):
        read_amazon(empty, None)
    with pytest.raises(InputError, match=r"k\.nt\.gz: expected N-Triples statements, got an empty file"):
        read_rdf(write(tmp_path / "k.nt.gz", "", gz=True), {})
    with pytest.raises(InputError, match="got an empty file"):
        read_rdf(write(tmp_path / "k.ttl", "   \n"), {})


def test_duplicate_ids_with_conflicting_data(tmp_path: Path) -> None:
    reviews = write(tmp_path / "r.json", jsonl([REVIEW]))
    meta = write(tmp_path / "m.json", jsonl([META, META, {**META, "title": "Other"}]))
    with pytest.raises(
        InputError,
        match=r"m\.json:3: expected one metadata row per asin \('A1' is on an earlier line\), got a second row with a different 'title'",
    ):
        read_amazon(reviews, meta)
    gf = read_amazon(reviews, meta, skip_invalid=True)
    assert gf.nodes["Item"]["title"].tolist() == ["Title One"]
    assert gf.stats["meta_duplicates"] == 1 and gf.stats["skipped"] == 1
    write(tmp_path / "d.inter", "user_id:token\titem_id:token\nu\ti\n")
    write(tmp_path / "d.item", "item_id:token\ttitle:token\ni\tOne\ni\tTwo\n")
    with pytest.raises(InputError, match=r"d\.item:3: expected one row per item"):
        read_atomic(tmp_path / "d")
    write(tmp_path / "d.link", "item_id:token\tentity_id:token\ni\tres:A\ni\tres:B\n")
    write(tmp_path / "d.item", "item_id:token\ttitle:token\ni\tOne\n")
    with pytest.raises(InputError, match=r"d\.link:3: expected one entity per item"):
        read_atomic(tmp_path / "d")


def test_skip_invalid_counts_and_writes_rejects(tmp_path: Path) -> None:
    d = tmp_path / "ml"
    flags = "|".join(["0"] * 18 + ["1"])
    write(d / "u.item", f"1|A (1990)|||x|{flags}\n2|B (1991)|||x|{flags}\n", encoding="latin-1")
    write(d / "u.user", "1|20|M|x|0\n2|30|F|y|0\n")
    write(d / "u.data", b"1\t1\t5\t10\n1\t2\t5\n2\t1\t4\tnow\n2\t2\t3\t5\n\xff\xfe\n1\t2\t2\t20\n")
    rejects = tmp_path / "out" / "rejects.jsonl"
    gf = read_movielens(d, skip_invalid=True, rejects=rejects)
    assert gf.stats["skipped"] == 3
    rated = next(rf.df for rf in gf.rels if rf.type == "RATED")
    assert sorted(zip(rated["src"], rated["dst"])) == [("1", "1"), ("1", "2"), ("2", "2")]
    recs = [json.loads(x) for x in rejects.read_text().splitlines()]
    assert [(r["line"], r["raw"]) for r in recs] == [(2, "1\t2\t5"), (3, "2\t1\t4\tnow"), (5, "\\xff\\xfe")]
    assert all(r["file"] == str(d / "u.data") for r in recs)
    assert recs[0]["error"].startswith(f"{d / 'u.data'}:2: expected 4 tab-separated fields")
    # file-level problems are never skipped
    with pytest.raises(InputError, match="no such file"):
        read_movielens(tmp_path / "none", skip_invalid=True)
