"""Chapter 5 (A §5): the numerical checks of the chapter, at a smaller size."""

from __future__ import annotations

import numpy as np

from tfsvm import data, metrics, tokens
from tfsvm.experiments import local_convergence as lc
from tfsvm.experiments import run_experiment


def test_definition2_single_input_example_token1_is_locally_optimal_only_in_local_dataset():
    toy = lc.two_token_example()
    assert tokens.is_locally_optimal(toy.X, toy.Z, toy.scores, [1]).locally_optimal
    X3 = np.array([[[-0.1, 1.0, 1.0], [1.0, 0.0, 0.9], [0.0, 0.0, 0.9]]])
    glob = data.AttentionData(X3, np.array([[1.0, 0.0, 0.0]]), np.ones(1), np.array([0.0, 0.0, 1.0]))
    assert not tokens.is_locally_optimal(glob.X, glob.Z, glob.scores, [1]).locally_optimal


def test_single_input_example_has_a_global_and_a_local_basin():
    basins = run_experiment("prompt_single_input", scale="book").results
    assert set(basins["global"]["selected"]) == {0}
    assert set(basins["local"]["selected"]) == {0, 1}


def test_theorem7_runs_select_locally_optimal_tokens_and_align_with_their_svm():
    res = lc.run({"n": 6, "T": 8, "d": 10, "trials": 3, "steps": 600, "lr": 0.1, "record_every": 100})
    assert res["locally_optimal"]["KQ"] == 1.0
    assert res["max_prob"]["KQ"] > 0.99
    assert res["corr_nuc"]["KQ"] > res["corr_fro"]["KQ"]
    assert res["corr_fro"]["W"] > res["corr_nuc"]["W"]


def test_assumption_d_forbids_runs_ending_at_a_non_global_locally_optimal_selection():
    census = lc.conjecture_census(n=3, T=3, ds=[3, 12], trials=6, steps=200, seed=7)
    assert all(c["local_under_d"] == 0 for c in census.values())
    assert all(0.0 <= c["b1_and_d"] <= min(c["b1"], c["d"]) for c in census.values())


def test_lemma5_cone_membership_matches_local_optimality_except_empty_support_sets():
    check = lc.lemma5_agreement(n=2, T=3, d=3, trials=15, seed=3)
    assert check["checked"] > 0
    assert check["disagree"] == check["disagree_empty_support"]


def test_theorem9_local_regularization_path_converges_to_the_local_svm_direction():
    toy = lc.two_token_example()
    path = lc.local_path(toy, np.array([1]), [4, 32, 128], eps=0.01, grid=801)
    assert np.all(path["cone_value"] >= 0.01 - 1e-9)
    assert np.all(np.diff(path["misalign"]) < 0)
    assert path["misalign"][-1] < 1e-6


def test_cone_samples_lie_in_the_cone_of_eq4():
    V = np.random.default_rng(1).standard_normal((4, 4))
    W = lc.cone_samples(V, mu=0.05, R=3.0, count=200, seed=0)
    c = metrics.corr(W, V)
    norms = np.linalg.norm(W, axis=(-2, -1))
    assert np.all(c >= 0.95 - 1e-12) and np.all(c <= 1 + 1e-12)
    assert np.all(norms >= 3.0 - 1e-12) and np.all(norms <= 6.0 + 1e-12)
    assert tokens.in_cone(W, V, 0.05, 3.0).all()


def test_theorem7_t1_and_t2_on_the_cone_example():
    inst, alpha = lc.cone_example()
    assert tokens.is_locally_optimal(inst.X, inst.Z, inst.scores, alpha).locally_optimal
    assert not np.array_equal(alpha, inst.opt)
    cos = lc.t1_gradient_cosines(inst, alpha, [1e-3, 1e-2, 0.3], R=20, count=100, seed=0)
    assert max(cos["max_cos"][:2]) < 0          # (T1): no sample of the narrow cones is stationary
    assert cos["max_cos"][2] > cos["max_cos"][1]  # the margin shrinks toward a wider cone's edge
    run = lc.gd_from_cone(inst, alpha, 0.01, R=20, starts=4, steps=1000, lr=0.1, seed=0)
    assert run["selects_alpha"].all()            # (T2): every start keeps alpha ...
    assert np.all(run["corr"][:, -1] > 0.995)    # ... and turns toward W_alpha^mm
    assert np.all(run["corr"][:, -1] > run["corr"][:, 0])
