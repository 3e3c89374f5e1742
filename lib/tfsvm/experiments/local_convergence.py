"""Figure 7 of A (v1): gradient descent converges to locally-optimal directions (Theorem 7).

n = 6, T = 8, d = 10 (m = d), unit-sphere data without score-gap filter, normalized GD
(eta = 0.1) from PyTorch's default initialization, for W and for (K,Q). For each run, alpha is
the token with the largest *final* softmax probability of each sequence; W_alpha^mm (Frobenius,
(Att-SVM) with opt replaced by alpha) and W*_alpha^mm (nuclear norm, m = d) are solved for that
alpha, and the iterates are correlated with both. Panel (a): mean over trials of
(1/n) Σ_i max_t s_it; panel (b): corr(W(k), W_alpha^mm); panel (c): corr(W(k), W*_alpha^mm).

The module also holds the other computations of chapter 5: the census behind the
over-parameterization conjecture (:func:`conjecture_census`, Section 5.2), Lemma 5 on random data
(:func:`lemma5_agreement`) and the local regularization path of Theorem 9 (:func:`local_path`).
"""

from __future__ import annotations

import itertools
from typing import Any, Callable

import numpy as np

from .. import checks, data, gradients, metrics, svm, tokens, training
from ..plotting import PARAM_COLORS, PARAM_LABELS, figure_and_axes, new_figure
from ._common import PARAMS, tile_trials

CONFIGS: dict[str, dict[str, Any]] = {
    "smoke": {"n": 6, "T": 8, "d": 10, "trials": 3, "steps": 100, "lr": 0.1, "record_every": 10},
    "book": {"n": 6, "T": 8, "d": 10, "trials": 20, "steps": 1000, "lr": 0.1, "record_every": 10},
    "paper": {"n": 6, "T": 8, "d": 10, "trials": 100, "steps": 2000, "lr": 0.1, "record_every": 10},
}

#: Read off Figure 7 at the last iteration (correlations +-0.02).
PAPER: dict[str, dict[str, float]] = {
    "max_prob": {"W": 1.0, "KQ": 1.0},
    "corr_fro": {"W": 1.0, "KQ": 0.86},
    "corr_nuc": {"W": 0.84, "KQ": 1.0},
}


def run(config: dict[str, Any], seed: int = 0, device: str = "cpu",
        progress: Callable[[int, int], None] | None = None) -> dict[str, Any]:
    """Figure 7: final means over trials of max softmax probability and of the correlations of
    W(k) (or K(k)Q(k)ᵀ) with W_alpha^mm ("corr_fro") and W*_alpha^mm ("corr_nuc"), plus
    ``"curves"`` over the recorded iterations, the fraction of runs whose alpha is locally optimal
    (Definition 2) and the fraction with alpha = opt.
    """
    inst = data.unit_sphere_data(config["n"], config["T"], config["d"], seed=seed, trials=config["trials"])
    keys = ("max_prob", "corr_fro", "corr_nuc", "locally_optimal", "global")
    results: dict[str, Any] = {k: {} for k in keys}
    curves: dict[str, Any] = {k: {} for k in keys[:3]}
    for j, param in enumerate(PARAMS):
        res = training.train(inst, param=param, steps=config["steps"], lr=config["lr"],
                             init="default", seed=seed + 1, record=f"every {config['record_every']}", device=device)
        alpha = res.selected
        W_fro, _ = svm.att_svm_batch(inst.X, inst.Z, alpha)
        W_nuc = np.stack([svm.att_svm(inst.X[b], inst.Z[b], alpha[b], norm="nuc") for b in range(inst.trials)])
        Wk = np.swapaxes(res.W, 0, 1)  # (B, R, d, d)
        per_trial = {"max_prob": res.max_prob.T, "corr_fro": metrics.corr(Wk, W_fro[:, None]),
                     "corr_nuc": metrics.corr(Wk, W_nuc[:, None])}
        for k, vals in per_trial.items():
            curves[k][param] = [float(x) for x in vals.mean(axis=0)]
            results[k][param] = curves[k][param][-1]
        local = tokens.locally_optimal_batch(inst.X, inst.Z, inst.scores, alpha).locally_optimal
        results["locally_optimal"][param] = float(local.mean())
        results["global"][param] = float(np.all(alpha == inst.opt, axis=-1).mean())
        if progress is not None:
            progress(j + 1, len(PARAMS))
    curves["steps"] = [int(k) for k in res.steps]
    results["curves"] = curves
    return results


