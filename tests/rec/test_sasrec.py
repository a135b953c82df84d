"""The SASRec module: causality, padding, persona token, text items, reset_parameters."""

from __future__ import annotations

import pytest
import torch

from persona.rec import SASRec


def _model(**kw) -> SASRec:  # type: ignore[no-untyped-def]
    torch.manual_seed(0)
    m = SASRec(20, max_len=8, hidden=16, blocks=2, heads=2, dropout=0.0, **kw)
    return m.eval()


def test_causal_and_padding_invariant() -> None:
    m = _model()
    seq = torch.tensor([[0, 0, 3, 5, 7, 9]])
    h = m(seq)
    changed = seq.clone()
    changed[0, -1] = 11
    h2 = m(changed)
    assert torch.allclose(h[0, :-1], h2[0, :-1], atol=1e-6)  # earlier positions cannot see the future
    assert not torch.allclose(h[0, -1], h2[0, -1])
    assert torch.all(h[0, :2] == 0)  # padding outputs are zero
    # trimming or widening the leading padding changes nothing (positions count from the right end)
    assert torch.allclose(m(seq[:, 2:])[0, -1], h[0, -1], atol=1e-6)
    assert torch.allclose(m(torch.tensor([[0, 0, 0, 0, 3, 5, 7, 9]]))[0, -1], h[0, -1], atol=1e-6)
    s = m.scores(seq)
    assert s.shape == (1, 21) and s[0, 0] == float("-inf")
    assert torch.allclose(s[0, 1:], h[0, -1] @ m.item_embeddings()[1:].T, atol=1e-5)


def test_no_user_parameters_without_persona() -> None:
    m = _model()
    names = [n for n, _ in m.named_parameters()] + [n for n, _ in m.named_buffers()]
    assert not [n for n in names if "user" in n]
    with pytest.raises(ValueError, match="no user input"):
        m(torch.tensor([[1, 2]]), torch.tensor([0]))


def test_persona_token_conditions_every_position() -> None:
    table = torch.randn(3, 5)
    m = _model(user_mode="fixed", user_table=table)
    assert {n for n, _ in m.named_buffers()} >= {"fixed_users"}
    assert not m.fixed_users.requires_grad
    seq = torch.tensor([[0, 4, 6, 8]] * 2)
    h = m(seq, torch.tensor([0, 1]))
    assert h.shape == (2, 5, 16)  # persona slot + 4 item slots
    for t in [0, 2, 3, 4]:  # every real slot, including the persona slot, depends on the persona
        assert not torch.allclose(h[0, t], h[1, t], atol=1e-4)
    assert torch.all(h[:, 1] == 0)  # the padding slot stays zero
    # indices and raw vectors give the same result; the same persona gives the same output
    assert torch.allclose(m(seq[:1], table[1:2]), h[1:2], atol=1e-6)
    assert torch.allclose(m.scores(seq[:1], torch.tensor([1])), m.scores(seq[:1], table[1:2]), atol=1e-5)
    with pytest.raises(ValueError, match="persona token"):
        m(seq)
    with pytest.raises(ValueError, match=r"expected \(2, 5\)"):
        m(seq, torch.randn(2, 4))


def test_learned_user_table_is_trainable() -> None:
    m = _model(user_mode="learned", n_users=4)
    assert m.user_table is not None and m.user_table.weight.requires_grad and m.d_user == 16
    seq = torch.tensor([[1, 2, 3]])
    loss = m.loss(seq, torch.tensor([[1, 2, 3, 4]]), torch.tensor([2]))
    loss.backward()
    g = m.user_table.weight.grad
    assert g is not None and g[2].abs().sum() > 0 and g[0].abs().sum() == 0


def test_text_projection_initialises_item_embeddings() -> None:
    text = torch.randn(21, 12)
    text[0] = 0
    text[7] = text[5]  # two items with the same text
    m = _model(item_text=text)
    e = m.item_embeddings().detach()
    proj = (text @ m.text_proj.weight.T).detach()  # type: ignore[union-attr]
    # the id residual is ~1% of the text part: the embedding starts as the projected text
    assert (e[1:] - proj[1:]).norm() / proj[1:].norm() < 0.05
    assert not torch.equal(e[5], e[7])  # but identical texts do not give exact ties
    assert torch.allclose(e[5], e[7], atol=0.1 * e[5].abs().max().item())
    assert e[0].abs().sum() == 0


