"""Files of a SASRec recommender: training checkpoints (fingerprinted, resumable) and fitted-model files.

A *checkpoint* holds everything :func:`~persona.rec._training.train_loop` needs to continue exactly where
it stopped (weights, optimiser, generator and RNG states, :class:`~persona.rec._training.TrainState`),
plus a :class:`Fingerprint` of the data and settings it was made for; resuming with anything else is
refused, naming what differs. A *model file* (:func:`write_model` / :func:`read_model`) holds what
scoring and recommending need: settings, weights, id maps, histories, the persona standardisation.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from persona.config import RecSettings
from persona.errors import ModelError, atomic_save

from ._training import TrainState
from ._vectors import VectorsArg
from .sasrec import SASRec
from .sequences import Interactions

log = logging.getLogger(__name__)

CKPT_VERSION = 3  # 2: the TrainState under "state"; 3: the dropout generator's state (older files are refused, naming the version)
MODEL_VERSION = 1
#: Settings that do not change what training computes up to a given epoch (``epochs`` does under a
#: learning-rate schedule, see :func:`fingerprint`).
_FINGERPRINT_SKIP = {"epochs", "device", "patience", "patience_noise", "patience_noise_users", "candidates", "k"}


@dataclass(frozen=True)
class Fingerprint:
    """What a checkpoint was made for.

    Attributes:
        data: :meth:`Interactions.fingerprint` of the training data.
        settings: the settings that shape training (all but ``epochs`` under a constant rate, ``device``,
            ``patience``, ``candidates``, ``k``).
        vectors: a hash of the external user and item vectors.
        n_neg: negatives per target.
    """

    data: str
    settings: dict[str, Any]
    vectors: str
    n_neg: int

    def differences(self, stored: Mapping[str, Any]) -> list[str]:
        """Names of the fields (``settings.<name>`` for a setting) in which ``stored`` differs."""
        diff = [k for k in ("data", "vectors", "n_neg") if stored.get(k) != getattr(self, k)]
        old = stored.get("settings") or {}
        return diff + [f"settings.{k}" for k in self.settings if old.get(k) != self.settings[k]]


def fingerprint(
    settings: RecSettings, inter: Interactions, user_vectors: VectorsArg, item_vectors: VectorsArg, n_neg: int
) -> Fingerprint:
    """The :class:`Fingerprint` of a training run."""
    # under a schedule the epoch budget shapes every step's learning rate, so it must match to resume
    skip = _FINGERPRINT_SKIP - ({"epochs"} if settings.lr_schedule != "constant" else set())
    cfg = {k: v for k, v in settings.model_dump().items() if k not in skip}
    h = hashlib.sha256()
    for v in (user_vectors, item_vectors):
        if v is None:
            h.update(b"none")
        elif isinstance(v, np.ndarray):
            h.update(np.ascontiguousarray(v, dtype=np.float32).tobytes())
        else:
            for key in sorted(v):
                h.update(key.encode())
                h.update(np.asarray(v[key], dtype=np.float32).tobytes())
    return Fingerprint(data=inter.fingerprint(), settings=cfg, vectors=h.hexdigest()[:16], n_neg=n_neg)


@dataclass(frozen=True)
class TrainingCheckpoint:
    """A checkpoint file for one training run.

    Args:
        path: the file (written atomically at every validation).
        fingerprint: the run's :class:`Fingerprint`.
        device: the training device (its CUDA RNG state is saved too).
    """

    path: Path
    fingerprint: Fingerprint
    device: torch.device

    def save(
        self, module: SASRec, optimizer: torch.optim.Optimizer, generator: torch.Generator, state: TrainState,
        dropout: torch.Generator,
    ) -> None:
        """Write the full training state (``dropout``: the model's dropout generator)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        payload = {
            "version": CKPT_VERSION,
            "fingerprint": asdict(self.fingerprint),
            "module": module.state_dict(),
            "optim": optimizer.state_dict(),
            "generator": generator.get_state(),
            "dropout_generator": dropout.get_state(),
            "state": {
                "epoch": state.epoch,
                "best_state": state.best_state,
                "best_score": state.best_score,
                "best_epoch": state.best_epoch,
                "bad": state.bad,
                "done": state.done,
                "history": [dict(r) for r in state.history],
                "best_values": state.best_values,
            },
        }
        atomic_save(torch.save, payload, self.path)

    def resume(
        self, module: SASRec, optimizer: torch.optim.Optimizer, generator: torch.Generator, dropout: torch.Generator
    ) -> TrainState:
        """Load the saved state into ``module``, ``optimizer``, ``generator`` and the dropout generator.

        Raises:
            ValueError: the file is unreadable, or was made for other data or settings (names the fields).
        """
        try:
            ck = torch.load(self.path, map_location=self.device, weights_only=True)
        except Exception as e:  # noqa: BLE001 - any unreadable file gets the same advice
            raise ValueError(
                f"{self.path}: not a readable SASRec checkpoint ({e}); delete it to start over"
            ) from None
        stored = ck.get("fingerprint") or {}
        if ck.get("version") != CKPT_VERSION or stored != asdict(self.fingerprint):
            diff = self.fingerprint.differences(stored) if ck.get("version") == CKPT_VERSION else []
            raise ValueError(
                f"{self.path}: checkpoint was made for other data or settings (differs in "
                f"{diff or ['version']}); delete it or pass another checkpoint path"
            )
        module.load_state_dict(ck["module"])
        optimizer.load_state_dict(ck["optim"])
        generator.set_state(ck["generator"])
        dropout.set_state(ck["dropout_generator"].cpu())
        st = ck["state"]
        log.info("resumed %s at epoch %d", self.path, st["epoch"])
        return TrainState(
            epoch=int(st["epoch"]),
            best_state=st["best_state"],
            best_score=float(st["best_score"]),
            best_epoch=int(st["best_epoch"]),
            bad=int(st["bad"]),
            done=bool(st["done"]),
            history=list(st["history"]),
            best_values=st.get("best_values"),  # absent in files written before the noise rule
        )


