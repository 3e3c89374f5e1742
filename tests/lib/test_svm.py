"""Tests of tfsvm.svm: every SVM of A and B, against closed forms, independent
implementations (scikit-learn, SLSQP, cvxpy/Clarabel) and the paper's lemmas."""

from __future__ import annotations


import numpy as np
import pytest

from tfsvm import svm
from tfsvm.errors import (
    DTypeError,
    InfeasibleError,
    NonFiniteError,
    OptionError,
    ShapeError,
    SolverError,
    ValueRangeError,
)


# --------------------------------------------------------------------------- data


def gaussian(n, T, d, seed, unit=True):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, T, d))
    Z = rng.standard_normal((n, d))
    if unit:
        X /= np.linalg.norm(X, axis=-1, keepdims=True)
        Z /= np.linalg.norm(Z, axis=-1, keepdims=True)
    alpha = rng.integers(0, T, n)
    return X, Z, alpha


def feasible_instances(n, T, d, count, start=0):
    out, seed = [], start
    while len(out) < count:
        X, Z, a = gaussian(n, T, d, seed)
        seed += 1
        try:
            svm.solve_att_svm(X, Z, a)
        except InfeasibleError:
            continue
        out.append((X, Z, a))
    return out


def features(X, Z, alpha):
    F, _ = svm.att_features(X, Z, alpha)
    return F.reshape(F.shape[0], -1)


def check_kkt(sol, X, Z, alpha, tol=1e-8):
    """Independent KKT check of a Frobenius solution: W = sum lam F, lam >= 0 only on tight rows."""
    n, T, _ = X.shape
    logits = np.einsum("ntd,de,ne->nt", X, sol.W, Z)
    marg = logits[np.arange(n), alpha][:, None] - logits
    mask = np.ones((n, T), dtype=bool)
    mask[np.arange(n), alpha] = False
    assert np.all(marg[mask] >= 1 - tol)
    np.testing.assert_allclose(sol.margins[mask], marg[mask], atol=1e-10)
    assert np.all(np.isnan(sol.margins[~mask]))
    assert np.all(sol.duals >= 0) and np.all(sol.duals[~mask] == 0)
    recon = np.einsum("nt,ntd,ne->de", sol.duals, X[np.arange(n), alpha][:, None, :] - X, Z)
    assert np.linalg.norm(recon - sol.W) <= tol * np.linalg.norm(sol.W)
    # complementary slackness: lambda > 0 only where the margin is 1
    assert np.all(sol.duals[mask] * (marg[mask] - 1) <= tol * max(1.0, sol.value**2))
    assert sol.kkt_residual <= tol and sol.duality_gap <= tol


# --------------------------------------------------------------------------- Frobenius Att-SVM


@pytest.mark.parametrize("n,T,d", [(3, 4, 3), (5, 5, 10), (6, 8, 10), (10, 5, 4), (4, 3, 2)])
def test_fast_solver_margins_and_kkt(n, T, d):
    for X, Z, a in feasible_instances(n, T, d, 3):
        sol = svm.solve_att_svm(X, Z, a)
        assert sol.method == "active-set" and sol.norm == "fro"
        check_kkt(sol, X, Z, a)
        assert np.isclose(sol.value, np.linalg.norm(sol.W))
        # support = tight constraints; every positive multiplier is on the support
        for i in range(n):
            tight = np.flatnonzero(np.abs(sol.margins[i] - 1) <= 1e-6)
            np.testing.assert_array_equal(sol.support[i], tight)
            assert set(np.flatnonzero(sol.duals[i] > 1e-9)) <= set(sol.support[i])
        np.testing.assert_array_equal(svm.att_svm(X, Z, a), sol.W)


def test_fast_equals_sklearn_svc_and_slsqp():
    """Independent implementations on the outer-product features: libsvm (mirrored points,
    label -1 for -f, so the optimal bias is 0 by symmetry) and SLSQP on the primal.
    (liblinear's LinearSVC is not used: its randomised dual coordinate descent with a huge
    C does not reach 1e-5 reliably.)"""
    from scipy.optimize import minimize
    from sklearn.svm import SVC

    for X, Z, a in feasible_instances(3, 4, 4, 4, start=100):
        W = svm.att_svm(X, Z, a)
        F = features(X, Z, a)
        P = np.vstack([F, -F])
        y = np.r_[np.ones(len(F)), -np.ones(len(F))]
        svc = SVC(kernel="linear", C=1e10, tol=1e-12).fit(P, y)
        assert abs(svc.intercept_[0]) < 1e-8
        assert np.linalg.norm(svc.coef_.ravel() - W.ravel()) <= 1e-5 * np.linalg.norm(W)
        res = minimize(
            lambda w: 0.5 * w @ w, np.zeros(F.shape[1]), jac=lambda w: w, method="SLSQP",
            constraints=[{"type": "ineq", "fun": lambda w: F @ w - 1, "jac": lambda w: F}],
            options={"ftol": 1e-15, "maxiter": 1000},
        )
        assert np.linalg.norm(res.x - W.ravel()) <= 1e-5 * np.linalg.norm(W)


