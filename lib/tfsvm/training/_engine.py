"""The fast engine: the iteration of :func:`~tfsvm.training.gd.reference_gd`, rearranged.

The logits see W only through the rows (W z_ik)ᵀ, and ∇L(W) = −(e^M/n) Rᵀ Z (N = nK queries,
:meth:`tfsvm.gradients.LinearProblem.grad_rows`), so no d x d matrix need be formed per step.
Each parameterisation has two layouts (:func:`layout`), each a class with the same four methods
(``rows``: the rows Z Wᵀ of the current iterate; ``current``: W; ``step``: one update from the
gradient rows; ``params``: the parameters):

* W, dense (:class:`_DenseW`): W ← W − η D with G = −Rᵀ Z/n.
* W, reduced (:class:`_ReducedW`, N < 2d): W(k) = W(0) + A(k)ᵀ Z with A (B, N, d); a step
  t·Rᵀ Z adds t·R to A and t·(Z Zᵀ) R to the rows Z Wᵀ, and ‖Rᵀ Z‖² = ⟨R, (Z Zᵀ) R⟩: one
  N x N x d product per step instead of two N x d x d ones.
* (K, Q), dense (:class:`_DenseKQ`): Z Wᵀ = (Z Q) Kᵀ, ∇_K ∝ Rᵀ (Z Q), ∇_Q ∝ Zᵀ (R K): O(N d m)
  (through G ∝ Rᵀ Z when N is large against d).
* (K, Q), reduced (:class:`_ReducedKQ`, N < d): Q moves only in span{z_ik} plus the ridge
  shrinkage, Q(k) = c(k)·Q(0) + Zᵀ A(k) with a per-trial scalar c and A (B, N, m), and P = Z Q is
  tracked directly; the norm of Q's step comes from N x N Gram matrices.

All are the dense iteration rearranged, equal up to rounding (tested against
:func:`~tfsvm.training.gd.reference_gd`); a norm taken from Gram matrices is recomputed from the
matrix itself where its terms cancel (:func:`~tfsvm.training._common._checked_sq_norm`). Row
matrices (B, N, ·) are held feature-major (the layout of :class:`~tfsvm.gradients.LinearProblem`)
and built as transposed products (:func:`~tfsvm._linalg.rows_of`). Every update direction goes
through :func:`~tfsvm.training._common.step_scale` / ``step_direction`` and
:func:`~tfsvm.training._common.ridge_gradient`, as in the reference.
"""

from __future__ import annotations

import math

import torch

from .._linalg import feature_block, matmul, rows_of
from ..gradients import LinearProblem
from ._common import (Recorder, _checked_sq_norm, _dot, _fro, _ridge_coefficients, _rows_scale2, ridge_gradient,
                      step_scale)


def layout(param: str, N: int, d: int) -> str:
    """"reduced" or "dense": the cheaper layout for N = nK queries in dimension d (measured:
    reduced coordinates pay off for W when N < 2d, for (K, Q) when N < d)."""
    return "reduced" if N < (2 * d if param == "W" else d) else "dense"


def fast_gd(prob: LinearProblem, params: tuple[torch.Tensor, ...], steps: int, lr: float, rule: str, ridge: float,
            rec: Recorder) -> tuple[torch.Tensor, tuple[torch.Tensor, ...]]:
    """The iterates of :func:`~tfsvm.training.gd.reference_gd` (params (W,) or (K, Q)), recorded
    in ``rec``; returns (probabilities at the last step (B, n, K, T), final params)."""
    param = "W" if len(params) == 1 else "KQ"
    Zf = prob.Zflat
    kind = {("W", "dense"): _DenseW, ("W", "reduced"): _ReducedW,
            ("KQ", "dense"): _DenseKQ, ("KQ", "reduced"): _ReducedKQ}[param, layout(param, Zf.shape[1], Zf.shape[2])]
    state = kind(prob, params, lr, rule, ridge)
    for k in range(steps + 1):
        fw = prob.forward_Wz(state.rows())
        if rec.wants(k):
            rec.add(state.current(), prob.loss_value(fw.margins), fw.probs)
        if k == steps:
            break
        R, M = prob.grad_rows(fw)  # ∇L(W) = −(exp(M)/n) Rᵀ Z
        state.step(R, M.view(-1, 1, 1))
    return prob._shape(torch.exp(fw.log_probs)), state.params()


