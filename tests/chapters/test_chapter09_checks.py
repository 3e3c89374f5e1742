"""The claims of Chapter 9's open-problem probes, at test size (they illustrate; nothing here is a theorem of A)."""

from __future__ import annotations

import numpy as np
import pytest

from tfsvm import data, metrics, svm, tokens, training



@pytest.fixture(scope="module")
def instance():
    D = data.unit_sphere_data(n=4, T=4, d=6, seed=0, gap=0.1)
    return D, svm.att_svm(D.X, D.Z, D.opt), svm.att_svm(D.X, D.Z, D.opt, norm="nuc")


def _nuclear_per_margin(D, W):
    F, _ = svm.att_features(D.X, D.Z, D.opt)
    return np.linalg.svd(W, compute_uv=False).sum() / np.einsum("jab,ab->j", F, W).min()


def test_normalized_gd_on_w_keeps_aligning(instance):
    D, W_mm, _ = instance
    run = training.train(D, param="W", steps=900, lr=0.1, record=[300, 900])
    gap = metrics.one_minus_corr(run.W, W_mm)
    assert gap[1] < gap[0] < 0.05


def test_no_width_beats_the_convex_nuclear_svm(instance):
    D, _, W_star = instance
    nuc_star = np.linalg.svd(W_star, compute_uv=False).sum()
    for m in (1, 3):
        W = training.train(D, param="KQ", m=m, steps=400, lr=0.1).W[-1]
        assert _nuclear_per_margin(D, W) >= nuc_star * (1 - 1e-9)


def test_kq_with_enough_width_matches_the_nuclear_svm(instance):
    D, _, W_star = instance
    m = svm.numerical_rank(W_star)
    W = training.train(D, param="KQ", m=m, steps=1000, lr=0.1).W[-1]
    assert metrics.corr(W, W_star) > 0.99
    assert svm.numerical_rank(W, 1e-3) <= m


def test_random_starts_find_opt_more_often_in_higher_dimension():
    share = {}
    for d in (2, 8):
        Dd = data.unit_sphere_data(n=4, T=4, d=d, seed=d, trials=24, gap=0.1)
        run = training.train(Dd, steps=500, lr=0.1, init="default", seed=1)
        share[d] = tokens.convergence_fractions(tokens.classify_runs_batch(Dd.X, Dd.Z, Dd.scores, run.probs_final))["global"]
    assert share[8] > share[2]


def test_rate_probe_fits_one_slope_per_instance():
    from tfsvm import probes

    r = probes.rate_probe(probes.instances(2, seed=0), steps=600)
    for param in ("W", "KQ"):
        assert r[param]["curves"].shape == (2, len(r[param]["steps"]))
        assert r[param]["slope"].shape == (2,) and np.all(np.isfinite(r[param]["slope"]))
    assert np.all(r["W"]["slope"] < -0.5)  # W keeps aligning along a power law


def test_trained_model_generalizes_like_its_svm_on_the_planted_problem():
    from tfsvm import probes

    gen = probes.generalization_probe(sizes=(4, 32), repeats=2, steps=400, test_size=500)
    for n in ("4", "32"):
        assert all(c > 0.5 for c in gen["corr"][n])  # turning toward the SVM of its training set
        assert abs(np.mean(gen["gd"][n]) - np.mean(gen["svm"][n])) < 0.1
    assert np.mean(gen["gd"]["32"]) > np.mean(gen["gd"]["4"]) > 0.25  # learns, above chance


def test_two_heads_specialize_only_when_their_values_differ():
    from tfsvm import probes

    heads = probes.two_head_probe(probes.instances(1, seed=0), steps=400)
    shared, opposite = heads["shared"][0], heads["opposite"][0]
    assert shared["corr_12"] > 0.9
    assert opposite["corr_12"] < 0.5
    assert opposite["head1_opt"] and opposite["head2_own_opt"]
