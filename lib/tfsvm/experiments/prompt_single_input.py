"""B's single-input example: global versus locally-optimal convergence of the prompt p.

One sequence (n = 1, T = 3, d = 3) whose tokens are (x, y, score); the keys are the
first two coordinates (W = diag(1, 1, 0)) and v = (0, 0, 1) reads the score
(:func:`tfsvm.data.prompt_single_input_data`). Six initial prompts on the y-axis are
trained with normalized GD on the logistic loss (B's official notebook
``single_input_converge.ipynb``; B's slides, "global vs local convergence").

* ``"global"`` dataset: token 1 (score 1) is optimal and the only locally-optimal
  token; every run should follow the p-SVM direction p^mm ∝ (−0.099, 0.9901),
  ½‖p^mm‖² = 0.49505.
* ``"local"`` dataset: token 2 (score 0.9) is also locally optimal (its only support
  index, token 3, has score 0); its p-SVM solution is (1, 0) with ½‖p‖² = 0.5, and runs
  started low on the y-axis converge there.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from .. import data, svm, tokens, training
from ..metrics import corr
from ..data import PromptData, prompt_single_input_data
from ..plotting import CONVERGENCE_COLORS, new_figure
from ._common import normalized_rule

CASES = ("global", "local")
#: B's six initial prompts p(0) (third coordinate is invisible to the keys)
INITS: tuple[tuple[float, float, float], ...] = (
    (0.0, 1.0, 0.0), (0.0, 0.5, 0.0), (0.0, 0.0, 0.0), (0.0, -0.5, 0.0), (0.0, -1.0, 0.0), (0.0, -1.5, 0.0),
)

#: ``raw_eps``: divide the raw gradient by its norm + float64 eps, as B's notebook does
#: (see :mod:`tfsvm.training`); once the softmax saturates the steps shrink and p settles.
CONFIGS: dict[str, dict[str, Any]] = {
    "smoke": {"steps": 300, "lr": 0.1, "plot_steps": 200, "raw_eps": True},
    "book": {"steps": 1000, "lr": 0.1, "plot_steps": 200, "raw_eps": True},
    "paper": {"steps": 1000, "lr": 0.1, "plot_steps": 200, "raw_eps": True},
}

#: values printed by B's notebook ``single_input_converge.ipynb`` (cvxopt)
PAPER: dict[str, Any] = {  # same shape as results[case]["svm"][token]; p^mm ∝ (-0.099, 0.9901) and (1, 0)
    "global": {"svm": {"0": {"p": [-0.099, 0.9901, 0.0], "half_norm_sq": 0.49505}}},
    "local": {"svm": {"1": {"p": [1.0, 0.0, 0.0], "half_norm_sq": 0.5}}},
}


def selection_svm(D: PromptData, alpha: int) -> dict[str, Any]:
    """p-SVM of B for selecting token ``alpha`` of every sequence, with its support indices
    (tight constraints) and B's local-optimality test: every support token scores lower."""
    res = svm.p_svm(D.keys, np.full(D.n, alpha), full_output=True)
    rows = res.info["rows"]
    support = [int(t) for t in rows[res.active, 1]]
    scores = D.scores[0]
    return {
        "p": [float(x) for x in res.w],
        "half_norm_sq": float(0.5 * res.w @ res.w),
        "support": support,
        "locally_optimal": bool(all(scores[alpha] > scores[t] for t in support)),
    }


