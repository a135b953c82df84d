"""The HDGI training loop: :func:`train_hdgi` prepares the graph, fits :class:`~persona.learn.hdgi.HDGI`
with Adam and early stopping, and returns the personas with a :class:`~persona.learn.hdgi.PersonaModel`.

Seed, device and checkpoint folder are arguments. Everything random is drawn from generators seeded by
the seed: the batch order and meta-path tie-breaks from their own ``torch.Generator``, weight
initialisation, dropout and the infomax corruption (which PyG draws from torch's global generator) inside
:func:`persona.learn._rng.seeded_rng`, a seeded copy of the global state that is restored afterwards.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor
from torch_geometric.data import HeteroData

from persona._memory import trim
from persona.config import HDGISettings
from persona.errors import ConfigError, ModelError, ResourceError

from .._rng import flush_denormal, seeded_rng
from ..metapaths import MetaPath, MetaPathBuilder, MetaPathEdges, resolve_metapaths
from .checkpoint import Checkpoint, fingerprint
from .encoder import FREE_EMB_SCALE, HDGIEncoder
from .infomax import HDGI
from .neighbourhoods import Neighbourhoods, UserBatch, user_text_view
from .persona_model import PersonaModel
from .result import PersonaResult
from .state import TrainState

Progress = Callable[[str, int, int], None]


@dataclass
class _Graph:
    """The training inputs composed from the exported graph."""

    metapaths: list[MetaPath]
    builder: MetaPathBuilder
    #: the composed edges; emptied once hashed (:meth:`drop_edges`): ``hoods`` holds them, sorted by user
    edges: list[MetaPathEdges]
    edge_counts: dict[str, int]
    features: dict[str, Tensor]
    hoods: Neighbourhoods
    metapath_seconds: float

    @property
    def num_users(self) -> int:
        return self.hoods.num_users

    def drop_edges(self) -> None:
        """Forget the composed edges (10× Movies & TV: 36 M of them, 0.9 GB with their weights)."""
        self.edges = []
        trim()


def _features(data: HeteroData, types: Sequence[str], mode: str, seed: int) -> dict[str, Tensor]:
    """Text features per type, or (ablation) seeded random unit vectors of the same size."""
    out = {}
    for t in types:
        x = data[t].get("x")
        if mode == "text":
            if x is None:
                raise ConfigError(f"{t} nodes have no text features (text_emb); run text encoding first")
            out[t] = x.float()
        elif mode == "random":
            dim = int(x.size(1)) if x is not None else 384
            g = torch.Generator().manual_seed(seed * 1_000_003 + sum(map(ord, t)))
            r = torch.randn(data[t].num_nodes, dim, generator=g)
            out[t] = r / r.norm(dim=1, keepdim=True).clamp_min(1e-12)
        else:
            raise ConfigError(f"item_features must be 'text' or 'random', got {mode!r}")
    return out


def _prepare(data: HeteroData, settings: HDGISettings, seed: int, centre: bool) -> _Graph:
    """Meta-path edges, (centred) node features and the users' text views."""
    mps = resolve_metapaths(data, settings.metapaths)
    builder = MetaPathBuilder(
        data, max_sample=settings.max_sample, hub_quantile=settings.hub_quantile, seed=seed
    )
    t = time.perf_counter()
    edges = [builder.edges(mp) for mp in mps]
    t = time.perf_counter() - t
    types = sorted({"Item", *(mp.end for mp in mps if not mp.homogeneous)})
    feats = _features(data, types, settings.item_features, seed)
    if centre and settings.item_features == "text":
        # sentence embeddings share one dominant direction (anisotropy): keep only what tells nodes apart
        feats = {k: v - v.mean(0) for k, v in feats.items()}
    feats["User"] = user_text_view(feats["Item"], builder.hop("User", "Item", None))
    hoods = Neighbourhoods(mps, [e.edge_index for e in edges], int(data["User"].num_nodes))
    counts = {e.metapath.name: e.num_edges for e in edges}
    return _Graph(mps, builder, edges, counts, feats, hoods, t)


