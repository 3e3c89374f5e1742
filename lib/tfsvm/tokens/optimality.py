"""Definition 2 of A (after B's Definition 2): support indices and locally-optimal selections,
one at a time or batched over trials, and the Global / Local / Not-local labels of trained runs
(Figures 2 and 5)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .. import attention, svm
from ..svm._attention import _att_svm_batch_core
from .._validation import check_option, check_positive, check_queries, check_selection, check_tokens
from ..errors import InfeasibleError, OptionError, ShapeError
from .scores import _check_probs, _check_scores, optimal_tokens

#: Labels of :func:`classify_run`, in the order used by :func:`classify_runs_batch`.
RUN_LABELS = ("global", "local", "not_local")

#: Relative tolerance deciding that an SVM margin equals 1 (a support index).
SUPPORT_TOL = 1e-6


def _check_problem(X: Any, Z: Any, scores: Any, batch_of: str | None = None) -> tuple[np.ndarray, ...]:
    """Check tokens, queries and matching scores; ``batch_of`` names a function needing (B, n, T, d)."""
    X = check_tokens(X, batched=batch_of is not None)
    if batch_of is not None and X.ndim != 4:
        raise ShapeError(f"X has shape {X.shape}; {batch_of} expects (B, n, T, d)")
    Z = check_queries(Z, X)
    return X, Z, _check_scores(scores, X=X)



def support_indices(solution: svm.SVMSolution) -> list[np.ndarray]:
    """Support indices ``T_i`` of an Att-SVM solution (Definition 2 of A).

    ``T_i`` holds the tokens t ≠ α_i whose margin ``(x_{iα_i} - x_it)ᵀ W z_i``
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
    violations : pairs (i, t) with t in T_i and ``γ_it ≥ γ_{i α_i}``.
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
    and require ``γ_{i α_i} > γ_it`` for every i and t in ``T_i``.
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
    support = np.zeros(scores.shape, dtype=bool)
    for i, T_i in enumerate(sol.support):
        support[i, T_i] = True
    violations = [(int(i), int(t)) for i, t in np.argwhere(_violations(support, scores, alpha))]
    return LocalOptimality(not violations, alpha, sol, violations, True)


def _violations(support: np.ndarray, scores: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """Definition 2's test, the one place it is written: the support indices t ∈ T_i that score at
    least as high as the selected token, ``γ_it ≥ γ_{iα_i}`` (mask of shape ``scores``, any leading
    trial axes). α is locally optimal iff its Att-SVM is feasible and this mask is empty."""
    top = np.take_along_axis(scores, alpha[..., None], axis=-1)
    return support & (scores >= top)


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
    """Margins ``(x_{iα_i} - x_it)ᵀ W z_i`` (any leading trial axes), NaN at α_i."""
    logits = attention.attention_logits(X, W, Z)
    m = np.take_along_axis(logits, alpha[..., None], axis=-1) - logits
    np.put_along_axis(m, alpha[..., None], np.nan, axis=-1)
    return m


def _att_svm_batch(X: np.ndarray, Z: np.ndarray, alpha: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``svm.att_svm_batch`` on checked arrays, with the NaN matrices of infeasible trials replaced by zeros."""
    W, feasible, _ = _att_svm_batch_core(X, Z, alpha)
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
    return _locally_optimal_core(X, Z, scores, check_selection(alpha, X), check_positive(tol, "tol"))


def _locally_optimal_core(X: np.ndarray, Z: np.ndarray, scores: np.ndarray, alpha: np.ndarray,
                          tol: float) -> LocalOptimalityBatch:
    """:func:`locally_optimal_batch` on checked arrays (the input is validated once, by the public caller)."""
    W, feasible = _att_svm_batch(X, Z, alpha)
    support = _on_margin(_margins(X, Z, alpha, W), tol) & feasible[:, None, None]
    beaten = np.any(_violations(support, scores, alpha), axis=(-2, -1))
    return LocalOptimalityBatch(feasible & ~beaten, feasible, support, W)


# --------------------------------------------------------------------------- classification of runs


def classify_run(X: Any, Z: Any, scores: Any, probs_final: Any) -> str:
    """Classify where a trained run converged: "global", "local" or "not_local".

    The rule (A does not spell it out; Figures 2 and 5): α_i = argmax_t of the final
    softmax of sequence i (first index on ties); "global" if alpha = opt; "local" if
    alpha ≠ opt but alpha is locally optimal per Definition 2 (its Frobenius Att-SVM is
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
        local = _locally_optimal_core(X[other], Z[other], scores[other], alpha[other],
                                      check_positive(tol, "tol")).locally_optimal
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
