"""Trainers of tfsvm.training: (normalised) GD for W and (K, Q), batching, B's prompt model, the
regularization path, and their input checks."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tfsvm import gradients as G
from tfsvm import data, svm, training
from tfsvm.training import _common
from tfsvm.attention import erm_loss
from tfsvm.data import (
    gd_paths_2d_data,
    joint_training_data,
    prompt_single_input_data,
    sequence_data,
    unit_sphere_data,
)
from tfsvm.errors import DTypeError, NonFiniteError, OptionError, ShapeError
from tfsvm.heads import LambdaHead, LinearHead, MLPHead
from tfsvm.losses import get_loss
from tfsvm.metrics import corr


# -- basic behaviour ----------------------------------------------------------------------


def test_result_shapes_and_records():
    b = unit_sphere_data(3, 4, 5, seed=0, trials=4)
    r = training.train(b, param="KQ", steps=20, record="every 5", m=2)
    assert r.steps.tolist() == [0, 5, 10, 15, 20]
    assert r.W.shape == (5, 4, 5, 5) and r.loss.shape == (5, 4) and r.max_prob.shape == (5, 4)
    assert r.probs_final.shape == (4, 3, 4) and r.K.shape == (4, 5, 2) and r.Q.shape == (4, 5, 2)
    np.testing.assert_allclose(r.W[-1], r.K @ np.swapaxes(r.Q, -1, -2))
    assert r.W_final.shape == (4, 5, 5) and r.selected.shape == (4, 3)
    one = r.trial(1)
    assert one.W.shape == (5, 5, 5) and one.K.shape == (5, 2)
    r1 = training.train(b.trial(0), steps=7, record=[0, 3, 7])
    assert r1.W.shape == (3, 5, 5) and r1.loss.shape == (3,) and r1.probs_final.shape == (3, 4)
    assert training.train(b.trial(0), steps=7).steps.tolist() == [7]
    assert len(training.train(b.trial(0), steps=7, record="all").steps) == 8
    assert training.parse_record("every 3", 7).tolist() == [0, 3, 6, 7]


def test_loss_and_max_prob_records_match_the_model():
    inst = unit_sphere_data(3, 4, 5, seed=1)
    r = training.train(inst, steps=30, record="every 10", init="default", seed=3)
    for k, W in enumerate(r.W):
        assert r.loss[k] == pytest.approx(erm_loss(inst.X, inst.Z, inst.Y, W, inst.v), rel=1e-12)
    from tfsvm.attention import attention_probs

    np.testing.assert_allclose(r.probs_final, attention_probs(inst.X, r.W[-1], inst.Z), atol=1e-14)
    np.testing.assert_allclose(r.max_prob[-1], r.probs_final.max(-1).mean())


def test_inits():
    inst = unit_sphere_data(2, 3, 4, seed=0)
    r = training.train(inst, steps=0, record=[0])
    assert np.all(r.W[0] == 0)
    r = training.train(inst, param="KQ", steps=0, record=[0], seed=5)
    rng = np.random.default_rng(5)
    np.testing.assert_array_equal(r.K, 0.1 * rng.standard_normal((1, 4, 4))[0])  # K(0) = 0.1·N(0, I)
    assert np.all(r.Q == 0)  # Q(0) = 0 (official Fig 1 code)
    r = training.train(inst, steps=0, record=[0], init="default", seed=2)
    assert np.all(np.abs(r.W[0]) <= 0.5) and np.any(r.W[0] != 0)  # U(−1/√d, 1/√d), d = 4
    r2 = training.train(inst, steps=0, record=[0], init="default", seed=2)
    np.testing.assert_array_equal(r.W, r2.W)
    W0 = np.arange(16.0).reshape(4, 4) / 10
    np.testing.assert_array_equal(training.train(inst, steps=0, init=W0).W[0], W0)


def test_normalized_gd_norm_bound():
    for param in ("W", "KQ"):
        inst = unit_sphere_data(4, 5, 3, seed=2)
        r = training.train(inst, param=param, steps=300, lr=0.1, init="default", seed=1, record="all")
        k = np.arange(301)
        if param == "W":
            norms = np.linalg.norm(r.W, axis=(-2, -1))
            assert np.all(norms <= norms[0] + 0.1 * k + 1e-12)  # ‖W(k)‖ <= ‖W(0)‖ + kη
            assert norms[-1] > norms[0] + 0.75 * 0.1 * 300  # and most steps go outwards
        else:
            rk = training.train(inst, param=param, steps=300, lr=0.1, init="default", seed=1, record=[0])
            K0, Q0 = np.linalg.norm(rk.K), np.linalg.norm(rk.Q)
            assert np.linalg.norm(r.K) <= K0 + 0.1 * 300 + 1e-12 and np.linalg.norm(r.Q) <= Q0 + 0.1 * 300 + 1e-12


def test_plain_gd_matches_manual_loop():
    inst = unit_sphere_data(3, 4, 3, seed=4)
    W = np.random.default_rng(0).standard_normal((3, 3))
    r = training.train(inst, steps=5, lr=0.3, rule="plain", init=W, record="all")
    for k in range(5):
        W = W - 0.3 * G.grad_W(inst.X, inst.Z, inst.Y, inst.v, W)
        np.testing.assert_allclose(r.W[k + 1], W, rtol=1e-12, atol=1e-14)
    # normalized: W − η g/(‖g‖ + ε)
    W = np.zeros((3, 3))
    r = training.train(inst, steps=5, lr=0.1, record="all")
    for k in range(5):
        g = G.grad_W(inst.X, inst.Z, inst.Y, inst.v, W)
        W = W - 0.1 * g / (np.linalg.norm(g) + np.finfo(float).eps)
        np.testing.assert_allclose(r.W[k + 1], W, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("param", ["W", "KQ"])
@pytest.mark.parametrize("loss", ["logistic", "exponential"])
@pytest.mark.parametrize("T", [4, 10])
def test_fast_engine_equals_autograd(param, loss, T):
    b = unit_sphere_data(3, T, 3, seed=1, trials=2)
    kw = dict(param=param, steps=40, loss=loss, init="default", seed=0, record="every 10")
    for rule in ("normalized_eps", "plain"):
        a = training.train(b, engine="fast", rule=rule, **kw)
        g = training.train(b, engine="autograd", rule=rule, **kw)
        np.testing.assert_allclose(a.W, g.W, rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(a.loss, g.loss, rtol=1e-12)
    assert g.info["engine"] == "autograd" and a.info["engine"] == "fast"


@pytest.mark.parametrize("param", ["W", "KQ"])
@pytest.mark.parametrize("kind", ["mlp", "lambda"])
@pytest.mark.parametrize("mode", ["single", "sequential"])
def test_nonlinear_heads_fast_engine_equals_autograd(param, kind, mode):
    """The closed form with a nonlinear head (scores of ∇h at the attention output, A §6) follows
    the autograd iteration, official normalisation ("normalized_eps") and exact normalisation alike.
    (Over 40 steps: with λ > 0 the λ head has a finite-norm part around which normalised GD
    oscillates with step η, and there any two orderings of the same arithmetic drift apart.)"""
    from tfsvm.heads import LambdaHead, MLPHead

    d, B = 5, 3
    b = unit_sphere_data(3, 4, d, seed=4, trials=B) if mode == "single" else sequence_data(3, 4, d, seed=4, trials=B)
    head = MLPHead.random(d, seed=2, trials=B) if kind == "mlp" else LambdaHead(b.v, np.array([0.0, 0.3, 1.0]))
    kw = dict(param=param, steps=40, init="default", seed=1, record="every 10", head=head, mode=mode)
    for rule in ("normalized_eps", "normalized"):
        a = training.train(b, rule=rule, **kw)
        g = training.train(b, rule=rule, engine="autograd", **kw)
        assert np.abs(a.W - g.W).max() <= 1e-9 * np.abs(g.W).max()
        np.testing.assert_allclose(a.loss, g.loss, rtol=1e-10)
        np.testing.assert_allclose(a.probs_final, g.probs_final, rtol=1e-8, atol=1e-12)
    assert a.info["engine"] == "fast"


@pytest.mark.parametrize("mode", ["sequential", "causal"])
@pytest.mark.parametrize("T", [4, 10])
def test_sequence_modes(mode, T):
    sd = sequence_data(3, T, 3, seed=2, trials=2)
    a = training.train(sd, mode=mode, steps=30, init="default", record="every 10")
    g = training.train(sd, mode=mode, steps=30, init="default", record="every 10", engine="autograd")
    np.testing.assert_allclose(a.W, g.W, rtol=1e-9, atol=1e-12)
    assert a.probs_final.shape == (2, 3, T, T)
    if mode == "causal":
        assert np.all(np.triu(np.ones((T, T)), 1) * a.probs_final == 0)
    with pytest.raises(OptionError, match="needs a SequenceData"):
        training.train(unit_sphere_data(3, 4, 3, seed=0), mode=mode, steps=1)


_MODES = {"single_reduced": (3, 4, 5), "single_dense": (8, 4, 3), "sequential": (3, 4, 5), "causal": (3, 4, 5)}
_PARAMS = [("W", 0.0), ("KQ", 0.0), ("KQ", 1e-3)]
_HEADS = ["linear", "mlp", "lambda"]
# every (mode, param/ridge) pair, with head and rule in a Latin square: every head meets every
# rule and every parameterisation, every rule every parameterisation
_ENGINE_CASES = [(mode, param, ridge, _HEADS[(i + j) % 3], training.RULES[(i + 2 * j) % 3])
                 for i, mode in enumerate(_MODES) for j, (param, ridge) in enumerate(_PARAMS)]


def _doubled(dat):
    """Two copies of a batch of trials: (trials, trials) for the perturbed rerun."""
    return type(dat)(*(np.concatenate([getattr(dat, f)] * 2) for f in ("X", "Z", "Y", "v")))


@pytest.mark.parametrize("mode, param, ridge, head, rule", _ENGINE_CASES)
def test_fast_engine_equals_reference_gd(mode, param, ridge, head, rule):
    """The fast engine (reduced coordinates, feature-major layout) follows ``reference_gd`` for
    2000 steps at η = 0.1, from W(0) = 0 (for (K, Q): Q(0) = 0) and from a random init (trials 0, 1).

    Where the iteration is well conditioned — the reference moves by at most 1e-11 (relative)
    when its start is perturbed by 1e-15 (trials 2, 3) — the engines agree to 1e-10 relative:
    every step of the runs that stay unsaturated and converge, and the steps before saturation
    of the others. Where it is not (the softmax saturates; normalised GD circles a finite
    minimiser of a nonlinear head or of the ridge objective, or, with "normalized_eps", settles
    where ‖∇‖ ~ ε: every rounding is amplified there, and no two orderings of the same sums
    agree), the fast engine differs from the reference by at most 1e3 times the reference's
    own sensitivity; saturated runs are compared in direction in
    :func:`test_fast_engine_direction_after_saturation`."""
    n, T, d = _MODES[mode]
    seq = mode in ("sequential", "causal")
    base = sequence_data(n, T, d, seed=1, trials=2) if seq else unit_sphere_data(n, T, d, seed=1, trials=2)
    dat = _doubled(base)
    hd = {"linear": None, "mlp": MLPHead(np.concatenate([MLPHead.random(d, seed=2, trials=2).V] * 2)),
          "lambda": LambdaHead(dat.v, np.array([0.0, 0.5, 0.0, 0.5]))}[head]
    rng = np.random.default_rng(3)
    delta = 1e-15 * rng.standard_normal((2, d, d))
    start = lambda P, dP: np.concatenate([P, P + dP])  # noqa: E731  (trials 2, 3: 0 and 1 perturbed)
    if param == "W":
        init = start(np.stack([np.zeros((d, d)), 0.3 * rng.standard_normal((d, d))]), delta)
    else:  # Q(0) = 0 stays exact: there ∇_K = ∇L(W) Q = 0, and normalising a perturbed 0 is a unit step
        init = (start(0.3 * rng.standard_normal((2, d, d)), delta),
                start(np.stack([np.zeros((d, d)), 0.3 * rng.standard_normal((d, d))]), 0.0))
    record = [0, 1, 10] + list(range(100, 2001, 100))
    kw = dict(param=param, steps=2000, lr=0.1, rule=rule, head=hd, init=init, ridge=ridge, record=record,
              mode="single" if mode.startswith("single") else mode)
    fast = training.train(dat, engine="fast", **kw)
    ref = training.train(dat, engine="reference", **kw)
    assert fast.info["engine"] == "fast" and ref.info["engine"] == "reference"
    fro = lambda A: np.linalg.norm(A, axis=(-2, -1))  # noqa: E731
    rel = lambda A, B: fro(A - B) / np.maximum(fro(B), 1e-300)  # noqa: E731
    assert np.array_equal(fast.W[0], ref.W[0])
    err = rel(fast.W[1:, :2], ref.W[1:, :2])  # records at k = 1, 10, 100, 200, …, 2000
    sensitivity = rel(ref.W[1:, 2:], ref.W[1:, :2])
    well = sensitivity <= 1e-11
    assert well[0].all()  # one step from a perturbed start is always well conditioned
    assert np.all(err[well] <= 1e-10), (err, sensitivity)
    assert np.all(err[~well] <= 1e3 * sensitivity[~well]), (err, sensitivity)


@pytest.mark.parametrize("rule", ["normalized", "normalized_eps"])
def test_fast_engine_direction_after_saturation(rule):
    """Past saturation (linear head, (K, Q) without ridge: the probabilities reach 1 - 1e-16 within
    200 steps) the two engines' K Qᵀ drift apart in norm-scale rounding, but their directions agree:
    1 - corr <= 1e-5 over 2000 steps (measured ~4e-6 at most)."""
    for n in (3, 8):  # reduced (N < d) and dense layouts
        dat = unit_sphere_data(n, 4, 5, seed=1, trials=2)
        kw = dict(param="KQ", steps=2000, lr=0.1, rule=rule, ridge=0.0, init="default", record="every 500")
        fast, ref = (training.train(dat, engine=e, **kw) for e in ("fast", "reference"))
        assert ref.max_prob[-1].min() > 1 - 1e-12
        cos = (fast.W * ref.W).sum((-2, -1)) / (np.linalg.norm(fast.W, axis=(-2, -1)) * np.linalg.norm(ref.W, axis=(-2, -1)))
        assert np.all(1 - cos <= 1e-5), 1 - cos


def test_reference_gd_reads_like_the_paper():
    """reference_gd on (W,) is W ← W − η ∇L/‖∇L‖ with the closed-form gradient of tfsvm.gradients."""
    inst = unit_sphere_data(3, 4, 3, seed=0)
    prob = G.LinearProblem(*(torch.tensor(a)[None] for a in (inst.X, inst.Z[:, None], inst.Y[:, None], inst.v)),
                           get_loss("logistic"))
    its = list(training.reference_gd(prob, (torch.zeros(1, 3, 3, dtype=torch.float64),), steps=3, lr=0.1))
    W = np.zeros((3, 3))
    for it in its:
        np.testing.assert_allclose(it.W[0].numpy(), W, rtol=1e-13, atol=1e-15)
        g = G.grad_W(inst.X, inst.Z, inst.Y, inst.v, W)
        W = W - 0.1 * g / np.linalg.norm(g)


def test_step_direction_rules_and_underflow():
    """The three rules on a gradient e^M·G: with M = −1000 the gradient underflows, yet the exact
    rule still gives the unit direction, while the official ε rule and plain GD give a zero step."""
    G = torch.tensor([[[3.0, 0.0], [0.0, 4.0]]], dtype=torch.float64)  # ‖G‖ = 5
    for M, plain_scale in ((0.0, 1.0), (-1000.0, 0.0)):
        Mt = torch.full((1, 1, 1), M, dtype=torch.float64)
        np.testing.assert_allclose(training.step_direction(G, "normalized", Mt), G / 5, rtol=1e-15)
        np.testing.assert_allclose(training.step_direction(G, "plain", Mt), G * plain_scale, rtol=1e-15)
        eps = training.step_direction(G, "normalized_eps", Mt)
        np.testing.assert_allclose(eps, G * plain_scale / (5 * plain_scale + training.EPS), rtol=1e-15)
    assert torch.equal(training.step_direction(torch.zeros(1, 2, 2, dtype=torch.float64), "normalized"),
                       torch.zeros(1, 2, 2, dtype=torch.float64))  # a zero gradient is no step
    inst = unit_sphere_data(2, 3, 3, seed=0)
    with pytest.raises(OptionError, match="unknown rule 'exact'"):
        training.train(inst, steps=1, rule="exact")
    with pytest.raises(OptionError, match="unknown engine 'closed_form'"):
        training.train(inst, steps=1, engine="closed_form")


# -- batching -----------------------------------------------------------------------------


@pytest.mark.parametrize("param", ["W", "KQ"])
def test_batched_equals_one_by_one(param):
    B, d = 5, 4
    b = unit_sphere_data(3, 5, d, seed=3, trials=B)
    rng = np.random.default_rng(0)
    if param == "W":
        init = rng.uniform(-0.5, 0.5, (B, d, d))
        inits = [init[k] for k in range(B)]
    else:
        K, Q = rng.uniform(-0.5, 0.5, (2, B, d, 3))
        init = (K, Q)
        inits = [(K[k], Q[k]) for k in range(B)]
    rb = training.train(b, param=param, steps=200, init=init, m=None, record="every 50")
    for k in range(B):
        rk = training.train(b.trial(k), param=param, steps=200, init=inits[k], record="every 50")
        np.testing.assert_allclose(rb.W[:, k], rk.W, rtol=0, atol=1e-10 * max(1.0, np.abs(rk.W).max()))
        np.testing.assert_allclose(rb.loss[:, k], rk.loss, rtol=1e-10)
        np.testing.assert_allclose(rb.probs_final[k], rk.probs_final, atol=1e-10)


def test_batched_equals_one_by_one_nonlinear_head():
    b = unit_sphere_data(3, 4, 4, seed=4, trials=3)
    head = MLPHead.random(4, seed=1, trials=3)
    rb = training.train(b, steps=50, head=head, init="zero", record="every 25")
    for k in range(3):
        rk = training.train(b.trial(k), steps=50, head=head.trial(k), init="zero", record="every 25")
        np.testing.assert_allclose(rb.W[:, k], rk.W, atol=1e-10)


# -- large norms: never NaN / inf ----------------------------------------------------------


def test_huge_norms_stay_finite_and_keep_aligning():
    """10^5 steps of normalised GD, far into saturation (the regime the paper's GD lives in).

    W (η = 0.2): ‖W‖_F passes 10^4, every iterate, loss and softmax is finite, and W(k) is still
    aligning with W^mm: 1 − corr falls from step 10^4 to 3·10^4 to 10^5.
    (K, Q) (η = 0.1, no ridge): ‖K Qᵀ‖_F grows quadratically (to ~10^7 here), everything stays
    finite and K Qᵀ ends aligned with the nuclear-norm W*^mm. Its correlation is not asserted to be
    monotone: GD on the factors only approaches W*^mm empirically (Figures 1 and 7), and at this
    norm it drifts by ~10^-4 on this instance (measured 1 − corr = 2e-6 at 10^3 steps, 1.4e-4 at 10^5).
    """
    inst = unit_sphere_data(2, 3, 2, seed=3, gap=0.2)
    Wmm = svm.att_svm(inst.X, inst.Z, inst.opt)
    checkpoints = [10_000, 30_000, 100_000]
    r = training.train(inst, param="W", steps=100_000, lr=0.2, record=checkpoints)
    assert np.all(np.isfinite(r.W)) and np.all(np.isfinite(r.loss)) and np.all(np.isfinite(r.probs_final))
    assert np.linalg.norm(r.W[-1]) >= 1e4
    mis = [1 - corr(W, Wmm) for W in r.W]
    assert mis[2] < mis[1] < mis[0] < 1e-6, mis

    rk = training.train(inst, param="KQ", steps=100_000, lr=0.1, ridge=0.0, record=checkpoints)
    assert np.all(np.isfinite(rk.W)) and np.all(np.isfinite(rk.K)) and np.all(np.isfinite(rk.Q))
    assert np.all(np.isfinite(rk.loss)) and np.all(np.isfinite(rk.probs_final)) and rk.max_prob[-1] == 1.0
    assert np.linalg.norm(rk.W[0]) >= 1e4
    Wst = svm.att_svm(inst.X, inst.Z, inst.opt, norm="nuc")  # aligned with the nuclear-norm SVM
    assert 1 - corr(rk.W[-1], Wst) < 1e-3
    # the default ridge λ = eps also stays finite (its minimiser is finite: the norm saturates)
    rr = training.train(inst, param="KQ", steps=3_000, lr=0.1, record=[3_000])
    assert np.all(np.isfinite(rr.W))
    # so does the official code's ε handling (steps shrink once ‖∇L‖ < ε)
    raw = training.train(inst, param="W", steps=3_000, lr=0.1, rule="normalized_eps", record=[3_000])
    assert np.all(np.isfinite(raw.W)) and np.linalg.norm(raw.W[-1]) < 0.1 * 3_000


# -- B's prompt model ---------------------------------------------------------------------


def test_train_prompt_single_input():
    P = prompt_single_input_data("global")
    inits = np.array([[0, 1, 0], [0, 0.5, 0], [0, 0, 0], [0, -0.5, 0], [0, -1, 0], [0, -1.5, 0]], float)
    r = training.train_prompt(P, p0=inits, steps=1000, record=[0, 1000])
    assert r.p.shape == (2, 6, 3) and r.probs.shape == (2, 6, 1, 3)
    pmm = np.array([-0.1, 1.0])  # ∝ (−0.099, 0.9901): the global p-SVM direction
    assert all(corr(p[:2], pmm) > 0.99 for p in r.p[-1])
    loc = training.train_prompt(prompt_single_input_data("local"), p0=inits, steps=1000, record=[1000])
    # the two lowest inits converge to the locally-optimal direction (1, 0), the others globally
    assert all(corr(p[:2], np.array([1.0, 0.0])) > 0.999 for p in loc.p[-1][4:])
    assert all(corr(p[:2], pmm) > 0.99 for p in loc.p[-1][:4])
    assert np.all(np.linalg.norm(r.p[-1], axis=-1) <= 0.1 * 1000 + 1.5 + 1e-9)


def test_train_prompt_joint():
    r = training.train_prompt(joint_training_data(True), train_v=True, p0=np.array([0.0, -1.0]), steps=1000)
    assert corr(r.p[-1], np.array([4 / 3, 1 / 3])) > 0.999  # p-SVM with all three sequences tight
    assert corr(r.v[-1], np.array([0.0, 1.0])) > 0.999  # v-SVM direction
    assert r.loss[-1] < 1e-3
    nt = training.train_prompt(joint_training_data(False), train_v=True, p0=np.array([0.0, -1.0]), steps=1000)
    assert corr(nt.p[-1], np.array([1.0, 0.0])) > 0.999  # relaxed p-SVM (sequence 3 not a support vector)


# -- regularization path -------------------------------------------------------------------


def test_regularization_path_aligns_with_Wmm():
    inst = unit_sphere_data(2, 3, 3, seed=2, gap=0.3)
    Wmm = svm.att_svm(inst.X, inst.Z, inst.opt)
    radii = [1, 2, 4, 8, 16, 32, 64]
    path = training.regularization_path(inst, radii)
    assert len(path) == 7 and path.W.shape == (7, 3, 3)
    np.testing.assert_allclose(np.linalg.norm(path.W, axis=(-2, -1)), radii, rtol=1e-10)  # constraint active
    assert np.all(path.active)
    mis = np.array([1 - corr(W, Wmm) for W in path])
    assert np.all(np.diff(mis) < 0) and mis[-1] < 1e-3  # increases with R, towards 1
    assert np.all(np.diff(path.excess_loss) < 0)
    # a W of the same norm never does better than W̄_R (spot check against random directions)
    rng = np.random.default_rng(0)
    from tfsvm.attention import excess_loss

    for _ in range(20):
        Wr = rng.standard_normal((3, 3))
        Wr *= 8 / np.linalg.norm(Wr)
        assert excess_loss(inst.X, inst.Z, inst.Y, Wr, inst.v) >= path.excess_loss[3] * (1 - 1e-9)


def test_regularization_path_KQ_nuclear_ball():
    inst = unit_sphere_data(2, 3, 3, seed=2, gap=0.3)
    Wst = svm.att_svm(inst.X, inst.Z, inst.opt, norm="nuc")
    radii = [1, 4, 16, 64]
    path = training.regularization_path(inst, radii, param="KQ")
    sq = np.sum(path.K**2, axis=(1, 2)) + np.sum(path.Q**2, axis=(1, 2))
    np.testing.assert_allclose(sq, 2 * np.array(radii), rtol=1e-10)  # ‖K‖² + ‖Q‖² = 2R
    nuc = np.linalg.svd(path.W, compute_uv=False).sum(-1)
    assert np.all(nuc <= np.array(radii) * (1 + 1e-8))  # Lemma 15: ‖KQᵀ‖_⋆ <= R
    mis = np.array([1 - corr(W, Wst) for W in path])
    assert np.all(np.diff(mis) < 0) and mis[-1] < 1e-2


# -- devices ------------------------------------------------------------------------------


def test_device_argument():
    inst = unit_sphere_data(2, 3, 3, seed=0)
    r = training.train(inst, steps=5, device="cpu")
    assert r.info["device"] == "cpu"
    with pytest.raises(OptionError, match="device"):
        training.train(inst, steps=5, device="nonsense")
    if torch.cuda.is_available():  # the same code on a GPU
        rc = training.train(inst, steps=50, device="cuda", record="every 10")
        rcpu = training.train(inst, steps=50, device="cpu", record="every 10")
        np.testing.assert_allclose(rc.W, rcpu.W, atol=1e-10)


# -- bad input ----------------------------------------------------------------------------


def test_bad_input():
    inst = unit_sphere_data(2, 3, 3, seed=0)
    with pytest.raises(OptionError, match="lr must be a finite number > 0"):
        training.train(inst, steps=2, lr=0.0)
    with pytest.raises(OptionError, match="lr must be a finite number > 0"):
        training.train(inst, steps=2, lr=float("nan"))
    with pytest.raises(OptionError, match="unknown param 'QK'"):
        training.train(inst, param="QK", steps=2)
    with pytest.raises(OptionError, match="unknown loss 'hinge'"):
        training.train(inst, steps=2, loss="hinge")
    with pytest.raises(OptionError, match="unknown head 'relu'"):
        training.train(inst, steps=2, head="relu")
    with pytest.raises(OptionError, match="head 'mlp' needs parameters"):
        training.train(inst, steps=2, head="mlp")
    with pytest.raises(ShapeError, match="head acts on dimension 4"):
        training.train(inst, steps=2, head=LinearHead(np.ones(4)))
    with pytest.raises(OptionError, match="unknown init 'ones'"):
        training.train(inst, steps=2, init="ones")
    with pytest.raises(ShapeError, match="init has shape"):
        training.train(inst, steps=2, init=np.eye(4))
    with pytest.raises(NonFiniteError, match="init contains"):
        training.train(inst, steps=2, init=np.full((3, 3), np.inf))
    with pytest.raises(DTypeError, match="init has integer"):
        training.train(inst, steps=2, init=np.eye(3, dtype=int))
    with pytest.raises(OptionError, match="pair \\(K, Q\\)"):
        training.train(inst, param="KQ", steps=2, init=np.eye(3))
    with pytest.raises(OptionError, match="steps must be >= 0"):
        training.train(inst, steps=-1)
    with pytest.raises(OptionError, match="m must be >= 1"):
        training.train(inst, param="KQ", steps=2, m=0)
    with pytest.raises(OptionError, match="ridge"):
        training.train(inst, param="KQ", steps=2, ridge=-1.0)
    with pytest.raises(OptionError, match="record"):
        training.train(inst, steps=2, record=[5])
    with pytest.raises(OptionError, match="record"):
        training.train(inst, steps=2, record="sometimes")
    with pytest.raises(OptionError, match="mode"):
        training.train(inst, steps=2, mode="bidirectional")
    with pytest.raises(OptionError, match="needs an AttentionData"):
        training.train(inst.X, steps=2)
    with pytest.raises(OptionError, match="lr must be"):
        training.train_prompt(prompt_single_input_data(), lr=-1)
    with pytest.raises(ShapeError, match="p0 has shape"):
        training.train_prompt(prompt_single_input_data(), p0=np.ones(2))
    with pytest.raises(OptionError, match="radii"):
        training.regularization_path(gd_paths_2d_data(), [0.0, 1.0])
    with pytest.raises(OptionError, match="unbatched"):
        training.regularization_path(unit_sphere_data(2, 3, 2, seed=0, trials=2), [1.0])


def test_lambda_head_at_lambda_0_aligns_with_Wmm_under_exact_normalisation():
    """λ = 0 makes the λ-head linear, so normalised GD with autograd and exact normalisation
    (rule="normalized") must align with W^mm (Theorem 3 of A) even deep in saturation (‖W‖ ~ 300);
    before the cancellation-free softmax backward the correlation was ~0.45."""
    from tfsvm import data, metrics
    from tfsvm.heads import LambdaHead

    inst = data.orthonormal_token_data(10, 10, seed=0, trials=8)
    res = training.train(inst, param="W", steps=3000, lr=0.1, head=LambdaHead(inst.v, np.zeros(8)), rule="normalized",
                         engine="autograd")
    W_mm, feasible = svm.att_svm_batch(inst.X, inst.Z, inst.opt)
    assert feasible.all()
    assert np.linalg.norm(res.W_final, axis=(-2, -1)).min() > 250
    assert metrics.corr(res.W_final, W_mm).min() > 0.999


def test_autograd_engine_equals_fast_engine_deep_in_saturation():
    """Linear head: the autograd path (cancellation-free softmax backward) follows the same
    normalised-GD iterates as the scale-free closed form far beyond softmax saturation (‖W‖ up to
    150, smallest probabilities ~1e-63), as long as the probabilities do not underflow."""
    inst = unit_sphere_data(4, 5, 6, seed=2, trials=3)
    a = training.train(inst, steps=600, lr=0.25, engine="autograd", record="every 200")
    c = training.train(inst, steps=600, lr=0.25, engine="fast", record="every 200")
    np.testing.assert_allclose(a.W, c.W, rtol=0, atol=1e-6 * np.abs(c.W).max())


def test_train_prompt_local_case_exact_normalisation_keeps_local_starts_local():
    """B's single-input "local" example with rule="normalized", 1000 steps, lr 0.1 (‖p‖ reaches ~100):
    the starts (0,−1,0) and (0,−1.5,0) converge in direction to the locally optimal token's
    direction (1,0,0); the other starts to the global p^mm ∝ (−0.099, 0.9901, 0). (A cancellation
    in an earlier gradient turned the local starts global near ‖p‖ ≈ 38.)"""
    from tfsvm.experiments.prompt_single_input import INITS

    D = prompt_single_input_data("local")
    p0 = np.array(INITS, dtype=float)
    res = training.train_prompt(D, p0=p0, steps=1000, lr=0.1, rule="normalized")
    p = res.p[-1]
    assert np.linalg.norm(p, axis=-1).min() > 90
    local = np.array([np.allclose(q, [0, -1, 0]) or np.allclose(q, [0, -1.5, 0]) for q in p0])
    assert local.sum() == 2
    glob = np.array([-0.099, 0.9901, 0.0]) / np.linalg.norm([-0.099, 0.9901, 0.0])
    direction = p / np.linalg.norm(p, axis=-1, keepdims=True)
    assert (direction[local] @ np.array([1.0, 0.0, 0.0])).min() > 0.999
    assert (direction[~local] @ glob).min() > 0.999


def test_theorem9_local_regularization_path_converges_to_W_alpha_mm():
    """cone=(alpha, eps): min L over cone_eps(alpha) ∩ {‖W‖ ≤ R} for a locally-optimal alpha ≠ opt
    stays in the cone and aligns with W_alpha^mm (Theorem 9)."""
    from tfsvm import tokens
    from tfsvm.experiments.local_convergence import two_token_example

    toy = two_token_example()
    alpha = np.array([1])
    assert alpha[0] != toy.opt[0] and tokens.is_locally_optimal(toy.X, toy.Z, toy.scores, alpha)
    W_a = svm.att_svm(toy.X, toy.Z, alpha)
    path = training.regularization_path(toy, [2.0, 10.0, 50.0], cone=(alpha, 0.01))
    assert min(tokens.cone_eps_value(W, toy.X, toy.Z, toy.scores, alpha) for W in path.W) >= 0.01 - 1e-9
    assert 1 - corr(path.W[-1], W_a) < 1e-5


def test_gram_form_norm_falls_back_to_the_matrix_when_it_cancels():
    """‖Rᵀ Z‖² from the Gram form ⟨R, Z Zᵀ R⟩ loses every digit when the sequences' contributions
    cancel (here z_2 = −z_1 + δ, r_1 = r_2, so Rᵀ Z = r δᵀ); the guard recomputes it from Rᵀ Z."""
    rng = np.random.default_rng(0)
    r, z, delta = rng.standard_normal((3, 6))
    delta *= 1e-10 / np.linalg.norm(delta)
    R = torch.tensor(np.stack([r, r])[None])
    Z = torch.tensor(np.stack([z, -z + delta])[None])
    true = np.linalg.norm(np.outer(r, delta)) ** 2
    gram = _common._dot(R, (Z @ Z.transpose(-1, -2)) @ R)
    assert abs(gram.item() - true) > true  # the unguarded value is rounding noise
    guarded = _common._checked_sq_norm(gram, _common._rows_scale2(R, _common._dot(Z, Z)),
                                        lambda: _common._fro(R.transpose(-1, -2) @ Z) ** 2)
    assert guarded.item() == pytest.approx(true, rel=1e-6)
    # a well-conditioned Gram form is kept as is
    Z2 = torch.tensor(rng.standard_normal((1, 2, 6)))
    ok = _common._dot(R, (Z2 @ Z2.transpose(-1, -2)) @ R)
    kept = _common._checked_sq_norm(ok, _common._rows_scale2(R, _common._dot(Z2, Z2)),
                                     lambda: torch.full_like(ok, np.nan))
    assert torch.equal(kept, ok)


def test_custom_head_without_closed_form_trains_with_autograd():
    """A Head subclass that only defines h trains through autograd ("auto"), and asking for the
    closed form names what is missing."""
    from tfsvm.heads import Head

    class Tanh(Head):
        _core = {"v": 1}

        def __init__(self, v):
            super().__init__(v=np.asarray(v, dtype=float))

        @property
        def d(self):
            return self._params["v"].shape[-1]

        def _forward(self, x):
            return torch.tanh(x @ self._p("v", x))

    inst = unit_sphere_data(3, 4, 3, seed=0)
    res = training.train(inst, steps=20, head=Tanh(inst.v), rule="normalized_eps")
    assert res.info["engine"] == "autograd" and np.all(np.isfinite(res.W))
    with pytest.raises(OptionError, match="feature_value_and_grad"):
        training.train(inst, steps=2, head=Tanh(inst.v), engine="fast")


def test_train_joint_trains_head_and_attention_and_checks_its_input():
    from tfsvm.errors import OptionError

    D = data.unit_sphere_data(n=3, T=4, d=5, seed=2, gap=0.1)
    run = training.train_joint(D, steps=50, lr=0.1, init="zero", record=[0, 50])
    assert np.all(run["W"][0] == 0) and np.allclose(run["v"][0], D.v)
    assert np.linalg.norm(run["W"][-1]) > 0 and not np.allclose(run["v"][-1], D.v)  # both moved
    # normalized steps: each factor moves by at most lr per step
    assert np.linalg.norm(run["W"][-1]) <= 50 * 0.1 + 1e-9
    assert run["probs"].shape == (3, 4) and np.allclose(run["probs"].sum(-1), 1.0)
    with pytest.raises(OptionError):
        training.train_joint(data.unit_sphere_data(n=3, T=4, d=5, seed=2, trials=2), steps=5)
    with pytest.raises(OptionError):
        training.train_joint(D, steps=5, init="random")
