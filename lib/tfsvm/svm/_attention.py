"""The attention SVMs of paper A: (Att-SVM), (Att-SVM⋆) and the batched Att-SVM (A §2.1,
Definition 2, §5.3). They build the rank-one constraint rows and call the one core solver
(:func:`tfsvm.svm._core._solve`); the nuclear norm goes through :mod:`._nuclear`.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .._validation import (
    check_count,
    check_option,
    check_positive,
    check_queries,
    check_selection,
    check_tokens,
)
from ..errors import InfeasibleError, ShapeError, SolverError
from ._certificates import MaxMarginResult, numerical_rank
from ._core import _solve
from ._nuclear import _nuclear_reduced
from ._rows import _RankOne

__all__ = ["SVMSolution", "att_svm", "solve_att_svm", "att_svm_batch", "att_features"]

_NORMS = ("fro", "nuc")


class _single_thread:
    """Limit BLAS to one thread while solving many tiny problems (threading only adds
    overhead at these sizes and oversubscribes shared machines). No-op without threadpoolctl."""

    def __init__(self, active: bool = True):
        self.active = active
        self._ctx = None

    def __enter__(self):
        if not self.active:
            return self
        try:
            from threadpoolctl import threadpool_limits

            self._ctx = threadpool_limits(1)
        except Exception:  # pragma: no cover - optional dependency
            self._ctx = None
        return self

    def __exit__(self, *exc):
        if self._ctx is not None:
            self._ctx.unregister()
        return False


_METHODS = ("auto", "active-set", "cvxpy")


# =========================================================================== helpers


def _att_factors(X: np.ndarray, Z: np.ndarray, alpha: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Factors of the rank-one Att-SVM rows ``F_it = a_it c_itᵀ``: ``a_it = x_{iα_i} - x_it``,
    ``c_it = z_i``, for t ≠ α_i (sequence-major). Returns A, C (m, d) and rows (m, 2) = (i, t)."""
    n, T, d = X.shape
    sel = X[np.arange(n), alpha]  # (n, d)
    keep = np.ones((n, T), dtype=bool)
    keep[np.arange(n), alpha] = False
    ii, tt = np.nonzero(keep)
    return sel[ii] - X[ii, tt], Z[ii], np.stack([ii, tt], axis=1)


def att_features(X: Any, Z: Any, alpha: Any) -> tuple[np.ndarray, np.ndarray]:
    """Constraint matrices ``F_it = (x_{iα_i} - x_it) z_iᵀ`` of (Att-SVM), t ≠ α_i.

    (Att-SVM) is the bias-free hard-margin SVM ``min ‖W‖_F s.t. <F_it, W> ≥ 1``.
    Returns ``F`` (n(T-1), d, d) and ``rows`` (n(T-1), 2) = the (i, t) of each row,
    in sequence-major order.
    """
    X, Z, alpha = _check_att(X, Z, alpha)
    A, C, rows = _att_factors(X, Z, alpha)
    return A[:, :, None] * C[:, None, :], rows


def _rank_check(W: np.ndarray, rank: int | None, norm: str) -> None:
    if rank is None:
        return
    r = numerical_rank(W) if np.any(W) else 0
    if r > rank:
        raise SolverError(
            f"the convex (m = d) {norm}-norm solution found has numerical rank {r} > rank = {rank}. "
            "With rank(W) <= m < rank of the convex solution the problem (Att-SVM*) is non-convex "
            "(A, Section 2.1 / Lemma 3: the rank constraint is harmless only when the convex "
            "solution set contains a rank-<=m point, e.g. whenever m >= n by Lemma 1); tfsvm does "
            "not solve the non-convex rank-constrained problem. Use rank >= n or rank=None."
        )


