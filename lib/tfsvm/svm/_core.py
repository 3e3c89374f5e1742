"""The one core solver behind every SVM of the papers.

Every hard-margin problem of A and B is an instance of

    minimise ||w||   subject to   F w >= b   (inequality rows f_j)
                                  E w  = c   (optional equality rows e_k)

over a vector w (``w = vec(W)`` for the matrix problems, row-major). The
Frobenius / Euclidean case is solved here exactly; the nuclear-norm case of
(Att-SVM*) goes through cvxpy + Clarabel.

Exact Euclidean solver (``method="active-set"``)
------------------------------------------------
1. Equalities are eliminated: with ``w0`` the least-norm solution of ``E w = c``
   and ``P`` the projector onto ``null(E)``, ``w = w0 + y`` with ``y`` in
   ``null(E)``, ``||w||^2 = ||w0||^2 + ||y||^2`` and the inequalities become
   ``(F P) y >= b - F w0``.
2. The remaining *least-distance problem* ``min ||y|| s.t. G y >= h`` is solved
   by Lawson & Hanson's reduction (Solving Least Squares Problems, 1974, ch. 23)
   to the non-negative least-squares problem
   ``min_{u >= 0} || [G^T; h^T] u - e_{D+1} ||``:
   if the residual ``r`` vanishes the constraints are inconsistent (and ``u`` is a
   Farkas certificate), otherwise ``y = -r[:D] / r[D]``. The NNLS is solved by
   Lawson-Hanson's active-set algorithm (scipy's compiled implementation) applied to
   the explicit matrix when it is short (D + 1 <= m), else to a square root of its
   Gram matrix ``G G^T + h h^T`` (Cholesky; truncated eigendecomposition if singular),
   whose size is the number of constraints. For (Att-SVM) the rows are rank-one
   matrices ``a c^T`` and the Gram matrix ``(A A^T) * (C C^T)`` is formed without ever
   building the d^2-dimensional features.
3. Refinement: the NNLS passive set is the support set. On it the KKT system
   ``G_S G_S^T lambda_S = h_S`` is solved again (Cholesky + iterative refinement
   against the explicit rows), the remaining constraints are checked, and the working
   set is corrected (add the most violated / drop the most negative multiplier) until
   the KKT conditions hold to ~1e-13. If the support is so ill-conditioned that this
   fails (||W|| ~ 1e6 and beyond), the working-set systems are re-solved by least
   squares on the explicit rows. The result is verified (``kkt_residual``; SolverError
   above 1e-6).
4. Infeasibility (unbounded dual) shows up as ``1 - h^T u ~ 0``; when that
   quantity is small the decision is confirmed with an LP (scipy HiGHS dual
   simplex) for a Farkas certificate ``u >= 0, G^T u = 0, h^T u = 1``; a vertex of
   that polyhedron is an *irreducible* infeasible subsystem (Gleeson & Ryan 1990),
   and its rows are what :class:`~tfsvm.errors.InfeasibleError` reports.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from .._validation import as_float_array, check_option, check_positive
from ..errors import InfeasibleError, OptionError, ShapeError, SolverError

__all__ = ["MaxMarginResult", "max_margin", "numerical_rank", "CLARABEL_OPTIONS", "CLARABEL_SDP_OPTIONS"]

_TINY = 1e-300
#: r = 1 - h^T u below this (scaled problem, ||w~|| >~ 3e4) triggers the LP check.
_SUSPECT_INFEASIBLE = 1e-9
#: KKT residual above which a solve is refused with SolverError.
_ACCURACY = 1e-6
#: Clarabel settings for the Frobenius QP (cross-checks): tight interior-point tolerances.
CLARABEL_OPTIONS: dict[str, Any] = {
    "tol_gap_abs": 1e-12,
    "tol_gap_rel": 1e-12,
    "tol_feas": 1e-12,
    "tol_ktratio": 1e-10,
    "max_iter": 400,
}
#: Clarabel settings for the nuclear-norm SDP (never SCS defaults); 1e-9 is the tightest
#: level the SDP reaches reliably (every solution is re-verified by its KKT residual).
CLARABEL_SDP_OPTIONS: dict[str, Any] = {
    "tol_gap_abs": 1e-9,
    "tol_gap_rel": 1e-9,
    "tol_feas": 1e-9,
    "tol_ktratio": 1e-7,
    "max_iter": 400,
}


# =========================================================================== result


@dataclass
class MaxMarginResult:
    """Solution of ``min ||w|| s.t. F w >= b, E w = c`` (see :func:`max_margin`).

    Attributes
    ----------
    w : (D,) the optimal point (``vec(W)`` row-major for matrix problems).
    norm : "l2" (Euclidean = Frobenius on matrices) or "nuc".
    value : the optimal objective ``||w||`` in that norm.
    shape : matrix shape of ``w`` (None for vector problems); ``W`` is ``w`` reshaped.
    info : diagnostics (the four KKT components, ``equality_rank``; the wrappers add
        ``rows`` describing each inequality).
    margins : (m,) ``F w`` (compare with ``b``).
    lam : (m,) multipliers of the inequalities, >= 0. For ``norm="l2"`` they are
        those of ``min 1/2 ||w||^2``, so ``w = F^T lam + E^T mu`` exactly; for
        ``norm="nuc"`` they are those of ``min ||W||_*`` (``F^T lam`` is then a
        subgradient of the nuclear norm at W).
    mu : (p,) multipliers of the equalities (free sign).
    active : (m,) bool, tight inequalities: ``|F_j w - b_j| <= support_tol * max(1, |F_j w|)``.
    kkt_residual : max of relative stationarity, primal infeasibility,
        complementary slackness and dual infeasibility.
    duality_gap : relative gap between primal and dual objectives.
    method : the solver used: "active-set", "cvxopt" (nuclear dual SDP) or "cvxpy" (Clarabel).
    """

    w: np.ndarray
    norm: str
    value: float
    margins: np.ndarray
    lam: np.ndarray
    mu: np.ndarray
    active: np.ndarray
    kkt_residual: float
    duality_gap: float
    method: str
    shape: tuple[int, int] | None = None
    info: dict = field(default_factory=dict, repr=False)

    @property
    def W(self) -> np.ndarray:
        """``w`` reshaped to the matrix shape of the problem (``w`` itself if none)."""
        return self.w if self.shape is None else self.w.reshape(self.shape)


# =========================================================================== constraint rows


class _Dense:
    """Explicit rows f_j (m, D)."""

    def __init__(self, F: np.ndarray):
        self.F = F
        self.m, self.D = F.shape

    def gram(self) -> np.ndarray:
        return self.F @ self.F.T

    def apply(self, w: np.ndarray) -> np.ndarray:
        return self.F @ w

    def adjoint(self, lam: np.ndarray) -> np.ndarray:
        return self.F.T @ lam

    def dense(self) -> np.ndarray:
        return self.F


class _RankOne:
    """Rank-one matrix rows ``F_j = a_j c_j^T`` (the Att-SVM features), never formed:
    Gram ``(A A^T) * (C C^T)``, ``<F_j, W> = a_j^T W c_j``, ``sum_j lam_j F_j = A^T diag(lam) C``."""

    def __init__(self, A: np.ndarray, C: np.ndarray):
        self.A, self.C = A, C
        self.m = A.shape[0]
        self.d1, self.d2 = A.shape[1], C.shape[1]
        self.D = self.d1 * self.d2

    def gram(self) -> np.ndarray:
        return (self.A @ self.A.T) * (self.C @ self.C.T)

    def apply(self, w: np.ndarray) -> np.ndarray:
        return np.einsum("ij,ij->i", self.A @ w.reshape(self.d1, self.d2), self.C)

    def adjoint(self, lam: np.ndarray) -> np.ndarray:
        return ((self.A * lam[:, None]).T @ self.C).reshape(-1)

    def dense(self) -> np.ndarray:
        return (self.A[:, :, None] * self.C[:, None, :]).reshape(self.m, -1)


# =========================================================================== NNLS


def _nnls_gram(M: np.ndarray, q: np.ndarray, maxiter: int | None = None) -> np.ndarray:
    """Lawson-Hanson active set for ``min_{u>=0} 1/2 u^T M u - q^T u`` (M PSD), in pure numpy.

    NNLS ``min ||A u - f||`` in Gram form (``M = A^T A``, ``q = A^T f``); the fallback
    when scipy's compiled NNLS stops at its iteration limit.
    """
    m = q.shape[0]
    u = np.zeros(m)
    passive = np.zeros(m, dtype=bool)
    if m == 0:
        return u
    scale = max(float(np.max(np.abs(np.diag(M)))), float(np.max(np.abs(q))), _TINY)
    tol = 1e-13 * scale
    maxiter = maxiter or 5 * m + 20
    grad = q.copy()
    skip = np.zeros(m, dtype=bool)  # columns whose addition failed (numerically zero step)
    for _ in range(maxiter):
        cand = ~passive & ~skip & (grad > tol)
        if not cand.any():
            break
        j = int(np.argmax(np.where(cand, grad, -np.inf)))
        passive[j] = True
        first = True
        while True:
            idx = np.flatnonzero(passive)
            s = _solve_psd(M[np.ix_(idx, idx)], q[idx])
            if np.all(s > 0):
                u[:] = 0.0
                u[idx] = s
                skip[:] = False
                break
            if first and s[np.searchsorted(idx, j)] <= 0:
                passive[j] = False  # the new column does not help numerically: undo, mark
                skip[j] = True
                break
            first = False
            neg = s <= 0
            uu = u[idx]
            steps = uu[neg] / np.maximum(uu[neg] - s[neg], _TINY)
            a = float(np.min(steps))
            u[idx] = uu + a * (s - uu)
            blocking = idx[neg][steps <= a]
            u[blocking] = 0.0
            passive[idx[u[idx] <= 0.0]] = False
            passive[blocking] = False
            u[~passive] = 0.0
            if not passive.any():
                break
        grad = q - M @ u
    return u


def _c_nnls(A: np.ndarray, f: np.ndarray, maxiter: int) -> tuple[np.ndarray, float]:
    """scipy's compiled Lawson-Hanson NNLS (private entry point when available: the public
    wrapper's argument handling costs more than the solve at these sizes)."""
    global _C_NNLS
    if _C_NNLS is None:
        try:
            from scipy.optimize._slsqplib import nnls as raw

            x, rn, info = raw(np.eye(2), np.ones(2), 6)
            if not np.allclose(x, 1.0):
                raise ImportError
            _C_NNLS = raw
        except Exception:  # pragma: no cover - other scipy versions
            _C_NNLS = False
    if _C_NNLS:
        x, rn, info = _C_NNLS(np.ascontiguousarray(A, dtype=float), np.array(f, dtype=float), maxiter)
        if info == 3:
            raise RuntimeError("NNLS iteration limit")
        return x, rn
    from scipy.optimize import nnls

    return nnls(A, f, maxiter=maxiter)