def plot(results: dict[str, Any], ax=None):
    """The three panels of Figure 7: max probability, corr with W_alpha^mm, corr with W*_alpha^mm."""
    fig, axes = figure_and_axes(ax, ncols=3, width=12.0, height=3.4)
    c = results["curves"]
    ylabels = (r"$\frac{1}{n}\sum_i \max_t s_{it}$", r"corr with $W^{\mathrm{mm}}_{\alpha}$",
               r"corr with $W^{\mathrm{mm}}_{\star,\alpha}$")
    for a, key, ylabel, title in zip(axes, ("max_prob", "corr_fro", "corr_nuc"), ylabels, "abc"):
        for param in PARAMS:
            a.plot(c["steps"], c[key][param], color=PARAM_COLORS[param], label=PARAM_LABELS[param])
        a.set_xlabel("iteration $k$")
        a.set_ylabel(ylabel)
        a.set_title(f"({title})")
        a.legend()
    return fig


# --------------------------------------------------------------------------- Section 5.2


def conjecture_census(n: int, T: int, ds: list[int], trials: int, steps: int, seed: int,
                      lr: float = 0.1) -> dict[str, dict[str, float]]:
    """How often B.1 and D hold, and how often W-GD converges globally, per d (Section 5.2 of A).

    For each d: ``trials`` unit-sphere instances (score-gap filter 0.1); B.1 in Figure 5's
    mean-margin sense; D by enumerating all T**n - 1 selections (:func:`tfsvm.tokens.assumption_d`);
    normalized GD as in :mod:`convergence_types`. Returns fractions ``b1``, ``d``, ``b1_and_d``,
    ``global``, ``local`` (locally optimal, not global), ``not_local``, ``global_given_b1_and_d``
    (NaN if no instance satisfies both) and the count ``local_under_d`` of runs that ended at a
    non-global locally-optimal selection on an instance satisfying D (D forbids this: must be 0).
    """
    out = {}
    for d in ds:
        inst = checks.figure5_instances(n, T, d, trials, 0.1, seed=seed + 1000 * d)
        b1 = checks.b1_holds(inst)
        dd = np.array([tokens.assumption_d(inst.X[b], inst.Z[b], inst.scores[b]).holds for b in range(trials)])
        labels, _ = checks.classify_gd_runs(inst, "W", steps, lr, seed=seed + d)
        both = b1 & dd
        glob = labels == "global"
        out[str(d)] = {
            "b1": float(b1.mean()), "d": float(dd.mean()), "b1_and_d": float(both.mean()),
            "global": float(glob.mean()), "local": float(np.mean(labels == "local")),
            "not_local": float(np.mean(labels == "not_local")),
            "global_given_b1_and_d": float(glob[both].mean()) if both.any() else float("nan"),
            "local_under_d": int(np.sum((labels == "local") & dd)),
        }
    return out


# --------------------------------------------------------------------------- Section 5.3


def two_token_example() -> data.AttentionData:
    """B's single-input example written as A's cross-attention (n = 1, T = 3, d = 2).

    Keys x_t in R^2 as in B ((-0.1, 1), (1, 0), (0, 0)), query z = e_1, so the logits are
    x_tᵀ w with w = W e_1 (B's prompt p), and head v = (0.9, 1.09), chosen so that the scores
    vᵀ x_t are B's (1, 0.9, 0). Token 1 is locally optimal: its only support index is token 2.
    """
    X = np.array([[[-0.1, 1.0], [1.0, 0.0], [0.0, 0.0]]])
    return data.AttentionData(X, np.array([[1.0, 0.0]]), np.ones(1), np.array([0.9, 1.09]))


