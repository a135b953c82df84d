"""Semantic-level attention of HAN (Wang et al., "Heterogeneous Graph Attention Network", WWW'19, eq. 7–9),
the meta-path fusion step of HDGI (Ren et al. 2019, arXiv:1911.08538)."""

from __future__ import annotations

import torch
from torch import Tensor, nn


class SemanticAttention(nn.Module):
    """Fuses per-meta-path node vectors with weights ``β_P = softmax_P(mean_u qᵀ tanh(W z_u^P + b))``.

    Args:
        channels: Size of each channel's node vectors.
        att_hidden: Size of the attention projection.
    """

    def __init__(self, channels: int, att_hidden: int = 128) -> None:
        super().__init__()
        self.channels, self.att_hidden = channels, att_hidden
        self.lin = nn.Linear(channels, att_hidden)
        self.q = nn.Parameter(torch.empty(att_hidden))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        self.lin.reset_parameters()
        nn.init.normal_(self.q, std=self.lin.in_features**-0.5)

    def forward(self, zs: Tensor, beta: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """Fuse ``zs`` (``[P, N, C]``) with weights ``β`` (``[P]``; computed from ``zs`` when None).

        Returns:
            ``(Σ_P β_P z^P, β)``.
        """
        if beta is None:
            beta = torch.softmax(self.node_scores(zs).mean(1), dim=0)
        return (beta.view(-1, 1, 1) * zs).sum(0), beta

    def node_scores(self, zs: Tensor) -> Tensor:
        """Each node's attention score ``qᵀ tanh(W z_u^P + b)`` per channel, ``[P, N]`` (β averages them)."""
        return (torch.tanh(self.lin(zs)) * self.q).sum(-1)

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}({self.channels}, att_hidden={self.att_hidden})"


def channel_shares(chans: Tensor, beta: Tensor) -> Tensor:
    """Per node, each channel's share ``β_P‖z^P‖ / Σ_Q β_Q‖z^Q‖`` of its fused vector; ``[N, P]``."""
    w = beta.view(-1, 1) * chans.norm(dim=-1)
    return (w / w.sum(0, keepdim=True).clamp_min(1e-12)).t()
