"""Sequence-output and causal self-attention trained by normalized GD (A §7, eqs. (10)-(11), App. D).

The paper states the sequential and causal SVMs but has no figure for them; this
experiment is the book's own. For each trial we draw a self-attention dataset
(``Z_i = X_i``: every position k is a query ``z_ik = x_ik`` with its own label
``Y_ik``), train ``W`` on

* the sequence-output loss ``L_seq`` of eq. (10) (full softmax at every position) and
* the causal loss ``L_csl`` of eq. (10) (position k attends to tokens ``t ≤ k`` only),

with normalized GD (App. F), read off the selected tokens ``α_ik`` (the largest
final attention probability of each query), solve the sequential / causal SVM for
that selection (:func:`tfsvm.svm.seq_svm`, :func:`tfsvm.svm.causal_svm`) and record
``1 - corr(W(k), W^mm_alpha)`` along the path. It also compares the two SVMs of
the *optimal* selections (norms, correlation, number of constraints).
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from .. import metrics, svm, training
from ..data import SequenceData, sequence_data
from ..plotting import figure_and_axes, new_figure

#: the two attention variants of eq. (10)
MODES = ("sequential", "causal")
MODE_COLORS = {"sequential": "tab:blue", "causal": "tab:orange"}

#: ``grid``: (n, T, d) cells of the Corollary-2 sweep (both masks, W and (K,Q)), ``grid_trials`` datasets each
CONFIGS: dict[str, dict[str, Any]] = {
    "smoke": {"n": 2, "T": 3, "d": 6, "trials": 2, "steps": 200, "lr": 0.1, "record_every": 20,
              "grid": [[2, 3, 6]], "grid_trials": 2},
    "book": {"n": 2, "T": 4, "d": 8, "trials": 10, "steps": 2000, "lr": 0.1, "record_every": 20,
             "grid": [[2, 4, 8], [3, 4, 12], [2, 6, 12]], "grid_trials": 12},
    "paper": {"n": 2, "T": 4, "d": 8, "trials": 40, "steps": 4000, "lr": 0.1, "record_every": 20,
              "grid": [[2, 4, 8], [3, 4, 12], [2, 6, 12]], "grid_trials": 40},
}
PARAMS = ("W", "KQ")

#: the paper has no experiment for Section 7
PAPER: dict[str, Any] = {}


def train_sequence(D: SequenceData, causal: bool, steps: int, lr: float, record_every: int,
                   device: str = "cpu") -> training.TrainResult:
    """Normalized GD ``W <- W - lr * g / ‖g‖_F`` from ``W(0) = 0`` on ``L_seq`` or ``L_csl`` (eq. (10), App. F),
    all trials of ``D`` in one batched run."""
    return training.train(D, param="W", steps=steps, lr=lr, init="zero",
                          mode="causal" if causal else "sequential", record=f"every {record_every}",
                          device=device)


def _solve(mode: str, X: np.ndarray, alpha: np.ndarray, norm: str = "fro") -> np.ndarray:
    """W^mm (``norm="fro"``) or W⋆^mm (``"nuc"``) of the sequential (11) or causal SVM for selection alpha (Z = X)."""
    return (svm.causal_svm if mode == "causal" else svm.seq_svm)(X, X, alpha, norm=norm)


def grid_cell(n: int, T: int, d: int, trials: int, steps: int, lr: float, seed: int) -> dict[str, Any]:
    """Corollary 2 of A for one (n, T, d): both masks, W and (K,Q), ``trials`` self-attention datasets.

    Each run is normalized GD from W(0) = 0 (for (K,Q): Q(0) = 0, K(0) = 0.1·N(0, I)); α = the
    token each query selects at the end. Returns ``[mode][param]`` = per-dataset correlations of
    the final W (or K Qᵀ) with the Frobenius SVM (``corr_fro``) and the nuclear-norm SVM
    (``corr_nuc``) of α, and the fraction of queries selecting their optimal token.
    """
    D = sequence_data(n, T, d, seed=seed, trials=trials)
    out: dict[str, Any] = {}
    for mode in MODES:
        out[mode] = {}
        for param in PARAMS:
            tr = training.train(D, param=param, steps=steps, lr=lr, init="zero", mode=mode,
                                record=[steps])
            cell: dict[str, list[float]] = {"corr_fro": [], "corr_nuc": [], "frac_opt": []}
            for b in range(trials):
                Db, alpha = D.trial(b), tr.selected[b]
                for norm in ("fro", "nuc"):
                    cell[f"corr_{norm}"].append(float(metrics.corr(tr.W_final[b], _solve(mode, Db.X, alpha, norm))))
                cell["frac_opt"].append(float(np.mean(alpha == Db.opt(causal=mode == "causal"))))
            out[mode][param] = cell
    return out


def run(config: dict[str, Any], seed: int = 0, device: str = "cpu",
        progress: Callable[[int, int], None] | None = None) -> dict[str, Any]:
    """Train both variants on ``config["trials"]`` random datasets drawn with ``seed``."""
    D = sequence_data(config["n"], config["T"], config["d"], seed=seed, trials=config["trials"])
    data = [D.trial(b) for b in range(config["trials"])]
    results: dict[str, Any] = {"seed": seed, "trials": config["trials"]}
    for m, mode in enumerate(MODES):
        causal = mode == "causal"
        tr = train_sequence(D, causal, config["steps"], config["lr"], config["record_every"], device)
        results["iters"] = [int(k) for k in tr.steps]
        curves, final, frac_opt, max_prob = [], [], [], []
        for j, Dj in enumerate(data):
            alpha = tr.selected[j]  # selected token of every query (i, k)
            c = np.nan_to_num(metrics.path_corr(tr.W[:, j], _solve(mode, Dj.X, alpha)))  # W(0) = 0 -> corr 0
            curves.append([float(1.0 - x) for x in c])
            final.append(float(c[-1]))
            frac_opt.append(float(np.mean(alpha == Dj.opt(causal=causal))))
            max_prob.append(float(tr.max_prob[-1, j]))
        results[mode] = {
            "one_minus_corr": curves,
            "final_corr": final,
            "final_corr_mean": float(np.mean(final)),
            "final_corr_min": float(np.min(final)),
            "frac_selected_opt": frac_opt,
            "mean_max_prob": max_prob,
        }
        if progress is not None:
            progress(m + 1, len(MODES) + 1)
    results["svm_compare"] = compare_svms(data)
    results["grid"] = {f"n{n}_T{T}_d{d}": grid_cell(n, T, d, config["grid_trials"], config["steps"], config["lr"],
                                                     seed + 1 + j)
                       for j, (n, T, d) in enumerate(config["grid"])}
    if progress is not None:
        progress(len(MODES) + 1, len(MODES) + 1)
    return results


def compare_svms(data: list[SequenceData]) -> dict[str, Any]:
    """What the causal mask changes: the two SVMs at their own optimal selections.

    Per dataset: ``‖W^mm_seq‖_F``, ``‖W^mm_csl‖_F``, their correlation, the fraction
    of queries whose causal optimum differs from the sequential one, and the numbers of
    constraints (n T (T-1) versus n T (T-1) / 2: position 1 has none).
    """
    out: dict[str, Any] = {"norm_seq": [], "norm_csl": [], "corr_seq_csl": [], "frac_opt_differs": []}
    for D in data:
        opt_seq, opt_csl = D.opt(causal=False), D.opt(causal=True)
        W_seq, W_csl = _solve("sequential", D.X, opt_seq), _solve("causal", D.X, opt_csl)
        out["norm_seq"].append(float(np.linalg.norm(W_seq)))
        out["norm_csl"].append(float(np.linalg.norm(W_csl)))
        out["corr_seq_csl"].append(float(metrics.path_corr(W_csl, W_seq)[0]))
        out["frac_opt_differs"].append(float(np.mean(opt_seq != opt_csl)))
    n, T = data[0].n, data[0].T
    out["n_constraints_seq"] = n * T * (T - 1)
    out["n_constraints_csl"] = n * T * (T - 1) // 2
    return out


def plot(results: dict[str, Any], ax=None):
    """1 - corr(W(k), W^mm_alpha) for every dataset (thin) and the median (thick), both variants."""
    fig, ax = figure_and_axes(ax)
    it = np.asarray(results["iters"])
    for mode in MODES:
        curves = np.asarray(results[mode]["one_minus_corr"])
        col = MODE_COLORS[mode]
        for c in curves:
            ax.plot(it[1:], c[1:], color=col, alpha=0.25, lw=0.8)
        ax.plot(it[1:], np.median(curves, axis=0)[1:], color=col, lw=2.2,
                label=f"{mode} (median of {len(curves)} datasets)")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("iteration $k$")
    ax.set_ylabel(r"$1-\mathrm{corr}(W(k), W^{\mathrm{mm}}_{\alpha})$")
    ax.legend()
    return fig


def constraint_pattern(opt: np.ndarray, causal: bool) -> np.ndarray:
    """(K, T) map of one sequence's SVM rows: 2 = selected token ``α_ik``, 1 = a constraint
    ``(x_{iα_ik} - x_it)ᵀ W z_ik ≥ 1``, 0 = no constraint (hidden by the causal mask)."""
    K, T = opt.shape[0], opt.shape[0]
    pattern = np.ones((K, T), dtype=int)
    if causal:
        pattern[np.triu_indices(T, k=1)] = 0
    pattern[np.arange(K), opt] = 2
    return pattern


def plot_constraints(data: SequenceData, i: int = 0):
    """Side by side: which (query k, token t) pairs the sequential and the causal SVM constrain."""
    from matplotlib.colors import ListedColormap
    from matplotlib.patches import Patch

    fig, axes = new_figure(ncols=2, width=7.0, height=3.3)
    cmap = ListedColormap(["whitesmoke", "lightsteelblue", "tab:red"])
    for ax, mode in zip(axes, MODES):
        causal = mode == "causal"
        pat = constraint_pattern(data.opt(causal=causal)[i], causal)
        ax.imshow(pat, cmap=cmap, vmin=0, vmax=2)
        T = pat.shape[1]
        ax.set_xticks(range(T), [str(t + 1) for t in range(T)])
        ax.set_yticks(range(T), [str(k + 1) for k in range(T)])
        ax.set_xlabel("token $t$")
        ax.set_ylabel("query position $k$")
        ax.set_title(f"{mode} SVM ({int(np.sum(pat == 1))} constraints)")
        ax.grid(False)
    fig.legend(handles=[Patch(color="tab:red", label=r"optimal token $\mathrm{opt}_{ik}$"),
                        Patch(color="lightsteelblue", label="constraint"),
                        Patch(color="whitesmoke", label="masked: no constraint")],
               loc="outside lower center", ncols=3)
    return fig