def local_path(inst: data.AttentionData, alpha: np.ndarray, radii: list[float], eps: float,
               grid: int = 2001) -> dict[str, np.ndarray]:
    """Local regularization path of Theorem 9 (Frobenius norm) for the one-query example.

    For a single sequence with query z = e_1 (as in :func:`two_token_example`) the logits depend
    on W only through w = W e_1, and at fixed ‖W‖_F = R the loss is smallest with the other
    columns zero, so the path lives on the circle w = R (cos theta, sin theta). With a single
    sequence, minimising L = l(gammaᵀ s) means maximising Delta(theta) = sum_t s_t (gamma_t -
    gamma_alpha), which is computed without cancellation. For each R we (i) keep the grid angles
    whose W lies in cone_eps(alpha) (eq. (5), :func:`tfsvm.tokens.cone_eps_value`), (ii) take the
    best one, (iii) refine it with a bounded Brent search inside the admissible arc. The ball
    constraint is active (L decreases along separating directions), so this is W_R of Theorem 9.
    Returns ``radii``, ``theta``, ``misalign`` = 1 - corr(W_R, W_alpha^mm), ``cone_value``.
    """
    from scipy.optimize import brentq, minimize_scalar

    if inst.batch_shape or inst.n != 1 or inst.d != 2 or not np.allclose(inst.Z[0], [1.0, 0.0]):
        raise ValueError("local_path handles one sequence in d = 2 with query z = e_1")
    alpha = np.asarray(alpha)
    gam = inst.scores[0]
    gap = gam - gam[alpha[0]]

    def W_of(theta: float, R: float) -> np.ndarray:
        return R * np.array([[np.cos(theta), 0.0], [np.sin(theta), 0.0]])

    def neg_delta(theta: float, R: float) -> float:
        a = inst.X[0] @ (R * np.array([np.cos(theta), np.sin(theta)]))
        s = np.exp(a - a.max())
        return -float(np.dot(s / s.sum(), gap))

    def cone_at(theta: float) -> float:
        return tokens.cone_eps_value(W_of(theta, 1.0), inst.X, inst.Z, inst.scores, alpha)

    thetas = np.linspace(-np.pi, np.pi, grid)
    ok = np.array([cone_at(t) for t in thetas]) >= eps
    step = thetas[1] - thetas[0]
    # exact ends of the admissible arc (the cone is scale invariant: one arc for every R)
    lo, hi = thetas[ok].min(), thetas[ok].max()
    if lo - step >= -np.pi:
        lo = brentq(lambda t: cone_at(t) - eps, lo - step, lo, xtol=1e-14)
    if hi + step <= np.pi:
        hi = brentq(lambda t: cone_at(t) - eps, hi, hi + step, xtol=1e-14)
    W_a = svm.att_svm(inst.X, inst.Z, alpha)
    best = []
    for R in radii:
        vals = np.where(ok, [neg_delta(t, R) for t in thetas], np.inf)
        j = int(np.argmin(vals))
        res = minimize_scalar(neg_delta, bounds=(max(thetas[j] - step, lo), min(thetas[j] + step, hi)), args=(R,),
                              method="bounded", options={"xatol": 1e-13})
        best.append(res.x)
    Ws = np.array([W_of(t, R) for t, R in zip(best, radii)])
    cone = np.array([tokens.cone_eps_value(W, inst.X, inst.Z, inst.scores, alpha) for W in Ws])
    return {"radii": np.asarray(radii, dtype=float), "theta": np.array(best),
            "misalign": metrics.one_minus_corr(Ws, W_a), "cone_value": cone, "W": Ws}


def lemma5_agreement(n: int, T: int, d: int, trials: int, seed: int, eps: float = 1e-6) -> dict[str, float]:
    """Lemma 5 of A on random data: for every selection alpha with a feasible Att-SVM, compare
    "alpha is locally optimal" (Definition 2) with "W_alpha^mm lies in cone_eps(alpha)" (eq. (5)).

    ``eps`` plays the role of the lemma's "sufficiently small" epsilon; it matches the relative
    tolerance with which margins count as tight. Returns the number of feasible selections
    ``checked``, how many are ``locally_optimal``, the fraction on which both tests ``agree``, and
    ``disagree_empty_support``: how many disagreements have a sequence without support index
    (T_i empty, allowed by Definition 2; the lemma's argument uses a tight low-score token).
    """
    inst = data.unit_sphere_data(n, T, d, seed=seed, trials=trials, gap=0.1)
    verdicts = []
    for b in range(trials):
        X, Z, scores = inst.X[b], inst.Z[b], inst.scores[b]
        for alpha in itertools.product(range(T), repeat=n):
            test = tokens.is_locally_optimal(X, Z, scores, alpha)
            if test.feasible:
                in_cone = tokens.cone_eps_value(test.solution.W, X, Z, scores, alpha) >= eps
                empty = any(len(T_i) == 0 for T_i in test.solution.support)
                verdicts.append((test.locally_optimal, in_cone, empty))
    v = np.array(verdicts)
    disagree = v[:, 0] != v[:, 1]
    return {"checked": int(len(v)), "locally_optimal": int(v[:, 0].sum()), "agree": float(np.mean(~disagree)),
            "disagree_empty_support": int(np.sum(disagree & v[:, 2])), "disagree": int(disagree.sum())}


# --------------------------------------------------------------------------- (T1) and (T2) of Theorem 7 probed in the cone


def cone_samples(V: np.ndarray, mu: float, R: float, count: int, seed: int) -> np.ndarray:
    """``count`` random matrices of C_{μ,R}(V) (eq. (4) of A), shape (count, *V.shape):
    correlation with V uniform in [1 − μ, 1], norm uniform in [R, 2R]."""
    rng = np.random.default_rng(seed)
    return _with_correlation(V, rng.uniform(1.0 - mu, 1.0, count), rng.uniform(R, 2.0 * R, count), rng)