def test_fast_agrees_with_cvxpy():
    for n, T, d in [(4, 4, 5), (5, 5, 10), (8, 5, 3)]:
        for X, Z, a in feasible_instances(n, T, d, 2, start=7):
            fast = svm.solve_att_svm(X, Z, a)
            ref = svm.solve_att_svm(X, Z, a, method="cvxpy")
            assert ref.method == "cvxpy"
            assert np.linalg.norm(fast.W - ref.W) <= 1e-6 * np.linalg.norm(ref.W)
            assert fast.kkt_residual <= ref.kkt_residual + 1e-12


def test_self_attention_and_degenerate_cases():
    # self-attention: Z = X[:, 0]
    X, _, a = gaussian(4, 4, 6, 3)
    sol = svm.solve_att_svm(X, X[:, 0], a)
    check_kkt(sol, X, X[:, 0], a)
    # d < n: rank-deficient Gram (more constraints than the d^2 unknowns)
    X, Z, a = feasible_instances(6, 3, 2, 1, start=0)[0]  # 12 rows > d^2 + 1 = 5
    sol = svm.solve_att_svm(X, Z, a)
    check_kkt(sol, X, Z, a)
    # duplicated non-selected tokens and duplicated sequences: duplicate constraint rows
    X, Z, a = gaussian(3, 4, 5, 11)
    a = np.array([0, 0, 0])
    X[:, 3] = X[:, 2]
    X2 = np.concatenate([X, X[:1]])
    Z2 = np.concatenate([Z, Z[:1]])
    a2 = np.r_[a, a[:1]]
    s1, s2 = svm.solve_att_svm(X, Z, a), svm.solve_att_svm(X2, Z2, a2)
    check_kkt(s2, X2, Z2, a2)
    np.testing.assert_allclose(s1.W, s2.W, atol=1e-10)
    # orthonormal queries decouple (digest §4.5): W z_i = per-sequence SVM u_i
    rng = np.random.default_rng(5)
    Q, _ = np.linalg.qr(rng.standard_normal((6, 6)))
    X = rng.standard_normal((3, 4, 6))
    Z = Q[:3]
    a = np.array([0, 1, 2])
    W = svm.att_svm(X, Z, a)
    for i in range(3):
        u = svm.p_svm(X[i : i + 1], a[i : i + 1])
        np.testing.assert_allclose(W @ Z[i], u, atol=1e-10)


def test_lemma1_row_space_and_rank_both_norms():
    for n, T, d in [(2, 4, 5), (3, 3, 6)]:
        X, Z, a = feasible_instances(n, T, d, 1, start=21)[0]
        Pz = Z.T @ np.linalg.pinv(Z.T)  # projector onto span{z_i}
        for norm in ("fro", "nuc"):
            sol = svm.solve_att_svm(X, Z, a, norm=norm)
            assert np.linalg.norm(sol.W - sol.W @ Pz) <= 1e-6 * np.linalg.norm(sol.W)
            assert svm.numerical_rank(sol.W) <= n
            assert np.nanmin(sol.margins) >= 1 - 1e-7