def test_reset_parameters_is_seeded() -> None:
    a = _model(user_mode="learned", n_users=3)
    b = _model(user_mode="learned", n_users=3)
    for (n, p), (_, q) in zip(a.named_parameters(), b.named_parameters()):
        assert torch.equal(p, q), n
    with torch.no_grad():
        for p in a.parameters():
            p.add_(1.0)
    torch.manual_seed(5)
    a.reset_parameters()
    torch.manual_seed(5)
    b.reset_parameters()
    for (n, p), (_, q) in zip(a.named_parameters(), b.named_parameters()):
        assert torch.equal(p, q), n
    assert a.item_emb.weight[0].abs().sum() == 0  # padding row stays zero
    assert abs(a.item_emb.weight[1:].detach().std().item() - 16**-0.5) < 0.05


def test_losses_decrease_on_a_fixed_batch() -> None:
    for kind in ("ce", "bce"):
        torch.manual_seed(0)
        m = SASRec(10, max_len=6, hidden=16, blocks=1, dropout=0.0)
        seq = torch.tensor([[1, 2, 3, 4], [0, 5, 6, 7]])
        tgt = torch.tensor([[2, 3, 4, 5], [0, 6, 7, 8]])
        opt = torch.optim.Adam(m.parameters(), lr=1e-2)
        gen = torch.Generator().manual_seed(0)
        first = m.loss(seq, tgt, kind=kind, generator=gen).item()  # type: ignore[arg-type]
        for _ in range(60):
            opt.zero_grad()
            m.loss(seq, tgt, kind=kind, generator=gen).backward()  # type: ignore[arg-type]
            opt.step()
        assert m.loss(seq, tgt, kind=kind, generator=gen).item() < 0.3 * first  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="targets have shape"):
        m.loss(seq, tgt[:, 1:])


@pytest.mark.parametrize("keep_elements", [0, 10**9])  # recompute the probabilities in backward / keep them
@pytest.mark.parametrize("max_elements", [7 * 11, 7 * 64, 10**9])  # 11-row chunks (not dividing N), 64, one chunk
def test_chunked_cross_entropy_matches_full_softmax(max_elements: int, keep_elements: int) -> None:
    from persona.rec.sasrec import softmax_cross_entropy

    g = torch.Generator().manual_seed(0)
    h = torch.randn(100, 8, generator=g, dtype=torch.float64, requires_grad=True)
    w = torch.randn(7, 8, generator=g, dtype=torch.float64, requires_grad=True)
    y = torch.randint(0, 7, (100,), generator=g)
    ref = torch.nn.functional.cross_entropy(h @ w.T, y)
    gh, gw = torch.autograd.grad(ref * 3.0, (h, w))
    got = softmax_cross_entropy(h, w, y, max_elements=max_elements, keep_elements=keep_elements)
    ch, cw = torch.autograd.grad(got * 3.0, (h, w))  # a non-unit upstream gradient
    assert torch.allclose(got, ref, rtol=1e-12)
    assert torch.allclose(ch, gh, rtol=1e-10, atol=1e-12)
    assert torch.allclose(cw, gw, rtol=1e-10, atol=1e-12)
    assert torch.autograd.gradcheck(
        lambda a, b: softmax_cross_entropy(a, b, y, max_elements=max_elements, keep_elements=keep_elements), (h, w)
    )


def test_kept_and_recomputed_cross_entropy_are_bit_identical() -> None:
    from persona.rec.sasrec import softmax_cross_entropy

    g = torch.Generator().manual_seed(1)
    h0 = torch.randn(300, 16, generator=g)
    w0 = torch.randn(50, 16, generator=g)
    y = torch.randint(0, 50, (300,), generator=g)
    out = []
    for keep in (0, 10**9):
        h, w = h0.clone().requires_grad_(), w0.clone().requires_grad_()
        loss = softmax_cross_entropy(h, w, y, max_elements=50 * 64, keep_elements=keep)
        loss.backward(retain_graph=True)
        first = (h.grad.clone(), w.grad.clone())  # type: ignore[union-attr]
        loss.backward()  # a second backward through the kept graph recomputes: the gradients double
        assert torch.equal(h.grad, 2 * first[0]) and torch.equal(w.grad, 2 * first[1])  # type: ignore[arg-type]
        out.append((loss.detach(), *first))
    assert all(torch.equal(a, b) for a, b in zip(*out))


def test_dropout_keeps_expected_share_and_scale() -> None:
    from persona.rec.sasrec import _dropout

    torch.manual_seed(0)
    x = torch.ones(200_000)
    out = _dropout(x, 0.2, True)
    kept = out > 0
    assert abs(float(kept.float().mean()) - 0.8) < 0.005
    assert torch.allclose(out[kept], torch.full_like(out[kept], 1.25))
    assert abs(float(out.mean()) - 1.0) < 0.01  # inverted dropout: expectation unchanged
    assert _dropout(x, 0.2, False) is x and _dropout(x, 0.0, True) is x