_C_NNLS: Any = None


def _nnls(M: np.ndarray, q: np.ndarray, E: np.ndarray | None = None) -> np.ndarray:
    """``argmin_{u >= 0} 1/2 u^T M u - q^T u`` with scipy's compiled Lawson-Hanson NNLS.

    If the explicit factor ``E`` (``M = E^T E``, ``q = E^T e_last``) is given and short
    (fewer rows than columns) it is used directly; otherwise a square root of M
    (Cholesky, or a truncated eigendecomposition when M is singular).
    """
    m = q.shape[0]
    try:
        if E is not None and E.shape[0] <= m:
            f = np.zeros(E.shape[0])
            f[-1] = 1.0
            return _c_nnls(E, f, 10 * m + 50)[0]
        try:
            L = np.linalg.cholesky(M)
            f = np.linalg.solve(L, q)  # triangular; small m
            R = L.T
        except np.linalg.LinAlgError:
            ev, V = np.linalg.eigh(M)
            keep = ev > 1e-14 * max(float(ev[-1]), _TINY)
            R = np.sqrt(ev[keep])[:, None] * V[:, keep].T
            f = (V[:, keep].T @ q) / np.sqrt(ev[keep])
        return _c_nnls(R, f, 10 * m + 50)[0]
    except RuntimeError:  # iteration limit: fall back to the numpy implementation
        return _nnls_gram(M, q)


