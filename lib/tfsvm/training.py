"""Gradient descent on the attention ERM, batched over trials (A §2, App. F; B §3.4).

:func:`train` runs (W-GD) or (KQ-GD) — plain, or *normalised* as in every experiment of A
(App. F): W ← W − η ∇L/(‖∇L‖_F + ε), and for (K, Q) the objective
L̃(K, Q) = L(KQᵀ) + λ(‖K‖_F² + ‖Q‖_F²) (λ = ``ridge``, float64 machine epsilon by default) with
K and Q each normalised separately. Data with a trial dimension B run as *one* tensor program:
one gradient evaluation per step for all trials, per-trial normalisation.

Gradients: the closed form (13)–(15) is used, computed *scale-free*
(:class:`tfsvm.gradients.LinearProblem`): normalised GD needs only the direction of ∇L, which
is obtained exactly even when ∇L itself is below the smallest float64 (large ‖W‖). A nonlinear
head h enters only through the scores of ∇h at the attention output, recomputed every step, so
the same kernel serves the MLP and λ heads of A §6. ``method="autograd"`` differentiates the
model instead, through :class:`tfsvm.attention.SoftmaxMix`, whose backward computes the logit
gradient s_t Σ_τ s_τ (g_t − g_τ) without cancellation: plain autograd through ``torch.softmax``
turns the saturated top token's component into rounding error, which exact normalisation then
amplifies to full steps (with λ = 0 the λ-head run reached corr(W, W^mm) ≈ 0.45 instead of
0.9999). The autograd path is exact until the probabilities underflow (‖W‖ of a few hundred);
beyond that only the closed form keeps the direction. It is the reference the closed form is
tested against, and the one-trial loop of ``bench/bench_experiments.py``.

About ε (``raw_eps``). The official code divides the raw float64 gradient by ‖∇L‖ + ε with
ε = 2.2·10⁻¹⁶; once ‖∇L‖ ≲ ε (the softmax is saturated) its steps shrink like ‖∇L‖/ε and
W effectively stops. By default (``raw_eps=False``) ε is added to the norm of the rescaled
gradient instead, so every normalised step has length η (‖W(k)‖ ≤ ‖W(0)‖ + kη with near
equality) and the iterates keep aligning with the max-margin direction at any norm;
``raw_eps=True`` reproduces the official code's behaviour (with the ridge λ the (K, Q) run then
also settles where λ‖K‖ ~ ‖∇L‖); the experiments of A §6 (nonlinear heads) keep it so that their
numbers follow the paper's protocol. Both settings are numerically sound for every head.

:func:`train_prompt` trains B's prompt model (p, and optionally v); :func:`regularization_path`
computes W̄_R = argmin_{‖W‖_F ≤ R} L(W) (and the (K, Q) analogue).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from ._linalg import feature_block, is_feature_major, matmul, rows_of
from ._validation import as_float_array, check_count, check_nonnegative, check_option, check_positive
from .attention import DTYPE, _log_excess
from .data import AttentionData, PromptData, SequenceData
from .errors import OptionError, ShapeError, SolverError
from .gradients import LinearProblem, scaled_logit_weights
from .heads import HEADS, Head, LinearHead
from .losses import Loss, get_loss

__all__ = [
    "EPS",
    "TrainResult",
    "PromptTrainResult",
    "RegularizationPath",
    "train",
    "train_prompt",
    "regularization_path",
    "parse_record",
    "cpu_threads",
    "CPU_THREADS",
]

EPS = float(np.finfo(np.float64).eps)
_TINY = 1e-300


# ---------------------------------------------------------------------------------------
# options
# ---------------------------------------------------------------------------------------


def parse_record(record: Any, steps: int) -> np.ndarray:
    """Step indices to record, sorted, unique, in [0, steps].

    ``None`` → only the final step; ``"all"`` → every step; ``"every k"`` → 0, k, 2k, … and the
    final step; an iterable of integers → those steps. Index k means the iterate W(k) after k
    updates (k = 0 is the initialisation).
    """
    if record is None:
        return np.array([steps], dtype=np.int64)
    if isinstance(record, str):
        s = record.strip()
        if s == "all":
            return np.arange(steps + 1, dtype=np.int64)
        parts = s.split()
        if len(parts) == 2 and parts[0] == "every":
            try:
                k = int(parts[1])
            except ValueError:
                k = 0
            if k >= 1:
                return np.union1d(np.arange(0, steps + 1, k), [steps]).astype(np.int64)
        raise OptionError(f"record must be None, 'all', 'every k' (k >= 1) or step indices; got {record!r}")
    try:
        idx = np.asarray(list(record) if not isinstance(record, np.ndarray) else record)
    except TypeError:
        raise OptionError(f"record must be None, 'all', 'every k' or an iterable of step indices; got {record!r}") from None
    if idx.size == 0:
        raise OptionError("record is empty; record at least one step")
    if idx.dtype.kind not in "iu":
        raise OptionError(f"record must contain integer step indices, got dtype {idx.dtype}")
    if idx.min() < 0 or idx.max() > steps:
        raise OptionError(f"record has step indices outside [0, steps = {steps}]")
    return np.unique(idx).astype(np.int64)


def _device(device: Any) -> torch.device:
    try:
        dev = torch.device(device)
        torch.zeros(1, device=dev)
    except (RuntimeError, TypeError, AssertionError) as exc:
        raise OptionError(f"device {device!r} is not available: {exc}") from None
    return dev


def _check_seed(seed: Any) -> int:
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise OptionError(f"seed must be a non-negative integer, got {seed!r}")
    return int(seed)


def _resolve_head(head: Any, data: Any, B: int) -> Head:
    d = data.d
    if head is None:
        return LinearHead(data.v)
    if isinstance(head, str):
        check_option(head, "head", HEADS)
        if head != "linear":
            raise OptionError(f"head {head!r} needs parameters; pass a head object, e.g. tfsvm.heads.MLPHead.random(d, seed)")
        return LinearHead(data.v)
    if not isinstance(head, Head):
        raise OptionError(f"head must be None, a head name or a tfsvm.heads.Head, got {type(head).__name__}")
    if head.d != d:
        raise ShapeError(f"head acts on dimension {head.d} but the data have d = {d}")
    if head.batch_shape not in ((), data.batch_shape):
        raise ShapeError(f"head has trial shape {head.batch_shape} but the data have trial shape {data.batch_shape}")
    return head


def _batched_param(a: Any, name: str, shape: tuple[int, ...], B: int, batched: bool) -> np.ndarray:
    arr = as_float_array(a, name, (2, 3))
    if arr.shape == shape:
        return np.broadcast_to(arr, (B,) + shape).copy()
    if batched and arr.shape == (B,) + shape:
        return arr.copy()
    want = f"{shape}" + (f" or {(B,) + shape}" if batched else "")
    raise ShapeError(f"{name} has shape {arr.shape}; expected {want}")


def _init_params(init: Any, param: str, d: int, m: int | None, B: int, batched: bool, seed: int):
    """Initial W (B, d, d), or (K, Q) each (B, d, m), as numpy float64."""
    if isinstance(init, str):
        check_option(init, "init", ("zero", "default"))
        rng = np.random.default_rng(seed)
        m = d if m is None else m
        bound = 1.0 / math.sqrt(d)  # nn.Linear default: U(−1/√fan_in, 1/√fan_in), fan_in = d
        if param == "W":
            if init == "zero":
                return np.zeros((B, d, d)), None
            return rng.uniform(-bound, bound, (B, d, d)), None
        if init == "zero":  # official Fig 1 code: Q(0) = 0, K(0) = 0.1·N(0, I)
            return 0.1 * rng.standard_normal((B, d, m)), np.zeros((B, d, m))
        return rng.uniform(-bound, bound, (B, d, m)), rng.uniform(-bound, bound, (B, d, m))
    if param == "W":
        if isinstance(init, (tuple, list)):
            raise OptionError("init for param='W' must be 'zero', 'default' or an array W of shape (d, d) / (B, d, d)")
        return _batched_param(init, "init", (d, d), B, batched), None
    if not isinstance(init, (tuple, list)) or len(init) != 2:
        raise OptionError("init for param='KQ' must be 'zero', 'default' or a pair (K, Q) of arrays (d, m) / (B, d, m)")
    Ka = as_float_array(init[0], "K", (2, 3))
    mm = Ka.shape[-1]
    if m is not None and mm != m:
        raise ShapeError(f"init K has m = {mm} columns but m = {m} was requested")
    K = _batched_param(Ka, "K", (d, mm), B, batched)
    Q = _batched_param(init[1], "Q", (d, mm), B, batched)
    return K, Q


_DENORMAL_PROBE = 1e-310

#: Intra-op threads the trainers use on CPU (restored afterwards); None leaves torch's setting.
#: One thread is the default because the per-step tensors are small: on the project's 2-core
#: machines two threads made a (500, 20, 5, 30) batch 3x *slower* (thread hand-off per op, and
#: oversubscription whenever anything else runs). Set e.g. ``tfsvm.training.CPU_THREADS = 4``
#: on a big idle machine.
CPU_THREADS: int | None = 1


@contextmanager
def cpu_threads(threads: int | None = None):
    """Run the enclosed torch code with ``threads`` intra-op threads (default :data:`CPU_THREADS`;
    None there leaves torch's setting), restoring the previous setting afterwards.

    This is the one place the library sets torch's thread count: the trainers use it, and
    :func:`tfsvm.experiments.run_experiment` wraps every experiment in it, so chapters, tests and
    ``python -m tfsvm.reproduce`` need no thread settings of their own.
    """
    threads = CPU_THREADS if threads is None else check_count(threads, "threads", 1)
    before = torch.get_num_threads()
    try:
        if threads is not None:
            torch.set_num_threads(threads)
        yield
    finally:
        torch.set_num_threads(before)


@contextmanager
def _cpu_settings(device: torch.device, work: int = 0):
    """On CPU: :func:`cpu_threads`, and flush-to-zero for subnormal floats (exp of very negative
    log-probabilities would otherwise produce subnormals, ~100x slower to compute with). Both
    settings are restored afterwards."""
    if device.type != "cpu":
        yield
        return
    flushed = torch.tensor([_DENORMAL_PROBE], dtype=DTYPE).mul(1.0).item() == 0.0
    try:
        with cpu_threads():
            torch.set_flush_denormal(True)
            yield
    finally:
        torch.set_flush_denormal(flushed)


def _fro(A: torch.Tensor) -> torch.Tensor:
    """Per-trial Frobenius norm of (B, p, q) → (B, 1, 1)."""
    return torch.linalg.vector_norm(A, dim=(-2, -1), keepdim=True)


def _dot(A: torch.Tensor, Bm: torch.Tensor) -> torch.Tensor:
    """Per-trial Frobenius inner product ⟨A, Bm⟩ of (B, p, q) → (B, 1, 1); row matrices held
    feature-major are reduced in their (q, B, p) blocks (a reduction over the strided view is
    several times slower)."""
    if is_feature_major(A):
        return (feature_block(A) * feature_block(Bm)).sum(0).sum(-1).view(-1, 1, 1)
    return (A * Bm).sum((-2, -1), keepdim=True)


#: A squared norm computed from Gram matrices (⟨R, Z Zᵀ R⟩ = ‖Rᵀ Z‖², …) carries rounding of
#: about 1e-16 of its terms' scale; below this fraction of that scale it is recomputed from the
#: matrix itself (only then, so the reduced coordinates keep their speed).
_GRAM_CANCELLATION = 1e-6


def _checked_sq_norm(value: torch.Tensor, scale2: torch.Tensor, exact) -> torch.Tensor:
    """``value`` (a Gram-form squared norm, per trial) where it is reliable, ``exact()`` where it
    is below :data:`_GRAM_CANCELLATION` · ``scale2`` (the square of its terms' size)."""
    bad = value < _GRAM_CANCELLATION * scale2
    if bool(bad.any()):
        return torch.where(bad, exact(), value)
    return value


def _rows_scale2(R: torch.Tensor, z2: torch.Tensor) -> torch.Tensor:
    """‖R‖_F² ‖Z‖_F² ≥ (Σ_i ‖r_i‖ ‖z_i‖)², (B, 1, 1): bounds the terms of the Gram form of ‖Rᵀ Z‖²
    (``z2`` = ‖Z‖_F², (B, 1, 1))."""
    return _dot(R, R) * z2


def _ridge_scales(M: torch.Tensor, nA: torch.Tensor, nX: torch.Tensor, n: int,
                  ridge: float) -> tuple[torch.Tensor, torch.Tensor]:
    """(a, b) with a·A + b·X = exp(−S)·(−(e^M/n)·A + 2λ·X), a positive multiple of a ridge
    gradient, for A, X with Frobenius norms nA, nX (broadcasting with M), computed without
    under/overflow (A = O(1) while M may be ≪ −700): S = max(M + log(nA/n), log(2λ·nX)), so the
    larger of the two terms has norm 1."""
    la = M + torch.log(nA) - math.log(n)
    lb = torch.log(nX) + math.log(2 * ridge)
    S = torch.maximum(la, lb)
    S = torch.where(torch.isfinite(S), S, 0.0)
    return -torch.exp(M - S) / n, 2 * ridge * torch.exp((-S).clamp(max=700.0))


# ---------------------------------------------------------------------------------------
# results
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class TrainResult:
    """Output of :func:`train` (float64 numpy; ``…`` = the data's trial shape, () or (B,)).

    Attributes
    ----------
    W : (R, …, d, d)
        Recorded key-query matrices W(k) (for (K,Q): K(k) Q(k)ᵀ) at the steps ``steps``.
    steps : (R,)
        Recorded step indices (k = 0 is the initialisation).
    loss : (R, …)
        L(W(k)) (without the ridge term).
    max_prob : (R, …)
        (1/n) Σ_i max_t s_it(k) (mean over all outputs for sequence modes), as in Fig 7(a).
    probs_final : (…, n, T) or (…, n, K, T)
        Attention probabilities at the last step.
    K, Q : (…, d, m) or None
        Final factors for param="KQ".
    """

    W: np.ndarray
    steps: np.ndarray
    loss: np.ndarray
    max_prob: np.ndarray
    probs_final: np.ndarray
    param: str
    mode: str = "single"
    K: np.ndarray | None = None
    Q: np.ndarray | None = None
    info: dict = field(default_factory=dict)

    @property
    def W_final(self) -> np.ndarray:
        """W at the last recorded step, (…, d, d)."""
        return self.W[-1]

    @property
    def selected(self) -> np.ndarray:
        """argmax_t of the final attention probabilities (the tokens GD selects), int64."""
        return np.argmax(self.probs_final, axis=-1)

    def trial(self, b: int) -> "TrainResult":
        """The result of trial ``b`` of a batched run."""
        if self.W.ndim != 4:
            raise OptionError("trial() needs a batched result")
        return TrainResult(
            self.W[:, b], self.steps, self.loss[:, b], self.max_prob[:, b], self.probs_final[b], self.param,
            self.mode, None if self.K is None else self.K[b], None if self.Q is None else self.Q[b], dict(self.info),
        )


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
            from .attention import _logits, _masked, softmax_mix

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


# ---------------------------------------------------------------------------------------
# B's prompt model
# ---------------------------------------------------------------------------------------


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
    normalized: bool = True,
    loss: str | Loss = "logistic",
    record: Any = None,
    raw_eps: bool = False,
    device: Any = "cpu",
) -> PromptTrainResult:
    """GD on B's ERM L(v, p) = (1/n) Σ_i ℓ(Y_i vᵀX_iᵀS(X_i Wᵀ p)) (keys k_it = W x_it).

    ``p0`` (default 0) and ``v0`` (default ``data.v``) may be (d,) or (B, d): a batch of B
    initialisations trained at once (e.g. B's six starting points). With ``train_v`` the head is
    trained jointly, each gradient normalised separately (B's joint experiment). Gradients are
    closed-form and scale-free (see :mod:`tfsvm.gradients`):
    ∇_p L = (1/n) Σ_i ℓ′(u_i) K_iᵀ(diag(s_i) − s_i s_iᵀ)γ_i and ∇_v L = (1/n) Σ_i ℓ′(u_i) Y_i X_iᵀ s_i.
    """
    if not isinstance(data, PromptData):
        raise OptionError(f"train_prompt needs a PromptData, got {type(data).__name__}")
    if not (train_p or train_v):
        raise OptionError("nothing to train: set train_p and/or train_v")
    steps = check_count(steps, "steps", 0)
    lr = check_positive(lr, "lr")
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
    R = len(rec)
    is_rec = np.zeros(steps + 1, dtype=bool)
    is_rec[rec] = True
    out = {k: [] for k in ("p", "v", "loss", "probs", "outputs")}
    with _cpu_settings(dev, B * data.n * data.T * d), torch.no_grad():
        for k in range(steps + 1):
            a = torch.einsum("ntd,bd->bnt", keys, p)
            if k == 0 or train_v:  # the scores change only with v
                xv = torch.einsum("ntd,bd->bnt", X, v)
                gam = Y[None, :, None] * xv
            q, M, u, s, _ = scaled_logit_weights(a, gam, ls_)
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
                new_p = p - lr * _vec_step(gp, M, normalized, raw_eps)
            if train_v:
                lp = ls_.log_neg_deriv(u)  # (B, n)
                Mv = lp.amax(-1)
                wts = torch.exp(lp - Mv[:, None]) * Y  # (B, n)
                r = torch.einsum("bnt,ntd->bnd", s, X)
                gv = -torch.einsum("bn,bnd->bd", wts, r) / n  # ∇_v L · e^{−Mv}
                new_v = v - lr * _vec_step(gv, Mv, normalized, raw_eps)
            p, v = new_p, new_v
    cpu = lambda key: torch.stack(out[key]).cpu().numpy()  # noqa: E731
    res = {key: cpu(key) for key in out}
    if not batched:
        res = {key: val[:, 0] for key, val in res.items()}
    info = {"lr": lr, "normalized": normalized, "loss": ls_.name, "train_p": train_p, "train_v": train_v, "raw_eps": raw_eps}
    return PromptTrainResult(res["p"], res["v"], rec, res["loss"], res["probs"], res["outputs"], info)


def _vec_step(g: torch.Tensor, M: torch.Tensor, normalized: bool, raw_eps: bool) -> torch.Tensor:
    """Update direction from a scaled gradient g (true gradient = exp(M)·g), per row."""
    if normalized and not raw_eps:
        return g / (torch.linalg.vector_norm(g, dim=-1, keepdim=True) + EPS)
    graw = g * torch.exp(M)[:, None]
    if normalized:
        return graw / (torch.linalg.vector_norm(graw, dim=-1, keepdim=True) + EPS)
    return graw


# ---------------------------------------------------------------------------------------
# regularization path
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class RegularizationPath:
    """W̄_R for each radius (behaves like the list of matrices: ``path[j]``, ``len(path)``, iteration).

    Attributes: W (len(radii), d, d) — W̄_R (or K̄_R Q̄_Rᵀ); radii; excess_loss L(W̄_R) − L⋆;
    active — True where the ball constraint is active (KKT multiplier > 0); iterations;
    K, Q — the factors for param="KQ".
    """

    W: np.ndarray
    radii: np.ndarray
    excess_loss: np.ndarray
    active: np.ndarray
    iterations: np.ndarray
    param: str
    K: np.ndarray | None = None
    Q: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.radii)

    def __getitem__(self, j: int) -> np.ndarray:
        return self.W[j]

    def __iter__(self):
        return iter(self.W)


