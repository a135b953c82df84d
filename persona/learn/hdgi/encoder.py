"""The HDGI meta-path encoder (Ren et al., "Heterogeneous Deep Graph Infomax", arXiv:1911.08538).

HAN-style (Wang et al. WWW'19): type-specific projections, node-level attention per meta-path (one PyG
``GATConv`` each) and semantic-level attention over the meta-paths; see :mod:`persona.learn.hdgi` for
the design and its measurements.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch_geometric.nn import GATConv

from persona.config import HDGISettings
from persona.errors import ConfigError

from .._pyg import remove_generated_sources
from ..metapaths import MetaPath
from .neighbourhoods import Neighbourhoods, UserBatch
from .semantic_attention import SemanticAttention

_HDGI = HDGISettings()  # the module's defaults are the [hdgi] settings' (one definition)

#: Initial std of the free user embeddings, times ``hidden**-0.5`` (see :mod:`persona.learn.hdgi`, "Centring").
FREE_EMB_SCALE = 0.5


class HDGIEncoder(nn.Module):
    """The meta-path encoder mapping the graph to user vectors (personas).

    Inputs: a user's text view ``x̄_u`` (the mean text embedding of its training items) projected by
    ``W_U``, plus a free embedding ``e_u`` when ``user_init="random"``; other types ``x'_v = W_T x_v``.
    Heterogeneous meta-paths (``U-I``, ``U-I-Genre``) attend over the path's end nodes, homogeneous ones
    (``U-I-U``…) over the user's meta-path neighbours, self-loop included. The channels are fused by
    :class:`SemanticAttention`; the output is ``ELU(Σ_P β_P z^P) − offset``.

    Args:
        in_channels: Feature size per node type: ``"User"`` (the users' text view) and every end type
            of a heterogeneous meta-path (``{"User": 384, "Item": 384, "Genre": 384, …}``).
        num_users: Number of user nodes (rows of the free user embedding).
        metapaths: Meta-paths starting at ``User``; one attention channel each.
        hidden: Output (persona) size; divisible by ``heads``.
        heads: Attention heads per meta-path.
        dropout: Dropout on projected features and on attention coefficients.
        user_init: ``"random"`` adds a free, randomly initialised embedding to each user's input;
            ``"zeros"`` adds none.
        free_emb_scale: Initial std of the free embeddings, times ``hidden**-0.5``.

    Raises:
        ConfigError: ``hidden`` not divisible by ``heads``, an unknown ``user_init``, no meta-path, or a
            meta-path ending at a type without features.
    """

    offset: Tensor

    def __init__(
        self,
        in_channels: dict[str, int],
        num_users: int,
        metapaths: Sequence[MetaPath],
        hidden: int = _HDGI.hidden,
        heads: int = _HDGI.heads,
        dropout: float = _HDGI.dropout,
        user_init: str = _HDGI.user_init,
        free_emb_scale: float = FREE_EMB_SCALE,
    ) -> None:
        super().__init__()
        if hidden % heads:
            raise ConfigError(f"hidden ({hidden}) must be divisible by heads ({heads})")
        if user_init not in ("random", "zeros"):
            raise ConfigError(f"user_init must be 'random' or 'zeros', got {user_init!r}")
        if "User" not in in_channels:
            raise ConfigError("in_channels needs 'User' (the size of the users' text view)")
        self.metapaths = list(metapaths)
        if not self.metapaths:
            raise ConfigError("at least one meta-path is needed")
        missing = sorted({mp.end for mp in self.metapaths} - set(in_channels))
        if missing:
            raise ConfigError(
                f"meta-paths end at {missing}, which have no features (text_emb); encode texts first"
            )
        self.hidden, self.heads, self.dropout, self.user_init = hidden, heads, dropout, user_init
        self.free_emb_scale = free_emb_scale
        self.num_users = num_users
        self.user_dim = in_channels["User"]
        self.types = sorted({"User", *(mp.end for mp in self.metapaths)})
        self.proj = nn.ModuleDict({t: nn.Linear(in_channels[t], hidden) for t in self.types})
        self.user_emb = nn.Embedding(num_users, hidden) if user_init == "random" else None
        c = hidden // heads
        self.convs = nn.ModuleList(
            GATConv(hidden, c, heads=heads, dropout=dropout, add_self_loops=mp.homogeneous)
            for mp in self.metapaths
        )
        remove_generated_sources()  # PyG wrote GATConv's generated propagate to a temp file; it is loaded now
        self.semantic = SemanticAttention(hidden)
        # subtracted from every output persona; zero while training, set by train_hdgi to the training users'
        # mean persona (see persona.learn.hdgi, "Centring"); saved with the weights
        self.register_buffer("offset", torch.zeros(hidden))
        self.reset_parameters()

    @property
    def names(self) -> list[str]:
        """Channel (meta-path) names, in channel order."""
        return [mp.name for mp in self.metapaths]

    def reset_parameters(self) -> None:
        for module in [*self.proj.values(), *self.convs, self.semantic]:
            module.reset_parameters()  # type: ignore[operator]
        if self.user_emb is not None:
            nn.init.normal_(self.user_emb.weight, std=self.free_emb_scale * self.hidden**-0.5)
        self.offset.zero_()

    def __repr__(self) -> str:
        return (
            f"{self.__class__.__name__}({self.hidden}, heads={self.heads}, users={self.num_users}, "
            f"user_init={self.user_init!r}, metapaths={self.names})"
        )

    def output(self, fused: Tensor) -> Tensor:
        """Persona from the fused channels: ``ELU(Σ_P β_P z^P) − offset``."""
        return F.elu(fused) - self.offset

    def inputs(self, x_dict: dict[str, Tensor]) -> dict[str, Tensor]:
        """``x_dict`` plus the free user embeddings under ``"User:free"`` (``user_init="random"``)."""
        out = dict(x_dict)
        if self.user_emb is not None and "User:free" not in out:
            out["User:free"] = self.user_emb.weight
        return out

    def _users(self, x_dict: dict[str, Tensor], idx: Tensor) -> Tensor:
        """Projected user inputs ``W_U x̄_u (+ e_u)`` of users ``idx`` (no dropout)."""
        xu = self.proj["User"](x_dict["User"][idx])
        if "User:free" in x_dict:
            xu = xu + x_dict["User:free"][idx]
        return xu

    def channels(self, x_dict: dict[str, Tensor], batch: UserBatch) -> Tensor:
        """Per-meta-path representations of the batch's users, ``[P, B, hidden]``."""
        b = batch.users.numel()
        # every user any channel reads is projected once (user–user channels share most of them);
        # dropout stays per channel
        homo = [src[b:] for mp, src in zip(self.metapaths, batch.src) if mp.homogeneous]
        need, where = torch.unique(torch.cat([batch.users, *homo]), return_inverse=True)
        xu = self._users(x_dict, need)
        x_dst = F.dropout(xu[where[:b]], self.dropout, self.training)
        offset = b
        out = []
        for mp, conv, src, ei in zip(self.metapaths, self.convs, batch.src, batch.edge_index):
            if mp.homogeneous:
                n_other = src.numel() - b
                others = xu[where[offset : offset + n_other]]
                offset += n_other
                x_src = torch.cat([x_dst, F.dropout(others, self.dropout, self.training)])
            else:
                x_src = F.dropout(self.proj[mp.end](x_dict[mp.end][src]), self.dropout, self.training)
            out.append(F.elu(conv((x_src, x_dst), ei)))
        return torch.stack(out)

    def encode(
        self, x_dict: dict[str, Tensor], batch: UserBatch, beta: Tensor | None = None
    ) -> tuple[Tensor, dict[str, Tensor]]:
        """Personas of the batch's users and the details (``channels``, ``beta``); ``beta`` fixes β."""
        chans = self.channels(x_dict, batch)
        fused, b = self.semantic(chans, beta)
        return self.output(fused), {"channels": chans, "beta": b}

    def forward(
        self, x_dict: dict[str, Tensor], edge_index_dict: dict[tuple[str, str, str], Tensor]
    ) -> Tensor:
        """User representations ``[N_users, hidden]`` of the whole graph.

        Args:
            x_dict: ``"User"`` → the users' text views, each featured type → its features, and optionally
                ``"User:free"`` → free user embeddings (see :meth:`inputs`).
            edge_index_dict: ``(end type, meta-path name, "User")`` → ``[2, E]`` edges (row 0 end
                nodes, row 1 users), for every meta-path of the encoder.
        """
        n = x_dict["User"].size(0)
        edges = [edge_index_dict[(mp.end, mp.name, "User")].cpu() for mp in self.metapaths]
        batch = Neighbourhoods(self.metapaths, edges, n).full().to(x_dict["User"].device)
        return self.encode(x_dict, batch)[0]