@dataclass
class _Fit:
    """What one optimisation step needs: the model, its optimiser, the inputs and the batch sampler."""

    model: HDGI
    optimizer: torch.optim.Optimizer
    x_dict: dict[str, Tensor]
    hoods: Neighbourhoods
    full: UserBatch | None  # the whole graph, when it fits one step
    batch_users: int
    batch_rng: torch.Generator
    device: str

    def step(self, epoch: int) -> tuple[float, dict[str, float]]:
        """One Adam step on the full graph or on a random batch of users; the loss and its parts."""
        self.model.train()
        batch = self.full
        if batch is None:
            users = torch.randperm(self.hoods.num_users, generator=self.batch_rng)[: self.batch_users]
            batch = self.hoods.batch(users).to(self.device)
        self.optimizer.zero_grad()
        loss, parts = self.model(self.x_dict, batch)
        if not torch.isfinite(loss):
            raise ModelError(f"HDGI loss became {loss.item()} at epoch {epoch}; lower [hdgi] lr")
        loss.backward()
        self.optimizer.step()
        return float(loss.item()), parts


def train_hdgi(
    data: HeteroData,
    settings: HDGISettings,
    seed: int | None = None,
    device: str | None = None,
    checkpoint_dir: Path | str | None = None,
    *,
    progress: Progress | None = None,
    checkpoint_every: int = 10,
    recon_weight: float | None = None,
    batch_users: int | None = None,
    centre: bool | None = None,
) -> PersonaResult:
    """Train HDGI on ``data`` and return user personas.

    Args:
        data: Exported graph (:func:`persona.learn.export.export_graph`): ``User`` nodes, ``Item`` and
            attribute nodes with ``x`` (text embeddings), training-only ``RATED`` edges and reverses.
        settings: The model and optimisation settings.
        seed: Seeds weights, dropout, corruption, batches and neighbour sampling (default ``settings.seed``).
            The caller's random state is left as it was.
        device: ``"cpu"``, ``"cuda"`` or ``"cuda:N"`` (default ``settings.device``).
        checkpoint_dir: Where the training state ``hdgi.pt`` goes (None: no checkpoints). A checkpoint of
            the same graph, settings and seed is resumed: its epochs are not repeated and training continues
            up to ``settings.epochs``. (Save the trained model with ``result.model.save(path)``.)
        progress: Optional callback ``(description, epoch, epochs)``.
        checkpoint_every: Epochs between checkpoint writes (one is always written at the end).
        recon_weight: Weight λ of the text-view reconstruction term (0 gives plain HDGI); default
            ``settings.recon_weight``, like ``batch_users`` and ``centre``.
        batch_users: Users per optimisation step; on graphs with more users an epoch is one step on a
            random batch of this many users.
        centre: Centre the text features of each node type on their mean before training, and the output
            personas on the training users' mean persona (the encoder's ``offset``, saved with the model
            and applied to inferred sessions too). ``False`` gives the uncentred personas of earlier
            versions, whose cosines are all near 1 (kept for benchmarks; see :mod:`persona.learn.hdgi`).

    Returns:
        :class:`PersonaResult` (personas from the epoch with the lowest loss).

    Raises:
        ConfigError: bad settings, unknown meta-paths, or featured types without text features.
        ResourceError: a CUDA device is asked for and there is none.
        ModelError: the loss stopped being finite.
    """
    if not isinstance(settings, HDGISettings):
        raise TypeError(f"settings must be persona.config.HDGISettings, got {type(settings).__name__}")
    seed = settings.seed if seed is None else int(seed)
    recon_weight = settings.recon_weight if recon_weight is None else float(recon_weight)
    batch_users = settings.batch_users if batch_users is None else int(batch_users)
    centre = settings.centre if centre is None else bool(centre)
    device = settings.device if device is None else device
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ResourceError(f"device {device!r} requested but CUDA is not available; use device='cpu'")
    if batch_users < 1:
        raise ConfigError(f"batch_users must be >= 1, got {batch_users}")
    t0 = time.perf_counter()
    options = {"seed": seed, "recon_weight": recon_weight, "batch_users": batch_users, "centre": centre}
    with flush_denormal(), seeded_rng(seed, device):
        graph = _prepare(data, settings, seed, centre)
        encoder = HDGIEncoder(
            {t: int(v.size(1)) for t, v in graph.features.items()},
            graph.num_users,
            graph.metapaths,
            settings.hidden,
            settings.heads,
            settings.dropout,
            settings.user_init,
            free_emb_scale=FREE_EMB_SCALE if centre else 1.0,
        )
        model = HDGI(encoder, recon_weight).to(device)
        fit = _Fit(
            model,
            torch.optim.Adam(model.parameters(), lr=settings.lr, weight_decay=settings.weight_decay),
            {k: v.to(device) for k, v in graph.features.items()},
            graph.hoods,
            graph.hoods.full().to(device) if graph.num_users <= batch_users else None,
            batch_users,
            torch.Generator().manual_seed(seed),
            device,
        )
        fp_settings = settings.model_dump(exclude={"epochs", "patience", "device"}) | options
        fp = fingerprint(
            [fp_settings, [mp.name for mp in graph.metapaths], graph.num_users],
            [e.edge_index for e in graph.edges] + [graph.features[t] for t in sorted(graph.features)],
        )
        graph.drop_edges()
        ckpt = Checkpoint(checkpoint_dir, fp, device)
        state = ckpt.restore(model, fit.optimizer, fit.batch_rng) or TrainState(
            run_id=time.strftime("%Y%m%dT%H%M%S", time.gmtime()) + "-" + fp[:8]
        )
        epoch_times, parts = _loop(fit, state, ckpt, settings, progress, checkpoint_every)
        if state.best_state is not None:
            model.load_state_dict(state.best_state)
        pm = PersonaModel(
            copy.deepcopy(encoder),
            data,
            graph.metapaths,
            graph.features,
            settings.model_copy(update={"seed": seed}),
            state.run_id,
            device,
        )
        pm._hoods = graph.hoods
        if centre:
            pm.centre(batch_users)
        return _result(data, graph, pm, state, settings, fit, t0, epoch_times, parts)