def test_nuclear_vs_frobenius_norm_inequalities():
    X, Z, a = feasible_instances(5, 5, 6, 1, start=3)[0]
    fro = svm.solve_att_svm(X, Z, a, norm="fro")
    nuc = svm.solve_att_svm(X, Z, a, norm="nuc")
    assert nuc.norm == "nuc" and nuc.method == "cvxopt"  # the dual SDP
    assert nuc.kkt_residual <= 1e-6 and nuc.duality_gap <= 1e-6
    primal = svm.solve_att_svm(X, Z, a, norm="nuc", method="cvxpy")  # Clarabel on the primal, independently
    assert primal.method == "cvxpy" and np.isclose(primal.value, nuc.value, rtol=1e-7)
    assert np.isclose(nuc.value, np.linalg.norm(nuc.W, "nuc"))
    assert np.linalg.norm(fro.W) <= np.linalg.norm(nuc.W) * (1 + 1e-7)
    assert np.linalg.norm(nuc.W, "nuc") <= np.linalg.norm(fro.W, "nuc") * (1 + 1e-7)
    # nuclear dual certificate: ||sum lam F||_2 <= 1 and b^T lam = ||W||_*
    G = np.einsum("nt,ntd,ne->de", nuc.duals, X[np.arange(5), a][:, None, :] - X, Z)
    assert np.linalg.norm(G, 2) <= 1 + 1e-6
    assert np.isclose(nuc.duals.sum(), nuc.value, rtol=1e-6)
    # low-rank bias (digest §2.4) on this instance
    assert svm.numerical_rank(nuc.W) <= svm.numerical_rank(fro.W)


def test_rank_option():
    X, Z, a = feasible_instances(3, 4, 5, 1, start=40)[0]
    W = svm.att_svm(X, Z, a, norm="nuc", rank=3)  # m >= n: always fine (Lemma 1)
    r = svm.numerical_rank(W)
    np.testing.assert_allclose(W, svm.att_svm(X, Z, a, norm="nuc"), atol=1e-6)
    if r > 1:
        with pytest.raises(SolverError, match="non-convex"):
            svm.att_svm(X, Z, a, norm="nuc", rank=r - 1)
    with pytest.raises(SolverError, match="non-convex"):
        svm.att_svm(X, Z, a, norm="fro", rank=1)  # W^mm has rank min(n, d) = 3
    with pytest.raises(OptionError):
        svm.att_svm(X, Z, a, norm="nuc", rank=0)


def test_theorem_8_every_selection_feasible():
    """d >= max(T-1, n): Att-SVM is feasible for EVERY alpha (n=3, T=4, d=3: all 64)."""
    import itertools

    n, T, d = 3, 4, 3
    rng = np.random.default_rng(0)
    X = rng.standard_normal((n, T, d))
    Z = rng.standard_normal((n, d))
    alphas = np.array(list(itertools.product(range(T), repeat=n)))
    B = len(alphas)
    W, feasible, info = svm.att_svm_batch(
        np.broadcast_to(X, (B, n, T, d)), np.broadcast_to(Z, (B, n, d)), alphas, return_info=True
    )
    assert B == 64 and feasible.all()
    assert np.nanmax(info["kkt_residual"]) <= 1e-8
    # Theorem 8's stronger statement: the equality system <F_it, W> = 1 is solvable
    for a in alphas[:8]:
        F = features(X, Z, a)
        w = np.linalg.lstsq(F, np.ones(len(F)), rcond=None)[0]
        np.testing.assert_allclose(F @ w, 1, atol=1e-9)


def test_batch_matches_single_and_flags_infeasible():
    B, n, T, d = 12, 6, 4, 2  # d small: a mix of feasible and infeasible instances
    rng = np.random.default_rng(1)
    X = rng.standard_normal((B, n, T, d))
    Z = rng.standard_normal((B, n, d))
    a = rng.integers(0, T, (B, n))
    W, feasible = svm.att_svm_batch(X, Z, a)
    assert 0 < feasible.sum() < B
    for k in range(B):
        if feasible[k]:
            np.testing.assert_allclose(W[k], svm.att_svm(X[k], Z[k], a[k]), atol=1e-10)
        else:
            assert np.all(np.isnan(W[k]))
            with pytest.raises(InfeasibleError):
                svm.att_svm(X[k], Z[k], a[k])
    # the same selection for every instance may be given as (n,)
    W2, f2 = svm.att_svm_batch(X, Z, a[0])
    W3, f3 = svm.att_svm_batch(X, Z, np.broadcast_to(a[0], (B, n)))
    np.testing.assert_array_equal(f2, f3)
    np.testing.assert_array_equal(W2, W3)


# --------------------------------------------------------------------------- infeasibility


def conflicting_instance():
    """Sequences 0 and 1 need W[0,0] >= 1 and W[0,0] <= -1; sequence 2 lives on e2."""
    X = np.zeros((3, 2, 2))
    X[0, 0] = [1, 0]
    X[1, 1] = [1, 0]
    X[2, 0] = [0, 1]
    Z = np.array([[1.0, 0], [1.0, 0], [0, 1.0]])
    return X, Z, np.array([0, 0, 0])


