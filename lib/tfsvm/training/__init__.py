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

from ._common import EPS, TrainResult, cpu_threads, parse_record
from .gd import train
from .paths import RegularizationPath, regularization_path
from .prompt import PromptTrainResult, train_prompt

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


#: Intra-op threads the trainers use on CPU (restored afterwards); None leaves torch's setting.
#: One thread is the default because the per-step tensors are small: on the project's 2-core
#: machines two threads made a (500, 20, 5, 30) batch 3x *slower* (thread hand-off per op, and
#: oversubscription whenever anything else runs). Set e.g. ``tfsvm.training.CPU_THREADS = 4``
#: on a big idle machine.
CPU_THREADS: int | None = 1
