"""The numerical checks the chapters show, one function per statement checked.

Chapters call these (and their tests in ``tests/test_chapterNN_checks.py`` call the same
functions at a smaller size); the experiments behind the paper's figures live in
:mod:`tfsvm.experiments`. Equation, lemma and theorem numbers are those of A (arXiv 2308.16898 v1).

* Chapter 2 (A §2): Theorems 1 and 8 (feasibility of every selection), the hard-margin-SVM (KKT)
  form of (Att-SVM), Lemma 1 (rank and row space), Lemma 15 (nuclear norm as a factorization
  norm), and the decoupling of (Att-SVM) for orthonormal queries.
* Chapter 4 (A §4): the training protocol of Figures 2, 5 and 6 (random instances and the
  global / local / not-local labels of normalized GD), Lemma 8 (descent), Lemma 9 (gradient
  correlation) and Theorems 3-5 (directional convergence).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from . import attention, data, gradients, metrics, svm, tokens, training
from .experiments._common import derive_seed, tile_trials
from .errors import InfeasibleError
from .plotting import new_figure

# =========================================================================== chapter 2 (A §2)


def all_selections(n: int, T: int) -> np.ndarray:
    """Every selection alpha in [T]^n, shape (T**n, n)."""
    grids = np.meshgrid(*([np.arange(T)] * n), indexing="ij")
    return np.stack([g.ravel() for g in grids], axis=1).astype(np.int64)


def feature_matrix(X: np.ndarray, Z: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """The n(T-1) vectors vec((x_{iα_i} - x_it) z_iᵀ) as rows, shape (n(T-1), d*d)."""
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
    """The KKT conditions of (Att-SVM) read as a hard-margin SVM (not stated in A, derived from
    its form in A §2.1) on random instances with alpha = opt.

    * ``reconstruction``: max_b ‖W^mm - Σ_it λ_it F_it‖_F / ‖W^mm‖_F;
    * ``kkt``: the solver's largest KKT residual;
    * ``slack_dual``: largest multiplier on a token whose margin exceeds 1 (complementary slackness: 0);
    * ``min_margin``: smallest margin (≥ 1 up to rounding).
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
    """Lemma 1 of A on random instances, both norms, with the *full* (d × d) solvers of
    :mod:`tfsvm.svm` (``reduce=False``: not the reduced SDP, which assumes the lemma).

    Returns the largest rank of W^mm and W⋆^mm (Lemma 1: ≤ n), the largest relative residual
    ``‖W - W P_Z‖_F / ‖W‖_F`` of the projection onto span{z_i} (row space), the norm
    comparisons ``min(‖W*‖_F - ‖W^mm‖_F)`` and ``min(‖W^mm‖_* - ‖W*‖_*)`` (both ≥ 0:
    each solution is optimal for its own norm), and ``reduced_gap``, the largest relative
    difference between the nuclear value of the full SDP and of the reduced one that
    :func:`tfsvm.svm.solve_att_svm` uses by default (``tfsvm.svm._nuclear._nuclear_reduced``).
    """
    out = {"rank_fro": 0, "rank_nuc": 0, "row_fro": 0.0, "row_nuc": 0.0,
           "fro_gap": np.inf, "nuc_gap": np.inf, "reduced_gap": 0.0}
    for k in range(instances):
        inst = data.unit_sphere_data(n, T, d, seed=derive_seed(seed, n, T, d, k))
        Wf = svm.att_svm(inst.X, inst.Z, inst.opt, norm="fro")
        Wn = svm.solve_att_svm(inst.X, inst.Z, inst.opt, norm="nuc", reduce=False).W
        P = np.linalg.pinv(inst.Z) @ inst.Z  # orthogonal projector onto span{z_i}
        for W, tag in ((Wf, "fro"), (Wn, "nuc")):
            out[f"rank_{tag}"] = max(out[f"rank_{tag}"], int(svm.numerical_rank(W, rtol=rtol)))
            out[f"row_{tag}"] = max(out[f"row_{tag}"], float(np.linalg.norm(W - W @ P) / np.linalg.norm(W)))
        out["fro_gap"] = min(out["fro_gap"], float(np.linalg.norm(Wn) - np.linalg.norm(Wf)))
        out["nuc_gap"] = min(out["nuc_gap"], float(np.linalg.norm(Wf, "nuc") - np.linalg.norm(Wn, "nuc")))
        red = np.linalg.norm(svm.att_svm(inst.X, inst.Z, inst.opt, norm="nuc"), "nuc")
        full = np.linalg.norm(Wn, "nuc")
        out["reduced_gap"] = max(out["reduced_gap"], float(abs(red - full) / full))
    return out


