"""Experiment ``lambda_head``: Lemma 6 and Figures 9 and 12 of A (Section 6.1).

The head ``h(x) = vᵀx − λ‖x‖²`` on one sequence (n = 1) of T orthonormal tokens
with label Y = 1. With orthonormal tokens ``‖Xᵀs‖ = ‖s‖`` and ``Xv = γ``, so
problem (9) is ``min_{s ∈ Δ} λ‖s‖² − γᵀs``: its solution is the Euclidean
projection of ``γ/(2λ)`` onto the simplex (Duchi et al., 2008), the *oracle*
of :func:`lemma6_oracle`. Gradient descent on W should select the tokens in the
oracle's support, and W(k) should align with the SVM-equivalence of eq. (6).

* Figure 9(a): number of selected tokens (softmax > 1e-3) against λ, GD and oracle.
* Figure 9(b): 1 − corr(W(k), W^SVMeq) and 1 − corr(W(k), W^mm of Gen-SVM) for a few λ.
* Figure 12: instances satisfying the τ-condition (8) with λ drawn in
  ``(γ_1^gap, τγ_τ^gap/2)``: the number of selected tokens is between 2 and τ.

Loss: with n = 1 the gradient of ``ℓ(h(·))`` is ``ℓ′(h)·∇h`` and ``ℓ′ < 0`` for both
the logistic and the correlation loss, so exactly *normalized* GD follows the same
path for both (:func:`loss_paths_agree` checks it); the module uses the logistic
loss of the paper's code by default, normalised as the official code does
(``raw_eps=True``).

Thresholds: selected > 1e-3 as in the paper; masked < 1e-4 instead of the paper's
1e-8, because after a few thousand normalized steps the masked probabilities are
still ~1e-5 (the iterate keeps oscillating in the finite part and ‖W‖ grows slowly),
so the paper's threshold would discard almost every run with λ > 0.1.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import data, metrics, svm, tokens, training
from ..errors import InfeasibleError, SolverError
from ..heads import LambdaHead, project_to_simplex
from ._common import derive_seed, mean_or_none, normalized_rule, tile_trials

_BASE = {"T": 10, "d": 10, "lr": 0.1, "loss": "logistic", "raw_eps": True, "selected_above": 1e-3,
         "masked_below": 1e-4, "taus": list(range(2, 10)), "corr_lambdas": [0.0, 0.1, 0.2, 1.0]}

CONFIGS: dict[str, dict[str, Any]] = {
    "smoke": {**_BASE, "trials": 6, "steps": 300, "snapshot_every": 50, "lambdas": [0.0, 0.5, 2.0],
              "corr_lambdas": [0.1, 1.0], "taus": [2, 5], "tau_trials": 4, "tau_gd_trials": 2},
    "book": {**_BASE, "trials": 30, "steps": 2000, "snapshot_every": 100,
             "lambdas": [round(0.2 * k, 1) for k in range(16)], "tau_trials": 100, "tau_gd_trials": 15},
    "paper": {**_BASE, "trials": 100, "steps": 5000, "snapshot_every": 100,
              "lambdas": [round(0.1 * k, 1) for k in range(31)], "tau_trials": 100, "tau_gd_trials": 100},
}

#: read-off values of Figure 9 (A v1): final 1 − corr with W^SVMeq and with Gen-SVM's W^mm
PAPER: dict[str, Any] = {
    "selected": {"0.0": 1.0, "2.0": 10.0},
    "svmeq": {"0.1": 0.009, "0.2": 0.016, "1.0": 0.023},
    "gensvm": {"0.1": 0.010, "0.2": 0.020, "1.0": 0.058},
    "by_count": {"2": {"svmeq_final": 0.019}, "5": {"svmeq_final": 0.02, "gensvm_final": 0.032},
                 "9": {"svmeq_final": 0.025, "gensvm_final": 0.075}},
}


# --------------------------------------------------------------------------- Lemma 6 oracle


def lemma6_oracle(gamma: Any, lam: Any) -> np.ndarray:
    """Solution s⋆ of problem (9) with orthonormal tokens: ``argmin_{s∈Δ} λ‖s‖² − γᵀs``.

    For λ > 0 this is the projection of γ/(2λ) onto the simplex; for λ = 0 the
    problem is linear and s⋆ is the vertex of the largest score (ties: first index).
    ``gamma`` (..., T), ``lam`` scalar or (...,).
    """
    gamma = np.asarray(gamma, dtype=np.float64)
    lam = np.broadcast_to(np.asarray(lam, dtype=np.float64), gamma.shape[:-1])
    vertex = np.eye(gamma.shape[-1])[np.argmax(gamma, axis=-1)]
    safe = np.where(lam > 0, lam, 1.0)[..., None]
    return np.where(lam[..., None] > 0, project_to_simplex(gamma / (2 * safe)), vertex)


def lemma6_cvxpy(gamma: Any, lam: float) -> np.ndarray:
    """Problem (9) solved directly by cvxpy/Clarabel (tight tolerances) for one score vector."""
    import cvxpy as cp

    from ..svm import CLARABEL_OPTIONS

    gamma = np.asarray(gamma, dtype=np.float64)
    s = cp.Variable(gamma.shape[0])
    prob = cp.Problem(cp.Minimize(lam * cp.sum_squares(s) - gamma @ s), [s >= 0, cp.sum(s) == 1])
    prob.solve(solver="CLARABEL", **CLARABEL_OPTIONS)
    return np.asarray(s.value, dtype=np.float64)


def score_gaps(gamma: Any) -> np.ndarray:
    """Gaps ``γ_t^gap = γ_(t) − γ_(t+1)`` of the scores sorted non-increasingly, (..., T−1)."""
    g = -np.sort(-np.asarray(gamma, dtype=np.float64), axis=-1)
    return g[..., :-1] - g[..., 1:]


def tau_interval(gamma: Any, tau: int) -> tuple[np.ndarray, np.ndarray]:
    """The λ-interval ``(γ_1^gap, τγ_τ^gap/2)`` of Lemma 6; it is non-empty iff condition (8) holds."""
    gaps = score_gaps(gamma)
    return gaps[..., 0], tau * gaps[..., tau - 1] / 2


def support_size(s: Any, tol: float = 0.0) -> np.ndarray:
    """Number of entries of each row of ``s`` larger than ``tol``."""
    return np.sum(np.asarray(s) > tol, axis=-1)


# --------------------------------------------------------------------------- gradient descent


def _problem(trials: int, T: int, d: int, seed: int) -> data.AttentionData:
    """n = 1 sequence of T orthonormal tokens, unit query and head, Y = 1, per trial."""
    return data.orthonormal_token_data(T, d, seed=seed, trials=trials)


def train_lambda(inst: data.AttentionData, lam: np.ndarray, steps: int, lr: float, loss: str,
                 snapshot_every: int, raw_eps: bool = False) -> training.TrainResult:
    """Normalized GD on W from W(0) = 0 for the λ head (one λ per trial), batched over trials."""
    head = LambdaHead(inst.v, lam)
    return training.train(inst, param="W", steps=steps, lr=lr, rule=normalized_rule(raw_eps), head=head,
                          loss=loss, record=f"every {snapshot_every}")


def loss_paths_agree(T: int = 10, d: int = 10, trials: int = 4, lam: float = 0.5, steps: int = 200,
                     seed: int = 0) -> float:
    """Largest ‖W_logistic(k) − W_correlation(k)‖_F / ‖W_logistic(k)‖_F over the snapshots k ≥ 1.

    With n = 1 (and exact normalisation) the two paths coincide up to rounding.
    """
    inst = _problem(trials, T, d, seed)
    lam_arr = np.full(trials, lam)
    a = train_lambda(inst, lam_arr, steps, 0.1, "logistic", 10)
    b = train_lambda(inst, lam_arr, steps, 0.1, "correlation", 10)
    diff = np.linalg.norm(a.W[1:] - b.W[1:], axis=(-2, -1)) / np.linalg.norm(a.W[1:], axis=(-2, -1))
    return float(diff.max())


def gd_selected_count(inst: data.AttentionData, lam: float, steps: int, lr: float = 0.1,
                      selected_above: float = 1e-3) -> int:
    """Number of tokens above ``selected_above`` after normalized GD on one Lemma 6 instance."""
    one = inst.batched()
    run = train_lambda(one, np.full(1, float(lam)), steps, lr, "logistic", steps, raw_eps=_BASE["raw_eps"])
    return int(np.sum(run.probs_final[0, 0] > selected_above))


# --------------------------------------------------------------------------- τ-condition (8)


def draw_tau_instances(tau: int, count: int, T: int, d: int, seed: int) -> tuple[data.AttentionData, np.ndarray]:
    """``count`` instances satisfying condition (8) for ``tau``, with λ uniform in (γ_1^gap, τγ_τ^gap/2).

    Rejection sampling over batches of orthonormal-token instances; returns the batched data
    and λ (count,).
    """
    rng = np.random.default_rng(derive_seed(seed, tau, 0))
    keep_X, keep_Z, keep_v, lam = [], [], [], []
    for rnd in range(1000):
        inst = _problem(4 * count, T, d, derive_seed(seed, tau, rnd + 1))
        lo, hi = tau_interval(np.einsum("btd,bd->bt", inst.X[:, 0], inst.v), tau)
        ok = np.flatnonzero(hi > lo)
        keep_X.append(inst.X[ok]), keep_Z.append(inst.Z[ok]), keep_v.append(inst.v[ok])
        lam.append(rng.uniform(lo[ok], hi[ok]))
        if sum(len(x) for x in lam) >= count:
            break
    X, Z, v = (np.concatenate(a)[:count] for a in (keep_X, keep_Z, keep_v))
    return data.AttentionData(X, Z, np.ones(X.shape[:2]), v), np.concatenate(lam)[:count]


def oracle_checks(trials: int, T: int, d: int, seed: int, taus: tuple[int, ...] = tuple(range(2, 10))) -> dict[str, Any]:
    """Lemma 6 checks on instances satisfying (8): oracle vs cvxpy, and 2 ≤ #nonzeros ≤ τ."""
    diff, violations, smallest, total = 0.0, 0, T, 0
    for tau in taus:
        inst, lam = draw_tau_instances(tau, trials // len(taus), T, d, seed)
        gamma = np.einsum("btd,bd->bt", inst.X[:, 0], inst.v)
        s = lemma6_oracle(gamma, lam)
        for g, l, s_b in zip(gamma, lam, s):
            diff = max(diff, float(np.max(np.abs(lemma6_cvxpy(g, l) - s_b))))
        k = support_size(s)
        violations += int(np.sum((k < 2) | (k > tau)))
        smallest = min(smallest, int(k.min()))
        total += len(lam)
    return {"instances": total, "max_abs_diff_cvxpy": diff, "violations": violations, "min_support": smallest}


# --------------------------------------------------------------------------- the experiment


def _svm_misalignment(X, Z, W_path, probs, selected) -> dict[str, np.ndarray] | None:
    """1 − corr of the snapshots with W^SVMeq and Gen-SVM W^mm (None if the SVMs fail)."""
    try:
        W_fin = svm.finite_part(X, Z, probs, selected)
        W_mm = svm.gen_svm(X, Z, selected)
    except (InfeasibleError, SolverError):
        return None
    W_eq = svm.svm_equivalence(W_fin, W_mm, W_path[-1])
    return {"svmeq": np.asarray(metrics.one_minus_corr(W_path, W_eq)),
            "gensvm": np.asarray(metrics.one_minus_corr(W_path, W_mm))}


def _count_sweep(config: dict[str, Any], seed: int) -> dict[str, Any]:
    """Figure 9(a,b): GD for every λ on the same instances; counts, oracle counts and SVM alignment."""
    lams = sorted(set(config["lambdas"]) | set(config["corr_lambdas"]))
    B = config["trials"]
    inst = _problem(B, config["T"], config["d"], derive_seed(seed, 9))
    big = tile_trials(inst, len(lams))
    lam_arr = np.repeat(lams, B)
    run = train_lambda(big, lam_arr, config["steps"], config["lr"], config["loss"], config["snapshot_every"],
                       config["raw_eps"])
    steps = run.steps
    W_path = np.moveaxis(run.W[steps > 0], 0, 1)  # (B·L, S, d, d)
    probs = run.probs_final
    sets = tokens.selection_sets(probs, config["selected_above"], config["masked_below"])
    gd_count = sets.selected.sum(axis=(-2, -1))
    gamma = np.einsum("btd,bd->bt", big.X[:, 0], big.v)
    oracle_count = support_size(lemma6_oracle(gamma, lam_arr))
    clean = ~np.asarray(sets.ambiguous)
    out: dict[str, Any] = {"lambdas": lams, "selected": {}, "oracle_selected": {}, "ambiguous": {},
                           "svmeq": {}, "gensvm": {}, "curves": {}, "kept": {},
                           "steps": [int(k) for k in steps[steps > 0]]}
    by_count: dict[int, list[dict[str, np.ndarray]]] = {}
    for j, lam in enumerate(lams):
        block = slice(j * B, (j + 1) * B)
        ok = clean[block]
        out["selected"][str(lam)] = mean_or_none(gd_count[block])
        out["oracle_selected"][str(lam)] = float(np.mean(oracle_count[block]))
        out["ambiguous"][str(lam)] = int(np.sum(~ok))
        mis = []
        for b in np.arange(block.start, block.stop)[ok]:
            if sets.masked[b].any():
                m = _svm_misalignment(big.X[b], big.Z[b], W_path[b], probs[b], sets.selected[b])
                if m is not None:
                    mis.append(m)
                    by_count.setdefault(int(gd_count[b]), []).append(m)
        if lam not in config["corr_lambdas"]:
            continue
        out["kept"][str(lam)] = len(mis)
        if mis:
            out["curves"][str(lam)] = _mean_curves(mis)
        for r in ("svmeq", "gensvm"):
            out[r][str(lam)] = mean_or_none([m[r][-1] for m in mis])
    # Figure 9(c): the same curves grouped by the number of selected tokens, over every λ of the sweep
    out["by_count"] = {str(k): {"kept": len(ms), **_mean_curves(ms), **{f"{r}_final": float(np.mean([m[r][-1] for m in ms]))
                                                                       for r in ("svmeq", "gensvm")}}
                       for k, ms in sorted(by_count.items())}
    out["count_agreement"] = float(np.mean(gd_count == oracle_count))
    return out


def _mean_curves(mis: list[dict[str, np.ndarray]]) -> dict[str, list[float]]:
    """Mean 1 − corr curves (``svmeq``, ``gensvm``) over instances."""
    return {r: np.mean([m[r] for m in mis], axis=0).tolist() for r in ("svmeq", "gensvm")}


def _tau_sweep(config: dict[str, Any], seed: int) -> dict[str, Any]:
    """Figure 12: oracle counts on ``tau_trials`` instances per τ, GD counts on ``tau_gd_trials``."""
    taus, n_gd = config["taus"], config["tau_gd_trials"]
    draws = [draw_tau_instances(tau, config["tau_trials"], config["T"], config["d"], seed) for tau in taus]
    oracle = [support_size(lemma6_oracle(np.einsum("btd,bd->bt", inst.X[:, 0], inst.v), lam)) for inst, lam in draws]
    gd_inst = data.AttentionData(*(np.concatenate([getattr(inst, a)[:n_gd] for inst, _ in draws])
                                   for a in ("X", "Z", "Y", "v")))
    gd_lam = np.concatenate([lam[:n_gd] for _, lam in draws])
    run = train_lambda(gd_inst, gd_lam, config["steps"], config["lr"], config["loss"], config["steps"],
                       config["raw_eps"])
    sets = tokens.selection_sets(run.probs_final, config["selected_above"], config["masked_below"])
    gd = sets.selected.sum(axis=(-2, -1)).reshape(len(taus), n_gd)
    tau_col = np.asarray(taus)[:, None]
    return {
        "taus": list(taus),
        "lambda_mean": [float(np.mean(lam)) for _, lam in draws],
        "lambdas": [lam.tolist() for _, lam in draws],
        "oracle_counts": [k.tolist() for k in oracle],
        "gd_counts": gd.tolist(),
        "instances": int(sum(len(k) for k in oracle)),
        "violations": int(sum(np.sum((k < 2) | (k > t)) for k, t in zip(oracle, taus))),
        "gd_runs": int(gd.size),
        "gd_violations": int(np.sum((gd < 2) | (gd > tau_col))),
    }


def run(config: dict[str, Any], seed: int = 0, device: str = "cpu", progress=None) -> dict[str, Any]:
    """Figures 9 and 12 (Lemma 6): λ sweep, SVM alignment and the τ-condition."""
    results = _count_sweep(config, seed)
    if progress is not None:
        progress(1, 2)
    results["tau"] = _tau_sweep(config, seed)
    if progress is not None:
        progress(2, 2)
    return results


# --------------------------------------------------------------------------- figures


def plot(results: dict[str, Any]):
    """Figure 9: (a) selected tokens vs λ (GD and oracle); (b) 1 − corr curves for a few λ;
    (c) the same curves grouped by the number of selected tokens (Figure 9(c) shows 1, 2, 5, 9).

    A multi-panel figure of its own (no ``ax`` argument).
    """
    import matplotlib.pyplot as plt

    fig, (a, b, c) = plt.subplots(1, 3, figsize=(13.0, 3.8), constrained_layout=True)
    lams = results["lambdas"]
    a.plot(lams, [results["oracle_selected"][str(l)] for l in lams], "-", color="tab:gray", label="Lemma 6 oracle")
    a.plot(lams, [results["selected"][str(l)] for l in lams], "o", ms=4, color="tab:blue", label="gradient descent")
    a.set_xlabel(r"$\lambda$")
    a.set_ylabel("mean number of selected tokens")
    a.set_title("(a)")
    a.legend()
    _curve_panel(b, results["steps"], results["curves"], r"$\lambda={}$")
    b.set_title("(b) by $\\lambda$")
    groups = {k: v for k, v in results["by_count"].items() if k in _count_groups(results["by_count"])}
    _curve_panel(c, results["steps"], groups, "{} selected")
    c.set_ylim(bottom=1e-6)  # W^SVMeq is fitted to the last iterate: a curve may plunge at the last snapshot
    c.set_title("(c) by number of selected tokens")
    return fig


def _count_groups(by_count: dict[str, Any]) -> list[str]:
    """The groups Figure 9(c) shows (1, 2, 5, 9 selected tokens), else the four most populated ones."""
    paper = [k for k in ("1", "2", "5", "9") if k in by_count]
    if len(paper) >= 3:
        return paper
    return sorted(sorted(by_count, key=lambda k: -by_count[k]["kept"])[:4], key=int)


def _curve_panel(ax, steps: list[int], curves: dict[str, dict[str, list[float]]], label: str) -> None:
    """1 − corr with W^SVMeq (solid) and Gen-SVM's W^mm (dotted), one colour per group."""
    import matplotlib.pyplot as plt

    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for col, (key, cur) in zip(colors, curves.items()):
        ax.plot(steps, cur["svmeq"], "-", color=col, label=label.format(key))
        ax.plot(steps, cur["gensvm"], ":", color=col)
    ax.set_yscale("log")
    ax.set_xlabel("iteration $k$")
    ax.set_ylabel(r"$1-\mathrm{corr}(W(k),\cdot)$")
    ax.legend(title=r"solid: $W^{\mathrm{SVMeq}}$, dotted: $W^{\mathrm{mm}}$", fontsize=7, title_fontsize=7)


def plot_tau(results: dict[str, Any]):
    """Figure 12 for instances satisfying condition (8): (a) λ against τ; (b) selected tokens against τ
    (oracle and GD); (c) distribution of the number of selected tokens for τ ∈ {3, 5, 7, 9}.

    A multi-panel figure of its own (no ``ax`` argument).
    """
    import matplotlib.pyplot as plt

    tau = results["tau"]
    taus = np.asarray(tau["taus"])
    fig, (a, b, c) = plt.subplots(1, 3, figsize=(13.0, 3.6), constrained_layout=True)
    rng = np.random.default_rng(0)  # horizontal jitter only
    for t, lam in zip(taus, tau["lambdas"]):
        a.scatter(t - 0.1 + 0.2 * rng.random(len(lam)), lam, s=6, color="tab:gray", alpha=0.4)
    a.plot(taus, tau["lambda_mean"], "o-", ms=3, color="tab:blue", label=r"mean $\lambda$")
    a.set_xlabel(r"$\tau$ in condition (8)")
    a.set_ylabel(r"$\lambda$ drawn in $(\gamma_1^{gap}, \tau\gamma_\tau^{gap}/2)$")
    a.set_title("(a)")
    a.legend(fontsize=8)
    for t, k in zip(taus, tau["oracle_counts"]):
        b.scatter(t - 0.15 + 0.1 * rng.random(len(k)), k, s=6, color="tab:gray", alpha=0.4)
    for t, k in zip(taus, tau["gd_counts"]):
        b.scatter(t + 0.05 + 0.1 * rng.random(len(k)), k, s=6, color="tab:blue", alpha=0.6)
    b.plot(taus, [np.mean(k) for k in tau["oracle_counts"]], "-", color="tab:gray", label="oracle (mean)")
    b.plot(taus, [np.mean(k) if len(k) else np.nan for k in tau["gd_counts"]], "o-", ms=3, color="tab:blue",
           label="gradient descent (mean)")
    b.plot(taus, taus, "--", color="k", lw=0.8, label=r"bounds $2$ and $\tau$")
    b.axhline(2, ls="--", color="k", lw=0.8)
    b.set_xlabel(r"$\tau$ in condition (8)")
    b.set_ylabel("number of selected tokens")
    b.set_title("(b)")
    b.legend(fontsize=8)
    shown = [t for t in (3, 5, 7, 9) if t in taus]
    edges = np.arange(0.5, max(taus) + 1.5)
    for j, t in enumerate(shown):
        counts = tau["oracle_counts"][list(taus).index(t)]
        c.hist(counts, bins=edges, histtype="step", lw=1.5, color=f"C{j}", density=True, label=rf"$\tau={t}$")
    c.set_xlabel("number of selected tokens (oracle)")
    c.set_ylabel("fraction of instances")
    c.set_title("(c)")
    c.legend(fontsize=8)
    return fig
