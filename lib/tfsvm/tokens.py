"""Token geometry: scores, optimal and selected tokens, local optimality, assumptions, cones.

This module answers "which token does attention select, and is that selection one
that gradient descent can converge to?" for a fixed dataset ``(X, Z, Y, v)``:

* token scores and optimal tokens (Definition 1 of A);
* support indices and locally-optimal selections (Definition 2 of A, after B's
  Definition 2), with a batched variant for sweeps over many trials;
* the token assumptions B.1, B.2 (Section 4.1), C (Section 4.2) and D (Section 5.2);
* the cone of eq. (4) and the separating cone ``cone_eps(alpha)`` of eq. (5)
  (Definition 3, Lemma 5);
* the Global / Local / Not-Local classification of a trained run (Figures 2 and 5)
  and the selected / masked sets of a multi-token composition (Section 6, Figures 8, 9).

Shapes follow ARCHITECTURE.md: ``X`` (n, T, d), ``Z`` (n, d), ``Y`` (n,), ``v`` (d,),
``scores`` (n, T), ``alpha`` (n,), ``W`` (d, d); batched variants put a trial axis first.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

import numpy as np

from . import attention, svm
from ._validation import (
    as_float_array,
    check_count,
    check_nonnegative,
    check_head,
    check_labels,
    check_option,
    check_positive,
    check_queries,
    check_selection,
    check_tokens,
)
from .errors import InfeasibleError, OptionError, ShapeError, TieError

#: Labels of :func:`classify_run`, in the order used by :func:`classify_runs_batch`.
RUN_LABELS = ("global", "local", "not_local")

#: Relative tolerance deciding that an SVM margin equals 1 (a support index).
SUPPORT_TOL = 1e-6


# --------------------------------------------------------------------------- checks


def _check_scores(scores: Any, name: str = "scores", X: np.ndarray | None = None) -> np.ndarray:
    """Check token scores of shape (n, T) or (B, n, T) (matching ``X.shape[:-1]`` if given)."""
    if X is not None:
        s = as_float_array(scores, name)
        if s.shape != X.shape[:-1]:
            raise ShapeError(f"{name} has shape {s.shape} but X has shape {X.shape}; expected {X.shape[:-1]}")
        return s
    s = as_float_array(scores, name, (2, 3))
    if s.shape[-2] < 1:
        raise ShapeError(f"{name} has no sequences (n = 0); need n >= 1")
    if s.shape[-1] < 2:
        raise ShapeError(f"{name} has T = {s.shape[-1]} token(s) per sequence; need T >= 2")
    return s


def _check_probs(probs: Any, name: str = "probs") -> np.ndarray:
    """Check softmax probabilities of shape (..., n, T): entries in [0, 1]."""
    p = _check_scores(probs, name)
    if np.any(p < 0) or np.any(p > 1):
        raise ShapeError(f"{name} must contain probabilities in [0, 1]")
    return p


def _check_matrix(W: Any, d: int | None, name: str = "W", batched: bool = False) -> np.ndarray:
    """Check a (d, d) matrix, or (B, d, d) if ``batched``."""
    W = as_float_array(W, name, (2, 3) if batched else 2)
    if W.shape[-1] != W.shape[-2] or (d is not None and W.shape[-1] != d):
        want = f"({d}, {d})" if d is not None else "square"
        raise ShapeError(f"{name} has shape {W.shape}; expected {want} matrices")
    return W


def _check_problem(X: Any, Z: Any, scores: Any, batch_of: str | None = None) -> tuple[np.ndarray, ...]:
    """Check tokens, queries and matching scores; ``batch_of`` names a function needing (B, n, T, d)."""
    X = check_tokens(X, batched=batch_of is not None)
    if batch_of is not None and X.ndim != 4:
        raise ShapeError(f"X has shape {X.shape}; {batch_of} expects (B, n, T, d)")
    Z = check_queries(Z, X)
    return X, Z, _check_scores(scores, X=X)


# --------------------------------------------------------------------------- Definition 1


def token_scores(X: Any, Y: Any, v: Any) -> np.ndarray:
    """Token scores ``gamma_it = Y_i v^T x_it`` (Definition 1 of A).

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
        return Y[..., None] * np.einsum("bntd,bd->bnt", X, v)
    v = check_head(v, X.shape[-1])
    return Y[..., None] * (X @ v)


