"""What a persona run returns."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from persona.errors import ModelError

from .persona_model import PersonaModel


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
            raise ModelError("this result carries no model")
        return self.model.infer_persona(items)
