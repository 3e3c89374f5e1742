"""Closed-form gradients (A eqs. (13)–(15)) and Lemma 4's Lipschitz constant."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tfsvm import attention as A
from tfsvm import gradients as G
from tfsvm import training
from tfsvm.data import AttentionData, sequence_data, unit_sphere_data
from tfsvm.errors import DTypeError, NonFiniteError, OptionError, ShapeError


def _rel(a, b):
    return np.max(np.abs(a - b)) / np.max(np.abs(b))


def _autograd(inst, W, loss="logistic"):
    Wt = torch.tensor(W, requires_grad=True)
    A.erm_loss(inst.X, inst.Z, inst.Y, Wt, inst.v, loss=loss).sum().backward()
    return Wt.grad.numpy()


def _central_fd(f, W, h=1e-5):
    g = np.zeros_like(W)
    for idx in np.ndindex(W.shape):
        E = np.zeros_like(W)
        E[idx] = h
        g[idx] = (f(W + E) - f(W - E)) / (2 * h)
    return g


@pytest.mark.parametrize("loss", ["logistic", "exponential", "correlation"])
@pytest.mark.parametrize("T", [5, 12])
def test_grad_W_equals_autograd_and_finite_differences(loss, T):
    for seed in range(3):
        inst = unit_sphere_data(4, T, 3, seed=seed)
        W = np.random.default_rng(seed).standard_normal((3, 3))
        g = G.grad_W(inst.X, inst.Z, inst.Y, inst.v, W, loss=loss)
        assert _rel(g, _autograd(inst, W, loss)) < 1e-10
        fd = _central_fd(lambda M: A.erm_loss(inst.X, inst.Z, inst.Y, M, inst.v, loss=loss), W)
        assert _rel(g, fd) < 1e-6


def test_grad_W_formula_13_directly():
    inst = unit_sphere_data(3, 4, 3, seed=4)
    W = np.random.default_rng(0).standard_normal((3, 3))
    s = A.attention_probs(inst.X, W, inst.Z)
    total = np.zeros((3, 3))
    for i in range(3):
        gam = inst.Y[i] * inst.X[i] @ inst.v
        Sp = np.diag(s[i]) - np.outer(s[i], s[i])
        lp = -1 / (1 + np.exp(gam @ s[i]))
        total += lp * np.outer(inst.X[i].T @ Sp @ gam, inst.Z[i])
    np.testing.assert_allclose(G.grad_W(inst.X, inst.Z, inst.Y, inst.v, W), total / 3, rtol=1e-12, atol=1e-15)


def test_grad_W_batched():
    b = unit_sphere_data(3, 4, 5, seed=1, trials=4)
    Wb = np.random.default_rng(0).standard_normal((4, 5, 5))
    g = G.grad_W(b.X, b.Z, b.Y, b.v, Wb)
    assert g.shape == (4, 5, 5)
    for k in range(4):
        np.testing.assert_allclose(g[k], G.grad_W(b.X[k], b.Z[k], b.Y[k], b.v[k], Wb[k]), rtol=1e-13, atol=1e-16)


def test_grad_KQ_chain_rule():
    inst = unit_sphere_data(4, 5, 3, seed=2)
    rng = np.random.default_rng(2)
    K, Q = rng.standard_normal((3, 2)), rng.standard_normal((3, 2))
    gK, gQ = G.grad_KQ(inst.X, inst.Z, inst.Y, inst.v, K, Q)
    GW = G.grad_W(inst.X, inst.Z, inst.Y, inst.v, K @ Q.T)
    np.testing.assert_allclose(gK, GW @ Q)
    np.testing.assert_allclose(gQ, GW.T @ K)
    Kt, Qt = torch.tensor(K, requires_grad=True), torch.tensor(Q, requires_grad=True)
    A.erm_loss(inst.X, inst.Z, inst.Y, (Kt, Qt), inst.v).backward()
    assert _rel(gK, Kt.grad.numpy()) < 1e-10 and _rel(gQ, Qt.grad.numpy()) < 1e-10
    fdK = _central_fd(lambda M: A.erm_loss(inst.X, inst.Z, inst.Y, M @ Q.T, inst.v), K)
    fdQ = _central_fd(lambda M: A.erm_loss(inst.X, inst.Z, inst.Y, K @ M.T, inst.v), Q)
    assert _rel(gK, fdK) < 1e-6 and _rel(gQ, fdQ) < 1e-6


@pytest.mark.parametrize("causal", [False, True])
def test_sequence_gradients(causal):
    sd = sequence_data(3, 4, 3, seed=0)
    W = np.random.default_rng(1).standard_normal((3, 3))
    g = G.grad_W(sd.X, sd.Z, sd.Y, sd.v, W, causal=causal)
    Wt = torch.tensor(W, requires_grad=True)
    L = A.causal_loss(sd.X, sd.Y, Wt, sd.v) if causal else A.seq_loss(sd.X, sd.Z, sd.Y, Wt, sd.v)
    L.backward()
    assert _rel(g, Wt.grad.numpy()) < 1e-10


def test_scaled_gradient_survives_underflow():
    inst = unit_sphere_data(3, 4, 4, seed=3)
    W = np.random.default_rng(0).standard_normal((4, 4))
    # moderate norm: exp(log_scale)·G is the gradient
    Gs, M = G.grad_W(inst.X, inst.Z, inst.Y, inst.v, 5 * W, scaled=True)
    np.testing.assert_allclose(np.exp(M) * Gs, G.grad_W(inst.X, inst.Z, inst.Y, inst.v, 5 * W), rtol=1e-12)
    # huge norm: the raw gradient underflows to 0, the scaled one keeps an O(1) direction
    raw = G.grad_W(inst.X, inst.Z, inst.Y, inst.v, 1e5 * W)
    Gs, M = G.grad_W(inst.X, inst.Z, inst.Y, inst.v, 1e5 * W, scaled=True)
    assert np.all(raw == 0) and M < -700
    assert np.all(np.isfinite(Gs)) and 1e-3 < np.linalg.norm(Gs) < 1e3
    # the direction varies continuously with the norm: at R and 1.0001 R they agree
    G2, _ = G.grad_W(inst.X, inst.Z, inst.Y, inst.v, 1.0001e5 * W, scaled=True)
    cos = np.sum(Gs * G2) / (np.linalg.norm(Gs) * np.linalg.norm(G2))
    assert cos > 0.99


def test_scaled_gradient_locally_optimal_selection():
    # the softmax saturates on a token that is NOT the top-score one: the scaled gradient must
    # still equal the exact (rescaled) gradient, with no cancellation
    X = np.array([[[-0.1, 1.0, 1.0], [1.0, 0.0, 0.9], [0.0, 0.0, 0.0]]])
    inst = AttentionData(X, np.array([[0.0, 0.0, 1.0]]), np.ones(1), np.array([0.0, 0.0, 1.0]))
    W = np.zeros((3, 3))
    W[0, 2], W[1, 2] = 20.0, 0.5  # W z = (20, 0.5, 0): selects token 1 (score 0.9 < 1)
    Gs, M = G.grad_W(inst.X, inst.Z, inst.Y, inst.v, W, scaled=True)
    # exact reference in extended precision-free form: pairwise sum of the 3 tokens
    s = A.attention_probs(inst.X, W, inst.Z)[0]
    gam = X[0] @ inst.v
    q = np.array([sum(s[t] * s[u] * (gam[t] - gam[u]) for u in range(3)) for t in range(3)])
    lp = -1 / (1 + np.exp(gam @ s))
    ref = lp * np.outer(X[0].T @ q, inst.Z[0])
    np.testing.assert_allclose(np.exp(M) * Gs, ref, rtol=1e-10, atol=1e-300)


def _pairwise_reference(ls: np.ndarray, gam: np.ndarray, lp: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Independent reference for the scaled logit weights: every pair term
    −ℓ′ s_t s_τ (γ_t − γ_τ) from its logarithm, the largest factored out per trial (first axis)."""
    dg = gam[..., :, None] - gam[..., None, :]
    with np.errstate(divide="ignore"):
        P = ls[..., :, None] + ls[..., None, :] + np.log(np.abs(dg)) + lp[..., None, None]
    M = P.reshape(P.shape[0], -1).max(-1)
    q = (np.sign(dg) * np.exp(P - M.reshape((-1,) + (1,) * (P.ndim - 1)))).sum(-1)
    return q, M


