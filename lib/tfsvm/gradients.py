"""Closed-form gradients of the attention ERM (A, App. A.3 eqs. (13)–(15)) and Lemma 4's constant.

For a linear head v, with γ_i = Y_i X_i v (the token scores of sequence i), s_i = S(X_i W z_i)
and u_i = γ_iᵀ s_i,

    ∇L(W) = (1/n) Σ_i ℓ′(u_i) · X_iᵀ (diag(s_i) − s_i s_iᵀ) γ_i z_iᵀ.            (13)–(15)

For W = K Qᵀ the chain rule gives ∇_K L = ∇L(W) Q and ∇_Q L = ∇L(W)ᵀ K.

Computing the gradient *scale-free*
-----------------------------------
Once ‖W‖ is large the softmax saturates, s_it underflows for non-selected tokens and the
raw gradient (13) becomes smaller than any float64 (it decays like e^{−c‖W‖}). Normalised GD
only needs its *direction*, so :func:`grad_W` can return ``(G, log_scale)`` with
∇L(W) = exp(log_scale)·G and ‖G‖ of order one (:func:`scaled_logit_weights`). It uses

    (diag(s) − ssᵀ)γ = s ⊙ (γ − sᵀγ),   (s ⊙ (γ − sᵀγ))_t = Σ_τ s_t s_τ (γ_t − γ_τ),

and forms each pair term ℓ′(u_i) s_it s_iτ (γ_it − γ_iτ) from its logarithm
log(−ℓ′(u_i)) + log s_it + log s_iτ + log|γ_it − γ_iτ| (log-softmax never underflows), then
factors out the largest one per trial. No term suffers cancellation or underflow before the
factoring, whatever ‖W‖ is and whichever token (globally or only locally optimal) the softmax
selects. (Writing γ_t − u with u = sᵀγ instead would cancel catastrophically: u equals the
selected token's score to within e^{−c‖W‖}.) For long sequences (T > ``PAIRWISE_MAX_T``) an
O(T) equivalent is used (:func:`softmax_score_terms`): γ_t − u = (γ_t − γ_r) + δ with r the
currently selected token and δ = γ_r − u obtained as a difference of two log-sum-exps. The same kernel handles several queries per
sequence (A §7: Z of shape (…, n, K, d), labels (…, n, K)) and the causal mask (token t hidden
from output k when t > k).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

from ._validation import check_labels
from .attention import _Inputs, _check_Zseq, _logits, _tokens, causal_mask
from .errors import ShapeError
from .losses import Loss, get_loss

__all__ = ["grad_W", "grad_KQ", "lipschitz_W", "LinearProblem", "pair_constants", "scaled_logit_weights", "softmax_score_terms"]


_LOG_ZERO = -1e300  # stands for log 0 in pair_constants: keeps every pair term finite (no NaN from −inf − (−inf))


def pair_constants(gam: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """log|γ_t − γ_τ| and sign(γ_t − γ_τ), shape (…, T, T); ties and the diagonal get
    log = −1e300 (exp → 0) and sign 0."""
    dg = gam.unsqueeze(-1) - gam.unsqueeze(-2)
    return torch.log(dg.abs()).clamp(min=_LOG_ZERO), torch.sign(dg)


#: Up to this many tokens per sequence the pairwise O(T²) kernel is used (fewest tensor ops);
#: above it the O(T) reference-token kernel (fewer flops). Both are exact; see the module docstring.
PAIRWISE_MAX_T = 8


def softmax_score_terms(ls: torch.Tensor, gam: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """O(T) companion of the pairwise kernel: (u, log|γ − u|, sign(γ − u)) for log-probabilities
    ``ls`` and scores ``gam`` (…, T), u = Σ_t s_t γ_t, accurate for saturated softmaxes.

    With r = argmax_t s_t, δ = Σ_t s_t (γ_r − γ_t) = A − B, where A (B) sums over the tokens
    scoring below (above) r, both as log-sum-exps; then γ_t − u = (γ_t − γ_r) + δ (= δ exactly
    when γ_t = γ_r). Near a saturated selection δ is tiny and known to full relative precision,
    and |γ_t − γ_r| = O(1) for the other tokens, so nothing cancels. Masked tokens (ls = −inf)
    drop out.
    """
    ref = ls.argmax(-1, keepdim=True)
    gref = gam.gather(-1, ref)
    dgam = gam - gref
    tie = dgam == 0
    w = ls + torch.log(dgam.abs())
    ninf = torch.full_like(w, -math.inf)
    lA = torch.logsumexp(torch.where(dgam < 0, w, ninf), dim=-1)
    lB = torch.logsumexp(torch.where(dgam > 0, w, ninf), dim=-1)
    lmax, lmin = torch.maximum(lA, lB), torch.minimum(lA, lB)
    fin = torch.isfinite(lmax)
    ratio = torch.where(fin, torch.exp(lmin - torch.where(fin, lmax, 0.0)), 0.0)
    logd = lmax + torch.log1p(-ratio)  # log|δ|
    sd = torch.where(lA >= lB, 1.0, -1.0)
    delta = sd * torch.exp(logd)
    u = gref.squeeze(-1) - delta
    diff = dgam + delta.unsqueeze(-1)
    logabs = torch.where(tie, logd.unsqueeze(-1), torch.log(diff.abs()))
    sign = torch.where(tie, sd.unsqueeze(-1), torch.sign(diff))
    return u, logabs, sign


def scaled_logit_weights(
    ls: torch.Tensor, gam: torch.Tensor, loss: Loss, pairs: tuple | None = None, batch_dims: int = 1
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Scale-free logit gradient: returns (q, M, u, s) with

    ∂/∂a_t ℓ(γᵀ S(a)) = ℓ′(u) s_t (γ_t − u) = −exp(M) · q_t,   u = γᵀs,

    for log-probabilities ``ls`` and scores ``gam`` (…, T). M holds one value per trial (the
    first ``batch_dims`` axes); q is O(1). ``pairs`` = :func:`pair_constants` of ``gam`` (used
    when T <= ``PAIRWISE_MAX_T``; recomputed if None). Masked tokens (ls = −inf) drop out.
    """
    s = torch.exp(ls)
    if ls.shape[-1] > PAIRWISE_MAX_T:
        u, logabs, sign = softmax_score_terms(ls, gam)
        logq = ls + logabs + loss.log_neg_deriv(u).unsqueeze(-1)
        dims = tuple(range(batch_dims, logq.ndim))
        M = logq.amax(dim=dims, keepdim=True)
        M = torch.where(torch.isfinite(M), M, 0.0)
        q = sign * torch.exp(logq - M)
        return q, M.view(M.shape[:batch_dims]), u, s
    LD, SG = pair_constants(gam) if pairs is None else pairs
    u = (s * gam).sum(-1)
    lp = loss.log_neg_deriv(u)
    P = (ls.unsqueeze(-1) + ls.unsqueeze(-2)) + (LD + lp[..., None, None])  # (…, T, T), never NaN
    dims = tuple(range(batch_dims, P.ndim))
    M = P.amax(dim=dims, keepdim=True)  # finite: LD >= −1e300 and the diagonal has log s_t + log s_t > −inf
    q = (SG * torch.exp(P - M)).sum(-1)
    return q, M.view(M.shape[:batch_dims]), u, s