def _describe_att(rows_it: np.ndarray, X: np.ndarray, Z: np.ndarray, sel_of: Any, what: str,
                  query_of: Any = None) -> Any:
    """Build the InfeasibleError message: which sequences cannot be separated.

    ``rows_it[j, 0]`` is the sequence and ``rows_it[j, -1]`` the competing token of row j;
    ``sel_of(j)`` its selected token and ``query_of(j)`` its query index (seq/causal SVMs).
    """

    def describe(rows: np.ndarray) -> str:
        seqs = sorted({int(i) for i in rows_it[rows, 0]})
        parts = []
        for j in rows:
            i, t = int(rows_it[j, 0]), int(rows_it[j, -1])
            a = sel_of(j)
            note = ""
            if np.allclose(X[i, a], X[i, t], rtol=0, atol=1e-12):
                note = " (identical to the selected token)"
            where = f"sequence {i}" if query_of is None else f"sequence {i}, query {query_of(j)}"
            parts.append(f"({where}: token {t} vs selected {a}{note})")
        msg = (
            f"{what} is infeasible: the selected tokens of sequence(s) {seqs} cannot be separated "
            f"from their other tokens. An irreducible conflicting set of margin constraints: "
            + ", ".join(parts)
        )
        zero_q = [i for i in seqs if Z.ndim == 2 and not np.any(Z[i])]
        if zero_q:
            msg += f"; the query z_i of sequence(s) {zero_q} is zero"
        return msg

    return describe


def _attach_sequences(exc: InfeasibleError, rows_it: np.ndarray) -> InfeasibleError:
    rows = getattr(exc, "rows", np.array([], dtype=int))
    exc.sequences = sorted({int(i) for i in rows_it[rows, 0]}) if rows is not None and len(rows) else []
    exc.constraints = [tuple(int(v) for v in rows_it[j]) for j in rows] if rows is not None else []
    return exc


# =========================================================================== Att-SVM


@dataclass
class SVMSolution:
    """Solution of (Att-SVM) (``norm="fro"``) or (Att-SVM⋆) (``norm="nuc"``).

    Attributes
    ----------
    W : (d, d) the max-margin matrix ``W^mm`` (or ``W⋆^mm``).
    norm : "fro" or "nuc".
    value : optimal objective ``‖W‖_F`` or ``‖W‖_*``.
    margins : (n, T) ``(x_{iα_i} - x_it)ᵀ W z_i``; NaN at ``t = α_i``.
    support : list of n int arrays, the support indices ``T_i`` of Definition 2 (tokens
        whose margin equals 1 within relative tolerance ``support_tol``).
    duals : (n, T) multipliers ``λ_it ≥ 0`` (0 at α_i). For "fro" they belong to
        ``min 1/2 ‖W‖_F^2``, so ``W = Σ λ_it F_it``
        (the KKT conditions of the hard-margin SVM (Att-SVM), A §2.1);
        for "nuc" to ``min ‖W‖_*`` (``Σ λ_it F_it`` is a subgradient at W).
    kkt_residual : max of relative stationarity, primal infeasibility, complementary
        slackness and dual infeasibility.
    duality_gap : relative primal-dual gap.
    alpha : (n,) the selection.
    method : the solver that produced W: "active-set" (exact Lawson-Hanson), "cvxopt" (nuclear
        norm, dual SDP) or "cvxpy" (Clarabel).
    """

    W: np.ndarray
    norm: str
    value: float
    margins: np.ndarray
    support: list
    duals: np.ndarray
    kkt_residual: float
    duality_gap: float
    alpha: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=int))
    method: str = "active-set"

    @property
    def direction(self) -> np.ndarray:
        """``W / ‖W‖_F`` (the limit direction of GD / the regularization path)."""
        return self.W / np.linalg.norm(self.W)

    @property
    def rank(self) -> int:
        """Numerical rank of W (singular values > 1e-6 σ_max)."""
        return numerical_rank(self.W)


