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
