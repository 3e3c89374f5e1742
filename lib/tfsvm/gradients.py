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

    (diag(s) − ssᵀ)γ = s ⊙ (γ − sᵀγ),   (s ⊙ (γ − sᵀγ))_t = Σ_τ s_t s_τ (γ_t − γ_τ).

Writing γ_t − u with u = sᵀγ would cancel catastrophically (u equals the selected token's score
to within e^{−c‖W‖}), so every term keeps its exact score difference. With r the currently
selected token (largest s_t) the pair weights factor as

    s_t s_τ = e^{2 L1} · h_t h_τ,   h_τ = exp(log s_τ − L1) ∈ [0, 1],  h_r = 1,

and each pair term is assembled from one h (≤ 1) and one k_t = exp(log s_t + L1 + log(−ℓ′) − M)
(≤ 1 for t ≠ r), where M, one per trial, is the logarithm of the largest pair weight
−ℓ′ · s_r s_runner-up over the sequences (:func:`scaled_logit_weights`). Log-softmax never
underflows, the score differences γ_t − γ_r are exact, and the row of r is summed from its own
pair terms, so nothing cancels or underflows before the factoring, whatever ‖W‖ is and
whichever token (globally or only locally optimal) the softmax selects. The cost is O(T) per
sequence with 2T exponentials. The same kernel handles several queries per
sequence (A §7: Z of shape (…, n, K, d), labels (…, n, K)) and the causal mask (token t hidden
from output k when t > k).
"""

from __future__ import annotations

import math
from typing import Any, Callable, NamedTuple

import numpy as np
import torch

from ._linalg import feature_block, feature_major_rows, matmul
from ._validation import as_labels, check_labels
from ._attention_inputs import _check_Zseq, _Inputs, _tokens
from .attention import causal_mask
from .errors import ShapeError
from .losses import Loss, get_loss

__all__ = ["grad_W", "grad_KQ", "lipschitz_W", "Forward", "LinearProblem", "scaled_logit_weights"]


class Forward(NamedTuple):
    """The quantities of one forward pass that the gradient needs (:func:`scaled_logit_weights`).

    ``q`` : scaled logit weights, ∂ℓ(u)/∂a_t = −exp(log_scale)·q_t; ``log_scale`` : M, one per
    trial; ``margins`` : u = γᵀs (Y h(p) for a nonlinear head); ``probs`` : s = softmax(a);
    ``log_probs`` : log s.
    """

    q: torch.Tensor
    log_scale: torch.Tensor
    margins: torch.Tensor
    probs: torch.Tensor
    log_probs: torch.Tensor


def scaled_logit_weights(
    a: torch.Tensor, gam: torch.Tensor | Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor]], loss: Loss,
    batch_dims: int = 1, dim: int = -1,
) -> Forward:
    """Softmax of the logits ``a`` and the scale-free logit gradient: returns
    :class:`Forward` (q, M, u, s, log s) with

    ∂/∂a_t ℓ(u) = ℓ′(u) s_t (γ_t − sᵀγ) = −exp(M) · q_t,   s = softmax(a),

    for token scores ``gam`` (the shape of a) and u = γᵀs; for a nonlinear head ``gam`` is a
    function s ↦ (γ, u) giving the scores of ∇h at the attention output and the head's output u.
    ``dim`` is the token axis (−1, or 0 for the token-major layout (T, …) of the trainers' hot
    loop, where every operation runs over contiguous blocks of all sequences); M holds one value
    per trial (the first ``batch_dims`` of the other axes) and q is O(|γ|). Masked tokens
    (a = −inf) drop out.

    The reference-token form (module docstring), with r = argmax_t a_t, h_τ = s_τ/s_r =
    exp(a_τ − a_r) ∈ [0, 1] and k_τ = −ℓ′ s_τ s_r e^{−M} (k_r := 0):

        q_t = k_t [(γ_t − γ_r) Σ_τ h_τ − Σ_τ (γ_τ − γ_r) h_τ]   (t ≠ r),   q_r = Σ_τ (γ_r − γ_τ) k_τ.

    M = the largest log k_τ over the rows of a trial, so every k lies in [0, 1] and one is 1;
    2T exponentials per row, each score difference exact.
    """
    dim = dim % a.ndim
    trial_axes = [ax for ax in range(a.ndim) if ax != dim][:batch_dims]
    amax, r = a.max(dim, keepdim=True)
    sh = a - amax  # log(s_t / s_r)
    h = torch.exp(sh)  # h_r = 1, so 1 + Σ′h = Σh
    hsum = h.sum(dim, keepdim=True)
    L1 = -torch.log(hsum)  # log s_r
    ls = sh.add_(L1)
    s = h / hsum
    if callable(gam):
        gam, u = gam(s)
    else:
        u = (s * gam).sum(dim)
    E = (ls + (L1 + loss.log_neg_deriv(u).unsqueeze(dim))).scatter_(dim, r, -math.inf)  # log of −ℓ′ s_t s_r, t ≠ r
    M = E.amax(dim=tuple(ax for ax in range(a.ndim) if ax not in trial_axes), keepdim=True)
    M = torch.where(torch.isfinite(M), M, 0.0)
    k = E.sub_(M).exp_()
    dg = gam - gam.gather(dim, r)  # γ_t − γ_r, exact (0 at r)
    q = torch.addcmul(-(dg * h).sum(dim, keepdim=True), dg, hsum).mul_(k)
    q.scatter_(dim, r, -(dg * k).sum(dim, keepdim=True))
    return Forward(q, M.view([a.shape[ax] for ax in trial_axes]), u, s, ls)


def _feature_major(X: torch.Tensor) -> torch.Tensor:
    """(B, n, T, k) → (T, k, B, n), contiguous: each (token, feature) pair one block over all
    sequences, so the per-token sums below run over long contiguous rows (for T ≈ 5 and k ≈ 15 the
    (B, n, T, k) products of the same sums cost about twice as much)."""
    return X.permute(2, 3, 0, 1).contiguous()


def _mix(XF: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """Σ_t w_it x_it, (k, B, n), for token weights w (T, B, n) and feature-major tokens XF (T, k, B, n)."""
    r = XF[0] * w[0]
    for t in range(1, w.shape[0]):
        r.addcmul_(XF[t], w[t])
    return r


def _token_dots(XF: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
    """The inner products x_itᵀ c_i (logits for c_i = W z_i, head scores for c_i = ∇ψ), (T, B, n), for feature-major tokens XF (T, k, B, n) and feature-major c (k, B, n)."""
    a = XF[:, 0] * c[0]
    for j in range(1, c.shape[0]):
        a.addcmul_(XF[:, j], c[j])
    return a


class LinearProblem:
    """Constants of one (batched) attention ERM with a fixed head, and the scale-free gradient kernel.

    Tensors (torch float64, on one device), with a mandatory trial dimension B:
    X (B, n, T, d), Zq (B, n, K, d) queries, Yq (B, n, K) labels, v (B, d) a linear head.
    A nonlinear ``head`` (:class:`~tfsvm.heads.Head`; v is then ignored) replaces the fixed scores
    γ_ikt = Y_ik x_itᵀ v by those of its gradient at the attention output p_ik = X_iᵀ s_ik,
    γ_ikt = Y_ik x_itᵀ ∇h(p_ik), and u_ik = Y_ik h(p_ik): the chain rule through the softmax is the
    same, so one kernel serves every head. The head is evaluated as h = ψ∘F with linear token
    features F (:meth:`~tfsvm.heads.Head.features`, computed once; for the MLP head F(x) = Vᵀx).
    ``causal`` masks token t for output k when t > k (needs K = T). The loss normalisation is
    (1/n) Σ_i Σ_k (eq. (10); K = 1 is (W-ERM)).

    Layouts. With one query per sequence (K = 1, the paper's figures) the hot path runs
    token-major: logits, scores and q are (T, B, n), tokens and features are held feature-major
    (T, k, B, n), and row matrices such as W z_i and the gradient rows r_i are (B, n, d) views of
    (d, B, n) blocks (:func:`feature_major_rows`; pass W z in that form to avoid a copy). The
    sequence case keeps the natural (B, n, K, T) layout.
    """

    def __init__(self, X: torch.Tensor, Zq: torch.Tensor, Yq: torch.Tensor, v: torch.Tensor | None, loss: Loss,
                 causal: bool = False, head: Any = None):
        self.X, self.Zq, self.Yq, self.v, self.loss, self.head = X, Zq, Yq, v, loss, head
        self.n = X.shape[-3]
        self.causal = causal
        T = X.shape[-2]
        self.mask = causal_mask(T, X.device) if causal else None
        B, n, K, d = Zq.shape
        self.single = K == 1
        self.Zflat = Zq.reshape(B, n * K, d)
        if self.single:
            self._XF = _feature_major(X)
        if head is None:
            gam = Yq.unsqueeze(-1) * (X * v[:, None, None, :]).sum(-1).unsqueeze(-2)  # (B, n, K, T)
            self.gam = gam.squeeze(-2).permute(2, 0, 1).contiguous() if self.single else gam
        else:
            self.gam = self._head_scores
            self._Y = Yq.squeeze(-1) if self.single else Yq
            F = head.features(X)  # (B, n, T, k), once: each step only mixes them
            self._F = _feature_major(F) if self.single else F

    def _head_scores(self, s: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(γ, u) of a nonlinear head h = ψ∘F at the probabilities s: with z = Σ_t s_t F(x_t),
        u = Y ψ(z) and γ_t = Y F(x_t)ᵀ∇ψ(z) = Y x_tᵀ∇h(p) (see the class docstring)."""
        if self.single:  # token-major s and γ (T, B, n)
            f, g = self.head.feature_value_and_grad(feature_major_rows(_mix(self._F, s)))
            return self._Y * _token_dots(self._F, feature_block(g)), self._Y * f
        f, g = self.head.feature_value_and_grad(s @ self._F)
        return self._Y.unsqueeze(-1) * (g @ self._F.transpose(-1, -2)), self._Y * f

    def _shape(self, t: torch.Tensor) -> torch.Tensor:
        """Give single-query results the (B, n, 1, …) layout of the general case."""
        return t.unsqueeze(2) if self.single else t

    def logits(self, W: torch.Tensor) -> torch.Tensor:
        """a_ikt = x_itᵀ W z_ik, (B, n, K, T) (−inf on masked tokens); token-major (T, B, n)
        when K = 1."""
        return self.logits_Wz(matmul(self.Zflat, W.transpose(-1, -2)))

    def logits_Wz(self, Wz: torch.Tensor) -> torch.Tensor:
        """The logits from the rows (W z_ik)ᵀ, Wz (B, nK, d) (they see W only through W z)."""
        if self.single:
            return _token_dots(self._XF, feature_block(Wz))
        B, n, K, d = self.Zq.shape
        a = Wz.reshape(B, n, K, d) @ self.X.transpose(-1, -2)  # (B, n, K, T)
        return a.masked_fill(self.mask, -math.inf) if self.mask is not None else a

    def forward_logits(self, a: torch.Tensor) -> Forward:
        """:class:`Forward` from the logits (in the layout of :meth:`logits`): q in the layout of
        the logits, probabilities and log-probabilities (B, n, K, T), or (B, n, T) views when
        K = 1, and the margins u_ik = Y_ik h(p_ik) (= γ_ikᵀ s_ik for a linear head)."""
        if not self.single:
            return scaled_logit_weights(a, self.gam, self.loss)
        fw = scaled_logit_weights(a, self.gam, self.loss, dim=0)
        return fw._replace(probs=fw.probs.permute(1, 2, 0), log_probs=fw.log_probs.permute(1, 2, 0))

    def forward_Wz(self, Wz: torch.Tensor) -> Forward:
        """:meth:`forward` from the rows (W z_ik)ᵀ (B, nK, d) instead of W."""
        return self.forward_logits(self.logits_Wz(Wz))

    def forward(self, W: torch.Tensor) -> Forward:
        """:class:`Forward` at W (:meth:`forward_logits`)."""
        return self.forward_logits(self.logits(W))

    def grad_rows(self, fw: Forward) -> tuple[torch.Tensor, torch.Tensor]:
        """(R (B, nK, d), log_scale (B,)) with ∇L(W) = −exp(log_scale)/n · Rᵀ Zflat: the gradient
        without forming any d x d matrix (r_ik = Σ_t q_ikt x_it; held feature-major when K = 1)."""
        q, M = fw.q, fw.log_scale
        if self.single:
            return feature_major_rows(_mix(self._XF, q)), M
        return (q @ self.X).reshape(q.shape[0], -1, self.X.shape[-1]), M

    def loss_value(self, u: torch.Tensor) -> torch.Tensor:
        """(1/n) Σ_i Σ_k ℓ(u_ik), (B,)."""
        vals = self.loss.value(u)
        return vals.mean(-1) if self.single else vals.sum(-1).mean(-1)

    def grad(self, W: torch.Tensor, fw: Forward | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Scale-free gradient: (G (B, d, d), log_scale (B,)) with ∇L(W) = exp(log_scale)·G."""
        r, M = self.grad_rows(self.forward(W) if fw is None else fw)
        G = matmul(r.transpose(-1, -2), self.Zflat).div_(-self.n)  # (B, d, d)
        return G, M


def _problem_from_arrays(X, Z, Y, v, loss, causal, inp: _Inputs) -> tuple[LinearProblem, bool, np.ndarray]:
    Xa, Xo = _tokens(X, inp)
    Zo, seq = _check_Zseq(Z, Xa, inp)
    Za = inp.check(Zo, "Z")[0]
    Ya = np.asarray(Y.detach().cpu().numpy() if isinstance(Y, torch.Tensor) else Y)
    if seq:
        if Ya.shape != Za.shape[:-1]:
            raise ShapeError(f"Y must have shape {Za.shape[:-1]} (one label per sequence query); got shape {Ya.shape}")
        Ya = as_labels(Ya)
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
