"""The SVMs of paper A: (Att-SVM), (Att-SVM*), batched Att-SVM, (Gen-SVM) with its
finite part and SVM-equivalence (Section 6), and the sequential / causal SVMs of
eq. (11) (Section 7). All of them build a feature set and call the one core
solver :func:`tfsvm.svm.max_margin`.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .._validation import (
    as_float_array,
    as_index_array,
    check_count,
    check_option,
    check_positive,
    check_queries,
    check_selection,
    check_tokens,
)
from ..errors import DTypeError, InfeasibleError, OptionError, ShapeError, SolverError
from ._core import (
    _ACCURACY,
    MaxMarginResult,
    _assemble,
    _ldp,
    _RankOne,
    _solve,
    max_margin,
    numerical_rank,
)

__all__ = [
    "SVMSolution",
    "att_svm",
    "solve_att_svm",
    "att_svm_batch",
    "att_features",
    "gen_svm",
    "finite_part",
    "svm_equivalence",
    "seq_svm",
    "causal_svm",
]

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
    """Factors of the rank-one Att-SVM rows ``F_it = a_it c_it^T``: ``a_it = x_{i alpha_i} - x_it``,
    ``c_it = z_i``, for t != alpha_i (sequence-major). Returns A, C (m, d) and rows (m, 2) = (i, t)."""
    n, T, d = X.shape
    sel = X[np.arange(n), alpha]  # (n, d)
    keep = np.ones((n, T), dtype=bool)
    keep[np.arange(n), alpha] = False
    ii, tt = np.nonzero(keep)
    return sel[ii] - X[ii, tt], Z[ii], np.stack([ii, tt], axis=1)


def att_features(X: Any, Z: Any, alpha: Any) -> tuple[np.ndarray, np.ndarray]:
    """Constraint matrices ``F_it = (x_{i alpha_i} - x_it) z_i^T`` of (Att-SVM), t != alpha_i.

    (Att-SVM) is the bias-free hard-margin SVM ``min ||W||_F s.t. <F_it, W> >= 1``.
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
    """Solution of (Att-SVM) (``norm="fro"``) or (Att-SVM*) (``norm="nuc"``).

    Attributes
    ----------
    W : (d, d) the max-margin matrix ``W^mm`` (or ``W*^mm``).
    norm : "fro" or "nuc".
    value : optimal objective ``||W||_F`` or ``||W||_*``.
    margins : (n, T) ``(x_{i alpha_i} - x_it)^T W z_i``; NaN at ``t = alpha_i``.
    support : list of n int arrays, the support indices ``T_i`` of Definition 2 (tokens
        whose margin equals 1 within relative tolerance ``support_tol``).
    duals : (n, T) multipliers ``lambda_it >= 0`` (0 at alpha_i). For "fro" they belong to
        ``min 1/2 ||W||_F^2``, so ``W = sum lambda_it F_it`` (KKT, A §2.1 / digest §4.1);
        for "nuc" to ``min ||W||_*`` (``sum lambda_it F_it`` is a subgradient at W).
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
        """``W / ||W||_F`` (the limit direction of GD / the regularization path)."""
        return self.W / np.linalg.norm(self.W)

    @property
    def rank(self) -> int:
        """Numerical rank of W (singular values > 1e-6 sigma_max)."""
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
    """Solve (Att-SVM) / (Att-SVM*) for any selection alpha, with certificates.

    minimise ``||W||`` subject to ``(x_{i alpha_i} - x_it)^T W z_i >= 1`` for all
    ``t != alpha_i``, i in [n]  (A §2.1; Definition 2 for general alpha).

    Parameters
    ----------
    X : (n, T, d) tokens. Z : (n, d) queries (self-attention: ``Z = X[:, 0]``).
    alpha : (n,) int selection (``opt`` for the global SVM).
    norm : "fro" -- W-parameterization, Frobenius norm (Att-SVM), solved exactly by the
        Lawson-Hanson active-set solver (``method="cvxpy"`` for a Clarabel cross-check);
        "nuc" -- (K,Q)-parameterization with m = d, nuclear norm (Att-SVM*), an SDP solved
        through its dual by cvxopt (``method="cvxpy"``: Clarabel on the primal, for cross-checks).
    rank : optional m. If the convex solution has numerical rank <= m it is returned
        (it also solves the rank-constrained problem); otherwise SolverError, since the
        rank-constrained problem is non-convex (Lemma 3 of A). Lemma 1 guarantees
        rank <= n, so any m >= n is safe.
    method : "auto" (active-set for fro, cvxpy for nuc), "active-set" or "cvxpy".
    support_tol : relative tolerance for the support indices ``T_i``.
    reduce : for ``norm="nuc"``, solve the SDP on the subspaces the constraints see (exact, see
        :func:`_nuclear_reduced`; ~20x faster at n = T = 5, d = 40). ``False`` solves the full
        d x d SDP (kept for cross-checks).

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