def _solve_psd(A: np.ndarray, rhs: np.ndarray) -> np.ndarray:
    """Solve a small symmetric positive (semi)definite system; lstsq if singular."""
    try:
        L = np.linalg.cholesky(A)
        return np.linalg.solve(L.T, np.linalg.solve(L, rhs))
    except np.linalg.LinAlgError:
        return np.linalg.lstsq(A, rhs, rcond=None)[0]


# =========================================================================== least-distance problem


@dataclass
class _LDP:
    feasible: bool
    y: np.ndarray | None = None
    lam: np.ndarray | None = None
    certificate: np.ndarray | None = None  # u >= 0 with G^T u = 0, h^T u > 0


def _farkas_certificate(G: np.ndarray, h: np.ndarray) -> np.ndarray | None:
    """A vertex ``u`` of ``{u >= 0 : G^T u = 0, h^T u = 1}`` (an irreducible
    infeasible subsystem of ``G y >= h``), or None if that set is empty."""
    from scipy.optimize import linprog

    m, D = G.shape
    s = max(float(np.max(np.linalg.norm(G, axis=1))), _TINY)
    beta = max(float(np.max(np.abs(h))), _TINY)
    G, h = G / s, h / beta
    A_eq = np.vstack([G.T, h[None, :]])
    b_eq = np.zeros(D + 1)
    b_eq[-1] = 1.0
    res = linprog(
        c=np.ones(m),
        A_eq=A_eq,
        b_eq=b_eq,
        bounds=(0, None),
        method="highs-ds",
        options={"primal_feasibility_tolerance": 1e-10, "dual_feasibility_tolerance": 1e-10},
    )
    if res.status != 0:
        return None
    u = np.asarray(res.x, dtype=float)
    # reject certificates that only hold up to the LP tolerance on an almost-feasible problem
    if np.linalg.norm(G.T @ u) > 1e-7 * max(1.0, float(np.sum(u))):
        return None
    return u


