"""The SASRec training loop: windows, learning-rate schedule, early stopping, its typed state.

:class:`~persona.rec.model.SASRecRecommender` builds the module and the optimiser, then hands them to
:func:`train_loop` with a :class:`TrainState` (fresh, or read back from a checkpoint by
:mod:`._checkpoint`). Everything random is passed in: the shuffling and negative sampling draw from the
given ``torch.Generator``; dropout draws from the model's own generator, which the caller installs for
the thread (:func:`persona.rec.sasrec.dropout_generator`).
"""

from __future__ import annotations

import copy
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import Tensor
from typing_extensions import NotRequired, TypedDict  # typing has both from Python 3.11

from persona.config import RecSettings

from .sasrec import SASRec
from .sequences import TRAIN, Interactions, held_back

log = logging.getLogger(__name__)


#: One epoch's record: ``epoch`` (1-based), mean ``loss``, ``seconds``, and ``valid_ndcg@10`` when the
#: epoch ended with a validation. A dict (not a dataclass) because callbacks and run files read it as one.
EpochRecord = TypedDict(
    "EpochRecord", {"epoch": int, "loss": float, "seconds": float, "valid_ndcg@10": NotRequired[float]}
)


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


@dataclass(frozen=True)
class Windows:
    """Training windows, right-aligned, 0 = padding.

    Attributes:
        inputs: ``[S, L]`` item indices the module reads.
        targets: ``[S, L]`` next items, or ``[S, L + 1]`` with a persona slot in column 0.
        users: ``[S]`` user index of each window.
        persona_on: ``[S]`` bool, or ``None``: whether the window's item positions may see the persona
            token (``False`` for windows whose targets the persona was learned from; see
            :func:`training_windows`).
    """

    inputs: Tensor
    targets: Tensor
    users: Tensor
    persona_on: Tensor | None = None

    def __len__(self) -> int:
        return len(self.inputs)

    def to(self, device: torch.device) -> Windows:
        """The same windows on ``device``."""
        on = self.persona_on.to(device) if self.persona_on is not None else None
        return Windows(self.inputs.to(device), self.targets.to(device), self.users.to(device), on)


def training_windows(inter: Interactions, max_len: int, persona: bool, lag: int = 0) -> Windows:
    """Training windows built from ``split == 'train'`` items only (SASRec shifting).

    Each training sequence ``s`` (a user's train items, or a session's) is cut from its end into windows
    of ``max_len`` inputs; in a window, position ``j`` reads ``s[..j]`` and predicts ``s[j+1]``, so every
    train item after the first is a target exactly once, with up to ``max_len`` items of context. With a
    persona token (``persona``) the persona slot of the window that starts the sequence predicts ``s[0]``.

    ``lag > 0`` (with ``persona``; ``RecSettings.persona_lag``): the persona was learned without the user's
    last ``min(lag, n - 1)`` train items, so only they are honest targets for a position that sees it. The
    window that ends the user's last training sequence keeps the persona (the module shows it to its last
    ``lag`` positions only, which predict exactly those items); every other window hides it (``persona_on``
    False) and trains as plain SASRec; the persona slot's own target ``s[0]`` is kept only when it is one
    of the held-back items (a last session short enough).

    Raises:
        ValueError: no sequence is long enough to give a training example.
    """
    L = max_len
    users, seqs = inter.train_sequences()
    guard = persona and lag > 0
    # under the guard: each user's last training sequence, and how many of its items the persona lacks
    last_seq = {u: k for k, u in enumerate(users.tolist())} if guard else {}
    back = held_back(np.asarray([int((c == TRAIN).sum()) for c in inter.codes]), lag) if guard else None
    xs: list[np.ndarray] = []
    ys: list[np.ndarray] = []
    us: list[int] = []
    ons: list[bool] = []
    for k, (u, s) in enumerate(zip(users.tolist(), seqs)):
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
            on = not guard or (last_seq[u] == k and e == n)
            # under the guard slot 0 keeps its target only if that item was held back from the persona
            if persona and start == 0 and (back is None or (on and n <= back[u])):
                y[0] = s[0]
            if (y > 0).any():
                xs.append(x)
                ys.append(y)
                us.append(u)
                ons.append(on)
            if start == 0:
                break
            e -= L
    if not xs:
        raise ValueError("no training examples: every training sequence is too short (need 2 train items)")
    return Windows(
        torch.from_numpy(np.stack(xs)),
        torch.from_numpy(np.stack(ys)),
        torch.tensor(us, dtype=torch.long),
        torch.tensor(ons, dtype=torch.bool) if guard else None,
    )


