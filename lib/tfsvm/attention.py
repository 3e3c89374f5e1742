"""The one-layer attention model of A (eqs. (1a), (2), (10)) and B's prompt model, in torch float64.

Conventions (ARCHITECTURE.md): logits a_it = x_itᵀ W z_i, probabilities s_i = S(X_i W z_i),
attention output r_i = X_iᵀ s_i, prediction f_i = h(r_i). With W = K Qᵀ the (K,Q) model is the
same function of W. Every tensor may carry one leading *trial* dimension B (all arrays then
have it: X (B, n, T, d), Z (B, n, d), Y (B, n), W (B, d, d) or a shared (d, d)).

Sequence outputs (A §7): a query per output position, Z (…, n, K, d), gives probabilities
(…, n, K, T); the causal variant masks tokens t > k for output k (eq. (10), K = T).

B's prompt model: f(X) = vᵀXᵀS(X Wᵀ p), i.e. keys k_t = W x_t and logits a_t = k_tᵀ p.

The public functions accept numpy arrays or torch tensors: with any torch input the result is a
torch tensor (differentiable), otherwise float64 numpy. They validate shapes and values and raise
:mod:`tfsvm.errors` — once, at the door, through the input layer :mod:`tfsvm._attention_inputs` —
then call the unchecked torch kernels (the underscore functions), which the trainers and the
rest of the library use directly on data they have already checked.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

from ._attention_inputs import DTYPE  # noqa: F401 (the package-wide dtype, re-exported for the trainers)
from ._attention_inputs import (_as_head, _check_KQ, _check_loss, _check_Zseq, _checked_XWZ, _Inputs, _linear_inputs,
                                _prompt_args, _seq_inputs, _tokens)
from ._validation import check_labels, check_queries
from .errors import ShapeError
from .heads import Head
from .losses import Loss

__all__ = [
    "softmax",
    "log_softmax",
    "attention_logits",
    "attention_probs",
    "attention_output",
    "causal_mask",
    "causal_probs",
    "erm_loss",
    "seq_loss",
    "causal_loss",
    "optimal_loss",
    "excess_loss",
    "log_excess_loss",
    "prompt_probs",
    "prompt_output",
    "prompt_loss",
]

# ---------------------------------------------------------------------------------------
# kernels (torch, unchecked)
# ---------------------------------------------------------------------------------------


def _logits(X: torch.Tensor, W: torch.Tensor, Zq: torch.Tensor) -> torch.Tensor:
    """a_ikt = x_itᵀ W z_ik for X (…, n, T, d), W (…, d, d) or (d, d), Zq (…, n, K, d) → (…, n, K, T)."""
    n, K = Zq.shape[-3], Zq.shape[-2]
    # rows (W z_ik)ᵀ as one product per trial, (…, nK, d) @ (…, d, d): no per-sequence copies of W
    Wz = (Zq.flatten(-3, -2) @ W.transpose(-1, -2)).unflatten(-2, (n, K))  # (…, n, K, d)
    return Wz @ X.transpose(-1, -2)


def causal_mask(T: int, device: Any = "cpu") -> torch.Tensor:
    """Boolean (T, T) mask, True where token t is *hidden* from output k (t > k)."""
    return torch.triu(torch.ones(T, T, dtype=torch.bool, device=device), diagonal=1)


def _masked(a: torch.Tensor, causal: bool) -> torch.Tensor:
    if not causal:
        return a
    return a.masked_fill(causal_mask(a.shape[-1], a.device), -math.inf)


def _probs(X: torch.Tensor, W: torch.Tensor, Z: torch.Tensor, seq: bool = False, causal: bool = False) -> torch.Tensor:
    Zq = Z if seq else Z.unsqueeze(-2)
    s = torch.softmax(_masked(_logits(X, W, Zq), causal), dim=-1)
    return s if seq else s.squeeze(-2)


class SoftmaxMix(torch.autograd.Function):
    """r = Xᵀ softmax(a): the attention output (2) of A from logits ``a`` (…, K, T) and tokens
    ``X`` (…, T, d), returning (r (…, K, d), s (…, K, T)), with a cancellation-free backward.

    With upstream gradient ∂L/∂r and g_t = x_tᵀ ∂L/∂r, the logit gradient is
    ∂L/∂a_t = s_t (g_t − Σ_τ s_τ g_τ). Autograd through ``torch.softmax`` evaluates the bracket as
    a difference of two nearly equal numbers: once the softmax saturates (s_top = 1 in float64)
    the top token's bracket is pure rounding error, of size ε|g| — larger than the true value
    Σ_{τ≠top} s_τ (g_top − g_τ) — and the gradients no longer sum to zero over t. Exactly
    normalised GD then steps along rounding noise. This backward uses the pair form
    ∂L/∂a_t = s_t Σ_τ s_τ (g_t − g_τ), whose terms are differences of O(1) numbers times
    probabilities, so every component is accurate to a few ulps of its own size (the same idea as
    the scale-free closed form of :class:`tfsvm.gradients.LinearProblem` for linear heads).
    ``s`` is returned for recording only (no gradient flows through it).
    """

    @staticmethod
    def forward(ctx, a: torch.Tensor, X: torch.Tensor):  # noqa: D102
        s = torch.softmax(a, dim=-1)
        r = s @ X
        ctx.save_for_backward(s, X)
        ctx.mark_non_differentiable(s)
        return r, s

    @staticmethod
    def backward(ctx, gr: torch.Tensor, _gs: torch.Tensor):  # noqa: D102
        s, X = ctx.saved_tensors
        ga = gX = None
        if ctx.needs_input_grad[0]:
            g = gr @ X.transpose(-1, -2)  # (…, K, T): g_t = x_tᵀ ∂L/∂r
            diff = g.unsqueeze(-1) - g.unsqueeze(-2)  # (…, K, T, T): g_t − g_τ
            diff = torch.where(s.unsqueeze(-2) > 0, diff, torch.zeros_like(diff))  # masked tokens (s = 0, g may be inf)
            ga = s * (diff * s.unsqueeze(-2)).sum(-1)
        if ctx.needs_input_grad[1]:
            gX = (s.transpose(-1, -2) @ gr).sum_to_size(X.shape)
        return ga, gX


def softmax_mix(a: torch.Tensor, X: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(r, s) = (Xᵀ softmax(a), softmax(a)) with the cancellation-free backward of :class:`SoftmaxMix`."""
    return SoftmaxMix.apply(a, X)


