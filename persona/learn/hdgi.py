"""Heterogeneous Deep Graph Infomax (HDGI) user personas over a text-initialised knowledge graph.

Design (Ren et al., "Heterogeneous Deep Graph Infomax", arXiv:1911.08538, built on HAN, Wang et al.
WWW'19, and DGI, Veličković et al. ICLR'19), adapted to the paper's setting (Sec. 4.1): items and
attributes carry text embeddings, users carry none and are randomly initialised.

**Inputs.** Every featured node type ``T`` (Item, Genre, Person…) has its text embeddings ``x_v``. A user's
*text view* is the mean text embedding of its training items (the non-parametric first aggregation
along ``U-I``); with ``user_init="random"`` a free, randomly initialised user embedding ``e_u`` (the
paper's user node) is added after projection: ``x'_u = W_U x̄_u + e_u``; other types: ``x'_v = W_T x_v``
(HAN's type-specific projections).

**Node-level attention per meta-path** (one PyG ``GATConv`` each, ``heads`` heads, ELU):

* heterogeneous paths ``U-…-T`` (``U-I``, ``U-I-Genre``) attend over the path's end nodes of type T —
  the user is described by the texts of the items and attributes it reaches;
* homogeneous paths ``U-…-U`` (``U-I-U``, ``U-I-Genre-I-U``, ``U-I-I-U``) attend over the user's
  meta-path neighbours (self-loop included) — HDGI's user–user graphs.

**Semantic-level attention** (HAN eq. 7–9): ``β_P = softmax_P(mean_u qᵀ tanh(W z_u^P + b))``, persona
``h_u = ELU(Σ_P β_P z_u^P)``.

**Objective.** The HDGI infomax (PyG ``DeepGraphInfomax``): readout ``s = σ(mean_u h_u)``, corruption
by row-shuffling every node type's features (user text views and free embeddings among users, items
among items, each attribute type among itself; the graph is kept), bilinear discriminator
``D(h, s) = σ(hᵀ W s)``, binary cross-entropy. Plus ``λ ·`` a text-view reconstruction term: a linear
decoder predicts ``x̄_u`` from ``h_u`` (MSE, normalised by ``mean x̄²``). Why: with feature shuffling a
corrupted user's neighbourhood averages to the global mean, so the infomax can be won by encoding
*how coherent* a neighbourhood is rather than *which* taste it has. On the demo graph
(``generate_demo(users=1000, items=600, tastes=8)``) plain HDGI (λ = 0) fell to k-means NMI 0.10–0.45
against the planted tastes within 20–40 epochs (seeds 0–2), while λ = 1 keeps 0.79–0.81 — the ceiling
the histories allow is about 0.815 (NMI of each user's most frequent planted item taste).

**Training** (Adam). Up to ``batch_users`` users, an epoch is one full-graph step. Above that, an epoch
is one step on a random batch of ``batch_users`` target users: the batch gathers only the edges into its
users (memory stays bounded) and the readout is the batch mean, as in PyG's large-graph DGI examples;
so ``epochs`` and ``patience`` bound the cost whatever the graph size. Early stopping follows the loss
(its moving average for batches) with a relative tolerance and keeps the best epoch's weights; fixed
seeds; checkpoints that resume.

**Centring** (``train_hdgi(centre=True)``, the default). Uncentred, every persona was mostly one shared
vector: on ML-100K + DBpedia the mean persona had norm 0.35 against an RMS spread of 0.046 around it
(ratio 7.5), so random pairs of users had cosine 0.985 and the users nearest to anyone were those nearest
to the mean — the heaviest raters (cosine to the mean vs log #ratings r = +0.50; the 10 nearest users
rated 1.27× as much as the average user). The shared vector comes from the inputs — sentence embeddings
are anisotropic (users' text views already have mean pair cosine 0.92; the attribute texts of a type
share their ``"<Label>: "`` prefix) — and is kept and enlarged by the encoder's biases and by averaging over
meta-path neighbourhoods (``U-I-Genre`` reaches nearly every genre: ratio 111); nothing in the objective
removes it: the infomax is won at a loss of ≈ 0.001 by one direction of the bilinear discriminator, and the
decoder's bias reconstructs the mean text view. The final ELU is not the cause (half the entries are
negative; dropping it leaves the cosine at 0.987). Hence two steps:

1. the text features of each node type are centred on their mean before training (the random-feature
   ablation's unit vectors are left as they are), so the reconstruction target is the user-specific part
   of the text view: a ridge map from the personas explains 29–31% of its variance on ML-100K instead of
   21–25% (seeds 0–2). The free user embeddings start at ``FREE_EMB_SCALE`` = 0.5 of the former scale:
   the centred text input is smaller, and at the old scale an under-trained model's personas are mostly
   the random embedding that a session does not have (4 epochs on the 120-user test graph: the least faithful
   of ten sessions made of a user's own history at cosine 0.88 to that user, 0.97 at half scale). After full training the scale
   matters little, at a small cost on ML-100K (31–33% of the text view explained at scale 1; sessions'
   mean cosine to their user 0.965 vs 0.976);
2. after training, the encoder's ``offset`` buffer is set to the mean persona of the training users and
   subtracted from every output (:meth:`HDGIEncoder.output`): stored personas, :meth:`PersonaModel.embed_users`
   and inferred sessions alike. It is saved with the weights; model files without it load with a zero
   offset, i.e. the uncentred personas they stored.

No whitening and no removal of a principal component: on the demo graph full whitening drops the top-10
planted-taste precision from 0.90 to 0.78, and on ML-100K the first principal component (r = −0.45 with
log activity) also carries taste — removing it lowers the director lift of the 10 nearest users from 1.48
to 1.34. Downstream, SASRec centres user vectors itself (:func:`persona.rec._torch.standardise`), so the
offset changes nothing there. ``centre=False`` trains the earlier, uncentred model
(``bench/bench_persona_similarity.py`` compares the two).

**Inference.** :meth:`PersonaModel.infer_persona` embeds an anonymous session from its items alone: the
items become a temporary user (text view = mean of their features, free embedding 0) whose meta-path
edges are composed against the trained graph, and the frozen encoder runs with the training β and
subtracts the training users' mean (``offset``), like the stored personas.
"""

