"""Figure 4 of A (v1): the rank of the Frobenius and nuclear-norm attention SVMs.

For each setting (n, T) and dimension d, random unit-sphere instances are drawn
(x_it, z_i, v on the unit sphere, labels ±1, cross-attention), the optimal tokens
``opt`` are read off (Definition 1) and two SVMs are solved with alpha = opt:

* (Att-SVM), Frobenius norm -> ``W^mm`` (exact batched solver ``svm.att_svm_batch``);
* (Att-SVM*), nuclear norm with m = d -> ``W*^mm`` (an SDP, cvxpy + Clarabel).

Ranks are counted with a *relative* threshold (singular values > 1e-6 sigma_max,
:func:`tfsvm.svm.numerical_rank`) and averaged over the **feasible** instances only;
the feasible fraction is reported separately. (The paper's notebook counted an
infeasible instance as rank 1, because ``np.linalg.matrix_rank(None) == 1``, and used an
absolute threshold 1e-7 on SCS output, which inflates nuclear ranks; see the chapter.)

Lemma 1 of A makes the nuclear SDP small: every solution can be taken with row space in
span{z_i} and (by the same projection argument on the left) column space in the span of
the differences x_{i alpha_i} - x_it. Writing W = U A V^T with orthonormal bases U, V of
those spans, ||W||_* = ||A||_* and the constraints become constraints on A, so
:func:`nuclear_svm` solves a (p x q) problem with q = rank{z_i} <= n instead of (d x d).
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from .. import data, svm
from ..errors import InfeasibleError, SolverError
from ..plotting import PARAM_COLORS, new_figure
from ._common import derive_seed, mean_or_none

#: the five distinct (n, T) settings of Figure 4's six panels: (a) T = 5, n in {5, 10, 15};
#: (b) n = 5, T in {5, 10, 15}
SETTINGS: tuple[tuple[int, int], ...] = ((5, 5), (10, 5), (15, 5), (5, 10), (5, 15))
DS: tuple[int, ...] = (1, 2, 3, 4, 5, 10, 15, 20)

CONFIGS: dict[str, dict[str, Any]] = {
    "smoke": {"settings": [[5, 5], [10, 5]], "ds": [1, 3, 5, 10], "trials": 3, "rtol": 1e-6},
    "book": {"settings": [list(s) for s in SETTINGS], "ds": list(DS), "trials": 15, "rtol": 1e-6},
    "paper": {"settings": [list(s) for s in SETTINGS], "ds": list(DS), "trials": 100, "rtol": 1e-6},
}

#: The paper gives Figure 4 as curves without a table and with a code quirk at small d
#: (infeasible instances counted as rank 1); there are no read-off values to compare with.
PAPER: dict[str, Any] = {}


def key(n: int, T: int) -> str:
    """Results key of a setting, e.g. ``"n5_T10"``."""
    return f"n{n}_T{T}"


def _basis(M: np.ndarray, rtol: float = 1e-10) -> np.ndarray:
    """Orthonormal basis (columns) of the column space of ``M``."""
    U, s, _ = np.linalg.svd(M, full_matrices=False)
    if s.size == 0 or s[0] == 0:
        return U[:, :0]
    return U[:, : int(np.sum(s > rtol * s[0]))]


def nuclear_svm(X: np.ndarray, Z: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """(Att-SVM*) with m = d for one instance, solved on the subspaces of Lemma 1.

    ``W*^mm = argmin ||W||_*  s.t.  (x_{i alpha_i} - x_it)^T W z_i >= 1`` for all t != alpha_i.
    The SDP is solved for ``A`` in ``W = U A V^T`` (U: basis of the token differences,
    V: basis of span{z_i}); the optimal value is the same as for the full problem
    (projecting W onto these subspaces keeps every constraint and never increases
    ``||W||_*``). Raises :class:`~tfsvm.errors.InfeasibleError` if alpha cannot be separated.

    Parameters
    ----------
    X : (n, T, d) tokens; Z : (n, d) queries; alpha : (n,) selection.

    Returns
    -------
    W : (d, d) a solution of (Att-SVM*).
    """
    Z = np.asarray(Z, dtype=float)
    F, rows = svm.att_features(X, Z, alpha)  # (rows, d, d), F_j = (x_sel - x_t) z_i^T
    zi = Z[rows[:, 0]]
    diffs = np.einsum("kab,kb->ka", F, zi) / np.sum(zi**2, axis=1, keepdims=True)  # F_j z_i / |z_i|^2
    U = _basis(diffs.T)  # span of the differences x_sel - x_t
    V = _basis(Z.T)  # span{z_i}
    res = svm.max_margin(np.einsum("kab,ai,bj->kij", F, U, V), norm="nuc", shape=(U.shape[1], V.shape[1]))
    return U @ res.w.reshape(U.shape[1], V.shape[1]) @ V.T


def run_cell(n: int, T: int, d: int, trials: int, seed: int, rtol: float = 1e-6) -> dict[str, Any]:
    """One point of Figure 4: feasible fraction and mean ranks over the feasible instances."""
    inst = data.unit_sphere_data(n, T, d, seed=seed, trials=trials)
    opt = inst.opt
    W_fro, feasible = svm.att_svm_batch(inst.X, inst.Z, opt)
    r_fro, r_nuc, failed = [], [], 0
    for b in np.flatnonzero(feasible):
        r_fro.append(int(svm.numerical_rank(W_fro[b], rtol=rtol)))
        try:
            W_nuc = nuclear_svm(inst.X[b], inst.Z[b], opt[b])
        except (SolverError, InfeasibleError):
            failed += 1
            continue
        r_nuc.append(int(svm.numerical_rank(W_nuc, rtol=rtol)))
    return {
        "feasible": float(np.mean(feasible)),
        "rank_fro": mean_or_none(r_fro),
        "rank_nuc": mean_or_none(r_nuc),
        "nuc_failed": failed,
    }


def run(config: dict[str, Any], seed: int = 0, device: str = "cpu",
        progress: Callable[[int, int], None] | None = None) -> dict[str, Any]:
    """Figure 4: ``results["n{n}_T{T}"][str(d)] = {"feasible", "rank_fro", "rank_nuc", "nuc_failed"}``.

    ``rank_*`` are means over the feasible instances (None when none is feasible);
    ``nuc_failed`` counts feasible instances whose nuclear SDP did not solve accurately
    (they are left out of ``rank_nuc``). ``device`` is unused (no training).
    """
    settings = [tuple(s) for s in config["settings"]]
    ds = list(config["ds"])
    total, done = len(settings) * len(ds), 0
    results: dict[str, Any] = {}
    for n, T in settings:
        cells = {}
        for d in ds:
            cells[str(d)] = run_cell(n, T, d, config["trials"], derive_seed(seed, n, T, d),
                                     config.get("rtol", 1e-6))
            done += 1
            if progress is not None:
                progress(done, total)
        results[key(n, T)] = cells
    return results


def plot(results: dict[str, Any], ax=None):
    """Figure 4: mean rank of W^mm (solid) and W*^mm (dashed) vs d, with the feasible fraction below.

    Left column: T = 5, n in {5, 10, 15}; right column: n = 5, T in {5, 10, 15}.
    Returns the figure (``ax`` is accepted for interface symmetry and ignored).
    """
    fig, axes = new_figure(ncols=2, nrows=2, width=10.0, height=5.6, sharex=True,
                           gridspec_kw={"height_ratios": [3, 1.2]})
    panels = [
        ("(a) $T=5$", [(5, 5), (10, 5), (15, 5)], lambda n, T: f"$n={n}$"),
        ("(b) $n=5$", [(5, 5), (5, 10), (5, 15)], lambda n, T: f"$T={T}$"),
    ]
    shades = ["0.0", "0.35", "0.6"]
    markers = ["o", "s", "^"]
    for col, (title, settings, label) in enumerate(panels):
        top, bottom = axes[0, col], axes[1, col]
        for j, (n, T) in enumerate(settings):
            cells = results.get(key(n, T))
            if cells is None:
                continue
            ds = [int(d) for d in cells]
            fro = [np.nan if cells[str(d)]["rank_fro"] is None else cells[str(d)]["rank_fro"] for d in ds]
            nuc = [np.nan if cells[str(d)]["rank_nuc"] is None else cells[str(d)]["rank_nuc"] for d in ds]
            feas = [cells[str(d)]["feasible"] for d in ds]
            blue, red = PARAM_COLORS["W"], PARAM_COLORS["KQ"]
            alpha = 1.0 - 0.3 * j
            top.plot(ds, fro, "-", marker=markers[j], color=blue, alpha=alpha, ms=4,
                     label=rf"$W^{{\mathrm{{mm}}}}$, {label(n, T)}")
            top.plot(ds, nuc, "--", marker=markers[j], color=red, alpha=alpha, ms=4, mfc="white",
                     label=rf"$W^{{\mathrm{{mm}}}}_\star$, {label(n, T)}")
            bottom.plot(ds, feas, "-", marker=markers[j], color=shades[j], ms=4, label=label(n, T))
        top.set_title(title)
        top.set_ylabel("mean rank (feasible instances)")
        bottom.set_ylabel("feasible\nfraction")
        bottom.set_xlabel("dimension $d$")
        bottom.set_ylim(-0.05, 1.05)
        top.set_ylim(0, None)
        top.legend(fontsize=7, ncol=2, loc="upper left" if col == 0 else "lower right")
        bottom.set_xticks(DS)
        bottom.legend(fontsize=7, loc="lower right")
    return fig


# =========================================================================== chapter 2 checks
# The numerical checks of Chapter 2 (Theorems 1 and 8, the KKT form of Att-SVM, Lemma 1,
# Lemma 15); the tests in tests/test_chapter02_checks.py call the same functions.


def all_selections(n: int, T: int) -> np.ndarray:
    """Every selection alpha in [T]^n, shape (T**n, n)."""
    grids = np.meshgrid(*([np.arange(T)] * n), indexing="ij")
    return np.stack([g.ravel() for g in grids], axis=1).astype(np.int64)


def feature_matrix(X: np.ndarray, Z: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """The n(T-1) vectors vec((x_{i alpha_i} - x_it) z_i^T) as rows, shape (n(T-1), d*d)."""
    F, _ = svm.att_features(X, Z, alpha)
    return F.reshape(F.shape[0], -1)


def feasibility_census(n: int, T: int, d: int, datasets: int, seed: int,
                       self_attention: bool = False) -> dict[str, Any]:
    """Theorem 8 of A checked exhaustively: for ``datasets`` random unit-sphere instances, solve
    (Att-SVM) for **every** selection alpha in [T]^n.

    Returns the number of (instance, alpha) pairs, how many are feasible, and the smallest rank
    of the feature matrix of :func:`feature_matrix` relative to n(T-1) (Appendix E: the
    features are linearly independent, so even ``<W, F_it> = 1`` for all (i, t) is solvable).
    """
    alphas = all_selections(n, T)
    feasible, min_rank = 0, n * (T - 1)
    for k in range(datasets):
        inst = data.unit_sphere_data(n, T, d, seed=derive_seed(seed, n, T, d, k), self_attention=self_attention)
        A = len(alphas)
        Xb = np.broadcast_to(inst.X, (A,) + inst.X.shape)
        Zb = np.broadcast_to(inst.Z, (A,) + inst.Z.shape)
        _, ok = svm.att_svm_batch(Xb, Zb, alphas)
        feasible += int(ok.sum())
        for a in alphas:
            min_rank = min(min_rank, int(np.linalg.matrix_rank(feature_matrix(inst.X, inst.Z, a))))
    return {"pairs": datasets * len(alphas), "feasible": feasible, "min_feature_rank": min_rank,
            "needed_rank": n * (T - 1)}


def kkt_census(n: int, T: int, d: int, instances: int, seed: int) -> dict[str, float]:
    """The hard-margin-SVM structure of (Att-SVM) (digest item 1) on random instances with alpha = opt.

    * ``reconstruction``: max_b ||W^mm - sum_it lambda_it F_it||_F / ||W^mm||_F;
    * ``kkt``: the solver's largest KKT residual;
    * ``slack_dual``: largest multiplier on a token whose margin exceeds 1 (complementary slackness: 0);
    * ``min_margin``: smallest margin (>= 1 up to rounding).
    """
    recon, kkt, slack_dual, min_margin = 0.0, 0.0, 0.0, np.inf
    for k in range(instances):
        inst = data.unit_sphere_data(n, T, d, seed=derive_seed(seed, n, T, d, k))
        sol = svm.solve_att_svm(inst.X, inst.Z, inst.opt)
        F, rows = svm.att_features(inst.X, inst.Z, inst.opt)
        W_dual = np.einsum("k,kde->de", sol.duals[rows[:, 0], rows[:, 1]], F)
        recon = max(recon, float(np.linalg.norm(sol.W - W_dual) / np.linalg.norm(sol.W)))
        kkt = max(kkt, float(sol.kkt_residual))
        with np.errstate(invalid="ignore"):
            loose = np.nan_to_num(sol.margins, nan=-np.inf) > 1 + 1e-6
        slack_dual = max(slack_dual, float(np.max(np.where(loose, sol.duals, 0.0))))
        min_margin = min(min_margin, float(np.nanmin(sol.margins)))
    return {"reconstruction": recon, "kkt": kkt, "slack_dual": slack_dual, "min_margin": min_margin}


def lemma1_census(n: int, T: int, d: int, instances: int, seed: int, rtol: float = 1e-6) -> dict[str, float]:
    """Lemma 1 of A on random instances, both norms, with the *full* (d x d) solvers of
    :mod:`tfsvm.svm` (not the reduced :func:`nuclear_svm`, which assumes the lemma).

    Returns the largest rank of W^mm and W*^mm (Lemma 1: <= n), the largest relative residual
    ``||W - W P_Z||_F / ||W||_F`` of the projection onto span{z_i} (row space), the norm
    comparisons ``min(||W*||_F - ||W^mm||_F)`` and ``min(||W^mm||_* - ||W*||_*)`` (both >= 0:
    each solution is optimal for its own norm), and ``reduced_gap``, the largest relative
    difference between the nuclear value of the full SDP and of :func:`nuclear_svm`.
    """
    out = {"rank_fro": 0, "rank_nuc": 0, "row_fro": 0.0, "row_nuc": 0.0,
           "fro_gap": np.inf, "nuc_gap": np.inf, "reduced_gap": 0.0}
    for k in range(instances):
        inst = data.unit_sphere_data(n, T, d, seed=derive_seed(seed, n, T, d, k))
        Wf = svm.att_svm(inst.X, inst.Z, inst.opt, norm="fro")
        Wn = svm.att_svm(inst.X, inst.Z, inst.opt, norm="nuc")
        Vz = _basis(inst.Z.T)
        P = Vz @ Vz.T
        for W, tag in ((Wf, "fro"), (Wn, "nuc")):
            out[f"rank_{tag}"] = max(out[f"rank_{tag}"], int(svm.numerical_rank(W, rtol=rtol)))
            out[f"row_{tag}"] = max(out[f"row_{tag}"], float(np.linalg.norm(W - W @ P) / np.linalg.norm(W)))
        out["fro_gap"] = min(out["fro_gap"], float(np.linalg.norm(Wn) - np.linalg.norm(Wf)))
        out["nuc_gap"] = min(out["nuc_gap"], float(np.linalg.norm(Wf, "nuc") - np.linalg.norm(Wn, "nuc")))
        red = np.linalg.norm(nuclear_svm(inst.X, inst.Z, inst.opt), "nuc")
        full = np.linalg.norm(Wn, "nuc")
        out["reduced_gap"] = max(out["reduced_gap"], float(abs(red - full) / full))
    return out


def factorization_census(d: int, rank: int, samples: int, seed: int) -> dict[str, float]:
    """Lemma 15 of A: ``min_{K Q^T = W} (||K||_F^2 + ||Q||_F^2) / 2 = ||W||_*``.

    For ``samples`` random (d x d) matrices W of the given rank:

    * ``balanced_gap``: max | (||K||^2 + ||Q||^2)/2 - ||W||_* | / ||W||_* for the balanced
      factors K = U Sigma^{1/2}, Q = V Sigma^{1/2} (attains the minimum);
    * ``min_ratio_other``: min over random other factorizations K A, Q A^{-T} (A random
      invertible) of (||K A||^2 + ||Q A^{-T}||^2) / (2 ||W||_*)  (>= 1);
    * ``min_ratio_random``: min over random pairs (K, Q) of (||K||^2 + ||Q||^2) / (2 ||K Q^T||_*)
      (>= 1: the inequality ||K Q^T||_* <= (||K||^2 + ||Q||^2)/2 behind the lemma).
    """
    rng = np.random.default_rng(seed)
    balanced_gap, ratio_other, ratio_random = 0.0, np.inf, np.inf
    for _ in range(samples):
        W = rng.standard_normal((d, rank)) @ rng.standard_normal((rank, d))
        U, s, Vt = np.linalg.svd(W)
        K, Q = U * np.sqrt(s), Vt.T * np.sqrt(s)
        nuc = float(s.sum())
        balanced_gap = max(balanced_gap, abs(0.5 * (np.sum(K**2) + np.sum(Q**2)) - nuc) / nuc)
        A = rng.standard_normal((d, d))
        KA, QA = K @ A, Q @ np.linalg.inv(A).T
        ratio_other = min(ratio_other, 0.5 * (np.sum(KA**2) + np.sum(QA**2)) / nuc)
        K2, Q2 = rng.standard_normal((d, rank)), rng.standard_normal((d, rank))
        ratio_random = min(ratio_random, 0.5 * (np.sum(K2**2) + np.sum(Q2**2)) / np.linalg.norm(K2 @ Q2.T, "nuc"))
    return {"balanced_gap": float(balanced_gap), "min_ratio_other": float(ratio_other),
            "min_ratio_random": float(ratio_random)}


def decoupling_error(n: int, T: int, d: int, seed: int) -> float:
    """With orthonormal queries z_i (d >= n), W^mm z_i is the solution u_i of the per-sequence SVM
    ``min ||u|| s.t. (x_{i opt_i} - x_it)^T u >= 1`` and W^mm = sum_i u_i z_i^T (digest item 5).

    Returns max_i ||W^mm z_i - u_i|| / ||u_i||.
    """
    inst = data.unit_sphere_data(n, T, d, seed=seed)
    Zo = np.linalg.qr(np.random.default_rng(seed + 1).standard_normal((d, n)))[0].T  # orthonormal rows
    X, opt = inst.X, inst.opt
    W = svm.att_svm(X, Zo, opt)
    err = 0.0
    for i in range(n):
        rows = np.delete(X[i, opt[i]][None, :] - X[i], opt[i], axis=0)
        u = svm.max_margin(rows).w
        err = max(err, float(np.linalg.norm(W @ Zo[i] - u) / np.linalg.norm(u)))
    return err
