"""The HDGI objective (Ren et al., "Heterogeneous Deep Graph Infomax", arXiv:1911.08538) with a
text-view reconstruction term.

The infomax part is PyG's ``DeepGraphInfomax`` (Veličković et al. ICLR'19): readout ``s = σ(mean_u h_u)``,
corruption by row-shuffling every node type's features (the graph is kept), bilinear discriminator
``D(h, s) = σ(hᵀ W s)``, binary cross-entropy. The reconstruction term ``λ · MSE(dec(h_u), x̄_u) / mean x̄²``
keeps personas about *which* taste a neighbourhood has; see :mod:`persona.learn.hdgi` for why.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch_geometric.nn import DeepGraphInfomax

from .encoder import HDGIEncoder
from .neighbourhoods import UserBatch


def _summary(z: Tensor, *args: Any, **kwargs: Any) -> Tensor:
    """DGI readout: s = σ(mean of the user representations)."""
    return torch.sigmoid(z.mean(dim=0))


class _Shuffled:
    """The rows of ``x`` in the order ``perm``, without copying ``x``: ``view[idx]`` is ``x[perm[idx]]``,
    the same values as ``x[perm][idx]``. The encoder only ever gathers a batch's rows, so a step costs the
    batch, not a shuffled copy of every feature matrix (491 k nodes × 384 floats at 10× Movies & TV)."""

    def __init__(self, x: Tensor, perm: Tensor) -> None:
        self.x, self.perm = x, perm

    def __getitem__(self, idx: Tensor) -> Tensor:
        return self.x[self.perm[idx]]

    def size(self, dim: int | None = None) -> Any:
        return self.x.size() if dim is None else self.x.size(dim)

    @property
    def device(self) -> torch.device:
        return self.x.device


def _corrupt(x_dict: dict[str, Tensor], *args: Any) -> tuple[Any, ...]:
    """HDGI corruption: shuffle the rows of every node type's features, keep the graph.

    Draws from torch's global generator (PyG calls it without one); :func:`~persona.learn.hdgi.train_hdgi`
    runs inside a seeded, isolated copy of that state. The shuffle is a row permutation applied when the
    encoder gathers rows (:class:`_Shuffled`), so no feature matrix is copied.
    """
    return ({k: _Shuffled(v, torch.randperm(v.size(0), device=v.device)) for k, v in x_dict.items()}, *args)


class _BatchEncoder(nn.Module):
    """Adapter so that PyG's ``DeepGraphInfomax`` calls ``encoder(x_dict, batch)``."""

    def __init__(self, encoder: HDGIEncoder) -> None:
        super().__init__()
        self.encoder = encoder

    def reset_parameters(self) -> None:
        self.encoder.reset_parameters()

    def forward(self, x_dict: dict[str, Tensor], batch: UserBatch) -> Tensor:
        return self.encoder.encode(x_dict, batch)[0]


class HDGI(nn.Module):
    """Encoder + DGI objective + text-view reconstruction; ``forward`` returns the loss of one step.

    Args:
        encoder: The :class:`~persona.learn.hdgi.HDGIEncoder`.
        recon_weight: Weight λ of the text-view reconstruction term (0 = plain HDGI).
    """

    def __init__(self, encoder: HDGIEncoder, recon_weight: float = 1.0) -> None:
        super().__init__()
        self.encoder = encoder
        self.recon_weight = recon_weight
        self.dgi = DeepGraphInfomax(encoder.hidden, _BatchEncoder(encoder), _summary, _corrupt)
        self.decoder = nn.Linear(encoder.hidden, encoder.user_dim)

    def reset_parameters(self) -> None:
        self.dgi.reset_parameters()
        self.decoder.reset_parameters()

    def forward(self, x_dict: dict[str, Tensor], batch: UserBatch) -> tuple[Tensor, dict[str, float]]:
        """Loss of one step on ``batch`` and its parts (``infomax``, ``recon``)."""
        x = self.encoder.inputs(x_dict)
        pos, neg, s = self.dgi(x, batch)
        infomax = self.dgi.loss(pos, neg, s)
        target = x_dict["User"][batch.users]
        recon = F.mse_loss(self.decoder(pos), target) / target.pow(2).mean().clamp_min(1e-12)
        loss = infomax + self.recon_weight * recon
        return loss, {"infomax": float(infomax.detach()), "recon": float(recon.detach())}

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}({self.encoder!r}, recon_weight={self.recon_weight})"
