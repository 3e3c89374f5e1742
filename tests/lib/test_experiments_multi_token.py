"""Smoke runs of the experiments ``multi_token`` (Figs 8, 11b) and ``lambda_head`` (Figs 9, 12)."""

from __future__ import annotations

import json

import matplotlib

matplotlib.use("Agg")

from tfsvm.experiments import lambda_head, multi_token, run_experiment  # noqa: E402


def test_multi_token_smoke_results_have_the_documented_shape():
    rec = run_experiment("multi_token", scale="smoke", seed=0)
    res = rec.results
    json.dumps(res)  # JSON-serialisable
    assert res["ds"] == rec.config["ds"]
    for d in res["ds"]:
        r = res[str(d)]
        assert set(r["removed"]) == set(multi_token.RULES)
        assert r["kept"] + sum(r["removed"].values()) == r["candidates"]
        assert r["kept"] == len(r["scatter"]["svmeq"]) == len(r["scatter"]["largest_masked"])
        assert len(r["threshold"]["svmeq"]) == len(rec.config["gammas"])
        if r["kept"]:
            assert len(r["curves"]["svmeq"]) == len(r["steps"])
            assert 0 <= r["svmeq"] <= 2
    assert set(multi_token.PAPER) == {"4", "6", "8", "10"}
    assert multi_token.plot(res) is not None
    assert multi_token.plot_threshold(res) is not None


def test_lambda_head_smoke_results_have_the_documented_shape():
    rec = run_experiment("lambda_head", scale="smoke", seed=0)
    res = rec.results
    json.dumps(res)
    lams = sorted(set(rec.config["lambdas"]) | set(rec.config["corr_lambdas"]))
    assert res["lambdas"] == lams
    assert set(res["selected"]) == set(res["oracle_selected"]) == {str(l) for l in lams}
    assert set(res["svmeq"]) == set(res["gensvm"]) == {str(l) for l in rec.config["corr_lambdas"]}
    assert res["tau"]["instances"] == rec.config["tau_trials"] * len(rec.config["taus"])
    assert 0 <= res["count_agreement"] <= 1
    # Figure 9(c): groups by number of selected tokens, covering the runs of every lambda
    assert res["by_count"] and all(1 <= int(k) <= rec.config["T"] for k in res["by_count"])
    for group in res["by_count"].values():
        assert group["kept"] >= 1 and len(group["svmeq"]) == len(res["steps"])
        assert group["svmeq_final"] == group["svmeq"][-1]
    assert sum(g["kept"] for g in res["by_count"].values()) >= max(res["kept"].values())
    # Figure 12(a): one lambda per instance, inside the interval of condition (8)
    assert [len(lam) for lam in res["tau"]["lambdas"]] == [rec.config["tau_trials"]] * len(rec.config["taus"])
    assert all(l > 0 for lam in res["tau"]["lambdas"] for l in lam)
    assert lambda_head.plot(res) is not None
    assert lambda_head.plot_tau(res) is not None


def test_lambda_head_is_deterministic_given_the_seed():
    a = run_experiment("lambda_head", scale="smoke", seed=3).results
    b = run_experiment("lambda_head", scale="smoke", seed=3).results
    assert json.dumps(a) == json.dumps(b)