def regularization_path(
    data: AttentionData,
    radii: Iterable[float],
    param: str = "W",
    loss: str | Loss = "logistic",
    init: Any = None,
    seed: int = 0,
    maxiter: int = 5000,
    gtol: float = 1e-9,
    cone: tuple[Any, float] | None = None,
) -> RegularizationPath:
    """(W-RP) W̄_R = argmin_{‖W‖_F ≤ R} L(W), or (KQ-RP) argmin_{‖K‖_F² + ‖Q‖_F² ≤ 2R} L(KQᵀ)
    (Lemma 15: the same as the nuclear ball ‖W‖_⋆ ≤ R), for each R in ``radii`` (linear head).

    Solver. L has no finite minimiser for separable data (Lemma 2), so the ball constraint is
    active and the problem is solved on the sphere: W = R·θ/‖θ‖ (or (K, Q) = √(2R)·θ/‖θ‖),
    minimising f(θ) = log(L(W) − L⋆) — the same minimisers as L, but computed in log space
    (:func:`tfsvm.attention.log_excess_loss`), so it stays accurate when L(W) − L⋆ is far below
    float64 resolution of L (large R) — with scipy's L-BFGS-B and autograd gradients.
    Stopping rule: max_j |∂f/∂θ_j| ≤ ``gtol``·max(1, R), or a relative decrease of f below 1e-15,
    or ``maxiter`` iterations (``iterations`` in the result records the count; a
    :class:`~tfsvm.errors.SolverError` is raised if f ends above its starting value). Each radius
    is warm-started from the previous solution (rescaled), the first from the steepest-descent
    direction −∇L(0) (plus a small seeded perturbation for (K, Q), to leave the rank-deficient
    saddle). Afterwards the KKT multiplier is checked: if ⟨∇L(W̄_R), W̄_R⟩ ≥ 0 the constraint is
    not active (``active`` False) and an unconstrained L-BFGS run from W̄_R/2 is used when it stays
    inside the ball. This is a local method: on non-convex landscapes it returns the local
    minimiser reached from the warm start, as the path-following of the paper intends.

    Local path (Theorem 9 of A): ``cone=(alpha, eps)`` minimises L over
    cone_ε(α) ∩ {‖W‖_F ≤ R} instead (param="W"), see :func:`_local_regularization_path`.
    """
    if cone is not None:
        if param != "W":
            raise OptionError("cone=(alpha, eps) is only supported for param='W'")
        return _local_regularization_path(data, radii, cone, loss, init, maxiter)
    from scipy.optimize import minimize

    if not isinstance(data, AttentionData) or data.batch_shape:
        raise OptionError("regularization_path needs one (unbatched) AttentionData instance")
    check_option(param, "param", ("W", "KQ"))
    ls_ = get_loss(loss)
    seed = _check_seed(seed)
    maxiter = check_count(maxiter, "maxiter", 1)
    gtol = check_positive(gtol, "gtol")
    r_arr = np.asarray(list(radii), dtype=np.float64)
    if r_arr.ndim != 1 or r_arr.size == 0 or not np.all(np.isfinite(r_arr)) or np.any(r_arr <= 0):
        raise OptionError("radii must be a non-empty list of finite numbers > 0")
    d = data.d
    X, Z, Y, v = (torch.tensor(np.asarray(a), dtype=DTYPE) for a in (data.X, data.Z, data.Y, data.v))

    def f_W(W: torch.Tensor) -> torch.Tensor:
        return _log_excess(X, W, Z, Y, v, ls_)

    # starting direction: steepest descent at 0
    prob = LinearProblem(X[None], Z[None, :, None], Y[None, :, None], v[None], ls_)
    G0, _ = prob.grad(torch.zeros(1, d, d, dtype=DTYPE))
    W0 = -G0[0].numpy()
    if init is not None:
        W0 = np.asarray(init, dtype=np.float64)
        if param == "KQ":
            raise OptionError("init is only supported for param='W'")
        if W0.shape != (d, d):
            raise ShapeError(f"init has shape {W0.shape}; expected ({d}, {d})")
    if not np.any(W0):
        W0 = np.random.default_rng(seed).standard_normal((d, d))
    if param == "W":
        theta = W0.ravel() / np.linalg.norm(W0)
    else:
        U, S, Vt = np.linalg.svd(W0)
        K0, Q0 = U * np.sqrt(S), Vt.T * np.sqrt(S)
        rng = np.random.default_rng(seed)
        scale = np.sqrt(np.sum(K0**2) + np.sum(Q0**2))
        K0 = K0 + 1e-2 * scale / d * rng.standard_normal((d, d))
        Q0 = Q0 + 1e-2 * scale / d * rng.standard_normal((d, d))
        theta = np.concatenate([K0.ravel(), Q0.ravel()])
        theta /= np.linalg.norm(theta)

    def unpack(th: torch.Tensor, Rad: float) -> torch.Tensor:
        if param == "W":
            return (Rad * th / torch.linalg.vector_norm(th)).reshape(d, d)
        th = math.sqrt(2 * Rad) * th / torch.linalg.vector_norm(th)
        K, Q = th[: d * d].reshape(d, d), th[d * d :].reshape(d, d)
        return K @ Q.T

    Ws, excess, active, iters, Ks, Qs = [], [], [], [], [], []
    with _cpu_settings(torch.device("cpu"), 0):
        for Rad in r_arr:

            def fun(x: np.ndarray, Rad: float = float(Rad)) -> tuple[float, np.ndarray]:
                th = torch.tensor(x, dtype=DTYPE, requires_grad=True)
                val = f_W(unpack(th, Rad))
                if not torch.isfinite(val):
                    return float(val.detach()), np.zeros_like(x)
                (g,) = torch.autograd.grad(val, th)
                return float(val.detach()), g.numpy()

            f_start = fun(theta)[0]
            res = minimize(fun, theta, jac=True, method="L-BFGS-B",
                           options={"maxiter": maxiter, "gtol": gtol * max(1.0, Rad), "ftol": 1e-15, "maxcor": 20})
            theta = res.x / np.linalg.norm(res.x)
            if not np.isfinite(res.fun) or res.fun > f_start + 1e-12 * abs(f_start):
                raise SolverError(f"regularization path: L-BFGS failed at R = {Rad}: {res.message}")
            with torch.no_grad():
                Wb = unpack(torch.tensor(theta, dtype=DTYPE), float(Rad))
                G, _ = prob.grad(Wb[None])
                act = float((G[0] * Wb).sum()) < 0
            if not act and param == "W":  # constraint inactive: try an interior minimiser
                def fun_in(x: np.ndarray) -> tuple[float, np.ndarray]:
                    Wt = torch.tensor(x.reshape(d, d), dtype=DTYPE, requires_grad=True)
                    val = f_W(Wt)
                    (g,) = torch.autograd.grad(val, Wt)
                    return float(val.detach()), g.numpy().ravel()

                r2 = minimize(fun_in, 0.5 * Wb.numpy().ravel(), jac=True, method="L-BFGS-B",
                              options={"maxiter": maxiter, "gtol": gtol, "ftol": 1e-15})
                if np.linalg.norm(r2.x) <= Rad and r2.fun <= res.fun:
                    Wb = torch.tensor(r2.x.reshape(d, d), dtype=DTYPE)
            with torch.no_grad():
                excess.append(float(torch.exp(f_W(Wb))))
            Ws.append(Wb.numpy().copy())
            active.append(act)
            iters.append(int(res.nit))
            if param == "KQ":
                th = math.sqrt(2 * Rad) * theta
                Ks.append(th[: d * d].reshape(d, d))
                Qs.append(th[d * d :].reshape(d, d))
    return RegularizationPath(
        np.array(Ws), r_arr, np.array(excess), np.array(active), np.array(iters), param,
        np.array(Ks) if Ks else None, np.array(Qs) if Qs else None,
    )


