"""The experiments behind the book's figures, keyed by the ids of ``tfsvm.reproduce``.

Each experiment is a module ``tfsvm.experiments.<id>`` that defines

* ``CONFIGS: dict[str, dict]`` with the keys ``"smoke"`` (seconds, for tests),
  ``"book"`` (what the book executes at build time) and ``"paper"`` (the paper's
  trial counts);
* ``PAPER: dict`` -- the paper's read-off values, in the same shape as the results
  where the paper reports them (empty if the paper has no figure);
* ``run(config: dict, seed: int = 0, device: str = "cpu", progress=None) -> dict``
  returning JSON-serialisable ``results`` (string keys);
* optionally ``plot(results: dict, ax=None)`` drawing the figure.

Chapters call :func:`run_experiment` with :func:`book_scale`, so the book and the
``reproduce`` command compute the same numbers with the same code.
"""

from __future__ import annotations

import importlib
import os
import time
from dataclasses import dataclass, field
from typing import Any

from .._validation import check_option

SCALES = ("smoke", "book", "paper")

#: experiment ids, in the order of the paper
IDS: tuple[str, ...] = (
    "gd_paths_2d",
    "rank",
    "convergence_types",
    "global_probability",
    "local_convergence",
    "multi_token",
    "lambda_head",
    "rank_sensitivity",
    "sequential_causal",
    "prompt_single_input",
    "prompt_multi_input",
    "joint_training",
)


def book_scale() -> str:
    """The scale the book runs at: ``$TFSVM_SCALE`` if set, else ``"book"``."""
    return check_option(os.environ.get("TFSVM_SCALE", "book"), "TFSVM_SCALE", SCALES)


def get_experiment(exp_id: str):
    """Import and return the module of experiment ``exp_id``."""
    check_option(exp_id, "experiment id", IDS)
    return importlib.import_module(f"{__name__}.{exp_id}")


@dataclass
class Record:
    """One experiment's output, as written to ``summary.json``."""

    id: str
    seconds: float
    config: dict[str, Any]
    results: dict[str, Any]
    paper: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"seconds": self.seconds, "config": self.config, "results": self.results, "paper": self.paper}


def run_experiment(exp_id: str, scale: str | None = None, seed: int = 0, device: str = "cpu",
                   progress=None, **overrides: Any) -> Record:
    """Run experiment ``exp_id`` at ``scale`` (default :func:`book_scale`); ``overrides`` replace config entries."""
    scale = book_scale() if scale is None else check_option(scale, "scale", SCALES)
    mod = get_experiment(exp_id)
    config = {**mod.CONFIGS[scale], **overrides}
    t0 = time.perf_counter()
    results = mod.run(config, seed=seed, device=device, progress=progress)
    return Record(exp_id, time.perf_counter() - t0, config, results, getattr(mod, "PAPER", {}))
