"""The result of the core solver and its certificate: KKT residual and duality gap.

Every solution, whichever solver produced it, is packaged by :func:`_assemble`, which
measures the four KKT components (stationarity, primal feasibility, complementary
slackness, dual feasibility) and the primal-dual gap; :func:`_verified` is the one
acceptance test (KKT residual at most :data:`_ACCURACY`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .._validation import as_float_array, check_positive
from ._rows import _Dense

_TINY = 1e-300
#: KKT residual above which a solve is refused with SolverError.
_ACCURACY = 1e-6


@dataclass
class MaxMarginResult:
    """Solution of ``min ‖w‖ s.t. F w ≥ b, E w = c`` (see :func:`max_margin`).

    Attributes
    ----------
    w : (D,) the optimal point (``vec(W)`` row-major for matrix problems).
    norm : "l2" (Euclidean = Frobenius on matrices) or "nuc".
    value : the optimal objective ``‖w‖`` in that norm.
    shape : matrix shape of ``w`` (None for vector problems); ``W`` is ``w`` reshaped.
    info : diagnostics (the four KKT components, ``equality_rank``; the wrappers add
        ``rows`` describing each inequality).
    margins : (m,) ``F w`` (compare with ``b``).
    lam : (m,) multipliers of the inequalities, ≥ 0. For ``norm="l2"`` they are
        those of ``min 1/2 ‖w‖^2``, so ``w = Fᵀ lam + Eᵀ mu`` exactly; for
        ``norm="nuc"`` they are those of ``min ‖W‖_*`` (``Fᵀ lam`` is then a
        subgradient of the nuclear norm at W).
    mu : (p,) multipliers of the equalities (free sign).
    active : (m,) bool, tight inequalities: ``|F_j w - b_j| ≤ support_tol * max(1, |F_j w|)``.
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



def _verified(res: MaxMarginResult) -> bool:
    """Is the KKT residual finite and at most the accuracy every solve must reach?"""
    return bool(np.isfinite(res.kkt_residual) and res.kkt_residual <= _ACCURACY)



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
        # G must be a subgradient of ‖.‖_* at W: ‖G‖_2 ≤ 1 and <G, W> = ‖W‖_*
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
    """Number of singular values ``> rtol * σ_max`` (0 for the zero matrix).

    Use a *relative* threshold on an accurately solved problem: the paper's Figure 4
    notebook used an absolute 1e-7 on SCS output, which inflates nuclear-norm ranks (see
    chapter 2). Accepts (d1, d2) or a batch (B, d1, d2) (returns an int array).
    """
    W = as_float_array(W, "W", (2, 3))
    rtol = check_positive(rtol, "rtol")
    sv = np.linalg.svd(W, compute_uv=False)
    smax = sv[..., :1]
    r = np.sum((sv > rtol * smax) & (smax > 0), axis=-1)
    return int(r) if W.ndim == 2 else r.astype(int)