def _outputs(X: torch.Tensor, W: torch.Tensor, Z: torch.Tensor, head: Head, seq: bool = False, causal: bool = False) -> torch.Tensor:
    Zq = Z if seq else Z.unsqueeze(-2)
    r, _ = softmax_mix(_masked(_logits(X, W, Zq), causal), X)  # (…, n, K, d)
    return head(r if seq else r.squeeze(-2))


def _loss(X, W, Z, Y, head: Head, loss: Loss, seq: bool = False, causal: bool = False) -> torch.Tensor:
    """(1/n) Σ_i [Σ_k] ℓ(Y_i[k] f_i[k]) per trial, shape (…,)."""
    f = _outputs(X, W, Z, head, seq=seq, causal=causal)
    vals = loss.value(Y * f)
    if seq:
        vals = vals.sum(-1)
    return vals.mean(-1)


def _excess_ratio(loss: Loss, g: torch.Tensor, delta: torch.Tensor) -> torch.Tensor:
    """(ℓ(g − δ) − ℓ(g)) / δ, accurate for tiny δ ≥ 0."""
    small = delta < 1e-8
    dsafe = torch.where(small, torch.ones_like(delta), delta)
    if loss.name == "logistic":
        sig = torch.sigmoid(-g)
        exact = torch.log1p(sig * torch.expm1(dsafe)) / dsafe
        approx = sig * (1 + 0.5 * (1 - sig) * delta)
    elif loss.name == "exponential":
        eg = torch.exp(-g)
        exact = eg * torch.expm1(dsafe) / dsafe
        approx = eg * (1 + 0.5 * delta)
    elif loss.name == "correlation":
        return torch.ones_like(delta)
    else:  # generic decreasing loss: first-order fallback for tiny δ
        exact = (loss.value(g - dsafe) - loss.value(g)) / dsafe
        approx = -loss.deriv(g)
    return torch.where(small, approx, exact)