@dataclass
class TrainState:
    """Where training stands; all of it goes into a checkpoint, so a resumed run continues exactly.

    Attributes:
        epoch: epochs completed.
        best_state: module weights at the best validation so far (``None`` before the first).
        best_score: best validation NDCG@10 so far.
        best_epoch: the epoch that reached it.
        bad: validations without improvement that count toward patience.
        done: early stopping fired.
        history: one :data:`EpochRecord` per completed epoch.
        best_values: per-user validation NDCG@10 at the best epoch (for the noise rule of :meth:`observe`).
    """

    epoch: int = 0
    best_state: dict[str, Tensor] | None = None
    best_score: float = float("-inf")
    best_epoch: int = 0
    bad: int = 0
    done: bool = False
    history: list[EpochRecord] = field(default_factory=list)
    best_values: Tensor | None = None

    def observe(
        self, score: float, module: SASRec, patience: int, min_epochs: int = 0, *,
        values: Tensor | None = None, noise: float = 0.0,
    ) -> None:
        """Early stopping: keep the weights of a new best ``score``; stop after ``patience`` validations that
        count against it, but not before epoch ``min_epochs``.

        With ``noise > 0`` and the per-user ``values`` of this validation, a validation counts against
        patience only when it is more than ``noise`` standard errors below the best one, paired per user
        (:func:`below_best`): on a small validation split NDCG@10 moves by about its standard error from
        epoch to epoch, so a lucky epoch early on would otherwise stop a model that is still learning.
        """
        if score > self.best_score:
            self.best_score, self.best_epoch, self.bad = score, self.epoch, 0
            self.best_state = copy.deepcopy(module.state_dict())
            self.best_values = values
            return
        if noise > 0 and values is not None and self.best_values is not None and not below_best(
            values, self.best_values, noise
        ):
            return
        self.bad += 1
        self.done = self.bad >= patience and self.epoch >= min_epochs


def below_best(values: Tensor, best: Tensor, noise: float) -> bool:
    """Whether per-user ``values`` are worse than ``best`` (the same users) by more than ``noise`` standard
    errors of their mean paired difference."""
    if values.shape != best.shape or len(values) < 2:
        return True
    d = values.double() - best.double()
    return bool(d.mean() < -noise * d.std() / len(d) ** 0.5)


def _trim(x: Tensor, y: Tensor, persona: bool) -> tuple[Tensor, Tensor]:
    """Drop leading all-padding columns of a right-aligned batch (outputs are unchanged)."""
    nz = (x > 0).any(0)
    first = int(nz.nonzero()[0]) if bool(nz.any()) else x.shape[1]
    if persona:
        return x[:, first:], torch.cat([y[:, :1], y[:, 1 + first :]], dim=1)
    return x[:, first:], y[:, first:]


def epoch_batches(
    lengths: Tensor, batch_size: int, generator: torch.Generator, *, bucketed: bool, bucket_batches: int = 32
) -> list[Tensor]:
    """One epoch's batches of window indices, in training order.

    ``bucketed=False``: a random permutation cut into batches. ``bucketed=True``: the permutation is cut into
    buckets of ``bucket_batches`` batches, each bucket is sorted by window length (stable) and cut into
    batches, and the batches are shuffled; a batch then holds windows of similar length, so
    :func:`_trim` drops most of the left padding, while every epoch still sees every window once in a
    random order (the classic bucket iterator). Both give ``ceil(n / batch_size)`` batches.

    Example:
        >>> g = torch.Generator().manual_seed(0)
        >>> lengths = torch.tensor([1, 50, 2, 49, 3, 48, 4, 47])
        >>> sorted(int(i) for b in epoch_batches(lengths, 2, g, bucketed=True, bucket_batches=4) for i in b)
        [0, 1, 2, 3, 4, 5, 6, 7]
        >>> [sorted(lengths[b].tolist()) for b in epoch_batches(lengths, 4, g, bucketed=True)]
        [[1, 2, 3, 4], [47, 48, 49, 50]]
    """
    n = len(lengths)
    perm = torch.randperm(n, generator=generator)
    if not bucketed:
        return list(perm.split(batch_size))
    chunk = batch_size * max(bucket_batches, 1)
    batches: list[Tensor] = []
    for part in perm.split(chunk):
        order = part[torch.argsort(lengths[part], stable=True)]
        batches.extend(order.split(batch_size))
    shuffle = torch.randperm(len(batches), generator=generator).tolist()
    return [batches[i] for i in shuffle]


