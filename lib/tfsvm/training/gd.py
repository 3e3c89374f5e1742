"""(W-GD) and (KQ-GD) on the attention ERM, batched over trials (A §2, App. F)."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from .._validation import check_count, check_nonnegative, check_option, check_positive
from ..attention import DTYPE
from ..data import AttentionData, SequenceData
from ..errors import OptionError, ShapeError
from ..gradients import LinearProblem
from ..losses import Loss, get_loss
from ._common import (EPS, TrainResult, _check_seed, _cpu_settings, _device, _fro, _init_params, _resolve_head,
                      parse_record)
from ._engine import _closed_form_loop

# ---------------------------------------------------------------------------------------
# train
# ---------------------------------------------------------------------------------------


def _normalize(g: torch.Tensor, eps: float) -> torch.Tensor:
    return g / (_fro(g) + eps)


def _normalize_exact(g: torch.Tensor) -> torch.Tensor:
    n = _fro(g)
    return torch.where(n > 0, g / torch.where(n > 0, n, torch.ones_like(n)), torch.zeros_like(g))


def train(
    data: AttentionData | SequenceData,
    param: str = "W",
    steps: int = 2000,
    lr: float = 0.1,
    normalized: bool = True,
    loss: str | Loss = "logistic",
    head: Any = None,
    init: Any = "zero",
    m: int | None = None,
    seed: int = 0,
    record: Any = None,
    ridge: float = EPS,
    device: Any = "cpu",
    mode: str = "single",
    raw_eps: bool = False,
    method: str = "auto",
) -> TrainResult:
    """Run (W-GD) or (KQ-GD) on the attention ERM, for all trials of ``data`` at once.

    Parameters
    ----------
    data : AttentionData (mode="single") or SequenceData (mode="sequential" / "causal")
        With a trial dimension B every trial is trained independently, in one batched program.
    param : "W" or "KQ"
        W-parameterisation, or W = K Qᵀ with K, Q of shape (d, m).
    steps : int >= 0
        Number of updates.
    lr : float > 0
        Step size η (App. F: 0.1).
    normalized : bool
        Normalised GD (App. F) if True, plain GD if False.
    loss : "logistic", "exponential", "correlation" or a Loss
    head : None (linear head v of ``data``), "linear", or a :class:`~tfsvm.heads.Head`
    init : "zero", "default", or arrays
        "zero": W(0) = 0; for (K, Q): Q(0) = 0, K(0) = 0.1·N(0, I) (official Fig 1 code).
        "default": entries U(−1/√d, 1/√d) (PyTorch ``nn.Linear`` default init), seeded.
        An array W (d, d) / (B, d, d), or a pair (K, Q) of (d, m) / (B, d, m) arrays.
    m : int, optional
        Rank of K, Q (default d).
    seed : int
        Seed of the random initialisation (numpy ``default_rng``).
    record : None, "all", "every k" or step indices
        Steps at which W, the loss and the max probability are stored (default: final only).
    ridge : float >= 0
        λ of the (K, Q) objective L + λ(‖K‖² + ‖Q‖²) (default float64 machine epsilon).
    device : str or torch.device
        "cpu" or e.g. "cuda"; the same code runs on both.
    mode : "single", "sequential" or "causal"
        One output per sequence (W-ERM), or the sequence losses (10) of A §7.
    raw_eps : bool
        Add ε to the raw gradient norm as the official code does (see the module docstring).
    method : "auto", "closed_form" or "autograd"
        Gradient computation: "closed_form" is scale-free (:mod:`tfsvm.gradients`; every head of
        :mod:`tfsvm.heads`), "autograd" differentiates the model (the reference the closed form is
        tested against); "auto" = "closed_form" unless a custom head defines no
        ``feature_value_and_grad``.

    Returns
    -------
    TrainResult
    """
    check_option(mode, "mode", ("single", "sequential", "causal"))
    check_option(param, "param", ("W", "KQ"))
    check_option(method, "method", ("auto", "closed_form", "autograd"))
    if mode == "single" and not isinstance(data, AttentionData):
        raise OptionError(f"mode='single' needs an AttentionData, got {type(data).__name__}")
    if mode != "single" and not isinstance(data, SequenceData):
        raise OptionError(f"mode={mode!r} needs a SequenceData (one label per output), got {type(data).__name__}")
    if mode == "causal" and data.K != data.T:
        raise ShapeError(f"mode='causal' needs one query per position (K = T); got K = {data.K}, T = {data.T}")
    steps = check_count(steps, "steps", 0)
    lr = check_positive(lr, "lr")
    ridge = check_nonnegative(ridge, "ridge")
    seed = _check_seed(seed)
    ls_ = get_loss(loss)
    if m is not None:
        m = check_count(m, "m", 1)
    rec = parse_record(record, steps)
    dev = _device(device)
    batched = bool(data.batch_shape)
    B = data.batch_shape[0] if batched else 1
    d = data.d
    hd = _resolve_head(head, data, B)
    if method == "closed_form" and not hd.has_closed_form:
        raise OptionError(f"method='closed_form' needs a head with feature_value_and_grad; {type(hd).__name__} has "
                          "none (use method='autograd')")
    closed = method == "closed_form" or (method == "auto" and hd.has_closed_form)
    P0, Q0 = _init_params(init, param, d, m, B, batched, seed)

    # tensors with a trial dimension
    t = lambda a: torch.tensor(np.asarray(a), dtype=DTYPE, device=dev)  # noqa: E731
    bdata = data.batched()
    X, Z, Y = t(bdata.X), t(bdata.Z), t(bdata.Y)
    seq = mode != "single"
    causal = mode == "causal"
    Zq = Z if seq else Z.unsqueeze(-2)
    Yq = Y if seq else Y.unsqueeze(-1)
    if closed and hd.is_linear:
        v = t(hd.v)
        prob = LinearProblem(X, Zq, Yq, v.expand(B, d) if v.ndim == 1 else v, ls_, causal=causal)
    elif closed:
        prob = LinearProblem(X, Zq, Yq, None, ls_, causal=causal, head=hd)
    if not batched and hd.batch_shape:
        raise ShapeError("a batched head needs batched data")

    Pm = t(P0)
    Qm = t(Q0) if Q0 is not None else None
    R = len(rec)
    is_rec = np.zeros(steps + 1, dtype=bool)
    is_rec[rec] = True
    W_rec = torch.empty((R, B, d, d), dtype=DTYPE, device=dev)
    loss_rec = torch.empty((R, B), dtype=DTYPE, device=dev)
    mp_rec = torch.empty((R, B), dtype=DTYPE, device=dev)
    j = 0
    ls_final = None

    def combined() -> torch.Tensor:
        return Pm if param == "W" else Pm @ Qm.transpose(-1, -2)

    work = B * data.n * (data.K if seq else 1) * data.T * max(d, data.T)
    with _cpu_settings(dev, work):
        if closed:
            with torch.no_grad():
                ls_final, Pm, Qm = _closed_form_loop(prob, param, Pm, Qm, steps, lr, normalized, raw_eps, ridge,
                                                     is_rec, W_rec, loss_rec, mp_rec)
            probs_final = prob._shape(torch.exp(ls_final))
        else:
            from ..attention import _logits, _masked, softmax_mix

            def forward(Wc: torch.Tensor):
                # r = Xᵀ softmax(a) with the cancellation-free backward (attention.SoftmaxMix)
                r, s = softmax_mix(_masked(_logits(X, Wc, Zq), causal), X)  # (B, n, K, d), (B, n, K, T)
                f = hd(r)
                vals = ls_.value(Yq * f).sum(-1).mean(-1)  # (B,)
                return s, vals

            for k in range(steps + 1):
                need_grad = k < steps
                params = [Pm] if param == "W" else [Pm, Qm]
                for p_ in params:
                    p_.requires_grad_(need_grad)
                with torch.set_grad_enabled(need_grad):
                    Wc = combined()
                    s, vals = forward(Wc)
                    obj = vals.sum()
                    if param == "KQ" and ridge > 0:
                        obj = obj + ridge * ((Pm * Pm).sum() + (Qm * Qm).sum())
                if is_rec[k]:
                    W_rec[j] = Wc.detach()
                    loss_rec[j] = vals.detach()
                    mp_rec[j] = s.detach().amax(-1).flatten(1).mean(-1)
                    j += 1
                if k == steps:
                    probs_final = s.detach()
                    break
                grads = torch.autograd.grad(obj, params)
                with torch.no_grad():
                    new = []
                    for p_, g in zip(params, grads):
                        if normalized:
                            g = _normalize(g, EPS) if raw_eps else _normalize_exact(g)
                        new.append((p_ - lr * g).detach())
                Pm = new[0]
                if param == "KQ":
                    Qm = new[1]
            Pm, Qm = Pm.detach(), (Qm.detach() if Qm is not None else None)

    if not seq:
        probs_final = probs_final.squeeze(-2)
    cpu = lambda a: a.detach().cpu().numpy()  # noqa: E731
    W_np, loss_np, mp_np, pf = cpu(W_rec), cpu(loss_rec), cpu(mp_rec), cpu(probs_final)
    K_np = cpu(Pm) if param == "KQ" else None
    Q_np = cpu(Qm) if param == "KQ" else None
    if not batched:
        W_np, loss_np, mp_np, pf = W_np[:, 0], loss_np[:, 0], mp_np[:, 0], pf[0]
        K_np = None if K_np is None else K_np[0]
        Q_np = None if Q_np is None else Q_np[0]
    info = {"lr": lr, "normalized": normalized, "loss": ls_.name, "init": init if isinstance(init, str) else "array",
            "ridge": ridge, "raw_eps": raw_eps, "gradient": "closed_form" if closed else "autograd", "device": str(dev)}
    return TrainResult(W_np, rec, loss_np, mp_np, pf, param, mode, K_np, Q_np, info)


#: Use the reduced coordinates of :func:`_closed_form_loop` (for W when N < 2d, for normalised
#: (K, Q) with exact normalisation when N < d: where they were measured faster). The dense loop
