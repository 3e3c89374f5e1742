"""``python -m tfsvm.reproduce``: every experiment at smoke scale, the summary's shapes, one PNG per
experiment, and bit-for-bit reproducibility given the seed."""

from __future__ import annotations

import json
import math

import matplotlib

matplotlib.use("Agg")

import pytest  # noqa: E402

from tfsvm import reproduce  # noqa: E402
from tfsvm.experiments import IDS, get_experiment, run_experiment  # noqa: E402


@pytest.fixture(scope="module")
def out(tmp_path_factory):
    directory = tmp_path_factory.mktemp("reproduce")
    assert reproduce.main(["--scale", "smoke", "--out", str(directory), "--seed", "3"]) == 0
    return directory


@pytest.fixture(scope="module")
def summary(out):
    return json.loads((out / "summary.json").read_text())


def _fraction(x) -> bool:
    return isinstance(x, float) and 0.0 <= x <= 1.0


def test_summary_has_every_experiment_with_seconds_config_results_and_paper(summary):
    assert set(summary) == set(IDS)
    for entry in summary.values():
        assert set(entry) == {"seconds", "config", "results", "paper"}
        assert entry["config"]["scale"] == "smoke" and entry["config"]["seed"] == 3


def test_one_figure_per_experiment_with_a_plot(out):
    for exp_id in IDS:
        if hasattr(get_experiment(exp_id), "plot"):
            assert (out / f"{exp_id}.png").stat().st_size > 1000


def test_gd_paths_2d_reports_both_figure1_correlations(summary):
    res = summary["gd_paths_2d"]["results"]
    assert {"corr_W_fro", "corr_KQ_nuc"} <= set(res)
    assert all(-1.0 <= res[k] <= 1.0 for k in ("corr_W_fro", "corr_KQ_nuc"))


def test_rank_results_per_setting_and_d(summary):
    res = summary["rank"]["results"]
    for n, T in summary["rank"]["config"]["settings"]:
        for d in summary["rank"]["config"]["ds"]:
            cell = res[f"n{n}_T{T}"][str(d)]
            assert {"feasible", "rank_fro", "rank_nuc"} <= set(cell) and _fraction(cell["feasible"])


def test_convergence_types_fractions_local_and_not_local_sum_to_one(summary):
    res = summary["convergence_types"]["results"]
    for param in ("W", "KQ"):
        for d in summary["convergence_types"]["config"]["ds"]:
            cell = res[param][str(d)]
            assert {"global", "local", "not_local", "b1"} <= set(cell)
            assert math.isclose(cell["local"] + cell["not_local"], 1.0, abs_tol=1e-12)
            assert cell["global"] <= cell["local"] + 1e-12


def test_global_probability_per_param_setting_and_d(summary):
    res, cfg = summary["global_probability"]["results"], summary["global_probability"]["config"]
    for param in ("W", "KQ"):
        for n, T in cfg["pairs"]:
            assert all(_fraction(res[param][f"n{n}_T{T}"][str(d)]) for d in cfg["ds"])


def test_local_convergence_reports_max_prob_and_both_correlations_for_W_and_KQ(summary):
    res = summary["local_convergence"]["results"]
    for key in ("max_prob", "corr_fro", "corr_nuc"):
        assert set(res[key]) >= {"W", "KQ"}


def test_multi_token_results_per_d(summary):
    res = summary["multi_token"]["results"]
    for d in summary["multi_token"]["config"]["ds"]:
        assert {"kept", "svmeq", "gensvm", "one_token"} <= set(res[str(d)])


def test_lambda_head_selected_counts_and_svmeq_misalignment_per_lambda(summary):
    res, cfg = summary["lambda_head"]["results"], summary["lambda_head"]["config"]
    assert set(res["selected"]) == {str(lam) for lam in cfg["lambdas"] + cfg["corr_lambdas"]}
    assert set(res["svmeq"]) == {str(lam) for lam in cfg["corr_lambdas"]}


def test_rank_sensitivity_per_setting_and_m(summary):
    res, cfg = summary["rank_sensitivity"]["results"], summary["rank_sensitivity"]["config"]
    for n, T in cfg["settings"]:
        assert all(_fraction(res["opt_fraction"][f"n{n}_T{T}"][str(m)]) for m in cfg["ms"])


def test_paper_b_and_sequential_experiments_are_present(summary):
    for exp_id in ("sequential_causal", "prompt_single_input", "prompt_multi_input", "joint_training"):
        assert summary[exp_id]["results"]


def test_two_smoke_runs_with_the_same_seed_give_identical_results(summary):
    again = {exp_id: run_experiment(exp_id, scale="smoke", seed=3).results for exp_id in IDS}
    assert json.loads(json.dumps(again, allow_nan=True)) == {k: v["results"] for k, v in summary.items()}


def test_sweep_cells_in_two_worker_processes_give_the_same_results(summary):
    """The paper configs run sweep cells in 2 processes (jobs=2); every cell has its own seeds, so
    the results equal the sequential run's."""
    parallel = run_experiment("global_probability", scale="smoke", seed=3, jobs=2).results
    assert parallel == summary["global_probability"]["results"]
