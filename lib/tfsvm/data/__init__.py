"""Datasets of the papers' experiments and their generators (A §2–§6, App. F; B §3.4).

Containers
----------
* :class:`AttentionData` — A's cross-/self-attention data ``(X, Z, Y, v)`` with
  ``X`` (n, T, d), ``Z`` (n, d), ``Y`` (n,), ``v`` (d,), or with one leading trial
  dimension B for batches of independent instances: ``X`` (B, n, T, d), ``Z`` (B, n, d),
  ``Y`` (B, n), ``v`` (B, d).
* :class:`SequenceData` — A §7's sequence-output data: one query per output position,
  ``Z`` (n, K, d), labels ``Y`` (n, K) (self-attention: ``Z = X``, K = T).
* :class:`PromptData` — B's prompt-attention data ``(X, Y, v, W)``; the trainable
  object is the prompt/query vector p (and possibly v).

Generators (each takes an explicit ``seed``; numpy ``default_rng(seed)``, no global state)
------------------------------------------------------------------------------------------
* :func:`unit_sphere_data` — the data of every A experiment (Figs 2, 4–8, 10).
* :func:`gd_paths_2d_data` — the toy of Figure 1.
* :func:`orthonormal_token_data` — Section 6.1 / Figure 9.
* :func:`sequence_data` — self-attention data with per-position labels (Section 7).
* :func:`prompt_single_input_data`, :func:`prompt_multi_input_data`,
  :func:`joint_training_data`, :func:`loss_comparison_data` — B's four notebooks.

All arrays are float64 numpy, stored read-only.

Modules: :mod:`.containers`, :mod:`.generators` (A), :mod:`.prompt` (B).
"""

from .containers import AttentionData, PromptData, SequenceData, TorchAttentionData
from .generators import (
    equal_scores_data,
    gd_paths_2d_data,
    orthonormal_token_data,
    sequence_data,
    unit_sphere_data,
)
from .prompt import joint_training_data, loss_comparison_data, prompt_multi_input_data, prompt_single_input_data

__all__ = [
    "AttentionData",
    "SequenceData",
    "PromptData",
    "TorchAttentionData",
    "unit_sphere_data",
    "equal_scores_data",
    "gd_paths_2d_data",
    "orthonormal_token_data",
    "sequence_data",
    "prompt_single_input_data",
    "prompt_multi_input_data",
    "joint_training_data",
    "loss_comparison_data",
]