def optimal_tokens(scores: Any, tol: float = 0.0) -> np.ndarray:
    """Optimal token indices ``opt_i = argmax_t gamma_it`` (Definition 1 of A).

    Definition 1 needs a strict maximum: a sequence whose two highest scores are
    within ``tol`` of each other has no well-defined optimal token.

    Parameters
    ----------
    scores : (n, T) or (B, n, T) token scores.
    tol : scores within ``tol`` of the maximum count as ties (``tol >= 0``).

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
    top2 = -np.partition(-s, 1, axis=-1)[..., :2]
    tied = top2[..., 0] - top2[..., 1] <= tol
    if np.any(tied):
        where = [tuple(int(k) for k in ix) if len(ix) > 1 else int(ix[0]) for ix in np.argwhere(tied)]
        raise TieError(
            f"scores have no unique optimal token (top two scores within tol={tol}) "
            f"in sequence(s) {where[:10]}{' ...' if len(where) > 10 else ''}"
        )
    return np.argmax(s, axis=-1).astype(np.int64)


def score_gap(scores: Any) -> float | np.ndarray:
    """Optimal-score gap ``min_i (gamma_{i,opt_i} - max_{t != opt_i} gamma_it)``.

    Appendix F of A keeps only datasets with gap >= 0.1 for Figures 2, 5 and 6.
    The gap is 0 when some sequence has a tie (no strict optimum).

    Returns a float for (n, T) scores, a (B,) array for (B, n, T) scores.
    """
    s = _check_scores(scores)
    top2 = -np.partition(-s, 1, axis=-1)[..., :2]
    gap = np.min(top2[..., 0] - top2[..., 1], axis=-1)
    return float(gap) if gap.ndim == 0 else gap


def _check_tol(tol: float, name: str = "tol") -> float:
    """Check a tolerance: a finite number >= 0."""
    return check_nonnegative(tol, name)


# --------------------------------------------------------------------------- selected tokens (Section 6)


def selected_tokens(probs: Any) -> np.ndarray:
    """Token selected by a trained model: ``alpha_i = argmax_t s_it`` of its softmax.

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
    selected_above, masked_below : thresholds, ``0 < masked_below <= selected_above < 1``.
    """
    p = _check_probs(probs)
    hi = check_positive(selected_above, "selected_above")
    lo = check_positive(masked_below, "masked_below")
    if not lo <= hi < 1:
        raise OptionError(f"need 0 < masked_below <= selected_above < 1, got {masked_below} and {selected_above}")
    selected, masked = p > hi, p < lo
    ambiguous = np.any(~(selected | masked), axis=(-2, -1))
    return SelectionSets(selected, masked, bool(ambiguous) if ambiguous.ndim == 0 else ambiguous)


# --------------------------------------------------------------------------- Definition 2


def support_indices(solution: svm.SVMSolution) -> list[np.ndarray]:
    """Support indices ``T_i`` of an Att-SVM solution (Definition 2 of A).

    ``T_i`` holds the tokens t != alpha_i whose margin ``(x_{i alpha_i} - x_it)^T W z_i``
    equals 1; :func:`tfsvm.svm.solve_att_svm` computes them (relative tolerance
    ``support_tol``) when it solves the problem, so this is the accessor, not a second
    computation.
    """
    if not isinstance(solution, svm.SVMSolution):
        raise ShapeError(f"solution must be an SVMSolution from tfsvm.svm, got {type(solution).__name__}")
    return solution.support


@dataclass(frozen=True)
class LocalOptimality:
    """Outcome of the Definition-2 test for one selection ``alpha``.

    Attributes
    ----------
    locally_optimal : True when the Att-SVM for alpha is feasible and every support index
        scores strictly below the selected token.
    alpha : (n,) the selection tested.
    solution : the Att-SVM solution ``W_alpha^mm`` (None when infeasible).
    violations : pairs (i, t) with t in T_i and ``gamma_it >= gamma_{i alpha_i}``.
    feasible : whether the Att-SVM for alpha has a solution.
    """

    locally_optimal: bool
    alpha: np.ndarray
    solution: svm.SVMSolution | None
    violations: list[tuple[int, int]]
    feasible: bool

    def __bool__(self) -> bool:
        return self.locally_optimal


def is_locally_optimal(
    X: Any, Z: Any, scores: Any, alpha: Any, norm: str = "fro", tol: float = SUPPORT_TOL
) -> LocalOptimality:
    """Test whether the selection ``alpha`` is locally optimal (Definition 2 of A).

    Solve (Att-SVM) with opt replaced by alpha, read off the support indices ``T_i``
    and require ``gamma_{i alpha_i} > gamma_it`` for every i and t in ``T_i``.
    The global selection ``opt`` always passes.

    If the Att-SVM for alpha is infeasible there is no direction ``W_alpha^mm``, so
    alpha is reported as *not* locally optimal (``feasible=False``, no violations).

    Parameters
    ----------
    X : (n, T, d) tokens; Z : (n, d) queries; scores : (n, T) token scores.
    alpha : (n,) int selection.
    norm : "fro" (Definition 2) or "nuc" (the (⋄-SVM) of Section 5.3 with ⋄ = nuclear;
        its solution need not be unique, so its support indices depend on the solver).
    tol : relative tolerance for "margin equals 1" (support indices).
    """
    X, Z, scores = _check_problem(X, Z, scores)
    alpha = check_selection(alpha, X)
    norm = check_option(norm, "norm", ("fro", "nuc"))
    try:
        sol = svm.solve_att_svm(X, Z, alpha, norm=norm, support_tol=check_positive(tol, "tol"))
    except InfeasibleError:
        return LocalOptimality(False, alpha, None, [], False)
    top = scores[np.arange(len(alpha)), alpha]
    violations = [(i, int(t)) for i, T_i in enumerate(sol.support) for t in T_i if scores[i, t] >= top[i]]
    return LocalOptimality(not violations, alpha, sol, violations, True)


@dataclass(frozen=True)
class LocalOptimalityBatch:
    """Outcome of the Definition-2 test for B trials at once.

    Attributes
    ----------
    locally_optimal : (B,) bool.
    feasible : (B,) bool, Att-SVM for alpha feasible.
    support : (B, n, T) bool, support-index masks (all False where infeasible).
    W : (B, d, d) the solutions ``W_alpha^mm`` (zero where infeasible).
    """

    locally_optimal: np.ndarray
    feasible: np.ndarray
    support: np.ndarray
    W: np.ndarray


def _margins(X: np.ndarray, Z: np.ndarray, alpha: np.ndarray, W: np.ndarray) -> np.ndarray:
    """Margins ``(x_{i alpha_i} - x_it)^T W z_i`` (any leading trial axes), NaN at alpha_i."""
    logits = attention.attention_logits(X, W, Z)
    m = np.take_along_axis(logits, alpha[..., None], axis=-1) - logits
    np.put_along_axis(m, alpha[..., None], np.nan, axis=-1)
    return m


def _att_svm_batch(X: np.ndarray, Z: np.ndarray, alpha: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``svm.att_svm_batch`` with the NaN matrices of infeasible trials replaced by zeros."""
    W, feasible = svm.att_svm_batch(X, Z, alpha)
    return np.where(feasible[:, None, None], W, 0.0), feasible


