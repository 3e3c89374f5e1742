"""Hypothesis property tests across modules on random small instances (n <= 4, T <= 4, d <= 5).

Instances are generic Gaussian data drawn from a hypothesis-chosen seed; infeasible
Att-SVMs are discarded with ``assume``. The largest residual of each kind and the
number of examples run are collected in ``STATS`` and written, at the end of the
module, to ``<pytest cache>/tfsvm-properties/stats.json`` (also printed) so the
book can quote them.
"""

from __future__ import annotations

import json
from collections import Counter

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from tfsvm import metrics, svm, tokens
from tfsvm.errors import InfeasibleError

STATS: dict[str, dict[str, float]] = {"examples": Counter(), "max_residual": {}}

SETTINGS = settings(max_examples=40, deadline=None, derandomize=True)

sizes = st.tuples(st.integers(1, 4), st.integers(2, 4), st.integers(1, 5))  # (n, T, d)
seeds = st.integers(0, 2**32 - 1)


def _record(name: str, value: float | None = None) -> None:
    """Count one example of ``name`` and keep the largest residual seen (if any)."""
    STATS["examples"][name] += 1
    if value is not None:
        STATS["max_residual"][name] = max(STATS["max_residual"].get(name, 0.0), float(value))


def _gaussian_instance(size: tuple[int, int, int], seed: int):
    """Generic Gaussian tokens, queries, labels, head and a random selection alpha."""
    n, T, d = size
    rng = np.random.default_rng(seed)
    X, Z, v = rng.standard_normal((n, T, d)), rng.standard_normal((n, d)), rng.standard_normal(d)
    Y = rng.choice([-1.0, 1.0], size=n)
    return X, Z, Y, v, rng.integers(0, T, size=n)


def _solve(X, Z, alpha, norm="fro"):
    """Solve the Att-SVM, discarding the example when it is infeasible."""
    try:
        return svm.solve_att_svm(X, Z, alpha, norm=norm)
    except InfeasibleError:
        assume(False)


def _rel(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.linalg.norm(a - b) / max(np.linalg.norm(b), 1e-300))


@pytest.fixture(scope="module", autouse=True)
def _write_stats(request):
    yield
    report = {"examples": dict(STATS["examples"]), "max_residual": STATS["max_residual"]}
    cache = getattr(request.config, "cache", None)
    if cache is not None:
        (cache.mkdir("tfsvm-properties") / "stats.json").write_text(json.dumps(report, indent=2))
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    with capture.global_and_fixture_disabled():
        print(f"\ntfsvm property statistics: {json.dumps(report)}")


@SETTINGS
@given(sizes, seeds)
def test_att_svm_margins_at_least_one_and_kkt_holds(size, seed):
    X, Z, _, _, alpha = _gaussian_instance(size, seed)
    sol = _solve(X, Z, alpha)
    shortfall = max(0.0, 1.0 - float(np.nanmin(sol.margins)))
    _record("margin_shortfall", shortfall)
    _record("kkt_residual", sol.kkt_residual)
    _record("duality_gap", abs(sol.duality_gap))
    assert shortfall <= 1e-8
    assert sol.kkt_residual <= 1e-6
    assert abs(sol.duality_gap) <= 1e-6


@SETTINGS
@given(sizes, seeds, st.sampled_from(["fro", "nuc"]))
def test_lemma1_row_space_of_svm_solution_in_span_of_queries(size, seed, norm):
    X, Z, _, _, alpha = _gaussian_instance(size, seed)
    W = _solve(X, Z, alpha, norm).W
    P_Z = np.linalg.pinv(Z) @ Z  # projector onto span{z_i}
    residual = float(np.linalg.norm(W - W @ P_Z) / np.linalg.norm(W))
    _record(f"lemma1_row_space_{norm}", residual)
    assert residual <= 1e-6


