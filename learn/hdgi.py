"""Heterogeneous Deep Graph Infomax (HDGI) user personas over a text-initialised knowledge graph.

Model (Ren et al., "Heterogeneous Deep Graph Infomax", arXiv:1911.08538, following HAN, Wang et al.
WWW'19, and DGI, Veličković et al. ICLR'19), adapted so that user representations depend on the text
features of items and attributes, as the paper's Sec. 4.1 asks (users have no text; items and
attributes carry LLM/sentence embeddings):

1. **Type-specific projection** (HAN): every featured node type ``T`` (Item, Genre, Person…) maps its
   text embedding into the hidden space, ``x'_v = W_T x_v``.
2. **Stage 1 — node-level attention over heterogeneous meta-paths** ``U-…-T`` (``U-I``, ``U-I-Genre``):
   one GAT per path (PyG ``GATConv``, bipartite, ``heads`` heads) aggregates the path's end nodes into
   the user, ``z_u^P = ELU(Σ_v α_uv^P W^P x'_v)``. With ``user_init="random"`` the user's own free
   embedding (the paper's randomly initialised user node) is one more channel, named ``U``.
   **Semantic-level attention** (HAN eq. 7–9: ``β_P = softmax_P(mean_u qᵀ tanh(W z_u^P + b))``) fuses
   the channels into user features ``x1_u``.
3. **Stage 2 — HDGI proper over homogeneous user–user meta-paths** (``U-I-U``, ``U-I-Genre-I-U``,
   ``U-I-I-U``): one GAT per path over the meta-path adjacency (self-loops added), then semantic
   attention, giving the persona ``h_u``. Without such paths ``h_u = x1_u``.
4. **Infomax objective** (PyG ``DeepGraphInfomax``): readout ``s = σ(mean_u h_u)``; corruption
   shuffles the rows of every node type's feature matrix (items among items, each attribute type among
   itself, user embeddings among users) and keeps the graph, so a negative user sees the wrong items'
   texts; a bilinear discriminator ``D(h, s) = σ(hᵀ W s)`` is trained with binary cross-entropy.

Meta-path adjacencies come from :mod:`persona.learn.metapaths` (sparse products in torch, hub
pruning, neighbour caps). Training is full-batch with Adam, early stopping on the loss (the best epoch's
weights are kept), fixed seeds, and checkpoints that resume. :class:`PersonaModel` keeps what inference
needs, so :meth:`PersonaModel.infer_persona` embeds an anonymous session from its items alone: the items
become a temporary user node, its meta-path edges are composed against the trained graph, and the
frozen encoder runs with the training-time semantic weights.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
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

from .metapaths import MetaPath, MetaPathBuilder, MetaPathEdges, _binary_csr, parse_metapath, resolve_metapaths

Progress = Callable[[str, int, int], None]


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


class HDGIEncoder(nn.Module):
    """The meta-path encoder (see the module docstring) mapping the graph to user vectors.

    Args:
        in_channels: Feature size per node type: ``"User"`` (the user's text view) and every featured
            end type of a heterogeneous meta-path (``{"User": 384, "Item": 384, "Genre": 384, …}``).
        num_users: Number of user nodes (rows of the free user embedding).
        metapaths: Meta-paths starting at ``User``; one attention channel each.
        hidden: Output (persona) size; divisible by ``heads``.
        heads: Attention heads per meta-path.
        dropout: Dropout on input features and on attention coefficients.
        user_init: ``"random"`` adds a free, randomly initialised embedding to each user's input
            (the paper's user node); ``"zeros"`` adds none.
    """

    def __init__(
        self,
        in_channels: dict[str, int],
        num_users: int,
        metapaths: Sequence[MetaPath],
        hidden: int = 64,
        heads: int = 4,
        dropout: float = 0.1,
        user_init: str = "random",
    ) -> None:
        super().__init__()
        if hidden % heads:
            raise ValueError(f"hidden ({hidden}) must be divisible by heads ({heads})")
        if user_init not in ("random", "zeros"):
            raise ValueError(f"user_init must be 'random' or 'zeros', got {user_init!r}")
        if "User" not in in_channels:
            raise ValueError("in_channels needs 'User' (the size of the users' text view)")
        self.hidden, self.heads, self.dropout, self.user_init = hidden, heads, dropout, user_init
        self.num_users = num_users
        self.metapaths = list(metapaths)
        if not self.metapaths:
            raise ValueError("at least one meta-path is needed")
        missing = sorted({mp.end for mp in self.metapaths} - set(in_channels))
        if missing:
            raise ValueError(f"meta-paths end at {missing}, which have no features (text_emb); encode texts first")
        self.types = sorted({"User", *(mp.end for mp in self.metapaths)})
        self.proj = nn.ModuleDict({t: nn.Linear(in_channels[t], hidden) for t in self.types})
        self.user_emb = nn.Embedding(num_users, hidden) if user_init == "random" else None
        c = hidden // heads
        self.convs = nn.ModuleList(
            GATConv(hidden, c, heads=heads, dropout=dropout, add_self_loops=True)
            if mp.homogeneous
            else GATConv((hidden, hidden), c, heads=heads, dropout=dropout, add_self_loops=False)
            for mp in self.metapaths
        )
        self.semantic = SemanticAttention(hidden)
        self.reset_parameters()

    @property
    def names(self) -> list[str]:
        """Channel (meta-path) names, in channel order."""
        return [mp.name for mp in self.metapaths]

    def reset_parameters(self) -> None:
        for lin in self.proj.values():
            lin.reset_parameters()
        if self.user_emb is not None:
            nn.init.normal_(self.user_emb.weight, std=self.hidden**-0.5)
        for conv in self.convs:
            conv.reset_parameters()
        self.semantic.reset_parameters()

    def inputs(self, x_dict: dict[str, Tensor]) -> dict[str, Tensor]:
        """``x_dict`` plus the free user embedding under ``"User:free"`` (``user_init="random"``)."""
        out = dict(x_dict)
        if self.user_emb is not None and "User:free" not in out:
            out["User:free"] = self.user_emb.weight
        return out

    def channels(self, x_dict: dict[str, Tensor], edge_index_dict: dict[tuple[str, str, str], Tensor]) -> Tensor:
        """Per-meta-path user representations ``[P, N_users, hidden]``."""
        proj = {t: self.proj[t](F.dropout(x_dict[t], self.dropout, self.training)) for t in self.types}
        if "User:free" in x_dict:
            proj["User"] = proj["User"] + x_dict["User:free"]
        xu = proj["User"]
        out = []
        for mp, conv in zip(self.metapaths, self.convs):
            ei = edge_index_dict[(mp.end, mp.name, "User")]
            out.append(F.elu(conv(xu, ei) if mp.homogeneous else conv((proj[mp.end], xu), ei)))
        return torch.stack(out)

    def forward(self, x_dict: dict[str, Tensor], edge_index_dict: dict[tuple[str, str, str], Tensor]) -> Tensor:
        """User representations ``[N_users, hidden]``.

        Args:
            x_dict: ``"User"`` → the users' text view, each featured type → its features, and optionally
                ``"User:free"`` → free user embeddings (see :meth:`inputs`).
            edge_index_dict: ``(end type, meta-path name, "User")`` → ``[2, E]`` edges (row 0 end
                nodes, row 1 users), for every meta-path of the encoder.
        """
        return self.encode(x_dict, edge_index_dict)[0]

    def encode(
        self,
        x_dict: dict[str, Tensor],
        edge_index_dict: dict[tuple[str, str, str], Tensor],
        beta: Tensor | None = None,
    ) -> tuple[Tensor, dict[str, Tensor]]:
        """Like :meth:`forward`, also returning the channels and semantic weights (``beta`` fixes them)."""
        chans = self.channels(x_dict, edge_index_dict)
        fused, b = self.semantic(chans, beta)
        return F.elu(fused), {"channels": chans, "beta": b}


def _summary(z: Tensor, *args: Any, **kwargs: Any) -> Tensor:
    """DGI readout: s = σ(mean of the user representations)."""
    return torch.sigmoid(z.mean(dim=0))


def _corrupt(x_dict: dict[str, Tensor], edge_index_dict: dict[Any, Tensor]) -> tuple[dict[str, Tensor], dict[Any, Tensor]]:
    """HDGI corruption: shuffle the rows of every node type's features, keep the graph."""
    return {k: v[torch.randperm(v.size(0), device=v.device)] for k, v in x_dict.items()}, edge_index_dict


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
        self.dgi = DeepGraphInfomax(encoder.hidden, encoder, _summary, _corrupt)
        self.decoder = nn.Linear(encoder.hidden, encoder.proj["User"].in_features)

    def reset_parameters(self) -> None:
        self.dgi.reset_parameters()
        self.decoder.reset_parameters()

    def forward(self, x_dict: dict[str, Tensor], edge_index_dict: dict[Any, Tensor]) -> tuple[Tensor, dict[str, float]]:
        """Loss of one full-graph step and its parts (``infomax``, ``recon``)."""
        x = self.encoder.inputs(x_dict)
        pos, neg, s = self.dgi(x, edge_index_dict)
        infomax = self.dgi.loss(pos, neg, s)
        target = x_dict["User"]
        recon = F.mse_loss(self.decoder(pos), target) / target.pow(2).mean().clamp_min(1e-12)
        loss = infomax + self.recon_weight * recon
        return loss, {"infomax": float(infomax.detach()), "recon": float(recon.detach())}


@dataclass
class PersonaResult:
    """What a persona run produced.

    Attributes:
        user_ids: User ids, in the row order of ``personas``.
        personas: ``[n_users, hidden]`` float32.
        attention: Global semantic weights ``{meta-path: β}``; stage-1 names (incl. ``"U"``) sum to 1,
            stage-2 (user–user) names sum to 1.
        user_attention: Per user, each meta-path's share of the user's vector (β_P·‖z_u^P‖ normalised
            within its stage), same keys as ``attention``.
        losses: Infomax loss per epoch (all epochs, across resumes).
        run_id: Identifier written to ``User.persona_run``.
        best_epoch: Epoch (1-based) whose weights produced the personas.
        stopped_early: Whether patience ran out before ``epochs``.
        model: The trained model, for :meth:`infer_persona`.
        seconds: Wall time of training in this call.
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
        x = getattr(data[t], "x", None)
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


def user_text_view(item_x: Tensor, user_item: Tensor) -> Tensor:
    """Each user's text view: the mean feature of its (training) items; ``user_item`` is a CSR matrix."""
    deg = torch.bincount(user_item.to_sparse_coo().coalesce().indices()[0], minlength=user_item.shape[0])
    summed = torch.sparse.mm(user_item.to(item_x.dtype), item_x) if user_item._nnz() else torch.zeros(user_item.shape[0], item_x.size(1))
    return summed / deg.clamp_min(1).unsqueeze(1).to(item_x.dtype)


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
            data, max_sample=settings["max_sample"], hub_quantile=settings["hub_quantile"], seed=settings["seed"]
        )
        ids = getattr(data["Item"], "node_ids", None)
        self.item_index = {str(i): n for n, i in enumerate(ids if ids is not None else range(data["Item"].num_nodes))}
        self._edges: dict[tuple[str, str, str], Tensor] | None = None
        self._cache: dict[str, Tensor] | None = None
        self._beta = beta.to(device) if beta is not None else None

    def edge_index_dict(self) -> dict[tuple[str, str, str], Tensor]:
        """Meta-path edges of the trained graph (composed once, then cached)."""
        if self._edges is None:
            self._edges = {
                (mp.end, mp.name, "User"): self.builder.edges(mp).edge_index.to(self.device) for mp in self.metapaths
            }
        return self._edges

    @torch.no_grad()
    def embed_users(self) -> tuple[Tensor, dict[str, Tensor]]:
        """Personas of the graph's users (eval mode) and the encoder's channels and β; cached."""
        if self._cache is None:
            h, info = self.encoder.encode(self.encoder.inputs(self.features), self.edge_index_dict(), self._beta)
            self._beta = info["beta"]
            self._cache = {"h": h, **info}
        return self._cache["h"], self._cache

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
        self.embed_users()
        enc = self.encoder
        n_old, n_new = self.features["User"].size(0), len(sessions)
        x = dict(self.features)
        x["User"] = torch.cat([self.features["User"], user_text_view(self.features["Item"].cpu(), start).to(self.device)])
        if enc.user_emb is not None:
            x["User:free"] = torch.cat([enc.user_emb.weight, torch.zeros(n_new, enc.hidden, device=self.device)])
        edges = {}
        for mp in self.metapaths:
            ei = self.builder.edges(mp, start).edge_index.clone()
            ei[1] += n_old  # the new users are appended after the trained ones
            edges[(mp.end, mp.name, "User")] = ei.to(self.device)
        chans = enc.channels(x, edges)[:, n_old:]
        fused, _ = enc.semantic(chans, self._beta)
        return F.elu(fused).cpu().numpy().astype(np.float32)

    def infer_persona(self, items: Sequence[str]) -> np.ndarray:
        """Persona (``[hidden]``) of one anonymous session from its item ids alone."""
        return self.infer_personas([items])[0]

    def save(self, path: Path | str) -> Path:
        """Write the model (weights, settings, graph structure and features) to one ``.pt`` file."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        graph = {
            "num_nodes": {t: int(self.data[t].num_nodes) for t in self.data.node_types},
            "node_ids": {t: [str(i) for i in (getattr(self.data[t], "node_ids", None) or [])] for t in self.data.node_types},
            "edges": {"|".join(et): self.data[et].edge_index.cpu() for et in self.data.edge_types if "-" not in et[1]},
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
        tmp = path.with_suffix(".tmp")
        torch.save(blob, tmp)
        os.replace(tmp, path)
        return path

    @classmethod
    def load(cls, path: Path | str, device: str = "cpu") -> PersonaModel:
        """Read a model written by :meth:`save`.

        Raises:
            ValueError: the file is not a persona-kg HDGI model.
        """
        blob = torch.load(Path(path), map_location="cpu", weights_only=True)
        if not isinstance(blob, dict) or blob.get("format") != "persona-kg/hdgi/2":
            raise ValueError(f"{path}: not a persona-kg HDGI model file (format persona-kg/hdgi/2); retrain personas")
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
        enc = HDGIEncoder(blob["in_channels"], blob["num_users"], mps, s["hidden"], s["heads"], s["dropout"], s["user_init"])
        enc.load_state_dict(blob["state"])
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
) -> PersonaResult:
    """Train HDGI on ``data`` and return user personas.

    Args:
        data: Exported graph (:func:`persona.learn.export.export_graph`): ``User`` nodes, ``Item`` and
            attribute nodes with ``x`` (text embeddings), training-only ``RATED`` edges and their reverses.
        settings: :class:`persona.config.HDGISettings` (hidden, heads, epochs, patience, lr,
            weight_decay, dropout, max_sample, hub_quantile, metapaths, user_init, item_features).
        seed: Seeds weights, dropout, corruption and neighbour sampling.
        device: ``"cpu"``, ``"cuda"`` or ``"cuda:N"``.
        checkpoint_dir: Where the training state ``hdgi.pt`` goes. A checkpoint of the same graph,
            settings and seed is resumed: its epochs are not repeated and training continues up to
            ``settings.epochs``. (Save the trained model with ``result.model.save(path)``.)
        progress: Optional callback ``(description, epoch, epochs)``.
        checkpoint_every: Epochs between checkpoint writes (one is always written at the end).
        recon_weight: Weight of the text-view reconstruction term (0 gives plain HDGI).

    Returns:
        :class:`PersonaResult` (personas from the epoch with the lowest loss).

    Raises:
        ValueError: bad settings, unknown meta-paths, or featured types without text features.
    """
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise RuntimeError(f"device {device!r} requested but CUDA is not available; use device='cpu'")
    t0 = time.perf_counter()
    flush = torch.set_flush_denormal(True)  # the infomax loss approaches 0: denormal gradients stall CPUs
    try:
        return _train(data, settings, seed, device, checkpoint_dir, progress, checkpoint_every, recon_weight, t0)
    finally:
        if flush:
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
    t0: float,
) -> PersonaResult:
    torch.manual_seed(seed)
    np.random.seed(seed % 2**32)
    mps = resolve_metapaths(data, settings.metapaths)
    builder = MetaPathBuilder(data, max_sample=settings.max_sample, hub_quantile=settings.hub_quantile, seed=seed)
    mp_edges: list[MetaPathEdges] = [builder.edges(mp) for mp in mps]
    types = sorted({"Item", *(mp.end for mp in mps if not mp.homogeneous)})
    feats = _features(data, types, settings.item_features, seed)
    feats["User"] = user_text_view(feats["Item"], builder.hop("User", "Item", None))
    n_users = int(data["User"].num_nodes)
    encoder = HDGIEncoder(
        {t: int(v.size(1)) for t, v in feats.items()},
        n_users,
        mps,
        settings.hidden,
        settings.heads,
        settings.dropout,
        settings.user_init,
    )
    model = HDGI(encoder, recon_weight).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=settings.lr, weight_decay=settings.weight_decay)
    x_dict = {k: v.to(device) for k, v in feats.items()}
    ei_dict = {(e.metapath.end, e.metapath.name, "User"): e.edge_index.to(device) for e in mp_edges}

    run_settings = settings.model_dump() if hasattr(settings, "model_dump") else dict(vars(settings))
    run_settings.update(seed=seed, recon_weight=recon_weight)
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
        "run_id": time.strftime("%Y%m%dT%H%M%S", time.gmtime()) + "-" + fingerprint[:8],
    }
    ckpt = Path(checkpoint_dir) / "hdgi.pt" if checkpoint_dir is not None else None
    if ckpt is not None and ckpt.is_file():
        saved = torch.load(ckpt, map_location="cpu", weights_only=True)
        if saved.get("fingerprint") == fingerprint:
            model.load_state_dict(saved["model"])
            opt.load_state_dict(saved["optimizer"])
            torch.set_rng_state(saved["rng"])
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
            "cuda_rng": torch.cuda.get_rng_state(device) if device.startswith("cuda") else None,
        }
        tmp = ckpt.with_suffix(".tmp")
        torch.save(blob, tmp)
        os.replace(tmp, ckpt)

    stopped = state["bad_epochs"] >= settings.patience
    epoch_times: list[float] = []
    while state["epoch"] < settings.epochs and not stopped:
        te = time.perf_counter()
        model.train()
        opt.zero_grad()
        loss, parts = model(x_dict, ei_dict)
        if not torch.isfinite(loss):
            raise FloatingPointError(f"HDGI loss became {loss.item()} at epoch {state['epoch'] + 1}; lower [hdgi] lr")
        loss.backward()
        opt.step()
        value = float(loss.item())
        state["epoch"] += 1
        state["losses"].append(value)
        if value < state["best_loss"] - 1e-4:
            state.update(best_loss=value, best_epoch=state["epoch"], bad_epochs=0)
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
    pm = PersonaModel(copy.deepcopy(encoder).cpu(), data, mps, feats, run_settings, state["run_id"], device)
    pm._edges = dict(ei_dict)
    h, info = pm.embed_users()
    names = encoder.names
    attention = dict(zip(names, map(float, info["beta"].tolist())))
    shares = _shares(info["channels"], info["beta"]).cpu().numpy()
    user_attention = [dict(zip(names, map(float, np.round(row, 4)))) for row in shares]
    ids = getattr(data["User"], "node_ids", None)
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
            "epochs_run": state["epoch"],
            "seconds_per_epoch": float(np.mean(epoch_times)) if epoch_times else None,
        },
    )