def _check_att(X: Any, Z: Any, alpha: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    X = check_tokens(X)
    Z = check_queries(Z, X)
    alpha = check_selection(alpha, X)
    return X, Z, alpha


def solve_att_svm(
    X: Any,
    Z: Any,
    alpha: Any,
    norm: str = "fro",
    rank: int | None = None,
    *,
    method: str = "auto",
    support_tol: float = 1e-6,
    reduce: bool = True,
) -> SVMSolution:
    """Solve (Att-SVM) / (Att-SVM⋆) for any selection alpha, with certificates.

    minimise ``‖W‖`` subject to ``(x_{iα_i} - x_it)ᵀ W z_i ≥ 1`` for all
    ``t ≠ α_i``, i in [n]  (A §2.1; Definition 2 for general alpha).

    Parameters
    ----------
    X : (n, T, d) tokens. Z : (n, d) queries (self-attention: ``Z = X[:, 0]``).
    alpha : (n,) int selection (``opt`` for the global SVM).
    norm : "fro" -- W-parameterization, Frobenius norm (Att-SVM), solved exactly by the
        Lawson-Hanson active-set solver (``method="cvxpy"`` for a Clarabel cross-check);
        "nuc" -- (K,Q)-parameterization with m = d, nuclear norm (Att-SVM⋆), an SDP solved
        through its dual by cvxopt (``method="cvxpy"``: Clarabel on the primal, for cross-checks).
    rank : optional m. If the convex solution has numerical rank ≤ m it is returned
        (it also solves the rank-constrained problem); otherwise SolverError, since the
        rank-constrained problem is non-convex (Lemma 3 of A). Lemma 1 guarantees
        rank ≤ n, so any m ≥ n is safe.
    method : "auto" (active-set for fro, cvxpy for nuc), "active-set" or "cvxpy".
    support_tol : relative tolerance for the support indices ``T_i``.
    reduce : for ``norm="nuc"``, solve the SDP on the subspaces the constraints see (exact, see
        :func:`_nuclear_reduced`; much faster, see ``bench/README.md``). ``False`` solves the full
        d × d SDP (kept for cross-checks).

    Raises
    ------
    InfeasibleError : no W separates alpha; the message names the sequences of an
        irreducible infeasible subsystem (exception attributes ``sequences`` and
        ``constraints`` = (i, t) pairs).
    ShapeError, NonFiniteError, DTypeError, OptionError : bad input.
    SolverError : numerical failure, or rank-constrained case (see ``rank``).
    """
    X, Z, alpha = _check_att(X, Z, alpha)
    norm = check_option(norm, "norm", _NORMS)
    method = check_option(method, "method", _METHODS)
    support_tol = check_positive(support_tol, "support_tol")
    if rank is not None:
        rank = check_count(rank, "rank", 1)
    n, T, d = X.shape
    A, C, rows_it = _att_factors(X, Z, alpha)
    describe = _describe_att(rows_it, X, Z, lambda j: int(alpha[rows_it[j, 0]]), "Att-SVM" if norm == "fro" else "Att-SVM*")
    try:
        if norm == "nuc" and reduce:
            res = _nuclear_reduced(A, C, d, method, support_tol, describe)
        else:
            res = _solve(
                _RankOne(A, C), np.ones(A.shape[0]), norm="l2" if norm == "fro" else "nuc", shape=(d, d),
                method=method, support_tol=support_tol, describe=describe,
            )
    except InfeasibleError as exc:
        raise _attach_sequences(exc, rows_it) from None
    sol = _att_solution(res, rows_it, n, T, alpha, norm, support_tol)
    _rank_check(sol.W, rank, norm)
    return sol



def _att_solution(res: MaxMarginResult, rows_it, n, T, alpha, norm, support_tol) -> SVMSolution:
    margins = np.full((n, T), np.nan)
    margins[rows_it[:, 0], rows_it[:, 1]] = res.margins
    duals = np.zeros((n, T))
    duals[rows_it[:, 0], rows_it[:, 1]] = res.lam
    act = np.zeros((n, T), dtype=bool)
    act[rows_it[:, 0], rows_it[:, 1]] = res.active
    support = [np.flatnonzero(act[i]) for i in range(n)]
    return SVMSolution(
        W=res.W.copy(), norm=norm, value=res.value, margins=margins, support=support, duals=duals,
        kkt_residual=res.kkt_residual, duality_gap=res.duality_gap, alpha=alpha.copy(), method=res.method,
    )


def att_svm(X: Any, Z: Any, alpha: Any, norm: str = "fro", rank: int | None = None) -> np.ndarray:
    """The max-margin matrix of (Att-SVM) (``norm="fro"``) or (Att-SVM⋆) (``norm="nuc"``).

    ``W^mm = argmin ‖W‖ s.t. (x_{iα_i} - x_it)ᵀ W z_i ≥ 1 for all t ≠ α_i``.
    Returns the (d, d) matrix; equals ``solve_att_svm(X, Z, alpha, norm, rank).W`` (see
    there for the options, the certificates and the errors). Never returns None:
    infeasible problems raise :class:`~tfsvm.errors.InfeasibleError` naming the sequences.
    """
    return solve_att_svm(X, Z, alpha, norm=norm, rank=rank).W


def att_svm_batch(
    X: Any, Z: Any, alpha: Any, *, return_info: bool = False
) -> tuple[np.ndarray, np.ndarray] | tuple[np.ndarray, np.ndarray, dict]:
    """Frobenius (Att-SVM) for B independent instances (sweeps over hundreds of trials).

    Parameters
    ----------
    X : (B, n, T, d); Z : (B, n, d); alpha : (B, n) (or (n,), the same selection for all).
    return_info : also return a dict with per-instance ``kkt_residual``, ``value``
        (``‖W‖_F``), ``duality_gap`` and ``failed`` (numerical failures, see below).

    Returns
    -------
    W : (B, d, d); rows of infeasible instances are filled with NaN (so they cannot
        silently enter rank or correlation statistics).
    feasible : (B,) bool.

    Unlike :func:`att_svm`, infeasible instances are *flagged, not raised*. Each
    instance goes through the core solver's default chain (exact active-set solver,
    Clarabel if that misses KKT residual 1e-6); an instance neither solves accurately is
    reported with ``feasible=False`` and ``info["failed"]=True`` (with a warning).
    """
    X = check_tokens(X, batched=True)
    if X.ndim != 4:
        raise ShapeError(f"X has shape {X.shape}; att_svm_batch expects (B, n, T, d) (use att_svm for one instance)")
    Z = check_queries(Z, X)
    a = np.asarray(alpha)
    if a.ndim == 1 and a.shape == X.shape[1:2]:
        a = np.broadcast_to(a, X.shape[:2])
    alpha = check_selection(a, X)
    W, feasible, info = _att_svm_batch_core(X, Z, alpha)
    return (W, feasible, info) if return_info else (W, feasible)


def _att_svm_batch_core(X: np.ndarray, Z: np.ndarray, alpha: np.ndarray) -> tuple[np.ndarray, np.ndarray, dict]:
    """:func:`att_svm_batch` on already-checked float64 arrays (for library callers that checked once)."""
    B, n, T, d = X.shape
    W = np.full((B, d, d), np.nan)
    feasible = np.zeros(B, dtype=bool)
    kkt = np.full(B, np.nan)
    value = np.full(B, np.nan)
    gap = np.full(B, np.nan)
    failed = np.zeros(B, dtype=bool)
    with _single_thread(active=B >= 8):  # the limiter has a fixed cost per use (bench/README.md)
        for k in range(B):
            A, C, _ = _att_factors(X[k], Z[k], alpha[k])
            try:
                res = _solve(_RankOne(A, C), np.ones(A.shape[0]), shape=(d, d))
            except InfeasibleError:
                continue
            except SolverError:
                failed[k] = True
                warnings.warn(f"att_svm_batch: instance {k} could not be solved accurately; flagged", stacklevel=3)
                continue
            W[k] = res.W
            feasible[k] = True
            kkt[k], value[k], gap[k] = res.kkt_residual, res.value, res.duality_gap
    return W, feasible, {"kkt_residual": kkt, "value": value, "duality_gap": gap, "failed": failed}
