"""(Att-SVM⋆) reduced to the subspaces its constraints see (Lemma 1 of A).

:func:`tfsvm.svm.solve_att_svm` solves every nuclear-norm problem through
:func:`_nuclear_reduced` (unless ``reduce=False``); chapter 2 shows this function.
"""

from __future__ import annotations

import numpy as np

from ..errors import SolverError
from ._certificates import MaxMarginResult, _assemble, _verified
from ._core import _solve
from ._rows import _RankOne


def _basis(M: np.ndarray, rtol: float = 1e-12) -> np.ndarray:
    """Orthonormal basis (columns) of the span of the rows of ``M``."""
    U, sv, _ = np.linalg.svd(M.T, full_matrices=False)
    tol = rtol * (sv[0] if sv.size else 0.0) * max(M.shape)
    return U[:, : int(np.sum(sv > tol))]


def _nuclear_reduced(A: np.ndarray, C: np.ndarray, d: int, method: str, support_tol: float, describe
                     ) -> MaxMarginResult:
    """(Att-SVM⋆) solved on the subspaces its constraints see -- exactly the same optimum.

    Every constraint reads ``a_itᵀ W c_i ≥ 1`` with ``a_it = x_{iα_i} - x_it`` (rows of A)
    and ``c_i = z_i`` (rows of C). Let U (d × p) and V (d × q) be orthonormal bases of
    span{a_it} and span{z_i}, P_U = U Uᵀ and P_V = V Vᵀ. For every W:

    * ``aᵀ (P_U W P_V) c = aᵀ W c`` for a in span U, c in span V, so the projected matrix
      P_U W P_V satisfies every constraint W does;
    * ``‖P_U W P_V‖_* ≤ ‖P_U‖_2 ‖W‖_* ‖P_V‖_2 ≤ ‖W‖_*``.

    Hence an optimum has the form W = U M Vᵀ, and ``‖U M Vᵀ‖_* = ‖M‖_*``: solving the
    p × q problem ``min ‖M‖_* s.t. (Uᵀ a)ᵀ M (Vᵀ c) ≥ 1`` and mapping back gives the
    optimum of the d × d problem. The right factor is Lemma 1 of A (the row space of W⋆^mm lies
    in span{z_i}); the left factor is the same projection argument applied on the left. The
    constraint values and the multipliers are unchanged, and the subgradient
    ``G = Σ λ_it a_it c_iᵀ = U G_r Vᵀ`` has the same spectral norm, so the KKT certificate
    is re-checked on the original d × d problem (:func:`_assemble`). With p = n(T-1) and q = n
    at most (20 and 5 for n = T = 5) this replaces a 40 × 40 SDP by a 20 × 5 one.
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
    if not _verified(res):
        raise SolverError(f"the reduced nuclear SDP reached only KKT residual {res.kkt_residual:.2e} on the full problem")
    return res
