"""A corpus of malformed inputs: every one is an InputError naming file, line and what was expected.

Each case writes a small folder of files (a valid baseline plus one defect), calls a reader, and checks
the error's file, line and message. Record-level cases are also read with ``skip_invalid=True``: exactly
that record must be skipped, counted and written to the rejects file, and the rest must still load.

Cases marked ``held=True`` already gave the same error before the "bad input gets a clear error" work
(kept here so the corpus covers every kind of defect); all the others were tracebacks (OverflowError,
ValueError, TypeError, RecursionError, UnicodeEncodeError, a hang), silently stored garbage (NaN or
out-of-range ratings, negative or far-future timestamps, relative IRIs, half-parsed fields) or gave a
different, less precise message.
"""

from __future__ import annotations

import gzip
import json
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from ingest_testutil import rel
from persona.ingest import InputError, read_amazon, read_atomic, read_movielens, read_rdf
from persona.ingest.movielens import ML_GENRES


@dataclass
class Case:
    id: str
    files: dict[str, str | bytes]  # path under tmp_path → content (str is written as UTF-8)
    call: Callable[..., Any]  # call(tmp_path, **kwargs) → GraphFrames
    file: str  # the file the error names, relative to tmp_path
    line: int | None  # None: a whole-file error
    expect: str  # substring of str(error)
    record: bool = True  # record-level (skippable with skip_invalid)
    kept: int | None = None  # RATED edges (or RDF edges) left after skipping the bad record
    held: bool = False  # the same error was raised before this corpus existed
    kwargs: dict[str, Any] = field(default_factory=dict)


def _flags(on: int) -> str:
    return "|".join("1" if i == on else "0" for i in range(19))


# ---------------------------------------------------------------- MovieLens baseline: 4 ratings
ML_ITEM = (
    f"1|Toy Story (1995)|01-Jan-1995||http://x|{_flags(3)}\n"
    f"2|GoldenEye (1995)|01-Jan-1995||http://x|{_flags(1)}\n"
    f"3|Four Rooms (1995)|||http://x|{_flags(16)}\n"
)
ML_USER = "1|24|M|technician|85711\n2|53|F|other|94043\n3|23|M|writer|32067\n"
ML_DATA = "1\t1\t5\t874965758\n1\t2\t3\t876893171\n2\t1\t4\t878542960\n3\t3\t1\t876893119\n"
ML_GENRE = "".join(f"{g}|{i}\n" for i, g in enumerate(ML_GENRES))


def ml_call(tmp: Path, **kw: Any) -> Any:
    link = tmp / "ml.link"
    return read_movielens(tmp / "ml", link=link if link.exists() else None, **kw)


def ml(
    id: str,
    *,
    file: str,
    line: int | None,
    expect: str,
    data: str | bytes = "",
    user: str = "",
    item: str = "",
    genre: str | None = None,
    link: str | None = None,
    whole: str | bytes | None = None,
    **kw: Any,
) -> Case:
    """A MovieLens folder: baseline files with ``data``/``user``/``item`` appended (``whole`` replaces
    the file named by ``file``)."""
    files: dict[str, str | bytes] = {
        "ml/u.item": (ML_ITEM + item).encode("latin-1"),  # MovieLens u.item is latin-1
        "ml/u.user": ML_USER + user,
        "ml/u.data": ML_DATA.encode() + data if isinstance(data, bytes) else ML_DATA + data,
    }
    if genre is not None:
        files["ml/u.genre"] = genre
    if link is not None:
        files["ml.link"] = "item_id:token\tentity_id:token\n1\tres:Toy_Story\n" + link
    if whole is not None:
        files[file] = whole
    kw.setdefault("kept", 4)
    return Case(id, files, ml_call, file, line, expect, **kw)


