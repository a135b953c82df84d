"""Helpers shared by the ingest tests (tiny files, edge sets)."""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterable
from pathlib import Path

import pandas as pd

#: An id that would be harmful if anything pasted it into Cypher text; parsers must keep it verbatim.
EVIL = "x'}) DETACH DELETE n //"


def write(path: Path, text: str | bytes, *, gz: bool = False, encoding: str = "utf-8") -> Path:
    """Write ``text`` to ``path`` (gzip-compressed when ``gz``) and return the path."""
    data = text.encode(encoding) if isinstance(text, str) else text
    path.parent.mkdir(parents=True, exist_ok=True)
    if gz:
        with gzip.open(path, "wb") as fh:
            fh.write(data)
    else:
        path.write_bytes(data)
    return path


def jsonl(rows: Iterable[dict]) -> str:
    """JSON lines text."""
    return "".join(json.dumps(r) + "\n" for r in rows)


def rel(gf, type_: str, src_label: str | None = None, dst_label: str | None = None):
    """The single RelFrame dataframe of (type, src, dst); concatenated when labels are left open."""
    dfs = [
        rf.df
        for rf in gf.rels
        if rf.type == type_
        and (src_label is None or rf.src_label == src_label)
        and (dst_label is None or rf.dst_label == dst_label)
    ]
    if not dfs:
        return pd.DataFrame(columns=["src", "dst"])
    return pd.concat(dfs, ignore_index=True)


def edges(gf, type_: str, src_label: str | None = None, dst_label: str | None = None) -> set[tuple[str, str]]:
    """{(src, dst)} of a relationship type."""
    df = rel(gf, type_, src_label, dst_label)
    return set(zip(df["src"], df["dst"]))
