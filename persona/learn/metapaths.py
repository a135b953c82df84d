"""User meta-paths over the exported heterogeneous graph, composed with sparse matrix products (SciPy).

A meta-path is written as node labels joined by ``-``, starting at the user: ``U`` = ``User``, ``I`` =
``Item``, any other token is a schema label. Each hop is the union of every exported edge type between
the two labels (reverse edges included); ``Label[REL1|REL2]`` restricts the hop *into* that token to
those relationship types, and the mirrored hop out of it (``I-Person[DIRECTED_BY]-I``) inherits the
restriction. Examples: ``U-I``, ``U-I-Genre``, ``U-I-U``, ``U-I-Genre-I-U``, ``U-I-I-U`` (over
ALSO_BUY/ALSO_VIEW), ``U-I-Person[DIRECTED_BY]-I-U``.

Two kinds of meta-path feed :mod:`persona.learn.hdgi`:

* **heterogeneous** ones end at a featured type (``U-I``, ``U-I-Genre``): their end nodes carry text
  embeddings, so the user is described by the items and attributes it reaches;
* **homogeneous** ones end at ``User`` (``U-I-U``, ``U-I-Genre-I-U``): the user–user graphs of HDGI
  (Ren et al. 2019, arXiv:1911.08538), which smooth a user's representation over similar users.

The adjacency of a path is the product of its hop matrices (path-instance counts), evaluated in chunks
of users so memory stays bounded. Two guards keep it sparse:

* **hub pruning** — an intermediate node whose degree exceeds the ``hub_quantile`` of its type's
  degrees is dropped as an intermediate (a blockbuster watched by everyone, or the genre "Drama",
  would otherwise connect every user to every user);
* **neighbour caps** — for paths of two hops or more, each user keeps its ``max_sample`` end nodes
  with the most path instances (ties broken at random with a fixed seed), as PyG's
  ``AddMetaPaths(max_sample=…)`` bounds its products. Direct edges (``U-I``) are kept whole.

Only the user–item edges present in the exported graph are used; :func:`persona.learn.export.export_graph`
exports ``RATED`` edges of the *training* split only, so no valid/test interaction leaks into a path.
"""

from __future__ import annotations

import hashlib
import re
import warnings
from dataclasses import dataclass

import numpy as np
import torch
from scipy import sparse
from torch import Tensor
from torch_geometric.data import HeteroData

from persona.config import HDGISettings
from persona.errors import ConfigError

_HDGI = HDGISettings()  # max_sample / hub_quantile defaults: the [hdgi] settings'

_ALIASES = {"U": "User", "I": "Item"}
_SHORT = {v: k for k, v in _ALIASES.items()}
_TOKEN = re.compile(r"^([A-Za-z][A-Za-z0-9_]*)(?:\[([A-Za-z0-9_|,]+)\])?$")
#: Dense elements per chunk when a path's end-node columns are scored (64 MB of float32).
_CHUNK_ELEMENTS = 1 << 24
#: Middle types up to this many nodes are multiplied densely (BLAS) rather than as sparse products.
_DENSE_MIDDLE = 1024


@dataclass(frozen=True)
class MetaPath:
    """A parsed meta-path.

    Attributes:
        name: Canonical spelling (``U-I-Genre-I-U``), used as the key of attention weights.
        types: Node labels along the path, starting at ``User``.
        rels: Per hop, the allowed relationship types (reverse ``rev_`` forms implied), or None for all.
    """

    name: str
    types: tuple[str, ...]
    rels: tuple[frozenset[str] | None, ...]

    @property
    def end(self) -> str:
        """Label of the path's end nodes."""
        return self.types[-1]

    @property
    def homogeneous(self) -> bool:
        """True when the path returns to users (a user–user meta-path)."""
        return self.types[-1] == self.types[0]

    def __str__(self) -> str:
        return self.name


def parse_metapath(text: str) -> MetaPath:
    """Parse ``"U-I-Genre-I-U"``-style text.

    Raises:
        ValueError: the text is not a ``-``-joined list of at least two labels starting at ``U``/``User``.
    """
    tokens = [t.strip() for t in text.strip().split("-")]
    if len(tokens) < 2:
        raise ConfigError(f"meta-path {text!r}: expected at least two labels joined by '-', e.g. 'U-I-U'")
    types: list[str] = []
    brackets: list[frozenset[str] | None] = []
    for tok in tokens:
        m = _TOKEN.match(tok)
        if not m:
            raise ValueError(
                f"meta-path {text!r}: bad token {tok!r}; expected a label such as I, Genre or Person[DIRECTED_BY]"
            )
        types.append(_ALIASES.get(m.group(1), m.group(1)))
        brackets.append(frozenset(r for r in re.split(r"[|,]", m.group(2)) if r) if m.group(2) else None)
    if types[0] != "User":
        raise ValueError(f"meta-path {text!r}: must start at the user (U)")
    rels: list[frozenset[str] | None] = []
    for h in range(len(types) - 1):
        restriction = brackets[h + 1]
        if restriction is None and brackets[h] is not None and h >= 1 and types[h + 1] == types[h - 1]:
            restriction = brackets[h]  # mirrored hop out of a restricted token
        rels.append(restriction)
    name = "-".join(
        _SHORT.get(t, t) + (f"[{'|'.join(sorted(b))}]" if b else "") for t, b in zip(types, brackets)
    )
    return MetaPath(name, tuple(types), tuple(rels))