DATA5 = 5  # the first appended u.data line
ML_CASES = [
    # u.data: numbers that do not fit, or are not plausible
    ml("ml_ts_beyond_64_bits", data="2\t2\t4\t99999999999999999999\n", file="ml/u.data", line=DATA5,
       expect="expected an integer unix timestamp (4th field) within 64 bits, got '99999999999999999999'"),
    ml("ml_ts_1e30", data="2\t2\t4\t1e30\n", file="ml/u.data", line=DATA5,
       expect="an integer unix timestamp (4th field) within 64 bits, got '1e30'"),
    ml("ml_ts_negative", data="2\t2\t4\t-5\n", file="ml/u.data", line=DATA5,
       expect="expected a Unix time in seconds between 0 (1970-01-01) and 4102444800 (2100-01-01) for the "
       "timestamp (4th field), got -5 (1969-12-31)"),
    ml("ml_ts_year_5138", data="2\t2\t4\t99999999999\n", file="ml/u.data", line=DATA5,
       expect="got 99999999999 (5138-11-16)"),
    ml("ml_ts_milliseconds", data="2\t2\t4\t1526774400000\n", file="ml/u.data", line=DATA5,
       expect="which looks like milliseconds: 1526774400 in seconds"),
    ml("ml_rating_nan", data="2\t2\tnan\t878542960\n", file="ml/u.data", line=DATA5,
       expect="expected a finite number for the rating (3rd field), got 'nan'"),
    ml("ml_rating_inf", data="2\t2\tinf\t878542960\n", file="ml/u.data", line=DATA5,
       expect="a finite number for the rating (3rd field), got 'inf'"),
    ml("ml_rating_minus_infinity", data="2\t2\t-Infinity\t878542960\n", file="ml/u.data", line=DATA5,
       expect="a finite number for the rating (3rd field), got '-Infinity'"),
    ml("ml_rating_above_range", data="2\t2\t11\t878542960\n", file="ml/u.data", line=DATA5,
       expect="expected a finite rating between 0 and 10 for the rating (3rd field), got '11' (the accepted "
       "range is the [ingest] rating_min / rating_max setting"),
    ml("ml_rating_negative", data="2\t2\t-1\t878542960\n", file="ml/u.data", line=DATA5,
       expect="a finite rating between 0 and 10 for the rating (3rd field), got '-1'"),
    ml("ml_rating_underscore", data="2\t2\t1_0\t878542960\n", file="ml/u.data", line=DATA5,
       expect="expected a number for the rating (3rd field), got '1_0'"),
    ml("ml_rating_outside_custom_range", data="2\t2\t0.5\t878542960\n", file="ml/u.data", line=DATA5,
       expect="a finite rating between 1 and 5 for the rating", kwargs={"rating_min": 1, "rating_max": 5}),
    ml("ml_ts_after_custom_max", data="2\t2\t4\t900000000\n", file="ml/u.data", line=DATA5,
       expect="between 0 (1970-01-01) and 893456789 (1998-04-24)", kwargs={"ts_max": 893_456_789}),
    ml("ml_ts_fraction", data="2\t2\t4\t10.5\n", file="ml/u.data", line=DATA5,
       expect="expected an integer unix timestamp (4th field), got '10.5'", held=True),
    ml("ml_nul_byte", data=b"2\t2\x00\t4\t878542960\n", file="ml/u.data", line=DATA5,
       expect="expected a line of text, got a NUL byte at column 4"),
    ml("ml_three_fields", data="2\t2\t4\n", file="ml/u.data", line=DATA5,
       expect="expected 4 tab-separated fields (user, item, rating, timestamp), got 3", held=True),
    ml("ml_not_utf8", data=b"2\t2\t4\t\xff\xfe\n", file="ml/u.data", line=DATA5,
       expect="expected UTF-8 text, got byte 0xff at column 7", held=True),
    ml("ml_unknown_user", data="9\t2\t4\t878542960\n", file="ml/u.data", line=DATA5,
       expect="expected a user id listed in u.user, got '9'", held=True),
    # u.data: whole-file problems
    ml("ml_gzip_without_gz_name", whole=gzip.compress(ML_DATA.encode()), file="ml/u.data", line=None,
       record=False, expect="expected a plain text file (gzip-compressed files need a name ending in .gz), "
       "got gzip-compressed data (rename it to u.data.gz, or decompress it)"),
    ml("ml_utf16_u_data", whole=ML_DATA.encode("utf-16"), file="ml/u.data", line=None, record=False,
       expect="expected UTF-8 text, got UTF-16 text (it starts with a UTF-16 byte order mark) (save it again "
       "as UTF-8)"),
    ml("ml_empty_u_data", whole="\n\n", file="ml/u.data", line=None, record=False, held=True,
       expect="expected tab-separated ratings (user, item, rating, timestamp), got an empty file"),
    ml("ml_k_core_leaves_nothing", file="ml/u.data", line=None, record=False,
       expect="expected interactions left after the 100000-core (users and items with at least 100000 "
       "interactions each), got none of 4 interactions left (3 users with at most 2 interactions each, "
       "3 items with at most 2) (use a smaller --k-core, or 0 for none)", kwargs={"k_core": 100_000}),
    # u.user
    ml("ml_age_beyond_64_bits", user="9|99999999999999999999|M|x|0\n", file="ml/u.user", line=4,
       expect="expected an integer age (2nd field) within 64 bits, got '99999999999999999999'"),
    ml("ml_age_negative", user="9|-3|M|x|0\n", file="ml/u.user", line=4,
       expect="expected an age (2nd field) between 0 and 150, got -3"),
    ml("ml_age_200", user="9|200|M|x|0\n", file="ml/u.user", line=4,
       expect="expected an age (2nd field) between 0 and 150, got 200"),
    ml("ml_empty_user_id", user="|30|M|x|0\n", file="ml/u.user", line=4,
       expect="expected a user id in the first field, got an empty field"),
    ml("ml_age_not_a_number", user="9|old|M|x|0\n", file="ml/u.user", line=4,
       expect="expected an integer age", held=True),
    # u.item
    ml("ml_date_with_superscript_digit", item=f"9|X|01-Jan-19\xb25||x|{_flags(1)}\n", file="ml/u.item",
       line=4,
       expect="expected a release date like 01-Jan-1995 (or an empty field), got '01-Jan-19²5'"),
    ml("ml_date_huge_year", item=f"9|X|01-Jan-99999999999999999999||x|{_flags(1)}\n", file="ml/u.item",
       line=4, expect="expected a release date like 01-Jan-1995 (or an empty field), got '01-Jan-9999999"),
    ml("ml_date_garbage", item=f"9|X|yesterday||x|{_flags(1)}\n", file="ml/u.item", line=4,
       expect="expected a release date like 01-Jan-1995 (or an empty field), got 'yesterday'"),
    ml("ml_genre_flag_2", item="9|X|||x|" + "|".join(["0"] * 18 + ["2"]) + "\n", file="ml/u.item", line=4,
       expect="expected 19 genre flags of 0 or 1, got '2'", held=True),
    # u.genre
    ml("ml_genre_index_repeated", genre=ML_GENRE + "Noir|3\n", file="ml/u.genre", line=20,
       expect="expected one line per genre name and per index, got a second index 3 (already 'Animation')"),
    ml("ml_genre_name_repeated", genre=ML_GENRE + "Action|19\n", file="ml/u.genre", line=20,
       expect="got a second name 'Action' (already index 1)"),
    ml("ml_genre_index_beyond_64_bits", genre=ML_GENRE + "X|99999999999999999999\n", file="ml/u.genre",
       line=20, expect="expected an integer genre index within 64 bits, got '99999999999999999999'"),
    # .link
    ml("ml_link_iri_with_space", link="2\thttp://dbpedia.org/resource/Golden Eye\n", file="ml.link", line=3,
       expect="expected an entity IRI without spaces, control characters, <, > or \" (percent-encode them), "
       "got 'http://dbpedia.org/resource/Golden Eye', which contains ' '"),
    ml("ml_link_iri_with_angle_bracket", link="2\thttp://dbpedia.org/resource/<GoldenEye>\n", file="ml.link",
       line=3, expect="which contains '<'"),
    ml("ml_link_not_an_iri", link="2\tGoldenEye\n", file="ml.link", line=3, held=True,
       expect="expected an item id and an entity IRI (http://…) or res:NAME, got 'GoldenEye'"),
]  # fmt: skip