def _scores(X: torch.Tensor, Y: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """γ_it = Y_i vᵀx_it for X (…, n, T, d), Y (…, n), v (d,) or (…, d) → (…, n, T)."""
    return (X * v[..., None, None, :]).sum(-1) * Y.unsqueeze(-1)


def _log_excess(X, W, Z, Y, v, loss: Loss) -> torch.Tensor:
    """log(L(W) − L⋆) per trial for a linear head v (−inf if every token is optimal).

    With γ_it = Y_i vᵀx_it, g_i = max_t γ_it and δ_i = Σ_t s_it (g_i − γ_it) ≥ 0, the i-th term is
    ℓ(g_i − δ_i) − ℓ(g_i); log δ_i = logsumexp_t(log s_it + log(g_i − γ_it)) is computed from
    log-softmax, so the result keeps full relative accuracy when L(W) − L⋆ is far below
    machine precision of L (large ‖W‖)."""
    gam = _scores(X, Y, v)  # (…, n, T)
    g = gam.max(-1).values
    gap = (g.unsqueeze(-1) - gam).detach()
    allopt = (gap == 0).all(-1, keepdim=True)  # every token optimal: δ_i = 0 exactly
    ls = torch.log_softmax(_logits(X, W, Z.unsqueeze(-2)).squeeze(-2), dim=-1)
    terms = torch.where(allopt, torch.zeros_like(ls), ls + torch.log(gap))  # log(0) = -inf for the maximisers
    logd = torch.where(allopt.squeeze(-1), -math.inf, torch.logsumexp(terms, dim=-1))
    delta = torch.exp(logd)
    ratio = _excess_ratio(loss, g, delta)
    n = X.shape[-3]
    return torch.logsumexp(logd + torch.log(ratio), dim=-1) - math.log(n)


# ---------------------------------------------------------------------------------------
# public API
# ---------------------------------------------------------------------------------------


def softmax(a: Any, dim: int = -1) -> Any:
    """Numerically stable softmax S(a) along ``dim`` (max-shifted, as torch.softmax)."""
    inp = _Inputs()
    _, obj = inp.check(a, "a")
    return inp.out(torch.softmax(inp.tensor(obj), dim=dim))


def log_softmax(a: Any, dim: int = -1) -> Any:
    """Numerically stable log S(a) along ``dim`` (never −inf for finite input)."""
    inp = _Inputs()
    _, obj = inp.check(a, "a")
    return inp.out(torch.log_softmax(inp.tensor(obj), dim=dim))


def attention_logits(X: Any, W: Any, Z: Any) -> Any:
    """Logits a_it = x_itᵀ W z_i, shape (…, n, T) (or (…, n, K, T) for Z of shape (…, n, K, d)).

    ``W`` may be a pair (K, Q) meaning W = K Qᵀ.
    """
    inp, Xt, Wt, Zt, seq = _checked_XWZ(X, W, Z)
    a = _logits(Xt, Wt, Zt if seq else Zt.unsqueeze(-2))
    return inp.out(a if seq else a.squeeze(-2))


def attention_probs(X: Any, W: Any, Z: Any) -> Any:
    """s_i = S(X_i W z_i), shape (…, n, T); with Z (…, n, K, d) one row per query: (…, n, K, T).

    ``W`` may be a pair (K, Q) meaning W = K Qᵀ.
    """
    inp, Xt, Wt, Zt, seq = _checked_XWZ(X, W, Z)
    return inp.out(_probs(Xt, Wt, Zt, seq=seq))


def _probs_array(X: np.ndarray, W: np.ndarray, Z: np.ndarray) -> np.ndarray:
    """:func:`attention_probs` without the input checks, float64 numpy in and out (one query per
    sequence): for arrays the caller has already checked (e.g. those of an AttentionData)."""
    t = lambda a: torch.tensor(np.asarray(a, dtype=np.float64))  # noqa: E731
    return _probs(t(X), t(W), t(Z)).numpy()


def attention_output(X: Any, W: Any, Z: Any, head: Any) -> Any:
    """Model output f_i = h(X_iᵀ s_i) of eq. (2), shape (…, n) (or (…, n, K) for sequence queries).

    ``head`` is a :class:`~tfsvm.heads.Head` or a linear-head vector v; ``W`` may be (K, Q).
    """
    inp = _Inputs()
    Xa, Xo = _tokens(X, inp)
    Zo, seq = _check_Zseq(Z, Xa, inp)
    Wt = _check_KQ(W, Xa, inp)
    hd = _as_head(head, Xa.shape[-1], Xa.shape[:-3])
    return inp.out(_outputs(inp.tensor(Xo), Wt, inp.tensor(Zo), hd, seq=seq))


def causal_probs(X: Any, W: Any, Z: Any = None) -> Any:
    """Masked-softmax probabilities S_k(X_i W z_ik) of eq. (10), shape (…, n, T, T): row k is a
    distribution over tokens t ≤ k (zeros for t > k). ``Z`` (…, n, T, d) defaults to X (self-attention)."""
    inp = _Inputs()
    Xa, Xo = _tokens(X, inp)
    Zo = Xo if Z is None else _check_Zseq(Z, Xa, inp)[0]
    Za = inp.check(Zo, "Z")[0]
    if Za.shape != Xa.shape:
        raise ShapeError(f"causal attention needs one query per position: Z must have shape {Xa.shape}, got {Za.shape}")
    Wt = _check_KQ(W, Xa, inp)
    return inp.out(_probs(inp.tensor(Xo), Wt, inp.tensor(Zo), seq=True, causal=True))


def erm_loss(X: Any, Z: Any, Y: Any, W: Any, head: Any, loss: str | Loss = "logistic") -> Any:
    """Empirical risk L(W) = (1/n) Σ_i ℓ(Y_i · h(X_iᵀ S(X_i W z_i))) — (W-ERM); pass ``W=(K, Q)`` for (KQ-ERM).

    Returns a scalar (or one value per trial, shape (B,)).
    """
    inp = _Inputs()
    Xa, Xo = _tokens(X, inp)
    Za, Zo = inp.check(Z, "Z")
    check_queries(Za, Xa, "Z")
    Ya = check_labels(Y.detach().cpu().numpy() if isinstance(Y, torch.Tensor) else Y, Xa, "Y")
    Wt = _check_KQ(W, Xa, inp)
    hd = _as_head(head, Xa.shape[-1], Xa.shape[:-3])
    ls = _check_loss(loss)
    return inp.out(_loss(inp.tensor(Xo), Wt, inp.tensor(Zo), inp.tensor(Ya), hd, ls))


def seq_loss(X: Any, Z: Any, Y: Any, W: Any, head: Any, loss: str | Loss = "logistic") -> Any:
    """L_seq(W) = (1/n) Σ_i Σ_k ℓ(Y_ik · h(X_iᵀ S(X_i W z_ik))) (eq. (10)); Z (…, n, K, d) or None (= X),
    Y (…, n, K). ``W`` may be (K, Q)."""
    inp = _Inputs()
    Xt, Wt, Zt, Yt, hd = _seq_inputs(X, Z, Y, W, head, inp, causal=False)
    return inp.out(_loss(Xt, Wt, Zt, Yt, hd, _check_loss(loss), seq=True))


def causal_loss(X: Any, Y: Any, W: Any, head: Any, loss: str | Loss = "logistic", Z: Any = None) -> Any:
    """L_csl(W) = (1/n) Σ_i Σ_k ℓ(Y_ik · h(X_iᵀ S_k(X_i W z_ik))) with the masked softmax S_k (eq. (10));
    Z (…, n, T, d) defaults to X (self-attention), Y (…, n, T)."""
    inp = _Inputs()
    Xt, Wt, Zt, Yt, hd = _seq_inputs(X, Z, Y, W, head, inp, causal=True)
    return inp.out(_loss(Xt, Wt, Zt, Yt, hd, _check_loss(loss), seq=True, causal=True))


def optimal_loss(X: Any, Y: Any, v: Any, loss: str | Loss = "logistic") -> Any:
    """L⋆ = (1/n) Σ_i ℓ(γ_{i,opt_i}) (Lemma 2): the infimum of L(W) for a linear head v."""
    inp = _Inputs()
    Xa, Xo = _tokens(X, inp)
    Ya = check_labels(Y.detach().cpu().numpy() if isinstance(Y, torch.Tensor) else Y, Xa, "Y")
    va, vo = inp.check(v, "v", (1, 2))
    d, bs = Xa.shape[-1], Xa.shape[:-3]
    if va.shape not in ((d,), bs + (d,)):
        raise ShapeError(f"v has shape {va.shape}; expected ({d},) or {bs + (d,)}")
    Xt, Yt, vt = inp.tensor(Xo), inp.tensor(Ya), inp.tensor(vo)
    gam = _scores(Xt, Yt, vt)
    return inp.out(_check_loss(loss).value(gam.max(-1).values).mean(-1))


def log_excess_loss(X: Any, Z: Any, Y: Any, W: Any, v: Any, loss: str | Loss = "logistic") -> Any:
    """log(L(W) − L⋆) for a linear head v, accurate even when L(W) − L⋆ ≪ 1e-16·L⋆ (large ‖W‖).

    Differentiable; its gradient is ∇L(W)/(L(W) − L⋆), which points along ∇L(W) without
    underflowing. ``W`` may be (K, Q). −inf when every token of every sequence is optimal.
    """
    inp = _Inputs()
    Xa, Xt, Zt, Yt, vt = _linear_inputs(X, Z, Y, v, inp)
    Wt = _check_KQ(W, Xa, inp)
    return inp.out(_log_excess(Xt, Wt, Zt, Yt, vt, _check_loss(loss)))


def excess_loss(X: Any, Z: Any, Y: Any, W: Any, v: Any, loss: str | Loss = "logistic") -> Any:
    """L(W) − L⋆ ≥ 0 computed in log space (see :func:`log_excess_loss`); Lemma 2 says it is > 0
    for every finite W unless all tokens are optimal, and → 0 along R·W for a separating W."""
    inp = _Inputs()
    Xa, Xt, Zt, Yt, vt = _linear_inputs(X, Z, Y, v, inp)
    Wt = _check_KQ(W, Xa, inp)
    return inp.out(torch.exp(_log_excess(Xt, Wt, Zt, Yt, vt, _check_loss(loss))))


# -- B's prompt model --------------------------------------------------------------------


def _prompt_probs(X: torch.Tensor, p: torch.Tensor, W: torch.Tensor) -> torch.Tensor:
    """S(X_i Wᵀ p) for X (n, T, d), p (…, d) → (…, n, T)."""
    keys = X @ W.transpose(-1, -2)  # (n, T, d): k_it = W x_it
    a = torch.einsum("ntd,...d->...nt", keys, p)
    return torch.softmax(a, dim=-1)


def _prompt_output(X, p, v, W) -> torch.Tensor:
    s = _prompt_probs(X, p, W)  # (…, n, T)
    xv = torch.einsum("ntd,...d->...nt", X, v)  # (…, n, T)
    return (s * xv).sum(-1)


def prompt_probs(X: Any, p: Any, W: Any) -> Any:
    """B's attention probabilities s_i = S(X_i Wᵀ p) (keys k_it = W x_it), shape (n, T) or (B, n, T) for p (B, d)."""
    inp = _Inputs()
    _, Xt, pt, _, Wt = _prompt_args(X, p, None, W, inp, need_v=False)
    return inp.out(_prompt_probs(Xt, pt, Wt))


def prompt_output(X: Any, p: Any, v: Any, W: Any) -> Any:
    """B's model f(X_i) = vᵀX_iᵀS(X_i Wᵀ p), shape (n,) (or (B, n) for p or v of shape (B, d))."""
    inp = _Inputs()
    _, Xt, pt, vt, Wt = _prompt_args(X, p, v, W, inp)
    return inp.out(_prompt_output(Xt, pt, vt, Wt))


def prompt_loss(X: Any, Y: Any, p: Any, v: Any, W: Any, loss: str | Loss = "logistic") -> Any:
    """B's ERM L(v, p) = (1/n) Σ_i ℓ(Y_i vᵀX_iᵀS(X_i Wᵀ p))."""
    inp = _Inputs()
    Xa, Xt, pt, vt, Wt = _prompt_args(X, p, v, W, inp)
    Yt = inp.tensor(check_labels(Y.detach().cpu().numpy() if isinstance(Y, torch.Tensor) else Y, Xa, "Y"))
    return inp.out(_check_loss(loss).value(Yt * _prompt_output(Xt, pt, vt, Wt)).mean(-1))
