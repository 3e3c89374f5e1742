"""Figures 2 and 5 of A (v1): how often does gradient descent converge globally, locally, or elsewhere?

For every dimension d, a batch of random instances (n = T = 5, unit-sphere tokens, queries
and head, score-gap filter gamma >= 0.1, App. F) is trained by normalized GD (eta = 0.1) in
the W- and the (K,Q)-parameterization. Each run is classified from its final softmax
(:func:`tfsvm.tokens.classify_runs_batch`): alpha_i = argmax_t s_it; "global" if alpha = opt,
"local" if alpha != opt is locally optimal (Definition 2), "not_local" otherwise. The bars of
the figures report "global", "local" *including* global, and "not_local"; the green bar is
the fraction of instances satisfying Assumption B.1 in Figure 5's sense (mean margin of the
non-optimal tokens under W^mm -- W*^mm for (K,Q) -- below 1.1).

The paper states neither the number of iterations nor the initialization; we use PyTorch's
default ``nn.Linear`` initialization (what the released code uses for Figure 7) and a fixed
number of steps, and report how stable the classification is between steps/2 and steps.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from .. import attention, data, gradients, metrics, svm, tokens, training
from ..errors import InfeasibleError
from ..plotting import CONVERGENCE_COLORS, new_figure
from ._common import map_cells, tile_trials

PARAMS = ("W", "KQ")

CONFIGS: dict[str, dict[str, Any]] = {
    "smoke": {"n": 5, "T": 5, "ds": [2, 10], "trials": 8, "steps": 100, "lr": 0.1, "gap": 0.1, "b1_nuc_trials": 2},
    "book": {"n": 5, "T": 5, "ds": [2, 3, 4, 5, 10, 20, 40], "trials": 100, "steps": 600, "lr": 0.1, "gap": 0.1,
             "b1_nuc_trials": 15},
    "paper": {"n": 5, "T": 5, "ds": [2, 3, 4, 5, 10, 20, 40], "trials": 500, "steps": 2000, "lr": 0.1, "gap": 0.1,
              "b1_nuc_trials": 500, "jobs": 2},
}


def _bars(not_local: float, glob: float, local: float, b1: float | None = None) -> dict[str, float]:
    out = {"global": glob, "local": local, "not_local": not_local}
    if b1 is not None:
        out["b1"] = b1
    return out


#: Read off the bars of Figure 5 (+-0.02; Figure 2 = panel (a) without d = 40). B.1 is given where
#: the paper's green bar is legible.
PAPER: dict[str, dict[str, dict[str, float]]] = {
    "W": {
        "2": _bars(0.63, 0.18, 0.36), "3": _bars(0.17, 0.45, 0.82), "4": _bars(0.02, 0.67, 0.98),
        "5": _bars(0.0, 0.79, 1.0, 0.01), "10": _bars(0.0, 0.97, 1.0, 0.69), "20": _bars(0.0, 1.0, 1.0, 1.0),
        "40": _bars(0.0, 1.0, 1.0, 1.0),
    },
    "KQ": {
        "2": _bars(0.25, 0.27, 0.74), "3": _bars(0.01, 0.57, 0.99), "4": _bars(0.0, 0.71, 1.0),
        "5": _bars(0.0, 0.78, 1.0), "10": _bars(0.0, 0.96, 1.0, 0.25), "20": _bars(0.0, 1.0, 1.0, 0.88),
        "40": _bars(0.0, 1.0, 1.0, 1.0),
    },
}


def instances(n: int, T: int, d: int, trials: int, gap: float, seed: int) -> data.AttentionData:
    """The random instances of Figures 2, 5 and 6 for one (n, T, d): a batch of ``trials``."""
    return data.unit_sphere_data(n, T, d, seed=seed, trials=trials, gap=gap)


def final_and_half_probs(inst: data.AttentionData, param: str, steps: int, lr: float, seed: int
                         ) -> tuple[np.ndarray, np.ndarray]:
    """Softmax probabilities (B, n, T) after ``steps`` and after ``steps // 2`` of normalized GD.

    Protocol: normalized GD with step ``lr`` (App. F), PyTorch-default initialization
    (``init="default"``, seeded), m = d for (K,Q).
    """
    res = training.train(inst, param=param, steps=steps, lr=lr, init="default",
                         seed=seed, record=[steps // 2, steps])
    half = attention._probs_array(inst.X, res.W[0], inst.Z)  # inst is checked data: no second check
    return res.probs_final, half


def classify(inst: data.AttentionData, param: str, steps: int, lr: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Run labels ("global" / "local" / "not_local") after ``steps`` and after ``steps // 2``."""
    final, half = final_and_half_probs(inst, param, steps, lr, seed)
    return (tokens.classify_runs_batch(inst.X, inst.Z, inst.scores, final),
            tokens.classify_runs_batch(inst.X, inst.Z, inst.scores, half))


