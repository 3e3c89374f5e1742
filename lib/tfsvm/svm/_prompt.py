"""The SVMs of paper B (prompt attention ``f(X) = vᵀ Xᵀ S(K p)``): p-SVM, v-SVM and
the joint (v, p) SVM pair.

B's keys are ``k_it = W x_it`` (``K_i = X_i Wᵀ``); with W = I the keys are the
tokens themselves. The official notebooks use ``W = diag(1, 1, 0)``, i.e. the keys are
the first two coordinates of the tokens.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .._validation import check_labels, check_selection, check_tokens
from ..errors import DTypeError, InfeasibleError, ShapeError, ValueRangeError
from ._core import MaxMarginResult, max_margin

__all__ = ["p_svm", "v_svm", "joint_p_svm", "JointSVMSolution"]


def _relaxed_mask(relaxed: Any, n: int) -> np.ndarray:
    if relaxed is None:
        return np.zeros(n, dtype=bool)
    r = np.asarray(relaxed)
    if r.dtype == bool:
        if r.shape != (n,):
            raise ShapeError(f"relaxed is a boolean mask of shape {r.shape}; expected ({n},)")
        return r.copy()
    if r.size == 0:
        return np.zeros(n, dtype=bool)
    if r.dtype.kind not in "iu":
        raise DTypeError(f"relaxed must be a boolean mask or a list of sequence indices, got dtype {r.dtype}")
    r = r.reshape(-1)
    if np.any((r < 0) | (r >= n)):
        raise ValueRangeError(f"relaxed has sequence indices out of range [0, {n}): {r[(r < 0) | (r >= n)].tolist()}")
    m = np.zeros(n, dtype=bool)
    m[r] = True
    return m


def p_svm(keys: Any, alpha: Any, relaxed: Any = None, *, full_output: bool = False) -> np.ndarray | MaxMarginResult:
    """B's p-SVM (ATT-SVM for the prompt / tunable token p).

    minimise ``‖p‖`` s.t. ``pᵀ (k_{i α_i} - k_it) ≥ 1`` for t ≠ α_i, and
    ``≥ 0`` instead for the sequences i in ``relaxed`` (B's joint p-SVM, i in Sbar).

    Parameters
    ----------
    keys : (n, T, d) keys ``k_it = W x_it`` (pass the tokens X when W = I).
    alpha : (n,) int selection.
    relaxed : None, a bool mask (n,) or a list of sequence indices whose margin is only ≥ 0.
    full_output : return the MaxMarginResult (``.w`` = p) instead of p.

    Returns p (d,). Raises InfeasibleError naming the sequences that cannot be separated.
    """
    K = check_tokens(keys, "keys")
    alpha = check_selection(alpha, K)
    n, T, d = K.shape
    rel = _relaxed_mask(relaxed, n)
    sel = K[np.arange(n), alpha]
    keep = np.ones((n, T), dtype=bool)
    keep[np.arange(n), alpha] = False
    ii, tt = np.nonzero(keep)
    F = sel[ii] - K[ii, tt]
    b = np.where(rel[ii], 0.0, 1.0)

    def describe(rows: np.ndarray) -> str:
        seqs = sorted({int(ii[j]) for j in rows})
        pairs = ", ".join(f"(sequence {int(ii[j])}: token {int(tt[j])} vs selected {int(alpha[ii[j]])})" for j in rows)
        return f"p-SVM is infeasible: the selected keys of sequence(s) {seqs} cannot be separated; conflicting constraints {pairs}"

    try:
        res = max_margin(F, b, describe_infeasible=describe)
    except InfeasibleError as exc:
        rows = getattr(exc, "rows", np.array([], dtype=int))
        exc.sequences = sorted({int(ii[j]) for j in rows})
        raise
    res.info["rows"] = np.stack([ii, tt], axis=1)
    return res if full_output else res.w


def v_svm(X: Any, Y: Any, alpha: Any, *, support_tol: float = 1e-6) -> tuple[np.ndarray, np.ndarray]:
    """B's v-SVM: ``min ‖v‖ s.t. Y_i vᵀ x_{iα_i} ≥ 1`` (bias-free hard-margin SVM
    on the selected tokens).

    Returns ``(v, S)``: v (d,) and S the int array of support sequences (margin equal to
    1 within relative ``support_tol``), the set 𝒮 of the joint p-SVM.
    Raises InfeasibleError naming sequences whose labelled selected tokens conflict.
    """
    X = check_tokens(X)
    Y = check_labels(Y, X)
    alpha = check_selection(alpha, X)
    n = X.shape[0]
    F = Y[:, None] * X[np.arange(n), alpha]

    def describe(rows: np.ndarray) -> str:
        return (
            f"v-SVM is infeasible: the labelled selected tokens of sequence(s) {sorted(map(int, rows))} "
            "cannot be separated by a bias-free linear head"
        )

    try:
        res = max_margin(F, support_tol=support_tol, describe_infeasible=describe)
    except InfeasibleError as exc:
        exc.sequences = sorted(int(j) for j in getattr(exc, "rows", []))
        raise
    return res.w, np.flatnonzero(res.active)


@dataclass
class JointSVMSolution:
    """B's joint (v, p) SVMs.

    Attributes: p (d,) the 𝒮-relaxed p-SVM solution; v (d,) the v-SVM solution;
    support (int array) the support sequences 𝒮 of the v-SVM; relaxed (n,) bool = not in 𝒮.
    """

    p: np.ndarray
    v: np.ndarray
    support: np.ndarray
    relaxed: np.ndarray


def joint_p_svm(X: Any, Y: Any, alpha: Any, keys: Any = None) -> JointSVMSolution:
    """B's joint SVMs: solve the v-SVM, take its support sequences 𝒮, and solve the p-SVM
    with margin ≥ 1 on i in 𝒮 and ≥ 0 on i not in 𝒮.

    Parameters: X (n, T, d) tokens; Y (n,) labels; alpha (n,) selection;
    keys (n, T, d) keys ``W x_it`` (default: X, i.e. W = I).
    """
    X = check_tokens(X)
    if keys is None:
        keys = X
    K = check_tokens(keys, "keys")
    if K.shape[:2] != X.shape[:2]:
        raise ShapeError(f"keys have shape {K.shape} but X has shape {X.shape}; expected the same (n, T)")
    v, S = v_svm(X, Y, alpha)
    relaxed = np.ones(X.shape[0], dtype=bool)
    relaxed[S] = False
    p = p_svm(K, alpha, relaxed)
    return JointSVMSolution(p=p, v=v, support=S, relaxed=relaxed)
