"""Chapter 4 (A §4): the numerical checks of the chapter, at a smaller size."""

from __future__ import annotations

import numpy as np

from tfsvm import checks, data, gradients, svm, tokens


def test_lemma8_plain_gd_with_step_one_over_LW_decreases_the_loss_monotonically():
    inst = data.unit_sphere_data(n=3, T=4, d=5, seed=4, gap=0.1)
    check = checks.lemma8_descent(inst, steps=300)
    assert check["L_W"] > 0
    assert check["max_increase"] <= 1e-14
    assert check["min_slack"] >= -1e-12


def test_equal_scores_data_satisfies_assumption_b2_and_spread_breaks_it():
    assert tokens.assumption_b2(data.equal_scores_data(n=3, T=4, d=5, seed=1).scores)
    assert not tokens.assumption_b2(data.equal_scores_data(n=3, T=4, d=5, seed=1, spread=0.05).scores)


def test_lemma9_gradient_is_anticorrelated_with_wmm_under_b2_at_moderate_norms():
    b2 = data.equal_scores_data(n=3, T=4, d=5, seed=1)
    W_mm = svm.att_svm(b2.X, b2.Z, b2.opt)
    for radius in (0.5, 2.0, 8.0):
        assert checks.gradient_inner_products(b2, W_mm, radius=radius, samples=200, seed=2).max() < 0


def test_theorem3_4_plain_gd_norm_grows_and_normalized_gd_aligns_with_wmm_under_b2():
    b2 = data.equal_scores_data(n=3, T=4, d=5, seed=1)
    runs = checks.directional_run(b2, steps=800, plain_steps=2000, lr=0.1, inits=3, init_scale=2.0, seed=3)
    assert np.all(runs["plain_norm"][:, -1] > runs["plain_norm"][:, 0])
    assert np.all(runs["plain_misalign"][:, -1] < runs["plain_misalign"][:, 0])
    assert runs["ngd_misalign"][:, -1].max() < 1e-2


def test_theorem5_nearly_equal_scores_still_converge_to_wmm():
    near = data.equal_scores_data(n=3, T=4, d=5, seed=1, spread=0.05)
    runs = checks.directional_run(near, steps=800, plain_steps=10, lr=0.1, inits=3, init_scale=2.0, seed=3)
    assert runs["ngd_misalign"][:, -1].max() < 1e-2


def test_theorem6_gd_from_zero_converges_to_wmm_under_assumption_c_and_the_control_can_fail():
    pool = data.unit_sphere_data(n=3, T=4, d=4, seed=5, trials=120, gap=0.1)
    check = checks.theorem6_check(pool, steps=800, lr=0.1)
    c = check["c_holds"]
    assert c.any() and (~c).any()
    assert check["global"][c].all()
    assert check["misalign"][c].max() < 1e-2
    # control: without Assumption C some runs from W(0) = 0 end away from W^mm (the check can fail)
    assert not check["global"][~c].all()
    assert check["misalign"][~c].max() > 0.1


def test_b2_counterexample_makes_the_lemma9_sign_positive_only_without_b2():
    wide = data.equal_scores_data(n=4, T=5, d=6, seed=1, spread=0.45)
    W_wide = svm.att_svm(wide.X, wide.Z, wide.opt)
    W, pairs = checks.b2_counterexample(wide, W_wide)
    assert any(p is not None for p in pairs)
    assert np.sum(gradients.grad_W(wide.X, wide.Z, wide.Y, wide.v, W) * W_wide) > 0
    b2 = data.equal_scores_data(n=4, T=5, d=6, seed=1)
    W_b2 = svm.att_svm(b2.X, b2.Z, b2.opt)
    W, pairs = checks.b2_counterexample(b2, W_b2)
    assert pairs == [None] * b2.n
    assert np.sum(gradients.grad_W(b2.X, b2.Z, b2.Y, b2.v, W) * W_b2) < 0


def test_run_classification_is_stable_between_half_and_full_training():
    inst = checks.figure5_instances(n=5, T=5, d=10, trials=10, gap=0.1, seed=0)
    final, half = checks.classify_gd_runs(inst, "W", steps=300, lr=0.1, seed=1)
    assert np.mean(final == half) >= 0.8
