"""Training wrapper around :class:`~persona.rec.sasrec.SASRec`: fit / score / recommend (Cornac style).

The module (``sasrec.py``) only maps sequences to scores; this wrapper owns the data plumbing, the
optimiser, seeding, early stopping, checkpoints and id <-> index translation.

Example:
    >>> rec = SASRecRecommender(RecSettings(user_emb="none", item_emb="random", epochs=20))  # doctest: +SKIP
    >>> rec.fit(inter)                                                                       # doctest: +SKIP
    >>> rec.evaluate("test")["ndcg@10"]                                                      # doctest: +SKIP
"""

from __future__ import annotations

import copy
import hashlib
import logging
import math
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
import torch
from torch import Tensor

from persona.config import RecSettings
from persona.errors import ModelError, atomic_save

from ._torch import isolated_rng, resolve_device, standardise
from .evaluate import evaluate, ranks_for, seen_mask
from .evaluate import metrics_from_ranks as _metrics_from_ranks
from .sasrec import SASRec, UserMode
from .sequences import EvalSet, Interactions, pad_left

log = logging.getLogger(__name__)

VectorsArg = Mapping[str, np.ndarray] | np.ndarray | None
_CKPT_VERSION = 1
_FINGERPRINT_SKIP = {"epochs", "device", "patience", "candidates", "k"}


def scheduled_lr(settings: RecSettings, step: int, steps_per_epoch: int) -> float:
    """Learning rate at optimiser step ``step`` (0-based) under ``settings.lr_schedule``.

    ``'cosine'``: linear warm-up from ``lr / steps_per_epoch`` to ``lr`` over the first epoch, then a
    half-cosine from ``lr`` down to 0 at the end of epoch ``settings.epochs``.

    Example:
        >>> s = RecSettings(lr=1e-3, epochs=10, lr_schedule="cosine")
        >>> [round(scheduled_lr(s, i, 10) * 1e3, 3) for i in (0, 9, 10, 54, 99)]
        [0.1, 1.0, 1.0, 0.5, 0.0]
    """
    if settings.lr_schedule == "constant":
        return settings.lr
    warm = max(steps_per_epoch, 1)
    if step < warm:
        return settings.lr * (step + 1) / warm
    total = max(settings.epochs * steps_per_epoch - warm, 1)
    return settings.lr * 0.5 * (1.0 + math.cos(math.pi * min(step - warm + 1, total) / total))


