"""Joint training of the head and the attention weights in A's model (B's joint training; open problem 6 of A).

A keeps the head v fixed; B trains v together with its prompt. Here both v and W of A's model
f(X_i) = vᵀX_iᵀS(X_i W z_i) are trained by normalized GD (each gradient normalized separately,
App. F), with autograd through :func:`tfsvm.attention.softmax_mix` (cancellation-free at saturation).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from .._validation import check_count, check_option, check_positive
from ..attention import DTYPE, softmax_mix
from ..data import AttentionData
from ..errors import OptionError
from ..losses import get_loss
from ._common import RULES, _check_seed, cpu_threads, parse_record, step_direction


def train_joint(data: AttentionData, steps: int = 1000, lr: float = 0.1, init: str = "zero", seed: int = 0,
                rule: str = "normalized", record: Any = None) -> dict[str, np.ndarray]:
    """Normalized GD on (v, W) of L(v, W) = (1/n) Σ_i ℓ(Y_i vᵀX_iᵀS(X_i W z_i)), logistic loss, v(0) = ``data.v``.

    ``init``: ``"zero"`` (W(0) = 0) or ``"default"`` (entries U(−1/√d, 1/√d), PyTorch's ``nn.Linear``
    default, seeded). ``rule``: as in :func:`tfsvm.training.train`. Returns the recorded ``W``
    (R, d, d) and ``v`` (R, d) at ``steps`` (R,) (:func:`parse_record`), and the final attention
    ``probs`` (n, T). One unbatched instance.
    """
    if not isinstance(data, AttentionData) or data.batch_shape:
        raise OptionError("train_joint needs one (unbatched) AttentionData instance")
    steps, lr = check_count(steps, "steps", 0), check_positive(lr, "lr")
    check_option(rule, "rule", RULES)
    if init not in ("zero", "default"):
        raise OptionError(f"init must be 'zero' or 'default', got {init!r}")
    bound = 1.0 / np.sqrt(data.d)
    W0 = (np.zeros((data.d, data.d)) if init == "zero"
          else np.random.default_rng(_check_seed(seed)).uniform(-bound, bound, (data.d, data.d)))
    X, Z, Y = (torch.tensor(np.asarray(a), dtype=DTYPE) for a in (data.X, data.Z, data.Y))
    W, v = torch.tensor(W0, dtype=DTYPE), torch.tensor(np.asarray(data.v), dtype=DTYPE)
    ell = get_loss("logistic")
    rec = parse_record(record, steps)
    Ws, vs = [], []
    with cpu_threads():
        for k in range(steps + 1):
            W.requires_grad_(True)
            v.requires_grad_(True)
            r, s = softmax_mix(torch.einsum("ntd,de,ne->nt", X, W, Z)[:, None, :], X)
            if k in rec:
                Ws.append(W.detach().numpy().copy())
                vs.append(v.detach().numpy().copy())
            if k == steps:
                break
            gW, gv = torch.autograd.grad(ell.value(Y * (r[:, 0] @ v)).mean(), (W, v))
            with torch.no_grad():
                W = W - lr * step_direction(gW, rule)
                v = v - lr * step_direction(gv, rule, dims=-1)
    return {"W": np.array(Ws), "v": np.array(vs), "steps": rec, "probs": s[:, 0].detach().numpy()}
