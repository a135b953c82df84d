"""Checkpoint and resume of HDGI training: one ``hdgi.pt`` per checkpoint folder, keyed by a fingerprint.

A checkpoint holds the :class:`~persona.learn.hdgi.state.TrainState`, the weights, the optimiser, and the
random states the loop draws from (torch's — inside the run's isolated RNG context — the batch
generator's and, on CUDA, the device's), so a resumed run continues exactly where the saved one stopped:
resuming and training straight through give the same losses and personas. A checkpoint of another graph,
other settings or another seed (another fingerprint) is ignored and overwritten.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from persona.errors import atomic_save

from .state import TrainState

#: File name of the checkpoint inside its folder.
FILE = "hdgi.pt"


def fingerprint(parts: list[Any], tensors: list[Tensor]) -> str:
    """SHA-256 of JSON-able ``parts`` and the shapes and bytes of ``tensors`` (hex)."""
    h = hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode())
    for t in tensors:
        h.update(str(tuple(t.shape)).encode())
        h.update(t.detach().cpu().contiguous().numpy().reshape(-1).view(np.uint8).data)  # the buffer, not a bytes copy
    return h.hexdigest()


class Checkpoint:
    """The checkpoint of one run (or none, when ``directory`` is None).

    Args:
        directory: Folder of ``hdgi.pt``; None disables checkpoints.
        fingerprint: The run's fingerprint (graph, settings, seed); only a checkpoint with the same one resumes.
        device: The run's device (its CUDA RNG state is saved and restored).
    """

    def __init__(self, directory: Path | str | None, fingerprint: str, device: str = "cpu") -> None:
        self.path = Path(directory) / FILE if directory is not None else None
        self.fingerprint = fingerprint
        self.device = device

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}({str(self.path)!r}, fingerprint={self.fingerprint[:8]!r})"

    def restore(
        self, model: nn.Module, optimizer: torch.optim.Optimizer, batch_rng: torch.Generator
    ) -> TrainState | None:
        """Load the saved run into ``model``, ``optimizer``, ``batch_rng`` and torch's RNG; its state, or None.

        Nothing is loaded (None) without a checkpoint file or when it belongs to another fingerprint.
        """
        if self.path is None or not self.path.is_file():
            return None
        saved = torch.load(self.path, map_location="cpu", weights_only=True)
        if saved.get("fingerprint") != self.fingerprint:
            return None
        model.load_state_dict(saved["model"])
        optimizer.load_state_dict(saved["optimizer"])
        torch.set_rng_state(saved["rng"])
        batch_rng.set_state(saved["batch_rng"])
        if saved.get("cuda_rng") is not None and self.device.startswith("cuda"):
            torch.cuda.set_rng_state(saved["cuda_rng"], device=self.device)
        return TrainState.from_dict(saved)

    def save(
        self,
        state: TrainState,
        model: nn.Module,
        optimizer: torch.optim.Optimizer,
        batch_rng: torch.Generator,
    ) -> None:
        """Write the run's checkpoint (atomically: a crash keeps the previous one); no-op without a folder."""
        if self.path is None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        blob = {
            **state.to_dict(),
            "fingerprint": self.fingerprint,
            "model": model.state_dict(),
            "optimizer": optimizer.state_dict(),
            "rng": torch.get_rng_state(),
            "batch_rng": batch_rng.get_state(),
            "cuda_rng": torch.cuda.get_rng_state(self.device) if self.device.startswith("cuda") else None,
        }
        atomic_save(torch.save, blob, self.path)
