"""RecBole atomic-file plumbing: ``name:type`` headers and ``.link`` files (item id → entity IRI)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from os import PathLike
from pathlib import Path

from ._io import iter_lines
from ._text import bad_iri_char, expand_entity
from .errors import InputError, RecordPolicy, show

RECBOLE_TYPES = ("token", "token_seq", "float", "float_seq")


def read_header(
    path: Path, text: str, known: Mapping[str, str], required: tuple[str, ...]
) -> tuple[dict[str, int], dict[str, str]]:
    """Parse a RecBole header line (tab-separated ``name:type``) into {name: column index}, {name: type}.

    Args:
        path: The file (for errors).
        text: The first line.
        known: Accepted column names, each with a description used in the error message.
        required: Names that must be present.

    Raises:
        InputError: a column is not ``name:type``, has an unknown name or type, repeats, or a required
            one is missing. The message names the header.
    """
    cols: dict[str, int] = {}
    types: dict[str, str] = {}
    expect = "a header of tab-separated name:type columns among " + ", ".join(known)
    for i, field in enumerate(text.split("\t")):
        name, sep, typ = field.strip().partition(":")
        if not sep or typ not in RECBOLE_TYPES:
            raise InputError(
                path, 1, expect + f" (types: {', '.join(RECBOLE_TYPES)})", f"column header {show(field)}"
            )
        if name not in known:
            raise InputError(path, 1, expect, f"unknown column header {show(field)}")
        if name in cols:
            raise InputError(path, 1, expect, f"column {show(name)} twice")
        cols[name] = i
        types[name] = typ
    missing = [r for r in required if r not in cols]
    if missing:
        raise InputError(path, 1, expect + f", including {', '.join(required)}", f"no column {missing[0]!r}")
    return cols, types


def iter_table(
    path: str | PathLike[str],
    policy: RecordPolicy,
    known: Mapping[str, str],
    required: tuple[str, ...],
    what: str,
) -> tuple[dict[str, int], dict[str, str], Iterator[tuple[int, str, list[str]]]]:
    """Open a RecBole atomic file: column indexes, column types, and an iterator of (line, raw, fields).

    Rows with the wrong number of fields go to ``policy``.
    """
    path = Path(path)
    lines = iter_lines(path, policy, expected=what)
    try:
        lineno, header = next(lines)
    except StopIteration:  # pragma: no cover - iter_lines raises on empty files
        raise InputError(path, None, what, "an empty file") from None
    if lineno != 1:
        raise InputError(path, lineno, "the header on line 1", "blank lines before it")
    cols, types = read_header(path, header, known, required)
    width = len(header.split("\t"))
    names = ", ".join(sorted(cols, key=cols.__getitem__))

    def rows() -> Iterator[tuple[int, str, list[str]]]:
        for n, text in lines:
            fields = text.split("\t")
            if len(fields) != width:
                policy.bad(
                    InputError(path, n, f"{width} tab-separated fields ({names})", f"{len(fields)}"), text
                )
                continue
            yield n, text, fields

    return cols, types, rows()


_LINK_COLS = {"item_id": "item id", "entity_id": "entity IRI or res:NAME"}


def read_link(path: str | PathLike[str], policy: RecordPolicy, *, tokens_ok: bool = False) -> dict[str, str]:
    """Read a RecBole ``.link`` file: ``item_id:token<TAB>entity_id:token``.

    Entity values are full IRIs or ``res:X`` (= ``http://dbpedia.org/resource/X``), kept verbatim
    otherwise (no re-encoding, so they match the IRIs of DBpedia dumps). With ``tokens_ok`` any other
    non-empty value is accepted as an entity token (RecBole ``.kg`` files may use plain tokens).

    Returns:
        {item id: entity IRI}. A repeated item id with the same IRI is ignored; with a different IRI it
        is a bad record (the first one is kept when skipping).
    """
    path = Path(path)
    cols, _types, rows = iter_table(
        path, policy, _LINK_COLS, ("item_id", "entity_id"), "a RecBole .link file"
    )
    ci, ce = cols["item_id"], cols["entity_id"]
    out: dict[str, str] = {}
    for n, text, f in rows:
        item = f[ci]
        iri = expand_entity(f[ce])
        if iri is None and tokens_ok and f[ce].strip():
            iri = f[ce].strip()
        if not item.strip() or iri is None:
            got = "an empty item id" if not item.strip() else show(f[ce])
            policy.bad(InputError(path, n, "an item id and an entity IRI (http://…) or res:NAME", got), text)
            continue
        bad = bad_iri_char(iri) if iri.startswith(("http://", "https://")) else None
        if bad is not None:
            policy.bad(
                InputError(
                    path,
                    n,
                    'an entity IRI without spaces, control characters, <, > or " (percent-encode them)',
                    f"{show(f[ce])}, which contains {bad!r}",
                ),
                text,
            )
            continue
        prev = out.get(item)
        if prev is not None and prev != iri:
            policy.bad(
                InputError(path, n, f"one entity per item (item {item!r} is linked to {prev})", show(iri)),
                text,
            )
            continue
        out[item] = iri
    return out
