"""Experiments convergence_types (Figs 2, 5), global_probability (Fig 6), local_convergence (Fig 7) at smoke scale."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tfsvm.experiments import get_experiment, run_experiment


@pytest.fixture(scope="module")
def records():
    ids = ("convergence_types", "global_probability", "local_convergence")
    return {i: run_experiment(i, scale="smoke") for i in ids}


def test_convergence_types_fractions_have_the_figure5_shape(records):
    rec = records["convergence_types"]
    for param in ("W", "KQ"):
        assert list(rec.results[param]) == [str(d) for d in rec.config["ds"]]
        for frac in rec.results[param].values():
            assert set(frac) == {"global", "local", "not_local", "b1"}
            assert frac["global"] <= frac["local"]
            assert np.isclose(frac["local"] + frac["not_local"], 1.0)
            assert 0.0 <= frac["b1"] <= 1.0
        assert all(0.0 <= s <= 1.0 for s in rec.results["stability"][param].values())


def test_global_probability_has_one_curve_per_n_T_and_parameterization(records):
    rec = records["global_probability"]
    for param in ("W", "KQ"):
        assert sorted(rec.results[param]) == sorted(f"n{n}_T{T}" for n, T in rec.config["pairs"])
        for curve in rec.results[param].values():
            assert list(curve) == [str(d) for d in rec.config["ds"]]
            assert all(0.0 <= p <= 1.0 for p in curve.values())
        assert rec.results["stability"][param].keys() == rec.results[param].keys()


def test_local_convergence_reports_final_means_and_curves(records):
    res = records["local_convergence"].results
    for key in ("max_prob", "corr_fro", "corr_nuc"):
        assert set(res[key]) == {"W", "KQ"}
        for param in ("W", "KQ"):
            assert len(res["curves"][key][param]) == len(res["curves"]["steps"])
            assert res[key][param] == res["curves"][key][param][-1]
    assert res["curves"]["steps"][-1] == records["local_convergence"].config["steps"]


def test_results_are_json_serialisable_and_plots_draw(records):
    for exp_id, rec in records.items():
        json.dumps(rec.to_json())
        assert get_experiment(exp_id).plot(rec.results) is not None


def test_paper_values_have_the_results_shape_of_the_paper_config():
    conv = get_experiment("convergence_types")
    prob = get_experiment("global_probability")
    for param in ("W", "KQ"):
        assert set(conv.PAPER[param]) == {str(d) for d in conv.CONFIGS["paper"]["ds"]}
        assert set(prob.PAPER[param]) == {f"n{n}_T{T}" for n, T in prob.CONFIGS["paper"]["pairs"]}
        for curve in prob.PAPER[param].values():
            assert set(curve) == {str(d) for d in prob.CONFIGS["paper"]["ds"]}
    assert set(get_experiment("local_convergence").PAPER) == {"max_prob", "corr_fro", "corr_nuc"}


def test_experiments_are_deterministic_given_the_seed():
    a = run_experiment("global_probability", scale="smoke", seed=3, ds=[5], pairs=[[5, 5]])
    b = run_experiment("global_probability", scale="smoke", seed=3, ds=[5], pairs=[[5, 5]])
    assert a.results == b.results


# --------------------------------------------------------------------------- labelling protocols (Figs 2, 5)


def _protocol_instance(seed: int = 4):
    """A batch of small instances (n = 1, T = 4, d = 3) on which every selection is feasible."""
    from tfsvm import data

    return data.unit_sphere_data(1, 4, 3, seed=seed, trials=40, gap=0.1)


def test_direction_rule_labels_by_the_direction_approached():
    from tfsvm import data, svm, tokens
    from tfsvm.experiments import convergence_protocols as cp

    inst = _protocol_instance()
    B = inst.trials
    opt = inst.opt
    W_opt, feasible = svm.att_svm_batch(inst.X, inst.Z, opt)
    assert feasible.all()
    # runs sitting exactly on W^mm of opt are global; the same selections with a random direction are not
    assert (cp.direction_labels(inst, W_opt, opt, "W", 0.99) == "global").all()
    W_rand = np.random.default_rng(0).standard_normal(W_opt.shape)
    labels = cp.direction_labels(inst, W_rand, opt, "W", 0.99)
    corr = np.einsum("bij,bij->b", W_rand, W_opt) / np.linalg.norm(W_rand, axis=(1, 2)) / np.linalg.norm(W_opt, axis=(1, 2))
    assert np.array_equal(labels == "global", corr >= 0.99)
    # a locally-optimal alpha != opt, approached along its own SVM direction, is local
    found = []
    for t in range(inst.T):
        alpha = np.full((B, 1), t)
        test = tokens.locally_optimal_batch(inst.X, inst.Z, inst.scores, alpha)
        found += [(b, t, test.W[b]) for b in np.flatnonzero(test.locally_optimal & (alpha[:, 0] != opt[:, 0]))]
    assert found, "no locally-optimal non-optimal selection in 40 instances"
    b, t, W_alpha = found[0]
    one = data.AttentionData(inst.X[b:b + 1], inst.Z[b:b + 1], inst.Y[b:b + 1], inst.v[b:b + 1])
    assert cp.direction_labels(one, W_alpha[None], np.array([[t]]), "W", 0.99).tolist() == ["local"]
    # ... and the nuclear-norm target is used for (K,Q): W_alpha^mm (Frobenius) need not reach 0.99 with it
    W_nuc = svm.att_svm(one.X[0], one.Z[0], np.array([t]), norm="nuc")
    assert cp.direction_labels(one, W_nuc[None], np.array([[t]]), "KQ", 0.99).tolist() == ["local"]


def test_protocols_at_smoke_scale_share_the_instances_of_figure5():
    rec = run_experiment("convergence_protocols", scale="smoke")
    conv = run_experiment("convergence_types", scale="smoke", ds=rec.config["ds"],
                          trials=rec.config["trials"],
                          steps=rec.config["steps"][1], b1_nuc_trials=1)
    names = get_experiment("convergence_protocols").protocol_names(rec.results)
    assert len(names) == 6 and names[0].startswith("argmax") and names[-1].startswith("direction")
    k = rec.config["steps"][1]
    for param in ("W", "KQ"):
        for d, cell in rec.results[param].items():
            assert 0.0 <= cell["opt_feasible"] <= 1.0
            for name in names:
                bars = cell[name]
                assert bars["global"] <= bars["local"] and np.isclose(bars["local"] + bars["not_local"], 1.0)
            # same instances, seeds and steps as convergence_types: the argmax rule gives its bars
            assert cell[f"argmax@{k}"]["global"] == conv.results[param][d]["global"]
            assert cell[f"argmax@{k}"]["local"] == conv.results[param][d]["local"]
            # a run cannot approach the direction of an infeasible SVM
            assert cell[f"direction@{k}"]["global"] <= cell["opt_feasible"] + 1e-12
    assert get_experiment("convergence_protocols").plot(rec.results) is not None
