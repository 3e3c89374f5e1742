"""Helpers shared by the experiment modules (seeds, JSON-friendly summaries, replicated batches).

Thread settings are not here: every heavy path goes through :func:`tfsvm.training.cpu_threads`
(the trainers use it, and :func:`tfsvm.experiments.run_experiment` wraps every experiment in it).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from .. import data

__all__ = ["PARAMS", "derive_seed", "setting_key", "mean_or_none", "tile_trials", "map_cells"]

#: the two parameterizations of A: W, and (K, Q) with W = K Qᵀ
PARAMS = ("W", "KQ")


def derive_seed(*keys: int) -> int:
    """A reproducible 32-bit seed derived from the integers ``keys`` (numpy ``SeedSequence``),
    e.g. ``derive_seed(seed, n, T, d)`` for one cell of a sweep."""
    return int(np.random.SeedSequence([int(k) for k in keys]).generate_state(1)[0])


def setting_key(n: int, T: int) -> str:
    """Results key of an (n, T) setting, e.g. ``"n5_T10"``."""
    return f"n{n}_T{T}"


def mean_or_none(values: Any) -> float | None:
    """Mean as a float, or None for an empty sample (JSON-friendly)."""
    return float(np.mean(values)) if np.size(values) else None


def tile_trials(inst: data.AttentionData, times: int) -> data.AttentionData:
    """``times`` copies of ``inst`` as one batch, to train or evaluate many runs at once.

    An unbatched instance becomes a batch of ``times`` identical trials; a batch of B trials
    becomes ``times`` consecutive blocks of B (block j = all trials, e.g. for the j-th λ).
    """
    if inst.batch_shape:
        rep = lambda a: np.concatenate([a] * times)  # noqa: E731
    else:
        rep = lambda a: np.repeat(a[None], times, axis=0)  # noqa: E731
    return data.AttentionData(rep(inst.X), rep(inst.Z), rep(inst.Y), rep(inst.v))


def map_cells(fn: Callable[..., Any], cells: Sequence[tuple], jobs: int = 1,
              progress: Callable[[int, int], None] | None = None) -> list[Any]:
    """``[fn(*cell) for cell in cells]``, in ``jobs`` worker processes when ``jobs > 1``.

    Cells of a sweep are independent runs with their own seeds, so the results do not depend on
    ``jobs`` (workers are started with "spawn" and run torch on :data:`tfsvm.training.CPU_THREADS`
    threads, like the main process). ``fn`` must be a module-level function. Results come back in
    the order of ``cells``; ``progress(done, total)`` is called as cells finish.
    """
    total = len(cells)
    if jobs <= 1 or total <= 1:
        out = []
        for k, cell in enumerate(cells):
            out.append(fn(*cell))
            if progress is not None:
                progress(k + 1, total)
        return out
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor, as_completed

    results: list[Any] = [None] * total
    with ProcessPoolExecutor(max_workers=min(jobs, total), mp_context=mp.get_context("spawn")) as pool:
        futures = {pool.submit(_in_worker, fn, cell): k for k, cell in enumerate(cells)}
        for done, fut in enumerate(as_completed(futures), start=1):
            results[futures[fut]] = fut.result()
            if progress is not None:
                progress(done, total)
    return results


def _in_worker(fn: Callable[..., Any], cell: tuple) -> Any:
    """Run one cell in a worker process with the library's torch thread setting."""
    from ..training import cpu_threads

    with cpu_threads():
        return fn(*cell)


def normalized_rule(raw_eps: bool) -> str:
    """The ``rule`` of :func:`tfsvm.training.train` for an experiment's ``raw_eps`` option:
    ``"normalized_eps"`` (ε added to the raw gradient norm, as the official code) or the exact
    ``"normalized"``."""
    return "normalized_eps" if raw_eps else "normalized"
