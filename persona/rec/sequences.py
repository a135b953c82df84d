"""User interaction sequences with a leave-one-out split, in the index space a sequence model uses.

The input is a plain DataFrame (the lead reads it from the ``RATED`` relationships of the store) with
columns ``user`` (str), ``item`` (str), ``pos`` (int, chronological position within the user) and
``split`` (``train`` | ``valid`` | ``test``). :class:`Interactions` turns it into integer arrays:

* items are indexed ``1..n_items`` (sorted ids); index ``0`` is padding;
* users are indexed ``0..n_users-1`` (sorted ids);
* per user, the chronological item array with a split code per position.

What the model may see (the leakage rules, tested in ``tests/rec/test_leakage.py``):

* training examples use ``split == 'train'`` items only;
* the input for a validation target is the user's train items;
* the input for a test target is the user's train + valid items (everything that precedes it).

Session view: :func:`~persona.rec.splits.split_sessions` cuts each user's history where the gap between consecutive
interactions exceeds ``gap_s``. An :class:`Interactions` built with a ``session`` column trains on each
session separately and feeds the model only the current session (the items before the target inside
its session); a persona token, when the model has one, links the session to its user.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pandas as pd

from ._arrays import int_column, pad_left, stack_vectors

__all__ = ["EvalSet", "InputSplit", "Interactions", "Split", "held_back", "kept_for_persona", "pad_left"]

Split = Literal["train", "valid", "test"]
InputSplit = Literal["valid", "test", "all"]

TRAIN, VALID, TEST = 0, 1, 2
_CODES = {"train": TRAIN, "valid": VALID, "test": TEST}
REQUIRED_COLUMNS = ("user", "item", "pos", "split")


def held_back(n: int | np.ndarray, lag: int) -> np.ndarray:
    """How many of a user's ``n`` training items the leakage guard holds back from the user's vector: the
    last ``lag``, but never the first, so every user keeps a vector (``RecSettings.persona_lag``)."""
    n = np.asarray(n)
    return np.minimum(lag, np.maximum(n - 1, 0)) if lag > 0 else np.zeros_like(n)


def kept_for_persona(users: np.ndarray | pd.Series, pos: np.ndarray | pd.Series, lag: int) -> np.ndarray:
    """Mask of the training interactions ``(users[k], pos[k])`` a user vector may be learned from: all but
    each user's :func:`held_back` last ones by ``pos``."""
    if lag <= 0:
        return np.ones(len(users), dtype=bool)
    g = pd.DataFrame({"u": np.asarray(users), "p": np.asarray(pos)}).groupby("u", sort=False)["p"]
    from_end = g.rank(method="first", ascending=False).to_numpy()
    return from_end > held_back(g.transform("size").to_numpy(), lag)


@dataclass(frozen=True)
class EvalSet:
    """Inputs and targets of one evaluation split, aligned by row.

    Attributes:
        users: user indices (rows of :attr:`Interactions.users`).
        inputs: per user, the item indices the model reads (chronological; the session only, in
            session mode).
        history: per user, every item index known before the target (the seen-items set).
        targets: per user, the target item index (``0`` when the user has no target in the split).
    """

    users: np.ndarray
    inputs: list[np.ndarray]
    history: list[np.ndarray]
    targets: np.ndarray

    def __len__(self) -> int:
        return len(self.users)

    def subset(self, rows: np.ndarray | slice) -> EvalSet:
        """The rows ``rows`` of this set (an index array or a slice)."""
        idx = np.arange(len(self.users))[rows]
        return EvalSet(
            users=self.users[idx],
            inputs=[self.inputs[i] for i in idx],
            history=[self.history[i] for i in idx],
            targets=self.targets[idx],
        )


def validation_sample(es: EvalSet, n: int) -> EvalSet:
    """At most ``n`` rows of ``es`` (``n = 0``: all): a random sample fixed by the data alone (seed 0, rows
    kept in their order), so every model of a catalogue is validated on the same users.

    Example:
        >>> es = EvalSet(np.arange(5), [np.array([1])] * 5, [np.array([1])] * 5, np.arange(1, 6))
        >>> validation_sample(es, 3).users.tolist() == validation_sample(es, 3).users.tolist()
        True
        >>> len(validation_sample(es, 3)), len(validation_sample(es, 0)), len(validation_sample(es, 9))
        (3, 5, 5)
    """
    if not n or len(es) <= n:
        return es
    return es.subset(np.sort(np.random.default_rng(0).choice(len(es), n, replace=False)))