from __future__ import annotations

import copy
import hashlib
import json
import pickle
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch_geometric.data import HeteroData
from torch_geometric.nn import DeepGraphInfomax, GATConv

from persona.errors import atomic_save

from .metapaths import MetaPath, MetaPathBuilder, _binary_csr, parse_metapath, resolve_metapaths

Progress = Callable[[str, int, int], None]

#: Users per step above which training switches to mini-batches.
BATCH_USERS = 1024
#: An epoch counts as an improvement when the loss drops by this fraction of the best loss (or 1e-4).
REL_TOL = 5e-3
#: Initial std of the free user embeddings, times ``hidden**-0.5`` (see the module docstring, "Centring").
FREE_EMB_SCALE = 0.5


class SemanticAttention(nn.Module):
    """Semantic-level attention of HAN (Wang et al. 2019, eq. 7–9) over meta-path channels.

    Args:
        channels: Size of each channel's node vectors.
        att_hidden: Size of the attention projection.
    """

    def __init__(self, channels: int, att_hidden: int = 128) -> None:
        super().__init__()
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
            w = (torch.tanh(self.lin(zs)) * self.q).sum(-1).mean(1)
            beta = torch.softmax(w, dim=0)
        return (beta.view(-1, 1, 1) * zs).sum(0), beta


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


