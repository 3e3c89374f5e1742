"""The token assumptions of A: B.1 and B.2 (Section 4.1), C (Section 4.2) and D (Section 5.2)."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

import numpy as np

from .. import gradients, svm
from .._validation import check_count, check_option, check_positive, check_queries, check_selection, check_tokens
from ..errors import OptionError
from .cones import _check_matrix
from .optimality import SUPPORT_TOL, _att_svm_batch, _check_problem, _margins, _on_margin
from .scores import _check_scores, _check_tol, optimal_tokens, token_scores


@dataclass(frozen=True)
class AssumptionB1:
    """Assumption B.1 (all non-optimal tokens are support vectors of W^mm), two ways.

    Attributes
    ----------
    holds : Figure 5's test, mean margin over all non-optimal tokens < threshold.
    exact : every non-optimal margin equals 1 within the relative tolerance.
    mean_margin : the averaged margin.
    margins : (n, T) margins ``(x_{i opt_i} - x_it)ᵀ W^mm z_i`` (NaN at opt_i).
    """

    holds: bool
    exact: bool
    mean_margin: float
    margins: np.ndarray

    def __bool__(self) -> bool:
        return self.holds


def assumption_b1(
    X: Any, Z: Any, opt: Any, W_mm: Any = None, threshold: float = 1.1, tol: float = SUPPORT_TOL, norm: str = "fro"
) -> AssumptionB1:
    """Assumption B.1 of A: ``(x_{i opt_i} - x_it)ᵀ W^mm z_i = 1`` for all t ≠ opt_i.

    Exact equality is a measure-zero event for a numerical solution, so Figure 5 declares
    B.1 when the *mean* margin over all non-optimal tokens of all inputs is below 1.1
    (``holds``); ``exact`` is the literal test with relative tolerance ``tol``.

    Parameters
    ----------
    X : (n, T, d); Z : (n, d); opt : (n,) optimal tokens.
    W_mm : the SVM solution; solved here with ``norm`` if None (Figure 5(b) uses
        ``norm="nuc"``, the W-star^mm of (Att-SVM-star)).
    threshold : mean-margin threshold (> 1).
    """
    X = check_tokens(X)
    Z = check_queries(Z, X)
    opt = check_selection(opt, X, "opt")
    threshold = check_positive(threshold, "threshold")
    tol = check_positive(tol, "tol")
    if W_mm is None:
        W_mm = svm.solve_att_svm(X, Z, opt, norm=check_option(norm, "norm", ("fro", "nuc"))).W
    W_mm = _check_matrix(W_mm, X.shape[-1], "W_mm")
    margins = _margins(X, Z, opt, W_mm)
    mean = float(np.nanmean(margins))
    exact = bool(np.all(_on_margin(margins, tol) | np.isnan(margins)))
    return AssumptionB1(mean < threshold, exact, mean, margins)


def assumption_b2(scores: Any, tol: float = 1e-12) -> bool | np.ndarray:
    """Assumption B.2 of A: all non-optimal scores of a sequence are equal.

    ``γ_it = γ_itau < γ_{i opt_i}`` for all t, tau ≠ opt_i and all i, with
    equality up to ``tol``. Optimal tokens must be unique (raises TieError otherwise).

    Returns a bool for (n, T) scores, a (B,) bool array for (B, n, T) scores.
    """
    s = _check_scores(scores)
    tol = _check_tol(tol)
    opt = optimal_tokens(s)
    rest = np.where(np.arange(s.shape[-1]) == opt[..., None], np.nan, s)
    spread = np.nanmax(rest, axis=-1) - np.nanmin(rest, axis=-1)
    holds = np.all(spread <= tol, axis=-1)
    return bool(holds) if holds.ndim == 0 else holds


@dataclass(frozen=True)
class AssumptionC:
    """Assumption C of A (the first GD step from W = 0 separates the optimal tokens).

    Attributes
    ----------
    holds : every value below is > 0.
    values : (n, T) ``(x_it - x_{i opt_i})ᵀ grad L(0) z_i`` (NaN at opt_i).
    gradient : (d, d) ``grad L(0)``.
    """

    holds: bool
    values: np.ndarray
    gradient: np.ndarray

    def __bool__(self) -> bool:
        return self.holds


def assumption_c(X: Any, Z: Any, Y: Any, v: Any, loss: str = "logistic") -> AssumptionC:
    """Assumption C of A: ``(x_it - x_{i opt_i})ᵀ grad L(0) z_i > 0`` for all t ≠ opt_i, i.

    ``grad L(0)`` is the closed-form gradient (13) at W = 0 (uniform softmax), from
    :func:`tfsvm.gradients.grad_W`. Under C, Theorem 6 gives global directional
    convergence of GD started at W = 0.
    """
    X = check_tokens(X)
    Z = check_queries(Z, X)
    opt = optimal_tokens(token_scores(X, Y, v))
    d = X.shape[-1]
    G = gradients.grad_W(X, Z, Y, v, np.zeros((d, d)), loss=loss)
    values = -_margins(X, Z, opt, G)
    return AssumptionC(bool(np.all(np.nan_to_num(values, nan=1.0) > 0)), values, G)


@dataclass(frozen=True)
class AssumptionD:
    """Assumption D of A (there is always an optimal support index), checked exhaustively.

    Attributes
    ----------
    holds : every feasible alpha ≠ opt has some i with α_i ≠ opt_i and opt_i in T_i.
    violating : the selections alpha (tuples) for which that fails.
    infeasible : the selections whose Att-SVM is infeasible (they define no direction
        and are not counted as violations).
    checked : number of selections alpha ≠ opt examined (T^n - 1).
    """

    holds: bool
    violating: list[tuple[int, ...]]
    infeasible: list[tuple[int, ...]]
    checked: int

    def __bool__(self) -> bool:
        return self.holds


def assumption_d(
    X: Any, Z: Any, scores: Any, max_selections: int = 4096, tol: float = SUPPORT_TOL
) -> AssumptionD:
    """Assumption D of A (Section 5.2), by enumerating every selection alpha ≠ opt.

    For each alpha, solve (Att-SVM) with opt replaced by alpha and require some sequence
    with ``α_i ≠ opt_i`` and ``opt_i`` among its support indices ``T_i``. D implies
    that no alpha ≠ opt is locally optimal. There are ``T**n - 1`` selections; the check
    refuses (OptionError) when ``T**n > max_selections``.
    """
    X, Z, scores = _check_problem(X, Z, scores)
    max_selections = check_count(max_selections, "max_selections", 1)
    tol = check_positive(tol, "tol")
    n, T = scores.shape
    if T**n > max_selections:
        raise OptionError(
            f"assumption_d enumerates T**n = {T}**{n} = {T**n} selections, more than "
            f"max_selections = {max_selections}; use a smaller instance or raise max_selections"
        )
    opt = optimal_tokens(scores)
    alphas = np.array([a for a in itertools.product(range(T), repeat=n) if a != tuple(opt)], dtype=np.int64)
    B = len(alphas)
    Xb, Zb = np.broadcast_to(X, (B, *X.shape)), np.broadcast_to(Z, (B, *Z.shape))
    W, feasible = _att_svm_batch(Xb, Zb, alphas)
    support = _on_margin(_margins(Xb, Zb, alphas, W), tol)
    opt_support = np.take_along_axis(support, np.broadcast_to(opt, (B, n))[..., None], axis=-1)[..., 0]
    ok = np.any(opt_support & (alphas != opt), axis=-1)
    violating = [tuple(map(int, a)) for a in alphas[feasible & ~ok]]
    infeasible = [tuple(map(int, a)) for a in alphas[~feasible]]
    return AssumptionD(not violating, violating, infeasible, B)
