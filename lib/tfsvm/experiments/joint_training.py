"""Joint training of the head v and the prompt p (B's Figure 3, notebook ``joint_training.ipynb``).

n = 3 sequences of T = 2 tokens in d = 2 with keys equal to the tokens (W = I)
(:func:`tfsvm.data.joint_training_data`). The second token of every sequence is the
one to select. Both v and p are trained by normalized GD (each gradient normalised
separately), lr 0.1, from v(0) = (-1, 0), p(0) = (0, -1).

* ``tight``: the three selected tokens are all support vectors of the v-SVM, so the
  joint p-SVM is the ordinary p-SVM, p = (4/3, 1/3) (1/2 ‖p‖^2 = 0.94444);
* ``non_tight``: the third sequence has v-SVM margin 1.5 > 1, its p-SVM constraint is
  relaxed to "≥ 0", and p should follow the relaxed solution (1, 0) (1/2 ‖p‖^2 = 0.5)
  rather than the unrelaxed (1.25, 0.25). In both cases v -> (0, 1).
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from .. import svm, training
from ..data import joint_training_data
from ..plotting import new_figure
from ._common import normalized_rule
from .prompt_multi_input import prompt_alignment

CASES = ("tight", "non_tight")
#: paths and SVM directions of panels (a), (b): v(k) orange and the v-SVM indigo (rather than
#: purple and green) so that no two of them merge under simulated colour blindness (tests/test_palette.py)
COLORS = {"p": "tab:blue", "v": "#E69F00", "p_joint": "tab:red", "p_unrelaxed": "0.6", "v_svm": "#332288"}
P0 = (0.0, -1.0)
#: the selected token (0-based) of every sequence
SELECTED = 1

CONFIGS: dict[str, dict[str, Any]] = {
    "smoke": {"steps": 200, "lr": 0.1, "raw_eps": True},
    "book": {"steps": 1000, "lr": 0.1, "raw_eps": True},
    "paper": {"steps": 1000, "lr": 0.1, "raw_eps": True},
}

#: closed-form SVM solutions of B's joint example (checked against the cvxopt output of ``joint_training.ipynb``)
PAPER: dict[str, Any] = {
    "tight": {"p_joint": [4 / 3, 1 / 3], "half_norm_sq_joint": 0.94444, "v_direction": [0.0, 1.0]},
    "non_tight": {"p_joint": [1.0, 0.0], "half_norm_sq_joint": 0.5, "p_unrelaxed": [1.25, 0.25],
                  "v_direction": [0.0, 1.0]},
}


def run(config: dict[str, Any], seed: int = 0, device: str = "cpu",
        progress: Callable[[int, int], None] | None = None) -> dict[str, Any]:
    """Train (v, p) jointly on both datasets and compare with the joint and unrelaxed SVMs."""
    results: dict[str, Any] = {"iters": list(range(config["steps"] + 1))}
    for c, case in enumerate(CASES):
        D = joint_training_data(tight=case == "tight")
        alpha = np.full(D.n, SELECTED)
        joint = svm.joint_p_svm(D.X, D.Y, alpha, keys=D.keys)
        p_plain = svm.p_svm(D.keys, alpha)
        tr = training.train_prompt(D, train_p=True, train_v=True, p0=np.array(P0), steps=config["steps"],
                                   lr=config["lr"], record="all", rule=normalized_rule(config["raw_eps"]),
                                   device=device)
        out_prob = 1.0 / (1.0 + np.exp(-D.Y[None, :] * tr.outputs))  # logistic probability of the label
        results[case] = {
            "p_joint": joint.p.tolist(),
            "half_norm_sq_joint": float(0.5 * joint.p @ joint.p),
            "p_unrelaxed": p_plain.tolist(),
            "half_norm_sq_unrelaxed": float(0.5 * p_plain @ p_plain),
            "v_svm": joint.v.tolist(),
            "v_support": [int(i) for i in joint.support],
            "v_margins": (D.Y * (D.X[:, SELECTED] @ joint.v)).tolist(),
            "corr_p_joint": prompt_alignment(tr.p, joint.p).tolist(),
            "corr_p_unrelaxed": prompt_alignment(tr.p, p_plain).tolist(),
            "corr_v": prompt_alignment(tr.v, joint.v).tolist(),
            "selected_prob": tr.probs[..., SELECTED].mean(-1).tolist(),
            "output_prob": out_prob.mean(-1).tolist(),
            "p_final": tr.p[-1].tolist(),
            "v_final": tr.v[-1].tolist(),
            "p_path": tr.p.tolist(),
            "v_path": tr.v.tolist(),
        }
        if progress is not None:
            progress(c + 1, len(CASES))
    return results


def plot(results: dict[str, Any], plot_steps: int = 200):
    """B's Figure 3: (a), (b) paths of p and v with the SVM directions (relaxed in red, unrelaxed in
    grey), (c) mean softmax probability of the selected token and mean logistic probability."""
    fig, axes = new_figure(ncols=3, width=11.0, height=3.6)
    for ax_, case in zip(axes[:2], CASES):
        r = results[case]
        P, V = np.asarray(r["p_path"])[: plot_steps + 1], np.asarray(r["v_path"])[: plot_steps + 1]
        radius = float(np.max(np.linalg.norm(P, axis=-1)))
        for key, colour, name in (("p_unrelaxed", COLORS["p_unrelaxed"], "p-SVM (all margins 1)"),
                                  ("p_joint", COLORS["p_joint"], r"joint p-SVM ($\mathcal{S}$-relaxed)"),
                                  ("v_svm", COLORS["v_svm"], "v-SVM")):
            u = np.asarray(r[key]) / np.linalg.norm(r[key])
            ax_.plot([0, radius * u[0]], [0, radius * u[1]], "--", color=colour, lw=2, label=name)
        ax_.plot(P[:, 0], P[:, 1], color=COLORS["p"], label="$p(k)$")
        ax_.plot(V[:, 0], V[:, 1], color=COLORS["v"], label="$v(k)$")
        ax_.set_title(f"({'a' if case == 'tight' else 'b'}) {case.replace('_', '-')} (first {plot_steps} steps)")
        ax_.set_xlabel("first coordinate")
        ax_.set_ylabel("second coordinate")
    axes[0].legend(loc="lower right", fontsize=7)
    r = results["tight"]
    it = np.asarray(results["iters"])
    axes[2].plot(it, r["selected_prob"], label="mean softmax prob. of selected token")
    axes[2].plot(it, r["output_prob"], "--", label=r"mean $\sigma(Y_i f(X_i))$")
    axes[2].set_xscale("symlog", linthresh=10)
    axes[2].set_xlabel("iteration $k$")
    axes[2].set_ylabel("probability")
    axes[2].set_title("(c) tight dataset")
    axes[2].legend(loc="lower right")
    return fig
