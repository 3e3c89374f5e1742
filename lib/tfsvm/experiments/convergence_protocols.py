"""Figures 2 and 5 of A at small d under every candidate labelling protocol.

The paper states neither the number of gradient steps, nor the initialization, nor the rule that
labels a run "global", "local" or "not local". The candidate protocols below were fixed before
any of them was run; ``book/reproduction-notes.md`` gives the reason each one is a natural
reading of the paper, and shows all of them beside the paper's bars.

* ``argmax@k`` (k = 600, 2000, 10⁴; PyTorch-default init): α_i = argmax_t s_it(k); "global" if
  α = opt, "local" if α is locally optimal (Definition 2), "not local" otherwise
  (:func:`tfsvm.tokens.classify_runs_batch`, the rule of ``convergence_types``).
* ``argmax@2000/zero``: the same rule at 2000 steps from W(0) = 0 (for (K,Q): Q(0) = 0,
  K(0) = 0.1·N(0, I), the released Figure 1 code).
* ``direction@k`` (k = 2000, 10⁴; default init): α = the selection at step k; the run converged
  to a direction only if α is locally optimal (so its Att-SVM is feasible) **and**
  corr(W(k), W_α^mm) ≥ ``threshold`` (for (K,Q): corr(K(k)Q(k)ᵀ, W⋆,α^mm), the nuclear-norm
  direction of Theorem 2); "global" if moreover α = opt, "local" if α ≠ opt, "not local" when no
  locally-optimal direction is approached. This reads Definition 2 and Theorem 7 literally: both
  are statements about the *direction* W(k)/‖W(k)‖_F, not about the argmax of the softmax.

As in the paper's bars, "local" includes "global".
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from .. import attention, data, metrics, svm, tokens, training
from ..plotting import new_figure
from ._common import map_cells
from .convergence_types import PAPER as _FIG5

PARAMS = ("W", "KQ")
#: protocol ids, in the order of the notes page's table
PROTOCOLS = ("argmax@600", "argmax@2000", "argmax@10000", "argmax@2000/zero", "direction@2000",
             "direction@10000")

CONFIGS: dict[str, dict[str, Any]] = {
    "smoke": {"n": 5, "T": 5, "ds": [2, 5], "trials": 6, "steps": [60, 120, 240], "lr": 0.1, "gap": 0.1,
              "threshold": 0.99},
    "book": {"n": 5, "T": 5, "ds": [2, 3, 5], "trials": 100, "steps": [600, 2000, 10000], "lr": 0.1, "gap": 0.1,
             "threshold": 0.99, "jobs": 2},
    "paper": {"n": 5, "T": 5, "ds": [2, 3, 5], "trials": 500, "steps": [600, 2000, 10000], "lr": 0.1, "gap": 0.1,
              "threshold": 0.99, "jobs": 2},
}

#: No new values of the paper: the notes page shows Figure 5's bars (``convergence_types.PAPER``)
#: beside every protocol, so this experiment adds no rows to the status page.
PAPER: dict[str, Any] = {}


def paper_bars(param: str, d: int) -> dict[str, float] | None:
    """Figure 5's read-off bars for ``param`` at ``d`` (None where the paper has no bar)."""
    return _FIG5[param].get(str(d))


def direction_labels(inst: data.AttentionData, W_k: np.ndarray, alpha: np.ndarray, param: str,
                     threshold: float) -> np.ndarray:
    """The ``direction@k`` rule: labels of B runs with iterates ``W_k`` (B, d, d) and selections ``alpha`` (B, n).

    A run is labelled by the locally-optimal direction it approaches (corr ≥ ``threshold``):
    W_α^mm (Frobenius) for W, W⋆,α^mm (nuclear) for (K,Q); "not_local" if it approaches none.
    """
    test = tokens.locally_optimal_batch(inst.X, inst.Z, inst.scores, alpha)
    target = test.W.copy()
    candidates = np.flatnonzero(test.locally_optimal)
    if param == "KQ":
        for b in candidates:
            target[b] = svm.att_svm(inst.X[b], inst.Z[b], alpha[b], norm="nuc")
    approached = np.zeros(len(alpha), dtype=bool)
    if candidates.size:
        approached[candidates] = metrics.corr(W_k[candidates], target[candidates]) >= threshold
    is_opt = np.all(alpha == inst.opt, axis=-1)
    return np.where(approached & is_opt, "global", np.where(approached, "local", "not_local")).astype(str)