def b1_holds(inst: data.AttentionData, norm: str = "fro", limit: int | None = None) -> np.ndarray:
    """Per instance: does B.1 hold in Figure 5's sense (mean non-optimal margin < 1.1)?

    ``norm="fro"`` uses W^mm (batched solver); ``norm="nuc"`` uses W*^mm (one SDP per instance,
    reduced to the subspaces the constraints see by :func:`tfsvm.svm.solve_att_svm`, on the first
    ``limit`` instances only). An infeasible SVM counts as B.1 failing.
    """
    B = inst.trials if limit is None else min(limit, inst.trials)
    if norm == "fro":
        W, feasible = svm.att_svm_batch(inst.X[:B], inst.Z[:B], inst.opt[:B])
    else:
        W, feasible = np.full((B, inst.d, inst.d), np.nan), np.zeros(B, dtype=bool)
        for b in range(B):
            try:
                W[b], feasible[b] = svm.att_svm(inst.X[b], inst.Z[b], inst.opt[b], norm="nuc"), True
            except InfeasibleError:
                pass
    return np.array([bool(f) and tokens.assumption_b1(inst.X[b], inst.Z[b], inst.opt[b], W_mm=W[b]).holds
                     for b, f in enumerate(feasible)])


def run(config: dict[str, Any], seed: int = 0, device: str = "cpu",
        progress: Callable[[int, int], None] | None = None) -> dict[str, Any]:
    """Figures 2 and 5: convergence-type fractions and the B.1 fraction for every d and parameterization.

    Returns ``results[param][str(d)] = {"global", "local", "not_local", "b1"}`` (fractions,
    "local" includes "global") and ``results["stability"][param][str(d)]`` = fraction of runs
    whose label after ``steps // 2`` equals the final label.
    """
    ds = config["ds"]
    results: dict[str, Any] = {p: {} for p in PARAMS}
    results["stability"] = {p: {} for p in PARAMS}
    cells = [(config["n"], config["T"], d, config["trials"], config["gap"], param, config["steps"], config["lr"],
              config["b1_nuc_trials"], seed) for d in ds for param in PARAMS]
    for c, (bars, stable) in zip(cells, map_cells(cell, cells, config.get("jobs", 1), progress)):
        d, param = c[2], c[5]
        results[param][str(d)] = bars
        results["stability"][param][str(d)] = stable
    return results


def cell(n: int, T: int, d: int, trials: int, gap: float, param: str, steps: int, lr: float, b1_nuc_trials: int,
         seed: int) -> tuple[dict[str, float], float]:
    """One bar group of Figure 5: (fractions incl. "b1", stability) for one d and parameterization.

    Instances are drawn with seed ``seed + 1000 d`` and trained with seed ``seed + d``, so a cell
    does not depend on the others (the sweep can run them in parallel, :func:`map_cells`).
    """
    inst = instances(n, T, d, trials, gap, seed=seed + 1000 * d)
    final, half = classify(inst, param, steps, lr, seed=seed + d)
    norm, limit = ("fro", None) if param == "W" else ("nuc", b1_nuc_trials)
    bars = {**tokens.convergence_fractions(final), "b1": float(b1_holds(inst, norm, limit).mean())}
    return bars, float(np.mean(final == half))


def plot(results: dict[str, Any], ax=None):
    """Grouped bars of Figure 5: per d, Not-local / Global / Local (incl. global) / B.1, for W and (K,Q)."""
    if ax is None:
        fig, axes = new_figure(ncols=2, width=10.0, height=3.6, sharey=True)
    else:
        axes, fig = np.atleast_1d(ax), np.atleast_1d(ax)[0].figure
    keys = ("not_local", "global", "local", "b1")
    names = {"not_local": "Not local", "global": "Global", "local": "Local (incl. global)", "b1": "B.1 holds"}
    for a, param in zip(axes, PARAMS):
        ds = list(results[param])
        x = np.arange(len(ds))
        for j, key in enumerate(keys):
            a.bar(x + (j - 1.5) * 0.2, [100 * results[param][d][key] for d in ds], 0.2,
                  color=CONVERGENCE_COLORS[key], label=names[key])
        a.set_xticks(x, ds)
        a.set_xlabel("dimension $d$")
        a.set_title("$W$" if param == "W" else "$(K,Q)$")
    axes[0].set_ylabel("percentage of instances")
    fig.legend(*axes[0].get_legend_handles_labels(), loc="outside upper center", ncol=4, fontsize=8)
    return fig


# --------------------------------------------------------------------------- checks of Theorems 3-6 (chapter 4)