def _base(rel: str) -> str:
    return rel.removeprefix("rev_")


def hop_edge_types(
    data: HeteroData, src: str, dst: str, rels: frozenset[str] | None
) -> list[tuple[str, str, str]]:
    """Edge types of ``data`` going from ``src`` to ``dst`` (restricted to ``rels`` when given)."""
    return [
        et
        for et in data.edge_types
        # relationship names never contain '-'; meta-path edge types added by export_graph do
        if et[0] == src and et[2] == dst and "-" not in et[1] and (rels is None or _base(et[1]) in rels)
    ]


def hop_matrix(data: HeteroData, src: str, dst: str, rels: frozenset[str] | None = None) -> Tensor:
    """Binary sparse CSR matrix (``n_src × n_dst``) of the union of edge types from ``src`` to ``dst``.

    Raises:
        ValueError: no exported edge type joins the two labels (names what exists).
    """
    types = hop_edge_types(data, src, dst, rels)
    if not types:
        have = sorted({f"{s}-{r}->{d}" for s, r, d in data.edge_types if s == src})
        raise ValueError(
            f"no edges from {src} to {dst}"
            + (f" of type {sorted(rels)}" if rels else "")
            + f"; edges out of {src}: {have or 'none'}"
        )
    n_src, n_dst = data[src].num_nodes, data[dst].num_nodes
    ei = torch.cat([data[et].edge_index for et in types], dim=1)
    return _binary_csr(ei, n_src, n_dst)