def test_infeasible_names_the_sequences():
    X, Z, a = conflicting_instance()
    with pytest.raises(InfeasibleError) as exc:
        svm.att_svm(X, Z, a)
    msg = str(exc.value)
    assert exc.value.sequences == [0, 1]
    assert "[0, 1]" in msg and "sequence 2" not in msg and "Farkas" in msg
    for norm, method in (("nuc", "auto"), ("fro", "cvxpy")):
        with pytest.raises(InfeasibleError) as exc:
            svm.solve_att_svm(X, Z, a, norm=norm, method=method)
        assert exc.value.sequences == [0, 1]
    # d = 1 with several sequences (W is a scalar)
    X1 = np.array([[[1.0], [0.0]], [[0.0], [1.0]], [[2.0], [0.5]]])
    with pytest.raises(InfeasibleError) as exc:
        svm.att_svm(X1, np.ones((3, 1)), np.array([0, 0, 0]))
    assert 1 in exc.value.sequences and len(exc.value.sequences) == 2


def test_infeasible_duplicate_selected_token():
    X, Z, a = gaussian(3, 4, 5, 2)
    a = np.array([1, 0, 0])
    X[2, 3] = X[2, 0]
    with pytest.raises(InfeasibleError, match="identical to the selected token") as exc:
        svm.att_svm(X, Z, a)
    assert exc.value.sequences == [2]
    assert exc.value.constraints == [(2, 3)]


def test_infeasible_zero_query():
    X, Z, a = gaussian(3, 4, 5, 4)
    Z[1] = 0.0
    with pytest.raises(InfeasibleError, match="query z_i of sequence\\(s\\) \\[1\\] is zero") as exc:
        svm.att_svm(X, Z, a)
    assert exc.value.sequences == [1]


def test_near_infeasible_large_norm_is_solved():
    # two almost opposite constraints: feasible, W^mm = [[1, 0], [-2/eps, 0]] is huge
    for eps in (1e-2, 1e-4, 1e-6, 1e-8):
        X = np.array([[[1.0, 0.0], [0.0, 0.0]], [[0.0, 0.0], [1.0, eps]]])
        Z = np.array([[1.0, 0.0], [1.0, 0.0]])
        a = np.array([0, 0])
        sol = svm.solve_att_svm(X, Z, a)
        exact = np.array([[1.0, 0.0], [-2.0 / eps, 0.0]])
        assert np.linalg.norm(sol.W - exact) <= 1e-9 * np.linalg.norm(exact)
        assert sol.kkt_residual <= (1e-8 if eps >= 1e-6 else 1e-6)
        if eps >= 1e-4:
            ref = svm.solve_att_svm(X, Z, a, method="cvxpy")
            assert np.linalg.norm(sol.W - ref.W) <= 1e-6 * np.linalg.norm(sol.W)


# --------------------------------------------------------------------------- bad input


def test_bad_input_errors():
    X, Z, a = gaussian(3, 4, 5, 0)
    with pytest.raises(ShapeError, match="Z"):
        svm.att_svm(X, Z[:2], a)
    with pytest.raises(ShapeError, match="Z"):
        svm.att_svm(X, Z[:, :4], a)
    with pytest.raises(ShapeError, match="alpha"):
        svm.att_svm(X, Z, a[:2])
    with pytest.raises(ValueRangeError, match="out of range"):
        svm.att_svm(X, Z, np.array([0, 4, 1]))
    with pytest.raises(ValueRangeError, match="out of range"):
        svm.att_svm(X, Z, np.array([0, -1, 1]))
    Xn = X.copy()
    Xn[1, 2, 3] = np.nan
    with pytest.raises(NonFiniteError, match="X"):
        svm.att_svm(Xn, Z, a)
    Zn = Z.copy()
    Zn[0, 0] = np.inf
    with pytest.raises(NonFiniteError, match="Z"):
        svm.att_svm(X, Zn, a)
    with pytest.raises(OptionError, match="norm"):
        svm.att_svm(X, Z, a, norm="spectral")
    with pytest.raises(OptionError, match="method"):
        svm.solve_att_svm(X, Z, a, method="scs")
    with pytest.raises(OptionError):
        svm.solve_att_svm(X, Z, a, norm="nuc", method="active-set")
    with pytest.raises(DTypeError):
        svm.att_svm(X, Z, a + 0.5)
    with pytest.raises(DTypeError):
        svm.att_svm(X.astype(int), Z, a)
    with pytest.raises(ShapeError):
        svm.att_svm(X[0], Z, a)
    with pytest.raises(ShapeError):
        svm.att_svm_batch(X, Z, a)  # not batched
    with pytest.raises(ShapeError):
        svm.att_svm(X[:, :1], Z, np.zeros(3, dtype=int))  # T = 1


