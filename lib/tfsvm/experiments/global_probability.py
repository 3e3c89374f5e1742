"""Figure 6 of A (v1): probability that gradient descent converges to the global direction, vs d.

Same instances and training protocol as :mod:`tfsvm.experiments.convergence_types` (unit-sphere
data with score-gap filter 0.1, normalized GD with eta = 0.1, PyTorch-default initialization),
for (n, T) in {(5,5), (10,5), (20,5)} (panel a) and {(5,5), (5,10), (5,20)} (panel b). A run is
global when the final softmax selects the optimal token in every sequence (alpha = opt), so no
SVM has to be solved here.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from ..plotting import PARAM_COLORS, PARAM_LABELS, figure_and_axes
from ..checks import figure5_instances, final_and_half_probs
from ._common import PARAMS, map_cells, setting_key

CONFIGS: dict[str, dict[str, Any]] = {
    "smoke": {"pairs": [[5, 5], [20, 5]], "ds": [10, 30], "trials": 6, "steps": 100, "lr": 0.1, "gap": 0.1},
    "book": {"pairs": [[5, 5], [10, 5], [20, 5], [5, 10], [5, 20]], "ds": [5, 10, 15, 20, 25, 30],
             "trials": 60, "steps": 400, "lr": 0.1, "gap": 0.1},
    "paper": {"pairs": [[5, 5], [10, 5], [20, 5], [5, 10], [5, 20]], "ds": [5, 10, 15, 20, 25, 30],
              "trials": 500, "steps": 2000, "lr": 0.1, "gap": 0.1, "jobs": 2},
}

_DS = ("5", "10", "15", "20", "25", "30")


def _curve(values: tuple[float, ...]) -> dict[str, float]:
    return dict(zip(_DS, values))


#: Read off Figure 6 (+-0.02).
PAPER: dict[str, dict[str, dict[str, float]]] = {
    "W": {
        "n5_T5": _curve((0.79, 0.97, 1.0, 1.0, 1.0, 1.0)),
        "n10_T5": _curve((0.29, 0.80, 0.96, 0.99, 1.0, 1.0)),
        "n20_T5": _curve((0.01, 0.25, 0.68, 0.94, 0.98, 1.0)),
        "n5_T10": _curve((0.60, 0.84, 0.94, 0.98, 0.99, 1.0)),
        "n5_T20": _curve((0.61, 0.72, 0.85, 0.90, 0.95, 0.98)),
    },
    "KQ": {
        "n5_T5": _curve((0.79, 0.96, 0.98, 0.99, 1.0, 1.0)),
        "n10_T5": _curve((0.27, 0.77, 0.91, 0.98, 0.99, 1.0)),
        "n20_T5": _curve((0.01, 0.19, 0.57, 0.79, 0.91, 0.96)),
        "n5_T10": _curve((0.73, 0.88, 0.94, 0.97, 0.98, 0.99)),
        "n5_T20": _curve((0.79, 0.90, 0.94, 0.95, 0.98, 0.98)),
    },
}


def run(config: dict[str, Any], seed: int = 0, device: str = "cpu",
        progress: Callable[[int, int], None] | None = None) -> dict[str, Any]:
    """Figure 6: ``results[param]["n{n}_T{T}"][str(d)]`` = fraction of runs with alpha = opt.

    ``results["stability"][param]["n{n}_T{T}"][str(d)]`` = fraction of runs whose global/not-global
    verdict after ``steps // 2`` equals the final one.
    """
    results: dict[str, Any] = {p: {} for p in PARAMS}
    results["stability"] = {p: {} for p in PARAMS}
    for n, T in config["pairs"]:
        for p in PARAMS:  # keys in the order of config["ds"], filled below
            results[p][setting_key(n, T)] = dict.fromkeys(map(str, config["ds"]))
            results["stability"][p][setting_key(n, T)] = dict.fromkeys(map(str, config["ds"]))
    cells = [(n, T, d, config["trials"], config["gap"], param, config["steps"], config["lr"], seed)
             for n, T in config["pairs"] for d in config["ds"] for param in PARAMS]
    cells.sort(key=lambda c: -c[0] * c[1] * c[2] * (3 if c[5] == "KQ" else 1))  # longest first: balanced workers
    for c, (hit, stable) in zip(cells, map_cells(cell, cells, config.get("jobs", 1), progress)):
        n, T, d, param = c[0], c[1], c[2], c[5]
        results[param][setting_key(n, T)][str(d)] = hit
        results["stability"][param][setting_key(n, T)][str(d)] = stable
    return results


def cell(n: int, T: int, d: int, trials: int, gap: float, param: str, steps: int, lr: float, seed: int
         ) -> tuple[float, float]:
    """One point of Figure 6: (fraction of runs with alpha = opt, fraction whose verdict after
    ``steps // 2`` equals the final one). Independent of the other points (own seeds)."""
    inst = figure5_instances(n, T, d, trials, gap, seed=seed + 1000 * d + 10 * n + T)
    final, half = final_and_half_probs(inst, param, steps, lr, seed=seed + d)
    hit, hit_half = (np.all(np.argmax(p, axis=-1) == inst.opt, axis=-1) for p in (final, half))
    return float(np.mean(hit)), float(np.mean(hit == hit_half))


def plot(results: dict[str, Any], ax=None):
    """Figure 6: (a) T = 5, n varies; (b) n = 5, T varies; W solid, (K,Q) dashed."""
    fig, axes = figure_and_axes(ax, ncols=2, width=10.0, height=3.6, sharey=True)
    markers = ("o", "s", "^")
    for a, (title, vary_n) in zip(axes, (("(a) $T=5$", True), ("(b) $n=5$", False))):
        curves = [k for k in results["W"] if (k.endswith("_T5") if vary_n else k.startswith("n5_"))]
        for j, k in enumerate(curves):
            for param, style in (("W", "-"), ("KQ", "--")):
                ds = list(results[param][k])
                n, T = (int(part[1:]) for part in k.split("_"))
                label = f"$n={n}, T={T}$ {PARAM_LABELS[param]}"
                a.plot([int(d) for d in ds], [results[param][k][d] for d in ds], style,
                       marker=markers[j % 3], color=PARAM_COLORS[param], alpha=1.0 - 0.25 * j, label=label)
        a.set_title(title)
        a.set_xlabel("dimension $d$")
        a.legend(fontsize=7, ncol=2)
    axes[0].set_ylabel("probability of global convergence")
    return fig
