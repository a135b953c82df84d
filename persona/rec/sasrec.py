"""SASRec: self-attentive sequential recommendation, with an optional persona token and text item init.

Kang & McAuley, "Self-Attentive Sequential Recommendation", ICDM 2018 (arXiv:1808.09781). As in the
paper: item embeddings (shared between input and output) scaled by sqrt(d) plus learned positional
embeddings, dropout, then ``blocks`` blocks of causal multi-head self-attention and a point-wise
feed-forward network, each sub-layer ``x + Dropout(f(LayerNorm(x)))``, and a final layer norm. The score
of item ``i`` after position ``t`` is ``<h_t, E_i>`` over the whole catalogue.

Extensions for the persona-driven retriever (the paper's Sec. 4.2 / 5.2):

* **Persona token** (``user_mode='fixed'`` or ``'learned'``): a user vector ``u`` (``d_user``) becomes a
  token ``W_u u + b + t_user`` (a learned projection plus a learned "user type" vector, no position) that
  is prepended at slot 0 of the window. Every item position attends to it (it is never masked), so the
  persona conditions every prediction, and the output at the persona slot predicts the first item of a
  history or session from the persona alone. ``'fixed'`` keeps the vectors in a non-trainable buffer (KG
  or LLM personas); ``'learned'`` is a trainable ``nn.Embedding`` initialised at random (the paper's
  "Random" variant). Forward also accepts raw vectors, for anonymous sessions. With ``user_mode='none'``
  the module has no user parameters at all.
* **Text items** (``item_text`` given): item ``i``'s embedding is ``W_t x_i + e_i``: a learned linear
  projection of its text vector ``x_i`` (``d_text``; kept as a buffer) **added to** a learned per-item
  residual ``e_i`` initialised near zero (1% of the text part's scale). Training therefore starts from the
  text geometry and can still move individual items; the tiny random residual breaks exact ties between
  items whose text vectors coincide.

Padding: sequences are right-aligned (the last item in the last column), index 0 is padding. Position
ids count from the right end of a ``max_len`` window, as in the paper's implementation, so a batch may be
trimmed to its longest sequence without changing any output. Padding keys are masked; a padding query
attends to itself only (no NaN rows) and its output is zeroed.

Why one long module: the SASRec module and the two pieces of autograd it alone uses (the chunked
softmax cross-entropy and the uniform-draw dropout) stay together, as PyG keeps a layer and its kernels.
"""

from __future__ import annotations

import contextlib
import math
import threading
from collections.abc import Iterator
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from persona.config import RecSettings

_REC = RecSettings()  # the module's defaults are the [rec] settings' (one definition)

UserMode = Literal["none", "fixed", "learned"]


_DROPOUT = threading.local()


@contextlib.contextmanager
def dropout_generator(generator: torch.Generator | None) -> Iterator[None]:
    """Dropout in this thread draws from ``generator`` (``None``: torch's global RNG) inside the block.

    Training passes each model's own generator, so models trained side by side in threads draw
    independent, reproducible masks, and a checkpoint can save the stream with the model.
    """
    before = getattr(_DROPOUT, "generator", None)
    _DROPOUT.generator = generator
    try:
        yield
    finally:
        _DROPOUT.generator = before


def _dropout(x: Tensor, p: float, training: bool) -> Tensor:
    """Inverted dropout from a uniform draw (``rand >= p``), about twice as fast on CPU as ``F.dropout``'s
    Bernoulli sampling at these sizes; same distribution. Draws from this thread's
    :func:`dropout_generator`, else torch's global RNG."""
    if not training or p == 0.0:
        return x
    g = getattr(_DROPOUT, "generator", None)
    keep = torch.rand(x.shape, device=x.device, dtype=x.dtype, generator=g).ge_(p).mul_(1.0 / (1.0 - p))
    return x * keep


class _Dropout(nn.Module):
    def __init__(self, p: float) -> None:
        super().__init__()
        self.p = p

    def forward(self, x: Tensor) -> Tensor:
        return _dropout(x, self.p, self.training)


