"""(W-GD) and (KQ-GD) on the attention ERM, batched over trials (A §2, App. F).

:func:`reference_gd` is the iteration as the paper writes it (dense W, or K and Q, and the
closed-form gradient (13)–(15)); :func:`train` checks and converts its input once, then runs one
of three engines: ``"reference"`` (:func:`reference_gd`), ``"fast"`` (the same iterates,
rearranged for speed: :mod:`tfsvm.training._engine`) or ``"autograd"`` (differentiating the
model, for heads without a closed form).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np
import torch

from .._validation import check_count, check_nonnegative, check_option, check_positive
from ..attention import DTYPE, _logits, _masked, softmax_mix
from ..data import AttentionData, SequenceData
from ..errors import OptionError, ShapeError
from ..gradients import Forward, LinearProblem
from ..heads import Head
from ..losses import Loss, get_loss
from ._common import (EPS, RULES, Recorder, TrainResult, _check_seed, _cpu_settings, _device, _init_params,
                      _resolve_head, parse_record, ridge_gradient, step_direction)
from ._engine import fast_gd

#: The gradient engines of :func:`train`.
ENGINES = ("auto", "reference", "fast", "autograd")


class Iterate(NamedTuple):
    """One iterate of :func:`reference_gd`: W(k) (B, d, d), the parameters (W,) or (K, Q), and the
    forward quantities at W(k)."""

    W: torch.Tensor
    params: tuple[torch.Tensor, ...]
    forward: Forward


def reference_gd(problem: LinearProblem, params: tuple[torch.Tensor, ...], steps: int, lr: float,
                 rule: str = "normalized", ridge: float = EPS) -> Iterator[Iterate]:
    """(W-GD) for params = (W,), (KQ-GD) for params = (K, Q) (tensors (B, d, d) / (B, d, m)):
    yields the iterates k = 0, …, steps, each parameter taking P ← P − η·step_direction(∇_P L̃, rule).

    ∇L(W) = e^M·G is the closed form (13)–(15), computed scale-free (:class:`LinearProblem`); for
    W = K Qᵀ the objective L̃ = L(K Qᵀ) + λ(‖K‖² + ‖Q‖²) has ∇_K = ∇L(W) Q + 2λK and
    ∇_Q = ∇L(W)ᵀ K + 2λQ (λ = ``ridge``). No input checks: :func:`train` does them.
    """
    for k in range(steps + 1):
        W = params[0] if len(params) == 1 else params[0] @ params[1].transpose(-1, -2)
        fw = problem.forward(W)
        yield Iterate(W, params, fw)
        if k == steps:
            return
        G, M = problem.grad(W, fw)  # ∇L(W) = e^M·G, eqs. (13)–(15)
        M = M.view(-1, 1, 1)
        if len(params) == 1:  # (W-GD)
            grads = [(G, M)]
        else:  # (KQ-GD): each gradient as (g, S) with ∇ = e^S·g
            K, Q = params
            grads = [ridge_gradient(G @ Q, M, K, ridge), ridge_gradient(G.transpose(-1, -2) @ K, M, Q, ridge)]
        params = tuple(P - lr * step_direction(g, rule, S) for P, (g, S) in zip(params, grads))  # P ← P − η D


def _reference_loop(problem: LinearProblem, params: tuple[torch.Tensor, ...], steps: int, lr: float, rule: str,
                    ridge: float, rec: Recorder) -> tuple[torch.Tensor, tuple[torch.Tensor, ...]]:
    """:func:`reference_gd`, recorded; returns (probabilities at the last step, final params)."""
    for k, it in enumerate(reference_gd(problem, params, steps, lr, rule, ridge)):
        if rec.wants(k):
            rec.add(it.W, problem.loss_value(it.forward.margins), it.forward.probs)
    return problem._shape(torch.exp(it.forward.log_probs)), it.params


@dataclass
class _Model:
    """The attention model with head h and loss ℓ, for autograd: W ↦ (s (B, n, K, T), L (B,))."""

    X: torch.Tensor
    Zq: torch.Tensor
    Yq: torch.Tensor
    head: Head
    loss: Loss
    causal: bool

    def __call__(self, W: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        # r = Xᵀ softmax(a) with the cancellation-free backward (attention.SoftmaxMix)
        r, s = softmax_mix(_masked(_logits(self.X, W, self.Zq), self.causal), self.X)
        return s, self.loss.value(self.Yq * self.head(r)).sum(-1).mean(-1)


def _autograd_loop(model: _Model, params: tuple[torch.Tensor, ...], steps: int, lr: float, rule: str,
                   ridge: float, rec: Recorder) -> tuple[torch.Tensor, tuple[torch.Tensor, ...]]:
    """The iteration of :func:`reference_gd` with gradients by autograd through ``model``."""
    for k in range(steps + 1):
        for P in params:
            P.requires_grad_(k < steps)
        with torch.set_grad_enabled(k < steps):
            W = params[0] if len(params) == 1 else params[0] @ params[1].transpose(-1, -2)
            s, vals = model(W)
            obj = vals.sum()
            if len(params) == 2 and ridge > 0:
                obj = obj + ridge * sum((P * P).sum() for P in params)
        if rec.wants(k):
            rec.add(W.detach(), vals.detach(), s.detach())
        if k == steps:
            break
        grads = torch.autograd.grad(obj, params)
        with torch.no_grad():
            params = tuple((P - lr * step_direction(g, rule)).detach() for P, g in zip(params, grads))
    return s.detach(), tuple(P.detach() for P in params)


@dataclass
class _Setup:
    """Checked and converted input of :func:`train`."""

    problem: Any  # LinearProblem, or _Model for the autograd engine
    loop: Callable[..., tuple[torch.Tensor, tuple[torch.Tensor, ...]]]
    engine: str
    params: tuple[torch.Tensor, ...]
    rec: np.ndarray
    device: torch.device
    batched: bool


def _setup(data: Any, param: str, steps: int, loss: str | Loss, head: Any, init: Any, m: int | None, seed: Any,
           record: Any, device: Any, mode: str, engine: str) -> _Setup:
    """Check every option of :func:`train` and build the problem the engine runs on."""
    check_option(mode, "mode", ("single", "sequential", "causal"))
    check_option(param, "param", ("W", "KQ"))
    check_option(engine, "engine", ENGINES)
    if mode == "single" and not isinstance(data, AttentionData):
        raise OptionError(f"mode='single' needs an AttentionData, got {type(data).__name__}")
    if mode != "single" and not isinstance(data, SequenceData):
        raise OptionError(f"mode={mode!r} needs a SequenceData (one label per output), got {type(data).__name__}")
    if mode == "causal" and data.K != data.T:
        raise ShapeError(f"mode='causal' needs one query per position (K = T); got K = {data.K}, T = {data.T}")
    ls_, seed, dev = get_loss(loss), _check_seed(seed), _device(device)
    m = None if m is None else check_count(m, "m", 1)
    batched = bool(data.batch_shape)
    B = data.batch_shape[0] if batched else 1
    hd = _resolve_head(head, data)
    if not batched and hd.batch_shape:
        raise ShapeError("a batched head needs batched data")
    if engine == "auto":
        engine = "fast" if hd.has_closed_form else "autograd"
    elif engine != "autograd" and not hd.has_closed_form:
        raise OptionError(f"engine={engine!r} needs a head with feature_value_and_grad; {type(hd).__name__} has "
                          "none (use engine='autograd')")
    t = lambda a: torch.tensor(np.asarray(a), dtype=DTYPE, device=dev)  # noqa: E731
    bdata = data.batched()
    X, Z, Y = t(bdata.X), t(bdata.Z), t(bdata.Y)
    Zq, Yq = (Z, Y) if mode != "single" else (Z.unsqueeze(-2), Y.unsqueeze(-1))
    if engine == "autograd":
        problem, loop = _Model(X, Zq, Yq, hd, ls_, mode == "causal"), _autograd_loop
    else:
        v = t(hd.v).expand(B, data.d) if hd.is_linear else None
        problem = LinearProblem(X, Zq, Yq, v, ls_, causal=mode == "causal", head=None if hd.is_linear else hd)
        loop = fast_gd if engine == "fast" else _reference_loop
    params = tuple(t(P) for P in _init_params(init, param, data.d, m, B, batched, seed) if P is not None)
    return _Setup(problem, loop, engine, params, parse_record(record, steps), dev, batched)


def train(
    data: AttentionData | SequenceData,
    param: str = "W",
    steps: int = 2000,
    lr: float = 0.1,
    rule: str = "normalized",
    loss: str | Loss = "logistic",
    head: Any = None,
    init: Any = "zero",
    m: int | None = None,
    seed: int = 0,
    record: Any = None,
    ridge: float = EPS,
    device: Any = "cpu",
    mode: str = "single",
    engine: str = "auto",
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
    rule : "normalized", "normalized_eps" or "plain"
        The update direction (:func:`~tfsvm.training.step_direction`): normalised GD (App. F),
        exactly ∇/‖∇‖ at any norm; ∇/(‖∇‖ + ε) as the official code (steps shrink once ‖∇‖ < ε);
        or plain GD.
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
    engine : "auto", "reference", "fast" or "autograd"
        "reference": :func:`reference_gd`; "fast": the same iterates up to rounding, faster
        (:mod:`tfsvm.training._engine`); "autograd": differentiates the model through
        :class:`tfsvm.attention.SoftmaxMix` (exact until the probabilities underflow, ‖W‖ of a few
        hundred; the only engine for a head without ``feature_value_and_grad``); "auto": "fast"
        if the head has a closed form, else "autograd".

    Returns
    -------
    TrainResult
    """
    steps = check_count(steps, "steps", 0)
    lr = check_positive(lr, "lr")
    ridge = check_nonnegative(ridge, "ridge")
    check_option(rule, "rule", RULES)
    run = _setup(data, param, steps, loss, head, init, m, seed, record, device, mode, engine)
    B = run.params[0].shape[0]
    rec = Recorder(run.rec, steps, B, data.d, run.device)
    with _cpu_settings(run.device), torch.no_grad():
        probs, params = run.loop(run.problem, run.params, steps, lr, rule, ridge, rec)
    if mode == "single":
        probs = probs.squeeze(-2)
    out = [a.cpu().numpy() for a in (rec.W, rec.loss, rec.max_prob, probs)]
    factors = [P.cpu().numpy() for P in params] if param == "KQ" else [None, None]
    if not run.batched:
        out = [out[0][:, 0], out[1][:, 0], out[2][:, 0], out[3][0]]
        factors = [None if P is None else P[0] for P in factors]
    info = {"lr": lr, "rule": rule, "loss": get_loss(loss).name, "init": init if isinstance(init, str) else "array",
            "ridge": ridge, "engine": run.engine, "device": str(run.device)}
    return TrainResult(out[0], run.rec, out[1], out[2], out[3], param, mode, factors[0], factors[1], info)
