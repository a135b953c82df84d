"""The trained persona model: embeds the graph's users and anonymous sessions; saved as one ``.pt`` file.

This is the inference wrapper around a trained :class:`~persona.learn.hdgi.HDGIEncoder` (the training
loop is :mod:`persona.learn.hdgi.train`): it keeps the graph context a new session needs (item index,
meta-path builder, node features, the training-time semantic weights β) and the typed
:class:`~persona.config.HDGISettings` the model was trained with.
"""

from __future__ import annotations

import pickle
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from pydantic import ValidationError
from torch import Tensor
from torch_geometric.data import HeteroData

from persona.config import HDGISettings
from persona.errors import ModelError, NotFoundError, atomic_save

from ..metapaths import MetaPath, MetaPathBuilder, _binary_csr, parse_metapath
from .encoder import HDGIEncoder
from .neighbourhoods import BATCH_USERS, Neighbourhoods, user_text_view
from .semantic_attention import channel_shares

#: Version tag of the model file; files of another format are refused (retrain).
FORMAT = "persona-kg/hdgi/2"


class PersonaModel:
    """A trained HDGI encoder with the graph context needed to embed users and new sessions.

    Build one with :func:`~persona.learn.hdgi.train_hdgi`; persist with :meth:`save` and :meth:`load`.

    Args:
        encoder: The trained encoder (put in eval mode on ``device``).
        data: The training graph (only its structure and node ids are used).
        metapaths: The encoder's meta-paths, in channel order.
        features: Node features per type as trained (``"User"``: the users' text views).
        settings: The settings the model was trained with; ``seed`` is the training seed (it fixes the
            neighbour-cap tie-breaks of the meta-paths composed for new sessions).
        run_id: The persona run.
        device: ``"cpu"``, ``"cuda"`` or ``"cuda:N"``.
        beta: Semantic weights of the training graph (computed over its users when None).
        centred: Whether the personas are centred (the encoder's ``offset`` is the training users' mean).
    """

    def __init__(
        self,
        encoder: HDGIEncoder,
        data: HeteroData,
        metapaths: Sequence[MetaPath],
        features: dict[str, Tensor],
        settings: HDGISettings,
        run_id: str,
        device: str = "cpu",
        beta: Tensor | None = None,
        *,
        centred: bool = False,
    ) -> None:
        if not isinstance(settings, HDGISettings):
            raise TypeError(f"settings must be persona.config.HDGISettings, got {type(settings).__name__}")
        self.encoder = encoder.to(device).eval()
        self.data = data
        self.metapaths = list(metapaths)
        self.features = {k: v.to(device) for k, v in features.items()}
        self.settings = settings.model_copy(deep=True)
        self.run_id = run_id
        self.device = device
        self.centred = centred
        self.builder = MetaPathBuilder(
            data, max_sample=settings.max_sample, hub_quantile=settings.hub_quantile, seed=settings.seed
        )
        ids = data["Item"].get("node_ids")
        self.item_index = {
            str(i): n for n, i in enumerate(ids if ids is not None else range(data["Item"].num_nodes))
        }
        self._hoods: Neighbourhoods | None = None
        self._cache: dict[str, Tensor] | None = None
        self._beta = beta.to(device) if beta is not None else None

    def __repr__(self) -> str:
        return (
            f"{self.__class__.__name__}(run_id={self.run_id!r}, users={self.features['User'].size(0)}, "
            f"hidden={self.encoder.hidden}, centred={self.centred}, device={self.device!r})"
        )

    def neighbourhoods(self) -> Neighbourhoods:
        """Meta-path neighbourhoods of the trained graph (composed once, then cached)."""
        if self._hoods is None:
            edges = [self.builder.edges(mp).edge_index for mp in self.metapaths]
            self._hoods = Neighbourhoods(self.metapaths, edges, self.features["User"].size(0))
        return self._hoods

    @torch.no_grad()
    def embed_users(self, batch_users: int = BATCH_USERS) -> tuple[Tensor, dict[str, Tensor]]:
        """Personas of the graph's users (eval mode), each channel's share of them and β; cached.

        β is the training graph's: computed here over all users when the model has none yet. The work
        goes a chunk of users at a time: the channels ``[P, N, hidden]`` are written into one tensor
        (no list of parts to concatenate), the attention scores behind β are summed per chunk (never
        the ``[P, N, 128]`` projection of all users at once), and the channels are dropped once the
        personas and the shares (``[N, P]``, :func:`channel_shares`) are taken from them.
        """
        if self._cache is None:
            x = self.encoder.inputs(self.features)
            hoods = self.neighbourhoods()
            n, p = hoods.num_users, len(self.metapaths)
            sem = self.encoder.semantic
            chans = torch.empty(p, n, self.encoder.hidden, device=self.device)
            score = torch.zeros(p, device=self.device)
            for b in hoods.chunks(batch_users):
                z = self.encoder.channels(x, hoods.batch(b).to(self.device))
                chans[:, b] = z
                if self._beta is None:
                    score += sem.node_scores(z).sum(1)
            if self._beta is None:
                self._beta = torch.softmax(score / max(n, 1), dim=0)
            beta = self._beta
            h = torch.empty(n, self.encoder.hidden, device=self.device)
            shares = torch.empty(n, p, device=self.device)
            for b in hoods.chunks(batch_users):
                z = chans[:, b]
                h[b] = self.encoder.output(sem(z, beta)[0])
                shares[b] = channel_shares(z, beta)
            del chans
            self._cache = {"h": h, "shares": shares, "beta": beta}
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
        self.centred = True
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
            NotFoundError: a session has no item known to the trained graph.
        """
        n_items = self.data["Item"].num_nodes
        rows, cols = [], []
        for s, items in enumerate(sessions):
            known = [self.item_index[str(i)] for i in items if str(i) in self.item_index]
            if not known:
                raise NotFoundError(
                    f"session {s}: none of its {len(items)} items is in the trained graph (e.g. {list(items)[:3]})"
                )
            rows += [s] * len(known)
            cols += known
        start = _binary_csr(torch.tensor([rows, cols]), len(sessions), n_items)
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
        h, _ = enc.encode(x, batch, self.beta)
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
            "format": FORMAT,
            "settings": {**self.settings.model_dump(), "centre": self.centred},
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
            ModelError: no such file, or the file is not a readable persona-kg HDGI model.
        """
        try:
            blob = torch.load(Path(path), map_location="cpu", weights_only=True)
        except (OSError, RuntimeError, EOFError, ValueError, pickle.UnpicklingError) as e:
            raise ModelError(
                f"{path}: not a readable persona-kg HDGI model file ({e}); retrain personas"
            ) from None
        if not isinstance(blob, dict) or blob.get("format") != FORMAT:
            raise ModelError(f"{path}: not a persona-kg HDGI model file (format {FORMAT}); retrain personas")
        raw = blob["settings"]
        try:  # files also hold training options that are not settings (recon_weight…): ignored
            settings = HDGISettings.model_validate(
                {k: v for k, v in raw.items() if k in HDGISettings.model_fields}
            )
        except ValidationError as e:
            raise ModelError(f"{path}: its HDGI settings are not valid ({e}); retrain personas") from None
        g = blob["graph"]
        data = HeteroData()
        for t, n in g["num_nodes"].items():
            data[t].num_nodes = n
            if g["node_ids"].get(t):
                data[t].node_ids = g["node_ids"][t]
        for key, ei in g["edges"].items():
            data[tuple(key.split("|"))].edge_index = ei
        mps = [parse_metapath(m) for m in blob["metapaths"]]
        enc = HDGIEncoder(
            blob["in_channels"],
            blob["num_users"],
            mps,
            settings.hidden,
            settings.heads,
            settings.dropout,
            settings.user_init,
        )
        state = dict(blob["state"])
        # files written before personas were centred: no offset, i.e. the uncentred personas they stored
        state.setdefault("offset", torch.zeros(settings.hidden))
        enc.load_state_dict(state)
        return cls(
            enc,
            data,
            mps,
            blob["features"],
            settings,
            blob["run_id"],
            device,
            beta=blob["beta"],
            centred=bool(raw.get("centre", False)),
        )
