"""B's multi-input example (normalized versus plain GD) and B's loss-function comparison.

Multi-input (B's notebook ``multi_input_converge.ipynb``): n = 3 sequences of T = 7
tokens in d = 3 (:func:`tfsvm.data.prompt_multi_input_data`), token 1 optimal with
score 1 and all other tokens tied at 0.5 -- the equal-non-optimal-score setting in
which B proves global convergence of the prompt. Six initial prompts on the x-axis
are trained with normalized GD (lr 0.1) and with plain GD (lr 1.0); we record the
correlation with the p-SVM solution p^mm, the mean softmax probability of the
optimal token and ‖p‖.

Loss comparison (B's notebook ``diff_loss_function.ipynb``): n = 2, T = 2, d = 3 with
scores (0, C) and (0, 1) (:func:`tfsvm.data.loss_comparison_data`), p^mm = (1, 0, 0)
for every C; normalized GD from p(0) = 0 with the correlation loss l(u) = -u and the
logistic loss, for C in {1, ..., 10, 100}.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from .. import metrics, svm, training
from ..data import loss_comparison_data, prompt_multi_input_data
from ..plotting import figure_and_axes, new_figure
from ._common import normalized_rule

#: B's six initial prompts along the x-axis
INITS: tuple[float, ...] = (1.0, 0.5, 0.0, -0.5, -1.0, -1.5)
#: the two optimisers: (normalized?, step size)
METHODS: dict[str, tuple[bool, float]] = {"normalized": (True, 0.1), "plain": (False, 1.0)}
METHOD_LABELS = {"normalized": r"normalized GD ($\eta=0.1$)", "plain": r"GD (constant $\eta=1$)"}
LOSSES = ("correlation", "logistic")
LOSS_LABELS = {"correlation": r"correlation $\ell(u)=-u$", "logistic": r"logistic $\ell(u)=\log(1+e^{-u})$"}

CONFIGS: dict[str, dict[str, Any]] = {
    "smoke": {"steps": 200, "data_seed": 0, "Cs": [1.0, 10.0, 100.0], "raw_eps": True},
    "book": {"steps": 1000, "data_seed": 0, "Cs": [1.0, 3.0, 10.0, 100.0], "raw_eps": True},
    "paper": {"steps": 1000, "data_seed": 0, "Cs": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0, 100.0],
              "raw_eps": True},
}

#: value printed by B's notebook (cvxopt) for *its* random draw of the data (``multi_input_converge.ipynb``);
#: our generator uses numpy's default_rng, so the data and this value differ.
PAPER: dict[str, Any] = {"multi_input": {"half_norm_sq": 0.31319}, "loss_comparison": {"p_mm": [1.0, 0.0, 0.0]}}


def prompt_alignment(P: np.ndarray, p_ref: np.ndarray) -> np.ndarray:
    """corr(p, p_ref) for every recorded prompt ``P`` (..., d); 0 where p = 0 (no direction yet)."""
    shape = P.shape[:-1]
    c = metrics.path_corr(P.reshape(-1, 1, P.shape[-1]), np.asarray(p_ref)[None, :])
    return np.nan_to_num(c).reshape(shape)


def run(config: dict[str, Any], seed: int = 0, device: str = "cpu",
        progress: Callable[[int, int], None] | None = None) -> dict[str, Any]:
    """Both parts; deterministic (the data seed is ``config["data_seed"]``, B's ``seed 0``)."""
    results = {"multi_input": run_multi_input(config, device), "loss_comparison": run_loss_comparison(config, device)}
    if progress is not None:
        progress(1, 1)
    return results


def run_multi_input(config: dict[str, Any], device: str = "cpu") -> dict[str, Any]:
    """Normalized versus plain GD from B's six initial prompts, compared with p^mm(opt)."""
    D = prompt_multi_input_data(seed=config["data_seed"])
    res = svm.p_svm(D.keys, D.opt, full_output=True)
    p_mm = res.w
    p0 = np.array([[x, 0.0, 0.0] for x in INITS])
    out: dict[str, Any] = {"p_mm": p_mm.tolist(), "half_norm_sq": float(0.5 * p_mm @ p_mm),
                           "opt": D.opt.tolist(), "kkt_residual": float(res.kkt_residual),
                           "iters": list(range(config["steps"] + 1))}
    for name, (normalized, lr) in METHODS.items():
        tr = training.train_prompt(D, p0=p0, steps=config["steps"], lr=lr,
                                   rule=normalized_rule(config["raw_eps"]) if normalized else "plain",
                                   record="all", device=device)
        opt_prob = np.take_along_axis(tr.probs, D.opt[None, None, :, None], axis=-1)[..., 0].mean(-1)  # (R, 6)
        c = prompt_alignment(tr.p, p_mm)  # (R, 6)
        out[name] = {
            "corr": c.T.tolist(),  # (6, R)
            "opt_prob": opt_prob.T.tolist(),
            "norm": np.linalg.norm(tr.p, axis=-1).T.tolist(),
            "final_corr": c[-1].tolist(),
            "final_opt_prob": opt_prob[-1].tolist(),
        }
    return out


def run_loss_comparison(config: dict[str, Any], device: str = "cpu") -> dict[str, Any]:
    """Normalized GD from p(0) = 0 with each loss, for every score gap C."""
    out: dict[str, Any] = {"Cs": list(config["Cs"]), "p_mm": {}, "iters": list(range(config["steps"] + 1))}
    for loss in LOSSES:
        out[loss] = {"final_corr": [], "final_direction": [], "corr": []}
    for C in config["Cs"]:
        D = loss_comparison_data(C)
        p_mm = svm.p_svm(D.keys, D.opt)
        out["p_mm"][str(C)] = p_mm.tolist()
        for loss in LOSSES:
            tr = training.train_prompt(D, steps=config["steps"], lr=0.1, loss=loss, record="all",
                                       rule=normalized_rule(config["raw_eps"]), device=device)
            c = prompt_alignment(tr.p, p_mm)
            out[loss]["corr"].append(c.tolist())
            out[loss]["final_corr"].append(float(c[-1]))
            out[loss]["final_direction"].append((tr.p[-1] / np.linalg.norm(tr.p[-1])).tolist())
    return out


def plot(results: dict[str, Any]):
    """Three panels: corr(p(k), p^mm) for all inits, the optimal token's mean probability and
    ‖p(k)‖ for p(0) = 0 -- normalized GD (solid) versus plain GD (dashed)."""
    r = results["multi_input"]
    fig, axes = new_figure(ncols=3, width=10.5, height=3.4)
    it = np.asarray(r["iters"])
    zero = INITS.index(0.0)
    for name, style, colour in (("normalized", "-", "tab:blue"), ("plain", "--", "tab:orange")):
        m = r[name]
        for j, c in enumerate(m["corr"]):
            axes[0].plot(it, c, style, color=colour, lw=1.0, alpha=0.8,
                         label=METHOD_LABELS[name] if j == 0 else None)
        axes[1].plot(it, m["opt_prob"][zero], style, color=colour, label=METHOD_LABELS[name])
        axes[2].plot(it, m["norm"][zero], style, color=colour, label=METHOD_LABELS[name])
    axes[0].set_ylabel(r"$\mathrm{corr}(p(k), p^{mm})$")
    axes[0].set_title("all six initialisations")
    axes[1].set_ylabel(r"mean $s_{i,\mathrm{opt}_i}$")
    axes[1].set_title("$p(0)=0$")
    axes[2].set_ylabel(r"$\|p(k)\|$")
    axes[2].set_title("$p(0)=0$")
    for a in axes:
        a.set_xscale("symlog", linthresh=10)
        a.set_xlabel("iteration $k$")
    axes[0].legend(loc="lower right")
    return fig


def plot_loss_comparison(results: dict[str, Any], ax=None):
    """1 - corr(p(k), p^mm) at the last step against the score gap C, for both losses."""
    r = results["loss_comparison"]
    fig, ax = figure_and_axes(ax, width=5.5, height=3.6)
    Cs = np.asarray(r["Cs"])
    for loss, marker in zip(LOSSES, ("o", "s")):
        ax.plot(Cs, 1.0 - np.asarray(r[loss]["final_corr"]), marker=marker, label=LOSS_LABELS[loss])
    ax.set_xscale("log")
    ax.set_yscale("symlog", linthresh=1e-6)  # linear below 1e-6: exact alignment (C = 1) stays visible
    ax.set_ylim(bottom=0)
    ax.set_xlabel("score of the first sequence's optimal token, $C$")
    ax.set_ylabel(r"$1-\mathrm{corr}(p(K), p^{mm})$ after $K$ steps")
    ax.legend()
    return fig
