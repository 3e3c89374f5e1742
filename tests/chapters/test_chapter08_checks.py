"""Numerical checks of Chapter 8 (paper B: p-SVM, v-SVM, joint p-SVM, B's toy experiments), at test size."""

from __future__ import annotations

import numpy as np
import pytest

from tfsvm import data, metrics, svm, training
from tfsvm.experiments import prompt_single_input



def test_single_input_global_p_svm_matches_b():
    D = data.prompt_single_input_data("global")
    p = svm.p_svm(D.keys, [0])
    np.testing.assert_allclose(p[:2], np.array([-0.1, 1.0]) / 1.01, atol=1e-12)  # direction (-0.099, 0.9901)
    assert 0.5 * p @ p == pytest.approx(0.49505, abs=5e-6)


def test_single_input_local_p_svm_matches_b():
    D = data.prompt_single_input_data("local")
    info = prompt_single_input.selection_svm(D, 1)
    np.testing.assert_allclose(info["p"], [1.0, 0.0, 0.0], atol=1e-12)
    assert info["half_norm_sq"] == pytest.approx(0.5, abs=1e-12)
    assert info["support"] == [2]


def test_token_two_is_locally_optimal_only_in_the_local_dataset():
    assert prompt_single_input.selection_svm(data.prompt_single_input_data("local"), 1)["locally_optimal"]
    assert not prompt_single_input.selection_svm(data.prompt_single_input_data("global"), 1)["locally_optimal"]
    for case in prompt_single_input.CASES:  # the optimal token always passes
        assert prompt_single_input.selection_svm(data.prompt_single_input_data(case), 0)["locally_optimal"]


def test_low_initialisations_converge_to_the_local_direction():
    D = data.prompt_single_input_data("local")
    p0 = np.array([prompt_single_input.INITS[0], prompt_single_input.INITS[-1]])
    tr = training.train_prompt(D, p0=p0, steps=300, rule="normalized_eps")
    assert list(np.argmax(tr.probs[-1][:, 0], axis=-1)) == [0, 1]
    assert metrics.corr(tr.p[-1, 1], np.array([1.0, 0.0, 0.0])) > 0.999


def test_exact_descent_direction_points_to_the_local_svm():
    D = data.prompt_single_input_data("local")
    u = prompt_single_input.exact_descent_direction(D, np.array([38.0, -0.8, 0.0]))
    assert u[0] > 0.999  # an exact step keeps moving along (1, 0)


def test_joint_p_svm_tight_is_unrelaxed():
    D = data.joint_training_data(tight=True)
    sol = svm.joint_p_svm(D.X, D.Y, [1, 1, 1])
    np.testing.assert_allclose(sol.p, [4 / 3, 1 / 3], atol=1e-10)
    assert 0.5 * sol.p @ sol.p == pytest.approx(0.94444, abs=5e-6)
    np.testing.assert_allclose(sol.v / np.linalg.norm(sol.v), [0.0, 1.0], atol=1e-10)
    assert list(sol.support) == [0, 1, 2]


def test_joint_p_svm_non_tight_is_relaxed():
    D = data.joint_training_data(tight=False)
    sol = svm.joint_p_svm(D.X, D.Y, [1, 1, 1])
    assert list(sol.support) == [0, 1]
    np.testing.assert_allclose(sol.p, [1.0, 0.0], atol=1e-10)
    np.testing.assert_allclose(svm.p_svm(D.keys, [1, 1, 1]), [1.25, 0.25], atol=1e-10)


def test_loss_comparison_p_mm_is_independent_of_c():
    for C in (1.0, 7.0, 100.0):
        D = data.loss_comparison_data(C)
        np.testing.assert_allclose(svm.p_svm(D.keys, D.opt), [1.0, 0.0, 0.0], atol=1e-10)


def test_multi_input_p_svm_certificate():
    D = data.prompt_multi_input_data(seed=0)
    res = svm.p_svm(D.keys, D.opt, full_output=True)
    assert res.kkt_residual < 1e-9
    assert np.min(res.margins) >= 1 - 1e-9


def test_local_paths_end_only_at_locally_optimal_directions():
    """B's Theorem 4 as cited by A, on the four-token example: only the locally-optimal path reaches its SVM."""
    from tfsvm.experiments import prompt_single_input as ps

    eps_values = [0.01, 0.1]
    limits = ps.local_path_limits(ps.theorem4_example(), eps_values, radii=[10, 100])
    assert [e["locally_optimal"] for e in limits] == [True, False, False, False]
    assert max(limits[0]["misalign"]) < 1e-8
    for e in limits[1:3]:
        assert all(m > 1e-6 for m in e["misalign"])          # stops short of W_alpha^mm ...
        assert e["misalign"][0] < e["misalign"][1]            # ... by more for a wider margin eps
        assert np.allclose(e["cone_value"], eps_values, rtol=1e-4)  # pinned to the cone's edge
    assert limits[3]["cone_empty"] and "misalign" not in limits[3]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_w_svm_of_a_fixed_query_is_the_lifted_p_svm(seed):
    from tfsvm import data
    from tfsvm.experiments import prompt_single_input as ps

    D = data.unit_sphere_data(3, 4, 10, seed=seed)  # d >= n(T - 1): the shared-query SVM is feasible
    p = np.random.default_rng(seed).standard_normal(10)
    r = ps.fixed_query_w_svm(D.X, p, D.opt)
    assert r["max_abs_diff"] < 1e-8
    assert r["rank"] == 1
    assert np.isclose(r["norm_att"], r["norm_lift"], rtol=1e-8)