class _Layout:
    """Constants shared by the layouts: Z (B, N, d), Zᵀ (B, d, N) with contiguous rows, n, the rule."""

    def __init__(self, prob: LinearProblem, lr: float, rule: str, ridge: float):
        self.Zf = prob.Zflat
        self.Zt = feature_block(self.Zf).transpose(0, 1)
        self.n, self.lr, self.rule, self.ridge = prob.n, lr, rule, ridge
        self.log_n = math.log(prob.n)

    def gram(self) -> None:
        """Z Zᵀ (B, N, N) and ‖Z‖_F² (B, 1, 1), for the reduced layouts."""
        self.Gz = matmul(self.Zf, self.Zt)
        self.z2 = _dot(self.Zf, self.Zf)


class _DenseW(_Layout):
    def __init__(self, prob: LinearProblem, params: tuple[torch.Tensor, ...], lr: float, rule: str, ridge: float):
        super().__init__(prob, lr, rule, ridge)
        self.W = params[0]

    def rows(self) -> torch.Tensor:
        return rows_of(self.W, self.Zt)

    def current(self) -> torch.Tensor:
        return self.W

    def step(self, R: torch.Tensor, M: torch.Tensor) -> None:
        G = matmul(R.transpose(-1, -2), self.Zf).div_(-self.n)  # ∇L = e^M G
        self.W = self.W.addcmul(G, step_scale(_fro(G), M, self.rule), value=-self.lr)

    def params(self) -> tuple[torch.Tensor, ...]:
        return (self.W,)


class _ReducedW(_Layout):
    """W = W(0) + Accᵀ Z; the rows Z Wᵀ are updated with every step."""

    def __init__(self, prob: LinearProblem, params: tuple[torch.Tensor, ...], lr: float, rule: str, ridge: float):
        super().__init__(prob, lr, rule, ridge)
        self.gram()
        self.W0 = params[0]
        self.Wz = rows_of(self.W0, self.Zt)
        self.Acc = torch.zeros_like(self.Wz)

    def rows(self) -> torch.Tensor:
        return self.Wz

    def current(self) -> torch.Tensor:
        return self.W0 + matmul(self.Acc.transpose(-1, -2), self.Zf)

    def step(self, R: torch.Tensor, M: torch.Tensor) -> None:
        GR = rows_of(R.transpose(-1, -2), self.Gz)  # (Z Zᵀ) R
        g2 = _checked_sq_norm(_dot(R, GR), _rows_scale2(R, self.z2),
                              lambda: _fro(matmul(R.transpose(-1, -2), self.Zf)) ** 2)  # ‖Rᵀ Z‖²
        gn = torch.sqrt(g2.clamp(min=0.0)) / self.n  # ‖G‖, ∇L = e^M G, G = −Rᵀ Z/n
        t = step_scale(gn, M, self.rule) * (self.lr / self.n)  # W ← W − η c G = W + t Rᵀ Z
        self.Acc.addcmul_(R, t)
        self.Wz.addcmul_(GR, t)

    def params(self) -> tuple[torch.Tensor, ...]:
        return (self.current(),)


class _DenseKQ(_Layout):
    """K and Q stacked (2, B, d, m), both updated by the same operations."""

    def __init__(self, prob: LinearProblem, params: tuple[torch.Tensor, ...], lr: float, rule: str, ridge: float):
        super().__init__(prob, lr, rule, ridge)
        self.KQ = torch.stack(params)
        N, d, m = self.Zf.shape[1], self.Zf.shape[2], params[1].shape[-1]
        self.through_G = d * (N + 2 * m) < 3 * N * m  # fewer flops through G = Rᵀ Z

    def rows(self) -> torch.Tensor:
        self.ZQt = matmul(self.KQ[1].transpose(-1, -2), self.Zt)  # (Z Q)ᵀ (B, m, N), kept for step
        return rows_of(self.KQ[0], self.ZQt)

    def current(self) -> torch.Tensor:
        return self.KQ[0] @ self.KQ[1].transpose(-1, -2)

    def factor_products(self, R: torch.Tensor) -> torch.Tensor:
        """(Rᵀ Z Q, Zᵀ R K), (2, B, d, m): −n e^{−M} times the loss gradients of K and Q
        (Z Q from the last :meth:`rows`, at the same iterate)."""
        KQ, A = self.KQ, torch.empty_like(self.KQ)
        if self.through_G:
            G = matmul(R.transpose(-1, -2), self.Zf)  # (B, d, d)
            matmul(G, KQ[1], out=A[0])
            matmul(G.transpose(-1, -2), KQ[0], out=A[1])
        else:
            matmul(R.transpose(-1, -2), self.ZQt.transpose(-1, -2), out=A[0])
            matmul(self.Zt, matmul(R, KQ[0]), out=A[1])
        return A

    def step(self, R: torch.Tensor, M: torch.Tensor) -> None:
        D, S = ridge_gradient(self.factor_products(R).neg_(), M - self.log_n, self.KQ, self.ridge)
        self.KQ.addcmul_(D, step_scale(_fro(D), S, self.rule), value=-self.lr)

    def params(self) -> tuple[torch.Tensor, ...]:
        return (self.KQ[0], self.KQ[1])


