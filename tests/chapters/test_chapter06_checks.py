"""The numerical checks of chapter 6 (multi-token attention, A §6), at test size."""

from __future__ import annotations

import numpy as np

from tfsvm import heads
from tfsvm.experiments import lambda_head, multi_token


def test_gensvm_consistency_preserves_ratios_inside_selected_sets():
    comps = [multi_token.random_composition(3, 4, 6, seed) for seed in range(5)]
    out = multi_token.consistency(comps, radii=[0.0, 1.0, 10.0, 100.0])
    assert out["max_log_ratio_error"] < 1e-8


def test_gensvm_consistency_masked_probabilities_vanish_as_R_grows():
    comps = [multi_token.random_composition(3, 4, 6, seed) for seed in range(5)]
    largest = multi_token.consistency(comps, radii=[1.0, 10.0, 30.0, 60.0])["largest_masked"]
    assert all(b < a for a, b in zip(largest, largest[1:]))
    assert largest[-1] < 1e-20


def test_gensvm_with_one_selected_token_is_attsvm():
    assert multi_token.gensvm_equals_attsvm(n=3, T=4, d=6, trials=5, seed=0) < 1e-8


def test_project_to_simplex_is_the_euclidean_projection():
    rng = np.random.default_rng(0)
    y = 2 * rng.standard_normal((50, 7))
    p = heads.project_to_simplex(y)
    np.testing.assert_allclose(p.sum(-1), 1.0, atol=1e-12)
    assert np.all(p >= 0)
    # variational inequality of the projection: <y - p, q - p> <= 0 for every q in the simplex
    q = rng.dirichlet(np.ones(7), size=(200, 50))
    assert np.max(np.einsum("bt,kbt->kb", y - p, q - p)) < 1e-12
    np.testing.assert_allclose(heads.project_to_simplex(p), p, atol=1e-14)


def test_lemma6_oracle_agrees_with_cvxpy_and_has_between_2_and_tau_nonzeros():
    out = lambda_head.oracle_checks(trials=16, T=10, d=10, seed=0)
    assert out["max_abs_diff_cvxpy"] < 1e-6
    assert out["violations"] == 0
    assert out["min_support"] >= 2


def test_lemma6_oracle_at_lambda_zero_is_the_top_token():
    gamma = np.array([[0.3, -0.2, 0.9, 0.1]])
    np.testing.assert_array_equal(lambda_head.lemma6_oracle(gamma, 0.0), [[0.0, 0.0, 1.0, 0.0]])


def test_lemma6_support_grows_at_the_closed_form_thresholds():
    """The k-th token enters the support at λ_k = ½ Σ_{j<k} (γ_j − γ_k) (sorted scores)."""
    gamma = np.array([1.0, 0.7, 0.65, 0.1, -0.4])
    for k in range(1, 5):
        lam_k = 0.5 * np.sum(gamma[:k] - gamma[k])
        assert lambda_head.support_size(lambda_head.lemma6_oracle(gamma, lam_k * 0.999)) == k
        assert lambda_head.support_size(lambda_head.lemma6_oracle(gamma, lam_k * 1.001)) == k + 1


def test_one_sequence_logistic_and_correlation_losses_give_the_same_normalized_path():
    assert lambda_head.loss_paths_agree(trials=3, lam=0.5, steps=50) < 1e-10


def test_positive_labels_with_convex_head_select_one_token_and_gensvm_is_attsvm():
    cfg = {**multi_token.CONFIGS["smoke"], "labels": "ones", "batch": 12, "steps": 2000}
    col = multi_token.collect(4, kept=3, seed=0, config=cfg)
    assert len(col.instances) > 0
    for k in col.instances:
        assert np.all(k.selected.sum(-1) == 1)
        np.testing.assert_allclose(k.W_mm, k.W_one, atol=1e-8)