# ---------------------------------------------------------------- Amazon baseline: 3 reviews
REVIEWS = [
    {"reviewerID": "u1", "asin": "A1", "overall": 5.0, "unixReviewTime": 1400000000},
    {"reviewerID": "u1", "asin": "A2", "overall": 4.0, "unixReviewTime": 1400000100},
    {"reviewerID": "u2", "asin": "A1", "overall": 3.0, "unixReviewTime": 1400000200},
]
META = [
    {"asin": "A1", "title": "One", "category": ["Books"], "also_buy": ["A2"]},
    {"asin": "A2", "title": "Two", "description": ["About two."], "brand": "B"},
]


def _jl(rows: list[dict]) -> str:
    return "".join(json.dumps(r) + "\n" for r in rows)


def am_call(tmp: Path, **kw: Any) -> Any:
    return read_amazon(tmp / "reviews.json", tmp / "meta.json", **kw)


def am(
    id: str,
    *,
    line: int | None,
    expect: str,
    review: str | None = None,
    meta: str | None = None,
    whole: str | bytes | None = None,
    file: str = "reviews.json",
    **kw: Any,
) -> Case:
    """Baseline reviews + metadata; ``review`` is an extra review line (line 4), ``meta`` replaces the
    row of A2 (line 2 of meta.json)."""
    files: dict[str, str | bytes] = {
        "reviews.json": _jl(REVIEWS) + (review + "\n" if review is not None else ""),
        "meta.json": _jl(META[:1]) + (meta + "\n" if meta is not None else _jl(META[1:])),
    }
    if whole is not None:
        files[file] = whole
    kw.setdefault("kept", 3)
    return Case(id, files, kw.pop("call", am_call), file, line, expect, **kw)


def _review(**changes: Any) -> str:
    return json.dumps(
        {"reviewerID": "u2", "asin": "A2", "overall": 2.0, "unixReviewTime": 1400000300, **changes}
    )


def _review_raw(field_: str, raw: str) -> str:
    """A review line whose ``field_`` is the JSON text ``raw`` (NaN, Infinity, huge numbers…)."""
    return _review(**{field_: "@@"}).replace('"@@"', raw)


def _readable_lines(gz: bytes) -> int:
    """Lines that decompress before a truncated gzip stream ends (the error names the next one)."""
    out = zlib.decompressobj(wbits=31).decompress(gz)
    return out.count(b"\n")