@SETTINGS
@given(sizes, seeds)
def test_att_svm_invariant_to_permuting_sequences(size, seed):
    X, Z, _, _, alpha = _gaussian_instance(size, seed)
    W = _solve(X, Z, alpha).W
    perm = np.random.default_rng(seed + 1).permutation(len(alpha))
    W_perm = svm.att_svm(X[perm], Z[perm], alpha[perm])
    _record("sequence_permutation", _rel(W_perm, W))
    assert _rel(W_perm, W) <= 1e-6


@SETTINGS
@given(sizes, seeds)
def test_att_svm_invariant_to_permuting_non_selected_tokens(size, seed):
    X, Z, _, _, alpha = _gaussian_instance(size, seed)
    W = _solve(X, Z, alpha).W
    rng = np.random.default_rng(seed + 2)
    X_perm = X.copy()
    for i, a in enumerate(alpha):
        others = np.flatnonzero(np.arange(X.shape[1]) != a)
        X_perm[i, others] = X[i, rng.permutation(others)]
    W_perm = svm.att_svm(X_perm, Z, alpha)
    _record("token_permutation", _rel(W_perm, W))
    assert _rel(W_perm, W) <= 1e-6


@SETTINGS
@given(sizes, seeds, st.floats(0.1, 10.0))
def test_att_svm_scaling_queries_by_c_scales_solution_by_inverse(size, seed, c):
    X, Z, _, _, alpha = _gaussian_instance(size, seed)
    W = _solve(X, Z, alpha).W
    W_scaled = svm.att_svm(X, c * Z, alpha)
    _record("query_scaling", _rel(c * W_scaled, W))
    assert _rel(c * W_scaled, W) <= 1e-6


@SETTINGS
@given(st.integers(1, 5), seeds, st.floats(0.01, 100.0))
def test_corr_symmetric_and_scale_invariant(d, seed, c):
    rng = np.random.default_rng(seed)
    A, B = rng.standard_normal((2, d, d))
    r = metrics.corr(A, B)
    residual = max(abs(metrics.corr(B, A) - r), abs(metrics.corr(c * A, B) - r), abs(metrics.corr(A, A) - 1.0))
    _record("corr_symmetry_scale", residual)
    assert -1.0 <= r <= 1.0
    assert residual <= 1e-12


@SETTINGS
@given(sizes, seeds)
def test_optimal_tokens_maximise_token_scores(size, seed):
    X, _, Y, v, _ = _gaussian_instance(size, seed)
    scores = tokens.token_scores(X, Y, v)
    opt = tokens.optimal_tokens(scores)
    np.testing.assert_allclose(scores, Y[:, None] * (X @ v))
    assert np.all(scores[np.arange(len(opt)), opt][:, None] >= scores)
    assert tokens.score_gap(scores) > 0
    _record("opt_consistency")


@SETTINGS
@given(sizes, seeds)
def test_definition2_opt_is_locally_optimal(size, seed):
    X, Z, Y, v, _ = _gaussian_instance(size, seed)
    scores = tokens.token_scores(X, Y, v)
    opt = tokens.optimal_tokens(scores)
    result = tokens.is_locally_optimal(X, Z, scores, opt)
    assume(result.feasible)
    _record("opt_locally_optimal")
    assert result.locally_optimal


@SETTINGS
@given(sizes, seeds)
def test_lemma5_locally_optimal_iff_direction_in_separating_cone(size, seed):
    X, Z, Y, v, alpha = _gaussian_instance(size, seed)
    scores = tokens.token_scores(X, Y, v)
    result = tokens.is_locally_optimal(X, Z, scores, alpha)
    assume(result.feasible)
    # Lemma 5 needs a support index in every sequence (see the edge case in test_tokens.py).
    assume(all(len(T_i) for T_i in result.solution.support))
    value = tokens.cone_eps_value(result.solution.W, X, Z, scores, alpha)
    _record("lemma5_cone")
    assert (value > 1e-9) == result.locally_optimal, value
