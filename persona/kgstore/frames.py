"""The in-memory form of a parsed source, handed from ``ingest`` to a store in one piece.

Parsing builds a complete :class:`GraphFrames` before anything is written, so bad input is refused with
the store untouched, and a store can load it in bulk (Arrow/DataFrame into the embedded store,
``UNWIND $rows`` batches into Neo4j).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd

import pyarrow as pa
import pyarrow.compute as pc

from .schema import NODE_TYPES, REL_TYPES, node_label, rel_key, rel_type


@dataclass
class RelFrame:
    """Relationships of one type between one (source label, target label) pair.

    ``df`` has columns ``src`` and ``dst`` (node ids, strings) plus the type's properties.
    """

    type: str
    src_label: str
    dst_label: str
    df: pd.DataFrame

    def __post_init__(self) -> None:
        rel_type(self.type)
        node_label(self.src_label)
        node_label(self.dst_label)


@dataclass
class GraphFrames:
    """Nodes per label and relationships per (type, source label, target label).

    ``nodes[label]`` is a DataFrame with an ``id`` column (strings, unique) and any of the label's
    properties. ``stats`` carries parser counts (skipped records, unknown predicates…) for the summary.
    """

    nodes: dict[str, pd.DataFrame] = field(default_factory=dict)
    rels: list[RelFrame] = field(default_factory=list)
    stats: dict[str, Any] = field(default_factory=dict)

    def add_nodes(self, label: str, df: pd.DataFrame) -> None:
        """Add (or append to) the nodes of ``label``; later duplicates of an id are dropped."""
        node_label(label)
        unknown = set(df.columns) - {"id"} - set(NODE_TYPES[label].props)
        if unknown:
            raise ValueError(f"{label}: properties not in the schema: {sorted(unknown)}")
        df = df.copy()
        df["id"] = df["id"].astype(str)
        if label in self.nodes:
            df = pd.concat([self.nodes[label], df], ignore_index=True)
        self.nodes[label] = df.drop_duplicates("id", keep="first").reset_index(drop=True)

    def add_rels(self, type: str, src_label: str, dst_label: str, df: pd.DataFrame) -> None:
        """Add relationships; duplicates of (src, dst[, key props]) within the same frame are dropped."""
        unknown = set(df.columns) - {"src", "dst"} - set(REL_TYPES[rel_type(type)].props)
        if unknown:
            raise ValueError(f"{type}: properties not in the schema: {sorted(unknown)}")
        df = df.copy()
        df["src"] = df["src"].astype(str)
        df["dst"] = df["dst"].astype(str)
        for rf in self.rels:
            if (rf.type, rf.src_label, rf.dst_label) == (type, src_label, dst_label):
                rf.df = pd.concat([rf.df, df], ignore_index=True).drop_duplicates(rel_key(type))
                return
        self.rels.append(RelFrame(type, src_label, dst_label, df.drop_duplicates(rel_key(type))))

    def merge(self, other: "GraphFrames") -> "GraphFrames":
        """Fold ``other`` into this one (used to combine interactions with RDF knowledge)."""
        for label, df in other.nodes.items():
            self.add_nodes(label, df)
        for rf in other.rels:
            self.add_rels(rf.type, rf.src_label, rf.dst_label, rf.df)
        for k, v in other.stats.items():
            mine = self.stats.get(k)
            if isinstance(v, (int, float)) and not isinstance(v, bool) and isinstance(mine, (int, float)):
                self.stats[k] = mine + v
            elif isinstance(v, dict) and isinstance(mine, dict):
                self.stats[k] = {**mine, **{kk: mine.get(kk, 0) + vv if isinstance(vv, int) else vv for kk, vv in v.items()}}
            else:
                self.stats[k] = v
        return self

    def counts(self) -> dict[str, int]:
        """Rows per node label and per relationship type (what a load will write at most)."""
        out = {label: len(df) for label, df in self.nodes.items()}
        for rf in self.rels:
            out[rf.type] = out.get(rf.type, 0) + len(rf.df)
        return out

    def validate(self) -> None:
        """Check every relationship endpoint exists among the nodes (or will be matched in the store)."""
        for rf in self.rels:
            for col, label in (("src", rf.src_label), ("dst", rf.dst_label)):
                if label not in self.nodes:
                    continue
                ends = pa.array(rf.df[col], type=pa.string(), from_pandas=True)
                ok = pc.is_in(ends, value_set=pa.array(self.nodes[label]["id"], type=pa.string()))
                n_missing = len(ends) - pc.sum(ok).as_py() if len(ends) else 0
                if n_missing:
                    ex = pc.filter(ends, pc.invert(ok))[0].as_py()
                    raise ValueError(f"{rf.type}: {n_missing} {col} ids have no {label} node (e.g. {ex!r})")
