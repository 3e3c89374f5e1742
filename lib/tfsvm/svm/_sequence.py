"""The sequential and causal SVMs of A §7, eq. (11) (App. D): one selection per query."""

from __future__ import annotations

from typing import Any

import numpy as np

from .._validation import as_float_array, as_index_array, check_index_range, check_option, check_tokens
from ..errors import InfeasibleError, ShapeError, ValueRangeError
from ._attention import _NORMS, _att_factors, _attach_sequences, _describe_att
from ._core import _solve
from ._rows import _RankOne

__all__ = ["seq_svm", "causal_svm"]


def _matrix_svm(rows_op, rows, X, Z, norm, sel_of, what, full_output, method="auto"):
    d = X.shape[-1]
    norm = check_option(norm, "norm", _NORMS)
    describe = _describe_att(rows, X, Z, sel_of, what, query_of=lambda j: int(rows[j, 1]))
    try:
        res = _solve(rows_op, np.ones(rows_op.m), norm="l2" if norm == "fro" else "nuc", shape=(d, d),
                     method=method, describe=describe)
    except InfeasibleError as exc:
        raise _attach_sequences(exc, rows) from None
    res.info["rows"] = rows
    return res if full_output else res.W


def seq_svm(X: Any, Z: Any, alpha: Any, norm: str = "fro", *, full_output: bool = False):
    """Sequential SVM, eq. (11) of A (the (SAtt-SVM) of App. D with K queries).

    minimise ``‖W‖`` s.t. ``(x_{iα_ik} - x_it)ᵀ W z_ik ≥ 1`` for all t ≠ α_ik,
    k in [K], i in [n].

    Parameters
    ----------
    X : (n, T, d) tokens; Z : (n, K, d) queries ``z_ik`` (self-attention: ``Z = X``);
    alpha : (n, K) int selections; norm : "fro" or "nuc".
    full_output : return the MaxMarginResult (``info["rows"]`` = (i, k, t)).
    """
    X = check_tokens(X)
    Z = as_float_array(Z, "Z", 3)
    n, T, d = X.shape
    if Z.shape[0] != n or Z.shape[2] != d:
        raise ShapeError(f"Z has shape {Z.shape} but X has shape {X.shape}; expected ({n}, K, {d})")
    K = Z.shape[1]
    alpha = _check_alpha2(alpha, (n, K), T)
    Af, Cf, rows = [], [], []
    for k in range(K):
        Ak, Ck, rk = _att_factors(X, Z[:, k], alpha[:, k])
        Af.append(Ak)
        Cf.append(Ck)
        rows.append(np.column_stack([rk[:, 0], np.full(len(rk), k), rk[:, 1]]))
    rows = np.concatenate(rows)
    return _matrix_svm(_RankOne(np.concatenate(Af), np.concatenate(Cf)), rows, X, Z, norm, lambda j: int(alpha[rows[j, 0], rows[j, 1]]), "Sequential SVM", full_output)


def causal_svm(X: Any, Z: Any, alpha: Any, norm: str = "fro", *, full_output: bool = False):
    """Causal SVM of A §7: query k only attends to tokens t ≤ k (0-based).

    minimise ``‖W‖`` s.t. ``(x_{iα_ik} - x_it)ᵀ W z_ik ≥ 1`` for t ≤ k,
    t ≠ α_ik, k in [T], i in [n], with ``alpha[i, k] ≤ k`` (k = 0 has no constraint).

    Parameters
    ----------
    X : (n, T, d); Z : (n, T, d) one query per position (self-attention: ``Z = X``);
    alpha : (n, T) ints with ``0 ≤ alpha[i, k] ≤ k``; norm : "fro" or "nuc".
    full_output : return the MaxMarginResult (``info["rows"]`` = (i, k, t)).
    """
    X = check_tokens(X)
    Z = as_float_array(Z, "Z", 3)
    n, T, d = X.shape
    if Z.shape != X.shape:
        raise ShapeError(f"Z has shape {Z.shape}; causal_svm expects one query per position, shape {X.shape}")
    alpha = _check_alpha2(alpha, (n, T), T)
    bad = np.argwhere(alpha > np.arange(T)[None, :])
    if bad.size:
        i, k = bad[0]
        raise ValueRangeError(
            f"causal selection must satisfy alpha[i, k] <= k (position k only sees tokens 0..k); "
            f"alpha[{i}, {k}] = {alpha[i, k]}"
        )
    rows = np.array(
        [(i, k, t) for i in range(n) for k in range(1, T) for t in range(k + 1) if t != alpha[i, k]], dtype=int
    ).reshape(-1, 3)
    ii, kk, tt = rows.T
    A = X[ii, alpha[ii, kk]] - X[ii, tt]
    C = Z[ii, kk]
    return _matrix_svm(_RankOne(A, C), rows, X, Z, norm, lambda j: int(alpha[rows[j, 0], rows[j, 1]]), "Causal SVM", full_output)


def _check_alpha2(alpha: Any, shape: tuple[int, int], T: int, name: str = "alpha") -> np.ndarray:
    a = as_index_array(alpha, name)
    if a.shape != shape:
        raise ShapeError(f"{name} has shape {a.shape}; expected {shape} (one selection per sequence and query)")
    return check_index_range(a, T, name)
