"""Interior-point solvers: Clarabel (cvxpy) for cross-checks and the nuclear-norm SDP of
(Att-SVM⋆), and cvxopt on the nuclear problem's dual SDP (the default for the nuclear norm).

Both work in scaled units (rows of norm ≤ 1, right-hand sides ≤ 1, :func:`_scales`) and return
``(w, lam, mu)``; the caller packages and verifies the solution (:mod:`._certificates`).
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from ..errors import SolverError
from ._certificates import _TINY

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


def _scales(F, b, F_eq, b_eq) -> tuple[float, float]:
    """(s, beta): the largest row norm and the largest right-hand side (1 if all are 0). Both
    interior-point solvers work in units where rows have norm ≤ 1 and right-hand sides ≤ 1."""
    s = max(float(np.max(np.linalg.norm(np.vstack([F, F_eq]), axis=1), initial=0.0)), _TINY)
    beta = float(np.max(np.abs(np.concatenate([b, b_eq])), initial=0.0))
    return s, (beta if beta > _TINY else 1.0)


def _cvxpy_solve(F, b, F_eq, b_eq, norm, shape):
    """Clarabel (interior point, tight tolerances) on the same problem; returns w, lam, mu.

    The problem is solved in scaled units (rows of norm ≤ 1, right-hand sides ≤ 1)
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
        mu = -np.asarray(cons[k].dual_value, dtype=float).reshape(-1)  # cvxpy: L = f + nuᵀ (F_eq x - b_eq)
    # undo the scaling (w = w~ beta / s; multipliers: beta / s^2 for 1/2‖.‖^2, 1 / s for ‖.‖_*)
    dscale = beta / s**2 if norm != "nuc" else 1.0 / s
    return w * (beta / s), lam * dscale, mu * dscale


#: cvxopt settings of :func:`_nuclear_dual_solve`; tighter stops hit zero steps on some problems
#: (every solution is re-verified by its KKT residual, and Clarabel takes over if it falls short).
CVXOPT_SDP_OPTIONS: dict[str, Any] = {"abstol": 1e-9, "reltol": 1e-9, "feastol": 1e-9, "maxiters": 200}


def _nuclear_dual_solve(F, b, F_eq, b_eq, shape):
    """min ‖W‖_* s.t. F vec(W) ≥ b, F_eq vec(W) = b_eq through its dual SDP; (w, lam, mu) or None.

    The dual is ``max bᵀ lam + b_eqᵀ mu  s.t.  lam ≥ 0,  ‖Σ_j lam_j F_j + Σ_k mu_k E_k‖_2 ≤ 1``,
    i.e. one LMI ``[[I, G], [Gᵀ, I]] ≥ 0`` of size d1 + d2 in only m + p unknowns. cvxopt's
    interior-point method (Schur-complement KKT system) solves this small problem where the primal
    ``normNuc`` cone program factorises a dense (d1+d2)^2 / 2 block. The primal comes from the LMI's
    multiplier ``[[Z11, Z12], [Z12ᵀ, Z22]]``: stationarity gives ``<2 Z12, F_j> = b_j + (slack of
    lam_j ≥ 0)`` and ``<2 Z12, E_k> = b_eq_k``, so ``W = 2 Z12`` is feasible and
    ``‖W‖_* ≤ tr Z = dual value``. Same scaling as :func:`_cvxpy_solve`; the caller verifies the KKT
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
