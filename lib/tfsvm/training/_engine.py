"""The fast closed-form GD loop: reduced coordinates, feature-major row matrices."""

from __future__ import annotations

import numpy as np
import torch

from .._linalg import feature_block, matmul, rows_of
from ..gradients import LinearProblem
from ._common import EPS, _checked_sq_norm, _dot, _fro, _ridge_scales, _rows_scale2


def _normalize(g: torch.Tensor, eps: float) -> torch.Tensor:
    return g / (_fro(g) + eps)


#: Use the reduced coordinates of :func:`_closed_form_loop` (for W when N < 2d, for normalised
#: (K, Q) with exact normalisation when N < d: where they were measured faster). The dense loop
#: computes the same iterates; tests set this to False to compare against it.
_REDUCED_COORDINATES = True


def _closed_form_loop(prob: LinearProblem, param: str, Pm: torch.Tensor, Qm: torch.Tensor | None, steps: int,
                      lr: float, normalized: bool, raw_eps: bool, ridge: float, is_rec: np.ndarray,
                      W_rec: torch.Tensor, loss_rec: torch.Tensor, mp_rec: torch.Tensor):
    """GD with the scale-free closed-form gradient; fills the records, returns (log s final, P, Q).

    The logits see W only through the rows (W z_ik)ᵀ and ∇L(W) = −(e^M/n) Rᵀ Z (N = nK queries,
    :meth:`tfsvm.gradients.LinearProblem.grad_rows`), so no d x d matrix is formed per step:

    * W-parameterisation with N < 2d: W(k) = W(0) + A(k)ᵀ Z with A (B, N, d), and the rows of
      Z Wᵀ are updated with the step: a step t·Rᵀ Z adds t·R to A and t·(Z Zᵀ) R to Z Wᵀ, and
      ‖∇L‖_F = (e^M/n)·⟨R, (Z Zᵀ) R⟩^{1/2}. One N x N x d product per step instead of two
      N x d x d ones; W(k) itself is formed only at the recorded steps.
    * (K, Q): Z Wᵀ = (Z Q) Kᵀ, ∇_K = −(e^M/n) Rᵀ (Z Q) + 2λK, ∇_Q = −(e^M/n) Zᵀ (R K) + 2λQ:
      O(N d m) instead of O(d² m) (when N is large against d it is cheaper to form G ∝ Rᵀ Z and
      take G Q, Gᵀ K). With N < d, normalised and exact normalisation, Q moves only in
      span{z_ik} plus the ridge shrinkage: Q(k) = c(k)·Q(0) + Zᵀ A(k) with a per-trial scalar
      c and A (B, N, m), and P = Z Q is tracked directly (P ← s·P + t·(Z Zᵀ)(R K)), so Z Q costs
      N² m instead of N d m and ∇_Q is never formed as a d x m matrix. K stays dense. The norm of
      Q's step direction (each factor is normalised separately) comes from N x N Gram matrices
      (:func:`_reduced_KQ_step`); Q(k) itself is formed only at the recorded steps and at the end.

    All are the dense iteration rearranged, equal up to floating-point rounding; a norm taken
    from Gram matrices is recomputed from the matrix itself where its terms cancel
    (:func:`_checked_sq_norm`). Row matrices (B, N, ·) are held feature-major (the layout of
    :class:`~tfsvm.gradients.LinearProblem`) and built as transposed products
    (:func:`~tfsvm._linalg.rows_of`).
    """
    Zf = prob.Zflat  # (B, N, d)
    B, N, d = Zf.shape
    Zt = feature_block(Zf).transpose(0, 1)  # Zᵀ (B, d, N), contiguous rows
    n = prob.n
    j = 0
    fast_W = param == "W" and N < 2 * d and _REDUCED_COORDINATES
    fast_KQ = param == "KQ" and N < d and normalized and not raw_eps and _REDUCED_COORDINATES
    if fast_W or fast_KQ:
        Gz = matmul(Zf, Zt)  # Z Zᵀ (B, N, N)
        z2 = _dot(Zf, Zf)  # ‖Z‖_F²
    if fast_W:
        Wz = rows_of(Pm, Zt)  # rows (W z)ᵀ, updated with every step
        Acc = torch.zeros_like(Wz)  # W = W(0) + Accᵀ Z
    if fast_KQ:
        K, Q0 = Pm.clone(), Qm  # K is updated in place
        P = rows_of(Q0.transpose(-1, -2), Zt)  # P = Z Q, (B, N, m)
        nQ2 = _dot(Q0, Q0)  # ‖Q‖², carried along (for the ridge)
        Acc, c = torch.zeros_like(P), torch.ones_like(nQ2)  # Q = c Q(0) + Zᵀ Acc
    elif param == "KQ":
        KQ = torch.stack((Pm, Qm))  # (2, B, d, m): both factors updated by the same ops
        m = Qm.shape[-1]
        through_G = d * (N + 2 * m) < 3 * N * m  # fewer flops through G = Rᵀ Z

        def factor_products(R: torch.Tensor) -> torch.Tensor:
            """(Rᵀ Z Q, Zᵀ R K), (2, B, d, m): −n e^{−M} times the loss gradients of K and Q."""
            A = torch.empty_like(KQ)
            if through_G:
                G = matmul(R.transpose(-1, -2), Zf)  # (B, d, d)
                matmul(G, KQ[1], out=A[0])
                matmul(G.transpose(-1, -2), KQ[0], out=A[1])
            else:
                matmul(R.transpose(-1, -2), ZQt.transpose(-1, -2), out=A[0])
                matmul(Zt, matmul(R, KQ[0]), out=A[1])
            return A
    fw = None
    for k in range(steps + 1):
        if param == "W":
            if not fast_W:
                Wz = rows_of(Pm, Zt)
        elif fast_KQ:
            Wz = rows_of(K, P.transpose(-1, -2))
        else:
            ZQt = matmul(KQ[1].transpose(-1, -2), Zt)  # (Z Q)ᵀ, (B, m, N)
            Wz = rows_of(KQ[0], ZQt)
        fw = prob.forward_Wz(Wz)
        if is_rec[k]:
            if param == "W":
                W_rec[j] = Pm + matmul(Acc.transpose(-1, -2), Zf) if fast_W else Pm
            elif fast_KQ:
                W_rec[j] = K @ _reduced_Q(c, Q0, Zt, Acc).transpose(-1, -2)
            else:
                W_rec[j] = KQ[0] @ KQ[1].transpose(-1, -2)
            loss_rec[j] = prob.loss_value(fw[3])
            mp_rec[j] = fw[4].amax(-1).flatten(1).mean(-1)
            j += 1
        if k == steps:
            break
        R, M = prob.grad_rows(fw)  # ∇L(W) = −(exp(M)/n) Rᵀ Z
        if param == "W":
            if fast_W:
                GR = rows_of(R.transpose(-1, -2), Gz)  # (Z Zᵀ) R
                g2 = _checked_sq_norm(_dot(R, GR), _rows_scale2(R, z2),
                                      lambda: _fro(matmul(R.transpose(-1, -2), Zf)) ** 2)
                gn = torch.sqrt(g2.view(-1).clamp(min=0.0)) / n  # ‖∇L‖ e^{−M}
                if not normalized:
                    c = torch.exp(M)
                elif raw_eps:
                    c = torch.exp(M) / (gn * torch.exp(M) + EPS)
                else:
                    c = 1.0 / (gn + EPS)
                t = (lr / n) * c[:, None, None]
                Acc.addcmul_(R, t)
                Wz.addcmul_(GR, t)
            else:
                G = matmul(R.transpose(-1, -2), Zf).div_(-n)
                if not normalized:
                    D = G * torch.exp(M)[:, None, None]
                elif raw_eps:
                    D = _normalize(G * torch.exp(M)[:, None, None], EPS)
                else:
                    D = _normalize(G, EPS)
                Pm = Pm - lr * D
        elif fast_KQ:
            K, P, Acc, c, nQ2 = _reduced_KQ_step(K, P, Acc, c, nQ2, Q0, Zt, Gz, z2, R, M, n, lr, ridge)
        elif normalized and not raw_eps:
            # (∇_K, ∇_Q) = (G Q, Gᵀ K)·exp(M) + 2λ(K, Q) with G = −Rᵀ Z / n, fused:
            # D = a·A + b·KQ with A = (Rᵀ Z Q, Zᵀ R K) (the −1/n folded into a) and the per-factor
            # scales of _ridge_scales; then KQ ← KQ − η D/(‖D‖ + ε), each factor separately.
            A = factor_products(R)
            if ridge > 0:
                a, b = _ridge_scales(M.view(-1, 1, 1), _fro(A), _fro(KQ), n, ridge)
                D = (A * a).addcmul_(KQ, b)
            else:
                D = A.neg_()
            KQ.addcmul_(D, -lr / (_fro(D) + EPS))
        else:
            A = factor_products(R).div_(-n)
            D = A * torch.exp(M)[:, None, None] + 2 * ridge * KQ
            if normalized:
                D = _normalize(D, EPS)
            KQ = KQ - lr * D
    if fast_W:
        Pm = Pm + matmul(Acc.transpose(-1, -2), Zf)
    if fast_KQ:
        Pm, Qm = K, _reduced_Q(c, Q0, Zt, Acc)
    elif param == "KQ":
        Pm, Qm = KQ[0], KQ[1]
    return fw[0], Pm, Qm