def exact_descent_direction(D: PromptData, p: np.ndarray, digits: int = 60) -> np.ndarray:
    """Unit vector along ``-grad_p L(p)`` for B's model, computed with ``digits`` decimal digits.

    Once the softmax saturates, ``gamma_t - f`` for the dominant token is far below float64
    resolution; this high-precision evaluation (mpmath) tells in which direction an exact
    normalized-GD step would still move p (the check that a local limit is not a stall).
    """
    import mpmath

    with mpmath.workdps(digits):
        g = [mpmath.mpf(0)] * D.d
        for i in range(D.n):
            keys = [[mpmath.mpf(float(x)) for x in k] for k in D.keys[i]]
            gam = [mpmath.mpf(float(x)) for x in D.scores[i]]
            logits = [mpmath.fsum(pj * kj for pj, kj in zip(map(mpmath.mpf, map(float, p)), k)) for k in keys]
            e = [mpmath.exp(a - max(logits)) for a in logits]
            s = [x / mpmath.fsum(e) for x in e]
            f = mpmath.fsum(st * gt for st, gt in zip(s, gam))
            w = -1 / (1 + mpmath.exp(f))  # logistic loss derivative at Y f (Y = +1 in B's toys)
            for t, k in enumerate(keys):
                for j in range(D.d):
                    g[j] += w * s[t] * (gam[t] - f) * k[j] / D.n
        norm = mpmath.sqrt(mpmath.fsum(x * x for x in g))
        return np.array([float(-x / norm) for x in g])


def run(config: dict[str, Any], seed: int = 0, device: str = "cpu",
        progress: Callable[[int, int], None] | None = None) -> dict[str, Any]:
    """Train the six prompts on both datasets (deterministic: ``seed`` is unused)."""
    p0 = np.array(INITS)
    results: dict[str, Any] = {"inits": [list(p) for p in INITS]}
    for c, case in enumerate(CASES):
        D = prompt_single_input_data(case)
        svms = {str(a): selection_svm(D, a) for a in range(D.T)}
        tr = training.train_prompt(D, p0=p0, steps=config["steps"], lr=config["lr"], record="all",
                                   rule=normalized_rule(config["raw_eps"]), device=device)
        P = tr.p  # (steps + 1, 6, d)
        probs = tr.probs[-1, :, 0]  # final (6, T) of the single sequence
        selected = [int(a) for a in np.argmax(probs, axis=-1)]
        corr_own = [float(corr(P[-1, j], np.asarray(svms[str(a)]["p"]))) for j, a in enumerate(selected)]
        results[case] = {
            "svm": svms,
            "selected": selected,
            "final_prob": [float(probs[j, a]) for j, a in enumerate(selected)],
            "final_direction": [[float(x) for x in P[-1, j, :2] / np.linalg.norm(P[-1, j, :2])] for j in range(len(p0))],
            "corr_with_own_svm": corr_own,
            "descent_corr_with_own_svm": [
                float(corr(exact_descent_direction(D, P[-1, j]), np.asarray(svms[str(a)]["p"])))
                for j, a in enumerate(selected)],
            "path_xy": P[: config["plot_steps"] + 1, :, :2].transpose(1, 0, 2).tolist(),
            "keys_xy": D.keys[0, :, :2].tolist(),
            "scores": D.scores[0].tolist(),
        }
        if progress is not None:
            progress(c + 1, len(CASES))
    return results


def plot(results: dict[str, Any]):
    """Both datasets side by side: the six GD paths of p (coloured by the token they end up
    selecting), the global (red) and locally-optimal (blue) p-SVM directions, and the keys."""
    fig, axes = new_figure(ncols=2, width=8.0, height=3.8)
    colours = {0: CONVERGENCE_COLORS["global"], 1: CONVERGENCE_COLORS["local"]}
    for ax_, case in zip(axes, CASES):
        r = results[case]
        radius = max(np.linalg.norm(np.asarray(path)[-1]) for path in r["path_xy"])
        for a, name in ((0, "global $p^{mm}$"), (1, r"$p^{mm}(\alpha{=}2)$")):
            info = r["svm"][str(a)]
            if a == 1 and not info["locally_optimal"]:
                continue
            u = np.asarray(info["p"][:2]) / np.linalg.norm(info["p"][:2])
            ax_.plot([0, radius * u[0]], [0, radius * u[1]], "--", color=colours[a], lw=2, label=f"{name} direction")
        for path, a in zip(r["path_xy"], r["selected"]):
            path = np.asarray(path)
            ax_.plot(path[:, 0], path[:, 1], color=colours.get(a, "teal"), lw=1.0, alpha=0.8)
            ax_.plot(*path[0], "o", color="0.3", ms=3)
        keys = np.asarray(r["keys_xy"])
        ax_.plot(keys[:, 0], keys[:, 1], "ks", ms=4, label="keys $k_t$")
        ax_.set_title(f"{case} dataset (first {len(r['path_xy'][0]) - 1} steps)")
        ax_.set_xlabel("$p_1$")
        ax_.set_ylabel("$p_2$")
        ax_.legend(loc="upper right")
    return fig