# --------------------------------------------------------------------------- Gen-SVM, finite part, SVM-equivalence


def test_gen_svm_single_token_equals_att_svm():
    for X, Z, a in feasible_instances(4, 5, 4, 3, start=50):
        sel = np.zeros((4, 5), dtype=bool)
        sel[np.arange(4), a] = True
        np.testing.assert_allclose(svm.gen_svm(X, Z, sel), svm.att_svm(X, Z, a), atol=1e-10)
        np.testing.assert_allclose(svm.gen_svm(X, Z, sel.astype(int)), svm.att_svm(X, Z, a), atol=1e-10)


def test_gen_svm_constraints_and_kkt():
    rng = np.random.default_rng(3)
    n, T, d = 3, 4, 8
    X = rng.standard_normal((n, T, d))
    Z = rng.standard_normal((n, d))
    sel = np.zeros((n, T), dtype=bool)
    sel[0, [0, 1]] = True
    sel[1, [2]] = True
    sel[2, [0, 1, 3]] = True
    res = svm.gen_svm(X, Z, sel, full_output=True)
    W = res.W
    assert res.kkt_residual <= 1e-8
    logits = np.einsum("ntd,de,ne->nt", X, W, Z)
    for i in range(n):
        On, Ob = np.flatnonzero(sel[i]), np.flatnonzero(~sel[i])
        for t in On:
            for tau in Ob:
                assert logits[i, t] - logits[i, tau] >= 1 - 1e-9
            for tau in On:
                assert abs(logits[i, t] - logits[i, tau]) <= 1e-9
    # cvxpy cross-check of the equality-constrained problem
    F, rows, E, _ = __import__("tfsvm.svm._gen", fromlist=["_gen_rows"])._gen_rows(X, Z, sel)
    ref = svm.max_margin(F, F_eq=E, method="cvxpy")
    np.testing.assert_allclose(ref.W, W, atol=1e-6 * np.linalg.norm(W))
    with pytest.raises(OptionError):
        svm.gen_svm(X, Z, np.ones((n, T), dtype=bool))
    with pytest.raises(ValueRangeError, match="no token"):
        svm.gen_svm(X, Z, np.zeros((n, T), dtype=bool))
    with pytest.raises(DTypeError):
        svm.gen_svm(X, Z, sel.astype(float))


def test_finite_part_and_svm_equivalence():
    rng = np.random.default_rng(8)
    n, T, d = 3, 4, 6
    X = rng.standard_normal((n, T, d))
    Z = rng.standard_normal((n, d))
    W_true = rng.standard_normal((d, d))
    logits = np.einsum("ntd,de,ne->nt", X, W_true, Z)
    probs = np.exp(logits - logits.max(1, keepdims=True))
    probs /= probs.sum(1, keepdims=True)
    sel = np.zeros((n, T), dtype=bool)
    top2 = np.argsort(-probs, axis=1)[:, :2]
    sel[np.arange(n)[:, None], top2] = True
    W_fin = svm.finite_part(X, Z, probs, sel)
    lf = np.einsum("ntd,de,ne->nt", X, W_fin, Z)
    for i in range(n):
        t, tau = top2[i]
        assert np.isclose(lf[i, t] - lf[i, tau], np.log(probs[i, t] / probs[i, tau]), atol=1e-10)
    assert np.linalg.norm(W_fin) <= np.linalg.norm(W_true)  # least norm
    # W_fin lies in the row space of the equality system (minimum norm)
    W_mm = svm.gen_svm(X, Z, sel)
    # A §6 consistency (digest §4.16): ratios inside O_i are kept for every R; masked probs -> 0
    for R in (0.0, 10.0, 50.0):
        l = np.einsum("ntd,de,ne->nt", X, W_fin + R * W_mm / np.linalg.norm(W_mm), Z)
        s = np.exp(l - l.max(1, keepdims=True))
        s /= s.sum(1, keepdims=True)
        for i in range(n):
            t, tau = top2[i]
            assert np.isclose(s[i, t] / s[i, tau], probs[i, t] / probs[i, tau], rtol=1e-8)
    # SVM-equivalence: least-squares scale recovers an exact decomposition
    W_gd = W_fin + 7.0 * W_mm / np.linalg.norm(W_mm)
    W_eq, R = svm.svm_equivalence(W_fin, W_mm, W_gd, return_scale=True)
    assert np.isclose(R, 7.0) and np.allclose(W_eq, W_gd)
    # single-token sequences: W_fin = 0
    one = np.zeros((n, T), dtype=bool)
    one[:, 0] = True
    assert not np.any(svm.finite_part(X, Z, probs, one))
    # inconsistent eq. (7): d = 1 cannot reproduce arbitrary ratios in two sequences
    X1 = np.array([[[1.0], [0.0], [3.0]], [[1.0], [0.0], [3.0]]])
    p1 = np.array([[0.5, 0.3, 0.2], [0.3, 0.5, 0.2]])
    s1 = np.array([[True, True, False], [True, True, False]])
    with pytest.raises(InfeasibleError, match="eq. \\(7\\)"):
        svm.finite_part(X1, np.ones((2, 1)), p1, s1)
    with pytest.raises(ValueRangeError, match="> 0"):
        svm.finite_part(X, Z, np.where(sel, 0.0, probs), sel)
    with pytest.raises(OptionError):
        svm.svm_equivalence(W_fin, np.zeros((d, d)), W_gd)