_FULL_GZ = gzip.compress(
    _jl([{**REVIEWS[0], "reviewerID": f"u{i}", "asin": f"A{i * 7919 % 3001}"} for i in range(3000)]).encode()
)
TRUNCATED = _FULL_GZ[: len(_FULL_GZ) // 2]
META_A2 = '{"asin": "A2", "title": "Two", %s}'
AM_CASES = [
    am("am_ts_beyond_64_bits", review=_review(unixReviewTime=99999999999999999999), line=4,
       expect="expected an integer unix timestamp within 64 bits for unixReviewTime, "
       "got '99999999999999999999'"),
    am("am_ts_string_1e30", review=_review(unixReviewTime="1e30"), line=4,
       expect="an integer unix timestamp within 64 bits for unixReviewTime, got '\"1e30\"'"),
    am("am_ts_negative", review=_review(unixReviewTime=-86400), line=4,
       expect="expected a Unix time in seconds between 0 (1970-01-01) and 4102444800 (2100-01-01) for "
       "unixReviewTime, got -86400 (1969-12-31)"),
    am("am_ts_milliseconds", review=_review(unixReviewTime=1400000300000), line=4,
       expect="got 1400000300000 (after the year 9999), which looks like milliseconds: 1400000300 in "
       "seconds"),
    am("am_rating_nan", review=_review_raw("overall", "NaN"), line=4,
       expect="expected a finite rating between 0 and 10 for overall, got 'NaN'"),
    am("am_rating_infinity", review=_review_raw("overall", "Infinity"), line=4,
       expect="a finite rating between 0 and 10 for overall, got 'Infinity'"),
    am("am_rating_1e400", review=_review_raw("overall", "1e400"), line=4,
       expect="a finite rating between 0 and 10 for overall, got 'Infinity'"),
    am("am_rating_above_range", review=_review(overall=11), line=4,
       expect="a finite rating between 0 and 10 for overall, got '11'"),
    am("am_rating_huge_integer", review=_review(overall=10**30), line=4,
       expect="a finite rating between 0 and 10 for overall, got '1000000000000000000000000000000'"),
    am("am_rating_string_nan", review=_review(overall="nan"), line=4,
       expect="a finite rating between 0 and 10 for overall, got '\"nan\"'"),
    am("am_json_nested_too_deeply", review="[" * 100_000, line=4,
       expect="expected one JSON object per line, got JSON nested too deeply"),
    am("am_integer_with_5000_digits", review=_review_raw("overall", "9" * 5000), line=4,
       expect="expected one JSON object per line, got invalid JSON (Exceeds the limit"),
    am("am_lone_surrogate", review=_review(reviewerID="\ud800"), line=4,
       expect="expected JSON strings of valid Unicode, got a lone surrogate escape"),
    am("am_json_list", review="[1, 2]", line=4, held=True,
       expect="expected one JSON object per line, got a JSON list"),
    am("am_missing_asin", review='{"reviewerID": "u2", "overall": 1, "unixReviewTime": 1}', line=4, held=True,
       expect="expected a review with reviewerID, asin, overall and unixReviewTime, got no 'asin'"),
    am("am_rating_boolean", review=_review(overall=True), line=4, held=True,
       expect="expected a number for overall, got 'true'"),
    # metadata rows of the wrong JSON types (line 2 = A2's row)
    am("am_meta_category_number", meta=META_A2 % '"category": 5', file="meta.json", line=2,
       expect="expected a list of strings for 'category', got a JSON number '5'"),
    am("am_meta_category_string", meta=META_A2 % '"category": "Books"', file="meta.json", line=2,
       expect="expected a list of strings for 'category', got a JSON string '\"Books\"'"),
    am("am_meta_title_list", meta='{"asin": "A2", "title": ["Two"]}', file="meta.json", line=2,
       expect="expected a string for 'title', got a JSON array '[\"Two\"]'"),
    am("am_meta_description_object", meta=META_A2 % '"description": {"a": 1}', file="meta.json", line=2,
       expect="expected a string or a list of strings for 'description', got a JSON object"),
    am("am_meta_also_buy_numbers", meta=META_A2 % '"also_buy": [1, 2]', file="meta.json", line=2,
       expect="expected a list of asin strings for 'also_buy', got a list holding a JSON number '1'"),
    am("am_meta_brand_number", meta=META_A2 % '"brand": 7', file="meta.json", line=2,
       expect="expected a string for 'brand', got a JSON number '7'"),
    am("am_meta_main_cat_null_in_list", meta=META_A2 % '"also_view": ["A1", null]', file="meta.json", line=2,
       expect="expected a list of asin strings for 'also_view', got a list holding a JSON null 'null'"),
    am("am_meta_not_an_object", meta="5", file="meta.json", line=2, held=True,
       expect="expected one JSON object per line, got a JSON int"),
    # whole-file
    # the error existed before, but named a line up to 64 KiB of text too early
    am("am_truncated_gzip", whole=TRUNCATED, file="reviews.json.gz", line=_readable_lines(TRUNCATED) + 1,
       record=False, expect="expected a complete gzip stream, got a truncated file",
       call=lambda tmp, **kw: read_amazon(tmp / "reviews.json.gz", None, **kw)),
    am("am_utf16_reviews", whole=_jl(REVIEWS).encode("utf-16"), line=None, record=False,
       expect="expected UTF-8 text, got UTF-16 text"),
    am("am_gzip_without_gz_name", whole=gzip.compress(_jl(REVIEWS).encode()), line=None, record=False,
       expect="expected a plain text file (gzip-compressed files need a name ending in .gz)"),
    am("am_k_core_leaves_nothing", line=None, record=False, kwargs={"k_core": 3},
       expect="expected interactions left after the 3-core (users and items with at least 3 interactions "
       "each), got none of 3 interactions left (2 users with at most 2 interactions each, 2 items"),
]  # fmt: skip

# ---------------------------------------------------------------- RecBole atomic baseline: 3 rows
INTER_H = "user_id:token\titem_id:token\trating:float\ttimestamp:float\n"
INTER = INTER_H + "u1\ti1\t1\t1400000000\nu1\ti2\t1\t1400000100\nu2\ti1\t1\t1400000200\n"


def at(
    id: str,
    *,
    file: str = "d.inter",
    line: int | None,
    expect: str,
    inter: str = "",
    item: str | None = None,
    user: str | None = None,
    kg: str | None = None,
    link: str | None = None,
    whole: str | None = None,
    **kw: Any,
) -> Case:
    files: dict[str, str | bytes] = {"d.inter": INTER + inter}
    for ext, v in (("item", item), ("user", user), ("kg", kg), ("link", link)):
        if v is not None:
            files[f"d.{ext}"] = v
    if whole is not None:
        files[file] = whole
    kw.setdefault("kept", 3)
    return Case(id, files, lambda tmp, **k: read_atomic(tmp / "d", **k), file, line, expect, **kw)


ITEM_H = "item_id:token\ttitle:token\tyear:token\n"
USER_H = "user_id:token\tage:token\n"
KG_H = "head_id:token\trelation_id:token\ttail_id:token\n"
LINK_H = "item_id:token\tentity_id:token\n"
AT_CASES = [
    at("at_ts_beyond_64_bits", inter="u2\ti2\t1\t99999999999999999999\n", line=5,
       expect="expected an integer unix timestamp within 64 bits, got '99999999999999999999'"),
    at("at_ts_1e30", inter="u2\ti2\t1\t1e30\n", line=5,
       expect="expected an integer unix timestamp within 64 bits, got '1e30'"),
    at("at_ts_negative", inter="u2\ti2\t1\t-1\n", line=5,
       expect="expected a Unix time in seconds between 0 (1970-01-01) and 4102444800 (2100-01-01) for "
       "timestamp, got -1 (1969-12-31)"),
    at("at_ts_year_5138", inter="u2\ti2\t1\t99999999999\n", line=5, expect="got 99999999999 (5138-11-16)"),
    at("at_ts_before_custom_min", inter="u2\ti2\t1\t100\n", line=5, kwargs={"ts_min": 86400},
       expect="between 86400 (1970-01-02) and 4102444800 (2100-01-01) for timestamp, got 100"),
    at("at_rating_nan", inter="u2\ti2\tnan\t1400000300\n", line=5,
       expect="expected a finite number for rating, got 'nan'"),
    at("at_rating_inf", inter="u2\ti2\tinf\t1400000300\n", line=5,
       expect="expected a finite number for rating, got 'inf'"),
    at("at_rating_above_range", inter="u2\ti2\t42\t1400000300\n", line=5,
       expect="expected a finite rating between 0 and 10 for rating, got '42'"),
    at("at_blank_user_id", inter=" \ti2\t1\t1400000300\n", line=5,
       expect="expected a user id and an item id, got an empty id"),
    at("at_wrong_field_count", inter="u2\ti2\t1\n", line=5, held=True,
       expect="expected 4 tab-separated fields (user_id, item_id, rating, timestamp), got 3"),
    at("at_ts_not_a_number", inter="u2\ti2\t1\tsoon\n", line=5, held=True,
       expect="expected an integer unix timestamp, got 'soon'"),
    # .item / .user / .kg / .link
    at("at_year_beyond_64_bits", item=ITEM_H + "i1\tOne\t2001\ni9\tNine\t99999999999999999999\n",
       file="d.item", line=3, expect="expected an integer year within 64 bits, got '99999999999999999999'"),
    at("at_year_out_of_range", item=ITEM_H + "i1\tOne\t2001\ni9\tNine\t12000\n", file="d.item", line=3,
       expect="expected a year between -9999 and 9999, got 12000"),
    at("at_age_beyond_64_bits", user=USER_H + "u1\t30\nu9\t99999999999999999999\n", file="d.user", line=3,
       expect="expected an integer age within 64 bits, got '99999999999999999999'"),
    at("at_age_negative", user=USER_H + "u1\t30\nu9\t-1\n", file="d.user", line=3,
       expect="expected an age between 0 and 150, got -1"),
    at("at_kg_iri_with_space", kg=KG_H + "res:A\tdirector\tres:B\nres:A\tdirector\thttp://e/C D\n",
       link=LINK_H + "i1\tres:A\n", file="d.kg", line=3,
       expect="expected an IRI for tail_id without spaces, control characters, <, > or \" (percent-encode "
       "them), got 'http://e/C D', which contains ' '"),
    at("at_link_iri_with_quote", link=LINK_H + "i1\tres:A\ni2\thttp://e/\"B\"\n", file="d.link", line=3,
       expect="which contains '\"'"),
    at("at_link_conflict", link=LINK_H + "i1\tres:A\ni1\tres:B\n", file="d.link", line=3, held=True,
       expect="expected one entity per item"),
    # whole-file
    at("at_header_only", whole=INTER_H, line=None, record=False,
       expect="expected interaction rows after the header line, got only the header"),
    at("at_duplicate_header_column", whole="user_id:token\titem_id:token\tuser_id:token\nu\ti\tu\n", line=1,
       record=False, held=True, expect="got column 'user_id' twice"),
    at("at_header_without_types", whole="user_id\titem_id\nu\ti\n", line=1, record=False, held=True,
       expect="got column header 'user_id'"),
    at("at_k_core_leaves_nothing", line=None, record=False, kwargs={"k_core": 50},
       expect="expected interactions left after the 50-core"),
]  # fmt: skip

# ---------------------------------------------------------------- RDF baseline: one linked item, 1 edge
DBO = "http://dbpedia.org/ontology/"
NT_OK = f"<http://e/a> <{DBO}director> <http://e/d> .\n"
TTL_OK = f"@prefix dbo: <{DBO}> .\n<http://e/a> dbo:director <http://e/d> .\n"
XML_HEAD = (
    '<?xml version="1.0"?>\n'
    '<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"'
    ' xmlns:dbo="http://dbpedia.org/ontology/">\n'
    '<rdf:Description rdf:about="http://e/a"><dbo:director rdf:resource="http://e/d"/></rdf:Description>\n'
)


def rdf(id: str, name: str, text: str | bytes, *, line: int | None, expect: str, **kw: Any) -> Case:
    kw.setdefault("kept", 1)
    return Case(
        id, {name: text}, lambda tmp, **k: read_rdf(tmp / name, {"1": "http://e/a"}, **k), name, line, expect,
        **kw,
    )  # fmt: skip


_BOMB = (
    '<?xml version="1.0"?>\n<!DOCTYPE rdf:RDF [<!ENTITY a "aaaaaaaaaa">'
    + "".join(f'<!ENTITY {chr(98 + i)} "{("&" + chr(97 + i) + ";") * 10}">' for i in range(8))
    + ']>\n<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" xmlns:e="http://e/">\n'
    '<rdf:Description rdf:about="http://e/a"><e:p>&i;</e:p></rdf:Description>\n</rdf:RDF>\n'
)
RDF_CASES = [
    rdf("nt_relative_iris", "k.nt", NT_OK + "<foo> <bar> <baz> .\n", line=2,
        expect="expected an N-Triples statement with absolute IRIs such as <http://…> (N-Triples has no base "
        "IRI to resolve relative ones against), got the relative IRI '<foo>'"),
    rdf("nt_relative_object", "k.nt", NT_OK + f"<http://e/a> <{DBO}director> <d2> .\n", line=2,
        expect="got the relative IRI '<d2>'"),
    rdf("nt_relative_datatype", "k.nt", NT_OK + '<http://e/a> <http://e/p> "1"^^<int> .\n', line=2,
        expect="got the relative IRI '<int>'"),
    rdf("nt_lone_surrogate_escape", "k.nt", NT_OK + '<http://e/a> <http://e/p> "x\\uD800" .\n', line=2,
        expect="a lone surrogate escape (\\uD800–\\uDFFF) is not a character"),
    rdf("nt_escaped_space_in_iri", "k.nt", NT_OK + f"<http://e/a> <{DBO}director> <http://e/x\\u0020y> .\n",
        line=2, expect="IRI 'http://e/x y' contains ' '"),
    rdf("nt_nul_byte", "k.nt", NT_OK.encode() + b"<http://e/a> <http://e/p> <http://e/\x00> .\n", line=2,
        expect="expected a line of text, got a NUL byte at column 37 (binary data?)"),
    rdf("nt_not_utf8", "k.nt", NT_OK.encode() + b'<http://e/a> <http://e/p> "caf\xe9" .\n', line=2,
        held=True, expect="expected UTF-8 text, got byte 0xe9 at column 31"),
    rdf("nt_syntax_error", "k.nt", NT_OK + "<http://e/a> <http://e/p> oops .\n", line=2, held=True,
        expect="expected an N-Triples statement (<subject> <predicate> <object> or \"literal\" .), got"),
    rdf("nt_gzip_without_gz_name", "k.nt", gzip.compress(NT_OK.encode()), line=None, record=False,
        expect="expected a plain text file (gzip-compressed files need a name ending in .gz)"),
    rdf("nt_empty", "k.nt", "\n", line=None, record=False, held=True,
        expect="expected N-Triples statements, got an empty file"),
    rdf("ttl_relative_iri", "k.ttl", TTL_OK + "<foo> dbo:director <http://e/d> .\n", line=3,
        expect="expected Turtle statements with absolute IRIs (relative ones need a @base declaration in the "
        "file), got the relative IRI '<foo>'"),
    rdf("ttl_relative_prefix", "k.ttl", TTL_OK + "@prefix r: <rel/> .\n<http://e/a> dbo:director r:d .\n",
        line=3, expect="got the relative IRI '<rel/>'"),
    rdf("ttl_relative_datatype", "k.ttl", TTL_OK + '<http://e/a> <http://e/p> "1"^^<int> .\n', line=3,
        expect="got the relative IRI '<int>'"),
    rdf("ttl_lone_surrogate_escape", "k.ttl", TTL_OK + '<http://e/a> <http://e/p> "x\\uD800" .\n', line=None,
        expect="expected Turtle statements of valid Unicode text, got a lone surrogate escape"),
    rdf("ttl_not_utf8", "k.ttl", TTL_OK.encode() + b'<http://e/a> <http://e/p> "caf\xe9" .\n', line=3,
        record=False, expect="expected UTF-8 text, got byte 0xe9 at column 31"),
    rdf("ttl_syntax_error", "k.ttl", TTL_OK + "<http://e/a> dbo:director .\n", line=3, record=False,
        held=True, expect="expected valid Turtle, got a syntax error"),
    rdf("xml_relative_about", "k.rdf", XML_HEAD
        + '<rdf:Description rdf:about="foo"><dbo:director rdf:resource="http://e/d"/></rdf:Description>\n'
        + "</rdf:RDF>\n", line=4,
        expect="expected RDF/XML statements with absolute IRIs (relative ones need an xml:base attribute in "
        "the file), got the relative IRI 'rdf:about=\"foo\"'"),
    rdf("xml_rdf_id_without_base", "k.rdf", XML_HEAD
        + '<rdf:Description rdf:ID="x"><dbo:director rdf:resource="http://e/d"/></rdf:Description>\n'
        + "</rdf:RDF>\n", line=4, expect="got the relative IRI 'rdf:ID=\"x\"'"),
    rdf("xml_entity_bomb", "k.rdf", _BOMB, line=4, record=False,
        expect="entity references that expand to more (an XML entity bomb?)"),
    rdf("xml_not_utf8", "k.rdf", XML_HEAD.encode() + "<!-- café -->\n</rdf:RDF>\n".encode("latin-1"),
        line=4, record=False, expect="expected UTF-8 text, got byte 0xe9 at column 9"),
    rdf("xml_syntax_error", "k.rdf", XML_HEAD + "<rdf:Description>\n</rdf:RDF>\n", line=5, record=False,
        held=True, expect="expected valid RDF/XML, got a syntax error: mismatched tag"),
]  # fmt: skip

CASES = ML_CASES + AM_CASES + AT_CASES + RDF_CASES


def _write(tmp: Path, case: Case) -> None:
    for name, content in case.files.items():
        p = tmp / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(content.encode("utf-8", "surrogatepass") if isinstance(content, str) else content)


def _edges(gf: Any) -> int:
    rated = rel(gf, "RATED")
    return len(rated) if any(rf.type == "RATED" for rf in gf.rels) else gf.stats["rdf_edges"]


def test_corpus_is_large_and_mostly_new() -> None:
    assert len(CASES) >= 60
    assert len({c.id for c in CASES}) == len(CASES)
    assert sum(not c.held for c in CASES) >= 60


@pytest.mark.timeout(60)
@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_malformed_input_is_an_input_error(case: Case, tmp_path: Path) -> None:
    _write(tmp_path, case)
    with pytest.raises(InputError) as e:
        case.call(tmp_path, **case.kwargs)
    err = e.value
    path = str(tmp_path / case.file)
    where = path if case.line is None else f"{path}:{case.line}"
    assert (err.path, err.line) == (path, case.line), str(err)
    assert str(err).startswith(f"{where}: expected "), str(err)
    assert case.expect in str(err), str(err)
    if case.record:
        assert "--skip-invalid" in str(err) and "--rejects FILE" in str(err)


RECORD_CASES = [c for c in CASES if c.record]


@pytest.mark.parametrize("case", RECORD_CASES, ids=[c.id for c in RECORD_CASES])
def test_skip_invalid_skips_exactly_that_record(case: Case, tmp_path: Path) -> None:
    _write(tmp_path, case)
    rejects = tmp_path / "out" / "rejects.jsonl"
    gf = case.call(tmp_path, skip_invalid=True, rejects=rejects, **case.kwargs)
    assert gf.stats["skipped"] == 1
    recs = [json.loads(x) for x in rejects.read_text(encoding="utf-8").splitlines()]
    assert [(r["file"], r["line"]) for r in recs] == [(str(tmp_path / case.file), case.line)]
    assert case.expect in recs[0]["error"]
    assert recs[0]["raw"]
    if case.kept is not None:
        assert _edges(gf) == case.kept


@pytest.mark.parametrize(
    "case", [c for c in CASES if not c.record], ids=[c.id for c in CASES if not c.record]
)
def test_whole_file_errors_are_not_skipped(case: Case, tmp_path: Path) -> None:
    _write(tmp_path, case)
    with pytest.raises(InputError, match="expected"):
        case.call(tmp_path, skip_invalid=True, rejects=tmp_path / "rejects.jsonl", **case.kwargs)


# ---------------------------------------------------------------- arguments, advice, what now works


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"k_core": -1},
            r"k-core must be 0 \(off\) or a positive number of interactions \(--k-core\), got -1",
        ),
        ({"hops": 0}, r"hops must be at least 1 \(--hops\), got 0"),
        ({"rating_min": 5, "rating_max": 1}, r"rating_min \(5\) must not exceed rating_max \(1\)"),
        ({"rating_max": float("nan")}, r"rating_max must be a finite number"),
        ({"ts_min": 10, "ts_max": 0}, r"ts_min \(10\) must not exceed ts_max \(0\)"),
    ],
)
def test_reader_arguments_are_checked_first(kwargs: dict, message: str, tmp_path: Path) -> None:
    for reader in (
        lambda **k: read_movielens(tmp_path / "nowhere", **k),
        lambda **k: read_amazon(tmp_path / "nowhere.json", None, **k),
        lambda **k: read_atomic(tmp_path / "nowhere", **k),
    ):
        with pytest.raises(ValueError, match=message) as e:
            reader(**kwargs)
        assert not isinstance(e.value, InputError)  # an argument, not a file, is wrong
    if "hops" in kwargs:
        from persona.ingest import fetch_dbpedia

        with pytest.raises(ValueError, match=message):
            read_rdf(tmp_path / "nowhere.nt", {}, **kwargs)
        with pytest.raises(ValueError, match=message):
            fetch_dbpedia({}, cache_dir=tmp_path / "cache", offline=True, **kwargs)