def _local_regularization_path(data: AttentionData, radii: Iterable[float], cone: tuple[Any, float],
                               loss: str | Loss, init: Any, maxiter: int) -> RegularizationPath:
    """W̄_R = argmin { L(W) : W ∈ cone_ε(α), ‖W‖_F ≤ R } (Theorem 9 of A), by SLSQP.

    cone_ε(α) (eq. (5), :func:`tfsvm.tokens.cone_eps_value`) asks, per sequence, that *some*
    lower-score token t beat every higher-score token τ ≠ α_i by ε‖W‖_F. It is a union of convex
    cones; we use the piece that contains W_α^mm: t_i = the lower-score token with the largest
    logit under W_α^mm, giving the smooth constraints (x_{it_i} − x_iτ)ᵀ W z_i ≥ ε‖W‖_F for every
    τ ∈ high_i, plus ‖W‖_F² ≤ R². The first
    radius starts from R·W_α^mm/‖W_α^mm‖ (or ``init``) and each radius warm-starts the next. The
    objective is L(W) − L_α, L_α = (1/n) Σ_i ℓ(γ_iα_i), computed without cancellation and rescaled
    to O(1) per radius (inside the cone L − L_α → 0 like e^{−cR}, far below the resolution of L).
    SLSQP is a local method: at an intermediate R it may stop at a local minimiser on the cone's
    boundary (in the two-token example of chapter 5 it does at R = 20, where the grid search of
    :func:`tfsvm.experiments.local_convergence.local_path` finds an interior one); the direction
    limit of Theorem 9 is reached all the same (1 − corr(W̄_50, W_α^mm) ≈ 3·10⁻⁷ there).
    Raises :class:`~tfsvm.errors.OptionError` if W_α^mm is not in cone_ε(α) (then the piece is
    empty near it) and :class:`~tfsvm.errors.InfeasibleError` if (Att-SVM) for α is infeasible.
    """
    from scipy.optimize import minimize

    from . import svm, tokens
    from ._validation import check_selection

    if not isinstance(data, AttentionData) or data.batch_shape:
        raise OptionError("regularization_path needs one (unbatched) AttentionData instance")
    if not isinstance(cone, (tuple, list)) or len(cone) != 2:
        raise OptionError("cone must be a pair (alpha, eps)")
    alpha = check_selection(cone[0], data.X, "alpha")
    eps = check_positive(cone[1], "eps")
    ls_ = get_loss(loss)
    maxiter = check_count(maxiter, "maxiter", 1)
    r_arr = np.asarray(list(radii), dtype=np.float64)
    if r_arr.ndim != 1 or r_arr.size == 0 or not np.all(np.isfinite(r_arr)) or np.any(r_arr <= 0):
        raise OptionError("radii must be a non-empty list of finite numbers > 0")
    X_np, Z_np, sc = data.X, data.Z, data.scores
    n, T, d = X_np.shape
    W_a = svm.att_svm(X_np, Z_np, alpha)
    if tokens.cone_eps_value(W_a, X_np, Z_np, sc, alpha) < eps:
        raise OptionError(f"W_alpha^mm is not in cone_eps(alpha) for eps = {eps}: pick a smaller eps or a locally-optimal alpha")
    logits = X_np @ (W_a @ Z_np[..., None])[..., 0][..., None]  # (n, T, 1)
    top = sc[np.arange(n), alpha][:, None]
    low = sc < top
    high = (sc >= top) & (np.arange(T) != alpha[:, None])
    rows = []
    for i in range(n):
        if not high[i].any():
            continue
        t_i = int(np.argmax(np.where(low[i], logits[i, :, 0], -np.inf)))
        rows += [np.outer(X_np[i, t_i] - X_np[i, tau], Z_np[i]).ravel() for tau in np.flatnonzero(high[i])]
    F = np.array(rows).reshape(-1, d * d)
    X, Z, Y, v = (torch.tensor(np.asarray(a), dtype=DTYPE) for a in (X_np, Z_np, data.Y, data.v))

    gam = Y[:, None] * (X @ v)  # (n, T) token scores
    g_a = gam[torch.arange(n), torch.as_tensor(alpha)]  # (n,)
    diff = gam - g_a[:, None]  # γ_it − γ_iα_i (0 at α_i)

    def excess_over_alpha(Wt: torch.Tensor) -> torch.Tensor:
        """L(W) − L_α with L_α = (1/n) Σ_i ℓ(γ_iα_i), without cancellation: δ_i = Σ_t s_it (γ_it − γ_iα_i)
        from log-softmax (the α_i term is exactly 0), then ℓ(γ_iα + δ_i) − ℓ(γ_iα) = δ_i·ℓ′ for tiny δ_i."""
        s_ = torch.exp(torch.log_softmax((X @ (Wt @ Z.unsqueeze(-1))).squeeze(-1), dim=-1))
        delta = (s_ * diff).sum(-1)
        small = delta.abs() < 1e-8
        dsafe = torch.where(small, torch.ones_like(delta), delta)
        ratio = torch.where(small, ls_.deriv(g_a), (ls_.value(g_a + dsafe) - ls_.value(g_a)) / dsafe)
        return (delta * ratio).mean()

    scale = [1.0]

    def fun(x: np.ndarray) -> tuple[float, np.ndarray]:
        Wt = torch.tensor(x.reshape(d, d), dtype=DTYPE, requires_grad=True)
        val = excess_over_alpha(Wt) / scale[0]
        (g,) = torch.autograd.grad(val, Wt)
        return float(val.detach()), g.numpy().ravel()

    W0 = W_a if init is None else as_float_array(init, "init", 2)
    if W0.shape != (d, d):
        raise ShapeError(f"init has shape {W0.shape}; expected ({d}, {d})")
    x = W0.ravel() / np.linalg.norm(W0)
    prob = LinearProblem(X[None], Z[None, :, None], Y[None, :, None], v[None], ls_)
    Ws, excess, active, iters = [], [], [], []
    with _cpu_settings(torch.device("cpu"), 0):
        for Rad in r_arr:
            x = Rad * x / np.linalg.norm(x)
            scale[0] = 1.0
            scale[0] = max(abs(fun(x)[0]), 1e-300)  # objective O(1) at the start of every radius
            cons = [{"type": "ineq", "fun": lambda w, R=float(Rad): R * R - w @ w, "jac": lambda w: -2 * w}]
            if F.size:
                cons.append({"type": "ineq", "fun": lambda w: F @ w - eps * np.linalg.norm(w),
                             "jac": lambda w: F - eps * w[None] / max(np.linalg.norm(w), _TINY)})
            res = minimize(fun, x, jac=True, method="SLSQP", constraints=cons,
                           options={"maxiter": maxiter, "ftol": 1e-14})
            if not np.all(np.isfinite(res.x)):
                raise SolverError(f"local regularization path: SLSQP failed at R = {Rad}: {res.message}")
            x = res.x
            Wb = x.reshape(d, d)
            with torch.no_grad():
                G, _ = prob.grad(torch.tensor(Wb[None], dtype=DTYPE))
                excess.append(float(torch.exp(_log_excess(X, torch.tensor(Wb, dtype=DTYPE), Z, Y, v, ls_))))
            Ws.append(Wb.copy())
            active.append(float((G[0].numpy() * Wb).sum()) < 0)
            iters.append(int(res.nit))
    return RegularizationPath(np.array(Ws), r_arr, np.array(excess), np.array(active), np.array(iters), "W")
