"""Exact Euclidean max-margin solver: an active-set quadratic program.

Solves the least-distance problem ``min ‖y‖ s.t. G y ≥ h`` left after the equality
elimination of :func:`tfsvm.svm._core._solve`.

Exact Euclidean solver (``method="active-set"``)
------------------------------------------------
1. Equalities are eliminated: with ``w0`` the least-norm solution of ``E w = c``
   and ``P`` the projector onto ``null(E)``, ``w = w0 + y`` with ``y`` in
   ``null(E)``, ``‖w‖^2 = ‖w0‖^2 + ‖y‖^2`` and the inequalities become
   ``(F P) y ≥ b - F w0``.
2. The remaining *least-distance problem* ``min ‖y‖ s.t. G y ≥ h`` is solved
   by Lawson & Hanson's reduction (Solving Least Squares Problems, 1974, ch. 23)
   to the non-negative least-squares problem
   ``min_{u ≥ 0} ‖ [Gᵀ; hᵀ] u - e_{D+1} ‖``:
   if the residual ``r`` vanishes the constraints are inconsistent (and ``u`` is a
   Farkas certificate), otherwise ``y = -r[:D] / r[D]``. The NNLS is solved by
   Lawson-Hanson's active-set algorithm (scipy's compiled implementation) applied to
   the explicit matrix when it is short (D + 1 ≤ m), else to a square root of its
   Gram matrix ``G Gᵀ + h hᵀ`` (Cholesky; truncated eigendecomposition if singular),
   whose size is the number of constraints. For (Att-SVM) the rows are rank-one
   matrices ``a cᵀ`` and the Gram matrix ``(A Aᵀ) * (C Cᵀ)`` is formed without ever
   building the d^2-dimensional features.
3. Refinement: the NNLS passive set is the support set. On it the KKT system
   ``G_S G_Sᵀ λ_S = h_S`` is solved again (Cholesky + iterative refinement
   against the explicit rows), the remaining constraints are checked, and the working
   set is corrected (add the most violated / drop the most negative multiplier) until
   the KKT conditions hold to ~1e-13. If the support is so ill-conditioned that this
   fails (‖W‖ ~ 1e6 and beyond), the working-set systems are re-solved by least
   squares on the explicit rows. The result is verified (``kkt_residual``; SolverError
   above 1e-6).
4. Infeasibility (unbounded dual) shows up as ``1 - hᵀ u ~ 0``; when that
   quantity is small the decision is confirmed with an LP (scipy HiGHS dual
   simplex) for a Farkas certificate ``u ≥ 0, Gᵀ u = 0, hᵀ u = 1``; a vertex of
   that polyhedron is an *irreducible* infeasible subsystem (Gleeson & Ryan 1990),
   and its rows are what :class:`~tfsvm.errors.InfeasibleError` reports.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import SolverError
from ._certificates import _TINY
from ._rows import _Dense

#: r = 1 - hᵀ u below this (scaled problem, ‖w~‖ >~ 3e4) triggers the LP check.
_SUSPECT_INFEASIBLE = 1e-9


# =========================================================================== NNLS


def _nnls_gram(M: np.ndarray, q: np.ndarray, maxiter: int | None = None) -> np.ndarray:
    """Lawson-Hanson active set for ``min_{u≥0} 1/2 uᵀ M u - qᵀ u`` (M PSD), in pure numpy.

    NNLS ``min ‖A u - f‖`` in Gram form (``M = Aᵀ A``, ``q = Aᵀ f``); the fallback
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
    """``argmin_{u ≥ 0} 1/2 uᵀ M u - qᵀ u`` with scipy's compiled Lawson-Hanson NNLS.

    If the explicit factor ``E`` (``M = Eᵀ E``, ``q = Eᵀ e_last``) is given and short
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
    certificate: np.ndarray | None = None  # u ≥ 0 with Gᵀ u = 0, hᵀ u > 0


def _farkas_certificate(G: np.ndarray, h: np.ndarray) -> np.ndarray | None:
    """A vertex ``u`` of ``{u ≥ 0 : Gᵀ u = 0, hᵀ u = 1}`` (an irreducible
    infeasible subsystem of ``G y ≥ h``), or None if that set is empty."""
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
    """Exact ``min 1/2 ‖y‖^2 s.t. G y ≥ h`` (rows of G given by ``rows``), see module docstring."""
    if isinstance(rows, np.ndarray):
        rows = _Dense(rows)
    m, D = rows.m, rows.D
    if m == 0 or np.all(h <= 0):
        return _LDP(True, np.zeros(D), np.zeros(m))
    Gm = rows.gram()
    # scaling: rows of norm ≤ 1 and max |h| = 1 (y~ = y * s / beta, lam~ = lam * s^2 / beta)
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
    """Polish a near-optimal dual point of ``min 1/2‖y‖^2 s.t. G y ≥ h`` to machine precision.

    Works on the support set S = {lam > 0}: solve ``G_S G_Sᵀ lam_S = h_S`` (factorised
    once, then iterative refinement against the explicit rows), then fix the working set
    (add the most violated constraint / drop the most negative multiplier) until the KKT
    conditions hold. With ``dense`` (the explicit rows) the working-set systems are solved
    by least squares on the rows themselves (``y = lstsq(G_S, h_S)``,
    ``lam_S = lstsq(G_Sᵀ, y)``), which does not square the condition number, and the
    primal point is that least-squares solution (for huge ‖y‖ it is more accurate than
    ``Gᵀ lam``).

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