def _on_margin(margins: np.ndarray, tol: float) -> np.ndarray:
    """Mask of margins equal to 1 within relative tolerance ``tol`` (False at NaN)."""
    with np.errstate(invalid="ignore"):
        return np.abs(margins - 1.0) <= tol * np.maximum(1.0, np.abs(margins))


def locally_optimal_batch(X: Any, Z: Any, scores: Any, alpha: Any, tol: float = SUPPORT_TOL) -> LocalOptimalityBatch:
    """Definition 2 of A for B independent trials, solving the SVMs with ``svm.att_svm_batch``.

    Parameters
    ----------
    X : (B, n, T, d); Z : (B, n, d); scores : (B, n, T); alpha : (B, n).
    tol : relative tolerance for "margin equals 1" (support indices).

    Infeasible trials are not locally optimal (as in :func:`is_locally_optimal`).
    """
    X, Z, scores = _check_problem(X, Z, scores, batch_of="locally_optimal_batch")
    alpha = check_selection(alpha, X)
    tol = check_positive(tol, "tol")
    W, feasible = _att_svm_batch(X, Z, alpha)
    support = _on_margin(_margins(X, Z, alpha, W), tol) & feasible[:, None, None]
    top = np.take_along_axis(scores, alpha[..., None], axis=-1)
    beaten = np.any(support & (scores >= top), axis=(-2, -1))
    return LocalOptimalityBatch(feasible & ~beaten, feasible, support, W)