def _csr(crow: Tensor, cols: Tensor, values: Tensor, shape: tuple[int, int]) -> Tensor:
    """``torch.sparse_csr_tensor`` without its construction warnings.

    torch warns that CSR support is "beta" and that invariant checks are off when the first CSR tensor is
    built; the operations used here (construction, ``sparse.mm``, conversion) are stable, and the indices
    are built sorted and in range. Only this call's warnings are silenced, not the caller's filters.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta state")
        warnings.filterwarnings("ignore", message="Sparse invariant checks are implicitly disabled")
        return torch.sparse_csr_tensor(crow, cols, values, shape)


def _binary_csr(ei: Tensor, n_rows: int, n_cols: int) -> Tensor:
    if ei.numel() == 0:
        return _csr(
            torch.zeros(n_rows + 1, dtype=torch.int64),
            torch.zeros(0, dtype=torch.int64),
            torch.zeros(0),
            (n_rows, n_cols),
        )
    key = torch.unique(ei[0].long() * n_cols + ei[1].long())
    rows, cols = key // n_cols, key % n_cols
    crow = torch.zeros(n_rows + 1, dtype=torch.int64)
    crow[1:] = torch.cumsum(torch.bincount(rows, minlength=n_rows), 0)
    return _csr(crow, cols, torch.ones(cols.numel()), (n_rows, n_cols))


def _scipy(m: Tensor) -> sparse.csr_matrix:
    """A torch CSR matrix as a SciPy one (the arrays are shared, not copied)."""
    return sparse.csr_matrix(
        (m.values().numpy(), m.col_indices().numpy(), m.crow_indices().numpy()), shape=tuple(m.shape)
    )


def _scale_cols(m: sparse.csr_matrix, keep: np.ndarray) -> sparse.csr_matrix:
    """Zero the columns of ``m`` where ``keep`` is False (structure kept, values zeroed)."""
    return sparse.csr_matrix((m.data * keep[m.indices], m.indices, m.indptr), shape=m.shape)


def degree_keep_mask(m: Tensor, hub_quantile: float) -> Tensor:
    """Columns of ``m`` (a hop into the intermediate type) to keep: degree ≤ quantile of the non-zero degrees."""
    deg = torch.bincount(m.col_indices(), minlength=m.shape[1]).float()
    if hub_quantile >= 1.0 or not bool((deg > 0).any()):
        return torch.ones(m.shape[1], dtype=torch.bool)
    threshold = torch.quantile(deg[deg > 0], hub_quantile)
    return deg <= threshold


@dataclass
class MetaPathEdges:
    """The adjacency of one meta-path, as message-passing edges into users.

    Attributes:
        metapath: The path.
        edge_index: ``[2, E]``; row 0 indexes end nodes (type ``metapath.end``), row 1 indexes users.
        weight: Path-instance count of each edge (float).
    """

    metapath: MetaPath
    edge_index: Tensor
    weight: Tensor

    @property
    def num_edges(self) -> int:
        return int(self.edge_index.shape[1])


class MetaPathBuilder:
    """Composes meta-path adjacencies of one graph; reusable for new users (inductive inference).

    Args:
        data: Exported graph (:func:`persona.learn.export.export_graph`).
        max_sample: End nodes kept per user for paths of two hops or more (0 or None = all).
        hub_quantile: Intermediate nodes above this degree quantile are pruned (1.0 = none).
        seed: Seed of the tie-breaking noise in neighbour caps.
    """

    def __init__(
        self, data: HeteroData, *, max_sample: int | None = _HDGI.max_sample, hub_quantile: float = _HDGI.hub_quantile,
        seed: int = 0
    ) -> None:
        if not 0.0 < hub_quantile <= 1.0:
            raise ValueError(f"hub_quantile must be in (0, 1], got {hub_quantile}")
        self.data = data
        self.max_sample = max_sample or 0
        self.hub_quantile = hub_quantile
        self.seed = seed
        self._hops: dict[tuple[str, str, frozenset[str] | None], Tensor] = {}
        self._keep: dict[tuple[str, str, frozenset[str] | None], Tensor] = {}

    def hop(self, src: str, dst: str, rels: frozenset[str] | None) -> Tensor:
        key = (src, dst, rels)
        if key not in self._hops:
            self._hops[key] = hop_matrix(self.data, src, dst, rels)
        return self._hops[key]

    def _hub_mask(self, src: str, dst: str, rels: frozenset[str] | None) -> Tensor:
        key = (src, dst, rels)
        if key not in self._keep:
            self._keep[key] = degree_keep_mask(self.hop(src, dst, rels), self.hub_quantile)
        return self._keep[key]

    def edges(self, mp: MetaPath, start_rows: Tensor | None = None) -> MetaPathEdges:
        """Message-passing edges of ``mp``.

        Args:
            mp: The meta-path (must start at ``User``).
            start_rows: Optional CSR matrix ``n_new × n_(types[1])`` replacing the first hop for new
                users (inductive inference); user indices in the result then index these rows, and
                homogeneous paths link them to the graph's existing users.

        Returns:
            :class:`MetaPathEdges` with ``edge_index[1]`` indexing users (or rows of ``start_rows``).
        """
        first = self.hop(mp.types[0], mp.types[1], mp.rels[0]) if start_rows is None else start_rows
        n_rows = first.shape[0]
        chain: list[Tensor] = []
        masks: list[Tensor] = []
        for h in range(1, len(mp.types) - 1):
            # the node at position h is intermediate: prune its hubs, measured on the hop into it
            masks.append(self._hub_mask(mp.types[h - 1], mp.types[h], mp.rels[h - 1]))
            chain.append(self.hop(mp.types[h], mp.types[h + 1], mp.rels[h]))
        n_end = first.shape[1] if not chain else chain[-1].shape[1]
        exclude_self = mp.homogeneous and start_rows is None
        cap = self.max_sample if chain else 0

        if not chain:  # a direct hop: every edge, no cap
            coo = first.to_sparse_coo().coalesce()
            idx = coo.indices()
            return MetaPathEdges(mp, torch.stack([idx[1], idx[0]]), coo.values().float())

        # Products run in SciPy: torch's CSR @ CSR product leaks its workspace (about 14 MB per call with
        # torch 2.15 on CPU), which made peak memory grow with every meta-path composed.
        first_sp = _scipy(first)
        keeps = [mk.numpy().astype(np.float32) for mk in masks]
        hops = [_scipy(c) for c in chain]
        # Ties in the neighbour cap are broken at random without per-element noise: the end nodes are
        # put in a random (seeded) order by permuting the columns of the last hop, so top-k's choice
        # among equal counts is a random one, then indices are mapped back.
        gen = torch.Generator().manual_seed(_stable_seed(self.seed, mp.name))
        perm = torch.randperm(n_end, generator=gen) if cap and cap < n_end else torch.arange(n_end)
        inv = torch.empty_like(perm)
        inv[perm] = torch.arange(n_end)
        hops[-1] = hops[-1][:, perm.numpy()]  # column c moves to inv[c]
        # Split the path at its middle node: the right half (middle → end) is multiplied out once, the
        # left half per chunk of users. A small middle type (genres, categories…) makes both halves
        # dense-friendly, so the chunk product is a BLAS matmul instead of a sparse chain.
        m = len(mp.types) // 2
        right = hops[m - 1]
        for k in range(m, len(hops)):
            right = _scale_cols(right, keeps[k]) @ hops[k]
        n_mid = right.shape[0]
        dense_right = (
            right.toarray() if n_mid <= _DENSE_MIDDLE and n_mid * n_end <= _CHUNK_ELEMENTS * 4 else None
        )
        # sparse products hold index + value per entry and workspace: a quarter of the dense chunk
        budget = _CHUNK_ELEMENTS if dense_right is not None else _CHUNK_ELEMENTS // 4
        chunk = max(1, min(n_rows, budget // max(1, n_end)))
        srcs, dsts, weights = [], [], []
        for start in range(0, n_rows, chunk):
            stop = min(n_rows, start + chunk)
            r = first_sp[start:stop]
            for k in range(m - 1):
                r = _scale_cols(r, keeps[k]) @ hops[k]
            r = _scale_cols(r, keeps[m - 1])
            if dense_right is not None:
                dense = torch.from_numpy(r.toarray()) @ torch.from_numpy(dense_right)
            else:
                dense = torch.from_numpy((r @ right).toarray())
            if exclude_self:
                rows = torch.arange(stop - start)
                dense[rows, inv[rows + start]] = 0.0
            if cap and cap < n_end:
                top = torch.topk(dense, cap, dim=1, sorted=False)
                cols, vals = top.indices, top.values
                rows = torch.arange(start, stop).unsqueeze(1).expand_as(cols)
                keep = vals > 0
                srcs.append(perm[cols[keep]])
                dsts.append(rows[keep])
                weights.append(vals[keep])
            else:
                nz = dense.nonzero(as_tuple=True)
                srcs.append(perm[nz[1]])
                dsts.append(nz[0] + start)
                weights.append(dense[nz])
        ei = torch.stack([torch.cat(srcs), torch.cat(dsts)]) if srcs else torch.zeros(2, 0, dtype=torch.int64)
        w = torch.cat(weights) if weights else torch.zeros(0)
        order = torch.argsort(ei[1] * max(1, n_end) + ei[0])
        return MetaPathEdges(mp, ei[:, order].long(), w[order].float())


def _stable_seed(seed: int, name: str) -> int:
    return int.from_bytes(hashlib.sha256(f"{seed}:{name}".encode()).digest()[:6], "little")


def featured_neighbour_labels(data: HeteroData) -> list[str]:
    """Labels (other than User/Item) reached from ``Item`` by at least one exported edge type, sorted."""
    return sorted(
        {
            d
            for s, _, d in data.edge_types
            if s == "Item" and d not in ("User", "Item") and data[s, _, d].num_edges
        }
    )


def default_metapaths(data: HeteroData) -> list[MetaPath]:
    """The meta-path set derived from the exported edge types.

    ``U-I`` and ``U-I-U``; ``U-I-I-U`` when item–item edges (ALSO_BUY/ALSO_VIEW, PREVIOUS_WORK…)
    exist; and for every attribute label A linked to items, ``U-I-A`` and ``U-I-A-I-U``. Attribute
    paths group all relationship types into a label (``Person`` covers director, cast, writer…) so the
    number of paths stays small; per-relation paths can be asked for as ``U-I-Person[DIRECTED_BY]-I-U``.
    """
    paths = ["U-I", "U-I-U"]
    if any(s == "Item" and d == "Item" and data[s, r, d].num_edges for s, r, d in data.edge_types):
        paths.append("U-I-I-U")
    for label in featured_neighbour_labels(data):
        paths += [f"U-I-{label}", f"U-I-{label}-I-U"]
    hetero = [p for p in paths if not p.endswith("-U")]
    homo = [p for p in paths if p.endswith("-U")]
    return [parse_metapath(p) for p in hetero + homo]


def resolve_metapaths(data: HeteroData, metapaths: list[str] | None) -> list[MetaPath]:
    """Parse ``metapaths`` (or derive the default set) and check each exists in ``data``.

    Raises:
        ValueError: a path cannot be parsed, has a hop without edges, or ends at a type without features.
    """
    mps = default_metapaths(data) if metapaths is None else [parse_metapath(p) for p in metapaths]
    if not mps:
        raise ValueError("no meta-paths: give at least one, e.g. ['U-I', 'U-I-U']")
    seen = set()
    for mp in mps:
        if mp.name in seen:
            raise ValueError(f"meta-path {mp.name!r} is listed twice")
        seen.add(mp.name)
        for t in mp.types:
            if t not in data.node_types:
                raise ValueError(
                    f"meta-path {mp.name!r}: label {t!r} is not in the graph; labels: {sorted(data.node_types)}"
                )
        if mp.types[0] != "User":
            raise ValueError(f"meta-path {mp.name!r} must start at User")
    return mps
