"""The numerical checks of Chapter 2 (optimal tokens and the attention SVM), at test size.

Definition 1, the hard-margin-SVM form of (Att-SVM) and its KKT conditions, Theorems 1 and 8
(feasibility for every selection when d >= max(T-1, n)), Lemma 15 (factorization identity),
Lemma 1 (rank and row space), and one cell of Figure 4.
"""

from __future__ import annotations

import numpy as np
import pytest

from tfsvm import checks, data, svm, tokens
from tfsvm.errors import InfeasibleError, TieError
from tfsvm.experiments import run_experiment


def test_definition1_opt_is_the_highest_score():
    inst = data.unit_sphere_data(3, 4, 5, seed=1)
    scores = tokens.token_scores(inst.X, inst.Y, inst.v)
    np.testing.assert_allclose(scores, inst.Y[:, None] * (inst.X @ inst.v))
    np.testing.assert_array_equal(tokens.optimal_tokens(scores), np.argmax(scores, axis=1))


def test_definition1_ties_are_refused_and_noise_removes_them():
    base = data.unit_sphere_data(3, 4, 5, seed=1)
    X = np.array(base.X)
    top = int(np.argmax(base.scores[0]))
    X[0, (top + 1) % 4] = X[0, top]
    with pytest.raises(TieError):
        tokens.optimal_tokens(tokens.token_scores(X, base.Y, base.v))
    noisy = X + 1e-6 * np.random.default_rng(0).standard_normal(X.shape)
    tokens.optimal_tokens(tokens.token_scores(noisy, base.Y, base.v))  # no error


def test_att_svm_is_a_hard_margin_svm_with_kkt_structure():
    kkt = checks.kkt_census(n=4, T=4, d=6, instances=5, seed=0)
    assert kkt["kkt"] < 1e-9
    assert kkt["reconstruction"] < 1e-9  # W^mm = sum lambda_it F_it
    assert kkt["slack_dual"] < 1e-9  # lambda = 0 off the margin
    assert kkt["min_margin"] > 1 - 1e-9


def test_decoupling_with_orthonormal_queries():
    assert checks.decoupling_error(n=3, T=5, d=6, seed=0) < 1e-8


@pytest.mark.parametrize("n,T,d", [(3, 4, 3), (2, 5, 4), (4, 3, 4)])
def test_theorem8_every_selection_is_feasible_when_d_is_large(n, T, d):
    assert d >= max(T - 1, n)
    census = checks.feasibility_census(n, T, d, datasets=2, seed=0)
    assert census["feasible"] == census["pairs"] == 2 * T**n
    assert census["min_feature_rank"] == census["needed_rank"] == n * (T - 1)


def test_theorem1_self_attention_is_covered():
    census = checks.feasibility_census(3, 4, 3, datasets=2, seed=0, self_attention=True)
    assert census["feasible"] == census["pairs"]


def test_below_the_threshold_some_selections_are_infeasible():
    census = checks.feasibility_census(3, 4, 2, datasets=3, seed=0)
    assert census["feasible"] < census["pairs"]


def test_unit_norm_tokens_are_separable_once_d_reaches_n():
    census = checks.feasibility_census(2, 6, 2, datasets=2, seed=0)  # d = n < T - 1
    assert census["feasible"] == census["pairs"]


def test_infeasible_svm_raises_with_the_sequences():
    inst = data.unit_sphere_data(6, 4, 3, seed=2)
    with pytest.raises(InfeasibleError) as err:
        svm.att_svm(inst.X, inst.Z, inst.opt)
    assert err.value.sequences


def test_lemma15_factorization_identity():
    fac = checks.factorization_census(d=5, rank=2, samples=50, seed=0)
    assert fac["balanced_gap"] < 1e-12
    assert fac["min_ratio_other"] >= 1 - 1e-12
    assert fac["min_ratio_random"] >= 1 - 1e-12


def test_lemma1_rank_at_most_n_and_row_space_in_span_of_queries():
    n = 3
    l1 = checks.lemma1_census(n=n, T=4, d=5, instances=3, seed=0)
    assert l1["rank_fro"] <= n and l1["rank_nuc"] <= n
    assert l1["row_fro"] < 1e-10
    assert l1["row_nuc"] < 1e-7
    assert l1["fro_gap"] >= -1e-8 and l1["nuc_gap"] >= -1e-6  # each optimal for its own norm
    assert l1["reduced_gap"] < 1e-7  # the reduced SDP has the same value


def test_figure4_cell_ranks_and_feasibility():
    cells = run_experiment("rank", scale="smoke", settings=[[5, 5]], ds=[1, 10], trials=3).results["n5_T5"]
    cell, empty = cells["10"], cells["1"]
    assert cell["feasible"] == 1.0
    assert cell["rank_fro"] == 5.0  # min(n, d)
    assert cell["rank_nuc"] <= 5.0
    assert empty["feasible"] == 0.0 and empty["rank_fro"] is None and empty["rank_nuc"] is None