# --------------------------------------------------------------------------- classification of runs


def classify_run(X: Any, Z: Any, scores: Any, probs_final: Any) -> str:
    """Classify where a trained run converged: "global", "local" or "not_local".

    The rule (A does not spell it out; Figures 2 and 5): alpha_i = argmax_t of the final
    softmax of sequence i (first index on ties); "global" if alpha = opt; "local" if
    alpha != opt but alpha is locally optimal per Definition 2 (its Frobenius Att-SVM is
    feasible and the selected token outscores every support index); otherwise
    "not_local". Runs of the (K,Q) parameterization are classified by the same test.

    Parameters
    ----------
    X : (n, T, d); Z : (n, d); scores : (n, T) with a unique optimum per sequence;
    probs_final : (n, T) final attention probabilities of the run.

    Raises
    ------
    TieError : some sequence has no unique optimal token (the labels need ``opt``).
    """
    X, Z, scores = _check_problem(X, Z, scores)
    opt = optimal_tokens(scores)
    alpha = _selected_for(probs_final, X)
    if np.array_equal(alpha, opt):
        return "global"
    return "local" if is_locally_optimal(X, Z, scores, alpha).locally_optimal else "not_local"


def classify_runs_batch(X: Any, Z: Any, scores: Any, probs_final: Any, tol: float = SUPPORT_TOL) -> np.ndarray:
    """:func:`classify_run` for B trials; returns a (B,) array of labels from ``RUN_LABELS``.

    The non-global trials are tested together with :func:`locally_optimal_batch`.
    """
    X, Z, scores = _check_problem(X, Z, scores, batch_of="classify_runs_batch")
    opt = optimal_tokens(scores)
    alpha = _selected_for(probs_final, X)
    labels = np.full(X.shape[0], "global", dtype=object)
    other = np.flatnonzero(np.any(alpha != opt, axis=-1))
    if other.size:
        local = locally_optimal_batch(X[other], Z[other], scores[other], alpha[other], tol).locally_optimal
        labels[other] = np.where(local, "local", "not_local")
    return labels.astype(str)


def _selected_for(probs_final: Any, X: np.ndarray) -> np.ndarray:
    """Selected tokens of final probabilities that must match ``X.shape[:-1]``."""
    p = _check_probs(probs_final, "probs_final")
    if p.shape != X.shape[:-1]:
        raise ShapeError(f"probs_final has shape {p.shape} but X has shape {X.shape}; expected {X.shape[:-1]}")
    return np.argmax(p, axis=-1).astype(np.int64)


def convergence_fractions(labels: Any) -> dict[str, float]:
    """Fractions of run labels as plotted in Figures 2 and 5 of A.

    Returns ``{"global": ..., "local": ..., "not_local": ...}`` where, as in the figures,
    "local" *includes* the global runs (so ``local + not_local = 1``).
    """
    lab = np.asarray(labels).ravel()
    if lab.size == 0:
        raise ShapeError("labels is empty; need at least one classified run")
    unknown = sorted(set(lab.tolist()) - set(RUN_LABELS))
    if unknown:
        raise OptionError(f"unknown run label(s) {unknown}; expected one of {RUN_LABELS}")
    frac = {k: float(np.mean(lab == k)) for k in RUN_LABELS}
    return {"global": frac["global"], "local": frac["global"] + frac["local"], "not_local": frac["not_local"]}


