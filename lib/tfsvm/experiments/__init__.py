"""The experiments behind the book's figures, keyed by the ids of ``tfsvm.reproduce``.

Each experiment is a module ``tfsvm.experiments.<id>`` that defines

* ``CONFIGS: dict[str, dict]`` with the keys ``"smoke"`` (seconds, for tests),
  ``"book"`` (what the book executes at build time) and ``"paper"`` (the paper's
  trial counts);
* ``PAPER: dict`` -- the paper's read-off values, in the same shape as the results
  where the paper reports them (empty if the paper has no figure);
* ``run(config: dict, seed: int = 0, device: str = "cpu", progress=None) -> dict``
  returning JSON-serialisable ``results`` (string keys);
* optionally the config key ``"jobs"`` (sweeps whose cells are independent, e.g. Figures 2, 5
  and 6, run that many cells in parallel worker processes, :func:`._common.map_cells`; the
  results do not depend on it);
* optionally ``plot(results: dict) -> Figure`` drawing the figure (with ``ax=None`` as a second
  argument when the figure can be drawn into the caller's axes; then ``ax`` is honoured), and,
  only as a stated exception to the status page's one rule (:func:`agrees`), ``TOLERANCE =
  {"abs": float, "rel": float, "reason": str}``; the reason is printed beside every row it decides.

Chapters call :func:`run_experiment` (at :func:`book_scale`), so the book and the
``reproduce`` command compute the same numbers with the same code. When the
environment variable ``TFSVM_RECORD_DIR`` is set (the book build sets it), every
run is also saved there as ``<id>.json``; the "Reproduction status" page reads them.
"""

from __future__ import annotations

import importlib
import json
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .._validation import check_option

SCALES = ("smoke", "book", "paper")

#: experiment id -> the figure of the paper it reproduces (A = 2308.16898 v1, B = 2306.13596)
FIGURES: dict[str, str] = {
    "gd_paths_2d": "A, Figure 1: 2-D gradient-descent paths vs. SVM directions",
    "rank": "A, Figure 4: rank of the Frobenius and nuclear SVM solutions",
    "convergence_types": "A, Figures 2 and 5: global / local / not-local convergence vs. d",
    "convergence_protocols": "A, Figures 2 and 5 at d ≤ 5: every candidate labelling protocol",
    "global_probability": "A, Figure 6: probability of global convergence vs. d",
    "local_convergence": "A, Figure 7: local convergence of W and (K,Q)",
    "multi_token": "A, Figures 8 and 11: nonlinear head, SVM-equivalence",
    "lambda_head": "A, Figures 9 and 12: the lambda head selects several tokens",
    "rank_sensitivity": "A, Figure 10: (K,Q) bias vs. the rank m",
    "sequential_causal": "A, Section 7 (no figure in the paper): sequential and causal SVMs",
    "prompt_single_input": "B: single input, global and local directions",
    "prompt_multi_input": "B: several inputs, normalized vs. plain GD",
    "joint_training": "B, Figure 3: joint training of v and p",
    "digits_attention": "Beyond the paper: attention on real images (digits), the paper's qualitative claims",
}

#: experiment ids, in the order of the paper
IDS: tuple[str, ...] = tuple(FIGURES)

#: The status page's one rule (:func:`agrees`): an absolute/relative band for paper values of
#: magnitude >= ``small``, a factor band on the log scale below it, a resolution for read-off zeros.
VERDICT_RULE = {"small": 0.1, "abs": 0.05, "rel": 0.1, "log10": 0.3, "zero": 0.01}


