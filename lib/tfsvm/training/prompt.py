"""Training B's prompt model (p, and optionally the head v) by GD (B §3.4)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from .._validation import as_float_array, check_count, check_option, check_positive
from ..attention import DTYPE
from ..data import PromptData
from ..errors import OptionError, ShapeError
from ..gradients import scaled_logit_weights
from ..losses import Loss, get_loss
from ._common import RULES, _cpu_settings, _device, parse_record, step_direction


@dataclass(frozen=True, eq=False)
class PromptTrainResult:
    """Output of :func:`train_prompt` (``…`` = () or the batch of initialisations (B,)).

    p, v : (R, …, d) recorded prompt and head; loss : (R, …); probs : (R, …, n, T) attention
    probabilities; outputs : (R, …, n) model outputs f(X_i); steps : (R,).
    """

    p: np.ndarray
    v: np.ndarray
    steps: np.ndarray
    loss: np.ndarray
    probs: np.ndarray
    outputs: np.ndarray
    info: dict = field(default_factory=dict)

    @property
    def max_prob(self) -> np.ndarray:
        """(1/n) Σ_i max_t s_it per record."""
        return self.probs.max(-1).mean(-1)


def _vec_init(a: Any, name: str, d: int) -> np.ndarray:
    arr = as_float_array(a, name, (1, 2))
    if arr.shape[-1] != d:
        raise ShapeError(f"{name} has shape {arr.shape}; expected ({d},) or (B, {d})")
    return arr


def train_prompt(
    data: PromptData,
    train_p: bool = True,
    train_v: bool = False,
    p0: Any = None,
    v0: Any = None,
    steps: int = 1000,
    lr: float = 0.1,
    rule: str = "normalized",
    loss: str | Loss = "logistic",
    record: Any = None,
    device: Any = "cpu",
) -> PromptTrainResult:
    """GD on B's ERM L(v, p) = (1/n) Σ_i ℓ(Y_i vᵀX_iᵀS(X_i Wᵀ p)) (keys k_it = W x_it).

    ``p0`` (default 0) and ``v0`` (default ``data.v``) may be (d,) or (B, d): a batch of B
    initialisations trained at once (e.g. B's six starting points). With ``train_v`` the head is
    trained jointly, each gradient normalised separately (B's joint experiment). ``rule`` as in
    :func:`~tfsvm.training.train` (:func:`~tfsvm.training.step_direction`). Gradients are
    closed-form and scale-free (see :mod:`tfsvm.gradients`):
    ∇_p L = (1/n) Σ_i ℓ′(u_i) K_iᵀ(diag(s_i) − s_i s_iᵀ)γ_i and ∇_v L = (1/n) Σ_i ℓ′(u_i) Y_i X_iᵀ s_i.
    """
    if not isinstance(data, PromptData):
        raise OptionError(f"train_prompt needs a PromptData, got {type(data).__name__}")
    if not (train_p or train_v):
        raise OptionError("nothing to train: set train_p and/or train_v")
    steps = check_count(steps, "steps", 0)
    lr = check_positive(lr, "lr")
    check_option(rule, "rule", RULES)
    ls_ = get_loss(loss)
    rec = parse_record(record, steps)
    dev = _device(device)
    d, n = data.d, data.n
    p_np = np.zeros(d) if p0 is None else _vec_init(p0, "p0", d)
    v_np = data.v if v0 is None else _vec_init(v0, "v0", d)
    batched = p_np.ndim == 2 or v_np.ndim == 2
    B = max(p_np.shape[0] if p_np.ndim == 2 else 1, v_np.shape[0] if v_np.ndim == 2 else 1)
    if (p_np.ndim == 2 and p_np.shape[0] != B) or (v_np.ndim == 2 and v_np.shape[0] != B):
        raise ShapeError(f"p0 has shape {p_np.shape} and v0 has shape {v_np.shape}: their batch sizes differ")
    t = lambda a: torch.tensor(np.asarray(a), dtype=DTYPE, device=dev)  # noqa: E731
    p = t(np.broadcast_to(p_np, (B, d)))
    v = t(np.broadcast_to(v_np, (B, d)))
    X, Y = t(data.X), t(data.Y)
    keys = X @ t(data.W).T  # (n, T, d)
    is_rec = np.zeros(steps + 1, dtype=bool)
    is_rec[rec] = True
    out = {k: [] for k in ("p", "v", "loss", "probs", "outputs")}
    with _cpu_settings(dev), torch.no_grad():
        for k in range(steps + 1):
            a = torch.einsum("ntd,bd->bnt", keys, p)
            if k == 0 or train_v:  # the scores change only with v
                xv = torch.einsum("ntd,bd->bnt", X, v)
                gam = Y[None, :, None] * xv
            q, M, u, s, _ = scaled_logit_weights(a, gam, ls_)  # Forward (q, log_scale, margins, probs, …)
            f = (s * xv).sum(-1)  # (B, n)
            if is_rec[k]:
                out["p"].append(p.clone())
                out["v"].append(v.clone())
                out["loss"].append(ls_.value(u).mean(-1))
                out["probs"].append(s)
                out["outputs"].append(f)
            if k == steps:
                break
            new_p, new_v = p, v
            if train_p:
                gp = -torch.einsum("bnt,ntd->bd", q, keys) / n  # ∇_p L · e^{−M}
                new_p = p - lr * step_direction(gp, rule, M[:, None], dims=-1)
            if train_v:
                lp = ls_.log_neg_deriv(u)  # (B, n)
                Mv = lp.amax(-1)
                wts = torch.exp(lp - Mv[:, None]) * Y  # (B, n)
                r = torch.einsum("bnt,ntd->bnd", s, X)
                gv = -torch.einsum("bn,bnd->bd", wts, r) / n  # ∇_v L · e^{−Mv}
                new_v = v - lr * step_direction(gv, rule, Mv[:, None], dims=-1)
            p, v = new_p, new_v
    cpu = lambda key: torch.stack(out[key]).cpu().numpy()  # noqa: E731
    res = {key: cpu(key) for key in out}
    if not batched:
        res = {key: val[:, 0] for key, val in res.items()}
    info = {"lr": lr, "rule": rule, "loss": ls_.name, "train_p": train_p, "train_v": train_v}
    return PromptTrainResult(res["p"], res["v"], rec, res["loss"], res["probs"], res["outputs"], info)
