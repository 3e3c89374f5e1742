"""The digits_attention experiment at smoke scale, and the chapter's (10) headline checks, smaller."""

import json

import numpy as np
import pytest

from tfsvm import images, training
from tfsvm.experiments import FIGURES, compare_with_paper, run_experiment
from tfsvm.experiments import digits_attention as da


@pytest.fixture(scope="module")
def record():
    return run_experiment("digits_attention", scale="smoke")


def test_registered_with_a_status_row():
    assert "digits_attention" in FIGURES
    assert set(da.CONFIGS) == {"smoke", "book", "paper"}


def test_result_shapes_and_json(record):
    res = record.results
    json.dumps(res, allow_nan=False)
    entry = res["0v1"]
    for regime in da.REGIMES:
        for param in ("W", "KQ"):
            r = entry[regime][param]
            R = len(r["steps"])
            assert all(len(c) == R for c in r["curves"].values())
            assert len(r["alpha"]) == entry[regime]["n"]
    maps = np.array(entry["maps"]["probs"])
    assert maps.shape == (len(entry["maps"]["steps"]), da.CONFIGS["smoke"]["maps"], 16)
    np.testing.assert_allclose(maps.sum(-1), 1.0)
    rows = compare_with_paper("digits_attention", {"results": res, "paper": da.PAPER})
    assert {r["path"] for r in rows} == {"claims/sparsity_falls", "claims/norm_grows", "claims/aligned"}


def test_headline_sparsity_falls_and_norm_grows(record):
    for *_, r in da._runs(record.results):
        c = r["curves"]
        assert c["sparsity"][-1] < c["sparsity"][0]
        assert c["norm"][-1] > 2 * c["norm"][0]


def test_headline_over_parameterized_svm_is_feasible_and_correlation_rises(record):
    """Theorem 1: d >= max(T-1, n) makes (Att-SVM) feasible for every selection."""
    over = record.results["0v1"]["over"]
    assert over["d"] >= max(over["T"] - 1, over["n"])
    for param in ("W", "KQ"):
        r = over[param]
        assert r["feasible"]
        key = "corr_fro" if param == "W" else "corr_nuc"
        assert r["curves"][key][-1] > r["curves"][key][1] + 0.1
        census = r["census"]
        assert census["optimal"] + census["local"] + census["neither"] == pytest.approx(1.0)
    assert over["KQ"]["rank_nuc"] <= over["KQ"]["rank_fro"]


def test_heads_b_and_c_report(record):
    heads = record.results["0v1"]["over"]["heads"]
    joint = heads["joint"]
    if joint["feasible"]:
        assert joint["corr_v"][-1] > joint["corr_v"][0]
        assert joint["corr_relaxed"][-1] > joint["corr_relaxed"][0]
    assert heads["mlp"]["status"] in ("ok", "no patch masked yet", "eq. (7) has no solution", "Gen-SVM infeasible",
                                      "Gen-SVM badly conditioned (solver failed)")


def test_census_on_a_hand_made_selection():
    task = images.digits_task((0, 1), d=24, n_train=12, seed=1)
    tr = task.train
    opt = np.argmax(tr.scores, axis=1)
    c = da.census(tr.X, tr.Z, tr.scores, opt)
    assert c["feasible"] and c["optimal"] == 1.0 and c["local"] == 0.0 and c["neither"] == 0.0
    worst = np.argmin(tr.scores, axis=1)  # the lowest-score patches: never optimal
    c = da.census(tr.X, tr.Z, tr.scores, worst)
    assert c["optimal"] == 0.0 and c["feasible"]
    assert c["neither"] > 0  # a support index outscores the lowest patch


def test_joint_training_is_seeded():
    tr = images.digits_task((3, 8), d=12, n_train=10, seed=0).train
    a = training.train_joint(tr, steps=20, lr=0.1, init="default", seed=4, record="every 10")
    b = training.train_joint(tr, steps=20, lr=0.1, init="default", seed=4, record="every 10")
    np.testing.assert_array_equal(a["W"], b["W"])
    assert a["W"].shape == (3, 12, 12) and a["v"].shape == (3, 12)


def test_figures_draw(record):
    import matplotlib.pyplot as plt

    res = record.results
    fig = da.plot(res)
    assert len(fig.axes) == 5 and all(a.get_xlabel() and a.get_ylabel() for a in fig.axes)
    plt.close(fig)
    maps = da.plot_maps(res, "0v1")
    assert len(maps.axes) == (len(res["0v1"]["maps"]["steps"]) + 1) * da.CONFIGS["smoke"]["maps"] + 1  # + colorbar
    plt.close(maps)
    for fig in (da.plot_examples(res, "0v1"), da.plot_heads(res)):
        assert fig.axes
        plt.close(fig)
    rows = da.table(res)
    assert len(rows) == 4 and {r["regime"] for r in rows} == {"over", "under"}
