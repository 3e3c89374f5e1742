"""Figure 1 of A (v1): two-dimensional gradient-descent paths against the SVM directions.

Cross-attention toy of ``visualization1.ipynb`` (n = 2 sequences, T = 3 tokens, d = 2;
:func:`tfsvm.data.gd_paths_2d_data`). Normalized GD (eta = 0.1) is run twice:

* W-parameterization from W(0) = 0 -> the curves W(k) z_i, compared with W^mm z_i
  (Frobenius Att-SVM, solid lines);
* (K,Q)-parameterization (m = d = 2) from Q(0) = 0, K(0) = 0.1 N(0, I) -> the curves
  K(k)Q(k)ᵀ z_i, compared with W⋆^mm z_i (nuclear Att-SVM⋆, dashed lines).

Theorem 2 (for the regularization path) and Figure 1 say: W(k) aligns with W^mm and
K(k)Q(k)ᵀ with W⋆^mm. The results hold the final correlations (all four pairings)
and the paths subsampled every ``record_every`` steps, so :func:`plot` needs nothing else.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from .. import data, metrics, svm, training
from ..plotting import PARAM_COLORS, figure_and_axes, new_figure

CONFIGS: dict[str, dict[str, Any]] = {
    "smoke": {"data_seed": 1, "steps": 200, "lr": 0.1, "record_every": 10},
    "book": {"data_seed": 1, "steps": 2000, "lr": 0.1, "record_every": 20},
    "paper": {"data_seed": 1, "steps": 2000, "lr": 0.1, "record_every": 20},
}

#: Figure 1 shows the alignment only visually (each GD curve runs along its SVM line); we read
#: that as correlation 1 for the matching pairs.
PAPER: dict[str, float] = {"corr_W_fro": 1.0, "corr_KQ_nuc": 1.0}


def _tolist(a: np.ndarray) -> list:
    return np.asarray(a, dtype=float).tolist()


def run(config: dict[str, Any], seed: int = 0, device: str = "cpu",
        progress: Callable[[int, int], None] | None = None) -> dict[str, Any]:
    """Train both parameterizations on the Figure-1 toy; ``seed`` seeds K(0).

    Returns
    -------
    dict with
      ``corr_W_fro``, ``corr_KQ_nuc`` (the figure's message), ``corr_W_nuc``, ``corr_KQ_fro``
      (the cross pairings), ``steps`` (recorded step indices), ``path_W`` / ``path_KQ``
      (lists (R, n, d) of W(k) z_i and K(k)Q(k)ᵀ z_i), ``curve_W_fro`` / ``curve_KQ_nuc``
      (correlations with the matching SVM at the recorded steps k > 0), ``norm_W`` / ``norm_KQ``
      (final Frobenius norms), ``fro_norm_W_fro`` / ``fro_norm_W_nuc`` (Frobenius norms of
      W^mm and W⋆^mm), ``svm_fro`` / ``svm_nuc`` (lists (n, d)
      of W^mm z_i and W⋆^mm z_i), and the data ``X``, ``Z``, ``opt`` for the inset.
    """
    inst = data.gd_paths_2d_data(seed=config["data_seed"])
    steps, lr = config["steps"], config["lr"]
    record = f"every {config['record_every']}"
    run_W = training.train(inst, param="W", steps=steps, lr=lr, init="zero", record=record, device=device)
    if progress is not None:
        progress(1, 3)
    run_KQ = training.train(inst, param="KQ", steps=steps, lr=lr, init="zero", seed=seed, record=record,
                            device=device)
    if progress is not None:
        progress(2, 3)
    W_fro = svm.att_svm(inst.X, inst.Z, inst.opt, norm="fro")
    W_nuc = svm.att_svm(inst.X, inst.Z, inst.opt, norm="nuc")
    if progress is not None:
        progress(3, 3)
    Wf, KQf = run_W.W_final, run_KQ.W_final
    return {
        "corr_W_fro": metrics.corr(Wf, W_fro),
        "corr_KQ_nuc": metrics.corr(KQf, W_nuc),
        "corr_W_nuc": metrics.corr(Wf, W_nuc),
        "corr_KQ_fro": metrics.corr(KQf, W_fro),
        "corr_fro_nuc": metrics.corr(W_fro, W_nuc),
        "steps": [int(k) for k in run_W.steps],
        "curve_W_fro": _tolist(metrics.corr(run_W.W[1:], W_fro)),
        "curve_KQ_nuc": _tolist(metrics.corr(run_KQ.W[1:], W_nuc)),
        "norm_W": float(np.linalg.norm(Wf)),
        "norm_KQ": float(np.linalg.norm(KQf)),
        "fro_norm_W_fro": float(np.linalg.norm(W_fro)),
        "fro_norm_W_nuc": float(np.linalg.norm(W_nuc)),
        "path_W": _tolist(np.einsum("kde,ne->knd", run_W.W, inst.Z)),
        "path_KQ": _tolist(np.einsum("kde,ne->knd", run_KQ.W, inst.Z)),
        "svm_fro": _tolist(inst.Z @ W_fro.T),
        "svm_nuc": _tolist(inst.Z @ W_nuc.T),
        "X": _tolist(inst.X),
        "Z": _tolist(inst.Z),
        "opt": [int(i) for i in inst.opt],
    }


#: colours of the two sequences (the paper: red for z_1, blue for z_2; here darker / lighter
#: shades of each parameterization's colour) and of their tokens in the inset (teal / gold)
_SHADES = {"W": ("#08306b", "#6baed6"), "KQ": ("#67000d", "#fc9272")}
_TOKEN_COLORS = ("teal", "goldenrod")


def plot(results: dict[str, Any], ax=None):
    """Figure 1 in three panels: the tokens; W(k) z_i with W^mm z_i; K(k)Q(k)ᵀ z_i with W⋆^mm z_i.

    Solid segments: the Frobenius SVM directions, drawn as ``‖W(k_final)‖_F W^mm z_i / ‖W^mm‖_F``,
    i.e. where W(k) z_i would be if W(k) had exactly the direction of W^mm; dashed: the same for
    the nuclear solution W⋆^mm. Both are drawn in both panels, so the reader sees which one each
    GD path follows. Returns the figure (``ax``, if given, must hold three axes).
    """
    fig, axes = figure_and_axes(ax, ncols=3, width=12.0, height=4.2, gridspec_kw={"width_ratios": [0.7, 1, 1]})
    X, opt = np.asarray(results["X"]), results["opt"]
    Z = np.asarray(results["Z"])
    a = axes[0]
    for i in range(X.shape[0]):
        a.plot(X[i, :, 0], X[i, :, 1], "o", ms=6, color=_TOKEN_COLORS[i], label=rf"tokens of $X_{i + 1}$")
        a.plot(X[i, opt[i], 0], X[i, opt[i], 1], "*", ms=15, color=_TOKEN_COLORS[i], mec="k", mew=0.6)
        a.annotate("", xy=Z[i], xytext=(0, 0),
                   arrowprops={"arrowstyle": "->", "color": "k"})
        a.text(*(1.12 * Z[i]), rf"$z_{i + 1}$", fontsize=9, ha="center", va="center")
    a.plot([], [], "*", color="0.5", mec="k", ms=10, label=r"optimal token $\mathrm{opt}_i$")
    a.set_aspect("equal", adjustable="datalim")
    a.set_title("tokens and queries")
    a.set_xlabel("first coordinate")
    a.set_ylabel("second coordinate")
    a.legend(fontsize=7, loc="best")
    fro, nuc = np.asarray(results["svm_fro"]), np.asarray(results["svm_nuc"])
    nf, nn = results["fro_norm_W_fro"], results["fro_norm_W_nuc"]
    for a, param, key, title in ((axes[1], "W", "path_W", r"$W$-parameterization: $W(k)z_i$"),
                                 (axes[2], "KQ", "path_KQ", r"$(K,Q)$-parameterization: $K(k)Q(k)^\top z_i$")):
        path = np.asarray(results[key])  # (R, n, d)
        norm = results["norm_W" if param == "W" else "norm_KQ"]
        for i in range(path.shape[1]):
            c = _SHADES[param][i]
            a.plot(path[:, i, 0], path[:, i, 1], "-", lw=0.8, color=c, alpha=0.6)
            a.plot(path[:, i, 0], path[:, i, 1], ".", ms=3, color=c, label=rf"GD path, $i={i + 1}$")
            for dirs, scale, ls, name in ((fro, nf, "-", r"$W^{\mathrm{mm}}z_i$ (Frobenius)"),
                                          (nuc, nn, "--", r"$W^{\mathrm{mm}}_\star z_i$ (nuclear)")):
                u = 1.1 * norm * dirs[i] / scale
                a.plot([0, u[0]], [0, u[1]], ls, color="0.2" if ls == "-" else "0.5", lw=1.3,
                       label=name if i == 0 else None)
        a.plot(0, 0, "k+", ms=8)
        a.set_aspect("equal", adjustable="datalim")
        a.set_title(title)
        a.set_xlabel("first coordinate")
        a.set_ylabel("second coordinate")
        a.legend(fontsize=7, loc="best")
    return fig


# =========================================================================== chapter helpers
# Chapter 1 (Figure 3 of A as a drawing; the first normalized-GD run) and Chapter 3 (Lemma 2 and
# the regularization path) use the same small problems as Figure 1; their helpers live here.


def logistic_direction(points: np.ndarray, labels: np.ndarray, steps: int = 2000, lr: float = 0.1) -> np.ndarray:
    """Normalized GD on bias-free logistic regression, w(0) = 0; returns w(steps) (numpy).

    The classical implicit bias: for separable data w(k)/‖w(k)‖ converges to the hard-margin
    SVM direction (Soudry et al., 2018), the analogue of Theorem 2 for examples instead of tokens.
    """
    w = np.zeros(points.shape[1])
    yx = labels[:, None] * points
    for _ in range(steps):
        margins = yx @ w
        g = -(yx * (0.5 * (1.0 - np.tanh(0.5 * margins)))[:, None]).mean(0)  # grad of mean log(1+e^{-m})
        w = w - lr * g / (np.linalg.norm(g) + 1e-300)
    return w


def plot_analogy(seed: int = 0, data_seed: int = 1):
    """Figure 3 of A drawn with data: (a) logistic regression -> SVM separating *examples*;
    (b) attention -> Att-SVM separating the *tokens* of each sequence.

    (a) Two separable point clouds with their bias-free max-margin line (solid), the margin lines
    (dotted) and the direction of logistic-regression GD after 2000 normalized steps (arrow).
    (b) The tokens of the Figure-1 toy; for each sequence i the vector u_i = W^mm z_i (arrow), the
    line through the optimal token orthogonal to u_i (solid) and the margin line one unit below
    (dotted): every other token of sequence i lies on or beyond it, support tokens on it.
    Returns the figure.
    """
    rng = np.random.default_rng(seed)
    pos = rng.normal([1.3, 0.9], 0.45, (12, 2))
    neg = rng.normal([-1.3, -0.9], 0.45, (12, 2))
    P, y = np.vstack([pos, neg]), np.r_[np.ones(12), -np.ones(12)]
    w_svm = svm.max_margin(y[:, None] * P).w
    w_gd = logistic_direction(P, y)
    fig, (a, b) = new_figure(ncols=2, width=10.0, height=4.4)
    a.plot(pos[:, 0], pos[:, 1], "o", color="tab:green", ms=5, label="examples, $y=+1$")
    a.plot(neg[:, 0], neg[:, 1], "s", color="tab:purple", ms=5, label="examples, $y=-1$")
    sv = np.abs(y * (P @ w_svm) - 1) < 1e-6
    a.plot(P[sv, 0], P[sv, 1], "o", ms=11, mfc="none", mec="k", label="support vectors")
    lim = 3.2
    tvals = np.linspace(-lim, lim, 2)
    perp = np.array([-w_svm[1], w_svm[0]]) / np.linalg.norm(w_svm)
    for level, ls in ((0, "-"), (1, ":"), (-1, ":")):
        base = level * w_svm / np.dot(w_svm, w_svm)
        pts = base[None] + tvals[:, None] * lim * perp[None]
        a.plot(pts[:, 0], pts[:, 1], ls, color="k", lw=1.2,
               label="max-margin separator" if level == 0 else ("margin $y\\,w^\\top x = 1$" if level == 1 else None))
    for w, c, lw, name in ((w_svm, "k", 3.5, "SVM direction $w^{\\mathrm{mm}}$"),
                           (w_gd, "tab:orange", 1.8, "logistic GD direction $w(k)$")):
        u = 1.8 * w / np.linalg.norm(w)
        a.annotate("", xy=u, xytext=(0, 0), arrowprops={"arrowstyle": "-|>", "color": c, "lw": lw})
        a.plot([], [], "-", color=c, lw=lw, label=name)
    a.set_xlim(-lim, lim)
    a.set_ylim(-lim, lim)
    a.set_aspect("equal")
    a.set_title("(a) logistic regression $\\to$ SVM on examples")
    a.set_xlabel("$x_1$")
    a.set_ylabel("$x_2$")
    a.legend(fontsize=7, loc="lower right")

    inst = data.gd_paths_2d_data(seed=data_seed)
    X, Z, opt = inst.X, inst.Z, inst.opt
    sol = svm.solve_att_svm(X, Z, opt)
    for i in range(inst.n):
        c = _TOKEN_COLORS[i]
        ui = sol.W @ Z[i]
        xo = X[i, opt[i]]
        b.plot(X[i, :, 0], X[i, :, 1], "o", color=c, ms=6, label=rf"tokens of $X_{i + 1}$")
        b.plot(*xo, "*", color=c, ms=16, mec="k", mew=0.6)
        for t in sol.support[i]:
            b.plot(*X[i, t], "o", ms=12, mfc="none", mec="k")
        perp = np.array([-ui[1], ui[0]]) / np.linalg.norm(ui)
        for shift, ls in ((0.0, "-"), (1.0, ":")):
            base = xo - shift * ui / np.dot(ui, ui)
            pts = base[None] + np.array([-0.9, 0.9])[:, None] * perp[None]
            b.plot(pts[:, 0], pts[:, 1], ls, color=c, lw=1.4)
        arrow = 0.6 * ui / np.linalg.norm(ui)
        b.annotate("", xy=xo + arrow, xytext=xo, arrowprops={"arrowstyle": "-|>", "color": c, "lw": 2})
        b.text(*(xo + 1.25 * arrow), rf"$W^{{\mathrm{{mm}}}}z_{i + 1}$", fontsize=9, ha="center", va="center")
    b.plot([], [], "*", color="0.6", mec="k", ms=10, label="optimal tokens")
    b.plot([], [], "o", ms=10, mfc="none", mec="k", label="support tokens (margin 1)")
    b.plot([], [], "-", color="0.3",
           label=r"$x^\top W^{\mathrm{mm}} z_i = x_{i\,\mathrm{opt}_i}^\top W^{\mathrm{mm}} z_i$")
    b.plot([], [], ":", color="0.3", label="margin: one unit lower")
    b.set_aspect("equal", adjustable="datalim")
    b.set_title("(b) attention $\\to$ Att-SVM on tokens")
    b.set_xlabel("first coordinate")
    b.set_ylabel("second coordinate")
    b.legend(fontsize=7, loc="best")
    return fig


def plot_first_run(run_W: training.TrainResult, run_KQ: training.TrainResult, lr: float):
    """Chapter 1: mean max softmax probability and ‖W(k)‖_F along normalized GD (all trials).

    Left: (1/n) Σ_i max_t s_it(k), median over trials with the min-max band, for W (blue) and
    (K,Q) (red). Right: ‖W(k)‖_F (median, band) and the bound ‖W(0)‖_F + k*eta for W.
    Both results must be batched and recorded at every step. Returns the figure.
    """
    fig, (a, b) = new_figure(ncols=2, width=10.0, height=3.8)
    for res, p, label in ((run_W, "W", "$W$"), (run_KQ, "KQ", "$(K,Q)$, $W=KQ^\\top$")):
        k = res.steps
        c = PARAM_COLORS[p]
        mp = res.max_prob
        a.plot(k, np.median(mp, axis=1), color=c, label=label)
        a.fill_between(k, mp.min(1), mp.max(1), color=c, alpha=0.2, lw=0)
        nrm = np.linalg.norm(res.W, axis=(-2, -1))
        b.semilogy(k[1:], np.median(nrm, axis=1)[1:], color=c, label=rf"$\|W(k)\|_F$, {label}")
        b.fill_between(k[1:], nrm.min(1)[1:], nrm.max(1)[1:], color=c, alpha=0.2, lw=0)
    n0 = np.linalg.norm(run_W.W[0], axis=(-2, -1)).max()
    k = run_W.steps
    b.semilogy(k[1:], n0 + lr * k[1:], "k--", lw=1, label=r"bound $\|W(0)\|_F + k\eta$ for $W$")
    a.set_xlabel("iteration $k$")
    a.set_ylabel(r"$\frac{1}{n}\sum_i \max_t s_{it}(k)$")
    a.set_ylim(0, 1.02)
    a.set_title("softmax becomes one-hot")
    a.legend(fontsize=8, loc="lower right")
    b.set_xlabel("iteration $k$")
    b.set_ylabel("Frobenius norm")
    b.set_title("the weights grow without bound")
    b.legend(fontsize=8, loc="lower right")
    return fig


def lemma2_check(inst: data.AttentionData, W_sep: np.ndarray, radii, samples: int = 200,
                 seed: int = 0) -> dict[str, Any]:
    """Numbers behind Lemma 2 of A on one instance (linear head, logistic loss).

    * ``min_excess_random``: min over ``samples`` random W (Frobenius norms log-uniform in
      [0.1, 100]) of L(W) - L*  (Lemma 2: > 0 for every finite W);
    * ``excess_along``: L(R W_sep) - L* for R in ``radii`` (-> 0 when W_sep separates opt);
    * ``bound_slack``: min over R, i of s_{i,opt_i}(R W_sep) - 1/(1 + (T-1) e^{-R m_min}), with
      m_min the smallest SVM margin of W_sep (≥ 1 for W^mm): the quantitative form of the limit.
    """
    from .. import attention

    rng = np.random.default_rng(seed)
    d = inst.d
    G = rng.standard_normal((samples, d, d))
    G *= (10.0 ** rng.uniform(-1, 2, samples) / np.linalg.norm(G, axis=(1, 2)))[:, None, None]
    tile = lambda a: np.broadcast_to(a, (samples,) + a.shape)  # noqa: E731  one copy of the data per W
    excess_random = attention.excess_loss(tile(inst.X), tile(inst.Z), tile(inst.Y), G, inst.v)
    excess_along, slack = [], np.inf
    logits = np.einsum("ntd,de,ne->nt", inst.X, W_sep, inst.Z)
    top = logits[np.arange(inst.n), inst.opt]
    margins = top[:, None] - logits
    margins[np.arange(inst.n), inst.opt] = np.inf
    m_min = float(margins.min())
    for R in radii:
        excess_along.append(float(attention.excess_loss(inst.X, inst.Z, inst.Y, R * W_sep, inst.v)))
        s = attention.attention_probs(inst.X, R * W_sep, inst.Z)[np.arange(inst.n), inst.opt]
        bound = 1.0 / (1.0 + (inst.T - 1) * np.exp(-R * m_min))
        slack = min(slack, float(np.min(s - bound)))
    return {"min_excess_random": float(min(excess_random)), "excess_along": excess_along,
            "bound_slack": slack, "min_margin": m_min}


def path_alignment(inst: data.AttentionData, radii, W_fro: np.ndarray, W_nuc: np.ndarray,
                   seed: int = 0) -> dict[str, Any]:
    """Theorem 2 of A numerically: the regularization paths of both parameterizations.

    Computes W-bar_R (Frobenius ball, :func:`tfsvm.training.regularization_path`) and
    K-bar_R Q-bar_Rᵀ ((K,Q) ball ‖K‖^2 + ‖Q‖^2 ≤ 2R) and returns ``1 - corr`` of each with
    W^mm and with W⋆^mm (arrays over ``radii``), plus the distances of Theorem 2,
    ``‖W-bar_R / R - W^mm/‖W^mm‖_F‖_F`` and ``‖K-bar Q-barᵀ / R - W⋆^mm / C*‖_F``.
    """
    radii = np.asarray(radii, dtype=float)
    path_W = training.regularization_path(inst, radii, param="W", seed=seed)
    path_KQ = training.regularization_path(inst, radii, param="KQ", seed=seed)
    C_star = float(np.linalg.norm(W_nuc, "nuc"))
    return {
        "radii": radii,
        "W_fro": metrics.one_minus_corr(path_W.W, W_fro),
        "W_nuc": metrics.one_minus_corr(path_W.W, W_nuc),
        "KQ_nuc": metrics.one_minus_corr(path_KQ.W, W_nuc),
        "KQ_fro": metrics.one_minus_corr(path_KQ.W, W_fro),
        "dist_W": np.linalg.norm(path_W.W / radii[:, None, None] - W_fro / np.linalg.norm(W_fro), axis=(1, 2)),
        "dist_KQ": np.linalg.norm(path_KQ.W / radii[:, None, None] - W_nuc / C_star, axis=(1, 2)),
        "nuc_norm_KQ": np.linalg.norm(path_KQ.W, "nuc", axis=(1, 2)),
        "fro_norm_W": np.linalg.norm(path_W.W, axis=(1, 2)),
    }


def plot_path_alignment(al: dict[str, Any]):
    """1 - corr of the regularization paths with both SVMs vs the radius R (log-log). Returns the figure."""
    fig, a = new_figure(width=6.4, height=4.0)
    R = al["radii"]
    a.loglog(R, al["W_fro"], "-o", ms=4, color=PARAM_COLORS["W"], label=r"$\bar W_R$ vs $W^{\mathrm{mm}}$")
    a.loglog(R, al["W_nuc"], ":o", ms=4, mfc="white", color=PARAM_COLORS["W"],
             label=r"$\bar W_R$ vs $W^{\mathrm{mm}}_\star$")
    a.loglog(R, al["KQ_nuc"], "-s", ms=4, color=PARAM_COLORS["KQ"],
             label=r"$\bar K_R\bar Q_R^\top$ vs $W^{\mathrm{mm}}_\star$")
    a.loglog(R, al["KQ_fro"], ":s", ms=4, mfc="white", color=PARAM_COLORS["KQ"],
             label=r"$\bar K_R\bar Q_R^\top$ vs $W^{\mathrm{mm}}$")
    a.set_xlabel("radius $R$ of the regularization path")
    a.set_ylabel(r"$1-\mathrm{corr}$")
    a.legend(fontsize=8)
    return fig
