"""Meta-path neighbourhoods of user subsets (full graph or mini-batches) and the users' text view."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from persona.config import HDGISettings

from ..metapaths import MetaPath

#: Users per step above which training switches to mini-batches (and embedding goes in chunks).
BATCH_USERS = HDGISettings.model_fields["batch_users"].default  # the one definition: persona.config


@dataclass
class UserBatch:
    """The meta-path neighbourhoods of a set of target users, in local indices.

    Attributes:
        users: ``[B]`` global indices of the target users (local index = position).
        src: Per channel, global indices of its source nodes; for user–user channels the first ``B``
            are the target users themselves (so GAT self-loops land on them).
        edge_index: Per channel, ``[2, E]`` local (source, target) edges.
    """

    users: Tensor
    src: list[Tensor]
    edge_index: list[Tensor]

    def to(self, device: torch.device | str) -> UserBatch:
        return UserBatch(
            self.users.to(device), [s.to(device) for s in self.src], [e.to(device) for e in self.edge_index]
        )


class Neighbourhoods:
    """Meta-path edges grouped by target user, to cut out the neighbourhoods of any user subset.

    Args:
        metapaths: The channels' meta-paths.
        edges: Per channel, ``[2, E]`` (source, target user) edges.
        num_users: Number of target users.
    """

    def __init__(self, metapaths: Sequence[MetaPath], edges: Sequence[Tensor], num_users: int) -> None:
        self.metapaths = list(metapaths)
        self.num_users = num_users
        self._src: list[Tensor] = []
        self._ptr: list[Tensor] = []
        for ei in edges:
            order = torch.argsort(ei[1], stable=True)
            ei = ei[:, order]
            self._src.append(ei[0].contiguous())
            ptr = torch.zeros(num_users + 1, dtype=torch.long)
            ptr[1:] = torch.cumsum(torch.bincount(ei[1], minlength=num_users), 0)
            self._ptr.append(ptr)

    def batch(self, users: Tensor) -> UserBatch:
        """Neighbourhoods of ``users`` (global indices)."""
        users = users.long()
        b = users.numel()
        srcs, eis = [], []
        for mp, src, ptr in zip(self.metapaths, self._src, self._ptr):
            starts, counts = ptr[users], ptr[users + 1] - ptr[users]
            total = int(counts.sum())
            dst_local = torch.repeat_interleave(torch.arange(b), counts)
            offsets = torch.repeat_interleave(starts - (torch.cumsum(counts, 0) - counts), counts)
            s_global = src[offsets + torch.arange(total)]
            if mp.homogeneous:
                mark = torch.full((self.num_users,), -1, dtype=torch.long)
                mark[users] = torch.arange(b)
                others = torch.unique(s_global[mark[s_global] < 0])
                mark[others] = b + torch.arange(others.numel())
                srcs.append(torch.cat([users, others]))
                eis.append(torch.stack([mark[s_global], dst_local]))
            else:
                uniq, inv = torch.unique(s_global, return_inverse=True)
                srcs.append(uniq)
                eis.append(torch.stack([inv.view(-1), dst_local]))
        return UserBatch(users, srcs, eis)

    def full(self) -> UserBatch:
        """Every user's neighbourhood."""
        return self.batch(torch.arange(self.num_users))

    def chunks(self, size: int) -> list[Tensor]:
        """All users in consecutive chunks of at most ``size`` (global indices)."""
        return list(torch.arange(self.num_users).split(size))


def user_text_view(item_x: Tensor, user_item: Tensor) -> Tensor:
    """Each user's text view: the mean feature of its items (``user_item``: CSR users × items)."""
    if user_item._nnz() == 0:
        return torch.zeros(user_item.shape[0], item_x.size(1), dtype=item_x.dtype)
    deg = user_item.crow_indices().diff().clamp_min(1).unsqueeze(1).to(item_x.dtype)
    return torch.sparse.mm(user_item.to(item_x.dtype), item_x) / deg
