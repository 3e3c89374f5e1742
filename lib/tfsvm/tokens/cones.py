"""The cones of A: ``C_{μ,R}(V)`` of eq. (4) and the separating cone ``cone_ε(α)`` of eq. (5)
(Definition 3, Lemma 5)."""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import attention
from .._validation import as_float_array, check_positive, check_selection
from ..errors import OptionError, ShapeError, ValueRangeError
from .optimality import _check_problem


def _check_matrix(W: Any, d: int | None, name: str = "W", batched: bool = False) -> np.ndarray:
    """Check a (d, d) matrix, or (B, d, d) if ``batched``."""
    W = as_float_array(W, name, (2, 3) if batched else 2)
    if W.shape[-1] != W.shape[-2] or (d is not None and W.shape[-1] != d):
        want = f"({d}, {d})" if d is not None else "square"
        raise ShapeError(f"{name} has shape {W.shape}; expected {want} matrices")
    return W



def in_cone(W: Any, V: Any, mu: float, R: float) -> bool | np.ndarray:
    """Membership in the cone ``C_{mu,R}(V)`` of eq. (4) of A.

    ``W`` belongs when ``<W/‖W‖_F, V/‖V‖_F> ≥ 1 - mu`` and ``‖W‖_F ≥ R``.

    Parameters
    ----------
    W : (d, d) or (B, d, d); V : (d, d) nonzero; mu : in (0, 1); R : > 0.
    """
    W = _check_matrix(W, None, "W", batched=True)
    V = _check_matrix(V, W.shape[-1], "V")
    mu, R = check_positive(mu, "mu"), check_positive(R, "R")
    if mu >= 1:
        raise OptionError(f"mu must lie in (0, 1), got {mu}")
    v_norm = np.linalg.norm(V)
    if v_norm == 0:
        raise ValueRangeError("V is the zero matrix; the cone of eq. (4) needs a nonzero direction")
    w_norm = np.linalg.norm(W, axis=(-2, -1))
    with np.errstate(invalid="ignore", divide="ignore"):
        cos = np.einsum("...ij,ij->...", W, V) / (w_norm * v_norm)
    inside = (w_norm >= R) & (cos >= 1 - mu)
    return bool(inside) if inside.ndim == 0 else inside


def cone_eps_value(W: Any, X: Any, Z: Any, scores: Any, alpha: Any) -> float:
    """The quantity compared with eps in the separating cone of eq. (5) (Definition 3 of A).

    ``min_i max_{t in low_i} min_{tau in high_i} (x_it - x_itau)ᵀ W z_i / ‖W‖_F`` with
    ``low_i = {t : γ_it < γ_{i α_i}}`` and
    ``high_i = {t ≠ α_i : γ_it ≥ γ_{i α_i}}``.

    Conventions: a sequence with empty ``high_i`` imposes no constraint (its term is
    +inf, so the value is +inf when alpha = opt is unique: cone_eps(opt) contains every
    matrix, Lemma 5); a sequence with empty ``low_i`` but nonempty ``high_i`` gives
    -inf (no low token can beat the high ones).

    Lemma 5 (alpha locally optimal iff ``W_alpha^mm`` lies in cone_eps(alpha) for small
    eps) holds when every sequence has a support index. A sequence with empty ``T_i``
    is unconstrained in Definition 2 but still constrained here, so a locally-optimal
    alpha can fall outside the cone (see ``tests/test_tokens.py``).
    """
    X, Z, scores = _check_problem(X, Z, scores)
    alpha = check_selection(alpha, X)
    W = _check_matrix(W, X.shape[-1])
    norm = np.linalg.norm(W)
    if norm == 0:
        raise ValueRangeError("W is the zero matrix; eq. (5) normalises by ||W||_F")
    logits = attention.attention_logits(X, W, Z) / norm
    top = scores[np.arange(len(alpha)), alpha][:, None]
    is_alpha = np.arange(X.shape[1]) == alpha[:, None]
    low, high = scores < top, (scores >= top) & ~is_alpha
    best_low = np.max(np.where(low, logits, -np.inf), axis=-1)
    best_high = np.max(np.where(high, logits, -np.inf), axis=-1)
    with np.errstate(invalid="ignore"):
        per_seq = np.where(high.any(axis=-1), best_low - best_high, np.inf)
    return float(np.min(per_seq))


def in_cone_eps(W: Any, X: Any, Z: Any, scores: Any, alpha: Any, eps: float) -> bool:
    """Membership of ``W`` in ``cone_eps(alpha)`` of eq. (5) (rank constraint m = d)."""
    eps = check_positive(eps, "eps")
    return cone_eps_value(W, X, Z, scores, alpha) >= eps