# --------------------------------------------------------------------------- Assumptions B, C, D


@dataclass(frozen=True)
class AssumptionB1:
    """Assumption B.1 (all non-optimal tokens are support vectors of W^mm), two ways.

    Attributes
    ----------
    holds : Figure 5's test, mean margin over all non-optimal tokens < threshold.
    exact : every non-optimal margin equals 1 within the relative tolerance.
    mean_margin : the averaged margin.
    margins : (n, T) margins ``(x_{i opt_i} - x_it)^T W^mm z_i`` (NaN at opt_i).
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
    """Assumption B.1 of A: ``(x_{i opt_i} - x_it)^T W^mm z_i = 1`` for all t != opt_i.

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

    ``gamma_it = gamma_itau < gamma_{i opt_i}`` for all t, tau != opt_i and all i, with
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
    values : (n, T) ``(x_it - x_{i opt_i})^T grad L(0) z_i`` (NaN at opt_i).
    gradient : (d, d) ``grad L(0)``.
    """

    holds: bool
    values: np.ndarray
    gradient: np.ndarray

    def __bool__(self) -> bool:
        return self.holds


def assumption_c(X: Any, Z: Any, Y: Any, v: Any, loss: str = "logistic") -> AssumptionC:
    """Assumption C of A: ``(x_it - x_{i opt_i})^T grad L(0) z_i > 0`` for all t != opt_i, i.

    ``grad L(0)`` is the closed-form gradient (13) at W = 0 (uniform softmax), from
    :func:`tfsvm.gradients.grad_W`. Under C, Theorem 6 gives global directional
    convergence of GD started at W = 0.
    """
    from . import gradients

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
    holds : every feasible alpha != opt has some i with alpha_i != opt_i and opt_i in T_i.
    violating : the selections alpha (tuples) for which that fails.
    infeasible : the selections whose Att-SVM is infeasible (they define no direction
        and are not counted as violations).
    checked : number of selections alpha != opt examined (T^n - 1).
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
    """Assumption D of A (Section 5.2), by enumerating every selection alpha != opt.

    For each alpha, solve (Att-SVM) with opt replaced by alpha and require some sequence
    with ``alpha_i != opt_i`` and ``opt_i`` among its support indices ``T_i``. D implies
    that no alpha != opt is locally optimal. There are ``T**n - 1`` selections; the check
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


# --------------------------------------------------------------------------- cones (eq. 4, Definition 3)


def in_cone(W: Any, V: Any, mu: float, R: float) -> bool | np.ndarray:
    """Membership in the cone ``C_{mu,R}(V)`` of eq. (4) of A.

    ``W`` belongs when ``<W/||W||_F, V/||V||_F> >= 1 - mu`` and ``||W||_F >= R``.

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
        raise ShapeError("V is the zero matrix; the cone of eq. (4) needs a nonzero direction")
    w_norm = np.linalg.norm(W, axis=(-2, -1))
    with np.errstate(invalid="ignore", divide="ignore"):
        cos = np.einsum("...ij,ij->...", W, V) / (w_norm * v_norm)
    inside = (w_norm >= R) & (cos >= 1 - mu)
    return bool(inside) if inside.ndim == 0 else inside


def cone_eps_value(W: Any, X: Any, Z: Any, scores: Any, alpha: Any) -> float:
    """The quantity compared with eps in the separating cone of eq. (5) (Definition 3 of A).

    ``min_i max_{t in low_i} min_{tau in high_i} (x_it - x_itau)^T W z_i / ||W||_F`` with
    ``low_i = {t : gamma_it < gamma_{i alpha_i}}`` and
    ``high_i = {t != alpha_i : gamma_it >= gamma_{i alpha_i}}``.

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
        raise ShapeError("W is the zero matrix; eq. (5) normalises by ||W||_F")
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