@pytest.mark.parametrize("scale", [0.0, 1.0, 30.0, 1e3, 1e5])
@pytest.mark.parametrize("T", [2, 5, 12])
def test_scaled_logit_weights_match_pairwise_terms(scale, T):
    """The reference-token kernel equals the sum of the pair terms, each formed from its logarithm,
    from a flat softmax (scale 0: every token tied) to complete saturation (where the raw weights
    underflow), up to the per-trial scale. Tolerance: the exponents log s are as large as the
    logits, so their rounding (|log s|·ε) is the conditioning of any method."""
    from tfsvm.losses import logistic

    rng = np.random.default_rng(T)
    a = torch.tensor(scale * rng.standard_normal((3, 4, T)))
    gam = torch.tensor(rng.standard_normal((3, 4, T)))
    ls = torch.log_softmax(a, -1)
    q, M, u, s, ls2 = G.scaled_logit_weights(a, gam, logistic)
    np.testing.assert_allclose(ls2.numpy(), ls.numpy(), rtol=1e-14, atol=1e-12)
    np.testing.assert_allclose(s.numpy(), np.exp(ls.numpy()), rtol=1e-13, atol=1e-300)
    ref, Mref = _pairwise_reference(ls.numpy(), gam.numpy(), logistic.log_neg_deriv(u).numpy())
    np.testing.assert_allclose(u.numpy(), (np.exp(ls.numpy()) * gam.numpy()).sum(-1), rtol=1e-13, atol=1e-15)
    w = q.numpy() * np.exp(M.numpy() - Mref)[:, None, None]
    tol = 64 * np.finfo(float).eps * (1.0 + np.abs(ls.numpy()).max())
    assert np.abs(w - ref).max() <= tol * np.abs(ref).max()
    assert np.all(np.isfinite(q.numpy())) and np.abs(q.numpy()).max() > 1e-3


