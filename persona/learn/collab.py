"""A collaborative-filtering user vector: LightGCN trained with the BPR loss on the training interactions.

LightGCN (He et al., 2020, "LightGCN: Simplifying and Powering Graph Convolution Network for
Recommendation", https://arxiv.org/abs/2002.02126) learns one embedding per user and item node of the
user–item graph and propagates it over ``layers`` symmetric-normalised, parameter-free convolutions; a
node's vector is the mean of its layer outputs. It is fitted with the Bayesian Personalised Ranking loss
(Rendle et al., 2009): an item the user interacted with should score above a uniformly drawn one the user
did not. The model and the loss are PyG's maintained :class:`torch_geometric.nn.models.LightGCN` and its
``recommendation_loss``; this module only builds the graph, samples negatives and runs the epochs.

Why it is a baseline of the persona experiment: it is the strongest cheap user vector that uses the
interactions alone, without the knowledge graph, item text or an LLM. A KG persona (HDGI) that does not beat
it has not earned its cost.

What it reads: the ``split == 'train'`` interactions of an :class:`~persona.rec.sequences.Interactions`
(:meth:`~persona.rec.sequences.Interactions.train_sequences`), nothing else. The graph holds only users
and items with at least one training interaction, indexed in id order, so the vectors are a function of
the set of training ``(user, item)`` pairs, the hyperparameters and the seed: valid and test items, and
items or users that occur only there, cannot move them.
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch_geometric.nn.conv import LGConv
from torch_geometric.nn.models import LightGCN

from persona.errors import ConfigError, ModelError, ResourceError

from ._pyg import remove_generated_sources
from ._rng import seeded_rng

if TYPE_CHECKING:  # learn does not import rec at run time (data flows learn -> rec)
    from persona.rec.sequences import Interactions

__all__ = ["lightgcn_user_vectors"]

_MIN_GAIN = 1e-4  # an epoch's mean loss must fall by this much to count as progress


def lightgcn_user_vectors(
    inter: Interactions,
    *,
    dim: int = 64,
    layers: int = 3,
    epochs: int = 30,
    batch_size: int = 4096,
    lr: float = 5e-3,
    seed: int = 0,
    device: str = "cpu",
    patience: int = 5,
    lag: int = 0,
) -> dict[str, np.ndarray]:
    """user → LightGCN embedding learnt from the **training** interactions only (the collaborative baseline).

    Each epoch visits every distinct training ``(user, item)`` pair once, in a seeded random order, in
    batches of ``batch_size``; each pair gets one negative item drawn uniformly from the training items
    (drawn again once when it is one of the user's training items). Training stops after ``epochs`` or
    once the epoch's mean BPR loss has not fallen by ``1e-4`` for ``patience`` epochs; the vectors are
    the model's final :meth:`~torch_geometric.nn.models.LightGCN.get_embedding` rows of the user nodes.

    Weight initialisation and sampling are seeded; the caller's global torch random state is left as it
    was (the block runs on a forked generator). On CPU the same seed and thread count give identical
    vectors.

    Args:
        inter: The interactions; only ``split == 'train'`` positions are read.
        dim: Embedding dimension.
        layers: Number of LightGCN propagation layers.
        epochs: Maximum number of passes over the training pairs.
        batch_size: Training pairs per optimisation step.
        lr: Adam learning rate.
        seed: Seed of weight initialisation, batch order and negative sampling.
        device: ``"cpu"``, ``"cuda"`` or ``"cuda:N"``.
        patience: Epochs without a ``1e-4`` fall of the mean loss before stopping.
        lag: Leave out each user's last ``lag`` training items (``RecSettings.persona_lag``).

    Returns:
        ``{user id: float32 vector of length dim}`` for every user with at least one training
        interaction, in user-index order (the format of the experiment's other user vectors, e.g.
        :func:`~persona.rec.inputs.mean_text_vectors`).

    Raises:
        ConfigError: a size, rate or patience is not positive.
        ResourceError: a CUDA device is requested and CUDA is not available.
        ModelError: there are no training interactions, or the loss stopped being finite.

    Example:
        >>> vecs = lightgcn_user_vectors(Interactions.from_frame(df), dim=32, epochs=20)  # doctest: +SKIP
        >>> run_experiment(inter, {"lightgcn": vecs}, item_vecs, settings)  # doctest: +SKIP
    """
    for name, value in (("dim", dim), ("layers", layers), ("epochs", epochs), ("batch_size", batch_size),
                        ("patience", patience)):
        if int(value) < 1:
            raise ConfigError(f"lightgcn_user_vectors: {name} must be >= 1, got {value}")
    if not lr > 0:
        raise ConfigError(f"lightgcn_user_vectors: lr must be > 0, got {lr}")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ResourceError(f"device {device!r} requested but CUDA is not available; use device='cpu'")
    dev = torch.device(device)

    user_idx, seqs = inter.persona_items(lag)
    lengths = np.asarray([len(s) for s in seqs], dtype=np.int64)
    if lengths.sum() == 0:
        raise ModelError(
            f"lightgcn_user_vectors: no training interactions among {len(inter)} interactions of "
            f"{inter.n_users} users (every row is valid or test); a collaborative user vector needs "
            "split == 'train' rows"
        )
    # distinct (user index, item index) pairs, sorted by user then item: repeats and sessions collapse
    pairs = np.unique(np.stack([np.repeat(user_idx, lengths), np.concatenate(seqs)], axis=1), axis=0)
    users, user_of = np.unique(pairs[:, 0], return_inverse=True)
    items, item_of = np.unique(pairs[:, 1], return_inverse=True)
    n_users, n_items = len(users), len(items)
    pos_u = torch.as_tensor(user_of.reshape(-1), dtype=torch.long)
    pos_i = torch.as_tensor(item_of.reshape(-1), dtype=torch.long)
    adj = _normalised_adjacency(pos_u, pos_i, n_users, n_items).to(dev)
    seen = pos_u * n_items + pos_i  # sorted: pairs are sorted by (user, item)

    gen = torch.Generator().manual_seed(int(seed))
    with seeded_rng(int(seed), dev):
        model = LightGCN(n_users + n_items, int(dim), int(layers))
        # Same propagation as PyG's LGConv (tested), on the D^-1/2 A D^-1/2 computed once above instead of
        # per layer and step; the convolutions have no parameters, so initialisation is unchanged.
        model.convs = torch.nn.ModuleList(_SymmetricLGConv() for _ in range(int(layers)))
        model = model.to(dev)
        opt = torch.optim.Adam(model.parameters(), lr=float(lr))
        best, stale = float("inf"), 0
        for epoch in range(int(epochs)):
            order = torch.randperm(len(pos_u), generator=gen)
            total = 0.0
            for start in range(0, len(order), int(batch_size)):
                b = order[start : start + int(batch_size)]
                u, i = pos_u[b], pos_i[b]
                j = _negatives(u, seen, n_items, gen)
                label = torch.stack(
                    [torch.cat([u, u]), torch.cat([i, j]) + n_users]
                ).to(dev)  # positive edges, then negative edges
                pos_rank, neg_rank = model(adj, label).chunk(2)
                loss = model.recommendation_loss(pos_rank, neg_rank, node_id=label.unique())
                opt.zero_grad()
                loss.backward()
                opt.step()
                total += loss.item() * len(b)
            mean = total / len(order)
            if not np.isfinite(mean):
                raise ModelError(
                    f"lightgcn_user_vectors: the BPR loss became {mean} in epoch {epoch + 1}; lower lr "
                    f"(now {lr}) or dim (now {dim})"
                )
            if mean < best - _MIN_GAIN:
                best, stale = mean, 0
            else:
                stale += 1
                if stale >= patience:
                    break
        model.eval()
        with torch.no_grad():
            emb = model.get_embedding(adj)[:n_users].cpu().numpy().astype(np.float32)
    return {inter.users[int(u)]: emb[k].copy() for k, u in enumerate(users)}


class _SymmetricSpMM(torch.autograd.Function):
    """``A @ x`` for a symmetric sparse CSR ``A``, whose gradient with respect to ``x`` is ``A @ grad``.

    Why: torch's generic backward multiplies by ``A.T``, which it re-sorts into CSR in every layer of every
    step; on the 15k-user graph that transpose was a quarter of the training time.
    """

    @staticmethod
    def forward(ctx: Any, adj: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        ctx.adj = adj
        return _spmm(adj, x)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[None, torch.Tensor]:
        return None, _spmm(ctx.adj, grad)


def _spmm(adj: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    # the CPU kernel behind reduce="sum" is ~30 % faster than the generic one; CUDA has no reduce argument
    return torch.sparse.mm(adj, x, "sum") if adj.device.type == "cpu" else torch.sparse.mm(adj, x)


class _SymmetricLGConv(LGConv):
    """PyG's :class:`~torch_geometric.nn.conv.LGConv` on an already normalised symmetric sparse adjacency."""

    def __init__(self) -> None:
        super().__init__(normalize=False)
        remove_generated_sources()  # PyG wrote the generated propagate of this class (and LGConv's) to temp files

    def message_and_aggregate(self, adj_t: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = _SymmetricSpMM.apply(adj_t, x)
        return out


def _normalised_adjacency(pos_u: torch.Tensor, pos_i: torch.Tensor, n_users: int, n_items: int) -> torch.Tensor:
    """The symmetric ``D^-1/2 A D^-1/2`` of the bipartite graph (users ``0..U-1``, items ``U..U+I-1``,
    edges both ways) as a sparse CSR matrix; symmetric, so it equals the transposed adjacency PyG expects."""
    deg_u = torch.bincount(pos_u, minlength=n_users).double()
    deg_i = torch.bincount(pos_i, minlength=n_items).double()
    w = (deg_u[pos_u] * deg_i[pos_i]).rsqrt().float()
    src = torch.cat([pos_u, pos_i + n_users])
    dst = torch.cat([pos_i + n_users, pos_u])
    n = n_users + n_items
    coo = torch.sparse_coo_tensor(torch.stack([src, dst]), torch.cat([w, w]), (n, n), check_invariants=True)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Sparse CSR tensor support is in beta", UserWarning)
        return coo.coalesce().to_sparse_csr()


def _negatives(u: torch.Tensor, seen: torch.Tensor, n_items: int, gen: torch.Generator) -> torch.Tensor:
    """One uniform item per user in ``u``; a draw among the user's training items is drawn again once."""
    j = torch.randint(n_items, (len(u),), generator=gen)
    hit = _contains(seen, u * n_items + j)
    if hit.any():
        j[hit] = torch.randint(n_items, (int(hit.sum()),), generator=gen)
    return j


def _contains(sorted_keys: torch.Tensor, keys: torch.Tensor) -> torch.Tensor:
    """Whether each of ``keys`` occurs in the sorted 1-D tensor ``sorted_keys``."""
    at = torch.searchsorted(sorted_keys, keys).clamp_max(len(sorted_keys) - 1)
    return sorted_keys[at] == keys