def _loop(
    fit: _Fit,
    state: TrainState,
    ckpt: Checkpoint,
    settings: HDGISettings,
    progress: Progress | None,
    checkpoint_every: int,
) -> tuple[list[float], dict[str, float]]:
    """Epochs until ``settings.epochs`` or early stopping; seconds per epoch and the last loss parts."""
    epoch_times: list[float] = []
    parts: dict[str, float] = {}
    while not state.done(settings.epochs, settings.patience):
        te = time.perf_counter()
        loss, parts = fit.step(state.epoch + 1)
        # mini-batch losses are noisy: early stopping follows their exponential moving average
        state.record(loss, fit.model, smooth=fit.full is None)
        epoch_times.append(time.perf_counter() - te)
        if progress is not None:
            progress("HDGI epochs", state.epoch, settings.epochs)
        if state.epoch % checkpoint_every == 0 or state.done(settings.epochs, settings.patience):
            ckpt.save(state, fit.model, fit.optimizer, fit.batch_rng)
            trim()  # steps on batches of different sizes leave the heap fragmented
    return epoch_times, parts


def _result(
    data: HeteroData,
    graph: _Graph,
    pm: PersonaModel,
    state: TrainState,
    settings: HDGISettings,
    fit: _Fit,
    t0: float,
    epoch_times: list[float],
    parts: dict[str, float],
) -> PersonaResult:
    h, info = pm.embed_users(fit.batch_users)
    names = pm.encoder.names
    shares = info["shares"].cpu().numpy()
    ids = data["User"].get("node_ids")
    return PersonaResult(
        user_ids=[str(u) for u in (ids if ids is not None else range(graph.num_users))],
        personas=h.cpu().numpy().astype(np.float32),
        attention=dict(zip(names, map(float, info["beta"].tolist()))),
        user_attention=[dict(zip(names, map(float, np.round(row, 4)))) for row in shares],
        losses=list(state.losses),
        run_id=state.run_id,
        best_epoch=int(state.best_epoch),
        stopped_early=state.stopped(settings.patience),
        model=pm,
        seconds=time.perf_counter() - t0,
        extra={
            "metapath_edges": dict(graph.edge_counts),
            "metapath_seconds": graph.metapath_seconds,
            "epochs_run": state.epoch,
            "seconds_per_epoch": float(np.mean(epoch_times)) if epoch_times else None,
            "last_loss_parts": parts,
            "users_per_epoch": graph.num_users if fit.full is not None else fit.batch_users,
        },
    )
