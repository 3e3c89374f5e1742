"""The numerical checks of Chapter 3 (the regularization path), at test size.

Lemma 2 (the infimum L* is approached only along separating directions), Theorem 2 (the W and
(K,Q) regularization paths converge to W^mm and W*^mm / C*), Lemma 15 for the (K,Q) path, Lemma 3
(rank constraint), Figure 1 (GD follows the same directions) and the zero-column padding used for
Figure 10.
"""

from __future__ import annotations

import numpy as np
import pytest

from tfsvm import data, metrics, svm, training
from tfsvm.errors import SolverError
from tfsvm.experiments import gd_paths_2d, rank_sensitivity


@pytest.fixture(scope="module")
def problem():
    inst = data.unit_sphere_data(n=3, T=4, d=4, seed=0)
    W_fro = svm.att_svm(inst.X, inst.Z, inst.opt, norm="fro")
    W_nuc = svm.att_svm(inst.X, inst.Z, inst.opt, norm="nuc")
    return inst, W_fro, W_nuc


def test_lemma2_loss_above_infimum_and_approaches_it_along_w_mm(problem):
    inst, W_fro, _ = problem
    l2 = gd_paths_2d.lemma2_check(inst, W_fro, radii=[1, 4, 16, 32], samples=50, seed=1)
    assert l2["min_excess_random"] > 0
    ex = l2["excess_along"]
    assert all(b < a for a, b in zip(ex, ex[1:]))  # decreasing along R W^mm
    assert ex[-1] < 1e-12
    assert l2["bound_slack"] >= -1e-12  # s_opt(R W^mm) >= 1 / (1 + (T-1) e^{-R})
    assert l2["min_margin"] >= 1 - 1e-9


def test_theorem2_both_regularization_paths_converge_to_their_svm(problem):
    inst, W_fro, W_nuc = problem
    al = gd_paths_2d.path_alignment(inst, [10.0, 100.0, 1000.0], W_fro, W_nuc, seed=0)
    assert al["W_fro"][-1] < 1e-4
    assert al["KQ_nuc"][-1] < 1e-4
    assert al["W_fro"][-1] < al["W_fro"][0] and al["KQ_nuc"][-1] < al["KQ_nuc"][0]
    cross = metrics.one_minus_corr(W_fro, W_nuc)
    assert cross > 1e-2  # the two SVMs differ on this instance ...
    assert al["W_nuc"][-1] > 0.5 * cross and al["KQ_fro"][-1] > 0.5 * cross  # ... and each path picks its own
    assert al["dist_W"][-1] < 1e-2 and al["dist_KQ"][-1] < 1e-2


def test_lemma15_kq_path_lies_on_the_nuclear_sphere(problem):
    inst, W_fro, W_nuc = problem
    al = gd_paths_2d.path_alignment(inst, [5.0, 50.0], W_fro, W_nuc, seed=0)
    np.testing.assert_allclose(al["nuc_norm_KQ"], [5.0, 50.0], rtol=1e-9)
    np.testing.assert_allclose(al["fro_norm_W"], [5.0, 50.0], rtol=1e-9)


def test_lemma3_rank_constraint_is_harmless_at_the_rank_of_the_convex_solution(problem):
    inst, _, W_nuc = problem
    r = svm.numerical_rank(W_nuc)
    W_r = svm.att_svm(inst.X, inst.Z, inst.opt, norm="nuc", rank=r)
    np.testing.assert_allclose(np.linalg.norm(W_r, "nuc"), np.linalg.norm(W_nuc, "nuc"), rtol=1e-8)
    if r > 1:
        with pytest.raises(SolverError):
            svm.att_svm(inst.X, inst.Z, inst.opt, norm="nuc", rank=r - 1)


def test_figure1_each_parameterization_follows_its_own_svm():
    res = gd_paths_2d.run(gd_paths_2d.CONFIGS["book"], seed=0)
    assert res["corr_W_fro"] > 0.98
    assert res["corr_KQ_nuc"] > 0.99
    assert res["corr_W_fro"] > res["corr_W_nuc"]
    assert res["corr_KQ_nuc"] > res["corr_KQ_fro"]
    curve = res["curve_W_fro"]
    assert curve[-1] > curve[len(curve) // 2]  # still improving


def test_zero_columns_stay_zero_so_padded_runs_equal_rank_m_runs():
    inst = data.unit_sphere_data(3, 4, 6, seed=2, trials=2)
    K0, Q0 = rank_sensitivity.initial_factors(2, 6, 4, seed=3)
    m = 2
    Kp, Qp = K0.copy(), Q0.copy()
    Kp[:, :, m:] = 0.0
    Qp[:, :, m:] = 0.0
    padded = training.train(inst, param="KQ", steps=200, lr=0.1, init=(Kp, Qp))
    small = training.train(inst, param="KQ", steps=200, lr=0.1, init=(K0[:, :, :m].copy(), Q0[:, :, :m].copy()))
    assert np.all(padded.K[:, :, m:] == 0) and np.all(padded.Q[:, :, m:] == 0)
    np.testing.assert_allclose(padded.W_final, small.W_final, rtol=1e-10, atol=1e-10)


def test_figure10_small_rank_misaligns_and_enough_rank_aligns():
    cfg = {"d": 8, "ms": [1, 4], "settings": [[3, 4]], "trials": 3, "steps": 600, "lr": 0.1}
    res = rank_sensitivity.run(cfg, seed=0)
    vals = res["n3_T4"]
    assert vals["4"] < vals["1"]
    assert vals["4"] < 0.05
    assert res["svm_failed"] == 0
