"""Figures 2 and 5 of A (v1): how often does gradient descent converge globally, locally, or elsewhere?

For every dimension d, a batch of random instances (n = T = 5, unit-sphere tokens, queries
and head, score-gap filter gamma ≥ 0.1, App. F) is trained by normalized GD (eta = 0.1) in
the W- and the (K,Q)-parameterization. Each run is classified from its final softmax
(:func:`tfsvm.checks.classify_gd_runs`, :func:`tfsvm.tokens.classify_runs_batch`): α_i = argmax_t s_it;
"global" if α = opt, "local" if α ≠ opt is locally optimal (Definition 2), "not_local" otherwise. The bars of
the figures report "global", "local" *including* global, and "not_local"; the green bar is
the fraction of instances satisfying Assumption B.1 in Figure 5's sense (mean margin of the
non-optimal tokens under W^mm -- W⋆^mm for (K,Q) -- below 1.1).

The paper states neither the number of iterations nor the initialization; we use PyTorch's
default ``nn.Linear`` initialization (what the released code uses for Figure 7) and a fixed
number of steps, and report how stable the classification is between steps/2 and steps.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from .. import tokens
from ..checks import b1_holds, classify_gd_runs, figure5_instances
from ..plotting import CONVERGENCE_COLORS, figure_and_axes
from ._common import PARAMS, map_cells


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
    for c, (bars, stable) in zip(cells, map_cells(_cell, cells, config.get("jobs", 1), progress)):
        d, param = c[2], c[5]
        results[param][str(d)] = bars
        results["stability"][param][str(d)] = stable
    return results


def _cell(n: int, T: int, d: int, trials: int, gap: float, param: str, steps: int, lr: float, b1_nuc_trials: int,
         seed: int) -> tuple[dict[str, float], float]:
    """One bar group of Figure 5: (fractions incl. "b1", stability) for one d and parameterization.

    Instances are drawn with seed ``seed + 1000 d`` and trained with seed ``seed + d``, so a cell
    does not depend on the others (the sweep can run them in parallel, :func:`map_cells`).
    """
    inst = figure5_instances(n, T, d, trials, gap, seed=seed + 1000 * d)
    final, half = classify_gd_runs(inst, param, steps, lr, seed=seed + d)
    norm, limit = ("fro", None) if param == "W" else ("nuc", b1_nuc_trials)
    bars = {**tokens.convergence_fractions(final), "b1": float(b1_holds(inst, norm, limit).mean())}
    return bars, float(np.mean(final == half))


def plot(results: dict[str, Any], ax=None):
    """Grouped bars of Figure 5: per d, Not-local / Global / Local (incl. global) / B.1, for W and (K,Q)."""
    fig, axes = figure_and_axes(ax, ncols=2, width=10.0, height=3.6, sharey=True)
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