def test_sparql_batch_must_be_positive(tmp_path: Path) -> None:
    from persona.ingest import fetch_triples

    with pytest.raises(ValueError, match=r"batch must be at least 1 item per query \(--batch\), got 0"):
        fetch_triples(["http://e/a"], batch=0, cache_dir=tmp_path, offline=True)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"users": 0}, r"users must be a whole number of at least 1 \(--users\), got 0"),
        ({"items": 3}, r"items must be at least 4 per taste \(32 for 8 tastes\) \(--items\), got 3"),
        ({"seed": -1}, r"seed must be a whole number from 0 to 2\*\*63-1 \(--seed\), got -1"),
        ({"history": (5,)}, r"history must be a \(min, max\) pair"),
        ({"session_len": (3, 2)}, r"session_len must be a \(min, max\) pair"),
        ({"p_intent": float("nan")}, r"p_intent must be a probability between 0 and 1, got nan"),
        ({"also_buy": -3}, r"also_buy must be a whole number from 0 to items \(600\), got -3"),
        ({"start_ts": 10**19}, r"start_ts must be a Unix time in seconds"),
        ({"k_core": -2}, r"k-core must be 0 \(off\)"),
        (
            {"users": 3, "items": 32, "k_core": 1000},
            r"generated demo data: expected interactions left after the ",
        ),
    ],
)
def test_demo_arguments(kwargs: dict, message: str) -> None:
    from persona.ingest import generate_demo

    with pytest.raises(ValueError, match=message):
        generate_demo(**kwargs)