class _ChunkedSoftmaxCE(torch.autograd.Function):
    """Mean softmax cross-entropy of ``h @ w.T`` against ``y``, computed ``chunk`` rows at a time.

    The forward turns each chunk of logits in place into its softmax ``exp(logits - max) / sum`` (one exp
    pass; each row's max and sum are kept, and the log-sum-exp is ``max + log(sum)``); the backward
    turns that in place into the gradient ``(softmax - onehot) / N``. Same value and gradients as
    ``F.cross_entropy(h @ w.T, y)`` (to float rounding); on CPU about twice as fast at SASRec sizes (small
    chunks are reused from the allocator instead of page-faulting a fresh ``N x n_items`` buffer several times
    per step).

    Memory: when all ``N x n_items`` probabilities fit in ``keep`` elements, the forward keeps its chunks
    for the backward (a profile of ML-100K training put a quarter of the loss's time into recomputing them);
    above that, only each row's max and sum are kept and the backward recomputes the chunks one at a time, so
    peak memory does not grow with ``N x n_items`` — what makes large catalogues trainable. Both paths give
    bit-identical results. A second backward through the same graph (``retain_graph``) recomputes.
    """

    @staticmethod
    def forward(ctx: Any, h: Tensor, w: Tensor, y: Tensor, chunk: int, keep: int) -> Tensor:
        n = h.shape[0]
        top = h.new_empty(n, 1)
        total = h.new_empty(n, 1)
        kept: list[Tensor] | None = [] if n * w.shape[0] <= keep and any(ctx.needs_input_grad[:2]) else None
        for a in range(0, n, chunk):
            # one exp pass, in place: softmax = exp(l - max) / sum, log-sum-exp = max + log(sum)
            probs = h[a : a + chunk] @ w.T
            top[a : a + chunk] = m = probs.amax(dim=1, keepdim=True)
            total[a : a + chunk] = z = probs.sub_(m).exp_().sum(dim=1, keepdim=True)
            if kept is not None:
                kept.append(probs.div_(z))
        ctx.save_for_backward(h, w, y, top, total)
        ctx.chunk = chunk
        ctx.kept = kept
        lse = (top + total.log()).squeeze(1)
        return (lse - (h * w[y]).sum(-1)).mean()

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> tuple[Tensor, Tensor, None, None, None]:
        h, w, y, top, total = ctx.saved_tensors
        n, chunk = h.shape[0], ctx.chunk
        kept, ctx.kept = ctx.kept, None  # used up below (modified in place)
        gh = torch.empty_like(h)
        gw = torch.zeros_like(w)
        scale = g / n
        for i, a in enumerate(range(0, n, chunk)):
            hc = h[a : a + chunk]
            p = kept[i] if kept is not None else (
                (hc @ w.T).sub_(top[a : a + chunk]).exp_().div_(total[a : a + chunk]))
            p.mul_(scale)
            p[torch.arange(len(hc), device=p.device), y[a : a + chunk]] -= scale
            gh[a : a + chunk] = p @ w
            gw.addmm_(p.T, hc)
        return gh, gw, None, None, None