class _ReducedKQ(_Layout):
    """K dense; Q = c·Q(0) + Zᵀ Acc, P = Z Q and (with a ridge) nQ2 = ‖Q‖² carried along."""

    def __init__(self, prob: LinearProblem, params: tuple[torch.Tensor, ...], lr: float, rule: str, ridge: float):
        super().__init__(prob, lr, rule, ridge)
        self.gram()
        self.K, self.Q0 = params[0].clone(), params[1]  # K is updated in place
        self.P = rows_of(self.Q0.transpose(-1, -2), self.Zt)  # (B, N, m)
        self.nQ2 = _dot(self.Q0, self.Q0)
        self.Acc, self.c = torch.zeros_like(self.P), torch.ones_like(self.nQ2)

    def rows(self) -> torch.Tensor:
        return rows_of(self.K, self.P.transpose(-1, -2))

    def Q(self) -> torch.Tensor:
        """Q = c·Q(0) + Zᵀ Acc, (B, d, m)."""
        return matmul(self.Zt, self.Acc).add_(self.Q0 * self.c)

    def current(self) -> torch.Tensor:
        return self.K @ self.Q().transpose(-1, -2)

    def step(self, R: torch.Tensor, M: torch.Tensor) -> None:
        """With X = R K, Q's gradient is e^{M'}(−Zᵀ X) + 2λQ = e^S(−a·Zᵀ X + b·Q) (M' = M − log n,
        :func:`ridge_gradient`), so Q ← Q − η c_Q (−a·Zᵀ X + b·Q) = s·Q + t·Zᵀ X with
        s = 1 − η c_Q b, t = η c_Q a and (with ⟨Zᵀ X, Q⟩ = ⟨X, Z Q⟩)
        ‖−a·Zᵀ X + b·Q‖² = a² ⟨X, Z Zᵀ X⟩ − 2ab ⟨X, P⟩ + b² ‖Q‖²,
        ‖s·Q + t·Zᵀ X‖² = s² ‖Q‖² + 2st ⟨X, P⟩ + t² ⟨X, Z Zᵀ X⟩ (the next ‖Q‖², Q never formed).
        K takes the dense step, with ∇_K ∝ Rᵀ P."""
        Mn = M - self.log_n
        X = rows_of(self.K.transpose(-1, -2), R.transpose(-1, -2))  # R K, (B, N, m)
        GX = rows_of(X.transpose(-1, -2), self.Gz)  # Z (Zᵀ X)
        D_K, S_K = ridge_gradient(matmul(R.transpose(-1, -2), self.P).neg_(), Mn, self.K, self.ridge)
        ZtX = lambda: matmul(self.Zt, X)  # noqa: E731  (Zᵀ X, formed only if needed)
        nA2 = _checked_sq_norm(_dot(X, GX), _rows_scale2(X, self.z2), lambda: _fro(ZtX()) ** 2).clamp(min=0.0)
        if self.ridge > 0:
            a, b, S = _ridge_coefficients(Mn, torch.sqrt(nA2), torch.sqrt(self.nQ2), self.ridge)
            xp = _dot(X, self.P)
            terms = a * a * nA2 + b * b * self.nQ2
            nD2 = _checked_sq_norm(terms - 2 * a * b * xp, terms, lambda: _fro(b * self.Q() - a * ZtX()) ** 2)
            f = step_scale(torch.sqrt(nD2.clamp(min=0.0)), S, self.rule) * self.lr
            s, t = 1 - f * b, f * a
            self.P, self.Acc, self.c = (self.P * s).addcmul_(GX, t), (self.Acc * s).addcmul_(X, t), self.c * s
            terms = s * s * self.nQ2 + t * t * nA2
            self.nQ2 = _checked_sq_norm(terms + 2 * s * t * xp, terms, lambda: _fro(self.Q()) ** 2)
        else:  # a = 1, b = 0: s = 1
            t = step_scale(torch.sqrt(nA2), Mn, self.rule) * self.lr
            self.P, self.Acc = self.P.addcmul(GX, t), self.Acc.addcmul(X, t)
        self.K.addcmul_(D_K, step_scale(_fro(D_K), S_K, self.rule), value=-self.lr)

    def params(self) -> tuple[torch.Tensor, ...]:
        return (self.K, self.Q())
