"""Smoke runs of the experiments of Chapters 7-8: result shapes, JSON-serialisability, figures."""

from __future__ import annotations

import json

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402

from tfsvm.experiments import get_experiment, run_experiment  # noqa: E402


IDS = ("sequential_causal", "prompt_single_input", "prompt_multi_input", "joint_training")


@pytest.fixture(scope="module")
def records():
    """Every experiment of Chapters 7-8, run once at smoke scale."""
    return {exp_id: run_experiment(exp_id, scale="smoke") for exp_id in IDS}


@pytest.mark.parametrize("exp_id", IDS)
def test_experiment_contract(records, exp_id):
    record = records[exp_id]
    mod = get_experiment(exp_id)
    assert set(mod.CONFIGS) == {"smoke", "book", "paper"}
    json.dumps(record.to_json())  # JSON-serialisable results
    fig = mod.plot(record.results)
    assert fig.axes
    plt.close(fig)


def test_sequential_causal_shapes(records):
    record = records["sequential_causal"]
    r, cfg = record.results, record.config
    for mode in ("sequential", "causal"):
        assert len(r[mode]["one_minus_corr"]) == cfg["trials"]
        assert len(r[mode]["one_minus_corr"][0]) == len(r["iters"])
        assert -1.0 <= r[mode]["final_corr_min"] <= r[mode]["final_corr_mean"] <= 1.0
    assert r["svm_compare"]["n_constraints_csl"] * 2 == r["svm_compare"]["n_constraints_seq"]


def test_prompt_single_input_shapes(records):
    record = records["prompt_single_input"]
    for case in ("global", "local"):
        r = record.results[case]
        assert len(r["selected"]) == 6 and len(r["path_xy"]) == 6
        assert set(r["svm"]) == {"0", "1", "2"}


def test_prompt_multi_input_shapes(records):
    record = records["prompt_multi_input"]
    r, cfg = record.results, record.config
    for name in ("normalized", "plain"):
        assert len(r["multi_input"][name]["corr"]) == 6
        assert len(r["multi_input"][name]["corr"][0]) == cfg["steps"] + 1
    for loss in ("correlation", "logistic"):
        assert len(r["loss_comparison"][loss]["final_corr"]) == len(cfg["Cs"])
    mod = get_experiment("prompt_multi_input")
    plt.close(mod.plot_loss_comparison(record.results))


def test_joint_training_shapes(records):
    record = records["joint_training"]
    for case in ("tight", "non_tight"):
        r = record.results[case]
        assert len(r["corr_p_joint"]) == record.config["steps"] + 1
        assert len(r["p_joint"]) == len(r["v_svm"]) == 2
