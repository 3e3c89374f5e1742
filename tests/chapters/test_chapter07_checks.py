"""Numerical checks of Chapter 7 (A §7, eqs. (10)-(11), App. D), at test size."""

from __future__ import annotations

import numpy as np

from tfsvm import data, svm
from tfsvm.experiments import sequential_causal



def test_seq_svm_with_one_query_is_att_svm():
    D = data.unit_sphere_data(n=4, T=5, d=6, seed=3)
    W_att = svm.att_svm(D.X, D.Z, D.opt)
    W_seq = svm.seq_svm(D.X, D.Z[:, None, :], D.opt[:, None])
    np.testing.assert_allclose(W_seq, W_att, atol=1e-9)


def test_causal_svm_with_two_tokens_is_att_svm_on_last_query():
    D = data.sequence_data(n=3, T=2, d=4, seed=5)
    a = D.opt(causal=True)
    np.testing.assert_allclose(svm.causal_svm(D.X, D.X, a), svm.att_svm(D.X, D.X[:, 1], a[:, 1]), atol=1e-9)


def test_causal_svm_has_half_the_constraints_and_none_at_position_one():
    n, T = 3, 5
    D = data.sequence_data(n=n, T=T, d=15, seed=1)
    rows = svm.causal_svm(D.X, D.X, D.opt(causal=True), full_output=True).info["rows"]
    assert len(rows) == n * T * (T - 1) // 2
    assert not np.any(rows[:, 1] == 0)
    assert np.all(rows[:, 2] <= rows[:, 1])  # only visible tokens t <= k are constrained


def test_causal_svm_is_a_relaxation_of_the_sequential_svm():
    D = data.sequence_data(n=2, T=4, d=8, seed=2)
    a = D.opt(causal=True)
    assert np.linalg.norm(svm.causal_svm(D.X, D.X, a)) <= np.linalg.norm(svm.seq_svm(D.X, D.X, a)) + 1e-9


def test_causal_svm_row_space_excludes_the_first_query():
    n, T, d = 2, 4, 8
    D = data.sequence_data(n=n, T=T, d=d, seed=4)
    W = svm.causal_svm(D.X, D.X, D.opt(causal=True))
    Q = np.linalg.qr(D.X[:, 1:].reshape(-1, d).T)[0]
    assert np.linalg.norm(W - W @ Q @ Q.T) <= 1e-8 * np.linalg.norm(W)


def test_constraint_pattern_matches_the_causal_mask():
    opt = np.array([0, 0, 2, 1])
    pat = sequential_causal.constraint_pattern(opt, causal=True)
    assert int(np.sum(pat == 1)) == 4 * 3 // 2
    assert np.all(pat[np.triu_indices(4, k=1)] == 0)


def test_normalized_gd_aligns_with_the_svm_of_the_selected_tokens():
    res = sequential_causal.run({**sequential_causal.CONFIGS["smoke"], "steps": 600})
    for mode in sequential_causal.MODES:
        assert res[mode]["final_corr_min"] > 0.97, mode
        curve = np.asarray(res[mode]["one_minus_corr"][0])
        assert curve[-1] < curve[1]  # misalignment decreases along the path


def test_corollary2_each_parameterization_follows_its_own_svm():
    """W aligns with the Frobenius (SAtt-SVM), K Qᵀ with the nuclear one, for both masks (Corollary 2 of A)."""
    cell = sequential_causal.grid_cell(2, 3, 6, trials=3, steps=1500, lr=0.1, seed=11)
    for mode in sequential_causal.MODES:
        W_run, KQ_run = cell[mode]["W"], cell[mode]["KQ"]
        assert min(W_run["corr_fro"]) > 0.99, mode
        assert min(KQ_run["corr_nuc"]) > 0.99, mode
        # each run is closer to its own SVM than to the other one, on every dataset
        assert all(f > n for f, n in zip(W_run["corr_fro"], W_run["corr_nuc"])), mode
        assert all(n > f for f, n in zip(KQ_run["corr_fro"], KQ_run["corr_nuc"])), mode
