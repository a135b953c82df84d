"""Pieces shared by the readers: attaching RDF knowledge and merging parser statistics."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from os import PathLike
from typing import Any

from persona.errors import ConfigError
from persona.kgstore.frames import GraphFrames

from .errors import RecordPolicy
from .rdf import frames_from_index, index_files

PathArg = str | PathLike[str]


def as_paths(paths: PathArg | Sequence[PathArg] | None) -> list[PathArg]:
    """One path, several, or none → a list."""
    if paths is None:
        return []
    if isinstance(paths, (str, PathLike)):
        return [paths]
    return list(paths)


def merge_stats(into: dict[str, Any], other: Mapping[str, Any]) -> None:
    """Fold ``other`` into ``into``: numbers add up, {key: count} dicts add per key, others replace."""
    for k, v in other.items():
        old = into.get(k)
        if isinstance(v, bool) or old is None:
            into[k] = v
        elif isinstance(v, (int, float)) and isinstance(old, (int, float)) and not isinstance(old, bool):
            into[k] = old + v
        elif isinstance(v, dict) and isinstance(old, dict):
            merged = dict(old)
            for kk, vv in v.items():
                merged[kk] = merged.get(kk, 0) + vv
            into[k] = merged
        else:
            into[k] = v


def merge_frames(gf: GraphFrames, other: GraphFrames) -> None:
    """``gf.merge(other)`` keeping ``gf``'s rows first and adding the statistics up."""
    saved = dict(gf.stats)
    gf.merge(other)
    gf.stats = saved
    merge_stats(gf.stats, other.stats)


def attach_rdf(
    gf: GraphFrames,
    rdf: PathArg | Sequence[PathArg] | None,
    links: Mapping[str, str],
    hops: int,
    policy: RecordPolicy,
) -> None:
    """Parse ``rdf`` files for the linked items that made it into ``gf`` and merge the result."""
    paths = as_paths(rdf)
    if not paths:
        return
    if not links:
        raise ConfigError(
            "RDF files were given but no item is linked to an entity IRI: pass --link FILE (a RecBole .link "
            "file mapping item ids to IRIs) whose items are in the interactions"
        )
    index = index_files(paths, links, hops, policy)
    merge_frames(gf, frames_from_index(index, links, hops))


def check_endpoints(gf: GraphFrames) -> None:
    """Same check as :meth:`GraphFrames.validate` (every edge endpoint is a node of its label, when the
    label is in the frames), with hash sets: pandas' ``isin`` on Arrow strings is slow for big id lists.

    Raises:
        ValueError: an edge points at a missing node (a bug in a reader, not bad input).
    """
    ids = {label: set(df["id"].tolist()) for label, df in gf.nodes.items()}
    for rf in gf.rels:
        for col, label in (("src", rf.src_label), ("dst", rf.dst_label)):
            if label not in ids:
                continue
            have = ids[label]
            missing = [v for v in rf.df[col].tolist() if v not in have]
            if missing:
                raise ValueError(
                    f"{rf.type}: {len(missing)} {col} ids have no {label} node (e.g. {missing[0]!r})"
                )


def restrict_links(links: Mapping[str, str], items: Sequence[str] | set[str]) -> dict[str, str]:
    """Links of the items that are in the frame (k-core may have removed some), with IRI values only."""
    keep = set(items)
    return {i: iri for i, iri in links.items() if i in keep and iri.startswith(("http://", "https://"))}