def lemma8_descent(inst: data.AttentionData, steps: int, factor: float = 1.0) -> dict[str, float]:
    """Plain GD with eta = factor / L_W (Lemma 4's constant) from W(0) = 0: Lemma 8 of A.

    Returns ``L_W``, ``max_increase`` = max_k L(W(k+1)) - L(W(k)) (<= 0 for monotone descent),
    ``min_slack`` = min_k [L(W(k)) - L(W(k+1)) - (eta/2) ||grad L(W(k))||_F^2] (>= 0 is Lemma 8's
    inequality) and ``final_grad`` = ||grad L(W(steps))||_F.
    """
    L_W = float(gradients.lipschitz_W(inst))
    eta = factor / L_W
    res = training.train(inst, param="W", steps=steps, lr=eta, rule="plain", init="zero", record="all")
    rep = tile_trials(inst, len(res.steps))
    g2 = np.sum(gradients.grad_W(rep.X, rep.Z, rep.Y, rep.v, res.W) ** 2, axis=(-2, -1))
    drop = res.loss[:-1] - res.loss[1:]
    return {"L_W": L_W, "max_increase": float(np.max(-drop)), "min_slack": float(np.min(drop - 0.5 * eta * g2[:-1])),
            "final_grad": float(np.sqrt(g2[-1]))}


def gradient_inner_products(inst: data.AttentionData, W_mm: np.ndarray, radius: float, samples: int,
                            seed: int) -> np.ndarray:
    """<grad L(W), W^mm> at ``samples`` random W with ||W||_F = ``radius`` (Lemma 9 of A: < 0 under B).

    The gradient is the closed form (13) in float64; at large radius it underflows to 0.
    """
    W = np.random.default_rng(seed).standard_normal((samples, inst.d, inst.d))
    W *= radius / np.linalg.norm(W, axis=(-2, -1), keepdims=True)
    rep = tile_trials(inst, samples)
    G = gradients.grad_W(rep.X, rep.Z, rep.Y, rep.v, W)
    return np.einsum("bij,ij->b", G, W_mm)


def directional_run(inst: data.AttentionData, steps: int, plain_steps: int, lr: float, inits: int,
                    init_scale: float, seed: int) -> dict[str, np.ndarray]:
    """GD from ``inits`` random W(0) of norm ``init_scale`` (Theorems 3-5 of A): ``plain_steps`` of
    plain GD with eta = 1/L_W (Lemma 4), and ``steps`` of normalized GD with step ``lr``.

    Returns, for each run ``"plain"`` and ``"ngd"``: ``{run}_steps`` (R,) recorded iterations
    (log-spaced), ``{run}_norm`` (inits, R) = ||W(k)||_F, ``{run}_misalign`` (inits, R) =
    1 - corr(W(k), W^mm), ``{run}_grad`` (inits,) = final ||grad L(W)||_F.
    """
    W_mm = svm.att_svm(inst.X, inst.Z, inst.opt)
    W0 = np.random.default_rng(seed).standard_normal((inits, inst.d, inst.d))
    W0 *= init_scale / np.linalg.norm(W0, axis=(-2, -1), keepdims=True)
    rep = tile_trials(inst, inits)
    out: dict[str, np.ndarray] = {}
    runs = (("plain", plain_steps, 1.0 / gradients.lipschitz_W(inst), "plain"), ("ngd", steps, lr, "normalized"))
    for name, k_max, step, rule in runs:
        record = np.unique(np.concatenate([[0], np.geomspace(1, k_max, 80).astype(np.int64)]))
        res = training.train(rep, param="W", steps=k_max, lr=step, rule=rule, init=W0, record=record)
        Wk = np.swapaxes(res.W, 0, 1)  # (inits, R, d, d)
        G = gradients.grad_W(rep.X, rep.Z, rep.Y, rep.v, res.W_final)
        out.update({f"{name}_steps": res.steps, f"{name}_norm": np.linalg.norm(Wk, axis=(-2, -1)),
                    f"{name}_misalign": metrics.one_minus_corr(Wk, W_mm),
                    f"{name}_grad": np.linalg.norm(G, axis=(-2, -1))})
    return out


def plot_directional(runs: dict[str, dict[str, np.ndarray]]):
    """Left: ||W(k)||_F of plain GD; right: 1 - corr(W(k), W^mm), normalized (solid) and plain (dotted) GD."""
    fig, (a0, a1) = new_figure(ncols=2, width=10.0, height=3.6)
    for j, (label, r) in enumerate(runs.items()):
        color = f"C{j}"
        a0.semilogx(r["plain_steps"][1:], r["plain_norm"][:, 1:].T, color=color, lw=0.8)
        a1.loglog(r["ngd_steps"][1:], r["ngd_misalign"][:, 1:].T, color=color, lw=0.8)
        a1.loglog(r["plain_steps"][1:], r["plain_misalign"][:, 1:].T, ":", color=color, lw=0.8)
        a0.plot([], [], color=color, label=label)
        a1.plot([], [], color=color, label=f"{label}, normalized GD")
        a1.plot([], [], ":", color=color, label=f"{label}, plain GD")
    a0.set_xlabel("iteration $k$")
    a0.set_ylabel(r"$\|W(k)\|_F$ (plain GD, $\eta = 1/L_W$)")
    a0.legend()
    a1.set_xlabel("iteration $k$")
    a1.set_ylabel(r"$1-\mathrm{corr}(W(k), W^{\mathrm{mm}})$")
    a1.legend(fontsize=7)
    return fig