def _reduced_Q(c: torch.Tensor, Q0: torch.Tensor, Zt: torch.Tensor, Acc: torch.Tensor) -> torch.Tensor:
    """Q = c·Q(0) + Zᵀ Acc, (B, d, m), from the reduced coordinates of :func:`_closed_form_loop`."""
    return matmul(Zt, Acc).add_(Q0 * c)


def _reduced_KQ_step(K: torch.Tensor, P: torch.Tensor, Acc: torch.Tensor, c: torch.Tensor, nQ2: torch.Tensor,
                     Q0: torch.Tensor, Zt: torch.Tensor, Gz: torch.Tensor, z2: torch.Tensor,
                     R: torch.Tensor, M: torch.Tensor, n: int, lr: float,
                     ridge: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """One normalised (K, Q) step (exact normalisation) in the reduced coordinates
    Q = c·Q(0) + Zᵀ Acc, P = Z Q of :func:`_closed_form_loop`, with nQ2 = ‖Q‖² (kept up to date
    when ridge > 0, where it is used); returns the new (K, P, Acc, c, nQ2).

    With X = R K, the direction for Q is D_Q = a·Zᵀ X + b·Q (a, b from :func:`_ridge_scales`, as
    in the dense step), so Q ← Q − η D_Q/(‖D_Q‖ + ε) = s·Q + t·Zᵀ X with t = −η a/(‖D_Q‖ + ε),
    s = 1 − η b/(‖D_Q‖ + ε), where (using ⟨Zᵀ X, Q⟩ = ⟨X, Z Q⟩)
    ‖D_Q‖² = a² ⟨X, Z Zᵀ X⟩ + 2ab ⟨X, P⟩ + b² ‖Q‖²  and
    ‖s·Q + t·Zᵀ X‖² = s² ‖Q‖² + 2st ⟨X, P⟩ + t² ⟨X, Z Zᵀ X⟩  (the next ‖Q‖², without forming Q).
    K takes the dense step, with ∇_K ∝ Rᵀ P. Where an expansion has cancelled (the loss and ridge
    parts of D_Q balance, or the sequences' contributions to Zᵀ X do) the norm is recomputed
    from the d x m matrix (:func:`_checked_sq_norm`). Zt = Zᵀ (B, d, N).
    """
    X = rows_of(K.transpose(-1, -2), R.transpose(-1, -2))  # R K, (B, N, m)
    GX = rows_of(X.transpose(-1, -2), Gz)  # Z (Zᵀ X)
    A_K = matmul(R.transpose(-1, -2), P)  # Rᵀ Z Q, (B, d, m)
    ZtX = lambda: matmul(Zt, X)  # noqa: E731  (Zᵀ X, formed only if needed)
    nA2 = _checked_sq_norm(_dot(X, GX), _rows_scale2(X, z2), lambda: _fro(ZtX()) ** 2).clamp(min=0.0)  # ‖Zᵀ X‖²
    if ridge > 0:
        Mv = M.view(-1, 1, 1)
        aK, bK = _ridge_scales(Mv, _fro(A_K), _fro(K), n, ridge)
        D_K = A_K.mul_(aK).addcmul_(K, bK)
        a, b = _ridge_scales(Mv, torch.sqrt(nA2), torch.sqrt(nQ2), n, ridge)
        xp = _dot(X, P)  # ⟨Zᵀ X, Q⟩
        terms = a * a * nA2 + b * b * nQ2
        nD2 = _checked_sq_norm(terms + 2 * a * b * xp, terms,
                               lambda: _fro(a * ZtX() + b * _reduced_Q(c, Q0, Zt, Acc)) ** 2)
        nD = torch.sqrt(nD2.clamp(min=0.0))  # ‖D_Q‖
        f = -lr / (nD + EPS)
        s, t = 1 + f * b, f * a
        P, Acc, c = (P * s).addcmul_(GX, t), (Acc * s).addcmul_(X, t), c * s
        terms = s * s * nQ2 + t * t * nA2
        nQ2 = _checked_sq_norm(terms + 2 * s * t * xp, terms, lambda: _fro(_reduced_Q(c, Q0, Zt, Acc)) ** 2)
    else:  # D = −(Rᵀ P, Zᵀ X): s = 1
        D_K = A_K.neg_()
        t = lr / (torch.sqrt(nA2) + EPS)
        P, Acc = P.addcmul(GX, t), Acc.addcmul(X, t)
    return K.addcmul_(D_K, -lr / (_fro(D_K) + EPS)), P, Acc, c, nQ2

