"""Hypothesis property tests of the exact Frobenius Att-SVM solver (tfsvm.svm).

Random small instances (n <= 4, T <= 4, d <= 5, generic Gaussian data); infeasible
draws are discarded with ``assume``. Checked: margins, KKT residual and duality gap;
uniqueness-based invariances (permuting sequences, permuting non-selected tokens);
the 1/c scaling of W^mm when Z is scaled by c.
"""

from __future__ import annotations


import numpy as np
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from tfsvm import svm

settings.register_profile(
    "svm",
    max_examples=50,
    deadline=None,
    suppress_health_check=[HealthCheck.filter_too_much, HealthCheck.too_slow],
    derandomize=True,
)
SVM_SETTINGS = settings.get_profile("svm")

instances = st.tuples(
    st.integers(1, 4),  # n
    st.integers(2, 4),  # T
    st.integers(1, 5),  # d
    st.integers(0, 2**31 - 1),  # seed
)


def draw(n, T, d, seed):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, T, d))
    Z = rng.standard_normal((n, d))
    alpha = rng.integers(0, T, n)
    return X, Z, alpha, rng


def solve_or_discard(X, Z, alpha):
    try:
        return svm.solve_att_svm(X, Z, alpha)
    except svm.InfeasibleError:
        assume(False)


def rel(A, B):
    return np.linalg.norm(A - B) / max(np.linalg.norm(B), 1e-300)


@settings(SVM_SETTINGS)
@given(instances)
def test_margins_kkt_gap(inst):
    X, Z, alpha, _ = draw(*inst)
    sol = solve_or_discard(X, Z, alpha)
    assert np.nanmin(sol.margins) >= 1 - 1e-8
    assert sol.kkt_residual <= 1e-8
    assert sol.duality_gap <= 1e-8
    n = X.shape[0]
    recon = np.einsum("nt,ntd,ne->de", sol.duals, X[np.arange(n), alpha][:, None, :] - X, Z)
    assert rel(recon, sol.W) <= 1e-8
    # every support sequence has a tight constraint; positive multipliers only on tight rows
    with np.errstate(invalid="ignore"):
        loose = np.nan_to_num(sol.margins, nan=np.inf) > 1 + 1e-6
    assert np.all(sol.duals[loose] == 0)


@settings(SVM_SETTINGS)
@given(instances)
def test_invariant_to_permuting_sequences(inst):
    X, Z, alpha, rng = draw(*inst)
    sol = solve_or_discard(X, Z, alpha)
    perm = rng.permutation(X.shape[0])
    W2 = svm.att_svm(X[perm], Z[perm], alpha[perm])
    assert rel(W2, sol.W) <= 1e-8


@settings(SVM_SETTINGS)
@given(instances)
def test_invariant_to_permuting_non_selected_tokens(inst):
    X, Z, alpha, rng = draw(*inst)
    sol = solve_or_discard(X, Z, alpha)
    n, T, _ = X.shape
    Xp = X.copy()
    alpha_p = alpha.copy()
    for i in range(n):
        perm = rng.permutation(T)
        Xp[i] = X[i, perm]
        alpha_p[i] = int(np.flatnonzero(perm == alpha[i])[0])
    W2 = svm.att_svm(Xp, Z, alpha_p)
    assert rel(W2, sol.W) <= 1e-8


@settings(SVM_SETTINGS)
@given(instances, st.floats(0.05, 20.0))
def test_scaling_queries(inst, c):
    X, Z, alpha, _ = draw(*inst)
    sol = solve_or_discard(X, Z, alpha)
    W2 = svm.att_svm(X, c * Z, alpha)
    assert rel(W2, sol.W / c) <= 1e-8


@settings(SVM_SETTINGS)
@given(instances)
def test_batch_agrees_with_single(inst):
    n, T, d, seed = inst
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((3, n, T, d))
    Z = rng.standard_normal((3, n, d))
    alpha = rng.integers(0, T, (3, n))
    W, feasible = svm.att_svm_batch(X, Z, alpha)
    for k in range(3):
        try:
            Wk = svm.att_svm(X[k], Z[k], alpha[k])
        except svm.InfeasibleError:
            assert not feasible[k] and np.all(np.isnan(W[k]))
            continue
        assert feasible[k] and rel(W[k], Wk) <= 1e-10
