"""The training loop's state (epoch, losses, early stopping, best weights), checkpointed as one record."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from torch import Tensor, nn

#: An epoch counts as an improvement when the loss drops by this fraction of the best loss (or 1e-4).
REL_TOL = 5e-3


@dataclass
class TrainState:
    """Where an HDGI run stands; everything a resumed run needs besides weights, optimiser and RNGs.

    Attributes:
        run_id: The run (``<UTC time>-<fingerprint[:8]>``); a resumed run keeps it.
        epoch: Epochs done.
        losses: Loss per epoch done.
        best_loss: Lowest tracked loss so far (the raw loss, or its moving average for mini-batches).
        best_epoch: Epoch (1-based) of ``best_loss``; 0 before the first.
        bad_epochs: Epochs since the last improvement (early stopping compares it with ``patience``).
        best_state: CPU copy of the weights at ``best_epoch``.
        smoothed: Exponential moving average of mini-batch losses (the raw loss for full-graph steps).
    """

    run_id: str
    epoch: int = 0
    losses: list[float] = field(default_factory=list)
    best_loss: float = math.inf
    best_epoch: int = 0
    bad_epochs: int = 0
    best_state: dict[str, Tensor] | None = None
    smoothed: float | None = None

    def record(self, loss: float, model: nn.Module, *, smooth: bool) -> None:
        """Count one epoch with ``loss``; keep ``model``'s weights when the tracked loss improved.

        Args:
            loss: The epoch's loss.
            model: The model just stepped (its weights are copied on improvement).
            smooth: Track the moving average (mini-batch steps are noisy) instead of the raw loss.
        """
        self.epoch += 1
        self.losses.append(loss)
        self.smoothed = loss if not smooth or self.smoothed is None else 0.9 * self.smoothed + 0.1 * loss
        tracked = self.smoothed
        if self.best_state is None or tracked < self.best_loss - max(1e-4, REL_TOL * abs(self.best_loss)):
            self.best_loss, self.best_epoch, self.bad_epochs = tracked, self.epoch, 0
            self.best_state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
        else:
            self.bad_epochs += 1

    def stopped(self, patience: int) -> bool:
        """Whether early stopping has ended the run (``patience`` epochs without improvement)."""
        return self.bad_epochs >= patience

    def done(self, epochs: int, patience: int) -> bool:
        """Whether the run is over: ``epochs`` reached or stopped early."""
        return self.epoch >= epochs or self.stopped(patience)

    def to_dict(self) -> dict[str, Any]:
        """The fields as a plain dict (the checkpoint's layout)."""
        return asdict(self) | {"best_state": self.best_state}  # asdict would deep-copy the tensors

    @classmethod
    def from_dict(cls, blob: dict[str, Any]) -> TrainState:
        """The state saved by :meth:`to_dict` (other keys of ``blob`` are ignored)."""
        return cls(**{f.name: blob[f.name] for f in fields(cls)})
