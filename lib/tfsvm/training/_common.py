"""Shared pieces of the trainers: options, initialisation, CPU settings, per-trial norms, results."""

from __future__ import annotations

import math
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from .._linalg import feature_block, is_feature_major
from .._validation import as_float_array, check_count, check_option
from ..attention import DTYPE
from ..errors import OptionError, ShapeError
from ..heads import HEADS, Head, LinearHead

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


def _resolve_head(head: Any, data: Any) -> Head:
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


@contextmanager
def cpu_threads(threads: int | None = None):
    """Run the enclosed torch code with ``threads`` intra-op threads (default :data:`CPU_THREADS`;
    None there leaves torch's setting), restoring the previous setting afterwards.

    This is the one place the library sets torch's thread count: the trainers use it, and
    :func:`tfsvm.experiments.run_experiment` wraps every experiment in it, so chapters, tests and
    ``python -m tfsvm.reproduce`` need no thread settings of their own.
    """
    from .. import training

    threads = training.CPU_THREADS if threads is None else check_count(threads, "threads", 1)
    before = torch.get_num_threads()
    try:
        if threads is not None:
            torch.set_num_threads(threads)
        yield
    finally:
        torch.set_num_threads(before)



@contextmanager
def _cpu_settings(device: torch.device):
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


def ridge_gradient(G: torch.Tensor, log_scale: torch.Tensor, P: torch.Tensor,
                   ridge: float) -> tuple[torch.Tensor, torch.Tensor]:
    """(D, S) with e^S·D = e^{log_scale}·G + 2λ·P (λ = ``ridge``): the gradient of a factor P
    of L(KQᵀ) + λ(‖K‖² + ‖Q‖²) from its scale-free loss part G, without under/overflow
    (G = O(1) while log_scale may be ≪ −700): S = max(log_scale + log‖G‖, log(2λ‖P‖)), so the
    larger of the two terms of D has norm 1. ``log_scale`` broadcasts against the per-trial norms
    (…, 1, 1); with λ = 0 this is (G, log_scale)."""
    if ridge == 0:
        return G, log_scale
    a, b, S = _ridge_coefficients(log_scale, _fro(G), _fro(P), ridge)
    return (G * a).addcmul_(P, b), S


def _ridge_coefficients(log_scale: torch.Tensor, nG: torch.Tensor, nP: torch.Tensor,
                        ridge: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(a, b, S) with e^S·(a·G + b·P) = e^{log_scale}·G + 2λ·P for ‖G‖ = nG, ‖P‖ = nP
    (:func:`ridge_gradient`; λ > 0)."""
    S = torch.maximum(log_scale + torch.log(nG), torch.log(nP) + math.log(2 * ridge))
    S = torch.where(torch.isfinite(S), S, 0.0)
    return torch.exp(log_scale - S), 2 * ridge * torch.exp((-S).clamp(max=700.0)), S


#: The update rules of normalised and plain GD (:func:`step_direction`).
RULES = ("plain", "normalized", "normalized_eps")


def step_scale(norm: torch.Tensor, log_scale: torch.Tensor | None, rule: str) -> torch.Tensor:
    """c with step_direction = c·G, for a gradient e^{log_scale}·G whose scale-free part G has
    norm ``norm`` (:func:`step_direction`; the fast engine uses it with norms from Gram matrices)."""
    if rule == "normalized":  # the scale drops out
        return torch.where(norm > 0, norm.reciprocal(), 0.0)
    scale = torch.ones_like(norm) if log_scale is None else torch.exp(log_scale)
    if rule == "plain":
        return scale
    return scale / (scale * norm + EPS)


def step_direction(grad: torch.Tensor, rule: str, log_scale: torch.Tensor | None = None,
                   dims: int | tuple[int, ...] = (-2, -1)) -> torch.Tensor:
    """The update direction D of P ← P − η D for the gradient ∇ = e^{log_scale}·``grad``
    (``log_scale`` None: ∇ = grad), per trial (norms over ``dims``; each factor separately):

    * ``"plain"``: D = ∇ (GD);
    * ``"normalized"``: D = ∇/‖∇‖ (normalised GD, App. F), computed from the scale-free ``grad``,
      so it is exact even when ∇ underflows: every step has length η;
    * ``"normalized_eps"``: D = ∇/(‖∇‖ + ε), ε the float64 machine epsilon, as the official code
      does: once ‖∇‖ ≲ ε (a saturated softmax) the steps shrink like ‖∇‖/ε.
    """
    return grad * step_scale(torch.linalg.vector_norm(grad, dim=dims, keepdim=True), log_scale, rule)


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




class Recorder:
    """The records of a run: W(k), L(W(k)) and the mean max probability at the steps ``rec``
    (torch, (R, B, …)), filled by the engines."""

    def __init__(self, rec: np.ndarray, steps: int, B: int, d: int, device: torch.device):
        self.wanted = np.zeros(steps + 1, dtype=bool)
        self.wanted[rec] = True
        self.W = torch.empty((len(rec), B, d, d), dtype=DTYPE, device=device)
        self.loss = torch.empty((len(rec), B), dtype=DTYPE, device=device)
        self.max_prob = torch.empty((len(rec), B), dtype=DTYPE, device=device)
        self._j = 0

    def wants(self, k: int) -> bool:
        """Whether step k is recorded."""
        return bool(self.wanted[k])

    def add(self, W: torch.Tensor, loss: torch.Tensor, probs: torch.Tensor) -> None:
        """Store W (B, d, d), the loss (B,) and max_t s (averaged over the outputs) of the next record."""
        self.W[self._j] = W
        self.loss[self._j] = loss
        self.max_prob[self._j] = probs.amax(-1).flatten(1).mean(-1)
        self._j += 1