def _with_correlation(V: np.ndarray, c: np.ndarray, radius: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Matrices with corr(W_b, V) = c_b and ‖W_b‖_F = radius_b, tilted from V in uniformly random directions."""
    Vh = V / np.linalg.norm(V)
    U = rng.standard_normal((len(c), *V.shape))
    U -= np.einsum("bij,ij->b", U, Vh)[:, None, None] * Vh
    U /= np.linalg.norm(U, axis=(-2, -1), keepdims=True)
    c, radius = c[:, None, None], radius[:, None, None]
    return radius * (c * Vh + np.sqrt(1.0 - c**2) * U)


def t1_gradient_cosines(inst: data.AttentionData, alpha: np.ndarray, mus: list[float], R: float, count: int,
                        seed: int) -> dict[str, Any]:
    """(T1) of Theorem 7 probed: cos(∇L(W), W_α^mm) on ``count`` samples of C_{μ,R}(W_α^mm) for each μ.

    A negative cosine on every sample means −∇L(W) has a positive component along W_α^mm, so no
    sample is a stationary point and a gradient step moves toward the direction W_α^mm. The
    gradient is the scale-free closed form (:func:`tfsvm.gradients.grad_W` with ``scaled=True``),
    so saturated samples do not underflow to 0. Returns ``mu``, ``max_cos`` (the largest cosine
    over the samples of each μ) and ``W_mm``.
    """
    W_mm = svm.att_svm(inst.X, inst.Z, alpha)
    max_cos = []
    for j, mu in enumerate(mus):
        W = cone_samples(W_mm, mu, R, count, seed + j)
        rep = tile_trials(inst, count)
        G, _ = gradients.grad_W(rep.X, rep.Z, rep.Y, rep.v, W, scaled=True)
        max_cos.append(float(np.max(metrics.corr(G, W_mm))))
    return {"mu": list(mus), "max_cos": max_cos, "W_mm": W_mm}


def gd_from_cone(inst: data.AttentionData, alpha: np.ndarray, mu: float, R: float, starts: int, steps: int,
                 lr: float, seed: int) -> dict[str, Any]:
    """(T2) of Theorem 7: normalized GD from ``starts`` points of C_{μ,R}(W_α^mm) at correlation exactly 1 − μ.

    Returns the recorded ``steps``, ``corr`` (starts, R) = corr(W(k), W_α^mm), ``norm`` (starts, R)
    and ``selects_alpha`` (starts,) = the final argmax equals α in every sequence.
    """
    W_mm = svm.att_svm(inst.X, inst.Z, alpha)
    W0 = _with_correlation(W_mm, np.full(starts, 1.0 - mu), np.full(starts, float(R)), np.random.default_rng(seed))
    rep = tile_trials(inst, starts)
    record = np.unique(np.concatenate([[0], np.geomspace(1, steps, 60).astype(np.int64)]))
    res = training.train(rep, param="W", steps=steps, lr=lr, init=W0, record=record)
    Wk = np.swapaxes(res.W, 0, 1)
    return {"steps": res.steps.tolist(), "corr": np.asarray(metrics.corr(Wk, W_mm)),
            "norm": np.linalg.norm(Wk, axis=(-2, -1)),
            "selects_alpha": np.all(res.selected == alpha, axis=-1)}


def cone_example() -> tuple[data.AttentionData, np.ndarray]:
    """A random instance (n = 3, T = 4, d = 4, seed 0) and a locally-optimal selection α ≠ opt of it."""
    inst = data.unit_sphere_data(3, 4, 4, seed=0)
    alpha = np.array([1, 2, 2])
    return inst, alpha


def plot_cone_probe(cosines: dict[float, dict[str, Any]], runs: dict[float, dict[str, Any]]):
    """Left: largest cos(∇L(W), W_α^mm) over samples of C_{μ,R} against μ, one curve per R (T1).
    Right: corr(W(k), W_α^mm) of GD started at correlation 1 − μ, one colour per μ (T2)."""
    fig, (a0, a1) = new_figure(ncols=2, width=10.0, height=3.6)
    for j, (R, r) in enumerate(cosines.items()):
        a0.semilogx(r["mu"], r["max_cos"], "o-", ms=3, color=f"C{j}", label=f"$R = {R:g}$")
    a0.axhline(0.0, color="k", lw=0.8)
    a0.set_xlabel(r"cone width $\mu$")
    a0.set_ylabel(r"largest $\cos(\nabla\mathcal{L}(W), W^{\mathrm{mm}}_\alpha)$")
    a0.legend()
    for j, (mu, g) in enumerate(runs.items()):
        steps = np.asarray(g["steps"])
        a1.semilogx(steps[1:], np.asarray(g["corr"])[:, 1:].T, color=f"C{j + 3}", lw=0.8)
        a1.plot([], [], color=f"C{j + 3}", label=rf"start at $1-\mu$, $\mu = {mu:g}$")
    a1.set_xlabel("iteration $k$")
    a1.set_ylabel(r"$\mathrm{corr}(W(k), W^{\mathrm{mm}}_\alpha)$")
    a1.legend(fontsize=8)
    return fig