def softmax_cross_entropy(
    h: Tensor, w: Tensor, y: Tensor, *, max_elements: int = 2_000_000, keep_elements: int = 32_000_000
) -> Tensor:
    """``F.cross_entropy(h @ w.T, y)`` without materialising all logits (see :class:`_ChunkedSoftmaxCE`).

    Args:
        h: ``[N, d]`` hidden states.
        w: ``[C, d]`` class (item) embeddings.
        y: ``[N]`` class indices in ``0..C-1``.
        max_elements: logits computed at once (chunk rows = ``max_elements // C``, at least 16).
        keep_elements: when ``N * C`` is at most this (32M: 128 MB of float32 probabilities), the forward
            keeps the probabilities for the backward instead of recomputing them; 0 always recomputes.

    Example:
        >>> h, w, y = torch.randn(5, 4), torch.randn(7, 4), torch.tensor([0, 3, 6, 2, 2])
        >>> bool(torch.isclose(softmax_cross_entropy(h, w, y, max_elements=14), F.cross_entropy(h @ w.T, y)))
        True
    """
    chunk = max(16, max_elements // max(w.shape[0], 1))
    return _ChunkedSoftmaxCE.apply(h, w, y, chunk, keep_elements)  # type: ignore[no-any-return]


class _SelfAttention(nn.Module):
    """Multi-head self-attention with a boolean mask (True = may attend)."""

    def __init__(self, hidden: int, heads: int, dropout: float) -> None:
        super().__init__()
        if hidden % heads:
            raise ValueError(f"hidden ({hidden}) must be divisible by heads ({heads})")
        self.heads = heads
        self.dropout = dropout
        self.qkv = nn.Linear(hidden, 3 * hidden)
        self.out = nn.Linear(hidden, hidden)

    def reset_parameters(self) -> None:
        nn.init.xavier_uniform_(self.qkv.weight)
        nn.init.zeros_(self.qkv.bias)
        nn.init.xavier_uniform_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def forward(self, x: Tensor, mask: Tensor) -> Tensor:
        b, t, h = x.shape
        q, k, v = self.qkv(x).view(b, t, 3, self.heads, h // self.heads).permute(2, 0, 3, 1, 4)
        if self.training and self.dropout > 0:
            # the attention-weight dropout written out (SDPA would take the same math path on CPU)
            att = (q @ k.transpose(-2, -1)) * (q.shape[-1] ** -0.5)
            att = att.masked_fill(~mask, float("-inf")).softmax(-1)
            y = _dropout(att, self.dropout, True) @ v
        else:
            y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        return self.out(y.transpose(1, 2).reshape(b, t, h))


class _Block(nn.Module):
    """``x + Dropout(Attn(LN(x)))`` then ``x + Dropout(FFN(LN(x)))`` (Kang & McAuley 2018, Sec. III-C/D)."""

    def __init__(self, hidden: int, heads: int, dropout: float) -> None:
        super().__init__()
        self.ln1 = nn.LayerNorm(hidden)
        self.attn = _SelfAttention(hidden, heads, dropout)
        self.ln2 = nn.LayerNorm(hidden)
        self.ff1 = nn.Linear(hidden, hidden)
        self.ff2 = nn.Linear(hidden, hidden)
        self.drop = _Dropout(dropout)

    def reset_parameters(self) -> None:
        self.ln1.reset_parameters()
        self.ln2.reset_parameters()
        self.attn.reset_parameters()
        self.ff1.reset_parameters()
        self.ff2.reset_parameters()

    def forward(self, x: Tensor, mask: Tensor, keep: Tensor) -> Tensor:
        x = x + self.drop(self.attn(self.ln1(x), mask))
        x = x + self.drop(self.ff2(self.drop(F.relu(self.ff1(self.ln2(x))))))
        return x * keep


class SASRec(nn.Module):
    """SASRec with optional persona token and text-initialised item embeddings.

    Args:
        n_items: catalogue size; item indices run 1..n_items, 0 is padding.
        max_len: longest item window (``L``).
        hidden: model width ``d``.
        blocks: self-attention blocks.
        heads: attention heads (must divide ``hidden``).
        dropout: dropout on embeddings, attention weights and feed-forward layers.
        item_text: optional ``[n_items + 1, d_text]`` text vectors (row 0 ignored); see the module doc.
        user_mode: ``'none'``, ``'fixed'`` (``user_table`` buffer) or ``'learned'`` (random init, trained).
        n_users: rows of the learned user table (``'learned'``).
        d_user: user vector size; for ``'learned'`` default ``hidden``, for ``'fixed'`` the table's width.
        user_table: ``[n_users, d_user]`` fixed user vectors (``'fixed'``).
        persona_window: ``0``: every position attends to the persona token; ``m > 0``: only the last ``m``
            item positions of a window do (the leakage guard of ``RecSettings.persona_lag``: those positions
            predict the items the persona was learned without).

    Attributes:
        fixed_users: the ``'fixed'`` user vectors (a buffer: saved, moved with the module, not trained).
        item_text: the text vectors (a buffer), when given.

    Example:
        >>> m = SASRec(100, max_len=20, hidden=32)
        >>> m(torch.tensor([[0, 3, 7]])).shape
        torch.Size([1, 3, 32])
    """

    fixed_users: Tensor
    item_text: Tensor

    def __init__(
        self,
        n_items: int,
        *,
        max_len: int = _REC.max_len,
        hidden: int = _REC.hidden,
        blocks: int = _REC.blocks,
        heads: int = _REC.heads,
        dropout: float = _REC.dropout,
        item_text: Tensor | None = None,
        user_mode: UserMode = "none",
        n_users: int = 0,
        d_user: int | None = None,
        user_table: Tensor | None = None,
        persona_window: int = 0,
    ) -> None:
        super().__init__()
        if n_items < 1:
            raise ValueError("n_items must be at least 1")
        self.n_items = n_items
        self.max_len = max_len
        self.hidden = hidden
        self.user_mode: UserMode = user_mode
        if persona_window < 0:
            raise ValueError("persona_window must be >= 0")
        self.persona_window = persona_window
        self.item_emb = nn.Embedding(n_items + 1, hidden, padding_idx=0)
        self.pos_emb = nn.Embedding(max_len, hidden)
        self.text_proj: nn.Linear | None = None
        if item_text is not None:
            if item_text.shape[0] != n_items + 1:
                raise ValueError(
                    f"item_text has {item_text.shape[0]} rows; expected n_items + 1 = {n_items + 1}"
                )
            self.register_buffer("item_text", item_text.float().clone(), persistent=True)
            self.text_proj = nn.Linear(item_text.shape[1], hidden, bias=False)
        self.user_table: nn.Embedding | None = None
        self.user_proj: nn.Linear | None = None
        self.user_type: nn.Parameter | None = None
        if user_mode == "fixed":
            if user_table is None:
                raise ValueError("user_mode='fixed' needs user_table [n_users, d_user]")
            self.register_buffer("fixed_users", user_table.float().clone(), persistent=True)
            self.d_user = int(user_table.shape[1])
        elif user_mode == "learned":
            if n_users < 1:
                raise ValueError("user_mode='learned' needs n_users >= 1")
            self.d_user = d_user or hidden
            self.user_table = nn.Embedding(n_users, self.d_user)
        elif user_mode == "none":
            self.d_user = 0
        else:
            raise ValueError(f"user_mode must be 'none', 'fixed' or 'learned', got {user_mode!r}")
        if user_mode != "none":
            self.user_proj = nn.Linear(self.d_user, hidden)
            self.user_type = nn.Parameter(torch.zeros(hidden))
        self.emb_drop = _Dropout(dropout)
        self.blocks = nn.ModuleList(_Block(hidden, heads, dropout) for _ in range(blocks))
        self.final_ln = nn.LayerNorm(hidden)
        self.reset_parameters()

    @property
    def has_user(self) -> bool:
        """True when a persona token is prepended."""
        return self.user_mode != "none"

    def reset_parameters(self) -> None:
        """Re-draw every parameter from the (global, caller-seeded) torch RNG."""
        std = self.hidden**-0.5
        if self.text_proj is not None:
            d_text = self.text_proj.in_features
            # text vectors arrive standardised (unit variance per component): this std gives the projected
            # embedding the same per-component scale as a random embedding
            nn.init.normal_(self.text_proj.weight, std=std / math.sqrt(d_text))
            nn.init.normal_(self.item_emb.weight, std=0.01 * std)
        else:
            nn.init.normal_(self.item_emb.weight, std=std)
        with torch.no_grad():
            self.item_emb.weight[0].zero_()
        nn.init.normal_(self.pos_emb.weight, std=std)
        if self.user_table is not None:
            nn.init.normal_(self.user_table.weight, std=1.0)
        if self.user_proj is not None and self.user_type is not None:
            nn.init.normal_(self.user_proj.weight, std=1.0 / math.sqrt(self.d_user))
            nn.init.zeros_(self.user_proj.bias)
            nn.init.normal_(self.user_type, std=std)
        for b in self.blocks:
            b.reset_parameters()  # type: ignore[operator]
        self.final_ln.reset_parameters()

    def item_embeddings(self) -> Tensor:
        """The item embedding matrix ``[n_items + 1, hidden]`` used for input and scoring (row 0 = padding)."""
        e = self.item_emb.weight
        if self.text_proj is not None:
            e = e + self.text_proj(self.item_text)
        return e

    def input_embeddings(self, seq: Tensor) -> Tensor:
        """Rows of :meth:`item_embeddings` for the items of ``seq`` (``[B, T, hidden]``), projecting the text
        vectors of those items only rather than of the whole catalogue (the input needs a window's items;
        only the output layer scores them all)."""
        # F.embedding, not w[seq]: advanced-index backward accumulates in a thread-dependent order on CPU
        e = F.embedding(seq, self.item_emb.weight)
        if self.text_proj is not None:
            e = e + self.text_proj(F.embedding(seq, self.item_text))
        return e

    def user_vectors(self, user: Tensor) -> Tensor:
        """User indices ``[B]`` -> user vectors ``[B, d_user]`` (from the fixed buffer or learned table)."""
        if self.user_mode == "fixed":
            return self.fixed_users[user]
        if self.user_table is not None:
            return self.user_table(user)
        raise ValueError("this SASRec has no user input (user_mode='none')")

    def forward(self, seq: Tensor, user: Tensor | None = None, persona_on: Tensor | None = None) -> Tensor:
        """Hidden states for every slot.

        Args:
            seq: ``[B, T]`` right-aligned item indices (0 = padding), ``T <= max_len``.
            user: for a persona model, ``[B]`` user indices (int) or ``[B, d_user]`` user vectors (float);
                must be ``None`` when ``user_mode='none'``.
            persona_on: ``[B]`` bool, training only: ``False`` hides the persona token from every item
                position of that window (a window whose targets the persona was learned from); ``None``:
                visible (within ``persona_window``).

        Returns:
            ``[B, T, hidden]`` without a persona token; ``[B, T + 1, hidden]`` with one (slot 0 = persona).
        """
        b, t = seq.shape
        if t > self.max_len:
            raise ValueError(f"sequence window {t} longer than max_len {self.max_len}")
        pos = torch.arange(self.max_len - t, self.max_len, device=seq.device)
        x = self.input_embeddings(seq) * math.sqrt(self.hidden) + self.pos_emb(pos)[None]
        valid = seq > 0
        if self.has_user:
            if user is None:
                raise ValueError("this SASRec has a persona token: pass user indices or user vectors")
            uvec = self.user_vectors(user) if not torch.is_floating_point(user) else user
            if uvec.shape != (b, self.d_user):
                raise ValueError(
                    f"user vectors have shape {tuple(uvec.shape)}; expected ({b}, {self.d_user})"
                )
            assert self.user_proj is not None and self.user_type is not None
            tok = self.user_proj(uvec.to(x.dtype)) + self.user_type
            x = torch.cat([tok[:, None], x], dim=1)
            valid = torch.cat([torch.ones(b, 1, dtype=torch.bool, device=seq.device), valid], dim=1)
            t += 1
        elif user is not None:
            raise ValueError("this SASRec has no user input (user_mode='none'); pass user=None")
        keep = valid[..., None].to(x.dtype)
        x = self.emb_drop(x) * keep
        causal = torch.ones(t, t, dtype=torch.bool, device=seq.device).tril()
        eye = torch.eye(t, dtype=torch.bool, device=seq.device)
        mask = (causal[None] & valid[:, None, :]) | eye[None]  # [B, Tq, Tk]
        if self.has_user and (self.persona_window or persona_on is not None):
            sees = torch.ones(b, t, dtype=torch.bool, device=seq.device)
            if self.persona_window:
                sees &= (torch.arange(t, device=seq.device) >= t - self.persona_window)[None]
            if persona_on is not None:
                sees &= persona_on.to(torch.bool)[:, None]
            sees[:, 0] = True  # the persona slot itself
            mask[:, :, 0] &= sees
        mask = mask[:, None]  # broadcast over heads
        for blk in self.blocks:
            x = blk(x, mask, keep)
        return self.final_ln(x) * keep

    def scores(self, seq: Tensor, user: Tensor | None = None) -> Tensor:
        """Scores over the whole catalogue after the last position: ``[B, n_items + 1]``, column 0 = -inf."""
        h = self(seq, user)[:, -1]
        s = h @ self.item_embeddings().T
        s[:, 0] = float("-inf")
        return s

    def loss(
        self,
        seq: Tensor,
        targets: Tensor,
        user: Tensor | None = None,
        *,
        kind: Literal["ce", "bce", "sampled"] = "ce",
        n_neg: int = 1,
        generator: torch.Generator | None = None,
        persona_on: Tensor | None = None,
    ) -> Tensor:
        """Next-item training loss over every non-padding target slot.

        Args:
            seq: ``[B, T]`` inputs.
            targets: ``[B, T]`` (no persona) or ``[B, T + 1]`` (persona) next items, 0 = no target.
            user: as in :meth:`forward`.
            kind: ``'ce'`` softmax cross-entropy over the whole catalogue; ``'bce'`` binary cross-entropy
                with ``n_neg`` uniformly sampled negatives per target (the paper's original loss;
                a negative equal to the target is re-drawn once, collisions with history are ignored);
                ``'sampled'`` sampled softmax: cross-entropy of each target against ``n_neg`` items drawn
                uniformly once per batch and shared by its targets (a drawn item that is the target itself
                is masked out). Uniform draws need no log-Q correction. With a few hundred negatives it comes
                close to the full softmax (Petrov & Macdonald, gSASRec, RecSys 2023) at a cost that does not
                grow with the catalogue: the option for catalogues of 10⁵ items and more.
            n_neg: negatives per target for ``'bce'``; per batch for ``'sampled'``.
            generator: RNG for negative sampling.
            persona_on: as in :meth:`forward`.

        Returns:
            Mean loss (scalar).
        """
        h = self(seq, user, persona_on)
        if targets.shape != h.shape[:2]:
            raise ValueError(f"targets have shape {tuple(targets.shape)}; expected {tuple(h.shape[:2])}")
        sel = targets > 0
        hs = h[sel]
        y = targets[sel]
        emb = self.item_embeddings()
        if kind == "ce":
            # padding (index 0) is never a class: score items 1..n only, so no in-place -inf column
            return softmax_cross_entropy(hs, emb[1:], y - 1)
        if kind == "sampled":
            k = min(n_neg, self.n_items)
            neg = torch.randint(1, self.n_items + 1, (k,), generator=generator, device="cpu").to(y.device)
            pos_logit = (hs * F.embedding(y, emb)).sum(-1, keepdim=True)
            neg_logit = (hs @ F.embedding(neg, emb).T).masked_fill(neg[None, :] == y[:, None], float("-inf"))
            logits = torch.cat([pos_logit, neg_logit], dim=1)
            return F.cross_entropy(logits, torch.zeros(len(y), dtype=torch.long, device=y.device))
        if kind != "bce":
            raise ValueError(f"loss must be 'ce', 'bce' or 'sampled', got {kind!r}")
        neg = torch.randint(1, self.n_items + 1, (len(y), n_neg), generator=generator, device="cpu").to(
            y.device
        )
        clash = neg == y[:, None]
        if clash.any():
            redraw = torch.randint(1, self.n_items + 1, neg.shape, generator=generator, device="cpu").to(
                y.device
            )
            neg = torch.where(clash, redraw, neg)
        pos_logit = (hs * F.embedding(y, emb)).sum(-1)
        neg_logit = torch.einsum("nd,nkd->nk", hs, F.embedding(neg, emb))
        return F.binary_cross_entropy_with_logits(
            pos_logit, torch.ones_like(pos_logit)
        ) + F.binary_cross_entropy_with_logits(neg_logit, torch.zeros_like(neg_logit))