def factorization_census(d: int, rank: int, samples: int, seed: int) -> dict[str, float]:
    """Lemma 15 of A: ``min_{K Qᵀ = W} (‖K‖_F^2 + ‖Q‖_F^2) / 2 = ‖W‖_*``.

    For ``samples`` random (d × d) matrices W of the given rank:

    * ``balanced_gap``: max | (‖K‖^2 + ‖Q‖^2)/2 - ‖W‖_* | / ‖W‖_* for the balanced
      factors K = U Sigma^{1/2}, Q = V Sigma^{1/2} (attains the minimum);
    * ``min_ratio_other``: min over random other factorizations K A, Q A^{-T} (A random
      invertible) of (‖K A‖^2 + ‖Q A^{-T}‖^2) / (2 ‖W‖_*)  (≥ 1);
    * ``min_ratio_random``: min over random pairs (K, Q) of (‖K‖^2 + ‖Q‖^2) / (2 ‖K Qᵀ‖_*)
      (≥ 1: the inequality ‖K Qᵀ‖_* ≤ (‖K‖^2 + ‖Q‖^2)/2 behind the lemma).
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
    """With orthonormal queries z_i (d ≥ n), W^mm z_i is the solution u_i of the per-sequence SVM
    ``min ‖u‖ s.t. (x_{i opt_i} - x_it)ᵀ u ≥ 1`` and W^mm = Σ_i u_i z_iᵀ
    (a consequence of the KKT form, not stated in A).

    Returns max_i ‖W^mm z_i - u_i‖ / ‖u_i‖.
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


# =========================================================================== chapter 4 (A §4)


def figure5_instances(n: int, T: int, d: int, trials: int, gap: float, seed: int) -> data.AttentionData:
    """The random instances of Figures 2, 5 and 6 for one (n, T, d): a batch of ``trials``."""
    return data.unit_sphere_data(n, T, d, seed=seed, trials=trials, gap=gap)


