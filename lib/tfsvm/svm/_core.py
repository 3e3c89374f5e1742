"""The one core solver behind every SVM of the papers.

Every hard-margin problem of A and B is an instance of

    minimise ‖w‖   subject to   F w ≥ b   (inequality rows f_j)
                                  E w  = c   (optional equality rows e_k)

over a vector w (``w = vec(W)`` for the matrix problems, row-major). The
Frobenius / Euclidean case is solved exactly by the active-set QP of :mod:`._qp`; the
nuclear-norm case of (Att-SVM⋆) is an SDP (:mod:`._sdp`). Every solution carries its KKT
certificate (:mod:`._certificates`).
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from .._validation import as_float_array, check_option, check_positive
from ..errors import InfeasibleError, OptionError, ShapeError, SolverError
from ._certificates import _ACCURACY, MaxMarginResult, _assemble, _verified, numerical_rank
from ._qp import _farkas_certificate, _ldp
from ._rows import _Dense
from ._sdp import CLARABEL_OPTIONS, CLARABEL_SDP_OPTIONS, _cvxpy_solve, _nuclear_dual_solve

__all__ = ["MaxMarginResult", "max_margin", "numerical_rank", "CLARABEL_OPTIONS", "CLARABEL_SDP_OPTIONS"]


# =========================================================================== public core


def _names(names: Any, m: int) -> list[str]:
    if names is None:
        return [f"row {j}" for j in range(m)]
    return list(names)


def max_margin(
    F: Any,
    b: Any = None,
    F_eq: Any = None,
    b_eq: Any = None,
    *,
    norm: str = "l2",
    shape: tuple[int, int] | None = None,
    method: str = "auto",
    support_tol: float = 1e-6,
    row_names: list[str] | None = None,
    describe_infeasible: Callable[[np.ndarray], str] | None = None,
) -> MaxMarginResult:
    """Solve the generic hard-margin problem ``min ‖w‖ s.t. F w ≥ b, F_eq w = b_eq``.

    This is the single core behind (Att-SVM), (Att-SVM⋆), (Gen-SVM), the sequential
    and causal SVMs of eq. (11), and B's p-SVM / v-SVM.

    Parameters
    ----------
    F : (m, D) inequality rows (for matrix problems ``F[j] = vec(F_j)``, row-major).
        A (m, d, d) array is accepted and flattened (then ``shape`` defaults to (d, d)).
    b : (m,) right-hand sides (default all 1 -- the unit margin).
    F_eq, b_eq : optional (p, D) equality rows and (p,) right-hand sides (default 0).
    norm : "l2" (Euclidean; equals Frobenius for matrices) or "nuc" (nuclear norm of
        ``w.reshape(shape)``; needs ``shape``; an SDP, see ``method``).
    method : "auto", "active-set" or "cvxpy". For l2, "auto" = "active-set" (exact
        Lawson-Hanson solver), re-solved by Clarabel if it misses KKT residual 1e-6; for "nuc", "auto" solves the dual SDP with cvxopt and falls back to
        Clarabel's primal if the KKT check fails. "cvxpy" = Clarabel's interior point on the
        primal, for cross-checking.
    support_tol : relative tolerance for calling a constraint tight.
    row_names : optional description of each inequality row, used in the
        InfeasibleError message.
    describe_infeasible : optional callable mapping the rows of an irreducible
        infeasible subsystem to a message (used by the wrappers to name sequences).

    Returns
    -------
    MaxMarginResult

    Raises
    ------
    InfeasibleError
        No w satisfies the constraints; the message names the rows of an irreducible
        infeasible subsystem (from a Farkas certificate), and the exception carries
        ``rows`` (their indices) and ``certificate`` (the multipliers).
    SolverError
        The solver did not reach KKT residual 1e-6.
    """
    F = as_float_array(F, "F", (2, 3))
    if F.ndim == 3:
        if shape is None:
            shape = (F.shape[1], F.shape[2])
        F = F.reshape(F.shape[0], -1)
    m, D = F.shape
    b = np.ones(m) if b is None else as_float_array(b, "b", 1)
    if b.shape != (m,):
        raise ShapeError(f"b has shape {b.shape}; expected ({m},), one entry per row of F")
    if F_eq is None or np.size(F_eq) == 0:
        F_eq = np.zeros((0, D))
    else:
        F_eq = as_float_array(F_eq, "F_eq", (2, 3))
        F_eq = F_eq.reshape(F_eq.shape[0], -1)
        if F_eq.shape[1] != D:
            raise ShapeError(f"F_eq rows have length {F_eq.shape[1]} but F rows have length {D}")
    p = F_eq.shape[0]
    b_eq = np.zeros(p) if b_eq is None else as_float_array(b_eq, "b_eq", 1)
    if b_eq.shape != (p,):
        raise ShapeError(f"b_eq has shape {b_eq.shape}; expected ({p},)")
    norm = check_option(norm, "norm", ("l2", "fro", "nuc"))
    method = check_option(method, "method", ("auto", "active-set", "cvxpy"))
    support_tol = check_positive(support_tol, "support_tol")
    if describe_infeasible is None:
        names = _names(row_names, m)

        def describe_infeasible(rows: np.ndarray) -> str:
            return "the constraints " + ", ".join(names[j] for j in rows) + " cannot hold together"

    return _solve(_Dense(F), b, F_eq, b_eq, norm=norm, shape=shape, method=method,
                  support_tol=support_tol, describe=describe_infeasible)


def _solve(
    rows: Any,
    b: np.ndarray,
    F_eq: np.ndarray | None = None,
    b_eq: np.ndarray | None = None,
    *,
    norm: str = "l2",
    shape: tuple[int, int] | None = None,
    method: str = "auto",
    support_tol: float = 1e-6,
    describe: Callable[[np.ndarray], str] | None = None,
) -> MaxMarginResult:
    """Validated core of :func:`max_margin` (``rows``: _Dense or _RankOne)."""
    m, D = rows.m, rows.D
    if F_eq is None:
        F_eq = np.zeros((0, D))
    p = F_eq.shape[0]
    if b_eq is None:
        b_eq = np.zeros(p)
    norm = "l2" if norm == "fro" else norm
    if norm == "nuc":
        if method == "active-set":
            raise OptionError("method 'active-set' solves Euclidean/Frobenius problems only; use 'cvxpy' for norm 'nuc'")
        if shape is None or shape[0] * shape[1] != D:
            raise ShapeError(f"norm 'nuc' needs shape=(d1, d2) with d1*d2 = {D}")

    def infeasible(idx: np.ndarray, cert: np.ndarray, extra: str = "") -> InfeasibleError:
        msg = describe(idx) if describe is not None else f"constraints {idx.tolist()} cannot hold together"
        err = InfeasibleError(msg + extra)
        err.rows = idx
        err.certificate = cert
        return err

    def certificate_error(cert: np.ndarray) -> InfeasibleError:
        idx = np.flatnonzero(cert > 1e-9 * np.max(cert))
        extra = " (together with the equality constraints)" if p else ""
        extra += (
            f". Farkas certificate: multipliers >= 0 on these {idx.size} constraint(s) combine their "
            "left-hand sides to zero but their right-hand sides to a positive number"
        )
        return infeasible(idx, cert[idx], extra)

    # ---- equality elimination: w = w0 + y, y in null(F_eq)
    if p:
        F = rows.dense()
        w0, Pn, eq_rank = _eliminate(F_eq, b_eq)
        red = _Dense(F @ Pn)
        h = b - F @ w0
    else:
        w0, eq_rank, red, h = np.zeros(D), 0, rows, b

    res = None
    if method in ("auto", "active-set") and norm == "l2":
        try:
            sol = _ldp(red, h)
        except SolverError:
            if method == "active-set":
                raise
            sol = None  # on the edge of infeasibility: Clarabel below decides
        if sol is not None and not sol.feasible:
            raise certificate_error(sol.certificate)
        if sol is not None:
            w = w0 + sol.y
            lam = sol.lam
            mu = np.linalg.lstsq(F_eq.T, w - rows.adjoint(lam), rcond=None)[0] if p else np.zeros(0)
            res = _assemble(rows, b, F_eq, b_eq, w, lam, mu, norm, shape, support_tol, "active-set")
            if method == "auto" and not _verified(res):
                res = None  # the exact solver fell short (ill-conditioned support): Clarabel below
    if res is None:
        if norm == "nuc" and method == "auto":  # the dual SDP first; a verified solution proves feasibility
            sol = _nuclear_dual_solve(rows.dense(), b, F_eq, b_eq, shape)
            if sol is not None:
                res = _assemble(rows, b, F_eq, b_eq, *sol, norm, shape, support_tol, "cvxopt")
                if not _verified(res):
                    res = None
        if res is None:
            if np.any(h > 0) and m:  # feasibility (same constraint set for every norm), then Clarabel
                cert = _farkas_certificate(red.dense(), h)
                if cert is not None:
                    raise certificate_error(cert)
            w, lam, mu = _cvxpy_solve(rows.dense(), b, F_eq, b_eq, norm, shape)
            res = _assemble(rows, b, F_eq, b_eq, w, lam, mu, norm, shape, support_tol, "cvxpy")
    res.info["equality_rank"] = eq_rank
    if not _verified(res):
        raise SolverError(
            f"the {res.method} solver reached only KKT residual {res.kkt_residual:.2e} (> {_ACCURACY:g}); "
            "the problem is badly conditioned (nearly infeasible or nearly duplicate constraints)"
        )
    return res


def _eliminate(F_eq: np.ndarray, b_eq: np.ndarray) -> tuple[np.ndarray, np.ndarray | None, int]:
    """Least-norm ``w0`` of ``F_eq w = b_eq`` and the projector onto ``null(F_eq)``."""
    D = F_eq.shape[1]
    if F_eq.shape[0] == 0:
        return np.zeros(D), None, 0
    U, sv, Vt = np.linalg.svd(F_eq, full_matrices=False)
    tol = max(F_eq.shape) * np.finfo(float).eps * (sv[0] if sv.size else 0.0)
    r = int(np.sum(sv > max(tol, 1e-12 * (sv[0] if sv.size else 0.0))))
    Vr = Vt[:r]
    w0 = Vr.T @ ((U[:, :r].T @ b_eq) / sv[:r]) if r else np.zeros(D)
    resid = float(np.max(np.abs(F_eq @ w0 - b_eq), initial=0.0))
    if resid > 1e-9 * max(1.0, float(np.max(np.abs(b_eq), initial=0.0))):
        err = InfeasibleError(
            f"the equality constraints are inconsistent (least-squares residual {resid:.2e})"
        )
        err.rows = np.array([], dtype=int)
        err.certificate = None
        raise err
    Pn = np.eye(D) - Vr.T @ Vr
    return w0, Pn, r