def _basis(M: np.ndarray, rtol: float = 1e-12) -> np.ndarray:
    """Orthonormal basis (columns) of the span of the rows of ``M``."""
    U, sv, _ = np.linalg.svd(M.T, full_matrices=False)
    tol = rtol * (sv[0] if sv.size else 0.0) * max(M.shape)
    return U[:, : int(np.sum(sv > tol))]


def _nuclear_reduced(A: np.ndarray, C: np.ndarray, d: int, method: str, support_tol: float, describe
                     ) -> MaxMarginResult:
    """(Att-SVM*) solved on the subspaces its constraints see -- exactly the same optimum.

    Every constraint reads ``a_it^T W c_i >= 1`` with ``a_it = x_{i alpha_i} - x_it`` (rows of A)
    and ``c_i = z_i`` (rows of C). Let U (d x p) and V (d x q) be orthonormal bases of
    span{a_it} and span{z_i}, P_U = U U^T and P_V = V V^T. For every W:

    * ``a^T (P_U W P_V) c = a^T W c`` for a in span U, c in span V, so the projected matrix
      P_U W P_V satisfies every constraint W does;
    * ``||P_U W P_V||_* <= ||P_U||_2 ||W||_* ||P_V||_2 <= ||W||_*``.

    Hence an optimum has the form W = U M V^T, and ``||U M V^T||_* = ||M||_*``: solving the
    p x q problem ``min ||M||_* s.t. (U^T a)^T M (V^T c) >= 1`` and mapping back gives the
    optimum of the d x d problem. The right factor is Lemma 1 of A (the row space of W*^mm lies
    in span{z_i}); the left factor is the same projection argument applied on the left. The
    constraint values and the multipliers are unchanged, and the subgradient
    ``G = sum lam_it a_it c_i^T = U G_r V^T`` has the same spectral norm, so the KKT certificate
    is re-checked on the original d x d problem (:func:`_assemble`). With p = n(T-1) and q = n
    at most (20 and 5 for n = T = 5) this replaces a 40 x 40 SDP by a 20 x 5 one.
    """
    U, V = _basis(A), _basis(C)
    if U.shape[1] == 0 or V.shape[1] == 0 or U.shape[1] * V.shape[1] >= d * d:
        return _solve(_RankOne(A, C), np.ones(A.shape[0]), norm="nuc", shape=(d, d), method=method,
                      support_tol=support_tol, describe=describe)
    red = _solve(_RankOne(A @ U, C @ V), np.ones(A.shape[0]), norm="nuc", shape=(U.shape[1], V.shape[1]),
                 method=method, support_tol=support_tol, describe=describe)
    W = U @ red.w.reshape(U.shape[1], V.shape[1]) @ V.T
    res = _assemble(_RankOne(A, C), np.ones(A.shape[0]), np.zeros((0, d * d)), np.zeros(0), W.reshape(-1),
                    red.lam, red.mu, "nuc", (d, d), support_tol, red.method)
    res.info["reduced_shape"] = (U.shape[1], V.shape[1])
    if not np.isfinite(res.kkt_residual) or res.kkt_residual > _ACCURACY:
        raise SolverError(f"the reduced nuclear SDP reached only KKT residual {res.kkt_residual:.2e} on the full problem")
    return res


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
    """The max-margin matrix of (Att-SVM) (``norm="fro"``) or (Att-SVM*) (``norm="nuc"``).

    ``W^mm = argmin ||W|| s.t. (x_{i alpha_i} - x_it)^T W z_i >= 1 for all t != alpha_i``.
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
        (``||W||_F``), ``duality_gap`` and ``failed`` (numerical failures, see below).

    Returns
    -------
    W : (B, d, d); rows of infeasible instances are filled with NaN (so they cannot
        silently enter rank or correlation statistics).
    feasible : (B,) bool.

    Unlike :func:`att_svm`, infeasible instances are *flagged, not raised*. Each
    instance is solved by the exact active-set solver; an instance that misses
    KKT residual 1e-6 is re-solved with cvxpy/Clarabel, and if that fails as well it is
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
    B, n, T, d = X.shape
    W = np.full((B, d, d), np.nan)
    feasible = np.zeros(B, dtype=bool)
    kkt = np.full(B, np.nan)
    value = np.full(B, np.nan)
    gap = np.full(B, np.nan)
    failed = np.zeros(B, dtype=bool)
    with _single_thread(active=B >= 8):  # the limiter costs ~0.4 ms per use
        for k in range(B):
            A, C, _ = _att_factors(X[k], Z[k], alpha[k])
            rows = _RankOne(A, C)
            ones = np.ones(rows.m)
            res = None
            try:
                sol = _ldp(rows, ones)
                if not sol.feasible:
                    continue
                res = _assemble(rows, ones, np.zeros((0, d * d)), np.zeros(0), sol.y, sol.lam,
                                np.zeros(0), "l2", (d, d), 1e-6, "active-set")
            except SolverError:
                pass
            if res is None or not res.kkt_residual <= _ACCURACY:
                try:
                    res = _solve(rows, ones, method="cvxpy", shape=(d, d))
                except InfeasibleError:
                    continue
                except SolverError:
                    failed[k] = True
                    warnings.warn(f"att_svm_batch: instance {k} could not be solved accurately; flagged", stacklevel=2)
                    continue
            W[k] = res.W
            feasible[k] = True
            kkt[k], value[k], gap[k] = res.kkt_residual, res.value, res.duality_gap
    if return_info:
        return W, feasible, {"kkt_residual": kkt, "value": value, "duality_gap": gap, "failed": failed}
    return W, feasible


# =========================================================================== Gen-SVM (Section 6)


def _check_mask(mask: Any, X: np.ndarray, name: str = "selected") -> np.ndarray:
    m = np.asarray(mask)
    if m.dtype.kind == "f" or m.dtype.kind == "c" or m.dtype == object:
        raise DTypeError(f"{name} must be a boolean mask (True = selected token), got dtype {m.dtype}")
    if m.dtype != bool:
        if not np.all(np.isin(m, (0, 1))):
            raise DTypeError(f"{name} must be a boolean mask; integer masks may only contain 0 and 1")
        m = m.astype(bool)
    if m.shape != X.shape[:-1]:
        raise ShapeError(f"{name} has shape {m.shape} but X has shape {X.shape}; expected {X.shape[:-1]}")
    empty = np.flatnonzero(~m.any(axis=-1))
    if empty.size:
        raise ShapeError(f"{name} selects no token in sequence(s) {empty.tolist()[:10]}; every sequence needs >= 1")
    return m


def _gen_rows(X: np.ndarray, Z: np.ndarray, selected: np.ndarray):
    n, T, d = X.shape
    F, rows, E, erows = [], [], [], []
    for i in range(n):
        sel = np.flatnonzero(selected[i])
        msk = np.flatnonzero(~selected[i])
        for t in sel:
            for tau in msk:
                F.append(np.outer(X[i, t] - X[i, tau], Z[i]))
                rows.append((i, t, tau))
        for t in sel[1:]:
            E.append(np.outer(X[i, t] - X[i, sel[0]], Z[i]))
            erows.append((i, t, sel[0]))
    F = np.array(F).reshape(-1, d, d)
    E = np.array(E).reshape(-1, d, d)
    return F, np.array(rows, dtype=int).reshape(-1, 3), E, np.array(erows, dtype=int).reshape(-1, 3)


def gen_svm(X: Any, Z: Any, selected: Any, *, full_output: bool = False) -> np.ndarray | MaxMarginResult:
    """(Gen-SVM) of A §6: the directional component of a multi-token composition.

    minimise ``||W||_F`` subject to, for every i,
    ``(x_it - x_itau)^T W z_i >= 1`` for t in O_i, tau in Obar_i, and
    ``(x_it - x_itau)^T W z_i = 0`` for t, tau in O_i.

    Parameters
    ----------
    X : (n, T, d); Z : (n, d); selected : (n, T) bool mask, True for the selected set O_i
        (softmax of the converged model > threshold), False for the masked set Obar_i.
        Every sequence needs at least one selected token; sequences with no masked token
        contribute only equalities. With |O_i| = 1 for all i this is (Att-SVM).
    full_output : return the :class:`MaxMarginResult` (``.W``, margins, multipliers,
        ``info["rows"]`` = (i, t, tau) of each inequality) instead of W.

    Returns W^mm (d, d) (not normalised; ``W^mm / ||W^mm||_F`` is the direction of eq. (6)).
    """
    X = check_tokens(X)
    Z = check_queries(Z, X)
    selected = _check_mask(selected, X)
    if selected.all():
        raise OptionError(
            "selected marks every token of every sequence: (Gen-SVM) then has no inequality "
            "constraint, its solution is W = 0 and defines no direction"
        )
    d = X.shape[-1]
    F, rows, E, _ = _gen_rows(X, Z, selected)
    describe = _describe_att(rows, X, Z, lambda j: int(rows[j, 1]), "Gen-SVM")
    try:
        res = max_margin(F, F_eq=E if E.shape[0] else None, shape=(d, d), describe_infeasible=describe)
    except InfeasibleError as exc:
        raise _attach_sequences(exc, rows[:, [0, 2]]) from None
    res.info["rows"] = rows
    return res if full_output else res.W


def finite_part(X: Any, Z: Any, probs: Any, selected: Any) -> np.ndarray:
    """The finite component ``W^fin`` of eq. (7), A §6.

    Minimum-Frobenius-norm solution of
    ``(x_it - x_itau)^T W z_i = log(s_it / s_itau)`` for all t, tau in O_i, i in [n]
    (least squares via ``numpy.linalg.lstsq``; as in the official code). Equivalent to
    the pairs (t, first selected token) for each i. Returns 0 if no sequence selects
    two tokens.

    Parameters
    ----------
    probs : (n, T) softmax probabilities ``s_i`` of the converged model (only ratios
        inside O_i matter; they must be > 0 there).
    selected : (n, T) bool mask of O_i.

    Raises InfeasibleError if eq. (7) has no exact solution (residual > 1e-8 relative),
    naming the sequences with unmatched log-ratios.
    """
    X = check_tokens(X)
    Z = check_queries(Z, X)
    selected = _check_mask(selected, X)
    P = as_float_array(probs, "probs", 2)
    if P.shape != X.shape[:-1]:
        raise ShapeError(f"probs has shape {P.shape}; expected {X.shape[:-1]} (one probability per token)")
    if np.any(P[selected] <= 0):
        bad = sorted({int(i) for i in np.nonzero(selected & (P <= 0))[0]})
        raise ShapeError(f"probs must be > 0 on the selected tokens (log-ratios of eq. (7)); sequences {bad}")
    n, T, d = X.shape
    _, _, E, erows = _gen_rows(X, Z, selected)
    if E.shape[0] == 0:
        return np.zeros((d, d))
    rhs = np.log(P[erows[:, 0], erows[:, 1]]) - np.log(P[erows[:, 0], erows[:, 2]])
    A = E.reshape(E.shape[0], -1)
    w, *_ = np.linalg.lstsq(A, rhs, rcond=None)
    res = A @ w - rhs
    scale = max(1.0, float(np.max(np.abs(rhs))))
    if np.max(np.abs(res)) > 1e-8 * scale:
        bad = sorted({int(erows[j, 0]) for j in np.flatnonzero(np.abs(res) > 1e-8 * scale)})
        err = InfeasibleError(
            f"eq. (7) has no exact solution: the log-probability ratios of sequence(s) {bad} cannot be "
            f"reproduced by any W (max residual {np.max(np.abs(res)):.2e}); d is too small for the "
            "selected sets"
        )
        err.sequences = bad
        raise err
    return w.reshape(d, d)


def svm_equivalence(W_fin: Any, W_mm: Any, W_gd: Any, *, return_scale: bool = False):
    """``W^SVMeq = W^fin + R * W^mm / ||W^mm||_F`` (A §6, eq. (6)).

    R is the least-squares scale ``argmin_R ||W^fin + R Wbar^mm - W_gd||_F``, i.e.
    ``R = <W_gd - W^fin, Wbar^mm>``, as in the official code (``base_nonlinear.py``);
    the poster instead describes maximising the correlation with W_gd.

    Parameters: three (d, d) matrices (W_mm need not be normalised; it must be nonzero).
    Returns W^SVMeq (d, d), and R too if ``return_scale``.
    """
    W_fin = as_float_array(W_fin, "W_fin", 2)
    W_mm = as_float_array(W_mm, "W_mm", 2)
    W_gd = as_float_array(W_gd, "W_gd", 2)
    if not (W_fin.shape == W_mm.shape == W_gd.shape) or W_fin.shape[0] != W_fin.shape[1]:
        raise ShapeError(
            f"W_fin {W_fin.shape}, W_mm {W_mm.shape} and W_gd {W_gd.shape} must be square matrices of one shape"
        )
    nm = float(np.linalg.norm(W_mm))
    if nm == 0:
        raise OptionError("W_mm is the zero matrix; its direction (and W^SVMeq) is undefined")
    Wbar = W_mm / nm
    R = float(np.sum((W_gd - W_fin) * Wbar))
    out = W_fin + R * Wbar
    return (out, R) if return_scale else out


# =========================================================================== sequential / causal (Section 7)


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

    minimise ``||W||`` s.t. ``(x_{i alpha_ik} - x_it)^T W z_ik >= 1`` for all t != alpha_ik,
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
    """Causal SVM of A §7: query k only attends to tokens t <= k (0-based).

    minimise ``||W||`` s.t. ``(x_{i alpha_ik} - x_it)^T W z_ik >= 1`` for t <= k,
    t != alpha_ik, k in [T], i in [n], with ``alpha[i, k] <= k`` (k = 0 has no constraint).

    Parameters
    ----------
    X : (n, T, d); Z : (n, T, d) one query per position (self-attention: ``Z = X``);
    alpha : (n, T) ints with ``0 <= alpha[i, k] <= k``; norm : "fro" or "nuc".
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
        raise ShapeError(
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
    bad = np.argwhere((a < 0) | (a >= T))
    if bad.size:
        raise ShapeError(f"{name} has entries out of range [0, {T}) at (sequence, query) {bad[:5].tolist()}")
    return a.astype(np.int64)