def test_advice_names_cli_flags_not_python_keywords(tmp_path: Path) -> None:
    from persona.ingest.errors import SKIP_HINT

    assert "--skip-invalid" in SKIP_HINT and "--rejects FILE" in SKIP_HINT and "skip_invalid" not in SKIP_HINT
    _write(tmp_path, ml("x", file="ml/u.data", line=None, expect=""))
    write_nt = tmp_path / "k.nt"
    write_nt.write_text(NT_OK)
    with pytest.raises(ValueError, match="pass --link FILE") as e:
        read_movielens(tmp_path / "ml", rdf=[write_nt])
    assert "link=" not in str(e.value)


def test_now_accepted_byte_order_mark_and_prefix_with_extension(tmp_path: Path) -> None:
    """Not errors: a UTF-8 byte order mark is dropped, and an atomic prefix may name the .inter file."""
    _write(tmp_path, ml("x", file="ml/u.data", line=None, expect="", whole="\ufeff" + ML_DATA))
    assert len(rel(read_movielens(tmp_path / "ml"), "RATED")) == 4
    (tmp_path / "ml" / "u.item").write_text(ML_ITEM.replace("Four Rooms", "Café Society"), encoding="utf-8")
    titles = read_movielens(tmp_path / "ml").nodes["Item"]["title"].tolist()
    assert "Café Society" in titles  # a UTF-8 copy of u.item is not read as latin-1 mojibake
    (tmp_path / "d.inter").write_text("\ufeff" + INTER, encoding="utf-8")
    assert len(rel(read_atomic(tmp_path / "d.inter"), "RATED")) == 3
    nt = tmp_path / "pair.nt"  # a surrogate pair written as two escapes is one character
    nt.write_text(NT_OK + '<http://e/d> <http://www.w3.org/2000/01/rdf-schema#label> "\\uD83D\\uDE00" .\n')
    gf = read_rdf(nt, {"1": "http://e/a"})
    assert gf.nodes["Person"]["name"].tolist() == ["\U0001f600"]
    ttl = tmp_path / "based.ttl"  # relative IRIs are fine where the file declares its base
    ttl.write_text(f"@base <http://e/> .\n<a> <{DBO}director> <d> .\n")
    assert read_rdf(ttl, {"1": "http://e/a"}).stats["rdf_edges"] == 1
