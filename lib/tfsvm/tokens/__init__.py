"""Token geometry: scores, optimal and selected tokens, local optimality, assumptions, cones.

This module answers "which token does attention select, and is that selection one
that gradient descent can converge to?" for a fixed dataset ``(X, Z, Y, v)``:

* token scores and optimal tokens (Definition 1 of A);
* support indices and locally-optimal selections (Definition 2 of A, after B's
  Definition 2), with a batched variant for sweeps over many trials;
* the token assumptions B.1, B.2 (Section 4.1), C (Section 4.2) and D (Section 5.2);
* the cone of eq. (4) and the separating cone ``cone_eps(alpha)`` of eq. (5)
  (Definition 3, Lemma 5);
* the Global / Local / Not-Local classification of a trained run (Figures 2 and 5)
  and the selected / masked sets of a multi-token composition (Section 6, Figures 8, 9).

Shapes follow ARCHITECTURE.md: ``X`` (n, T, d), ``Z`` (n, d), ``Y`` (n,), ``v`` (d,),
``scores`` (n, T), ``alpha`` (n,), ``W`` (d, d); batched variants put a trial axis first.

Modules: :mod:`.scores` (Definition 1, selected tokens), :mod:`.optimality` (Definition 2,
run labels), :mod:`.assumptions` (B, C, D), :mod:`.cones` (eqs. (4), (5)).
"""

from .assumptions import (
    AssumptionB1,
    AssumptionC,
    AssumptionD,
    assumption_b1,
    assumption_b2,
    assumption_c,
    assumption_d,
)
from .cones import cone_eps_value, in_cone, in_cone_eps
from .optimality import (
    RUN_LABELS,
    SUPPORT_TOL,
    LocalOptimality,
    LocalOptimalityBatch,
    classify_run,
    classify_runs_batch,
    convergence_fractions,
    is_locally_optimal,
    locally_optimal_batch,
    support_indices,
)
from .scores import (
    SelectionSets,
    gamma,
    optimal_tokens,
    score_gap,
    selected_tokens,
    selection_sets,
    token_scores,
    top_gaps,
)

__all__ = [
    "RUN_LABELS", "SUPPORT_TOL", "gamma", "top_gaps", "token_scores", "optimal_tokens", "score_gap",
    "selected_tokens", "SelectionSets", "selection_sets", "support_indices", "LocalOptimality",
    "is_locally_optimal", "LocalOptimalityBatch", "locally_optimal_batch", "classify_run",
    "classify_runs_batch", "convergence_fractions", "AssumptionB1", "assumption_b1", "assumption_b2",
    "AssumptionC", "assumption_c", "AssumptionD", "assumption_d", "in_cone", "cone_eps_value",
    "in_cone_eps",
]