def _ldp(rows: Any, h: np.ndarray) -> _LDP:
    """Exact ``min 1/2 ||y||^2 s.t. G y >= h`` (rows of G given by ``rows``), see module docstring."""
    if isinstance(rows, np.ndarray):
        rows = _Dense(rows)
    m, D = rows.m, rows.D
    if m == 0 or np.all(h <= 0):
        return _LDP(True, np.zeros(D), np.zeros(m))
    Gm = rows.gram()
    # scaling: rows of norm <= 1 and max |h| = 1 (y~ = y * s / beta, lam~ = lam * s^2 / beta)
    s2 = max(float(np.max(np.diag(Gm))), _TINY)
    beta = float(np.max(np.abs(h)))
    hs = h / beta
    M = Gm / s2 + np.outer(hs, hs)
    E = None
    if D + 1 <= m:
        E = np.vstack([rows.dense().T / np.sqrt(s2), hs[None, :]])
    u = _nnls(M, hs, E)
    r = 1.0 - float(hs @ u)
    if r < _SUSPECT_INFEASIBLE:
        cert = _farkas_certificate(rows.dense(), h)
        if cert is not None:
            return _LDP(False, certificate=cert)
        if r <= 0 or not np.any(u > 0):
            raise SolverError(
                "the max-margin problem is numerically on the edge of infeasibility "
                f"(Lawson-Hanson residual {r:.1e}) but no Farkas certificate was found; "
                "rescale the data or use method='cvxpy'"
            )
    lam0 = np.where(u > 0, u, 0.0) * (beta / (r * s2))
    lam, y, ok = _refine(rows, Gm, h, lam0)
    if not ok:
        # ill-conditioned support (the Gram matrix squares condition numbers): redo the
        # working-set solves by least squares on the explicit rows, keep the better one
        lam_d, y_d, _ = _refine(rows, Gm, h, lam0, dense=rows.dense())
        if _kkt_error(rows, h, lam_d, y_d) < _kkt_error(rows, h, lam, y):
            lam, y = lam_d, y_d
    return _LDP(True, y, lam)


