"""Figure 10 of A (v1, Appendix F): how the (K,Q) implicit bias depends on the rank m.

For d = 20 and each setting (n, T), random unit-sphere instances are trained by normalized
(K,Q)-GD with K, Q of shape (d, m), m = 1, ..., 10. At the end of training, alpha = the
tokens GD selects (argmax of the final softmax) and the nuclear-norm SVM W*_alpha^mm is
solved with m = d (convex; Lemma 3 of A: when the convex solution has rank ≤ m it also
solves the rank-constrained problem). The plotted quantity is the final misalignment
``1 - corr(K Qᵀ, W*_alpha^mm)``, averaged over the trials.

Expected (paper, read off the plot): a floor of about 2.5-3e-3 once m is at least the
rank the nuclear solution needs -- m ≥ 3 for n = 5, m ≥ ~5 for n = 10, m ≥ ~6 for n = 15;
T hardly matters.

The paper states neither the number of trials nor of iterations nor the initialization.
We use normalized GD with eta = 0.1 (App. F) from PyTorch's default ``nn.Linear`` entries
U(-1/sqrt(d), 1/sqrt(d)) for K and Q (as the released code does for Figure 7). All ranks m of
one trial share one random draw: the (d, m) factors are the first m columns of a (d, m_max)
draw. Since a zero column of K and Q stays zero under (K,Q)-GD (its gradient is
``grad L(W) q_j = 0`` and ``grad L(W)ᵀ k_j = 0``), the runs for all m are trained together
as one batch of (d, m_max) factors whose columns beyond m are zero -- exactly the rank-m runs.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from .. import data, metrics, svm, training
from ..errors import InfeasibleError, SolverError
from ..plotting import figure_and_axes
from ._common import derive_seed, setting_key, tile_trials

#: settings of Figure 10: upper row n = 5, T in {5, 10, 15}; lower row T = 5, n in {5, 10, 15}
SETTINGS: tuple[tuple[int, int], ...] = ((5, 5), (5, 10), (5, 15), (10, 5), (15, 5))

CONFIGS: dict[str, dict[str, Any]] = {
    "smoke": {"d": 8, "ms": [1, 2, 4], "settings": [[3, 4]], "trials": 2, "steps": 100, "lr": 0.1},
    "book": {"d": 20, "ms": list(range(1, 11)), "settings": [list(s) for s in SETTINGS], "trials": 5,
             "steps": 1500, "lr": 0.1},
    "paper": {"d": 20, "ms": list(range(1, 11)), "settings": [list(s) for s in SETTINGS], "trials": 100,
              "steps": 2000, "lr": 0.1},
}

#: Read off Figure 10: the floor (~2.75e-3, +-0.25e-3) where the curves have flattened.
_FLOOR = 2.75e-3
PAPER: dict[str, dict[str, float]] = {
    setting_key(n, T): {str(m): _FLOOR for m in range(m0, 11)}
    for (n, T), m0 in (((5, 5), 3), ((5, 10), 3), ((5, 15), 3), ((10, 5), 5), ((15, 5), 6))
}


def initial_factors(trials: int, d: int, m_max: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """K(0), Q(0) of shape (trials, d, m_max), entries U(-1/sqrt(d), 1/sqrt(d)) (``nn.Linear`` default)."""
    rng = np.random.default_rng(seed)
    b = 1.0 / np.sqrt(d)
    return rng.uniform(-b, b, (trials, d, m_max)), rng.uniform(-b, b, (trials, d, m_max))


def train_all_ranks(inst: data.AttentionData, ms: list[int], steps: int, lr: float, seed: int,
                    device: str = "cpu") -> training.TrainResult:
    """Normalized (K,Q)-GD for every rank in ``ms`` and every trial of ``inst``, as one batch.

    Batch index ``j * B + b`` is rank ``ms[j]`` on trial ``b`` (B = number of trials).
    """
    B, d, M = inst.trials, inst.d, len(ms)
    K0, Q0 = initial_factors(B, d, max(ms), seed)
    Ks, Qs = [], []
    for m in ms:
        K, Q = K0.copy(), Q0.copy()
        K[:, :, m:] = 0.0
        Q[:, :, m:] = 0.0
        Ks.append(K)
        Qs.append(Q)
    init = (np.concatenate(Ks), np.concatenate(Qs))
    return training.train(tile_trials(inst, M), param="KQ", steps=steps, lr=lr, init=init, device=device)


def run_setting(n: int, T: int, config: dict[str, Any], seed: int, device: str = "cpu") -> dict[str, Any]:
    """Final 1 - corr(K Qᵀ, W*_alpha^mm) per rank m (mean over trials) for one (n, T)."""
    d, ms, B = config["d"], list(config["ms"]), config["trials"]
    inst = data.unit_sphere_data(n, T, d, seed=derive_seed(seed, n, T, d), trials=B)
    res = train_all_ranks(inst, ms, config["steps"], config["lr"], seed=derive_seed(seed, n, T, d, 1), device=device)
    W_final, alpha = res.W_final, res.selected
    cache: dict[tuple[int, tuple[int, ...]], np.ndarray | None] = {}
    out, opt_frac, failed = {}, {}, 0
    for j, m in enumerate(ms):
        errs, hits = [], []
        for b in range(B):
            a = alpha[j * B + b]
            hits.append(bool(np.array_equal(a, inst.opt[b])))
            ck = (b, tuple(int(t) for t in a))
            if ck not in cache:
                try:
                    cache[ck] = svm.att_svm(inst.X[b], inst.Z[b], a, norm="nuc")
                except (InfeasibleError, SolverError):
                    cache[ck] = None
            if cache[ck] is None:
                failed += 1
                continue
            errs.append(metrics.one_minus_corr(W_final[j * B + b], cache[ck]))
        out[str(m)] = float(np.mean(errs)) if errs else None
        opt_frac[str(m)] = float(np.mean(hits))
    # rank of W*_alpha^mm for the selections of the widest factorization (m = max(ms))
    j = len(ms) - 1
    ranks = [svm.numerical_rank(cache[(b, tuple(int(t) for t in alpha[j * B + b]))])
             for b in range(B) if cache[(b, tuple(int(t) for t in alpha[j * B + b]))] is not None]
    return {"one_minus_corr": out, "opt_fraction": opt_frac, "svm_failed": failed,
            "nuc_rank": float(np.mean(ranks)) if ranks else None,
            "nuc_rank_max": int(max(ranks)) if ranks else None}


def run(config: dict[str, Any], seed: int = 0, device: str = "cpu",
        progress: Callable[[int, int], None] | None = None) -> dict[str, Any]:
    """Figure 10: ``results["n{n}_T{T}"][str(m)]`` = mean final 1 - corr(K Qᵀ, W*_alpha^mm).

    Also ``results["opt_fraction"]["n{n}_T{T}"][str(m)]`` (fraction of runs that selected the
    optimal tokens), ``results["svm_failed"]`` (runs whose SVM could not be solved; 0 expected:
    with d ≥ max(T - 1, n) every selection is separable, Theorem 8) and
    ``results["nuc_rank"]["n{n}_T{T}"]`` / ``results["nuc_rank_max"][...]`` (mean / largest numerical
    rank of W*_alpha^mm for the selections of the widest run, m = max(ms)).
    """
    settings = [tuple(s) for s in config["settings"]]
    results: dict[str, Any] = {"opt_fraction": {}, "svm_failed": 0, "nuc_rank": {}, "nuc_rank_max": {}}
    for k, (n, T) in enumerate(settings):
        cell = run_setting(n, T, config, seed, device)
        results[setting_key(n, T)] = cell["one_minus_corr"]
        results["opt_fraction"][setting_key(n, T)] = cell["opt_fraction"]
        results["svm_failed"] += cell["svm_failed"]
        results["nuc_rank"][setting_key(n, T)] = cell["nuc_rank"]
        results["nuc_rank_max"][setting_key(n, T)] = cell["nuc_rank_max"]
        if progress is not None:
            progress(k + 1, len(settings))
    return results


def plot(results: dict[str, Any], ax=None):
    """Figure 10: final 1 - corr(K Qᵀ, W*_alpha^mm) vs m; (a) n = 5, T varies; (b) T = 5, n varies.

    Log y-axis; the shaded band is the paper's floor (2.5-3e-3). Returns the figure.
    """
    fig, axes = figure_and_axes(ax, ncols=2, width=10.0, height=3.8, sharey=True)
    panels = [("(a) $n=5$", [(5, 5), (5, 10), (5, 15)], lambda n, T: f"$T={T}$"),
              ("(b) $T=5$", [(5, 5), (10, 5), (15, 5)], lambda n, T: f"$n={n}$")]
    shades = ["#67000d", "#cb181d", "#fc9272"]
    markers = ["o", "s", "^"]
    for a, (title, settings, label) in zip(axes, panels):
        for j, (n, T) in enumerate(settings):
            vals = results.get(setting_key(n, T))
            if vals is None:
                continue
            ms = [int(m) for m in vals]
            ys = [np.nan if vals[str(m)] is None else vals[str(m)] for m in ms]
            a.semilogy(ms, ys, "-", marker=markers[j], color=shades[j], ms=4, label=label(n, T))
        a.axhspan(2.5e-3, 3e-3, color="0.8", alpha=0.6, lw=0, label="paper's floor")
        a.set_title(title)
        a.set_xlabel("rank $m$ of $K, Q$")
        a.legend(fontsize=8)
    axes[0].set_ylabel(r"final $1-\mathrm{corr}(KQ^\top, W^{\mathrm{mm}}_{\star,\alpha})$")
    return fig