# --------------------------------------------------------------------------- sequential / causal


def test_seq_svm_reduces_to_att_svm_and_satisfies_constraints():
    X, Z, a = feasible_instances(3, 4, 5, 1, start=60)[0]
    np.testing.assert_allclose(svm.seq_svm(X, Z[:, None, :], a[:, None]), svm.att_svm(X, Z, a), atol=1e-10)
    rng = np.random.default_rng(2)
    K = 3
    Zk = rng.standard_normal((3, K, 5))
    ak = rng.integers(0, 4, (3, K))
    res = svm.seq_svm(X, Zk, ak, full_output=True)
    assert res.kkt_residual <= 1e-8
    for i, k, t in res.info["rows"]:
        marg = (X[i, ak[i, k]] - X[i, t]) @ res.W @ Zk[i, k]
        assert marg >= 1 - 1e-9
    ref = svm.seq_svm(X, Zk, ak, full_output=True)
    assert len(res.info["rows"]) == 3 * K * 3
    nuc = svm.seq_svm(X, Zk, ak, norm="nuc")
    assert np.linalg.norm(nuc, "nuc") <= np.linalg.norm(ref.W, "nuc") * (1 + 1e-7)
    # two queries of one sequence that demand opposite orders of its two tokens
    X1 = np.array([[[1.0, 0.0], [0.0, 0.0]], [[0.0, 1.0], [0.0, 0.0]]])
    Z1 = np.array([[[1.0, 0.0], [1.0, 0.0]], [[0.0, 1.0], [0.0, 1.0]]])
    with pytest.raises(InfeasibleError, match="query 1") as exc:
        svm.seq_svm(X1, Z1, np.array([[0, 1], [0, 0]]))
    assert exc.value.sequences == [0]
    assert sorted(exc.value.constraints) == [(0, 0, 1), (0, 1, 0)]
    with pytest.raises(ShapeError):
        svm.seq_svm(X, Zk, ak[:, :2])
    with pytest.raises(ShapeError):
        svm.seq_svm(X, Zk[:, :, :4], ak)


def test_causal_svm():
    rng = np.random.default_rng(4)
    n, T, d = 2, 4, 6
    X = rng.standard_normal((n, T, d))
    alpha = np.array([[0, 1, 0, 2], [0, 0, 2, 3]])
    res = svm.causal_svm(X, X, alpha, full_output=True)  # self-attention Z = X
    assert res.kkt_residual <= 1e-8
    rows = res.info["rows"]
    assert all(t <= k and t != alpha[i, k] and k >= 1 for i, k, t in rows)
    assert len(rows) == n * sum(k for k in range(1, T))  # k tokens compete at position k
    logits = np.einsum("ntd,de,nke->nkt", X, res.W, X)
    for i, k, t in rows:
        assert logits[i, k, alpha[i, k]] - logits[i, k, t] >= 1 - 1e-9
    # the causal SVM is the sequential SVM restricted to the visible tokens: never larger norm
    assert np.linalg.norm(res.W) <= np.linalg.norm(svm.seq_svm(X, X, alpha)) + 1e-9
    with pytest.raises(ValueRangeError, match="alpha\\[i, k\\] <= k"):
        svm.causal_svm(X, X, np.array([[1, 1, 0, 2], [0, 0, 2, 3]]))
    with pytest.raises(ShapeError):
        svm.causal_svm(X, X[:, :3], alpha)


