"""Constraint rows of the core solver: explicit rows, or the rank-one matrices of (Att-SVM).

Both classes offer the four operations the solvers need: the Gram matrix, ``F w``,
``Fᵀ lam`` and (when unavoidable) the explicit rows.
"""

from __future__ import annotations

import numpy as np


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
    """Rank-one matrix rows ``F_j = a_j c_jᵀ`` (the Att-SVM features), never formed:
    Gram ``(A Aᵀ) * (C Cᵀ)``, ``<F_j, W> = a_jᵀ W c_j``, ``Σ_j lam_j F_j = Aᵀ diag(lam) C``."""

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
