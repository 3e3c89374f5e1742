"""Gradient descent on the attention ERM, batched over trials (A §2, App. F; B §3.4).

:func:`train` runs (W-GD) or (KQ-GD) — plain, or *normalised* as in every experiment of A
(App. F): W ← W − η ∇L/‖∇L‖, and for (K, Q) the objective L̃(K, Q) = L(KQᵀ) + λ(‖K‖_F² + ‖Q‖_F²)
(λ = ``ridge``, float64 machine epsilon by default) with K and Q each normalised separately.
Data with a trial dimension B run as *one* tensor program: one gradient evaluation per step for
all trials, per-trial normalisation.

Modules: :mod:`~tfsvm.training.gd` holds :func:`reference_gd` — the iteration as the paper
writes it, with the closed-form gradient (13)–(15) computed *scale-free*
(:class:`tfsvm.gradients.LinearProblem`: normalised GD needs only the direction of ∇L, which is
obtained exactly even when ∇L itself is below the smallest float64) — and :func:`train`, which
checks its input once and runs one engine (``engine=``): the reference, the fast engine
(:mod:`~tfsvm.training._engine`: the same iterates rearranged in reduced coordinates and a
feature-major layout, tested equal to the reference), or autograd through the model (for heads
without a closed form). Every engine takes its steps through one :func:`step_direction`.
:mod:`~tfsvm.training.prompt` trains B's prompt model (:func:`train_prompt`); :mod:`~tfsvm.training.joint`
trains the head v together with W in A's model (:func:`train_joint`);
:mod:`~tfsvm.training.paths` computes regularization paths W̄_R = argmin_{‖W‖_F ≤ R} L(W)
(:func:`regularization_path`, and the (K, Q) analogue).

The rules (``rule=``). ``"normalized"`` divides by the exact norm, so every normalised step has
length η (‖W(k)‖ ≤ ‖W(0)‖ + kη with near equality) and the iterates keep aligning with the
max-margin direction at any norm. The official code divides the raw float64 gradient by
‖∇L‖ + ε with ε = 2.2·10⁻¹⁶ (``"normalized_eps"``): once ‖∇L‖ ≲ ε (the softmax is saturated) its
steps shrink like ‖∇L‖/ε and W effectively stops (with the ridge λ the (K, Q) run then also
settles where λ‖K‖ ~ ‖∇L‖); the experiments of A §6 (nonlinear heads) keep it so that their
numbers follow the paper's protocol. ``"plain"`` is GD. All are numerically sound for every head.
"""

from __future__ import annotations

from ._common import EPS, RULES, TrainResult, cpu_threads, parse_record, step_direction
from .gd import ENGINES, Iterate, reference_gd, train
from .joint import train_joint
from .paths import RegularizationPath, regularization_path
from .prompt import PromptTrainResult, train_prompt

__all__ = [
    "EPS",
    "TrainResult",
    "PromptTrainResult",
    "RegularizationPath",
    "RULES",
    "ENGINES",
    "Iterate",
    "train",
    "reference_gd",
    "step_direction",
    "train_prompt",
    "train_joint",
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