def test_scaled_logit_weights_masked_tokens_and_given_output():
    """Masked tokens (log s = −inf) get weight 0; a head's own output u replaces γᵀs in ℓ′."""
    from tfsvm.losses import logistic

    rng = np.random.default_rng(1)
    a = torch.tensor(5 * rng.standard_normal((2, 3, 4)))
    a[..., 2:] = -np.inf
    a[0, 0, 1] = -np.inf  # a row with a single visible token
    gam = torch.tensor(rng.standard_normal((2, 3, 4)))
    ls = torch.log_softmax(a, -1)
    uu = torch.tensor(rng.standard_normal((2, 3)))
    q, M, u, _, _ = G.scaled_logit_weights(a, lambda s: (gam, uu), logistic)
    assert torch.equal(u, uu)
    assert torch.all(q[..., 2:] == 0) and torch.all(q[0, 0] == 0)
    ref, Mref = _pairwise_reference(ls[..., :2].numpy(), gam[..., :2].numpy(), logistic.log_neg_deriv(uu).numpy())
    np.testing.assert_allclose(q[..., :2].numpy() * np.exp(M.numpy() - Mref)[:, None, None], ref, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("batch_dims", [1, 2])
def test_scaled_logit_weights_token_major_layout_equals_token_last(batch_dims):
    """dim=0 (the trainers' token-major layout (T, …)) gives the same softmax, weights, scale and
    margins as the token-last layout, for fixed scores and for a head's score function."""
    from tfsvm.losses import logistic

    rng = np.random.default_rng(2)
    a = torch.tensor(40 * rng.standard_normal((3, 4, 2, 6)))
    gam = torch.tensor(rng.standard_normal((3, 4, 2, 6)))
    first = lambda t: t.movedim(-1, 0).contiguous()  # noqa: E731
    last = G.scaled_logit_weights(a, gam, logistic, batch_dims=batch_dims)
    tm = G.scaled_logit_weights(first(a), first(gam), logistic, batch_dims=batch_dims, dim=0)
    head = lambda s: (first(gam) * 2, (s * first(gam)).sum(0) - 0.5)  # noqa: E731
    head_last = G.scaled_logit_weights(a, lambda s: (gam * 2, (s * gam).sum(-1) - 0.5), logistic, batch_dims=batch_dims)
    head_tm = G.scaled_logit_weights(first(a), head, logistic, batch_dims=batch_dims, dim=0)
    for ref, got in ((last, tm), (head_last, head_tm)):
        q, M, u, s, ls = got
        assert M.shape == ref[1].shape == a.shape[:batch_dims]
        np.testing.assert_allclose(M.numpy(), ref[1].numpy(), rtol=1e-15, atol=0)
        np.testing.assert_allclose(u.numpy(), ref[2].numpy(), rtol=1e-14, atol=1e-15)
        for x, y in ((q, ref[0]), (s, ref[3]), (ls, ref[4])):
            np.testing.assert_allclose(x.movedim(0, -1).numpy(), y.numpy(), rtol=1e-13, atol=1e-13)


def test_lipschitz_W_formula():
    inst = unit_sphere_data(4, 5, 3, seed=0)
    L = G.lipschitz_W(inst)
    manual = 0.0
    for i in range(4):
        xn = np.linalg.norm(inst.X[i], 2)
        manual += np.linalg.norm(inst.v) * np.linalg.norm(inst.Z[i]) ** 2 * xn**3 * (0.25 * np.linalg.norm(inst.v) * xn + 3)
    assert L == pytest.approx(manual / 4)
    b = unit_sphere_data(4, 5, 3, seed=0, trials=3)
    assert G.lipschitz_W(b).shape == (3,)
    assert G.lipschitz_W((inst.X, inst.Z, inst.Y, inst.v)) == pytest.approx(L)
    # it is a valid Lipschitz constant on random pairs
    rng = np.random.default_rng(0)
    for _ in range(30):
        W1, W2 = 3 * rng.standard_normal((2, 3, 3))
        g1 = G.grad_W(inst.X, inst.Z, inst.Y, inst.v, W1)
        g2 = G.grad_W(inst.X, inst.Z, inst.Y, inst.v, W2)
        assert np.linalg.norm(g1 - g2) <= L * np.linalg.norm(W1 - W2)


def test_lemma8_plain_gd_with_step_1_over_LW_decreases_loss():
    for seed in range(5):
        inst = unit_sphere_data(5, 4, 4, seed=seed)
        eta = 1.0 / G.lipschitz_W(inst)
        res = training.train(inst, param="W", steps=300, lr=eta, rule="plain", init="default", seed=seed, record="all")
        assert np.all(np.diff(res.loss) <= 1e-15)
        assert res.loss[-1] < res.loss[0]
        # descent-lemma bound: L(k+1) − L(k) <= −(η/2)‖∇L(W(k))‖²
        g = G.grad_W(np.broadcast_to(inst.X, (301,) + inst.X.shape), np.broadcast_to(inst.Z, (301,) + inst.Z.shape),
                     np.broadcast_to(inst.Y, (301, 5)), inst.v, res.W)
        bound = -(eta / 2) * np.sum(g[:-1] ** 2, axis=(-2, -1))
        assert np.all(np.diff(res.loss) <= bound + 1e-15)


def test_bad_input():
    inst = unit_sphere_data(2, 3, 3, seed=0)
    W = np.eye(3)
    with pytest.raises(OptionError, match="unknown loss 'hinge'"):
        G.grad_W(inst.X, inst.Z, inst.Y, inst.v, W, loss="hinge")
    with pytest.raises(ShapeError, match="v has shape"):
        G.grad_W(inst.X, inst.Z, inst.Y, np.ones(4), W)
    with pytest.raises(ShapeError, match="W has shape"):
        G.grad_W(inst.X, inst.Z, inst.Y, inst.v, np.eye(2))
    with pytest.raises(NonFiniteError, match="W contains"):
        G.grad_W(inst.X, inst.Z, inst.Y, inst.v, np.full((3, 3), np.nan))
    with pytest.raises(DTypeError, match="X has integer"):
        G.grad_W(inst.X.astype(int), inst.Z, inst.Y, inst.v, W)
    with pytest.raises(ShapeError, match="T = 1"):
        G.grad_W(inst.X[:, :1], inst.Z, inst.Y, inst.v, W)
    with pytest.raises(ShapeError, match="ranks m differ"):
        G.grad_KQ(inst.X, inst.Z, inst.Y, inst.v, np.ones((3, 2)), np.ones((3, 1)))
    with pytest.raises(ShapeError, match="causal"):
        G.grad_W(inst.X, inst.Z, inst.Y, inst.v, W, causal=True)
    with pytest.raises(OptionError, match="unknown loss"):
        G.lipschitz_W(inst, loss="nope")