class LinearProblem:
    """Constants of one (batched) linear-head problem, and the scale-free gradient kernel.

    Tensors (torch float64, on one device), with a mandatory trial dimension B:
    X (B, n, T, d), Zq (B, n, K, d) queries, Yq (B, n, K) labels, v (B, d).
    ``causal`` masks token t for output k when t > k (needs K = T).
    The loss normalisation is (1/n) Σ_i Σ_k (eq. (10); K = 1 is (W-ERM)).
    """

    def __init__(self, X: torch.Tensor, Zq: torch.Tensor, Yq: torch.Tensor, v: torch.Tensor, loss: Loss, causal: bool = False):
        self.X, self.Zq, self.Yq, self.v, self.loss = X, Zq, Yq, v, loss
        self.n = X.shape[-3]
        self.causal = causal
        T = X.shape[-2]
        self.gam = Yq.unsqueeze(-1) * (X * v[:, None, None, :]).sum(-1).unsqueeze(-2)  # (B, n, K, T)
        self.mask = causal_mask(T, X.device) if causal else None
        B, n, K, d = Zq.shape
        self.single = K == 1
        self.Zflat = Zq.reshape(B, n * K, d)
        if self.single:  # (B, n, ...) layouts without the K axis: cheaper kernels
            self.gam = self.gam.squeeze(-2)
        self.pairs = pair_constants(self.gam) if T <= PAIRWISE_MAX_T else None

    def _shape(self, t: torch.Tensor) -> torch.Tensor:
        """Give single-query results the (B, n, 1, …) layout of the general case."""
        return t.unsqueeze(2) if self.single else t

    def log_probs(self, W: torch.Tensor) -> torch.Tensor:
        """log s_ikt, (B, n, K, T) (−inf on masked tokens); (B, n, T) internally when K = 1."""
        if self.single:
            Wz = torch.bmm(self.Zflat, W.transpose(-1, -2))  # rows (W z_i)ᵀ, (B, n, d)
            a = (self.X @ Wz.unsqueeze(-1)).squeeze(-1)  # a_it = x_itᵀ W z_i, (B, n, T)
        else:
            a = _logits(self.X, W, self.Zq)
            if self.mask is not None:
                a = a.masked_fill(self.mask, -math.inf)
        return torch.log_softmax(a, dim=-1)

    def log_probs_Wz(self, Wz: torch.Tensor) -> torch.Tensor:
        """log s from the rows (W z_ik)ᵀ, Wz (B, nK, d) (the logits only see W through W z)."""
        if self.single:
            a = (self.X @ Wz.unsqueeze(-1)).squeeze(-1)  # (B, n, T)
        else:
            B, n, K, d = self.Zq.shape
            a = Wz.reshape(B, n, K, d) @ self.X.transpose(-1, -2)  # (B, n, K, T)
            if self.mask is not None:
                a = a.masked_fill(self.mask, -math.inf)
        return torch.log_softmax(a, dim=-1)

    def forward_Wz(self, Wz: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """:meth:`forward` from the rows (W z_ik)ᵀ (B, nK, d) instead of W."""
        ls = self.log_probs_Wz(Wz)
        q, M, u, s = scaled_logit_weights(ls, self.gam, self.loss, self.pairs)
        return ls, q, M, u, s

    def grad_rows(self, fw: tuple) -> tuple[torch.Tensor, torch.Tensor]:
        """(R (B, nK, d), log_scale (B,)) with ∇L(W) = −exp(log_scale)/n · Rᵀ Zflat: the gradient
        without forming any d x d matrix (r_ik = Σ_t q_ikt x_it)."""
        q, M = fw[1], fw[2]
        if self.single:
            r = (q.unsqueeze(-1) * self.X).sum(-2)  # (B, n, d)
        else:
            r = (q @ self.X).reshape(q.shape[0], -1, self.X.shape[-1])  # (B, nK, d)
        return r, M

    def forward(self, W: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """(log s, q, M, u, s) at W: log-probabilities, scaled logit weights (see
        :func:`scaled_logit_weights`), u_ik = γ_ikᵀ s_ik and the probabilities."""
        ls = self.log_probs(W)
        q, M, u, s = scaled_logit_weights(ls, self.gam, self.loss, self.pairs)
        return ls, q, M, u, s

    def loss_value(self, u: torch.Tensor) -> torch.Tensor:
        """(1/n) Σ_i Σ_k ℓ(u_ik), (B,)."""
        vals = self.loss.value(u)
        return vals.mean(-1) if self.single else vals.sum(-1).mean(-1)

    def grad(self, W: torch.Tensor, fw: tuple | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Scale-free gradient: (G (B, d, d), log_scale (B,)) with ∇L(W) = exp(log_scale)·G."""
        r, M = self.grad_rows(self.forward(W) if fw is None else fw)
        G = torch.bmm(r.transpose(-1, -2), self.Zflat).div_(-self.n)  # (B, d, d)
        return G, M


def _problem_from_arrays(X, Z, Y, v, loss, causal, inp: _Inputs) -> tuple[LinearProblem, bool, np.ndarray]:
    Xa, Xo = _tokens(X, inp)
    Zo, seq = _check_Zseq(Z, Xa, inp)
    Za = inp.check(Zo, "Z")[0]
    Ya = np.asarray(Y.detach().cpu().numpy() if isinstance(Y, torch.Tensor) else Y)
    if seq:
        Ya = np.asarray(Ya, dtype=np.float64)
        if Ya.shape != Za.shape[:-1] or not np.all(np.isin(Ya, (-1.0, 1.0))):
            raise ShapeError(f"Y must have shape {Za.shape[:-1]} with entries ±1 for sequence queries; got shape {Ya.shape}")
    else:
        Ya = check_labels(Ya, Xa, "Y")
    if causal and (not seq or Za.shape[-2] != Xa.shape[-2]):
        raise ShapeError(f"causal gradients need Z of shape {Xa.shape} (one query per position)")
    va, vo = inp.check(v, "v", (1, 2))
    d, bs = Xa.shape[-1], Xa.shape[:-3]
    if va.shape not in ((d,), bs + (d,)):
        raise ShapeError(f"v has shape {va.shape} but X has shape {Xa.shape}; expected ({d},) or {bs + (d,)}")
    Xt, Zt, Yt, vt = (inp.tensor(a) for a in (Xo, Zo, Ya, vo))
    if not bs:
        Xt, Zt, Yt = Xt[None], Zt[None], Yt[None]
    B = Xt.shape[0]
    vt = vt.expand(B, d) if vt.ndim == 1 else vt
    if not seq:
        Zt, Yt = Zt.unsqueeze(-2), Yt.unsqueeze(-1)
    return LinearProblem(Xt, Zt, Yt, vt, get_loss(loss), causal=causal), bool(bs), Xa


def _W_tensor(W: Any, Xa: np.ndarray, inp: _Inputs, name: str = "W") -> torch.Tensor:
    Wa, Wo = inp.check(W, name, (2, 3))
    d, bs = Xa.shape[-1], Xa.shape[:-3]
    if Wa.shape != (d, d) and Wa.shape != bs + (d, d):
        raise ShapeError(f"{name} has shape {Wa.shape} but X has shape {Xa.shape}; expected ({d}, {d}) or {bs + (d, d)}")
    Wt = inp.tensor(Wo)
    return Wt.expand((Xa.shape[0] if bs else 1, d, d)) if Wt.ndim == 2 else Wt


def grad_W(
    X: Any, Z: Any, Y: Any, v: Any, W: Any, loss: str | Loss = "logistic", scaled: bool = False, causal: bool = False
) -> Any:
    """Closed-form ∇L(W) of (W-ERM), eqs. (13)–(15) of A.

    Parameters
    ----------
    X (…, n, T, d), Z (…, n, d), Y (…, n), v (d,) or (…, d), W (d, d) or (…, d, d)
        Data, head and key-query matrix; ``…`` is an optional trial dimension B.
        Z may also be (…, n, K, d) with Y (…, n, K): the sequence loss (10) (then ``causal=True``
        gives the causal loss, K = T).
    scaled : bool
        If True return ``(G, log_scale)`` with ∇L(W) = exp(log_scale)·G, ‖G‖ = O(1) even when
        ∇L underflows (see the module docstring).

    Returns float64 numpy (torch if any input is a torch tensor), shape W.shape.
    """
    inp = _Inputs()
    prob, batched, Xa = _problem_from_arrays(X, Z, Y, v, loss, causal, inp)
    with torch.no_grad():
        Wt = _W_tensor(W, Xa, inp)
        G, M = prob.grad(Wt)
    if not batched:
        G, M = G[0], M[0]
    if scaled:
        return inp.out(G), inp.out(M)
    return inp.out(G * torch.exp(M)[..., None, None])


def grad_KQ(X: Any, Z: Any, Y: Any, v: Any, K: Any, Q: Any, loss: str | Loss = "logistic") -> tuple[Any, Any]:
    """(∇_K L, ∇_Q L) of (KQ-ERM) at W = K Qᵀ: ∇_K L = ∇L(W) Q, ∇_Q L = ∇L(W)ᵀ K.

    K, Q of shape (d, m) or (…, d, m)."""
    inp = _Inputs()
    prob, batched, Xa = _problem_from_arrays(X, Z, Y, v, loss, False, inp)
    d, bs = Xa.shape[-1], Xa.shape[:-3]
    mats = []
    for name, M_ in (("K", K), ("Q", Q)):
        a, o = inp.check(M_, name, (2, 3))
        if a.shape[-2] != d or a.shape[:-2] not in ((), bs):
            raise ShapeError(f"{name} has shape {a.shape}; expected ({d}, m) or {bs + (d, 'm')}")
        mats.append((a, inp.tensor(o)))
    if mats[0][0].shape[-1] != mats[1][0].shape[-1]:
        raise ShapeError(f"K has shape {mats[0][0].shape} and Q has shape {mats[1][0].shape}: their ranks m differ")
    Kt, Qt = mats[0][1], mats[1][1]
    B = Xa.shape[0] if bs else 1
    Kt = Kt.expand((B,) + Kt.shape[-2:]) if Kt.ndim == 2 else Kt
    Qt = Qt.expand((B,) + Qt.shape[-2:]) if Qt.ndim == 2 else Qt
    with torch.no_grad():
        G, M = prob.grad(Kt @ Qt.transpose(-1, -2))
        G = G * torch.exp(M)[:, None, None]
        gK, gQ = G @ Qt, G.transpose(-1, -2) @ Kt
    if not batched:
        gK, gQ = gK[0], gQ[0]
    return inp.out(gK), inp.out(gQ)


def lipschitz_W(data: Any, loss: str | Loss = "logistic") -> float | np.ndarray:
    """Lemma 4 (eq. (3)) of A: ∇L(W) is L_W-Lipschitz with

        L_W = (1/n) Σ_i ‖v‖ ‖z_i‖² ‖X_i‖³ (M0 ‖v‖ ‖X_i‖ + 3 M1)      (spectral norms).

    ``data`` is an :class:`~tfsvm.data.AttentionData` or a tuple (X, Z, Y, v). (M0, M1) are the
    loss constants on the reachable interval |u| ≤ ‖v‖ max_it ‖x_it‖ (for the logistic loss
    1/4 and 1). Returns a float, or one value per trial for batched data. Lemma 8: plain GD
    with η ≤ 2/L_W decreases L monotonically (L_K = ‖Q‖ L_W and L_Q = ‖K‖ L_W for (K,Q)).
    """
    if isinstance(data, (tuple, list)):
        from .data import AttentionData

        data = AttentionData(*data)
    X, Z, v = data.X, data.Z, data.v
    ls = get_loss(loss)
    vnorm = np.linalg.norm(v, axis=-1)  # (…,)
    Xnorm = np.linalg.norm(X, ord=2, axis=(-2, -1))  # spectral, (…, n)
    znorm2 = np.sum(Z * Z, axis=-1)  # (…, n)
    bound = float(np.max(vnorm[..., None] * np.max(np.linalg.norm(X, axis=-1), axis=-1)))
    M0, M1 = ls.constants(bound)
    a = vnorm[..., None] * znorm2 * Xnorm**3
    b = M0 * vnorm[..., None] * Xnorm + 3 * M1
    L = np.mean(a * b, axis=-1)
    return float(L) if np.ndim(L) == 0 else L