@dataclass(frozen=True)
class SavedModel:
    """The contents of a model file (see :func:`write_model`)."""

    settings: RecSettings
    inter: Interactions
    state_dict: dict[str, Tensor]
    d_text: int
    user_mean: np.ndarray | None
    user_scale: float
    best_epoch: int
    best_score: float


def write_model(path: str | Path, model: SavedModel) -> None:
    """Write a fitted model (tensors and plain values only, so :func:`read_model` loads it weights-only)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    inter = model.inter
    payload = {
        "version": MODEL_VERSION,
        "settings": model.settings.model_dump(),
        "module": model.state_dict,
        "users": inter.users,
        "items": inter.items,
        "seqs": [torch.tensor(s, dtype=torch.long) for s in inter.seqs],
        "codes": [torch.from_numpy(c.astype(np.int64)) for c in inter.codes],
        "sessions": [torch.tensor(x, dtype=torch.long) for x in inter.sessions]
        if inter.sessions is not None
        else None,
        "user_mean": torch.from_numpy(model.user_mean) if model.user_mean is not None else None,
        "user_scale": model.user_scale,
        "d_text": model.d_text,
        "best_epoch": model.best_epoch,
        "best_score": model.best_score,
    }
    atomic_save(torch.save, payload, path)


def read_model(path: str | Path, device: str) -> SavedModel:
    """Read a file written by :func:`write_model`; ``settings.device`` becomes ``device``.

    Raises:
        ModelError: the file does not exist.
    """
    path = Path(path)
    try:
        p = torch.load(path, map_location=device, weights_only=True)
    except FileNotFoundError:
        raise ModelError(f"{path}: model file not found; run `persona train` first") from None
    inter = Interactions(
        users=list(p["users"]),
        items=list(p["items"]),
        seqs=[s.numpy() for s in p["seqs"]],
        codes=[c.numpy().astype(np.int8) for c in p["codes"]],
        sessions=[x.numpy() for x in p["sessions"]] if p["sessions"] is not None else None,
    )
    return SavedModel(
        # a model saved before the leakage guard existed was trained with every position seeing the persona
        settings=RecSettings.model_validate({"persona_lag": 0, **p["settings"], "device": device}),
        inter=inter,
        state_dict=p["module"],
        d_text=int(p["d_text"]),
        user_mean=p["user_mean"].numpy() if p["user_mean"] is not None else None,
        user_scale=float(p["user_scale"]),
        best_epoch=int(p["best_epoch"]),
        best_score=float(p["best_score"]),
    )