def train_loop(
    module: SASRec,
    windows: Windows,
    settings: RecSettings,
    state: TrainState,
    *,
    optimizer: torch.optim.Optimizer,
    generator: torch.Generator,
    n_neg: int,
    validate: Callable[[], float | Tensor] | None = None,
    on_epoch: Callable[[EpochRecord], None] | None = None,
    save: Callable[[TrainState], None] | None = None,
) -> TrainState:
    """Train ``module`` from ``state`` until ``settings.epochs`` or early stopping; restore the best weights.

    Args:
        module: the module, on the windows' device.
        windows: training windows (:func:`training_windows`), on the module's device.
        settings: batch size, learning rate and schedule, loss, epochs, ``eval_every``, ``patience``.
        state: the state to continue from (updated in place and returned).
        optimizer: Adam over ``module``'s parameters.
        generator: CPU generator for shuffling and negative sampling.
        n_neg: negatives per target for ``loss='bce'``.
        validate: returns the validation NDCG@10, or its per-user values (then ``settings.patience_noise``
            applies on fewer than ``settings.patience_noise_users`` users, see :meth:`TrainState.observe`);
            ``None`` = no early stopping.
        on_epoch: called with each epoch's record.
        save: called after every validation (and when stopping) with the state; writes a checkpoint.

    Returns:
        ``state``; with ``validate``, ``module`` holds the best weights on return.
    """
    s = settings
    n = len(windows)
    X, Y, U, ON = windows.inputs, windows.targets, windows.users, windows.persona_on
    steps_per_epoch = -(-n // s.batch_size)
    lengths = (X > 0).sum(1).cpu()
    while not state.done and state.epoch < s.epochs:
        t0 = time.perf_counter()
        module.train()
        order = epoch_batches(lengths, s.batch_size, generator, bucketed=s.batching == "bucketed")
        total, batches = 0.0, 0
        for bi, cpu_idx in enumerate(order):
            for g in optimizer.param_groups:
                g["lr"] = scheduled_lr(s, state.epoch * steps_per_epoch + bi, steps_per_epoch)
            idx = cpu_idx.to(X.device)
            x, y = _trim(X[idx], Y[idx], module.has_user)
            loss = module.loss(
                x, y, U[idx] if module.has_user else None, kind=s.loss, n_neg=n_neg, generator=generator,
                persona_on=ON[idx] if ON is not None else None,
            )
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            total += float(loss.detach())
            batches += 1
        state.epoch += 1
        rec: EpochRecord = {
            "epoch": state.epoch,
            "loss": total / max(batches, 1),
            "seconds": time.perf_counter() - t0,
        }
        evaluate_now = state.epoch % s.eval_every == 0 or state.epoch == s.epochs
        if validate is not None and evaluate_now:
            out = validate()
            values = out if isinstance(out, Tensor) else None
            score = float(out) if values is None else float(values.mean())  # an empty split: nan
            rec["valid_ndcg@10"] = score
            noise = s.patience_noise if values is not None and len(values) < s.patience_noise_users else 0.0
            state.observe(score, module, s.patience, s.min_epochs, values=values, noise=noise)
        state.history.append(rec)
        if on_epoch is not None:
            on_epoch(rec)
        log.debug("epoch %s", rec)
        if save is not None and (evaluate_now or state.done):
            save(state)
    if validate is not None and state.best_state is not None:
        module.load_state_dict(state.best_state)
    return state