# --------------------------------------------------------------------------- paper B


def test_b_single_input_toy():
    X = np.array([[[-0.1, 1.0, 1.0], [1.0, 0.0, 0.9], [0.0, 0.0, 0.0]]])
    keys = X[..., :2]  # W = diag(1, 1, 0)
    p = svm.p_svm(keys, np.array([0]))
    np.testing.assert_allclose(p, [-0.099, 0.9901], atol=1e-4)  # p^mm = (-0.1, 1)/1.01
    np.testing.assert_allclose(p, np.array([-0.1, 1.0]) / 1.01, atol=1e-12)
    assert np.isclose(0.5 * p @ p, 0.49505, atol=1e-5)
    p = svm.p_svm(keys, np.array([1]))
    np.testing.assert_allclose(p, [1.0, 0.0], atol=1e-12)
    assert np.isclose(0.5 * p @ p, 0.5)
    # full keys W x with W = diag(1,1,0) give the same p (third coordinate 0)
    p3 = svm.p_svm(X * np.array([1.0, 1.0, 0.0]), np.array([0]))
    np.testing.assert_allclose(p3, [-0.1 / 1.01, 1 / 1.01, 0.0], atol=1e-12)


def joint_data(tight):
    X = np.array(
        [
            [[0.0, 0.0], [1.0, 1.0]],
            [[0.0, 0.0], [1.0, -1.0]],
            [[0.0, 0.0], [0.5, 1.0 if tight else 1.5]],
        ]
    )
    return X, np.array([1.0, -1.0, 1.0]), np.array([1, 1, 1])


def test_b_joint_toy():
    X, Y, a = joint_data(True)
    v, S = svm.v_svm(X, Y, a)
    np.testing.assert_allclose(v, [0.0, 1.0], atol=1e-12)
    np.testing.assert_array_equal(S, [0, 1, 2])
    J = svm.joint_p_svm(X, Y, a)
    np.testing.assert_allclose(J.p, [4 / 3, 1 / 3], atol=1e-12)
    assert np.isclose(0.5 * J.p @ J.p, 0.94444, atol=1e-5)
    assert not J.relaxed.any()

    X, Y, a = joint_data(False)
    v, S = svm.v_svm(X, Y, a)
    np.testing.assert_allclose(v, [0.0, 1.0], atol=1e-12)
    np.testing.assert_array_equal(S, [0, 1])
    np.testing.assert_allclose(svm.p_svm(X, a), [1.25, 0.25], atol=1e-12)
    J = svm.joint_p_svm(X, Y, a)
    np.testing.assert_allclose(J.p, [1.0, 0.0], atol=1e-12)
    np.testing.assert_array_equal(J.relaxed, [False, False, True])
    np.testing.assert_allclose(svm.p_svm(X, a, relaxed=[2]), J.p)
    np.testing.assert_allclose(svm.p_svm(X, a, relaxed=np.array([False, False, True])), J.p)
    # loss-comparison example of B: p^mm = (1, 0) for every score gap C
    for C in (1.0, 100.0):
        Xc = np.array([[[0, 0, 0], [1, 1, C]], [[0, 0, 0], [1, -1, 1.0]]])
        np.testing.assert_allclose(svm.p_svm(Xc[..., :2], np.array([1, 1])), [1.0, 0.0], atol=1e-12)


def test_b_errors():
    X, Y, a = joint_data(True)
    with pytest.raises(InfeasibleError) as exc:
        svm.v_svm(X, np.array([1.0, -1.0, -1.0]), a)  # Farkas: 3*(1,1) + (-1,1) + 4*(-0.5,-1) = 0
    assert exc.value.sequences == [0, 1, 2]
    with pytest.raises(ValueRangeError):
        svm.v_svm(X, np.array([1.0, 0.0, 1.0]), a)
    with pytest.raises(ValueRangeError):
        svm.p_svm(X, a, relaxed=[5])
    with pytest.raises(ShapeError):
        svm.p_svm(X, a, relaxed=np.array([True, False]))
    Xd = X.copy()
    Xd[0, 0] = Xd[0, 1]
    with pytest.raises(InfeasibleError) as exc:
        svm.p_svm(Xd, a)
    assert exc.value.sequences == [0]