def agrees(paper: float, ours: float | None, rule: dict[str, float] = VERDICT_RULE) -> bool:
    """Whether a book value agrees with the paper's under the status page's rule (scale-respecting).

    * ``|paper| >= small``: ``|ours - paper| <= max(abs, rel * |paper|)``;
    * ``0 < |paper| < small``: same sign and ``|log10(ours / paper)| <= log10`` (within a factor 2
      for 0.3), so that 1 - corr values of size 0.005-0.1 are compared relative to their size;
    * ``paper == 0`` (a value read off as zero): ``|ours| < zero``.
    A missing or NaN book value never agrees.
    """
    if ours is None or math.isnan(ours):
        return False
    if abs(paper) >= rule["small"]:
        return abs(ours - paper) <= max(rule["abs"], rule["rel"] * abs(paper))
    if paper == 0:
        return abs(ours) < rule["zero"]
    return ours * paper > 0 and abs(math.log10(ours / paper)) <= rule["log10"]


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
    """Run experiment ``exp_id`` at ``scale`` (default :func:`book_scale`); ``overrides`` replace config entries.

    Only the default run of an experiment (no explicit ``scale``, no overrides: what a chapter shows
    as the figure) is saved to ``$TFSVM_RECORD_DIR``; variations run for checks or exercises are not.
    """
    is_default_run = scale is None and not overrides
    scale = book_scale() if scale is None else check_option(scale, "scale", SCALES)
    mod = get_experiment(exp_id)
    config = {**mod.CONFIGS[scale], **overrides}
    from ..training import cpu_threads

    t0 = time.perf_counter()
    with cpu_threads():  # small tensor programs: one torch thread (see tfsvm.training.CPU_THREADS)
        results = mod.run(config, seed=seed, device=device, progress=progress)
    record = Record(exp_id, time.perf_counter() - t0, {"scale": scale, "seed": seed, **config}, results,
                    getattr(mod, "PAPER", {}))
    record_dir = os.environ.get("TFSVM_RECORD_DIR")
    if record_dir and is_default_run:
        save_record(record, Path(record_dir))
    return record


def recorded_or_run(exp_id: str) -> Record:
    """This build's record of ``exp_id`` if a chapter has saved one to ``$TFSVM_RECORD_DIR``, else a default run.

    Lets a later page (e.g. the notes page) show an experiment that a chapter ran, without running
    it twice in one build; executed on its own, the page runs the experiment itself.
    """
    record_dir = os.environ.get("TFSVM_RECORD_DIR")
    path = Path(record_dir) / f"{exp_id}.json" if record_dir else None
    if path is None or not path.exists():
        return run_experiment(exp_id)
    entry = json.loads(path.read_text())
    return Record(exp_id, entry["seconds"], entry["config"], entry["results"], entry.get("paper", {}))


def save_record(record: Record, directory: Path) -> Path:
    """Write ``record`` to ``directory/<id>.json``."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{record.id}.json"
    path.write_text(json.dumps(record.to_json(), indent=1, allow_nan=False, default=_json_default))
    return path


def load_summary(directory: Path) -> dict[str, dict[str, Any]]:
    """Read every ``<id>.json`` record of ``directory`` (or its ``summary.json``) into one summary dict."""
    summary_file = directory / "summary.json"
    if summary_file.exists():
        return json.loads(summary_file.read_text())
    return {p.stem: json.loads(p.read_text()) for p in sorted(directory.glob("*.json")) if p.stem in FIGURES}


def _json_default(obj: Any) -> Any:
    if hasattr(obj, "tolist"):
        return obj.tolist()
    raise TypeError(f"cannot serialise {type(obj).__name__} to JSON")


def _leaves(tree: Any, prefix: tuple[str, ...] = ()):
    """Yield (path, value) for every numeric leaf of a nested dict."""
    if isinstance(tree, dict):
        for key, value in tree.items():
            yield from _leaves(value, prefix + (str(key),))
    elif isinstance(tree, (int, float)) and not isinstance(tree, bool):
        yield prefix, float(tree)


def _lookup(tree: Any, path: tuple[str, ...]) -> float | None:
    for key in path:
        if not isinstance(tree, dict) or key not in tree:
            return None
        tree = tree[key]
    return float(tree) if isinstance(tree, (int, float)) and not isinstance(tree, bool) else None


def compare_with_paper(exp_id: str, entry: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per value the paper reports: path, paper value, our value, whether they agree
    (:func:`agrees`) and ``exception`` (None, or the reason of the experiment's own ``TOLERANCE``,
    which then decides with the band ``|ours - paper| <= max(abs, rel * |paper|)``).
    """
    tol = getattr(get_experiment(exp_id), "TOLERANCE", None)
    if tol is not None and not str(tol.get("reason", "")).strip():
        raise ValueError(f"{exp_id}.TOLERANCE overrides the status page's rule but gives no 'reason'")
    rows = []
    for path, paper_value in _leaves(entry.get("paper", {})):
        ours = _lookup(entry.get("results", {}), path)
        if tol is None:
            ok = agrees(paper_value, ours)
        else:
            ok = (ours is not None and not math.isnan(ours)
                  and abs(ours - paper_value) <= max(tol["abs"], tol["rel"] * abs(paper_value)))
        rows.append({"path": "/".join(path), "paper": paper_value, "ours": ours, "agrees": ok,
                     "exception": None if tol is None else tol["reason"]})
    return rows