def _refine(rows: Any, Gm: np.ndarray, h: np.ndarray, lam0: np.ndarray, maxiter: int | None = None,
            dense: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, bool]:
    """Polish a near-optimal dual point of ``min 1/2||y||^2 s.t. G y >= h`` to machine precision.

    Works on the support set S = {lam > 0}: solve ``G_S G_S^T lam_S = h_S`` (factorised
    once, then iterative refinement against the explicit rows), then fix the working set
    (add the most violated constraint / drop the most negative multiplier) until the KKT
    conditions hold. With ``dense`` (the explicit rows) the working-set systems are solved
    by least squares on the rows themselves (``y = lstsq(G_S, h_S)``,
    ``lam_S = lstsq(G_S^T, y)``), which does not square the condition number, and the
    primal point is that least-squares solution (for huge ||y|| it is more accurate than
    ``G^T lam``).

    Returns ``(lam, y, ok)``; ``ok`` is False when the working set did not settle with
    all constraints satisfied to 1e-12 (then the candidate with the smallest KKT error
    is returned and the caller decides).
    """
    m = h.shape[0]
    S = lam0 > 0
    maxiter = maxiter or 2 * m + 10
    vtol = 1e-12 * float(np.max(np.abs(h)))
    c0 = np.clip(lam0, 0, None)
    candidates = [(c0, rows.adjoint(c0))]
    for _ in range(maxiter):
        idx = np.flatnonzero(S)
        lam = np.zeros(m)
        if idx.size and dense is not None:
            GS = dense[idx]
            y = np.linalg.lstsq(GS, h[idx], rcond=None)[0]
            lam[idx] = np.linalg.lstsq(GS.T, y, rcond=None)[0]
            viol = h - rows.apply(y)
        elif idx.size:
            A = Gm[np.ix_(idx, idx)]
            try:
                Ainv = np.linalg.inv(A)
            except np.linalg.LinAlgError:
                Ainv = np.linalg.pinv(A)
            lam[idx] = Ainv @ h[idx]
            for it in range(4):  # iterative refinement against the explicit rows
                y = rows.adjoint(lam)
                viol = h - rows.apply(y)
                if it == 3 or np.max(np.abs(viol[idx])) <= 1e-2 * vtol:
                    break
                lam[idx] += Ainv @ viol[idx]
        else:
            y = np.zeros(rows.D)
            viol = h.copy()
        lmax = max(float(np.max(np.abs(lam))), _TINY)
        if not np.any(lam < -1e-12 * lmax):
            if np.any(lam < 0):
                lam = np.clip(lam, 0, None)
                if dense is None:
                    y = rows.adjoint(lam)
                    viol = h - rows.apply(y)
            j = int(np.argmax(viol))
            if viol[j] <= vtol:
                return lam, y, True
            candidates.append((lam, y))
            if S[j]:
                break
            S[j] = True
        else:
            S[int(np.argmin(lam))] = False  # drop the most negative multiplier
    errs = [_kkt_error(rows, h, c, yc) for c, yc in candidates]
    best = int(np.argmin(errs))
    return candidates[best][0], candidates[best][1], False