@dataclass
class Interactions:
    """Chronological interactions per user, indexed for a sequence model.

    Build with :meth:`from_frame`; the constructor takes already-validated arrays.

    Attributes:
        users: user ids; ``users[u]`` is the id of user index ``u``.
        items: item ids; ``items[i - 1]`` is the id of item index ``i`` (index 0 is padding).
        seqs: per user, item indices in chronological order.
        codes: per user, the split code of each position (0 train, 1 valid, 2 test).
        sessions: per user, a session number per position (non-decreasing), or ``None``.
    """

    users: list[str]
    items: list[str]
    seqs: list[np.ndarray]
    codes: list[np.ndarray]
    sessions: list[np.ndarray] | None = None
    user_index: dict[str, int] = field(init=False, repr=False)
    item_index: dict[str, int] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.user_index = {u: i for i, u in enumerate(self.users)}
        self.item_index = {it: i + 1 for i, it in enumerate(self.items)}

    # ------------------------------------------------------------------ construction

    @classmethod
    def from_frame(
        cls, df: pd.DataFrame, *, session_col: str | None = None, source: str = "interactions"
    ) -> Interactions:
        """Validate a DataFrame of interactions and index it.

        Args:
            df: columns ``user``, ``item``, ``pos``, ``split`` (+ ``session_col`` when given). Row order
                does not matter; ``pos`` orders each user's history.
            session_col: name of an integer session column (e.g. from :func:`~persona.rec.splits.split_sessions`); given,
                the model works on sessions (see the module docstring).
            source: a name for the data used in error messages (a file name, a store URI).

        Returns:
            The indexed interactions.

        Raises:
            ValueError: a column is missing, a split value is unknown, a ``(user, pos)`` pair repeats, a
                user has more than one valid or test row, or a valid/test row does not come after all
                of the user's train rows (the record is named in the message).
        """
        missing = [
            c for c in (*REQUIRED_COLUMNS, *([session_col] if session_col else [])) if c not in df.columns
        ]
        if missing:
            raise ValueError(
                f"{source}: missing column(s) {missing}; expected columns user, item, pos, split"
                + (f", {session_col}" if session_col else "")
            )
        if len(df) == 0:
            raise ValueError(f"{source}: no interactions")
        d = pd.DataFrame(
            {
                "user": df["user"].astype(str).to_numpy(),
                "item": df["item"].astype(str).to_numpy(),
                "split": df["split"].to_numpy(),
                "row": np.arange(len(df)),
            }
        )
        d["code"] = d["split"].map(_CODES)
        bad = d["code"].isna()
        if bad.any():
            r = int(np.flatnonzero(bad.to_numpy())[0])
            raise ValueError(
                f"{source}: record {r} (user {d['user'].iat[r]!r}): split {d['split'].iat[r]!r} is not one of "
                "'train', 'valid', 'test'"
            )
        d["pos"] = int_column(df["pos"], "pos", d, source)
        if session_col:
            d["session"] = int_column(df[session_col], session_col, d, source)
        d = d.sort_values(["user", "pos"], kind="stable").reset_index(drop=True)
        dup = d.duplicated(["user", "pos"], keep="first")
        if dup.any():
            r = int(np.flatnonzero(dup.to_numpy())[0])
            raise ValueError(
                f"{source}: record {int(d['row'].iat[r])}: user {d['user'].iat[r]!r} has two interactions at "
                f"pos {int(d['pos'].iat[r])}; pos must be unique per user (a chronological index 0..n-1)"
            )

        users = sorted(d["user"].unique().tolist())
        items = sorted(d["item"].unique().tolist())
        item_index = {it: i + 1 for i, it in enumerate(items)}
        idx = d["item"].map(item_index).to_numpy(np.int64)
        codes_all = d["code"].to_numpy(np.int8)
        sess_all = d["session"].to_numpy(np.int64) if session_col else None
        bounds = np.flatnonzero(d["user"].to_numpy()[1:] != d["user"].to_numpy()[:-1]) + 1
        starts = np.concatenate([[0], bounds])
        ends = np.concatenate([bounds, [len(d)]])
        seqs: list[np.ndarray] = []
        codes: list[np.ndarray] = []
        sessions: list[np.ndarray] | None = [] if session_col else None
        for s, e in zip(starts, ends):
            c = codes_all[s:e]
            user = d["user"].iat[s]
            for name, code in (("valid", VALID), ("test", TEST)):
                where = np.flatnonzero(c == code)
                if len(where) > 1:
                    r = int(d["row"].iat[s + where[1]])
                    raise ValueError(
                        f"{source}: record {r}: user {user!r} has {len(where)} {name!r} rows; leave-one-out "
                        f"allows at most one"
                    )
            # leave-one-out order: every train row precedes valid, valid precedes test
            drops = np.flatnonzero(np.diff(c) < 0)
            if len(drops):
                j = int(drops[0]) + 1
                raise ValueError(
                    f"{source}: record {int(d['row'].iat[s + j])}: user {user!r} has a "
                    f"{('train', 'valid', 'test')[c[j]]!r} interaction after a later split; expected "
                    "train < valid < test in pos order"
                )
            seqs.append(idx[s:e])
            codes.append(c.copy())
            if sessions is not None and sess_all is not None:
                ss = sess_all[s:e]
                if not np.all(np.diff(ss) >= 0):
                    r = int(d["row"].iat[s + int(np.flatnonzero(np.diff(ss) < 0)[0]) + 1])
                    raise ValueError(
                        f"{source}: record {r}: user {user!r}: {session_col} decreases along pos; sessions must "
                        "be contiguous runs of the history"
                    )
                sessions.append(ss.copy())
        return cls(users=users, items=items, seqs=seqs, codes=codes, sessions=sessions)

    # ------------------------------------------------------------------ sizes and ids

    @property
    def n_users(self) -> int:
        """Number of users."""
        return len(self.users)

    @property
    def n_items(self) -> int:
        """Number of items (the catalogue); item indices run 1..n_items."""
        return len(self.items)

    @property
    def session_mode(self) -> bool:
        """True when the model works on sessions."""
        return self.sessions is not None

    def __len__(self) -> int:
        return int(sum(len(s) for s in self.seqs))

    def item_id(self, index: int) -> str:
        """Item id of item index ``index`` (1..n_items)."""
        if not 1 <= index <= self.n_items:
            raise IndexError(f"item index {index} outside 1..{self.n_items}")
        return self.items[index - 1]

    def encode_items(
        self, items: Sequence[str], *, unknown: Literal["error", "skip"] = "error"
    ) -> np.ndarray:
        """Item ids -> item indices.

        Raises:
            KeyError: an id is not in the catalogue and ``unknown='error'``.
        """
        out = []
        missing = []
        for it in items:
            i = self.item_index.get(str(it))
            if i is None:
                missing.append(str(it))
            else:
                out.append(i)
        if missing and unknown == "error":
            raise KeyError(f"items not in the catalogue: {missing[:10]}{' …' if len(missing) > 10 else ''}")
        return np.asarray(out, dtype=np.int64)

    def encode_users(self, users: Sequence[str] | np.ndarray | str | None) -> np.ndarray:
        """User ids (or already user indices) -> user indices; ``None`` means all users.

        Raises:
            KeyError: a user id is unknown.
        """
        if users is None:
            return np.arange(self.n_users)
        if isinstance(users, str):
            users = [users]
        arr = np.asarray(users)
        if arr.dtype.kind in "iu":
            if len(arr) and (arr.min() < 0 or arr.max() >= self.n_users):
                raise IndexError(f"user index outside 0..{self.n_users - 1}")
            return arr.astype(np.int64)
        missing = [u for u in arr.tolist() if str(u) not in self.user_index]
        if missing:
            raise KeyError(
                f"users not in the interactions: {missing[:10]}{' …' if len(missing) > 10 else ''}"
            )
        return np.asarray([self.user_index[str(u)] for u in arr.tolist()], dtype=np.int64)

    def fingerprint(self) -> str:
        """A short hash of ids, sequences, splits and sessions (checkpoints refuse other data)."""
        h = hashlib.sha256()
        h.update("\x1f".join(self.users).encode())
        h.update(b"\x1e")
        h.update("\x1f".join(self.items).encode())
        for k, (s, c) in enumerate(zip(self.seqs, self.codes)):
            h.update(s.astype(np.int64).tobytes())
            h.update(c.astype(np.int8).tobytes())
            if self.sessions is not None:
                h.update(self.sessions[k].astype(np.int64).tobytes())
        return h.hexdigest()[:16]

    # ------------------------------------------------------------------ vectors aligned to indices

    def user_matrix(self, vecs: Mapping[str, np.ndarray]) -> tuple[np.ndarray, list[str]]:
        """Stack per-user vectors in user-index order.

        Returns:
            ``(matrix [n_users, d], missing user ids)``; a missing user's row is the mean of the others.

        Raises:
            ValueError: no user has a vector, or vectors differ in dimension.
        """
        return stack_vectors(vecs, self.users, "user", pad_row=False)

    def item_matrix(self, vecs: Mapping[str, np.ndarray]) -> tuple[np.ndarray, list[str]]:
        """Stack per-item vectors in item-index order, row 0 (padding) zeros.

        Returns:
            ``(matrix [n_items + 1, d], missing item ids)``; a missing item's row is the mean of the others.
        """
        return stack_vectors(vecs, self.items, "item", pad_row=True)

    # ------------------------------------------------------------------ model inputs

    def train_sequences(self) -> tuple[np.ndarray, list[np.ndarray]]:
        """The training sequences: per user (or per session in session mode), its ``train`` items.

        Returns:
            ``(user index per sequence, item-index arrays)``; only ``split == 'train'`` positions appear.
        """
        users: list[int] = []
        out: list[np.ndarray] = []
        for u, (s, c) in enumerate(zip(self.seqs, self.codes)):
            tr = c == TRAIN
            if not tr.any():
                continue
            if self.sessions is None:
                users.append(u)
                out.append(s[tr])
                continue
            ss = self.sessions[u][tr]
            items = s[tr]
            cut = np.flatnonzero(np.diff(ss) != 0) + 1
            for part in np.split(items, cut):
                users.append(u)
                out.append(part)
        return np.asarray(users, dtype=np.int64), out

    def persona_items(self, lag: int = 0) -> tuple[np.ndarray, list[np.ndarray]]:
        """What a fixed user vector may be learned from: per user, its ``train`` items in order, less the last
        ``lag`` but never the first (``RecSettings.persona_lag``; the retriever predicts exactly the held-back
        items from the vector).

        Returns:
            ``(user indices, item-index arrays)``; users left with no item are omitted.
        """
        users: list[int] = []
        out: list[np.ndarray] = []
        for u, (s, c) in enumerate(zip(self.seqs, self.codes)):
            tr = s[c == TRAIN]
            keep = tr[: len(tr) - int(held_back(len(tr), lag))]
            if len(keep):
                users.append(u)
                out.append(keep)
        return np.asarray(users, dtype=np.int64), out

    def targets(self, split: Literal["valid", "test"]) -> np.ndarray:
        """Per user, the target item index of ``split`` (0 when the user has none)."""
        code = _CODES[split]
        out = np.zeros(self.n_users, dtype=np.int64)
        for u, (s, c) in enumerate(zip(self.seqs, self.codes)):
            w = np.flatnonzero(c == code)
            if len(w):
                out[u] = s[w[0]]
        return out

    def eval_set(
        self, split: InputSplit, users: Sequence[str] | np.ndarray | None = None, *, with_target: bool = True
    ) -> EvalSet:
        """Model inputs, seen items and targets for ``split``.

        Args:
            split: ``'valid'`` (inputs = train items), ``'test'`` (inputs = train + valid items) or
                ``'all'`` (inputs = the whole history; no targets — for recommending the next item).
            users: user ids or indices; ``None`` = every user.
            with_target: keep only users that have a target in ``split`` (ignored for ``'all'``).

        Returns:
            The aligned :class:`EvalSet`.
        """
        uidx = self.encode_users(users)
        limit = {"valid": VALID, "test": TEST, "all": TEST + 1}[split]
        inputs: list[np.ndarray] = []
        history: list[np.ndarray] = []
        targets: list[int] = []
        keep: list[int] = []
        for u in uidx:
            s, c = self.seqs[u], self.codes[u]
            known = c < limit
            t = np.flatnonzero(c == limit)
            if split != "all" and with_target and not len(t):
                continue
            hist = s[known]
            if self.sessions is None:
                inp = hist
            else:
                ss = self.sessions[u]
                # the target's session (or, without a target, the last known session)
                cur = ss[t[0]] if len(t) else (ss[known][-1] if known.any() else -1)
                inp = s[known & (ss == cur)]
            keep.append(int(u))
            inputs.append(inp)
            history.append(hist)
            targets.append(int(s[t[0]]) if len(t) else 0)
        return EvalSet(
            users=np.asarray(keep, dtype=np.int64),
            inputs=inputs,
            history=history,
            targets=np.asarray(targets, dtype=np.int64),
        )
