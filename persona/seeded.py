"""User vectors that ``persona experiment`` learns once per seed, cached on disk.

The reported std of a row must include the variance of everything that row trains, so the KG persona
(HDGI), its interaction-only ablation (HDGI on ``U-I`` and ``U-I-U`` alone) and the LightGCN baseline are
learned again with each seed, not once per experiment. Each seed's vectors are saved as
``<out>/vectors/<name>-seed<k>-<recipe>.npz``: a rerun of the experiment (or of an interrupted one) reads
them back instead of retraining, and the ``recipe`` digest (settings, text model, training data and the
graph's node and edge counts) makes vectors of other settings or data a cache miss, never a wrong hit.

The persona of the store's own HDGI seed is the one :func:`persona.pipeline.experiment` has just learned
and written back; that seed reads it from the store instead of learning it twice.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from persona.config import Settings
from persona.errors import atomic_save
from persona.kgstore import GraphStore, Progress
from persona.rec.experiment import SeededVectors
from persona.rec.sequences import Interactions

log = logging.getLogger(__name__)

#: Meta-paths of the interaction-only ablation: what HDGI learns without the knowledge graph.
INTERACTION_METAPATHS = ["U-I", "U-I-U"]
#: Relationship types persona-kg writes back; they are not part of the graph personas learn from.
_WRITTEN_BACK = ("SIMILAR", "RECOMMENDED", "HELD_OUT")
Log = Callable[[str], None]


def _graph_counts(store: GraphStore) -> dict[str, Any]:
    c = store.counts()
    return {"nodes": c["nodes"], "rels": {k: v for k, v in c["rels"].items() if k not in _WRITTEN_BACK}}


def _cached(folder: Path, name: str, recipe: str, make: Callable[[int], dict[str, np.ndarray]]) -> Callable[[int], dict[str, np.ndarray]]:
    """``make`` with its per-seed results read from / saved to ``folder``."""

    def get(seed: int) -> dict[str, np.ndarray]:
        path = folder / f"{name}-seed{seed}-{recipe}.npz"
        if path.is_file():
            with np.load(path, allow_pickle=False) as z:
                return {str(u): v for u, v in zip(z["users"], z["vectors"])}
        vecs = make(seed)
        folder.mkdir(parents=True, exist_ok=True)
        users = np.asarray(sorted(vecs), dtype=str)
        mat = np.stack([vecs[u] for u in users]).astype(np.float32) if len(users) else np.zeros((0, 0), np.float32)

        def save(_: object, fh: Any) -> None:
            np.savez(fh, users=users, vectors=mat)

        atomic_save(save, None, path)
        return vecs

    return get


def hdgi_personas(
    store: GraphStore,
    settings: Settings,
    inter: Interactions,
    folder: Path,
    *,
    metapaths: list[str] | None = None,
    name: str = "kg",
    stored: Mapping[str, np.ndarray] | None = None,
    progress: Progress | None = None,
    log_fn: Log | None = None,
) -> SeededVectors:
    """HDGI personas learned with each seed (``metapaths`` overrides the schema's, for the ablation).

    ``stored``: the personas already in the store, learned with ``settings.hdgi.seed`` and the same
    meta-paths; that seed returns them without training.
    """
    from persona.learn.personas import train_personas
    from persona.runs import digest

    hs = settings.hdgi.model_copy(update={"metapaths": metapaths} if metapaths is not None else {})
    run_settings = settings.model_copy(update={"hdgi": hs})
    recipe = digest({"hdgi": {k: v for k, v in hs.model_dump().items() if k not in ("seed", "device")},
                     "text": settings.text.model, "data": inter.fingerprint(), "graph": _graph_counts(store),
                     **({"persona_lag": settings.rec.persona_lag} if settings.rec.persona_lag else {})})

    def make(seed: int) -> dict[str, np.ndarray]:
        if stored and seed == settings.hdgi.seed:
            return dict(stored)
        (log_fn or log.info)(f"personas ({name}): HDGI seed {seed}" + (f", meta-paths {', '.join(metapaths)}" if metapaths else ""))
        res = train_personas(store, run_settings, workdir=Path(settings.workdir), progress=progress, seed=seed,
                             write=False, model_dir=folder / "models" / name)
        return {str(u): np.asarray(v, dtype=np.float32) for u, v in zip(res.user_ids, res.personas)}

    return SeededVectors(recipe=f"{name}:{recipe}", make=_cached(folder, name, recipe, make))


def lightgcn_vectors(inter: Interactions, folder: Path, *, device: str = "cpu", lag: int = 0,
                     log_fn: Log | None = None) -> SeededVectors:
    """LightGCN user vectors from the training interactions (less each user's last ``lag``), learned with
    each seed."""
    from persona.learn.collab import lightgcn_user_vectors
    from persona.runs import digest

    recipe = digest({"lightgcn": "dim64-layers3", "data": inter.fingerprint(), **({"persona_lag": lag} if lag else {})})

    def make(seed: int) -> dict[str, np.ndarray]:
        (log_fn or log.info)(f"LightGCN user vectors: seed {seed}")
        return lightgcn_user_vectors(inter, seed=seed, device=device, lag=lag)

    return SeededVectors(recipe=f"lightgcn:{recipe}", make=_cached(folder, "lightgcn", recipe, make))