# --------------------------------------------------------------------------- rank, alignment, core


def test_numerical_rank():
    assert svm.numerical_rank(np.diag([1.0, 1e-3, 1e-9])) == 2
    assert svm.numerical_rank(np.diag([1.0, 1e-3, 1e-9]), rtol=1e-2) == 1
    assert svm.numerical_rank(np.zeros((3, 3))) == 0
    np.testing.assert_array_equal(svm.numerical_rank(np.stack([np.eye(3), np.zeros((3, 3))])), [3, 0])
    with pytest.raises(OptionError):
        svm.numerical_rank(np.eye(2), rtol=-1)


def test_max_margin_core():
    # equality + inequality with nonzero right-hand sides, vector problem
    F = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    res = svm.max_margin(F, b=np.array([1.0, -1.0]), F_eq=np.array([[0.0, 0.0, 1.0]]), b_eq=np.array([2.0]))
    np.testing.assert_allclose(res.w, [1.0, 0.0, 2.0], atol=1e-12)
    np.testing.assert_allclose(res.lam, [1.0, 0.0], atol=1e-12)
    np.testing.assert_allclose(res.mu, [2.0], atol=1e-12)
    assert res.kkt_residual <= 1e-12 and res.duality_gap <= 1e-12
    with pytest.raises(InfeasibleError, match="row 0, row 1|row 1, row 0"):
        svm.max_margin(np.array([[1.0], [-1.0]]))
    with pytest.raises(InfeasibleError, match="equality"):
        svm.max_margin(F, F_eq=np.array([[0, 0, 1.0], [0, 0, 2.0]]), b_eq=np.array([1.0, 1.0]))
    with pytest.raises(ShapeError):
        svm.max_margin(F, b=np.ones(3))


def test_nuclear_svm_reduced_to_token_and_query_spans_equals_full_sdp():
    """(Att-SVM*) solved on span{x_ia - x_it} x span{z_i} (the default) has the optimum of the full
    d x d SDP: same value, same W within the SDP tolerance, KKT certified on the full problem."""
    for seed in range(3):
        X, Z, alpha = gaussian(3, 4, 9, seed)
        try:
            full = svm.solve_att_svm(X, Z, alpha, norm="nuc", reduce=False)
        except svm.InfeasibleError:
            continue
        red = svm.solve_att_svm(X, Z, alpha, norm="nuc")
        assert abs(red.value - full.value) <= 1e-7 * full.value
        np.testing.assert_allclose(red.W, full.W, atol=1e-4 * np.abs(full.W).max())
        assert red.kkt_residual < 1e-6
        np.testing.assert_allclose(red.margins[~np.isnan(red.margins)].min(), 1.0, atol=1e-7)


def test_nnls_fallback_to_public_scipy_gives_the_same_solutions(monkeypatch):
    """The fast path calls scipy's private compiled NNLS; if a scipy upgrade removes it the solver
    must fall back to the public ``scipy.optimize.nnls`` with the same results (only slower)."""
    from tfsvm import data
    from tfsvm.svm import _qp

    insts = [data.unit_sphere_data(n, T, d, seed=s) for s, (n, T, d) in enumerate([(5, 5, 10), (3, 6, 4), (8, 4, 20)])]
    fast = [svm.solve_att_svm(i.X, i.Z, i.opt) for i in insts]
    # (on scipy versions without the private entry point ``fast`` already used the public one)
    calls = []
    import scipy.optimize

    public = scipy.optimize.nnls
    monkeypatch.setattr(scipy.optimize, "nnls", lambda *a, **k: calls.append(1) or public(*a, **k))
    monkeypatch.setattr(_qp, "_C_NNLS", False)  # as if the private entry point failed its self-test
    slow = [svm.solve_att_svm(i.X, i.Z, i.opt) for i in insts]
    assert len(calls) >= len(insts)
    for a, b in zip(fast, slow):
        assert b.kkt_residual < 1e-9
        np.testing.assert_allclose(b.W, a.W, rtol=1e-9, atol=1e-12)
        assert [s.tolist() for s in a.support] == [s.tolist() for s in b.support]