# --------------------------------------------------------------------------- B's Theorem 4 and the W-SVM of a fixed query


def theorem4_example() -> data.AttentionData:
    """B's one-query model in A's form (n = 1, T = 4, d = 2, query z = e₁, so W e₁ plays B's p).

    Keys (−0.1, 1), (1, 0), (0.8, −0.2018…), (0, 0) with head v = (0.9, 1.09), so the scores are
    (1, 0.9, 0.5, 0). Token 1 is optimal. Tokens 2 and 3 are feasible selections whose SVMs have a
    higher-scoring support index (not locally optimal); token 4 scores lowest (its cone_ε is empty).
    """
    X = np.array([[[-0.1, 1.0], [1.0, 0.0], [0.8, (0.5 - 0.72) / 1.09], [0.0, 0.0]]])
    return data.AttentionData(X, np.array([[1.0, 0.0]]), np.ones(1), np.array([0.9, 1.09]))


def local_path_limits(inst: data.AttentionData, eps_values: list[float], radii: list[float]) -> list[dict[str, Any]]:
    """Where A's local regularization path (Theorem 9; :func:`local_convergence.local_path`) ends, per selection α.

    For every single-token selection α of the one-query instance ``inst``: Definition 2's verdict,
    and for each ε in ``eps_values`` the misalignment 1 − corr(W̄_R, W_α^mm) at the largest radius
    and the cone value of W̄_R (eq. (5)); α whose cone_ε(α) is empty (no lower-scoring token) get
    ``"cone_empty": True`` and no path.
    """
    from .local_convergence import local_path

    out = []
    for a in range(inst.T):
        alpha = np.array([a])
        entry: dict[str, Any] = {"alpha": a, "score": float(inst.scores[0, a]),
                                 "locally_optimal": bool(tokens.is_locally_optimal(inst.X, inst.Z, inst.scores,
                                                                                  alpha).locally_optimal),
                                 "cone_empty": not bool(np.any(inst.scores[0] < inst.scores[0, a]))}
        if not entry["cone_empty"]:
            paths = [local_path(inst, alpha, radii, eps) for eps in eps_values]
            entry["misalign"] = [float(p["misalign"][-1]) for p in paths]
            entry["cone_value"] = [float(p["cone_value"][-1]) for p in paths]
        out.append(entry)
    return out


def fixed_query_w_svm(X: np.ndarray, p: np.ndarray, alpha: np.ndarray) -> dict[str, float]:
    """The book's derivation, checked: with every query equal to p, (Att-SVM) is B's p-SVM lifted to rank one.

    The logits x_itᵀ W p depend on W only through u = W p, and the smallest ‖W‖_F with W p = u is
    u pᵀ/‖p‖² (norm ‖u‖/‖p‖). So W^mm = u^mm pᵀ/‖p‖² with u^mm = B's p-SVM on the keys x_it (W = I).
    Returns the largest entrywise difference between the two, both norms and the rank of W^mm.
    """
    n = X.shape[0]
    W_att = svm.att_svm(X, np.repeat(p[None], n, axis=0), alpha)
    u = svm.p_svm(X, alpha)
    W_lift = np.outer(u, p) / (p @ p)
    s = np.linalg.svd(W_att, compute_uv=False)
    return {"max_abs_diff": float(np.max(np.abs(W_att - W_lift))), "norm_att": float(np.linalg.norm(W_att)),
            "norm_lift": float(np.linalg.norm(u) / np.linalg.norm(p)), "rank": int(np.sum(s > 1e-8 * s[0]))}
