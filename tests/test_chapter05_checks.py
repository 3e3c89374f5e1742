"""Chapter 5 (A §5): the numerical checks of the chapter, at a smaller size."""

from __future__ import annotations

import numpy as np

from tfsvm import data, tokens
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