class SASRecRecommender:
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
        on_epoch: Callable[[dict[str, Any]], None] | None = None,
        **overrides: Any,
    ) -> None:
        base = settings or RecSettings()
        unknown = set(overrides) - (set(RecSettings.model_fields) - {"user_emb", "item_emb"})
        if unknown:
            raise TypeError(f"unknown RecSettings field(s): {sorted(unknown)}")
        upd = dict(overrides)
        if user_variant is not None:
            upd["user_emb"] = user_variant
        if item_variant is not None:
            upd["item_emb"] = item_variant
        if device is not None:
            upd["device"] = device
        if seed is not None:
            upd["seed"] = seed
        self.settings: RecSettings = RecSettings.model_validate({**base.model_dump(), **upd})
        self.user_vectors_in = user_emb
        self.item_vectors_in = item_emb
        self.checkpoint = Path(checkpoint) if checkpoint is not None else None
        self.n_neg = n_neg
        self.on_epoch = on_epoch
        self.device = resolve_device(self.settings.device)
        self.module: SASRec | None = None
        self.inter: Interactions | None = None
        self.history: list[dict[str, Any]] = []
        self.best_epoch: int = 0
        self.best_score: float = float("-inf")
        self._user_mean: np.ndarray | None = None
        self._user_scale: float = 1.0
        self._fallback_user: Tensor | None = None

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
    def interactions(self) -> Interactions:
        """The interactions the model was fitted on (ids, histories); raises if not fitted."""
        return self._require_fit()[1]

    def _require_fit(self) -> tuple[SASRec, Interactions]:
        if self.module is None or self.inter is None:
            raise RuntimeError("the recommender is not fitted; call fit(inter) or load(path) first")
        return self.module, self.inter

    # ------------------------------------------------------------------ building

    def _build(self, inter: Interactions) -> SASRec:
        s = self.settings
        item_text = None
        if s.item_emb == "text":
            mat = self._item_matrix(inter)
            std, _, _ = standardise(mat, skip_first_row=True)
            item_text = torch.from_numpy(std)
        elif self.item_vectors_in is not None:
            log.warning("item_emb=%r: the given item vectors are not used", s.item_emb)
        user_table = None
        if self.user_mode == "fixed":
            umat = self._user_matrix(inter)
            std_u, self._user_mean, self._user_scale = standardise(umat)
            user_table = torch.from_numpy(std_u)
        elif self.user_vectors_in is not None:
            log.warning("user_emb=%r: the given user vectors are not used", s.user_emb)
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
        ).to(self.device)

    def _user_matrix(self, inter: Interactions) -> np.ndarray:
        v = self.user_vectors_in
        if v is None:
            raise ValueError(f"user_emb={self.settings.user_emb!r} needs user vectors (user_emb=…)")
        if isinstance(v, np.ndarray):
            if v.ndim != 2 or v.shape[0] != inter.n_users:
                raise ValueError(
                    f"user vectors: expected an array [n_users={inter.n_users}, d], got {v.shape}"
                )
            return v.astype(np.float32)
        mat, missing = inter.user_matrix(v)
        if missing:
            log.warning(
                "%d of %d users have no %s vector; they get the mean vector (e.g. %s)",
                len(missing),
                inter.n_users,
                self.settings.user_emb,
                missing[:3],
            )
        return mat

    def _item_matrix(self, inter: Interactions) -> np.ndarray:
        v = self.item_vectors_in
        if v is None:
            raise ValueError("item_emb='text' needs item text vectors (item_emb=…)")
        if isinstance(v, np.ndarray):
            if v.ndim != 2 or v.shape[0] not in (inter.n_items, inter.n_items + 1):
                raise ValueError(
                    f"item vectors: expected an array [n_items={inter.n_items} (+1), d], got {v.shape}"
                )
            v = v.astype(np.float32)
            return (
                v
                if v.shape[0] == inter.n_items + 1
                else np.concatenate([np.zeros((1, v.shape[1]), np.float32), v])
            )
        mat, missing = inter.item_matrix(v)
        if missing:
            log.warning(
                "%d of %d items have no text vector; they get the mean vector (e.g. %s)",
                len(missing),
                inter.n_items,
                missing[:3],
            )
        return mat

    def training_tensors(self, inter: Interactions) -> tuple[Tensor, Tensor, Tensor]:
        """Training windows built from ``split == 'train'`` items only (SASRec shifting).

        Each training sequence ``s`` (a user's train items, or a session's) is cut from its end into windows
        of ``max_len`` inputs; in a window, position ``j`` reads ``s[..j]`` and predicts ``s[j+1]``, so every
        train item after the first is a target exactly once, with up to ``max_len`` items of context. With a
        persona token the persona slot of the window that starts the sequence predicts ``s[0]``.

        Returns:
            ``(inputs [S, L], targets [S, L] or [S, L + 1], user index [S])``, right-aligned, 0 = padding.
        """
        L = self.settings.max_len
        persona = self.user_mode != "none"
        users, seqs = inter.train_sequences()
        xs: list[np.ndarray] = []
        ys: list[np.ndarray] = []
        us: list[int] = []
        for u, s in zip(users.tolist(), seqs):
            n = len(s)
            if n < (1 if persona else 2):
                continue
            e = n
            while True:
                start = max(0, e - 1 - L)
                inp = s[start : e - 1]
                tgt = s[start + 1 : e] if e >= 1 else s[:0]
                x = np.zeros(L, np.int64)
                y = np.zeros(L + (1 if persona else 0), np.int64)
                if len(inp):
                    x[L - len(inp) :] = inp
                    y[len(y) - len(tgt) :] = tgt
                if persona and start == 0:
                    y[0] = s[0]
                if (y > 0).any():
                    xs.append(x)
                    ys.append(y)
                    us.append(u)
                if start == 0:
                    break
                e -= L
        if not xs:
            raise ValueError(
                "no training examples: every training sequence is too short (need 2 train items)"
            )
        return (
            torch.from_numpy(np.stack(xs)),
            torch.from_numpy(np.stack(ys)),
            torch.tensor(us, dtype=torch.long),
        )

    # ------------------------------------------------------------------ training

    def fit(self, inter: Interactions, valid: bool = True) -> SASRecRecommender:
        """Train on ``inter``'s train split.

        Adam with ``settings.lr``; minibatches of ``batch_size`` windows shuffled by a ``torch.Generator``
        seeded with ``settings.seed``; parameter init and dropout use torch's global RNG, seeded with the
        same seed inside an isolated RNG scope (the caller's RNG state is untouched). With ``valid``, every
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
        es_valid = inter.eval_set("valid") if valid else None
        if valid and (es_valid is None or len(es_valid) == 0):
            log.warning(
                "no user has a validation target; training %d epochs without early stopping", s.epochs
            )
            valid, es_valid = False, None
        X, Y, U = self.training_tensors(inter)
        fp = self._fingerprint(inter)
        with isolated_rng(self.device):
            torch.manual_seed(s.seed)
            module = self._build(inter)
            self.module = module
            opt = torch.optim.Adam(module.parameters(), lr=s.lr)
            gen = torch.Generator().manual_seed(s.seed)
            state: dict[str, Any] = {
                "epoch": 0,
                "best_state": None,
                "best_score": float("-inf"),
                "best_epoch": 0,
                "bad": 0,
                "done": False,
            }
            self.history = []
            if self.checkpoint is not None and self.checkpoint.exists():
                state = self._resume(self.checkpoint, fp, module, opt, gen)
            X, Y, U = X.to(self.device), Y.to(self.device), U.to(self.device)
            n = len(X)
            epoch = int(state["epoch"])
            steps_per_epoch = -(-n // s.batch_size)
            while not state["done"] and epoch < s.epochs:
                t0 = time.perf_counter()
                module.train()
                perm = torch.randperm(n, generator=gen).to(self.device)
                total, batches = 0.0, 0
                for bi, b in enumerate(range(0, n, s.batch_size)):
                    for g in opt.param_groups:
                        g["lr"] = scheduled_lr(s, epoch * steps_per_epoch + bi, steps_per_epoch)
                    idx = perm[b : b + s.batch_size]
                    x, y = _trim(X[idx], Y[idx], module.has_user)
                    loss = module.loss(
                        x,
                        y,
                        U[idx] if module.has_user else None,
                        kind=s.loss,
                        n_neg=self.n_neg,
                        generator=gen,
                    )
                    opt.zero_grad(set_to_none=True)
                    loss.backward()
                    opt.step()
                    total += float(loss.detach())
                    batches += 1
                epoch += 1
                rec: dict[str, Any] = {
                    "epoch": epoch,
                    "loss": total / max(batches, 1),
                    "seconds": time.perf_counter() - t0,
                }
                evaluate_now = epoch % s.eval_every == 0 or epoch == s.epochs
                if valid and evaluate_now and es_valid is not None:
                    ndcg = self._valid_ndcg(es_valid)
                    rec["valid_ndcg@10"] = ndcg
                    if ndcg > state["best_score"]:
                        state.update(
                            best_score=ndcg,
                            best_epoch=epoch,
                            bad=0,
                            best_state=copy.deepcopy(module.state_dict()),
                        )
                    else:
                        state["bad"] += 1
                        if state["bad"] >= s.patience:
                            state["done"] = True
                self.history.append(rec)
                if self.on_epoch is not None:
                    self.on_epoch(rec)
                log.debug("epoch %s", rec)
                state["epoch"] = epoch
                if self.checkpoint is not None and (evaluate_now or state["done"]):
                    self._save_checkpoint(self.checkpoint, fp, module, opt, gen, state)
            if valid and state["best_state"] is not None:
                module.load_state_dict(state["best_state"])
            self.best_epoch = int(state["best_epoch"]) if valid else epoch
            self.best_score = float(state["best_score"])
        module.eval()
        self._fallback_user = self._mean_user_vector()
        return self

    def _valid_ndcg(self, es: EvalSet) -> float:
        ranks = ranks_for(self.score_eval_set, es, exclude_seen=self.settings.exclude_seen)
        return _metrics_from_ranks(ranks, (10,))["ndcg@10"]

    # ------------------------------------------------------------------ checkpoints

    def _fingerprint(self, inter: Interactions) -> dict[str, Any]:
        # under a schedule the epoch budget shapes every step's learning rate, so it must match to resume
        skip = _FINGERPRINT_SKIP - ({"epochs"} if self.settings.lr_schedule != "constant" else set())
        cfg = {k: v for k, v in self.settings.model_dump().items() if k not in skip}
        h = hashlib.sha256()
        for v in (self.user_vectors_in, self.item_vectors_in):
            if v is None:
                h.update(b"none")
            elif isinstance(v, np.ndarray):
                h.update(np.ascontiguousarray(v, dtype=np.float32).tobytes())
            else:
                for key in sorted(v):
                    h.update(key.encode())
                    h.update(np.asarray(v[key], dtype=np.float32).tobytes())
        return {
            "data": inter.fingerprint(),
            "settings": cfg,
            "vectors": h.hexdigest()[:16],
            "n_neg": self.n_neg,
        }

    def _save_checkpoint(
        self,
        path: Path,
        fp: dict[str, Any],
        module: SASRec,
        opt: torch.optim.Optimizer,
        gen: torch.Generator,
        state: dict[str, Any],
    ) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        payload = {
            "version": _CKPT_VERSION,
            "fingerprint": fp,
            "module": module.state_dict(),
            "optim": opt.state_dict(),
            "generator": gen.get_state(),
            "rng_cpu": torch.get_rng_state(),
            "rng_cuda": torch.cuda.get_rng_state(self.device) if self.device.type == "cuda" else None,
            "history": self.history,
            **state,
        }
        atomic_save(torch.save, payload, path)

    def _resume(
        self, path: Path, fp: dict[str, Any], module: SASRec, opt: torch.optim.Optimizer, gen: torch.Generator
    ) -> dict[str, Any]:
        try:
            ck = torch.load(path, map_location=self.device, weights_only=True)
        except Exception as e:  # noqa: BLE001 - any unreadable file gets the same advice
            raise ValueError(
                f"{path}: not a readable SASRec checkpoint ({e}); delete it to start over"
            ) from None
        if ck.get("version") != _CKPT_VERSION or ck.get("fingerprint") != fp:
            old = ck.get("fingerprint") or {}
            diff = [k for k in ("data", "vectors", "n_neg") if old.get(k) != fp.get(k)]
            diff += [
                f"settings.{k}"
                for k in fp["settings"]
                if (old.get("settings") or {}).get(k) != fp["settings"][k]
            ]
            raise ValueError(
                f"{path}: checkpoint was made for other data or settings (differs in {diff or ['version']}); "
                "delete it or pass another checkpoint path"
            )
        module.load_state_dict(ck["module"])
        opt.load_state_dict(ck["optim"])
        gen.set_state(ck["generator"])
        torch.set_rng_state(ck["rng_cpu"])
        if ck.get("rng_cuda") is not None and self.device.type == "cuda":
            torch.cuda.set_rng_state(ck["rng_cuda"], self.device)
        self.history = list(ck.get("history", []))
        log.info("resumed %s at epoch %d", path, ck["epoch"])
        return {k: ck[k] for k in ("epoch", "best_state", "best_score", "best_epoch", "bad", "done")}

    def save(self, path: str | Path) -> None:
        """Write the fitted model (weights, settings, id maps, histories) to ``path`` for :meth:`load`."""
        module, inter = self._require_fit()
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        payload = {
            "version": _CKPT_VERSION,
            "settings": self.settings.model_dump(),
            "module": module.state_dict(),
            "users": inter.users,
            "items": inter.items,
            "seqs": [torch.tensor(s, dtype=torch.long) for s in inter.seqs],
            "codes": [torch.from_numpy(c.astype(np.int64)) for c in inter.codes],
            "sessions": [torch.tensor(x, dtype=torch.long) for x in inter.sessions]
            if inter.sessions is not None
            else None,
            "user_mean": torch.from_numpy(self._user_mean) if self._user_mean is not None else None,
            "user_scale": self._user_scale,
            "d_text": module.text_proj.in_features if module.text_proj is not None else 0,
            "d_user": module.d_user,
            "best_epoch": self.best_epoch,
            "best_score": self.best_score,
        }
        atomic_save(torch.save, payload, path)

    @classmethod
    def load(cls, path: str | Path, device: str = "cpu") -> SASRecRecommender:
        """Load a model written by :meth:`save` (ready for score / recommend / recommend_session)."""
        path = Path(path)
        try:
            p = torch.load(path, map_location=device, weights_only=True)
        except FileNotFoundError:
            raise ModelError(f"{path}: model file not found; run `persona train` first") from None
        settings = RecSettings.model_validate({**p["settings"], "device": device})
        self = cls(settings)
        inter = Interactions(
            users=list(p["users"]),
            items=list(p["items"]),
            seqs=[s.numpy() for s in p["seqs"]],
            codes=[c.numpy().astype(np.int8) for c in p["codes"]],
            sessions=[x.numpy() for x in p["sessions"]] if p["sessions"] is not None else None,
        )
        sd = p["module"]
        item_text = torch.zeros(inter.n_items + 1, p["d_text"]) if p["d_text"] else None
        user_table = sd.get("fixed_users", None)
        module = SASRec(
            inter.n_items,
            max_len=settings.max_len,
            hidden=settings.hidden,
            blocks=settings.blocks,
            heads=settings.heads,
            dropout=settings.dropout,
            item_text=item_text,
            user_mode=self.user_mode,
            n_users=inter.n_users,
            user_table=user_table,
        ).to(self.device)
        module.load_state_dict(sd)
        module.eval()
        self.module, self.inter = module, inter
        self._user_mean = p["user_mean"].numpy() if p["user_mean"] is not None else None
        self._user_scale = float(p["user_scale"])
        self.best_epoch, self.best_score = int(p["best_epoch"]), float(p["best_score"])
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
        for b in range(0, len(es), batch):
            rows = order[b : b + batch]
            x = torch.as_tensor(pad_left([es.inputs[i] for i in rows], L), device=self.device)
            u = torch.as_tensor(es.users[rows], device=self.device) if module.has_user else None
            out[torch.as_tensor(rows, device=self.device)] = self._scores(module, x, u)
        return out

    def _scores(self, module: SASRec, x: Tensor, user: Tensor | None) -> Tensor:
        h = module(x, user)
        last = h[:, -1]
        if module.has_user:
            # an empty input (a session's first item) is predicted from the persona slot alone
            last = torch.where((x[:, -1] == 0)[:, None], h[:, 0], last)
        s = last @ module.item_embeddings().T
        s[:, 0] = float("-inf")
        return s

    def score(
        self,
        users: Sequence[str] | np.ndarray | str | None = None,
        split: Literal["valid", "test", "all"] = "test",
    ) -> Tensor:
        """Scores of every catalogue item for ``users`` given their inputs for ``split``.

        Args:
            users: user ids (or indices); ``None`` = every user.
            split: ``'valid'`` (input = train items), ``'test'`` (train + valid) or ``'all'`` (whole history).

        Returns:
            CPU tensor ``[len(users), n_items + 1]``; column ``i`` scores item index ``i``, column 0 = -inf.
        """
        _, inter = self._require_fit()
        es = inter.eval_set(split, users, with_target=False)
        return self.score_eval_set(es).cpu()

    def evaluate(self, split: str = "test", **kwargs: Any) -> dict[str, float]:
        """Full-ranking metrics on ``split`` (see :func:`persona.rec.evaluate.evaluate` for ``kwargs``)."""
        _, inter = self._require_fit()
        kwargs.setdefault("exclude_seen", self.settings.exclude_seen)
        return evaluate(self, inter, split, **kwargs)

    # ------------------------------------------------------------------ recommending

    def recommend(
        self,
        users: Sequence[str] | str | None = None,
        *,
        items: Sequence[str] | None = None,
        user_vec: np.ndarray | None = None,
        k: int | None = None,
        exclude_seen: bool | None = None,
        history: Literal["valid", "test", "all"] = "all",
    ) -> pd.DataFrame:
        """Top-``k`` items for known users, or for an item sequence (then see :meth:`recommend_session`).

        Args:
            users: user ids; ``None`` with ``items=None`` = every user.
            items: an item-id sequence instead of users (an anonymous session).
            user_vec: persona vector for ``items`` (persona models only).
            k: list length; default ``settings.k``.
            exclude_seen: drop items of the user's known history; default ``settings.exclude_seen``.
            history: which history is the input: ``'all'`` (everything known — for deployment),
                ``'test'`` (train + valid) or ``'valid'`` (train).

        Returns:
            DataFrame ``user, item, rank (1..k), score`` (``user`` is empty for a session).
        """
        k = k or self.settings.k
        excl = self.settings.exclude_seen if exclude_seen is None else exclude_seen
        if items is not None:
            df = self.recommend_session(items, user_vec, k=k, exclude_seen=excl)
            df.insert(0, "user", "")
            return df
        _module, inter = self._require_fit()
        es = inter.eval_set(history, users, with_target=False)
        rows: list[pd.DataFrame] = []
        for start in range(0, len(es), 2048):
            part = es.subset(slice(start, start + 2048))
            sc = self.score_eval_set(part)
            if excl:
                sc = sc.masked_fill(seen_mask(part.history, sc.shape[1], sc.device), float("-inf"))
            rows.append(self._topk_frame(sc, k, [inter.users[u] for u in part.users]))
        return pd.concat(rows, ignore_index=True) if rows else _empty_frame()

    @torch.no_grad()
    def recommend_session(
        self,
        items: Sequence[str],
        user_vec: np.ndarray | None = None,
        *,
        k: int | None = None,
        exclude_seen: bool = True,
        unknown: Literal["error", "skip"] = "error",
    ) -> pd.DataFrame:
        """Top-``k`` items after an anonymous session ``items`` (chronological item ids).

        Args:
            items: the session so far; the last ``max_len`` are used.
            user_vec: a persona vector (same space as the ``user_emb`` vectors given at training; for the
                ``'random'`` variant, a vector of the learned table). ``None`` on a persona model uses the
                mean training persona (a "population-average" user).
            k: list length; default ``settings.k``.
            exclude_seen: drop the session's items.
            unknown: ``'error'`` or ``'skip'`` item ids not in the catalogue.

        Returns:
            DataFrame ``item, rank, score``.

        Raises:
            ValueError: ``user_vec`` is given to a model without a persona token, or has the wrong size.
        """
        module, inter = self._require_fit()
        k = k or self.settings.k
        idx = inter.encode_items(items, unknown=unknown)
        x = torch.as_tensor(pad_left([idx], self.settings.max_len), device=self.device)
        u: Tensor | None = None
        if module.has_user:
            u = self._session_user(user_vec)
        elif user_vec is not None:
            raise ValueError("this model has no user input (user_emb='none'); call without user_vec")
        sc = self._scores(module, x, u)
        if exclude_seen and len(idx):
            sc[0, torch.as_tensor(idx, device=self.device)] = float("-inf")
        df = self._topk_frame(sc, k, [""])
        return df.drop(columns=["user"])

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

    def _topk_frame(self, scores: Tensor, k: int, users: list[str]) -> pd.DataFrame:
        _, inter = self._require_fit()
        kk = min(k, scores.shape[1] - 1)
        top = scores.topk(kk, dim=1)
        val, ind = top.values.cpu().numpy(), top.indices.cpu().numpy()
        ok = np.isfinite(val)
        items = np.asarray(inter.items, dtype=object)
        r, c = np.nonzero(ok)
        return pd.DataFrame(
            {
                "user": np.asarray(users, dtype=object)[r],
                "item": items[ind[r, c] - 1],
                "rank": c + 1,
                "score": val[r, c].astype(float),
            }
        )


def _trim(x: Tensor, y: Tensor, persona: bool) -> tuple[Tensor, Tensor]:
    """Drop leading all-padding columns of a right-aligned batch (outputs are unchanged)."""
    nz = (x > 0).any(0)
    first = int(nz.nonzero()[0]) if bool(nz.any()) else x.shape[1]
    if persona:
        return x[:, first:], torch.cat([y[:, :1], y[:, 1 + first :]], dim=1)
    return x[:, first:], y[:, first:]


def _empty_frame() -> pd.DataFrame:
    return pd.DataFrame({"user": [], "item": [], "rank": [], "score": []})
