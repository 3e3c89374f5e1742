"""Comparisons used in A's figures: correlation of matrices (Figs 7–10) and softmax statistics.

``corr(W1, W2) = ⟨W1, W2⟩ / (‖W1‖_F ‖W2‖_F)`` is the *uncentred* cosine of the flattened matrices
(A's captions call it "correlation coefficient"; it is not Pearson's centred version). It lies in
[−1, 1]; "1 − corr" is the plotted misalignment.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ._validation import as_float_array, check_probs
from .errors import DTypeError, NonFiniteError, OptionError, ShapeError, ValueRangeError

__all__ = ["corr", "path_corr", "one_minus_corr", "loglog_slope", "mean_max_prob", "largest_masked_prob",
           "mass_fraction", "mean_entropy"]


def _flat(A: np.ndarray, name: str) -> np.ndarray:
    if A.ndim == 0:
        raise ShapeError(f"{name} is a scalar; expected a vector (d,) or matrices (..., p, q)")
    return A if A.ndim == 1 else A.reshape(A.shape[:-2] + (-1,))


def corr(W1: Any, W2: Any) -> float | np.ndarray:
    """⟨W1, W2⟩ / (‖W1‖_F ‖W2‖_F) over the last two axes, broadcast over leading (trial/step) axes.

    1-D inputs are treated as vectors (cosine similarity, e.g. B's p). Returns a float for single
    matrices, else an array of the broadcast leading shape. A zero matrix has no direction: it
    raises :class:`~tfsvm.errors.NonFiniteError` (the ratio would be 0/0 = NaN).
    """
    A, B = as_float_array(W1, "W1"), as_float_array(W2, "W2")
    if (A.ndim == 1) != (B.ndim == 1):
        raise ShapeError(f"W1 has shape {A.shape} and W2 has shape {B.shape}: compare vectors with vectors, matrices with matrices")
    if A.ndim >= 2 and A.shape[-2:] != B.shape[-2:]:
        raise ShapeError(f"W1 has shape {A.shape} and W2 has shape {B.shape}: their matrix shapes differ")
    if A.ndim == 1 and A.shape != B.shape:
        raise ShapeError(f"W1 has shape {A.shape} and W2 has shape {B.shape}")
    a, b = _flat(A, "W1"), _flat(B, "W2")
    try:
        np.broadcast_shapes(a.shape[:-1], b.shape[:-1])
    except ValueError:
        raise ShapeError(f"W1 has shape {A.shape} and W2 has shape {B.shape}: leading axes do not broadcast") from None
    na, nb = np.linalg.norm(a, axis=-1), np.linalg.norm(b, axis=-1)
    for name, nrm in (("W1", na), ("W2", nb)):
        if np.any(nrm == 0):
            raise NonFiniteError(f"{name} contains a zero matrix: its correlation is undefined (0/0)")
    c = np.sum((a / na[..., None]) * (b / nb[..., None]), axis=-1)
    c = np.clip(c, -1.0, 1.0)
    return float(c) if np.ndim(c) == 0 else c


def path_corr(W_path: Any, W_svm: Any) -> np.ndarray:
    """:func:`corr` of every point of a path with one reference, 0-safe (Theorem 2 check).

    ``corr_R = <Wbar_R, W_svm> / (‖Wbar_R‖_F ‖W_svm‖_F)`` for every point of the path;
    Theorem 2 (and Theorem 9, Corollary 2) predict corr_R -> 1 as R -> infinity.

    Parameters
    ----------
    W_path : (R, d, d) array (or a sequence of (d, d) matrices) -- the path Wbar_R, or
        K_R Q_Rᵀ for the (K, Q) path (then compare with the nuclear SVM solution).
    W_svm : (d, d) nonzero SVM solution.

    Returns (R,) correlations; NaN where a path matrix is exactly zero (where :func:`corr` raises:
    a path started at W(0) = 0 has no direction yet).
    """
    P = as_float_array(np.asarray(W_path, dtype=float) if isinstance(W_path, (list, tuple)) else W_path,
                       "W_path", (2, 3))
    if P.ndim == 2:
        P = P[None]
    S = as_float_array(W_svm, "W_svm", 2)
    if P.shape[1:] != S.shape:
        raise ShapeError(f"W_path has matrices of shape {P.shape[1:]} but W_svm has shape {S.shape}")
    ns = float(np.linalg.norm(S))
    if ns == 0:
        raise ValueRangeError("W_svm is the zero matrix; the correlation is undefined")
    num = np.einsum("rij,ij->r", P, S)
    nrm = np.linalg.norm(P.reshape(P.shape[0], -1), axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.where(nrm > 0, num / (np.where(nrm > 0, nrm, 1.0) * ns), np.nan)
    return out


def one_minus_corr(W1: Any, W2: Any) -> float | np.ndarray:
    """1 − corr(W1, W2) ∈ [0, 2], the misalignment A plots (Figs 8–10)."""
    c = corr(W1, W2)
    return 1.0 - c


def loglog_slope(x: Any, y: Any, x_min: float = 0.0) -> float:
    """Least-squares slope of log y against log x over the points with x >= ``x_min``.

    The exponent beta of a power law y ~ c x^beta, as fitted to a misalignment curve 1 - corr
    against the iteration k (or the radius R of a regularization path); integer x (step
    indices) is accepted. Needs at least two points
    with x >= x_min, all of x and y there strictly positive.
    """
    xs = as_float_array(np.asarray(x, dtype=float) if isinstance(x, (list, tuple, np.ndarray)) else x, "x")
    ys = as_float_array(y, "y")
    if xs.ndim != 1 or xs.shape != ys.shape:
        raise ShapeError(f"x and y must be 1-D arrays of the same length, got shapes {xs.shape} and {ys.shape}")
    keep = xs >= x_min
    if keep.sum() < 2:
        raise ShapeError(f"only {int(keep.sum())} point(s) with x >= {x_min}; a slope needs at least two")
    if np.any(xs[keep] <= 0) or np.any(ys[keep] <= 0):
        raise NonFiniteError("x and y must be strictly positive where the slope is fitted (their logs are taken)")
    return float(np.polyfit(np.log(xs[keep]), np.log(ys[keep]), 1)[0])


def mean_max_prob(probs: Any) -> float | np.ndarray:
    """(1/n) Σ_i max_t s_it for probabilities (..., n, T) → (...) (Fig 7(a))."""
    P = check_probs(probs)
    m = P.max(-1).mean(-1)
    return float(m) if np.ndim(m) == 0 else m


def largest_masked_prob(probs: Any, masked: Any) -> float | np.ndarray:
    """max over masked (i, t) of s_it, per instance: (..., n, T) → (...) (Fig 8, lower row).

    ``masked`` is a boolean array of the shape of ``probs`` (True = masked token τ ∈ Ō_i), or a
    float threshold (masked = probs < threshold, the paper's 1e-6). Instances without any masked
    token give 0.0.
    """
    P = check_probs(probs)
    if isinstance(masked, (float, int)) and not isinstance(masked, bool):
        mask = P < float(masked)
    else:
        mask = np.asarray(masked.detach().cpu().numpy() if hasattr(masked, "detach") else masked)
        if mask.dtype != bool:
            raise DTypeError(f"masked must be a boolean array or a float threshold, got dtype {mask.dtype}")
        if mask.shape != P.shape:
            raise ShapeError(f"masked has shape {mask.shape} but probs has shape {P.shape}")
    vals = np.where(mask, P, -np.inf).reshape(P.shape[:-2] + (-1,)).max(-1)
    vals = np.where(np.isfinite(vals), vals, 0.0)
    return float(vals) if np.ndim(vals) == 0 else vals


def mass_fraction(probs: Any, mass: float = 0.9) -> float | np.ndarray:
    """Sparsity of attention: the fraction of the T tokens needed to hold ``mass`` of the softmax
    mass (largest first), averaged over the n sequences: (..., n, T) → (...). 1/T for one-hot
    attention, about ``mass`` for uniform attention (the "sparsity" of A's empirical-insights slide)."""
    P = check_probs(probs)
    if not 0 < mass < 1:
        raise OptionError(f"mass must lie in (0, 1), got {mass}")
    cum = np.cumsum(-np.sort(-P, axis=-1), axis=-1)
    count = 1 + np.sum(cum < mass * cum[..., -1:], axis=-1)
    f = (count / P.shape[-1]).mean(-1)
    return float(f) if np.ndim(f) == 0 else f


def mean_entropy(probs: Any) -> float | np.ndarray:
    """Mean over sequences of the Shannon entropy −Σ_t s_it log s_it (nats): (..., n, T) → (...)."""
    P = check_probs(probs)
    h = -np.sum(np.where(P > 0, P * np.log(np.where(P > 0, P, 1.0)), 0.0), axis=-1).mean(-1)
    return float(h) if np.ndim(h) == 0 else h