def final_and_half_probs(inst: data.AttentionData, param: str, steps: int, lr: float, seed: int
                         ) -> tuple[np.ndarray, np.ndarray]:
    """Softmax probabilities (B, n, T) after ``steps`` and after ``steps // 2`` of normalized GD.

    Protocol: normalized GD with step ``lr`` (App. F), PyTorch-default initialization
    (``init="default"``, seeded), m = d for (K,Q).
    """
    res = training.train(inst, param=param, steps=steps, lr=lr, init="default",
                         seed=seed, record=[steps // 2, steps])
    half = attention._probs_array(inst.X, res.W[0], inst.Z)  # inst is checked data: no second check
    return res.probs_final, np.asarray(half)


def classify_gd_runs(inst: data.AttentionData, param: str, steps: int, lr: float, seed: int
                     ) -> tuple[np.ndarray, np.ndarray]:
    """Run labels ("global" / "local" / "not_local") after ``steps`` and after ``steps // 2``."""
    final, half = final_and_half_probs(inst, param, steps, lr, seed)
    return (tokens.classify_runs_batch(inst.X, inst.Z, inst.scores, final),
            tokens.classify_runs_batch(inst.X, inst.Z, inst.scores, half))


def b1_holds(inst: data.AttentionData, norm: str = "fro", limit: int | None = None) -> np.ndarray:
    """Per instance: does B.1 hold in Figure 5's sense (mean non-optimal margin < 1.1)?

    ``norm="fro"`` uses W^mm (batched solver); ``norm="nuc"`` uses W⋆^mm (one SDP per instance,
    reduced to the subspaces the constraints see by :func:`tfsvm.svm.solve_att_svm`, on the first
    ``limit`` instances only). An infeasible SVM counts as B.1 failing.
    """
    B = inst.trials if limit is None else min(limit, inst.trials)
    if norm == "fro":
        W, feasible = svm.att_svm_batch(inst.X[:B], inst.Z[:B], inst.opt[:B])
    else:
        W, feasible = np.full((B, inst.d, inst.d), np.nan), np.zeros(B, dtype=bool)
        for b in range(B):
            try:
                W[b], feasible[b] = svm.att_svm(inst.X[b], inst.Z[b], inst.opt[b], norm="nuc"), True
            except InfeasibleError:
                pass
    return np.array([bool(f) and tokens.assumption_b1(inst.X[b], inst.Z[b], inst.opt[b], W_mm=W[b]).holds
                     for b, f in enumerate(feasible)])


def lemma8_descent(inst: data.AttentionData, steps: int, factor: float = 1.0) -> dict[str, float]:
    """Plain GD with eta = factor / L_W (Lemma 4's constant) from W(0) = 0: Lemma 8 of A.

    Returns ``L_W``, ``max_increase`` = max_k L(W(k+1)) - L(W(k)) (≤ 0 for monotone descent),
    ``min_slack`` = min_k [L(W(k)) - L(W(k+1)) - (eta/2) ‖grad L(W(k))‖_F^2] (≥ 0 is Lemma 8's
    inequality) and ``final_grad`` = ‖grad L(W(steps))‖_F.
    """
    L_W = float(gradients.lipschitz_W(inst))
    eta = factor / L_W
    res = training.train(inst, param="W", steps=steps, lr=eta, rule="plain", init="zero", record="all")
    rep = tile_trials(inst, len(res.steps))
    g2 = np.sum(gradients.grad_W(rep.X, rep.Z, rep.Y, rep.v, res.W) ** 2, axis=(-2, -1))
    drop = res.loss[:-1] - res.loss[1:]
    return {"L_W": L_W, "max_increase": float(np.max(-drop)), "min_slack": float(np.min(drop - 0.5 * eta * g2[:-1])),
            "final_grad": float(np.sqrt(g2[-1]))}


def gradient_inner_products(inst: data.AttentionData, W_mm: np.ndarray, radius: float, samples: int,
                            seed: int) -> np.ndarray:
    """<grad L(W), W^mm> at ``samples`` random W with ‖W‖_F = ``radius`` (Lemma 9 of A: < 0 under B).

    The gradient is the closed form (13) in float64; at large radius it underflows to 0.
    """
    W = np.random.default_rng(seed).standard_normal((samples, inst.d, inst.d))
    W *= radius / np.linalg.norm(W, axis=(-2, -1), keepdims=True)
    rep = tile_trials(inst, samples)
    G = gradients.grad_W(rep.X, rep.Z, rep.Y, rep.v, W)
    return np.einsum("bij,ij->b", G, W_mm)


def b2_counterexample(inst: data.AttentionData, W_mm: np.ndarray, logit_gap: float = 20.0, tol: float = 1e-9
                      ) -> tuple[np.ndarray, list[tuple[int, int] | None]]:
    """A W at which <grad L(W), W^mm> > 0 when Assumption B.2 fails (why Lemma 9 of A needs B).

    The directional derivative of γ_i^T s_i along W^mm is the s_i-weighted covariance of the scores
    γ_it and the logit changes δ_it = x_it^T W^mm z_i. For each sequence we look for non-optimal
    tokens a, b with γ_ia > γ_ib + ``tol`` but δ_ia < δ_ib (moving along W^mm favours the lower score), and
    build W with logits 0 on a and b and -``logit_gap`` elsewhere: the covariance is then negative,
    so the loss *increases* along W^mm. Sequences without such a pair get all mass on opt_i
    (covariance ~ 0). Under B.2 no pair exists (equal non-optimal scores). Needs n <= d, T <= d
    (W z_i and X_i u_i are solved exactly). Returns ``(W, pairs)``, ``pairs[i] = (a, b)`` or None.
    """
    if inst.batch_shape:
        raise InfeasibleError("b2_counterexample takes a single instance, not a batch")
    if inst.n > inst.d or inst.T > inst.d:
        raise InfeasibleError(f"need n <= d and T <= d to prescribe the logits, got n={inst.n}, T={inst.T}, d={inst.d}")
    gamma, opt = inst.scores, inst.opt
    delta = np.einsum("itd,de,ie->it", inst.X, W_mm, inst.Z)
    U, pairs = [], []
    for i in range(inst.n):
        others = [t for t in range(inst.T) if t != opt[i]]
        cands = [(a, b) for a in others for b in others if gamma[i, a] > gamma[i, b] + tol and delta[i, a] < delta[i, b]]
        pair = max(cands, key=lambda ab: (gamma[i, ab[0]] - gamma[i, ab[1]]) * (delta[i, ab[1]] - delta[i, ab[0]]),
                   default=None)
        target = np.full(inst.T, -logit_gap)
        target[list(pair) if pair is not None else [opt[i]]] = 0.0
        U.append(np.linalg.lstsq(inst.X[i], target, rcond=None)[0])  # X_i u_i = target
        pairs.append(None if pair is None else (int(pair[0]), int(pair[1])))
    W = np.linalg.lstsq(inst.Z, np.array(U), rcond=None)[0].T  # W z_i = u_i for every i
    return W, pairs


def theorem6_check(pool: data.AttentionData, steps: int, lr: float) -> dict[str, np.ndarray]:
    """Normalized GD from W(0) = 0 on every trial of ``pool``, split by Assumption C (Theorem 6 of A).

    Returns per trial: ``c_holds`` (Assumption C), ``global`` (GD selects opt_i in every sequence) and
    ``misalign`` = 1 - corr(W(k), W^mm). Theorem 6 predicts ``global`` and a small ``misalign`` where C
    holds; the trials violating C are the control (C is sufficient, not necessary, so some converge too).
    """
    c_holds = np.array([tokens.assumption_c(pool.X[b], pool.Z[b], pool.Y[b], pool.v[b]).holds
                        for b in range(pool.trials)])
    run = training.train(pool, param="W", steps=steps, lr=lr, init="zero")
    W_mm, feasible = svm.att_svm_batch(pool.X, pool.Z, pool.opt)
    if not feasible.all():
        raise InfeasibleError(f"(Att-SVM) is infeasible for {int((~feasible).sum())} trials of the pool")
    return {"c_holds": c_holds, "global": np.all(run.selected == pool.opt, axis=-1),
            "misalign": np.asarray(metrics.one_minus_corr(run.W_final, W_mm))}


def directional_run(inst: data.AttentionData, steps: int, plain_steps: int, lr: float, inits: int,
                    init_scale: float, seed: int) -> dict[str, np.ndarray]:
    """GD from ``inits`` random W(0) of norm ``init_scale`` (Theorems 3-5 of A): ``plain_steps`` of
    plain GD with eta = 1/L_W (Lemma 4), and ``steps`` of normalized GD with step ``lr``.

    Returns, for each run ``"plain"`` and ``"ngd"``: ``{run}_steps`` (R,) recorded iterations
    (log-spaced), ``{run}_norm`` (inits, R) = ‖W(k)‖_F, ``{run}_misalign`` (inits, R) =
    1 - corr(W(k), W^mm), ``{run}_grad`` (inits,) = final ‖grad L(W)‖_F.
    """
    W_mm = svm.att_svm(inst.X, inst.Z, inst.opt)
    W0 = np.random.default_rng(seed).standard_normal((inits, inst.d, inst.d))
    W0 *= init_scale / np.linalg.norm(W0, axis=(-2, -1), keepdims=True)
    rep = tile_trials(inst, inits)
    out: dict[str, np.ndarray] = {}
    runs = (("plain", plain_steps, 1.0 / gradients.lipschitz_W(inst), "plain"), ("ngd", steps, lr, "normalized"))
    for name, k_max, step, rule in runs:
        record = np.unique(np.concatenate([[0], np.geomspace(1, k_max, 80).astype(np.int64)]))
        res = training.train(rep, param="W", steps=k_max, lr=step, rule=rule, init=W0, record=record)
        Wk = np.swapaxes(res.W, 0, 1)  # (inits, R, d, d)
        G = gradients.grad_W(rep.X, rep.Z, rep.Y, rep.v, res.W_final)
        out.update({f"{name}_steps": res.steps, f"{name}_norm": np.linalg.norm(Wk, axis=(-2, -1)),
                    f"{name}_misalign": metrics.one_minus_corr(Wk, W_mm),
                    f"{name}_grad": np.linalg.norm(G, axis=(-2, -1))})
    return out


def plot_directional(runs: dict[str, dict[str, np.ndarray]]):
    """Left: ‖W(k)‖_F of plain GD; right: 1 - corr(W(k), W^mm), normalized (solid) and plain (dotted) GD."""
    fig, (a0, a1) = new_figure(ncols=2, width=10.0, height=3.6)
    for j, (label, r) in enumerate(runs.items()):
        color = f"C{j}"
        a0.semilogx(r["plain_steps"][1:], r["plain_norm"][:, 1:].T, color=color, lw=0.8)
        a1.loglog(r["ngd_steps"][1:], r["ngd_misalign"][:, 1:].T, color=color, lw=0.8)
        a1.loglog(r["plain_steps"][1:], r["plain_misalign"][:, 1:].T, ":", color=color, lw=0.8)
        a0.plot([], [], color=color, label=label)
        a1.plot([], [], color=color, label=f"{label}, normalized GD")
        a1.plot([], [], ":", color=color, label=f"{label}, plain GD")
    a0.set_xlabel("iteration $k$")
    a0.set_ylabel(r"$\|W(k)\|_F$ (plain GD, $\eta = 1/L_W$)")
    a0.legend()
    a1.set_xlabel("iteration $k$")
    a1.set_ylabel(r"$1-\mathrm{corr}(W(k), W^{\mathrm{mm}})$")
    a1.legend(fontsize=7)
    return fig
