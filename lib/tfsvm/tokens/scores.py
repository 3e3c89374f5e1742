"""Definition 1 of A: token scores, optimal tokens and score gaps; the tokens a trained model
selects and the selected / masked sets of Section 6.

:func:`gamma` is the one computation of the scores γ_it = Y_i vᵀx_it in the library (the data
containers and generators call it too); :func:`top_gaps` the one computation of score gaps.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .._validation import (
    as_float_array,
    check_head,
    check_labels,
    check_nonnegative,
    check_positive,
    check_probs,
    check_sequence_axes,
    check_tokens,
)
from ..errors import OptionError, ShapeError, TieError


def gamma(X: np.ndarray, Y: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Token scores ``γ_it = Y_i vᵀx_it`` (Definition 1 of A) of already-validated float arrays.

    ``X`` (..., n, T, d), ``Y`` (..., n), ``v`` (..., d); leading axes broadcast. Returns (..., n, T).
    Public entry point with input checks: :func:`token_scores`.
    """
    return Y[..., None] * np.einsum("...ntd,...d->...nt", X, v)


def top_gaps(scores: np.ndarray) -> np.ndarray:
    """Per sequence, the best score minus the second best, ``γ_(1) − γ_(2)``: (..., n, T) -> (..., n).

    0 for a tie (no strict optimum). Appendix F of A filters datasets on the minimum over i.
    """
    top2 = -np.partition(-scores, 1, axis=-1)[..., :2]
    return top2[..., 0] - top2[..., 1]


def _check_scores(scores: Any, name: str = "scores", X: np.ndarray | None = None) -> np.ndarray:
    """Check token scores of shape (n, T) or (B, n, T) (matching ``X.shape[:-1]`` if given)."""
    if X is not None:
        s = as_float_array(scores, name)
        if s.shape != X.shape[:-1]:
            raise ShapeError(f"{name} has shape {s.shape} but X has shape {X.shape}; expected {X.shape[:-1]}")
        return s
    return check_sequence_axes(as_float_array(scores, name, (2, 3)), name)



def _check_probs(probs: Any, name: str = "probs") -> np.ndarray:
    """Softmax probabilities of shape (n, T) or (B, n, T), T ≥ 2."""
    return _check_scores(check_probs(probs, name, (2, 3)), name)


def token_scores(X: Any, Y: Any, v: Any) -> np.ndarray:
    """Token scores ``γ_it = Y_i vᵀ x_it`` (Definition 1 of A).

    Parameters
    ----------
    X : (n, T, d) or (B, n, T, d) tokens.
    Y : (n,) or (B, n) labels in {-1, +1}.
    v : (d,) linear head, or (B, d) one head per trial.

    Returns
    -------
    scores : (n, T) or (B, n, T) float64.
    """
    X = check_tokens(X, batched=True)
    Y = check_labels(Y, X)
    if X.ndim == 4 and np.ndim(v) == 2:
        v = as_float_array(v, "v", 2)
        if v.shape != (X.shape[0], X.shape[-1]):
            raise ShapeError(f"v has shape {v.shape}; expected ({X.shape[0]}, {X.shape[-1]}) (one head per trial)")
    else:
        v = check_head(v, X.shape[-1])
    return gamma(X, Y, v)


def optimal_tokens(scores: Any, tol: float = 0.0) -> np.ndarray:
    """Optimal token indices ``opt_i = argmax_t γ_it`` (Definition 1 of A).

    Definition 1 needs a strict maximum: a sequence whose two highest scores are
    within ``tol`` of each other has no well-defined optimal token.

    Parameters
    ----------
    scores : (n, T) or (B, n, T) token scores.
    tol : scores within ``tol`` of the maximum count as ties (``tol ≥ 0``).

    Returns
    -------
    opt : (n,) or (B, n) int64.

    Raises
    ------
    TieError
        Listing the sequences (``i``, or ``(b, i)`` when batched) whose argmax is not unique.
    """
    s = _check_scores(scores)
    tol = _check_tol(tol)
    tied = top_gaps(s) <= tol
    if np.any(tied):
        where = [tuple(int(k) for k in ix) if len(ix) > 1 else int(ix[0]) for ix in np.argwhere(tied)]
        raise TieError(
            f"scores have no unique optimal token (top two scores within tol={tol}) "
            f"in sequence(s) {where[:10]}{' ...' if len(where) > 10 else ''}"
        )
    return np.argmax(s, axis=-1).astype(np.int64)


def score_gap(scores: Any) -> float | np.ndarray:
    """Optimal-score gap ``min_i (γ_{i,opt_i} - max_{t ≠ opt_i} γ_it)``.

    Appendix F of A keeps only datasets with gap ≥ 0.1 for Figures 2, 5 and 6.
    The gap is 0 when some sequence has a tie (no strict optimum).

    Returns a float for (n, T) scores, a (B,) array for (B, n, T) scores.
    """
    gap = np.min(top_gaps(_check_scores(scores)), axis=-1)
    return float(gap) if gap.ndim == 0 else gap


def _check_tol(tol: float, name: str = "tol") -> float:
    """Check a tolerance: a finite number ≥ 0."""
    return check_nonnegative(tol, name)


def selected_tokens(probs: Any) -> np.ndarray:
    """Token selected by a trained model: ``α_i = argmax_t s_it`` of its softmax.

    Parameters
    ----------
    probs : (n, T) or (B, n, T) attention probabilities ``s_i = S(X_i W z_i)``.

    Returns
    -------
    alpha : (n,) or (B, n) int64.
    """
    return np.argmax(_check_probs(probs), axis=-1).astype(np.int64)


@dataclass(frozen=True)
class SelectionSets:
    """Selected set O_i, masked set O-bar_i and the ambiguity flag of Section 6 of A.

    Attributes
    ----------
    selected : (..., n, T) bool, ``s_it > selected_above`` (the set O_i).
    masked : (..., n, T) bool, ``s_it < masked_below`` (the set O-bar_i).
    ambiguous : (...) bool per instance: some probability lies between the thresholds,
        so the instance is dropped (Figures 8, 9).
    """

    selected: np.ndarray
    masked: np.ndarray
    ambiguous: np.ndarray | bool


def selection_sets(probs: Any, selected_above: float = 1e-3, masked_below: float = 1e-6) -> SelectionSets:
    """Split each sequence's tokens into selected and masked sets (Section 6 of A).

    Figures 8 and 9 call a token selected when its final softmax probability exceeds
    ``1e-3`` and masked when it is below ``1e-6`` (Figure 9: ``1e-8``); an instance
    (all n sequences of one trial) with any probability in between is ambiguous.

    Parameters
    ----------
    probs : (n, T) or (B, n, T) attention probabilities.
    selected_above, masked_below : thresholds, ``0 < masked_below ≤ selected_above < 1``.
    """
    p = _check_probs(probs)
    hi = check_positive(selected_above, "selected_above")
    lo = check_positive(masked_below, "masked_below")
    if not lo <= hi < 1:
        raise OptionError(f"need 0 < masked_below <= selected_above < 1, got {masked_below} and {selected_above}")
    selected, masked = p > hi, p < lo
    ambiguous = np.any(~(selected | masked), axis=(-2, -1))
    return SelectionSets(selected, masked, bool(ambiguous) if ambiguous.ndim == 0 else ambiguous)