class HDGIEncoder(nn.Module):
    """The meta-path encoder (see the module docstring) mapping the graph to user vectors.

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
    """

    offset: Tensor

    def __init__(
        self,
        in_channels: dict[str, int],
        num_users: int,
        metapaths: Sequence[MetaPath],
        hidden: int = 64,
        heads: int = 4,
        dropout: float = 0.1,
        user_init: str = "random",
        free_emb_scale: float = FREE_EMB_SCALE,
    ) -> None:
        super().__init__()
        if hidden % heads:
            raise ValueError(f"hidden ({hidden}) must be divisible by heads ({heads})")
        if user_init not in ("random", "zeros"):
            raise ValueError(f"user_init must be 'random' or 'zeros', got {user_init!r}")
        if "User" not in in_channels:
            raise ValueError("in_channels needs 'User' (the size of the users' text view)")
        self.metapaths = list(metapaths)
        if not self.metapaths:
            raise ValueError("at least one meta-path is needed")
        missing = sorted({mp.end for mp in self.metapaths} - set(in_channels))
        if missing:
            raise ValueError(
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
        self.semantic = SemanticAttention(hidden)
        # subtracted from every output persona; zero while training, set by train_hdgi to the training users'
        # mean persona (see the module docstring, "Centring"); saved with the weights
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


def _summary(z: Tensor, *args: Any, **kwargs: Any) -> Tensor:
    """DGI readout: s = σ(mean of the user representations)."""
    return torch.sigmoid(z.mean(dim=0))


def _corrupt(x_dict: dict[str, Tensor], *args: Any) -> tuple[Any, ...]:
    """HDGI corruption: shuffle the rows of every node type's features, keep the graph."""
    return ({k: v[torch.randperm(v.size(0), device=v.device)] for k, v in x_dict.items()}, *args)


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
    """Encoder + DGI objective (PyG ``DeepGraphInfomax``: bilinear discriminator, BCE) + text-view
    reconstruction (see the module docstring).

    Args:
        encoder: The :class:`HDGIEncoder`.
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


@dataclass
class PersonaResult:
    """What a persona run produced.

    Attributes:
        user_ids: User ids, in the row order of ``personas``.
        personas: ``[n_users, hidden]`` float32, centred on their mean unless trained with ``centre=False``.
        attention: Semantic weights ``{meta-path: β}`` (sum to 1).
        user_attention: Per user, each meta-path's share of its persona before the final ELU
            (``β_P‖z_u^P‖ / Σ_Q β_Q‖z_u^Q‖``), same keys as ``attention``.
        losses: Loss per epoch (all epochs, across resumes).
        run_id: Identifier written to ``User.persona_run``.
        best_epoch: Epoch (1-based) whose weights produced the personas.
        stopped_early: Whether patience ran out before ``epochs``.
        model: The trained model, for :meth:`infer_persona`.
        seconds: Wall time of this call.
        extra: Meta-path edge counts, epochs run, seconds per epoch, loss parts.
    """

    user_ids: list[str]
    personas: np.ndarray
    attention: dict[str, float]
    user_attention: list[dict[str, float]]
    losses: list[float]
    run_id: str
    best_epoch: int
    stopped_early: bool
    model: PersonaModel | None = None
    seconds: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)

    def infer_persona(self, items: Sequence[str]) -> np.ndarray:
        """Persona of an anonymous session from its item ids (see :meth:`PersonaModel.infer_persona`)."""
        if self.model is None:
            raise RuntimeError("this result carries no model")
        return self.model.infer_persona(items)


def _features(data: HeteroData, types: Sequence[str], mode: str, seed: int) -> dict[str, Tensor]:
    """Text features per type, or (ablation) seeded random unit vectors of the same size."""
    out = {}
    for t in types:
        x = data[t].get("x")
        if mode == "text":
            if x is None:
                raise ValueError(f"{t} nodes have no text features (text_emb); run text encoding first")
            out[t] = x.float()
        elif mode == "random":
            dim = int(x.size(1)) if x is not None else 384
            g = torch.Generator().manual_seed(seed * 1_000_003 + sum(map(ord, t)))
            r = torch.randn(data[t].num_nodes, dim, generator=g)
            out[t] = r / r.norm(dim=1, keepdim=True).clamp_min(1e-12)
        else:
            raise ValueError(f"item_features must be 'text' or 'random', got {mode!r}")
    return out


def user_text_view(item_x: Tensor, user_item: Tensor) -> Tensor:
    """Each user's text view: the mean feature of its items (``user_item``: CSR users × items)."""
    if user_item._nnz() == 0:
        return torch.zeros(user_item.shape[0], item_x.size(1), dtype=item_x.dtype)
    deg = user_item.crow_indices().diff().clamp_min(1).unsqueeze(1).to(item_x.dtype)
    return torch.sparse.mm(user_item.to(item_x.dtype), item_x) / deg


def _fingerprint(parts: list[Any], tensors: list[Tensor]) -> str:
    h = hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode())
    for t in tensors:
        h.update(str(tuple(t.shape)).encode())
        h.update(t.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


def _shares(chans: Tensor, beta: Tensor) -> Tensor:
    """Per node, each channel's share β_P‖z^P‖ / Σ; ``[N, P]``."""
    w = beta.view(-1, 1) * chans.norm(dim=-1)
    return (w / w.sum(0, keepdim=True).clamp_min(1e-12)).t()


def _batches(n: int, size: int) -> list[Tensor]:
    return list(torch.arange(n).split(size))


class PersonaModel:
    """A trained HDGI encoder with the graph context needed to embed users and new sessions.

    Build one with :func:`train_hdgi`; persist with :meth:`save` and :meth:`load`.
    """

    def __init__(
        self,
        encoder: HDGIEncoder,
        data: HeteroData,
        metapaths: Sequence[MetaPath],
        features: dict[str, Tensor],
        settings: dict[str, Any],
        run_id: str,
        device: str = "cpu",
        beta: Tensor | None = None,
    ) -> None:
        self.encoder = encoder.to(device).eval()
        self.data = data
        self.metapaths = list(metapaths)
        self.features = {k: v.to(device) for k, v in features.items()}
        self.settings = settings
        self.run_id = run_id
        self.device = device
        self.builder = MetaPathBuilder(
            data,
            max_sample=settings["max_sample"],
            hub_quantile=settings["hub_quantile"],
            seed=settings["seed"],
        )
        ids = data["Item"].get("node_ids")
        self.item_index = {
            str(i): n for n, i in enumerate(ids if ids is not None else range(data["Item"].num_nodes))
        }
        self._hoods: Neighbourhoods | None = None
        self._cache: dict[str, Tensor] | None = None
        self._beta = beta.to(device) if beta is not None else None

    def neighbourhoods(self) -> Neighbourhoods:
        """Meta-path neighbourhoods of the trained graph (composed once, then cached)."""
        if self._hoods is None:
            edges = [self.builder.edges(mp).edge_index for mp in self.metapaths]
            self._hoods = Neighbourhoods(self.metapaths, edges, self.features["User"].size(0))
        return self._hoods

    @torch.no_grad()
    def embed_users(self, batch_users: int = BATCH_USERS) -> tuple[Tensor, dict[str, Tensor]]:
        """Personas of the graph's users (eval mode), their channels and β; cached.

        β is the training graph's: computed here over all users when the model has none yet.
        """
        if self._cache is None:
            x = self.encoder.inputs(self.features)
            hoods = self.neighbourhoods()
            n = hoods.num_users
            parts = [
                self.encoder.channels(x, hoods.batch(b).to(self.device)) for b in _batches(n, batch_users)
            ]
            chans = torch.cat(parts, dim=1)
            fused, beta = self.encoder.semantic(chans, self._beta)
            self._beta = beta
            self._cache = {"h": self.encoder.output(fused), "channels": chans, "beta": beta}
        return self._cache["h"], self._cache

    @torch.no_grad()
    def centre(self, batch_users: int = BATCH_USERS) -> Tensor:
        """Set the encoder's ``offset`` to the mean persona of the graph's (training) users and return it.

        From then on every persona this model gives — :meth:`embed_users`, :meth:`infer_personas`, the
        encoder's ``forward`` — has that mean subtracted, so stored and session personas share one frame.
        """
        self.encoder.offset.zero_()
        self._cache = None
        h, info = self.embed_users(batch_users)
        mean = h.mean(0)
        self.encoder.offset.copy_(mean)
        info["h"] = h - mean
        return mean

    @property
    def beta(self) -> Tensor:
        """Semantic weights of the meta-paths (from the training graph)."""
        return self.embed_users()[1]["beta"]

    @torch.no_grad()
    def infer_personas(self, sessions: Sequence[Sequence[str]]) -> np.ndarray:
        """Personas of anonymous sessions (one row per session), without retraining.

        Each session becomes a temporary user linked to its items: its text view is the mean of the
        items' features, its meta-path edges (``U-I``, ``U-I-Genre``…, and user–user paths such as
        ``U-I-U`` towards the trained users) are composed like the training graph's, and the frozen
        encoder runs with the training-time semantic weights. Its free embedding is zero.

        Raises:
            ValueError: a session has no item known to the trained graph.
        """
        n_items = self.data["Item"].num_nodes
        rows, cols = [], []
        for s, items in enumerate(sessions):
            known = [self.item_index[str(i)] for i in items if str(i) in self.item_index]
            if not known:
                raise ValueError(
                    f"session {s}: none of its {len(items)} items is in the trained graph (e.g. {list(items)[:3]})"
                )
            rows += [s] * len(known)
            cols += known
        start = _binary_csr(torch.tensor([rows, cols]), len(sessions), n_items)
        beta = self.beta
        enc = self.encoder
        n_old, n_new = self.features["User"].size(0), len(sessions)
        x = dict(self.features)
        x["User"] = torch.cat(
            [self.features["User"], user_text_view(self.features["Item"].cpu(), start).to(self.device)]
        )
        if enc.user_emb is not None:
            x["User:free"] = torch.cat(
                [enc.user_emb.weight, torch.zeros(n_new, enc.hidden, device=self.device)]
            )
        edges = []
        for mp in self.metapaths:
            ei = self.builder.edges(mp, start).edge_index.clone()
            ei[1] += n_old  # the new users are appended after the trained ones
            edges.append(ei)
        hoods = Neighbourhoods(self.metapaths, edges, n_old + n_new)
        batch = hoods.batch(torch.arange(n_old, n_old + n_new)).to(self.device)
        h, _ = enc.encode(x, batch, beta)
        return h.cpu().numpy().astype(np.float32)

    def infer_persona(self, items: Sequence[str]) -> np.ndarray:
        """Persona (``[hidden]``) of one anonymous session from its item ids alone."""
        return self.infer_personas([items])[0]

    def save(self, path: Path | str) -> Path:
        """Write the model (weights, settings, graph structure and features) to one ``.pt`` file."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        graph = {
            "num_nodes": {t: int(self.data[t].num_nodes) for t in self.data.node_types},
            "node_ids": {
                t: [str(i) for i in (self.data[t].get("node_ids") or [])] for t in self.data.node_types
            },
            "edges": {
                "|".join(et): self.data[et].edge_index.cpu()
                for et in self.data.edge_types
                if "-" not in et[1]
            },
        }
        blob = {
            "format": "persona-kg/hdgi/2",
            "settings": self.settings,
            "run_id": self.run_id,
            "metapaths": [mp.name for mp in self.metapaths],
            "in_channels": {t: int(v.size(1)) for t, v in self.features.items()},
            "num_users": int(self.features["User"].size(0)),
            "state": {k: v.cpu() for k, v in self.encoder.state_dict().items()},
            "features": {k: v.cpu() for k, v in self.features.items()},
            "beta": self.beta.cpu(),
            "graph": graph,
        }
        atomic_save(torch.save, blob, path)
        return path

    @classmethod
    def load(cls, path: Path | str, device: str = "cpu") -> PersonaModel:
        """Read a model written by :meth:`save`.

        Raises:
            FileNotFoundError: no such file.
            ValueError: the file is not a persona-kg HDGI model.
        """
        try:
            blob = torch.load(Path(path), map_location="cpu", weights_only=True)
        except (OSError, RuntimeError, EOFError, ValueError, pickle.UnpicklingError) as e:
            raise ValueError(
                f"{path}: not a readable persona-kg HDGI model file ({e}); retrain personas"
            ) from None
        if not isinstance(blob, dict) or blob.get("format") != "persona-kg/hdgi/2":
            raise ValueError(
                f"{path}: not a persona-kg HDGI model file (format persona-kg/hdgi/2); retrain personas"
            )
        g = blob["graph"]
        data = HeteroData()
        for t, n in g["num_nodes"].items():
            data[t].num_nodes = n
            if g["node_ids"].get(t):
                data[t].node_ids = g["node_ids"][t]
        for key, ei in g["edges"].items():
            data[tuple(key.split("|"))].edge_index = ei
        mps = [parse_metapath(m) for m in blob["metapaths"]]
        s = blob["settings"]
        enc = HDGIEncoder(
            blob["in_channels"], blob["num_users"], mps, s["hidden"], s["heads"], s["dropout"], s["user_init"]
        )
        state = dict(blob["state"])
        # files written before personas were centred: no offset, i.e. the uncentred personas they stored
        state.setdefault("offset", torch.zeros(int(s["hidden"])))
        enc.load_state_dict(state)
        return cls(enc, data, mps, blob["features"], s, blob["run_id"], device, beta=blob["beta"])


def train_hdgi(
    data: HeteroData,
    settings: Any,
    seed: int = 0,
    device: str = "cpu",
    checkpoint_dir: Path | str | None = None,
    *,
    progress: Progress | None = None,
    checkpoint_every: int = 10,
    recon_weight: float = 1.0,
    batch_users: int = BATCH_USERS,
    centre: bool = True,
) -> PersonaResult:
    """Train HDGI on ``data`` and return user personas.

    Args:
        data: Exported graph (:func:`persona.learn.export.export_graph`): ``User`` nodes, ``Item`` and
            attribute nodes with ``x`` (text embeddings), training-only ``RATED`` edges and reverses.
        settings: :class:`persona.config.HDGISettings` (hidden, heads, epochs, patience, lr,
            weight_decay, dropout, max_sample, hub_quantile, metapaths, user_init, item_features).
        seed: Seeds weights, dropout, corruption, batches and neighbour sampling.
        device: ``"cpu"``, ``"cuda"`` or ``"cuda:N"``.
        checkpoint_dir: Where the training state ``hdgi.pt`` goes. A checkpoint of the same graph,
            settings and seed is resumed: its epochs are not repeated and training continues up to
            ``settings.epochs``. (Save the trained model with ``result.model.save(path)``.)
        progress: Optional callback ``(description, epoch, epochs)``.
        checkpoint_every: Epochs between checkpoint writes (one is always written at the end).
        recon_weight: Weight λ of the text-view reconstruction term (0 gives plain HDGI).
        batch_users: Users per optimisation step; on graphs with more users an epoch is one step on a
            random batch of this many users.
        centre: Centre the text features of each node type on their mean before training, and the output
            personas on the training users' mean persona (the encoder's ``offset``, saved with the model
            and applied to inferred sessions too). ``False`` gives the uncentred personas of earlier
            versions, whose cosines are all near 1 (kept for benchmarks; see the module docstring).

    Returns:
        :class:`PersonaResult` (personas from the epoch with the lowest loss).

    Raises:
        ValueError: bad settings, unknown meta-paths, or featured types without text features.
    """
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise RuntimeError(f"device {device!r} requested but CUDA is not available; use device='cpu'")
    if batch_users < 1:
        raise ValueError(f"batch_users must be >= 1, got {batch_users}")
    t0 = time.perf_counter()
    was_flushing = torch.set_flush_denormal(True)  # the infomax loss nears 0: denormal gradients stall CPUs
    try:
        return _train(
            data,
            settings,
            seed,
            device,
            checkpoint_dir,
            progress,
            checkpoint_every,
            recon_weight,
            batch_users,
            centre,
            t0,
        )
    finally:
        if was_flushing:
            torch.set_flush_denormal(False)


def _train(
    data: HeteroData,
    settings: Any,
    seed: int,
    device: str,
    checkpoint_dir: Path | str | None,
    progress: Progress | None,
    checkpoint_every: int,
    recon_weight: float,
    batch_users: int,
    centre: bool,
    t0: float,
) -> PersonaResult:
    torch.manual_seed(seed)
    np.random.seed(seed % 2**32)
    mps = resolve_metapaths(data, settings.metapaths)
    builder = MetaPathBuilder(
        data, max_sample=settings.max_sample, hub_quantile=settings.hub_quantile, seed=seed
    )
    t_mp = time.perf_counter()
    mp_edges = [builder.edges(mp) for mp in mps]
    t_mp = time.perf_counter() - t_mp
    types = sorted({"Item", *(mp.end for mp in mps if not mp.homogeneous)})
    feats = _features(data, types, settings.item_features, seed)
    if centre and settings.item_features == "text":
        # sentence embeddings share one dominant direction (anisotropy): keep only what tells nodes apart
        feats = {t: v - v.mean(0) for t, v in feats.items()}
    feats["User"] = user_text_view(feats["Item"], builder.hop("User", "Item", None))
    n_users = int(data["User"].num_nodes)
    hoods = Neighbourhoods(mps, [e.edge_index for e in mp_edges], n_users)
    encoder = HDGIEncoder(
        {t: int(v.size(1)) for t, v in feats.items()},
        n_users,
        mps,
        settings.hidden,
        settings.heads,
        settings.dropout,
        settings.user_init,
        free_emb_scale=FREE_EMB_SCALE if centre else 1.0,
    )
    model = HDGI(encoder, recon_weight).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=settings.lr, weight_decay=settings.weight_decay)
    x_dict = {k: v.to(device) for k, v in feats.items()}
    full = hoods.full().to(device) if n_users <= batch_users else None
    gen = torch.Generator().manual_seed(seed)

    run_settings = settings.model_dump() if hasattr(settings, "model_dump") else dict(vars(settings))
    run_settings.update(seed=seed, recon_weight=recon_weight, batch_users=batch_users, centre=centre)
    fp_settings = {k: v for k, v in run_settings.items() if k not in ("epochs", "patience", "device")}
    fingerprint = _fingerprint(
        [fp_settings, [mp.name for mp in mps], n_users],
        [e.edge_index for e in mp_edges] + [feats[t] for t in sorted(feats)],
    )
    state: dict[str, Any] = {
        "epoch": 0,
        "losses": [],
        "best_loss": float("inf"),
        "best_epoch": 0,
        "bad_epochs": 0,
        "best_state": None,
        "smoothed": None,
        "run_id": time.strftime("%Y%m%dT%H%M%S", time.gmtime()) + "-" + fingerprint[:8],
    }
    ckpt = Path(checkpoint_dir) / "hdgi.pt" if checkpoint_dir is not None else None
    if ckpt is not None and ckpt.is_file():
        saved = torch.load(ckpt, map_location="cpu", weights_only=True)
        if saved.get("fingerprint") == fingerprint:
            model.load_state_dict(saved["model"])
            opt.load_state_dict(saved["optimizer"])
            torch.set_rng_state(saved["rng"])
            gen.set_state(saved["batch_rng"])
            if saved.get("cuda_rng") is not None and device.startswith("cuda"):
                torch.cuda.set_rng_state(saved["cuda_rng"], device=device)
            state.update({k: saved[k] for k in state})

    def write_checkpoint() -> None:
        if ckpt is None:
            return
        ckpt.parent.mkdir(parents=True, exist_ok=True)
        blob = {
            **state,
            "fingerprint": fingerprint,
            "model": model.state_dict(),
            "optimizer": opt.state_dict(),
            "rng": torch.get_rng_state(),
            "batch_rng": gen.get_state(),
            "cuda_rng": torch.cuda.get_rng_state(device) if device.startswith("cuda") else None,
        }
        atomic_save(torch.save, blob, ckpt)

    stopped = state["bad_epochs"] >= settings.patience
    epoch_times: list[float] = []
    parts: dict[str, float] = {}
    while state["epoch"] < settings.epochs and not stopped:
        te = time.perf_counter()
        model.train()
        # small graphs: an epoch is one full-graph step; large ones: one step on a random batch of users
        batch = (
            full
            if full is not None
            else hoods.batch(torch.randperm(n_users, generator=gen)[:batch_users]).to(device)
        )
        opt.zero_grad()
        loss, parts = model(x_dict, batch)
        if not torch.isfinite(loss):
            raise FloatingPointError(
                f"HDGI loss became {loss.item()} at epoch {state['epoch'] + 1}; lower [hdgi] lr"
            )
        loss.backward()
        opt.step()
        value = float(loss.item())
        state["epoch"] += 1
        state["losses"].append(value)
        # mini-batch losses are noisy: early stopping follows their exponential moving average
        state["smoothed"] = (
            value if full is not None or state["smoothed"] is None else 0.9 * state["smoothed"] + 0.1 * value
        )
        tracked = state["smoothed"]
        if state["best_state"] is None or tracked < state["best_loss"] - max(
            1e-4, REL_TOL * abs(state["best_loss"])
        ):
            state.update(best_loss=tracked, best_epoch=state["epoch"], bad_epochs=0)
            state["best_state"] = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
        else:
            state["bad_epochs"] += 1
        stopped = state["bad_epochs"] >= settings.patience
        epoch_times.append(time.perf_counter() - te)
        if progress is not None:
            progress("HDGI epochs", state["epoch"], settings.epochs)
        if state["epoch"] % checkpoint_every == 0 or stopped or state["epoch"] >= settings.epochs:
            write_checkpoint()

    if state["best_state"] is not None:
        model.load_state_dict(state["best_state"])
    pm = PersonaModel(copy.deepcopy(encoder), data, mps, feats, run_settings, state["run_id"], device)
    pm._hoods = hoods
    if centre:
        pm.centre(batch_users)
    h, info = pm.embed_users(batch_users)
    names = encoder.names
    attention = dict(zip(names, map(float, info["beta"].tolist())))
    shares = _shares(info["channels"], info["beta"]).cpu().numpy()
    user_attention = [dict(zip(names, map(float, np.round(row, 4)))) for row in shares]
    ids = data["User"].get("node_ids")
    return PersonaResult(
        user_ids=[str(u) for u in (ids if ids is not None else range(n_users))],
        personas=h.cpu().numpy().astype(np.float32),
        attention=attention,
        user_attention=user_attention,
        losses=list(state["losses"]),
        run_id=state["run_id"],
        best_epoch=int(state["best_epoch"]),
        stopped_early=bool(stopped),
        model=pm,
        seconds=time.perf_counter() - t0,
        extra={
            "metapath_edges": {e.metapath.name: e.num_edges for e in mp_edges},
            "metapath_seconds": t_mp,
            "epochs_run": state["epoch"],
            "seconds_per_epoch": float(np.mean(epoch_times)) if epoch_times else None,
            "last_loss_parts": parts,
            "users_per_epoch": n_users if full is not None else batch_users,
        },
    )
