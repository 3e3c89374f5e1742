"""The attention model (tfsvm.attention), the losses and the heads."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tfsvm import attention as A
from tfsvm import heads as H
from tfsvm import losses as Ls
from tfsvm.data import AttentionData, prompt_single_input_data, unit_sphere_data
from tfsvm.errors import DTypeError, NonFiniteError, OptionError, ShapeError


def _softmax_np(a):
    e = np.exp(a - a.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


@pytest.fixture
def inst():
    return unit_sphere_data(4, 5, 3, seed=0)


@pytest.fixture
def W():
    return np.random.default_rng(1).standard_normal((3, 3))


# -- softmax ----------------------------------------------------------------------------


def test_softmax_stable_for_huge_logits():
    a = np.array([[1e4, 0.0, -1e4], [3.0, 3.0, 3.0]])
    s = A.softmax(a)
    assert np.all(np.isfinite(s))
    np.testing.assert_allclose(s.sum(-1), 1.0)
    np.testing.assert_allclose(s[0], [1.0, 0.0, 0.0])
    ls = A.log_softmax(a)
    assert np.all(np.isfinite(ls))
    assert ls[0, 2] == pytest.approx(-2e4)
    t = A.softmax(torch.tensor(a))
    assert isinstance(t, torch.Tensor)


# -- attention model --------------------------------------------------------------------


def test_attention_probs_matches_definition(inst, W):
    s = A.attention_probs(inst.X, W, inst.Z)
    logits = np.einsum("ntd,de,ne->nt", inst.X, W, inst.Z)  # a_it = x_itᵀ W z_i
    np.testing.assert_allclose(A.attention_logits(inst.X, W, inst.Z), logits, atol=1e-14)
    np.testing.assert_allclose(s, _softmax_np(logits), atol=1e-15)
    assert s.shape == (4, 5)


def test_attention_probs_batched_and_KQ():
    b = unit_sphere_data(3, 4, 5, seed=2, trials=6)
    rng = np.random.default_rng(0)
    Wb = rng.standard_normal((6, 5, 5))
    s = A.attention_probs(b.X, Wb, b.Z)
    assert s.shape == (6, 3, 4)
    np.testing.assert_allclose(s[4], A.attention_probs(b.X[4], Wb[4], b.Z[4]))
    # a shared (d, d) W applies to every trial
    np.testing.assert_allclose(A.attention_probs(b.X, Wb[0], b.Z)[3], A.attention_probs(b.X[3], Wb[0], b.Z[3]))
    K, Q = rng.standard_normal((5, 2)), rng.standard_normal((5, 2))
    np.testing.assert_allclose(A.attention_probs(b.X, (K, Q), b.Z), A.attention_probs(b.X, K @ Q.T, b.Z))


def test_sequence_queries():
    b = unit_sphere_data(3, 4, 5, seed=2)
    W = np.random.default_rng(0).standard_normal((5, 5))
    Zs = np.random.default_rng(1).standard_normal((3, 2, 5))  # K = 2 queries per sequence
    s = A.attention_probs(b.X, W, Zs)
    assert s.shape == (3, 2, 4)
    np.testing.assert_allclose(s[:, 1], A.attention_probs(b.X, W, Zs[:, 1]))


def test_attention_output_heads(inst, W):
    s = A.attention_probs(inst.X, W, inst.Z)
    r = np.einsum("nt,ntd->nd", s, inst.X)  # r_i = X_iᵀ s_i
    np.testing.assert_allclose(A.attention_output(inst.X, W, inst.Z, inst.v), r @ inst.v)
    np.testing.assert_allclose(A.attention_output(inst.X, W, inst.Z, H.LinearHead(inst.v)), r @ inst.v)
    V = H.MLPHead.random(3, seed=0)
    np.testing.assert_allclose(A.attention_output(inst.X, W, inst.Z, V), np.maximum(r @ V.V, 0).sum(-1))
    lam = H.LambdaHead(inst.v, 0.3)
    np.testing.assert_allclose(A.attention_output(inst.X, W, inst.Z, lam), r @ inst.v - 0.3 * np.sum(r * r, -1))


def test_causal_probs():
    b = unit_sphere_data(2, 4, 3, seed=0)
    W = np.random.default_rng(0).standard_normal((3, 3))
    s = A.causal_probs(b.X, W)  # self-attention, Z = X
    assert s.shape == (2, 4, 4)
    np.testing.assert_allclose(s.sum(-1), 1.0)
    assert np.all(np.triu(np.ones((4, 4)), 1)[None] * s == 0)
    np.testing.assert_allclose(s[:, 0], [[1, 0, 0, 0]] * 2)
    # row k is the softmax over tokens t <= k
    logits = np.einsum("ntd,de,nke->nkt", b.X, W, b.X)
    np.testing.assert_allclose(s[1, 2, :3], _softmax_np(logits[1, 2, :3]))


def test_losses_agree_with_each_other(inst, W):
    L = A.erm_loss(inst.X, inst.Z, inst.Y, W, inst.v)
    f = A.attention_output(inst.X, W, inst.Z, inst.v)
    assert L == pytest.approx(np.mean(np.log1p(np.exp(-inst.Y * f))))
    assert isinstance(L, float)
    # a sequence loss with K = 1 is the single-output loss
    Ls1 = A.seq_loss(inst.X, inst.Z[:, None], inst.Y[:, None], W, inst.v)
    assert Ls1 == pytest.approx(L)
    K, Q = np.linalg.qr(W)
    assert A.erm_loss(inst.X, inst.Z, inst.Y, (K, Q.T), inst.v) == pytest.approx(L)
    for name in ("exponential", "correlation"):
        lv = A.erm_loss(inst.X, inst.Z, inst.Y, W, inst.v, loss=name)
        assert lv == pytest.approx(np.mean(Ls.get_loss(name).value(inst.Y * f)))


def test_causal_loss_manual():
    b = unit_sphere_data(2, 3, 3, seed=1)
    Y = np.array([[1.0, -1.0, 1.0], [-1.0, -1.0, 1.0]])
    W = np.random.default_rng(3).standard_normal((3, 3))
    s = A.causal_probs(b.X, W)
    f = np.einsum("nkt,ntd,d->nk", s, b.X, b.v)
    assert A.causal_loss(b.X, Y, W, b.v) == pytest.approx(np.mean(np.sum(np.log1p(np.exp(-Y * f)), -1)))


def test_erm_loss_torch_is_differentiable(inst, W):
    Wt = torch.tensor(W, requires_grad=True)
    L = A.erm_loss(inst.X, inst.Z, inst.Y, Wt, inst.v)
    assert isinstance(L, torch.Tensor) and L.requires_grad
    L.backward()
    assert Wt.grad.shape == (3, 3)


# -- Lemma 2 ----------------------------------------------------------------------------


def _separating_W(inst):
    """A W with all margins (x_opt − x_t)ᵀ W z_i = 1 (least-squares solve of the equality system)."""
    rows = []
    for i in range(inst.n):
        o = inst.opt[i]
        for t in range(inst.T):
            if t != o:
                rows.append(np.outer(inst.X[i, o] - inst.X[i, t], inst.Z[i]).ravel())
    F = np.array(rows)
    w, *_ = np.linalg.lstsq(F, np.ones(len(rows)), rcond=None)
    np.testing.assert_allclose(F @ w, 1.0, atol=1e-10)
    return w.reshape(inst.d, inst.d)


def test_lemma2_optimal_tokens_minimize_loss():
    inst = unit_sphere_data(3, 4, 4, seed=5)
    Lstar = A.optimal_loss(inst.X, inst.Y, inst.v)
    gam = inst.scores[np.arange(3), inst.opt]
    assert Lstar == pytest.approx(np.mean(np.log1p(np.exp(-gam))))
    Wsep = _separating_W(inst)
    # log(L(RW) − L⋆) is finite (L > L⋆ for every finite W), decreasing, and → −∞ (L → L⋆)
    logex = [A.log_excess_loss(inst.X, inst.Z, inst.Y, R * Wsep, inst.v) for R in (1, 10, 100, 1000, 1e5)]
    assert all(np.isfinite(logex))
    assert all(a > b for a, b in zip(logex, logex[1:]))
    assert logex[-1] < -1e4
    assert A.excess_loss(inst.X, inst.Z, inst.Y, 10 * Wsep, inst.v) > 0
    # L(R W) → L⋆ (checked where the loss is representable)
    assert A.erm_loss(inst.X, inst.Z, inst.Y, 50 * Wsep, inst.v) == pytest.approx(Lstar, abs=1e-12)
    # log-space excess equals the direct difference at moderate norms
    for R in (0.0, 0.5, 2.0):
        direct = A.erm_loss(inst.X, inst.Z, inst.Y, R * Wsep, inst.v) - Lstar
        assert A.excess_loss(inst.X, inst.Z, inst.Y, R * Wsep, inst.v) == pytest.approx(direct, rel=1e-9, abs=1e-15)
    # random finite matrices never reach L⋆
    rng = np.random.default_rng(0)
    for _ in range(20):
        Wr = 10 * rng.standard_normal((4, 4))
        assert A.erm_loss(inst.X, inst.Z, inst.Y, Wr, inst.v) > Lstar
    # the quantitative bound: margins >= 1 ⇒ s_opt(R W) >= 1 / (1 + (T − 1) e^{−R})
    for R in (1.0, 3.0):
        s = A.attention_probs(inst.X, R * Wsep, inst.Z)[np.arange(3), inst.opt]
        assert np.all(s >= 1 / (1 + 3 * np.exp(-R)) - 1e-12)


def test_log_excess_gradient_is_finite_at_huge_norm():
    inst = unit_sphere_data(3, 4, 4, seed=5)
    Wsep = torch.tensor(1e4 * _separating_W(inst), requires_grad=True)
    le = A.log_excess_loss(inst.X, inst.Z, inst.Y, Wsep, inst.v)
    assert torch.isfinite(le) and le < -1e3
    le.backward()
    assert torch.all(torch.isfinite(Wsep.grad)) and Wsep.grad.abs().max() > 0


# -- B's prompt model -------------------------------------------------------------------


def test_prompt_model():
    P = prompt_single_input_data("global")
    p = np.array([0.3, -0.2, 5.0])  # the third coordinate is invisible to the keys
    s = A.prompt_probs(P.X, p, P.W)
    keys = P.X @ P.W.T
    np.testing.assert_allclose(s, _softmax_np(np.einsum("ntd,d->nt", keys, p)))
    f = A.prompt_output(P.X, p, P.v, P.W)
    np.testing.assert_allclose(f, np.einsum("nt,ntd,d->n", s, P.X, P.v))
    # along the global max-margin direction the optimal token (index 0) takes all attention
    pmm = np.array([-0.099, 0.9901, 0.0])
    s_big = A.prompt_probs(P.X, 200 * pmm, P.W)
    assert s_big[0, 0] > 1 - 1e-10
    L = A.prompt_loss(P.X, P.Y, 200 * pmm, P.v, P.W)
    assert L == pytest.approx(np.log1p(np.exp(-1.0)), abs=1e-9)
    # a batch of prompts
    assert A.prompt_output(P.X, np.stack([p, 2 * p]), P.v, P.W).shape == (2, 1)


# -- losses -----------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["logistic", "exponential", "correlation"])
def test_loss_derivative_matches_finite_differences(name):
    loss = Ls.get_loss(name)
    u = np.linspace(-5, 5, 23)
    h = 1e-6
    fd = (loss.value(u + h) - loss.value(u - h)) / (2 * h)
    np.testing.assert_allclose(loss.deriv(u), fd, rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(np.exp(loss.log_neg_deriv(u)), -loss.deriv(u), rtol=1e-12)
    ut = torch.tensor(u, requires_grad=True)
    loss.value(ut).sum().backward()
    np.testing.assert_allclose(ut.grad.numpy(), loss.deriv(u), rtol=1e-12, atol=1e-15)
    assert np.all(loss.deriv(u) < 0)  # strictly decreasing (Assumption A(i))


def test_logistic_is_stable_and_constants():
    lo = Ls.logistic
    u = np.array([-1000.0, 0.0, 1000.0])
    v = lo.value(u)
    assert np.all(np.isfinite(v)) and v[0] == pytest.approx(1000.0) and v[2] == 0.0
    np.testing.assert_allclose(lo.deriv(u), [-1.0, -0.5, 0.0], atol=1e-300)
    assert lo.log_neg_deriv(np.array(1000.0)) == pytest.approx(-1000.0)
    assert (lo.M0, lo.M1) == (0.25, 1.0)
    assert Ls.correlation.constants(3.0) == (0.0, 1.0)
    assert Ls.exponential.constants(2.0) == pytest.approx((np.exp(2), np.exp(2)))
    # ℓ′ is M0-Lipschitz and |ℓ′| <= M1 (logistic, sampled)
    x = np.linspace(-20, 20, 4001)
    d = lo.deriv(x)
    assert np.max(np.abs(np.diff(d) / np.diff(x))) <= 0.25 + 1e-9 and np.max(np.abs(d)) <= 1.0
    with pytest.raises(OptionError, match="unknown loss 'hinge'"):
        Ls.get_loss("hinge")


# -- heads ------------------------------------------------------------------------------


def test_heads():
    V = H.MLPHead.random(4, seed=3, trials=2)
    np.testing.assert_allclose(np.linalg.norm(V.V, axis=(-2, -1)), 1.0)
    x = np.random.default_rng(0).standard_normal((2, 5, 4))
    out = V(x)  # numpy in → numpy out, trial b uses V[b]
    assert isinstance(out, np.ndarray) and out.shape == (2, 5)
    np.testing.assert_allclose(out[1], np.maximum(x[1] @ V.V[1], 0).sum(-1))
    np.testing.assert_allclose(V.trial(1)(x[1]), out[1])
    lin = H.make_head("linear", v=np.ones(4))
    assert lin.is_linear and lin(torch.ones(3, 4)).tolist() == [4.0, 4.0, 4.0]
    lam = H.make_head("lambda", v=np.ones(4), lam=0.5)
    assert lam(np.ones(4)) == pytest.approx(4 - 0.5 * 4)
    with pytest.raises(OptionError, match="unknown head 'relu6'"):
        H.make_head("relu6", v=np.ones(4))
    with pytest.raises(OptionError, match="lam must be >= 0"):
        H.LambdaHead(np.ones(4), -1.0)
    with pytest.raises(ShapeError, match="last dimension"):
        lin(torch.ones(3, 5))


@pytest.mark.parametrize("kind", ["linear", "mlp", "lambda"])
def test_head_features_give_value_and_gradient(kind):
    """h = ψ∘F: ψ at the mixed features F(x) is h(x), and F's chain rule gives autograd's ∇h(x)."""
    rng = np.random.default_rng(1)
    B, d = 3, 4
    head = {"linear": lambda: H.LinearHead(rng.standard_normal((B, d))),
            "mlp": lambda: H.MLPHead.random(d, seed=2, trials=B),
            "lambda": lambda: H.LambdaHead(rng.standard_normal((B, d)), np.array([0.0, 0.5, 2.0]))}[kind]()
    X = torch.tensor(rng.standard_normal((B, 5, 6, d)))  # (B, n, T, d): 6 tokens of 5 sequences
    s = torch.softmax(torch.tensor(rng.standard_normal((B, 5, 6))), -1)
    p = (s.unsqueeze(-1) * X).sum(-2).requires_grad_(True)  # attention outputs
    F = head.features(X)
    f, g = head.feature_value_and_grad((s.unsqueeze(-1) * F).sum(-2))
    np.testing.assert_allclose(f.numpy(), head(p).detach().numpy(), rtol=1e-13, atol=1e-14)
    (grad_p,) = torch.autograd.grad(head(p).sum(), p)
    scores = (F @ g.unsqueeze(-1)).squeeze(-1)  # F(x_t)ᵀ∇ψ = x_tᵀ∇h(p)
    np.testing.assert_allclose(scores.numpy(), (X @ grad_p.unsqueeze(-1)).squeeze(-1).numpy(), rtol=1e-12, atol=1e-13)


# -- bad input --------------------------------------------------------------------------


def test_bad_input(inst, W):
    with pytest.raises(ShapeError, match="W has shape"):
        A.attention_probs(inst.X, np.eye(4), inst.Z)
    with pytest.raises(ShapeError, match="Z has shape"):
        A.attention_probs(inst.X, W, inst.Z[:2])
    Xn = inst.X.copy()
    Xn[1, 1, 1] = np.inf
    with pytest.raises(NonFiniteError, match="X contains 1 NaN or infinite"):
        A.attention_probs(Xn, W, inst.Z)
    with pytest.raises(DTypeError, match="X has integer"):
        A.attention_probs(inst.X.astype(np.int64), W, inst.Z)
    with pytest.raises(DTypeError, match="W has integer"):
        A.attention_probs(inst.X, torch.ones(3, 3, dtype=torch.int64), inst.Z)
    with pytest.raises(ShapeError, match="T = 1"):
        A.attention_probs(inst.X[:, :1], W, inst.Z)
    with pytest.raises(OptionError, match="unknown loss"):
        A.erm_loss(inst.X, inst.Z, inst.Y, W, inst.v, loss="square")
    with pytest.raises(ShapeError, match="head acts on dimension 4"):
        A.attention_output(inst.X, W, inst.Z, np.ones(4))
    with pytest.raises(ShapeError, match="Y has shape"):
        A.erm_loss(inst.X, inst.Z, inst.Y[:2], W, inst.v)
    with pytest.raises(ShapeError, match="ranks m differ"):
        A.attention_probs(inst.X, (np.ones((3, 2)), np.ones((3, 1))), inst.Z)
    with pytest.raises(ShapeError, match="causal attention needs one query per position"):
        A.causal_probs(inst.X, W, inst.X[:, :2])
    with pytest.warns(UserWarning, match="upcasting"):
        A.attention_probs(inst.X.astype(np.float32), W, inst.Z)
    with pytest.raises(ShapeError, match="p has shape"):
        A.prompt_probs(inst.X, np.ones(4), W)


def test_attention_data_roundtrip(inst, W):
    # AttentionData arrays and torch tensors give the same numbers
    tt = inst.to_torch()
    s_t = A.attention_probs(tt.X, torch.tensor(W), tt.Z)
    np.testing.assert_allclose(s_t.numpy(), A.attention_probs(inst.X, W, inst.Z))
    assert isinstance(AttentionData(inst.X, inst.Z, inst.Y, inst.v), AttentionData)


def test_softmax_mix_backward_passes_gradcheck_including_causal_masks():
    """The cancellation-free backward of r = X^T softmax(a) equals finite differences."""
    from tfsvm.attention import _masked, softmax_mix

    g = torch.Generator().manual_seed(0)
    a = torch.randn(2, 3, 4, 5, dtype=torch.float64, generator=g)
    X = torch.randn(2, 3, 5, 6, dtype=torch.float64, generator=g)
    torch.autograd.gradcheck(lambda a_, X_: softmax_mix(a_, X_)[0], (a.requires_grad_(), X.requires_grad_()))
    ac = torch.randn(2, 4, 4, dtype=torch.float64, generator=g, requires_grad=True)
    Xc = torch.randn(2, 4, 6, dtype=torch.float64, generator=g, requires_grad=True)
    torch.autograd.gradcheck(lambda a_, X_: softmax_mix(_masked(a_, True), X_)[0], (ac, Xc))


def test_softmax_mix_logit_gradient_sums_to_zero_when_saturated():
    """At a saturated softmax the logit gradient keeps its exact zero sum (autograd's does not)."""
    from tfsvm.attention import softmax_mix

    a = torch.tensor([[60.0, 0.0, -1.0, 2.0]], dtype=torch.float64, requires_grad=True)
    X = torch.randn(4, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    w = torch.tensor([1.0, -2.0, 0.5], dtype=torch.float64)
    (ga,) = torch.autograd.grad((softmax_mix(a, X)[0] @ w).sum(), a)
    s = torch.softmax(a.detach(), -1)
    gt = X @ w
    exact = s * (gt - gt[0])  # tokens t != 0: s_t (g_t - g_0) up to O(s_t^2)
    assert torch.allclose(ga[0, 1:], exact[0, 1:], rtol=1e-9, atol=0)
    assert abs(float(ga.sum())) <= 1e-12 * float(ga.abs().max())
