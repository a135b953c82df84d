"""The persona job: text-initialise the graph, export it, train HDGI, write personas back.

:func:`train_personas` is what ``persona train personas`` (and ``persona train``) runs:

1. :func:`encode_graph_text` — items and attribute/entity nodes are encoded with the text model
   (cached on disk) and ``text_emb`` / ``emb_model`` are written where missing or stale;
2. :func:`persona.learn.export.export_graph` — the training graph as a PyG ``HeteroData``;
3. :func:`persona.learn.hdgi.train_hdgi` — personas, checkpointed under ``<workdir>/personas``;
4. write-back — ``User.persona``, ``persona_attention`` (JSON), ``persona_run``, ``persona_model``,
   and cosine vector indexes on ``User.persona`` and ``Item.text_emb``.

The trained model is saved as ``<model_dir>/<run_id>/model.pt`` (with its ``run.json``), so
:func:`infer_persona` embeds an anonymous session later without the store or retraining. Which run serves
is the caller's choice, by id: the run registry is the store's ``Run`` records (:mod:`persona.runs`; the
pipeline passes ``run.persona_run``), not a file here.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from persona._memory import trim
from persona.config import Settings
from persona.errors import ModelError, NotFoundError
from persona.kgstore import GraphStore

from .export import embeddings_from_column, export_graph
from .hdgi import PersonaModel, PersonaResult, train_hdgi
from .text import TextEncoder, entity_text, item_text

Progress = Callable[[str, int, int], None]
Log = Callable[[str], None]


#: Nodes whose text embedding goes to the store in one call (see :func:`_write`).
WRITE_ROWS = 10_000


def _noop(_: str) -> None:
    pass


def _frame(store: GraphStore, name: str) -> pd.DataFrame:
    return store.frame_named(name)


def _stale(df: pd.DataFrame, vecs: np.ndarray, model_key: str) -> np.ndarray:
    """Rows whose stored embedding is missing, from another model, or differs from ``vecs``."""
    stored, has = embeddings_from_column(df["text_emb"].reset_index(drop=True))
    model_ok = df["emb_model"].astype(object).map(lambda m: m == model_key).to_numpy(dtype=bool)
    if stored is None or stored.shape[1] != vecs.shape[1]:
        return np.ones(len(df), dtype=bool)
    differs = np.abs(stored - vecs).max(axis=1) > 1e-4
    return ~has | ~model_ok | differs


def encode_graph_text(
    store: GraphStore,
    settings: Settings,
    *,
    workdir: Path | str,
    progress: Progress | None = None,
    log: Log = _noop,
) -> dict[str, int]:
    """Encode item and attribute/entity texts and write ``text_emb`` + ``emb_model`` where needed.

    Item text is :func:`~persona.learn.text.item_text` (title, categories, description and — when
    ``text.use_generated_descriptions`` — the LLM-generated description); entity text is
    ``"<Label>: <name>"``. Embeddings are cached under ``<workdir>/text_cache``, and only nodes whose
    stored vector is missing, from another model or different are written.

    Args:
        store: The graph store.
        settings: :class:`persona.config.Settings` (its ``text`` section).
        workdir: Cache folder root.
        progress: Optional callback ``(description, done, total)``.
        log: One-line status messages.

    Returns:
        Nodes written per label.
    """
    ts = settings.text
    enc = TextEncoder(ts.model, ts.batch_size, ts.device, Path(workdir) / "text_cache")
    written: dict[str, int] = {}
    try:
        items = _frame(store, "export_item_text")
        if len(items):
            gen = items["generated_description"] if ts.use_generated_descriptions else [None] * len(items)
            texts = [
                item_text(t, d, c, g)
                for t, d, c, g in zip(items["title"], items["description"], items["categories"], gen)
            ]
            empty = sum(1 for t in texts if not t)
            if empty:
                log(f"text: {empty} items have no title or description; they are encoded from their id")
            texts = [t or f"Item {i}" for t, i in zip(texts, items["id"])]
            log(f"text: encoding {len(texts)} items with {enc.model_key}")
            vecs = enc.encode(texts, progress=progress, desc="encoding item texts")
            written["Item"] = _write(store, "Item", items, vecs, enc.model_key)
        ents = _frame(store, "export_entity_text")
        if len(ents):
            labels = ents["label"].astype(str)
            texts = [
                entity_text(n if n is not None else i, lab)
                for n, i, lab in zip(ents["name"], ents["id"], labels)
            ]
            log(f"text: encoding {len(texts)} attribute/entity nodes")
            vecs = enc.encode(texts, progress=progress, desc="encoding entity texts")
            for lab in sorted(set(labels)):
                mask = (labels == lab).to_numpy()
                written[lab] = _write(
                    store, lab, ents[mask].reset_index(drop=True), vecs[mask], enc.model_key
                )
        log(f"text: {enc.stats['encoded']} texts encoded, {enc.stats['cached']} from cache")
    finally:
        enc.close()
    return written


def _write(store: GraphStore, label: str, df: pd.DataFrame, vecs: np.ndarray, model_key: str) -> int:
    rows = np.flatnonzero(_stale(df, vecs, model_key))
    ids = df["id"].astype(str).to_numpy()
    n = 0
    # a few thousand rows at a time: the Python float lists a store takes cost ~8× the float32 matrix
    for start in range(0, len(rows), WRITE_ROWS):
        part = rows[start : start + WRITE_ROWS]
        out = pd.DataFrame({"id": ids[part].tolist(), "text_emb": [v.tolist() for v in vecs[part]], "emb_model": model_key})
        n += int(store.set_node_properties(label, out))
    return n


def _persona_dir(workdir: Path | str) -> Path:
    return Path(workdir) / "personas"


def train_personas(
    store: GraphStore,
    settings: Settings,
    *,
    workdir: Path | str,
    progress: Progress | None = None,
    log: Log = _noop,
    seed: int | None = None,
    write: bool = True,
    model_dir: Path | str | None = None,
) -> PersonaResult:
    """Text-initialise the graph, learn HDGI personas and write them back.

    Args:
        store: The graph store.
        settings: :class:`persona.config.Settings` (``text`` and ``hdgi`` sections).
        workdir: Caches and checkpoints (``<workdir>/text_cache``, ``<workdir>/personas``).
        progress: Optional callback ``(description, done, total)``.
        log: One-line status messages.
        seed: HDGI seed (default ``settings.hdgi.seed``).
        write: Write personas and vector indexes to the store.
        model_dir: Where the trained model goes (``<model_dir>/<run_id>/model.pt``); default
            ``<workdir>/personas``. The pipeline passes a folder keyed by the store's identity.

    Returns:
        :class:`~persona.learn.hdgi.PersonaResult` (``extra`` holds timings and counts).

    Raises:
        ModelError: the store has no users, items or training interactions to learn from.
        ConfigError: bad HDGI settings.
    """
    hs = settings.hdgi
    seed = int(seed if seed is not None else hs.seed)
    device = hs.device
    timings: dict[str, float] = {}
    t = time.perf_counter()
    written = encode_graph_text(store, settings, workdir=workdir, progress=progress, log=log)
    # the text writes filled the embedded store's buffer pool (2.3 GiB at 10× Movies & TV) and the heap
    # holds the text model's freed batches: both are given back before the export reads the graph
    with store.idle():
        trim()
    timings["text_s"] = time.perf_counter() - t

    t = time.perf_counter()
    lag = settings.rec.persona_lag
    data, _maps = export_graph(store, progress=progress, lag=lag)
    timings["export_s"] = time.perf_counter() - t
    st = data.stats
    if st["users"] == 0 or st["items"] == 0:
        raise ModelError(f"{store.uri}: no users or items to learn from; run `persona ingest …` first")
    if st["rated_train"] == 0:
        raise ModelError(f"{store.uri}: no RATED edges with split='train'; re-ingest so that splits are set")
    log(
        f"export: {st['users']} users, {st['items']} items, {st['entities']} entities, "
        f"{st['rated_train']} training interactions{f' (each user’s last {lag} held back)' if lag else ''}, "
        f"{st['kg_edges']} knowledge edges"
    )

    t = time.perf_counter()
    root = Path(model_dir) if model_dir is not None else _persona_dir(workdir)
    log(f"HDGI: hidden {hs.hidden}, up to {hs.epochs} epochs on {device}")
    trim()
    # the store is not read while HDGI trains: the embedded one frees its buffer pool meanwhile
    with store.idle():
        res = train_hdgi(
            data, hs, seed=seed, device=device, checkpoint_dir=root / "checkpoint", progress=progress
        )
        assert res.model is not None
        run_dir = root / res.run_id
        res.model.save(run_dir / "model.pt")
        trim()
    timings["hdgi_s"] = time.perf_counter() - t
    meta = {
        "run_id": res.run_id,
        "store": store.uri,
        "hdgi": hs.model_dump(),
        "text_model": settings.text.model,
        "seed": seed,
        "persona_lag": lag,
        "attention": res.attention,
        "losses": res.losses,
        "best_epoch": res.best_epoch,
        "stopped_early": res.stopped_early,
        "metapath_edges": res.extra.get("metapath_edges", {}),
        "graph": st,
        # personas are centred on the training users' mean (the model's offset; sessions get the same)
        "centred": res.model.centred,
        "persona_offset_norm": float(res.model.encoder.offset.norm()),
    }
    (run_dir / "run.json").write_text(json.dumps(meta, indent=2))

    t = time.perf_counter()
    if write:
        model_name = (
            f"hdgi(hidden={hs.hidden}, features={hs.item_features}, text={settings.text.model}, "
            f"metapaths={len(res.attention) - (1 if 'U' in res.attention else 0)})"
        )
        df = pd.DataFrame(
            {
                "id": res.user_ids,
                "persona": [v.tolist() for v in res.personas],
                "persona_attention": [json.dumps(a, sort_keys=True) for a in res.user_attention],
                "persona_run": res.run_id,
                "persona_model": model_name,
            }
        )
        store.set_node_properties("User", df)
        store.create_vector_index("User", "persona", int(res.personas.shape[1]))
        if data["Item"].get("x") is not None:
            store.create_vector_index("Item", "text_emb", int(data["Item"].x.size(1)))
    timings["write_s"] = time.perf_counter() - t
    res.extra.update(timings=timings, text_written=written, graph=st, run_dir=str(run_dir))
    log(f"personas: run {res.run_id}, {len(res.losses)} epochs, best {res.best_epoch}")
    return res


def load_persona_model(workdir: Path | str, run_id: str, device: str = "cpu") -> PersonaModel:
    """The trained model of persona run ``run_id`` under ``<workdir>/personas``.

    Args:
        workdir: The folder :func:`train_personas` wrote to (its ``model_dir`` is ``<workdir>/personas``).
        run_id: The persona run (``Run.persona_run`` of the store's run records, :mod:`persona.runs`).
        device: Where the model computes.

    Raises:
        ModelError: no run id given, or the run's model file is not readable.
        NotFoundError: no model of that run there (the message lists the runs that are).
    """
    root = _persona_dir(workdir)
    if not run_id:
        raise ModelError(f"no persona run id given (models under {root}); run `persona train personas` first")
    path = root / run_id / "model.pt"
    if not path.is_file():
        known = sorted(p.parent.name for p in root.glob("*/model.pt")) if root.is_dir() else []
        raise NotFoundError(
            f"{path}: no persona model for run {run_id!r}"
            + (f"; runs there: {', '.join(known)}" if known else "; run `persona train personas` first")
        )
    return PersonaModel.load(path, device=device)


def infer_persona(settings: Settings, items: Sequence[str], *, run_id: str) -> np.ndarray:
    """Persona of an anonymous session from its item ids, with persona run ``run_id``'s model (no retraining).

    The session persona is centred like the stored ``User.persona`` (the model's saved ``offset``), so
    its cosine to stored personas is meaningful.

    Args:
        settings: The project settings (``workdir``, ``hdgi.device``).
        items: The session's item ids, oldest first.
        run_id: The persona run (for a recommender run: its ``persona_run``).

    Raises:
        ModelError, NotFoundError: see :func:`load_persona_model`; NotFoundError also when none of the
            items is known to the model.
    """
    model = load_persona_model(settings.workdir, run_id, settings.hdgi.device)
    return model.infer_persona(list(items))