def _kkt_error(rows: Any, h: np.ndarray, lam: np.ndarray, y: np.ndarray | None = None) -> float:
    g = rows.adjoint(lam)
    if y is None:
        y = g
    stat = float(np.linalg.norm(y - g)) / max(float(np.linalg.norm(y)), _TINY)
    slack = rows.apply(y) - h
    viol = float(np.max(-slack, initial=0.0)) / max(float(np.max(np.abs(h))), _TINY)
    ny2 = max(float(y @ y), _TINY)
    comp = float(np.max(np.abs(lam * slack), initial=0.0)) / ny2
    return max(viol, comp, stat)


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
    """Solve the generic hard-margin problem ``min ||w|| s.t. F w >= b, F_eq w = b_eq``.

    This is the single core behind (Att-SVM), (Att-SVM*), (Gen-SVM), the sequential
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
        Lawson-Hanson solver); for "nuc", "auto" solves the dual SDP with cvxopt and falls back to
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

    if method in ("auto", "active-set") and norm == "l2":
        sol = _ldp(red, h)
        if not sol.feasible:
            raise certificate_error(sol.certificate)
        w = w0 + sol.y
        lam = sol.lam
        mu = np.linalg.lstsq(F_eq.T, w - rows.adjoint(lam), rcond=None)[0] if p else np.zeros(0)
        res = _assemble(rows, b, F_eq, b_eq, w, lam, mu, norm, shape, support_tol, "active-set")
    else:
        res = None
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


def _verified(res: MaxMarginResult) -> bool:
    """Is the KKT residual finite and at most the accuracy every solve must reach?"""
    return bool(np.isfinite(res.kkt_residual) and res.kkt_residual <= _ACCURACY)


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


def _scales(F, b, F_eq, b_eq) -> tuple[float, float]:
    """(s, beta): the largest row norm and the largest right-hand side (1 if all are 0). Both
    interior-point solvers work in units where rows have norm <= 1 and right-hand sides <= 1."""
    s = max(float(np.max(np.linalg.norm(np.vstack([F, F_eq]), axis=1), initial=0.0)), _TINY)
    beta = float(np.max(np.abs(np.concatenate([b, b_eq])), initial=0.0))
    return s, (beta if beta > _TINY else 1.0)


def _cvxpy_solve(F, b, F_eq, b_eq, norm, shape):
    """Clarabel (interior point, tight tolerances) on the same problem; returns w, lam, mu.

    The problem is solved in scaled units (rows of norm <= 1, right-hand sides <= 1)
    and mapped back, which keeps the interior-point method accurate on badly scaled data.
    """
    import cvxpy as cp

    m, D = F.shape
    if shape is None:
        shape = (D, 1)
    s, beta = _scales(F, b, F_eq, b_eq)
    F, F_eq, b, b_eq = F / s, F_eq / s, b / beta, b_eq / beta
    W = cp.Variable(shape)
    x = cp.vec(W, order="C")
    cons = []
    if m:
        cons.append(F @ x >= b)
    if F_eq.shape[0]:
        cons.append(F_eq @ x == b_eq)
    obj = cp.normNuc(W) if norm == "nuc" else 0.5 * cp.sum_squares(W)
    prob = cp.Problem(cp.Minimize(obj), cons)
    try:
        with warnings.catch_warnings():
            # "Solution may be inaccurate": the result is verified by our own KKT check
            warnings.filterwarnings("ignore", message="Solution may be inaccurate")
            prob.solve(solver=cp.CLARABEL, **(CLARABEL_SDP_OPTIONS if norm == "nuc" else CLARABEL_OPTIONS))
    except cp.error.SolverError as exc:  # pragma: no cover - solver crash
        raise SolverError(f"Clarabel failed: {exc}") from exc
    if prob.status in (cp.INFEASIBLE, cp.INFEASIBLE_INACCURATE):
        raise SolverError("Clarabel reports infeasibility although an LP found no Farkas certificate")
    if prob.status not in (cp.OPTIMAL, cp.OPTIMAL_INACCURATE):
        raise SolverError(f"Clarabel ended with status {prob.status!r}")
    w = np.asarray(W.value, dtype=float).reshape(-1)
    lam = np.zeros(m)
    mu = np.zeros(F_eq.shape[0])
    k = 0
    if m:
        lam = np.clip(np.asarray(cons[0].dual_value, dtype=float).reshape(-1), 0, None)
        k = 1
    if F_eq.shape[0]:
        mu = -np.asarray(cons[k].dual_value, dtype=float).reshape(-1)  # cvxpy: L = f + nu^T (F_eq x - b_eq)
    # undo the scaling (w = w~ beta / s; multipliers: beta / s^2 for 1/2||.||^2, 1 / s for ||.||_*)
    dscale = beta / s**2 if norm != "nuc" else 1.0 / s
    return w * (beta / s), lam * dscale, mu * dscale


#: cvxopt settings of :func:`_nuclear_dual_solve`; tighter stops hit zero steps on some problems
#: (every solution is re-verified by its KKT residual, and Clarabel takes over if it falls short).
CVXOPT_SDP_OPTIONS: dict[str, Any] = {"abstol": 1e-9, "reltol": 1e-9, "feastol": 1e-9, "maxiters": 200}


def _nuclear_dual_solve(F, b, F_eq, b_eq, shape):
    """min ||W||_* s.t. F vec(W) >= b, F_eq vec(W) = b_eq through its dual SDP; (w, lam, mu) or None.

    The dual is ``max b^T lam + b_eq^T mu  s.t.  lam >= 0,  ||sum_j lam_j F_j + sum_k mu_k E_k||_2 <= 1``,
    i.e. one LMI ``[[I, G], [G^T, I]] >= 0`` of size d1 + d2 in only m + p unknowns. cvxopt's
    interior-point method (Schur-complement KKT system) solves it in milliseconds where the primal
    ``normNuc`` cone program factorises a dense (d1+d2)^2 / 2 block. The primal comes from the LMI's
    multiplier ``[[Z11, Z12], [Z12^T, Z22]]``: stationarity gives ``<2 Z12, F_j> = b_j + (slack of
    lam_j >= 0)`` and ``<2 Z12, E_k> = b_eq_k``, so ``W = 2 Z12`` is feasible and
    ``||W||_* <= tr Z = dual value``. Same scaling as :func:`_cvxpy_solve`; the caller verifies the KKT
    conditions. Returns None if cvxopt stops without an optimal status.
    """
    from cvxopt import matrix, solvers

    m, p, (d1, d2) = F.shape[0], F_eq.shape[0], shape
    N = d1 + d2
    s, beta = _scales(F, b, F_eq, b_eq)
    rows = np.vstack([F, F_eq]).reshape(m + p, d1, d2) / s
    G = np.zeros((N, N, m + p))
    G[:d1, d1:] = rows.transpose(1, 2, 0)
    G[d1:, :d1] = rows.transpose(2, 1, 0)
    Gl = np.hstack([-np.eye(m), np.zeros((m, p))])
    try:
        sol = solvers.sdp(matrix(-np.concatenate([b, b_eq]) / beta), Gl=matrix(Gl), hl=matrix(np.zeros(m)),
                          Gs=[matrix(G.reshape(N * N, m + p, order="F"))], hs=[matrix(np.eye(N))],
                          options={"show_progress": False, **CVXOPT_SDP_OPTIONS})
    except (ArithmeticError, ValueError):  # a zero step in cvxopt's scaling update
        return None
    if sol["status"] != "optimal":
        return None
    Zs = np.array(sol["zs"][0]).reshape(N, N, order="F")
    x = np.array(sol["x"]).ravel()
    w = 2.0 * Zs[:d1, d1:].reshape(-1)
    return w * (beta / s), np.clip(x[:m], 0, None) / s, x[m:] / s


def _assemble(rows, b, F_eq, b_eq, w, lam, mu, norm, shape, support_tol, method) -> MaxMarginResult:
    """Package a solution with its verification: the four KKT components and the gap."""
    if isinstance(rows, np.ndarray):
        rows = _Dense(rows)
    m, p = rows.m, F_eq.shape[0]
    margins = rows.apply(w)
    slack = margins - b
    bscale = max(1.0, float(np.abs(b).max())) if m else 1.0
    primal = max(float((-slack).max()), 0.0) / bscale if m else 0.0
    if p:
        primal = max(primal, float(np.abs(F_eq @ w - b_eq).max()) / bscale)
    lmax = float(np.abs(lam).max()) if m else 0.0
    dual_inf = max(0.0, -float(lam.min())) / lmax if m and lmax > 0 else 0.0
    g = rows.adjoint(lam)
    if p:
        g = g + F_eq.T @ mu
    lam_slack = float(np.abs(lam * slack).max()) if m else 0.0
    if norm == "l2":
        nw2 = float(w @ w)
        value = nw2**0.5
        diff = w - g
        if nw2 > 0:
            stat = float(diff @ diff) ** 0.5 / value
            comp = lam_slack / nw2
        else:
            stat, comp = float(g @ g) ** 0.5, lam_slack
        primal_obj = 0.5 * nw2
        dual_obj = float(b @ lam) + (float(b_eq @ mu) if p else 0.0) - 0.5 * float(g @ g)
        gap = abs(primal_obj - dual_obj) / primal_obj if primal_obj > 0 else abs(dual_obj)
    else:
        Wm = w.reshape(shape)
        Gm = g.reshape(shape)
        sv = np.linalg.svd(Wm, compute_uv=False)
        value = float(np.sum(sv))
        gnorm = float(np.linalg.norm(Gm, 2))
        # G must be a subgradient of ||.||_* at W: ||G||_2 <= 1 and <G, W> = ||W||_*
        stat = max(gnorm - 1.0, 0.0) + abs(float(np.sum(Gm * Wm)) - value) / max(value, _TINY)
        comp = lam_slack / max(value, _TINY)
        dual_obj = float(b @ lam + b_eq @ mu)
        gap = abs(value - dual_obj) / max(value, _TINY)
    active = np.abs(slack) <= support_tol * np.maximum(1.0, np.abs(margins))
    kkt = max(stat, primal, comp, dual_inf)
    return MaxMarginResult(
        w=w, norm=norm, value=value, margins=margins, lam=lam, mu=mu, active=active,
        kkt_residual=float(kkt), duality_gap=float(gap), method=method, shape=shape,
        info={"stationarity": stat, "primal_infeasibility": primal, "complementarity": comp,
              "dual_infeasibility": dual_inf},
    )


# =========================================================================== rank


def numerical_rank(W: Any, rtol: float = 1e-6) -> int | np.ndarray:
    """Number of singular values ``> rtol * sigma_max`` (0 for the zero matrix).

    Use a *relative* threshold on an accurately solved problem: the paper's Figure 4
    notebook used an absolute 1e-7 on SCS output, which inflates nuclear-norm ranks
    (digest §2.3-2.4). Accepts (d1, d2) or a batch (B, d1, d2) (returns an int array).
    """
    W = as_float_array(W, "W", (2, 3))
    rtol = check_positive(rtol, "rtol")
    sv = np.linalg.svd(W, compute_uv=False)
    smax = sv[..., :1]
    r = np.sum((sv > rtol * smax) & (smax > 0), axis=-1)
    return int(r) if W.ndim == 2 else r.astype(int)