def cell(n: int, T: int, d: int, trials: int, gap: float, param: str, steps: list[int], lr: float,
         threshold: float, seed: int) -> dict[str, Any]:
    """Every protocol's bars for one (d, parameterization), on the same instances.

    Instances use the seed of ``convergence_types`` (``seed + 1000 d``), so the ``argmax@k``
    rows at k = 600 and 2000 are the book- and paper-scale bars of Figure 5.
    """
    inst = data.unit_sphere_data(n, T, d, seed=seed + 1000 * d, trials=trials, gap=gap)
    runs = {"default": training.train(inst, param=param, steps=max(steps), lr=lr, init="default", seed=seed + d,
                                      record=steps),
            "zero": training.train(inst, param=param, steps=steps[1], lr=lr, init="zero",
                                   seed=seed + d, record=[steps[1]])}
    out: dict[str, Any] = {"opt_feasible": float(svm.att_svm_batch(inst.X, inst.Z, inst.opt)[1].mean())}
    for j, k in enumerate(steps):
        alpha, labels = _argmax_labels(inst, runs["default"].W[j])
        out[f"argmax@{k}"] = tokens.convergence_fractions(labels)
        if j > 0:
            labels = direction_labels(inst, runs["default"].W[j], alpha, param, threshold)
            out[f"direction@{k}"] = tokens.convergence_fractions(labels)
    out[f"argmax@{steps[1]}/zero"] = tokens.convergence_fractions(_argmax_labels(inst, runs["zero"].W[-1])[1])
    return out


def _argmax_labels(inst: data.AttentionData, W: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Selections α = argmax_t s_it and the ``argmax`` rule's labels for the iterates ``W`` (B, d, d)."""
    probs = np.asarray(attention.attention_probs(inst.X, W, inst.Z))
    return np.argmax(probs, axis=-1), tokens.classify_runs_batch(inst.X, inst.Z, inst.scores, probs)


def run(config: dict[str, Any], seed: int = 0, device: str = "cpu",
        progress: Callable[[int, int], None] | None = None) -> dict[str, Any]:
    """All protocols: ``results[param][str(d)] = {"opt_feasible", protocol: {"global", "local", "not_local"}}``.

    Protocol names carry the configured step counts (``argmax@600`` … at book scale).
    """
    steps = sorted(config["steps"])
    cells = [(config["n"], config["T"], d, config["trials"], config["gap"], param, steps, config["lr"],
              config["threshold"], seed) for d in config["ds"] for param in PARAMS]
    results: dict[str, Any] = {p: {} for p in PARAMS}
    for c, bars in zip(cells, map_cells(cell, cells, config.get("jobs", 1), progress)):
        results[c[5]][str(c[2])] = bars
    return results


def protocol_names(results: dict[str, Any]) -> list[str]:
    """The protocol keys of ``results``, argmax rules first."""
    first = next(iter(results["W"].values()))
    names = [k for k in first if k != "opt_feasible"]
    return sorted(names, key=lambda k: (k.startswith("direction"), k.endswith("/zero"), int(k.split("@")[1].split("/")[0])))


def plot(results: dict[str, Any], ax=None):
    """Per parameterization and d: the "global" and "local" percentages of every protocol and of the paper."""
    if ax is None:
        fig, axes = new_figure(ncols=2, width=10.0, height=3.8, sharey=True)
    else:
        axes = np.atleast_1d(ax)
        fig = axes[0].figure
    names = protocol_names(results)
    for a, param in zip(axes, PARAMS):
        ds = list(results[param])
        x = np.arange(len(ds))
        width = 0.8 / (len(names) + 1)
        for j, name in enumerate([*names, "paper"]):
            glob = [100 * (paper_bars(param, int(d)) or {}).get("global", np.nan) if name == "paper"
                    else 100 * results[param][d][name]["global"] for d in ds]
            local = [100 * (paper_bars(param, int(d)) or {}).get("local", np.nan) if name == "paper"
                     else 100 * results[param][d][name]["local"] for d in ds]
            offset = x - 0.4 + (j + 0.5) * width
            colour = "black" if name == "paper" else f"C{j}"
            a.bar(offset, local, width, color=colour, alpha=0.35)
            a.bar(offset, glob, width, color=colour, label=name)
        a.set_xticks(x, ds)
        a.set_xlabel("dimension $d$")
        a.set_title(("$W$" if param == "W" else "$(K,Q)$") + ": global (solid), local incl. global (light)")
    axes[0].set_ylabel("percentage of instances")
    fig.legend(*axes[0].get_legend_handles_labels(), loc="outside upper center", ncol=4, fontsize=8)
    return fig
