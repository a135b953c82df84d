"""Line reading: block boundaries, CRLF, gzip, and exact line numbers."""

from __future__ import annotations

from pathlib import Path

import pytest
from ingest_testutil import write
from persona.ingest import InputError, _io
from persona.ingest._text import clean_html, iri_name, movielens_title, snippet
from persona.ingest.errors import RecordPolicy


@pytest.mark.parametrize("block", [3, 7, 64, 1 << 22])
@pytest.mark.parametrize("gz", [False, True])
def test_lines_and_numbers_across_blocks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, block: int, gz: bool
) -> None:
    monkeypatch.setattr(_io, "_BLOCK", block)
    text = "alpha\r\nbeta\r\n\r\n  \ngamma delta\nlast-no-newline\r"
    p = write(tmp_path / ("f.txt.gz" if gz else "f.txt"), text, gz=gz)
    got = list(_io.iter_lines(p, RecordPolicy(), expected="text"))
    assert got == [(1, "alpha"), (2, "beta"), (5, "gamma delta"), (6, "last-no-newline")]


def test_bad_bytes_in_a_later_block_report_their_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_io, "_BLOCK", 8)
    p = write(tmp_path / "f.txt", b"one\ntwo\nthree\nf\xc3\x28ur\nfive\n")
    with pytest.raises(InputError, match=r"f\.txt:4: expected UTF-8 text, got byte 0xc3 at column 2"):
        list(_io.iter_lines(p, RecordPolicy(), expected="text"))
    policy = RecordPolicy(skip_invalid=True)
    assert [n for n, _ in _io.iter_lines(p, policy, expected="text")] == [1, 2, 3, 5]
    assert [r["line"] for r in policy.records] == [4]


def test_text_helpers() -> None:
    assert (
        iri_name("http://dbpedia.org/resource/Anna_and_the_King_(1999_film)")
        == "Anna and the King (1999 film)"
    )
    assert iri_name("http://dbpedia.org/resource/Who%27s_Afraid_of_Beowulf%3F") == "Who's Afraid of Beowulf?"
    assert iri_name("http://example.org/onto#Thing") == "Thing"
    assert clean_html('<span class="a-size-medium a-color-secondary"') == ""
    assert clean_html(' Magazines" />') == ""
    assert clean_html("<b>Tom &amp; Jerry</b>  Weekly") == "Tom & Jerry Weekly"
    assert snippet("First sentence here. Second one.") == "First sentence here"
    assert snippet("word " * 40, limit=20) == "word word word word…"
    assert movielens_title("Usual Suspects, The (1995)") == ("The Usual Suspects", 1995)
    assert movielens_title("Horseman on the Roof, The (Hussard sur le toit, Le) (1995)") == (
        "The Horseman on the Roof (Hussard sur le toit, Le)",
        1995,
    )
    assert movielens_title("Land Before Time III: The Time of the Great Giving (1995) (V)") == (
        "Land Before Time III: The Time of the Great Giving (V)",
        1995,
    )
    assert movielens_title("Postino, Il (1994)") == ("Il Postino", 1994)
    assert movielens_title("unknown") == ("unknown", None)
