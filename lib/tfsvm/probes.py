"""Probes of the open problems of Section 9 of A (chapter 9): each on several instances, each measuring one quantity.

None of these is a figure of the paper; each probe makes one open question concrete on small data
(unit-sphere tokens, normalized GD with η = 0.1 as in App. F unless stated) and returns the per-instance
measurements, so that the chapter can state what they show and what they do not.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch

from . import attention, data, metrics, svm, tokens, training
from .attention import DTYPE
from .losses import get_loss

#: the probes' common data: n = 4 sequences of T = 4 tokens in d = 6, optimal-score gap ≥ 0.1
N, T, D = 4, 4, 6


def instances(count: int, seed: int = 0, n: int = N, T_: int = T, d: int = D) -> data.AttentionData:
    """A batch of ``count`` independent unit-sphere instances (optimal-score gap ≥ 0.1)."""
    return data.unit_sphere_data(n=n, T=T_, d=d, seed=seed, trials=count, gap=0.1)


def rate_probe(insts: data.AttentionData, steps: int = 2000) -> dict[str, Any]:
    """Open problem 1 (rates): 1 − corr of normalized GD with its SVM, and its fitted power-law slope.

    W is compared with W^mm (Frobenius), K Qᵀ with W⋆^mm (nuclear), for every trial of the batch
    ``insts``. Returns per parameterization the recorded ``steps``, the ``curves`` (trials, R), the
    fitted ``slope`` over the last two thirds and the ``final`` misalignment per trial.
    """
    out: dict[str, Any] = {}
    for param, norm in (("W", "fro"), ("KQ", "nuc")):
        run = training.train(insts, param=param, steps=steps, lr=0.1, record="every 20")
        k = run.steps[1:]
        refs = np.array([svm.att_svm(insts.X[b], insts.Z[b], insts.opt[b], norm=norm) for b in range(insts.trials)])
        curves = np.asarray(metrics.one_minus_corr(np.swapaxes(run.W[1:], 0, 1), refs[:, None]))
        out[param] = {"steps": k.tolist(), "curves": curves,
                      "slope": np.array([metrics.loglog_slope(k, c, x_min=steps // 3) for c in curves]), "final": curves[:, -1]}
    return out


def nuclear_per_margin(W: np.ndarray, inst: data.AttentionData) -> float:
    """‖W‖_⋆ / min_{i,t} (x_{i opt_i} − x_it)ᵀ W z_i: the (Att-SVM⋆) objective after rescaling W to margin 1."""
    F, _ = svm.att_features(inst.X, inst.Z, inst.opt)
    return float(np.linalg.svd(W, compute_uv=False).sum() / np.einsum("jab,ab->j", F, W).min())


def width_probe(insts: data.AttentionData, widths: Sequence[int] = (6, 3, 2, 1), steps: int = 1000) -> dict[str, Any]:
    """Open problem 2 ((K,Q) GD): per width m, corr(K Qᵀ, W⋆^mm) and nuclear norm per unit margin.

    Returns ``rank_star`` and ``nuc_star`` (rank and nuclear norm of the convex W⋆^mm) per trial, and
    ``corr[m]``, ``cost[m]`` per trial (cost ≥ nuc_star always: the m = d problem is convex).
    """
    trials = [insts.trial(b) for b in range(insts.trials)]
    stars = [svm.att_svm(t.X, t.Z, t.opt, norm="nuc") for t in trials]
    out: dict[str, Any] = {"widths": list(widths), "corr": {}, "cost": {},
                           "rank_star": [int(svm.numerical_rank(W)) for W in stars],
                           "nuc_star": [float(np.linalg.svd(W, compute_uv=False).sum()) for W in stars]}
    for m in widths:
        Ws = training.train(insts, param="KQ", m=m, steps=steps, lr=0.1).W[-1]
        out["corr"][m] = [float(metrics.corr(W, S)) for W, S in zip(Ws, stars)]
        out["cost"][m] = [nuclear_per_margin(W, t) for W, t in zip(Ws, trials)]
    return out


def planted(n: int, seed: int, d: int = 8, T_: int = 4, trials: int | None = None) -> data.AttentionData:
    """The planted rule of the generalization probe: queries near e₁ (z_i = e₁ + 0.3 g_i), head v = e₂,
    labels +1, so the optimal token is the one with the largest second coordinate and W = e₂e₁ᵀ selects
    it. With ``trials`` a batch of independent training sets."""
    rng = np.random.default_rng(seed)
    shape = (n,) if trials is None else (trials, n)
    X = rng.standard_normal((*shape, T_, d))
    X /= np.linalg.norm(X, axis=-1, keepdims=True)
    Z = np.eye(d)[0] + 0.3 * rng.standard_normal((*shape, d))
    v = np.eye(d)[1] if trials is None else np.tile(np.eye(d)[1], (trials, 1))
    return data.AttentionData(X, Z, np.ones(shape), v)


def selection_accuracy(W: np.ndarray, test: data.AttentionData) -> float:
    """Fraction of the test sequences whose largest attention logit x_itᵀ W z_i is at the optimal token."""
    logits = np.einsum("ntd,de,ne->nt", test.X, W, test.Z)
    return float(np.mean(np.argmax(logits, axis=-1) == test.opt))


def generalization_probe(sizes: Sequence[int], repeats: int, steps: int = 1000, test_size: int = 2000,
                         seed: int = 0) -> dict[str, Any]:
    """Open problem 3 (generalization): train W by normalized GD on n planted sequences, measure test selection.

    For each n, ``repeats`` training sets (one batched run): the test accuracy of GD's W, of the SVM
    W^mm of the training set, and corr(W, W^mm). Returns lists per n (keys are str(n)).
    """
    test = planted(test_size, seed=10_000 + seed)
    out: dict[str, Any] = {"sizes": list(sizes), "gd": {}, "svm": {}, "corr": {}}
    for n in sizes:
        sets = planted(n, seed=seed + n, trials=repeats)
        Ws = training.train(sets, param="W", steps=steps, lr=0.1).W[-1]
        W_mm = [svm.att_svm(sets.X[r], sets.Z[r], sets.opt[r]) for r in range(repeats)]
        out["gd"][str(n)] = [selection_accuracy(W, test) for W in Ws]
        out["svm"][str(n)] = [selection_accuracy(W, test) for W in W_mm]
        out["corr"][str(n)] = [float(metrics.corr(W, S)) for W, S in zip(Ws, W_mm)]
    return out


def normalized_gd(params: Sequence[np.ndarray], loss_fn: Callable[..., torch.Tensor], steps: int = 1000,
                  lr: float = 0.1) -> list[np.ndarray]:
    """Normalized GD on every parameter separately (App. F), gradients by autograd: for models the
    library's trainer does not cover (two heads). Each step is :func:`tfsvm.training.step_direction`
    with the ``"normalized"`` rule over the whole parameter."""
    ps = [torch.tensor(p, dtype=DTYPE, requires_grad=True) for p in params]
    for _ in range(steps):
        grads = torch.autograd.grad(loss_fn(*ps), ps)
        with torch.no_grad():
            for p, g in zip(ps, grads):
                p -= lr * training.step_direction(g, "normalized", dims=tuple(range(g.ndim)))
    return [p.detach().numpy() for p in ps]


def _tensors(inst: data.AttentionData) -> tuple[torch.Tensor, ...]:
    return tuple(torch.tensor(np.asarray(a), dtype=DTYPE) for a in (inst.X, inst.Z, inst.Y, inst.v))


def _selection(W: np.ndarray, inst: data.AttentionData) -> np.ndarray:
    return np.argmax(np.asarray(attention.attention_probs(inst.X, W, inst.Z)), axis=-1)


def two_head_probe(insts: data.AttentionData, steps: int = 1000, seed: int = 0) -> dict[str, Any]:
    """Open problem 5 (architectures): two heads f = vᵀXᵀ(S(XW₁z) + s·S(XW₂z)), s = +1 (shared value) or −1.

    With a shared value (s = +1) the second head has nothing of its own to do; with the opposite
    value (s = −1) it is rewarded for the lowest-score token, so one model selects two tokens per
    sequence — something a single head cannot. Per instance and setting: corr(W₁, W₂), whether head 1
    selects opt and head 2 its own optimum (argmax of s·γ), and each head's corr with the Att-SVM of
    its own selection.
    """
    logistic = get_loss("logistic")
    rng = np.random.default_rng(seed)
    out: dict[str, Any] = {}
    for name, sign in (("shared", 1.0), ("opposite", -1.0)):
        rows = []
        for inst in (insts.trial(b) for b in range(insts.trials)):
            Xt, Zt, Yt, vt = _tensors(inst)

            def loss(W1: torch.Tensor, W2: torch.Tensor) -> torch.Tensor:
                f = attention.attention_output(Xt, W1, Zt, vt) + attention.attention_output(Xt, W2, Zt, sign * vt)
                return logistic(Yt * f).mean()

            W1, W2 = normalized_gd([0.1 * rng.standard_normal((inst.d, inst.d)) for _ in range(2)], loss, steps)
            sel1, sel2 = _selection(W1, inst), _selection(W2, inst)
            rows.append({"corr_12": float(metrics.corr(W1, W2)),
                         "head1_opt": bool(np.array_equal(sel1, inst.opt)),
                         "head2_own_opt": bool(np.array_equal(sel2, np.argmax(sign * inst.scores, axis=-1))),
                         "svm_corr": [float(metrics.corr(W, svm.att_svm(inst.X, inst.Z, s)))
                                      for W, s in ((W1, sel1), (W2, sel2))]})
        out[name] = rows
    return out


def joint_probe(insts: data.AttentionData, steps: int = 1000) -> list[dict[str, Any]]:
    """Open problem 6 (joint training): W and v trained together from W(0) = 0, v(0) = v.

    Per instance: whether the final selection is opt, corr(W, Att-SVM of the selection), corr(W, its
    relaxed version — margins ≥ 0 for sequences that are not v-SVM support vectors, as in B), corr(v,
    v-SVM) and the number of v-SVM support sequences.
    """
    rows = []
    for inst in (insts.trial(b) for b in range(insts.trials)):
        run = training.train_joint(inst, steps=steps, lr=0.1, init="zero")
        W, u = run["W"][-1], run["v"][-1]
        sel = _selection(W, inst)
        v_mm, support = svm.v_svm(inst.X, inst.Y, sel)
        F_sel, feature_rows = svm.att_features(inst.X, inst.Z, sel)
        W_relaxed = svm.max_margin(F_sel, np.where(np.isin(feature_rows[:, 0], support), 1.0, 0.0)).W
        rows.append({"selects_opt": bool(np.array_equal(sel, inst.opt)),
                     "corr_svm": float(metrics.corr(W, svm.att_svm(inst.X, inst.Z, sel))),
                     "corr_relaxed": float(metrics.corr(W, W_relaxed)),
                     "corr_v": float(metrics.corr(u, v_mm)), "support": int(len(support))})
    return rows


def global_probe(dims: Sequence[int], trials: int = 24, steps: int = 500) -> dict[str, dict[str, float]]:
    """Open problem 4 (global convergence): fractions of GD runs from PyTorch's default random init that end
    global / locally optimal (the argmax rule of chapter 4), ``trials`` datasets per d."""
    out = {}
    for d in dims:
        Dd = data.unit_sphere_data(n=N, T=T, d=d, seed=d, trials=trials, gap=0.1)
        run = training.train(Dd, steps=steps, lr=0.1, init="default", seed=1)
        out[str(d)] = tokens.convergence_fractions(tokens.classify_runs_batch(Dd.X, Dd.Z, Dd.scores, run.probs_final))
    return out
