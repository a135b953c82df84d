"""Training wrapper around :class:`~persona.rec.sasrec.SASRec`: fit / score / recommend (Cornac style).

The module (``sasrec.py``) only maps sequences to scores. This wrapper merges the settings, prepares the
external vectors (:mod:`._vectors`), builds the module and the optimiser, and hands them to the training
loop (:mod:`._training`, with checkpoints from :mod:`._checkpoint`); afterwards it scores and recommends,
translating ids to indices and back.

Example:
    >>> rec = SASRecRecommender(RecSettings(user_emb="none", item_emb="random", epochs=20))  # doctest: +SKIP
    >>> rec.fit(inter)                                                                       # doctest: +SKIP
    >>> rec.evaluate("test")["ndcg@10"]                                                      # doctest: +SKIP
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from torch import Tensor

from persona.config import RecSettings

from ._base import SequentialRecommender
from ._checkpoint import SavedModel, TrainingCheckpoint, fingerprint, read_model, write_model
from ._torch import isolated_rng, resolve_device, standardise
from ._training import EpochRecord, TrainState, scheduled_lr, train_loop, training_windows
from ._vectors import VectorsArg, item_matrix, user_matrix
from .evaluate import metric_values, ranks_for
from .sasrec import SASRec, UserMode, dropout_generator
from .sequences import EvalSet, Interactions, pad_left, validation_sample

__all__ = ["EpochRecord", "SASRecRecommender", "scheduled_lr"]

log = logging.getLogger(__name__)
_BUILD_LOCK = threading.Lock()  # parameter init seeds the global RNG: one model at a time


class SASRecRecommender(SequentialRecommender):
    """SASRec retriever/reranker with persona and text-item variants.

    Args:
        settings: a :class:`persona.config.RecSettings`; ``None`` = defaults.
        user_emb: user vectors for ``settings.user_emb in {'llm', 'kg'}``: a mapping user id -> vector, or an
            array whose rows follow ``inter.users``. Ignored (with a warning) for ``'none'``/``'random'``.
        item_emb: item text vectors for ``settings.item_emb == 'text'``: a mapping item id -> vector, or an
            array whose rows follow ``inter.items`` (``n_items`` rows, or ``n_items + 1`` with row 0 padding).
        user_variant: overrides ``settings.user_emb`` (``'none'``, ``'random'``, ``'llm'``, ``'kg'``).
        item_variant: overrides ``settings.item_emb`` (``'random'``, ``'text'``).
        device: overrides ``settings.device``.
        seed: overrides ``settings.seed``.
        checkpoint: file written at every validation; if it exists when :meth:`fit` starts and matches the
            data and settings, training resumes from it.
        n_neg: negatives per target for ``loss='bce'``.
        on_epoch: called with each epoch's record (``epoch``, ``loss``, ``seconds``, ``valid_ndcg@10``).
        **overrides: any other :class:`RecSettings` field (``hidden=32``, ``epochs=50``…).

    Raises:
        TypeError: an override is not a RecSettings field.

    Notes:
        * External vectors are centred and divided by one global scale (unit variance per component on
          average, geometry kept) before they enter the module; :meth:`recommend_session` applies the same
          transform to a given persona vector. Users or items without a vector get the mean vector (warned).
        * Session mode (an :class:`Interactions` built with a session column): training sequences are
          sessions; the input is the current session. A target that opens a session has an empty input:
          a persona model predicts it from the persona slot, a model without user input has nothing to go
          on — it scores every item 0 and, with pessimistic ties, ranks the target last.
        * Determinism: the same seed, data, settings, device and torch thread count give identical
          results (CPU); different thread counts may differ in the last float bits.
    """

    def __init__(
        self,
        settings: RecSettings | None = None,
        *,
        user_emb: VectorsArg = None,
        item_emb: VectorsArg = None,
        user_variant: str | None = None,
        item_variant: str | None = None,
        device: str | None = None,
        seed: int | None = None,
        checkpoint: str | Path | None = None,
        n_neg: int = 1,
        on_epoch: Callable[[EpochRecord], None] | None = None,
        **overrides: Any,
    ) -> None:
        self.settings: RecSettings = _merge_settings(
            settings, overrides, user_emb=user_variant, item_emb=item_variant, device=device, seed=seed
        )
        self.user_vectors_in = user_emb
        self.item_vectors_in = item_emb
        self.checkpoint = Path(checkpoint) if checkpoint is not None else None
        self.n_neg = n_neg
        self.on_epoch = on_epoch
        self.device = resolve_device(self.settings.device)
        self.module: SASRec | None = None
        self.inter: Interactions | None = None
        self.history: list[EpochRecord] = []
        self.best_epoch: int = 0
        self.best_score: float = float("-inf")
        self._user_mean: np.ndarray | None = None
        self._user_scale: float = 1.0
        self._fallback_user: Tensor | None = None

    def __repr__(self) -> str:
        s = self.settings
        state = "fitted" if self.module is not None else "unfitted"
        return (
            f"{type(self).__name__}(user_emb={s.user_emb!r}, item_emb={s.item_emb!r}, hidden={s.hidden}, "
            f"blocks={s.blocks}, device={str(self.device)!r}, {state})"
        )

    # ------------------------------------------------------------------ properties

    @property
    def variant(self) -> tuple[str, str]:
        """``(user_emb, item_emb)`` of this model."""
        return self.settings.user_emb, self.settings.item_emb

    @property
    def user_mode(self) -> UserMode:
        """How users enter the module: ``'none'``, ``'learned'`` (random variant) or ``'fixed'`` (llm/kg)."""
        return {"none": "none", "random": "learned"}.get(self.settings.user_emb, "fixed")  # type: ignore[return-value]

    @property
    def _persona_lag(self) -> int:
        """The leakage guard's lag: ``settings.persona_lag`` for fixed user vectors (learned from the
        training items), 0 otherwise (a learned table or no user input)."""
        return self.settings.persona_lag if self.user_mode == "fixed" else 0

    # ------------------------------------------------------------------ building

    def _build(self, inter: Interactions) -> SASRec:
        s = self.settings
        item_text = None
        if s.item_emb == "text":
            std, _, _ = standardise(item_matrix(self.item_vectors_in, inter), skip_first_row=True)
            item_text = torch.from_numpy(std)
        elif self.item_vectors_in is not None:
            log.warning("item_emb=%r: the given item vectors are not used", s.item_emb)
        user_table = None
        if self.user_mode == "fixed":
            umat = user_matrix(self.user_vectors_in, inter, s.user_emb)
            std_u, self._user_mean, self._user_scale = standardise(umat)
            user_table = torch.from_numpy(std_u)
        elif self.user_vectors_in is not None:
            log.warning("user_emb=%r: the given user vectors are not used", s.user_emb)
        return self._module(inter, item_text, user_table)

    def _module(self, inter: Interactions, item_text: Tensor | None, user_table: Tensor | None) -> SASRec:
        s = self.settings
        return SASRec(
            inter.n_items,
            max_len=s.max_len,
            hidden=s.hidden,
            blocks=s.blocks,
            heads=s.heads,
            dropout=s.dropout,
            item_text=item_text,
            user_mode=self.user_mode,
            n_users=inter.n_users,
            user_table=user_table,
            persona_window=self._persona_lag,
        ).to(self.device)

    def training_tensors(self, inter: Interactions) -> tuple[Tensor, Tensor, Tensor]:
        """Training windows from ``split == 'train'`` items only (see :func:`._training.training_windows`).

        Returns:
            ``(inputs [S, L], targets [S, L] or [S, L + 1], user index [S])``, right-aligned, 0 = padding.
        """
        w = training_windows(inter, self.settings.max_len, persona=self.user_mode != "none")
        return w.inputs, w.targets, w.users

    # ------------------------------------------------------------------ training

    def fit(self, inter: Interactions, valid: bool = True) -> SASRecRecommender:
        """Train on ``inter``'s train split.

        Adam with ``settings.lr``; minibatches of ``batch_size`` windows shuffled by a ``torch.Generator``
        seeded with ``settings.seed``; parameter init uses torch's global RNG, seeded with the same seed
        inside an isolated RNG scope (the caller's RNG state is untouched), and dropout a generator of its
        own (:func:`persona.rec.sasrec.dropout_generator`), so fits in several threads stay reproducible. With ``valid``, every
        ``eval_every`` epochs the validation NDCG@10 (full ranking) is computed; training stops after
        ``patience`` validations without improvement and the best weights are restored.

        Args:
            inter: interactions (see :class:`Interactions`).
            valid: early-stop on validation; ``False`` trains for ``settings.epochs`` epochs.

        Returns:
            ``self``.
        """
        s = self.settings
        self.inter = inter
        es_valid = validation_sample(inter.eval_set("valid"), s.valid_users) if valid else None
        if es_valid is not None and len(es_valid) == 0:
            log.warning(
                "no user has a validation target; training %d epochs without early stopping", s.epochs
            )
            es_valid = None
        windows = training_windows(inter, s.max_len, persona=self.user_mode != "none", lag=self._persona_lag)
        ckpt = (
            TrainingCheckpoint(
                self.checkpoint,
                fingerprint(s, inter, self.user_vectors_in, self.item_vectors_in, self.n_neg),
                self.device,
            )
            if self.checkpoint is not None
            else None
        )
        # parameter init draws from the global RNG: one model at a time, in an isolated scope (models may
        # be fitted side by side in threads; see persona.rec.experiment)
        with _BUILD_LOCK, isolated_rng(self.device):
            torch.manual_seed(s.seed)
            module = self.module = self._build(inter)
        opt = torch.optim.Adam(module.parameters(), lr=s.lr)
        gen = torch.Generator().manual_seed(s.seed)
        drop = torch.Generator(device=self.device).manual_seed(s.seed + 1)
        state = TrainState()
        if ckpt is not None and ckpt.path.exists():
            state = ckpt.resume(module, opt, gen, drop)
        self.history = state.history
        validate = (lambda: self._valid_ndcg(es_valid)) if es_valid is not None else None
        with dropout_generator(drop):
            state = train_loop(
                module,
                windows.to(self.device),
                s,
                state,
                optimizer=opt,
                generator=gen,
                n_neg=s.negatives if s.loss == "sampled" else self.n_neg,
                validate=validate,
                on_epoch=self.on_epoch,
                save=(lambda st: ckpt.save(module, opt, gen, st, drop)) if ckpt is not None else None,
            )
        self.best_epoch = state.best_epoch if validate is not None else state.epoch
        self.best_score = state.best_score
        module.eval()
        self._fallback_user = self._mean_user_vector()
        return self

    def _valid_ndcg(self, es: EvalSet) -> Tensor:
        """Per-user validation NDCG@10 (full ranking)."""
        ranks = ranks_for(self.score_eval_set, es, exclude_seen=self.settings.exclude_seen)
        return metric_values(ranks, (10,))["ndcg@10"]

    # ------------------------------------------------------------------ model files

    def save(self, path: str | Path) -> None:
        """Write the fitted model (weights, settings, id maps, histories) to ``path`` for :meth:`load`."""
        module, inter = self._require_fit()
        write_model(
            path,
            SavedModel(
                settings=self.settings,
                inter=inter,
                state_dict=module.state_dict(),
                d_text=module.text_proj.in_features if module.text_proj is not None else 0,
                user_mean=self._user_mean,
                user_scale=self._user_scale,
                best_epoch=self.best_epoch,
                best_score=self.best_score,
            ),
        )

    @classmethod
    def load(cls, path: str | Path, device: str = "cpu") -> SASRecRecommender:
        """Load a model written by :meth:`save` (ready for score / recommend / recommend_session)."""
        saved = read_model(path, device)
        self = cls(saved.settings)
        inter = saved.inter
        item_text = torch.zeros(inter.n_items + 1, saved.d_text) if saved.d_text else None
        module = self._module(inter, item_text, saved.state_dict.get("fixed_users", None))
        module.load_state_dict(saved.state_dict)
        module.eval()
        self.module, self.inter = module, inter
        self._user_mean, self._user_scale = saved.user_mean, saved.user_scale
        self.best_epoch, self.best_score = saved.best_epoch, saved.best_score
        self._fallback_user = self._mean_user_vector()
        return self

    # ------------------------------------------------------------------ scoring

    @torch.no_grad()
    def score_eval_set(self, es: EvalSet, *, batch: int = 1024) -> Tensor:
        """Catalogue scores ``[len(es), n_items + 1]`` (column 0 = -inf) for the inputs of ``es``.

        Rows are processed shortest-first in batches trimmed to their longest input, then put back in order.
        """
        module, _ = self._require_fit()
        module.eval()
        L = self.settings.max_len
        lens = np.asarray([min(len(x), L) for x in es.inputs])
        order = np.argsort(lens, kind="stable")
        out = torch.empty(len(es), module.n_items + 1, device=self.device)
        items = module.item_embeddings()  # once, not per batch: with text items it projects the catalogue
        for b in range(0, len(es), batch):
            rows = order[b : b + batch]
            x = torch.as_tensor(pad_left([es.inputs[i] for i in rows], L), device=self.device)
            u = torch.as_tensor(es.users[rows], device=self.device) if module.has_user else None
            out[torch.as_tensor(rows, device=self.device)] = self._scores(module, x, u, items)
        return out

    def _scores(self, module: SASRec, x: Tensor, user: Tensor | None, items: Tensor | None = None) -> Tensor:
        """Catalogue scores after the last position of ``x`` (``items``: :meth:`SASRec.item_embeddings`, when the
        caller already has them)."""
        h = module(x, user)
        last = h[:, -1]
        if module.has_user:
            # an empty input (a session's first item) is predicted from the persona slot alone
            last = torch.where((x[:, -1] == 0)[:, None], h[:, 0], last)
        s = last @ (module.item_embeddings() if items is None else items).T
        s[:, 0] = float("-inf")
        return s

    @torch.no_grad()
    def score_session(
        self,
        items: Sequence[str],
        user_vec: np.ndarray | None = None,
        *,
        unknown: Literal["error", "skip"] = "error",
    ) -> Tensor:
        """Catalogue scores ``[1, n_items + 1]`` (column 0 = -inf) after the session ``items``.

        Args and Raises: as :meth:`~persona.rec._base.SequentialRecommender.recommend_session`.
        """
        module, inter = self._require_fit()
        idx = inter.encode_items(items, unknown=unknown)
        x = torch.as_tensor(pad_left([idx], self.settings.max_len), device=self.device)
        u: Tensor | None = None
        if module.has_user:
            u = self._session_user(user_vec)
        elif user_vec is not None:
            raise ValueError("this model has no user input (user_emb='none'); call without user_vec")
        return self._scores(module, x, u)

    def _session_user(self, user_vec: np.ndarray | None) -> Tensor:
        module, _ = self._require_fit()
        if user_vec is None:
            assert self._fallback_user is not None
            return self._fallback_user[None]
        v = np.asarray(user_vec, dtype=np.float32).reshape(-1)
        if v.shape[0] != module.d_user:
            raise ValueError(
                f"user_vec has {v.shape[0]} dimensions; this model's persona vectors have {module.d_user}"
            )
        if self.user_mode == "fixed" and self._user_mean is not None:
            v = (v - self._user_mean) / self._user_scale
        return torch.as_tensor(v, device=self.device)[None]

    @torch.no_grad()
    def _mean_user_vector(self) -> Tensor | None:
        m = self.module
        if m is None or not m.has_user:
            return None
        if m.user_mode == "fixed":
            return m.fixed_users.mean(0)
        assert m.user_table is not None
        return m.user_table.weight.mean(0)



def _merge_settings(
    base: RecSettings | None, overrides: dict[str, Any], **explicit: str | int | None
) -> RecSettings:
    """``base`` (default settings when ``None``) updated by the field ``overrides`` and the explicit
    arguments that are not ``None`` (``user_emb``/``item_emb`` come only as ``user_variant``/``item_variant``).

    Raises:
        TypeError: an override is not a RecSettings field.
    """
    base = base or RecSettings()
    unknown = set(overrides) - (set(RecSettings.model_fields) - {"user_emb", "item_emb"})
    if unknown:
        raise TypeError(f"unknown RecSettings field(s): {sorted(unknown)}")
    upd = {**overrides, **{k: v for k, v in explicit.items() if v is not None}}
    return RecSettings.model_validate({**base.model_dump(), **upd})

