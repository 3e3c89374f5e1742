"""Tests of tfsvm.tokens: Definitions 1-3, Assumptions B-D, Lemma 5 and run classification (paper A)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from tfsvm import attention, data, metrics, svm, tokens, training
from tfsvm.errors import OptionError, TieError

# B's single-input example: three 2-D keys; with one query z = e1 the Att-SVM is B's
# p-SVM with p = W z (the second column of W is free and vanishes at the optimum).
B_KEYS = np.array([[[-0.1, 1.0], [1.0, 0.0], [0.0, 0.0]]])
B_QUERY = np.array([[1.0, 0.0]])
B_SCORES_LOCAL = np.array([[1.0, 0.9, 0.0]])  # token 1 beats its only support index (token 2)
B_SCORES_GLOBAL = np.array([[1.0, 0.9, 0.9]])  # token 2 now ties token 1


def _instance(n: int, T: int, d: int, seed: int) -> data.AttentionData:
    return data.unit_sphere_data(n, T, d, seed=seed, gap=0.1)


# --------------------------------------------------------------------------- Definition 1


def test_definition1_scores_are_label_times_head_projection():
    inst = _instance(3, 4, 5, seed=0)
    expected = inst.Y[:, None] * np.einsum("ntd,d->nt", inst.X, inst.v)
    np.testing.assert_allclose(tokens.token_scores(inst.X, inst.Y, inst.v), expected)


def test_definition1_batched_scores_match_per_trial_scores():
    inst = data.unit_sphere_data(2, 3, 4, seed=1, trials=3)
    batched = tokens.token_scores(inst.X, inst.Y, inst.v)
    for b in range(3):
        v_b = inst.v[b] if np.ndim(inst.v) == 2 else inst.v
        np.testing.assert_allclose(batched[b], tokens.token_scores(inst.X[b], inst.Y[b], v_b))


def test_definition1_optimal_token_is_strict_argmax():
    scores = np.array([[0.1, 0.7, -0.2], [0.5, 0.4, 0.45]])
    np.testing.assert_array_equal(tokens.optimal_tokens(scores), [1, 0])


def test_definition1_tie_raises_and_names_the_tied_sequences():
    scores = np.array([[1.0, 1.0, 0.0], [0.0, 2.0, 1.0], [0.3, 0.2, 0.3]])
    with pytest.raises(TieError, match=r"\[0, 2\]"):
        tokens.optimal_tokens(scores)


def test_definition1_scores_within_tol_count_as_tie():
    scores = np.array([[1.0, 1.0 - 1e-9, 0.0]])
    assert tokens.optimal_tokens(scores)[0] == 0
    with pytest.raises(TieError, match=r"\[0\]"):
        tokens.optimal_tokens(scores, tol=1e-6)


def test_score_gap_is_smallest_top_two_difference():
    scores = np.array([[1.0, 0.7, 0.2], [0.5, 0.45, -1.0]])
    assert tokens.score_gap(scores) == pytest.approx(0.05)


def test_generated_data_respects_its_score_gap():
    inst = _instance(4, 5, 6, seed=2)
    assert tokens.score_gap(inst.scores) >= 0.1
    np.testing.assert_array_equal(tokens.optimal_tokens(inst.scores), inst.opt)


# --------------------------------------------------------------------------- Definition 2 on B's example


def test_B_example_local_token_is_locally_optimal_and_not_global():
    result = tokens.is_locally_optimal(B_KEYS, B_QUERY, B_SCORES_LOCAL, [1])
    assert result.locally_optimal and result.feasible and result.violations == []
    assert [T_i.tolist() for T_i in tokens.support_indices(result.solution)] == [[2]]
    assert tokens.optimal_tokens(B_SCORES_LOCAL)[0] != 1
    # B's anchor: the local direction is p = W z = (1, 0) with 1/2 ||p||^2 = 1/2.
    np.testing.assert_allclose(result.solution.W @ B_QUERY[0], [1.0, 0.0], atol=1e-5)


def test_B_example_token_beaten_by_its_support_index_is_not_locally_optimal():
    result = tokens.is_locally_optimal(B_KEYS, B_QUERY, B_SCORES_GLOBAL, [1])
    assert not result.locally_optimal and result.feasible
    assert result.violations == [(0, 2)]


@pytest.mark.parametrize("scores", [B_SCORES_LOCAL, B_SCORES_GLOBAL], ids=["local-case", "global-case"])
def test_B_example_opt_is_locally_optimal_with_B_global_direction(scores):
    opt = tokens.optimal_tokens(scores)
    result = tokens.is_locally_optimal(B_KEYS, B_QUERY, scores, opt)
    assert result.locally_optimal
    # Closed form: only the constraint of token 2, p . (-0.1, 1) >= 1, is active.
    np.testing.assert_allclose(result.solution.W @ B_QUERY[0], np.array([-0.1, 1.0]) / 1.01, atol=1e-5)


@pytest.mark.parametrize("seed", range(3))
def test_definition2_opt_is_always_locally_optimal(seed):
    inst = _instance(3, 4, 4, seed=seed)
    assert tokens.is_locally_optimal(inst.X, inst.Z, inst.scores, inst.opt).locally_optimal


def test_definition2_infeasible_selection_is_not_locally_optimal():
    # Two identical sequences and queries asked to select different tokens: no W separates both.
    X = np.repeat(B_KEYS, 2, axis=0)
    Z = np.repeat(B_QUERY, 2, axis=0)
    scores = np.repeat(B_SCORES_LOCAL, 2, axis=0)
    result = tokens.is_locally_optimal(X, Z, scores, [0, 1])
    assert not result.locally_optimal and not result.feasible and result.solution is None


def test_locally_optimal_batch_agrees_with_single_test():
    inst = _instance(2, 3, 3, seed=4)
    alphas = np.array(list(itertools.product(range(3), repeat=2)))
    B = len(alphas)
    batch = tokens.locally_optimal_batch(
        np.broadcast_to(inst.X, (B, *inst.X.shape)),
        np.broadcast_to(inst.Z, (B, *inst.Z.shape)),
        np.broadcast_to(inst.scores, (B, *inst.scores.shape)),
        alphas,
    )
    single = [tokens.is_locally_optimal(inst.X, inst.Z, inst.scores, a).locally_optimal for a in alphas]
    np.testing.assert_array_equal(batch.locally_optimal, single)


# --------------------------------------------------------------------------- Assumptions B, C, D


def test_assumption_b1_fig5_threshold_differs_from_exact_test_on_B_example():
    opt = tokens.optimal_tokens(B_SCORES_GLOBAL)
    result = tokens.assumption_b1(B_KEYS, B_QUERY, opt)
    p = np.array([-0.1, 1.0]) / 1.01  # closed-form B direction
    expected = [(B_KEYS[0, 0] - B_KEYS[0, t]) @ p for t in (1, 2)]
    assert result.mean_margin == pytest.approx(np.mean(expected), abs=1e-6)
    assert result.holds  # mean margin 1.0495 < 1.1
    assert not result.exact  # token 1 has margin 1.099 != 1


def test_assumption_b1_holds_exactly_with_one_nonoptimal_token():
    inst = _instance(2, 2, 3, seed=5)
    result = tokens.assumption_b1(inst.X, inst.Z, inst.opt)
    assert result.exact and result.holds


def test_assumption_b2_equal_nonoptimal_scores_pass():
    rng = np.random.default_rng(6)
    X = rng.standard_normal((3, 4, 3))
    v = np.array([1.0, 0.0, 0.0])
    X[:, :, 0] = 0.2  # every token scores Y_i * 0.2 ...
    X[:, 1, 0] = 1.0  # ... except token 1, which scores Y_i * 1.0
    Y = np.ones(3)
    scores = tokens.token_scores(X, Y, v)
    assert tokens.assumption_b2(scores)
    scores[0, 3] -= 0.1
    assert not tokens.assumption_b2(scores)


def test_assumption_c_always_holds_for_two_tokens_and_orthonormal_queries():
    # With T = 2 and z_i orthonormal, (x_2 - x_1)^T grad L(0) z_i reduces to
    # -l'(.) (gamma_opt - gamma_other) ||x_1 - x_2||^2 / (4n) > 0 (eq. (13) at uniform softmax).
    rng = np.random.default_rng(7)
    X = rng.standard_normal((3, 2, 4))
    Z = np.eye(4)[:3]
    Y = np.array([1.0, -1.0, 1.0])
    v = rng.standard_normal(4)
    result = tokens.assumption_c(X, Z, Y, v)
    assert result.holds
    assert np.all(result.values[~np.isnan(result.values)] > 0)


def test_assumption_d_rules_out_local_optima_other_than_opt():
    for seed in range(4):
        inst = _instance(2, 3, 3, seed=seed)
        d_result = tokens.assumption_d(inst.X, inst.Z, inst.scores)
        assert d_result.checked == 3**2 - 1
        if d_result.holds:
            for alpha in itertools.product(range(3), repeat=2):
                if alpha != tuple(inst.opt):
                    assert not tokens.is_locally_optimal(inst.X, inst.Z, inst.scores, alpha).locally_optimal


def test_assumption_d_fails_on_B_example_with_a_local_optimum():
    d_result = tokens.assumption_d(B_KEYS, B_QUERY, B_SCORES_LOCAL)
    assert not d_result.holds and (1,) in d_result.violating


def test_assumption_d_refuses_too_many_selections():
    inst = _instance(4, 5, 6, seed=8)
    with pytest.raises(OptionError, match="max_selections"):
        tokens.assumption_d(inst.X, inst.Z, inst.scores, max_selections=100)


# --------------------------------------------------------------------------- cones (eq. 4, eq. 5, Lemma 5)


def test_eq4_cone_contains_long_aligned_matrices_only():
    V = np.diag([1.0, 2.0])
    assert tokens.in_cone(3 * V, V, mu=0.1, R=1.0)
    assert not tokens.in_cone(0.1 * V, V, mu=0.1, R=1.0)  # too short
    assert not tokens.in_cone(-3 * V, V, mu=0.1, R=1.0)  # wrong direction
    np.testing.assert_array_equal(tokens.in_cone(np.stack([3 * V, -3 * V]), V, 0.1, 1.0), [True, False])


def test_lemma5_locally_optimal_direction_in_cone():
    result = tokens.is_locally_optimal(B_KEYS, B_QUERY, B_SCORES_LOCAL, [1])
    assert tokens.cone_eps_value(result.solution.W, B_KEYS, B_QUERY, B_SCORES_LOCAL, [1]) > 0
    assert tokens.in_cone_eps(result.solution.W, B_KEYS, B_QUERY, B_SCORES_LOCAL, [1], eps=1e-3)


def test_lemma5_non_locally_optimal_direction_outside_every_cone():
    result = tokens.is_locally_optimal(B_KEYS, B_QUERY, B_SCORES_GLOBAL, [1])
    for eps in (1e-9, 1e-3, 1.0):
        assert not tokens.in_cone_eps(result.solution.W, B_KEYS, B_QUERY, B_SCORES_GLOBAL, [1], eps=eps)


def test_lemma5_equivalence_over_all_selections_of_random_instances():
    for seed in range(3):
        inst = _instance(2, 3, 4, seed=seed)
        for alpha in itertools.product(range(3), repeat=2):
            result = tokens.is_locally_optimal(inst.X, inst.Z, inst.scores, alpha)
            if not all(len(T_i) for T_i in result.solution.support):
                continue  # Lemma 5 needs a support index in every sequence (next test)
            value = tokens.cone_eps_value(result.solution.W, inst.X, inst.Z, inst.scores, alpha)
            if result.locally_optimal:
                assert value > 1e-6, (seed, alpha)
            else:
                assert value <= 1e-6, (seed, alpha)


def test_lemma5_equivalence_fails_when_a_sequence_has_no_support_index():
    # d = 1, W = w: sequence 0 forces w >= 1 (tight), sequence 1 only 2w >= 1 (slack, T_1 empty).
    # alpha = (0, 0) is locally optimal by Definition 2 (T_1 imposes nothing), but in
    # sequence 1 the selected token has the lowest score, so low_1 is empty and no W lies
    # in cone_eps(alpha): Lemma 5's equivalence tacitly assumes every T_i is nonempty.
    X = np.array([[[1.0], [0.0]], [[2.0], [0.0]]])
    Z = np.ones((2, 1))
    scores = np.array([[1.0, 0.0], [0.0, 1.0]])
    result = tokens.is_locally_optimal(X, Z, scores, [0, 0])
    assert result.locally_optimal
    assert [T_i.tolist() for T_i in result.solution.support] == [[1], []]
    assert tokens.cone_eps_value(result.solution.W, X, Z, scores, [0, 0]) == -np.inf


def test_lemma5_cone_of_unique_opt_contains_every_matrix():
    inst = _instance(3, 4, 3, seed=9)
    rng = np.random.default_rng(10)
    for W in rng.standard_normal((5, 3, 3)):
        assert tokens.cone_eps_value(W, inst.X, inst.Z, inst.scores, inst.opt) == np.inf
        assert tokens.in_cone_eps(W, inst.X, inst.Z, inst.scores, inst.opt, eps=10.0)


# --------------------------------------------------------------------------- Section 6 selection sets


def test_selection_sets_split_selected_masked_and_flag_ambiguous_instances():
    probs = np.array(
        [
            [[0.6, 0.4 - 1e-9, 1e-9], [1 - 1e-7, 1e-7, 0.0]],  # clean instance
            [[0.6, 0.4 - 1e-4, 1e-4], [1.0, 0.0, 0.0]],  # 1e-4 lies between the thresholds
        ]
    )
    sets = tokens.selection_sets(probs)
    np.testing.assert_array_equal(sets.selected[0], [[True, True, False], [True, False, False]])
    np.testing.assert_array_equal(sets.masked[0], [[False, False, True], [False, True, True]])
    np.testing.assert_array_equal(sets.ambiguous, [False, True])
    np.testing.assert_array_equal(tokens.selected_tokens(probs), [[0, 0], [0, 0]])


def test_selection_sets_reject_inverted_thresholds():
    with pytest.raises(OptionError, match="masked_below"):
        tokens.selection_sets(np.full((1, 2), 0.5), selected_above=1e-6, masked_below=1e-3)


# --------------------------------------------------------------------------- classification of runs


def _probs_along(inst: data.AttentionData, alpha, R: float = 50.0) -> np.ndarray:
    """Final softmax of a run that went far along the direction W_alpha^mm."""
    W = svm.att_svm(inst.X, inst.Z, np.asarray(alpha))
    return attention.attention_probs(inst.X, R * W / np.linalg.norm(W), inst.Z)


def test_classify_run_recognises_local_and_not_local_selections():
    inst = _instance(2, 3, 4, seed=21)  # a seed whose instance has local optima besides opt
    seen = set()
    for alpha in itertools.product(range(3), repeat=2):
        if alpha == tuple(inst.opt):
            continue
        label = tokens.classify_run(inst.X, inst.Z, inst.scores, _probs_along(inst, alpha))
        expected = tokens.is_locally_optimal(inst.X, inst.Z, inst.scores, alpha).locally_optimal
        assert label == ("local" if expected else "not_local")
        seen.add(label)
    assert seen == {"local", "not_local"}  # the instance exercises both outcomes
    assert tokens.classify_run(inst.X, inst.Z, inst.scores, _probs_along(inst, inst.opt)) == "global"


def test_classify_run_of_gd_trained_toward_global_direction_is_global():
    # Theorem 6: under Assumption C, GD from W(0) = 0 converges in direction to W^mm.
    for seed in range(20):
        inst = _instance(2, 3, 4, seed=seed)
        if tokens.assumption_c(inst.X, inst.Z, inst.Y, inst.v).holds:
            break
    assert tokens.assumption_c(inst.X, inst.Z, inst.Y, inst.v).holds
    result = training.train(inst, param="W", steps=100, lr=0.1, init="zero")
    assert tokens.classify_run(inst.X, inst.Z, inst.scores, result.probs_final) == "global"
    assert metrics.corr(result.W[-1], svm.att_svm(inst.X, inst.Z, inst.opt)) > 0.95


def test_classify_runs_batch_matches_single_runs_and_fractions_sum_to_one():
    inst = data.unit_sphere_data(2, 3, 3, seed=12, trials=4, gap=0.1)
    alphas = np.array([inst.opt[0], [0, 0], [1, 2], [2, 1]])
    probs = np.stack(
        [_probs_along(inst.trial(b), alphas[b]) for b in range(4)]
    )
    labels = tokens.classify_runs_batch(inst.X, inst.Z, inst.scores, probs)
    single = [tokens.classify_run(inst.X[b], inst.Z[b], inst.scores[b], probs[b]) for b in range(4)]
    np.testing.assert_array_equal(labels, single)
    frac = tokens.convergence_fractions(labels)
    assert frac["local"] >= frac["global"]
    assert frac["local"] + frac["not_local"] == pytest.approx(1.0)


def test_convergence_fractions_count_global_runs_as_local():
    frac = tokens.convergence_fractions(["global", "global", "local", "not_local"])
    assert frac == {"global": 0.5, "local": 0.75, "not_local": 0.25}
