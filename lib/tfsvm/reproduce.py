"""Reproduce every experiment of both papers in one command.

    python -m tfsvm.reproduce --scale paper --out results/
    python -m tfsvm.reproduce --scale smoke --out /tmp/smoke --only rank gd_paths_2d

Writes ``OUT/summary.json`` (experiment id -> {"seconds", "config", "results", "paper"}),
one figure ``OUT/<id>.png`` per experiment, and a progress bar per experiment on stderr.
With ``--jobs J`` (default: the number of CPU cores) the experiments run in J worker processes,
longest first; every experiment has its own seeds, so the results do not depend on J, and
"seconds" is each experiment's own wall time (while sharing the machine with the others).
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from .errors import OptionError
from .experiments import IDS, SCALES, Record, get_experiment, run_experiment, save_record


class ProgressBar:
    """A dependency-free progress bar on stderr: ``progress(done, total)``."""

    def __init__(self, label: str, width: int = 30, stream=sys.stderr) -> None:
        self.label, self.width, self.stream = label, width, stream
        self.start = time.perf_counter()

    def __call__(self, done: int, total: int) -> None:
        frac = 0.0 if total <= 0 else min(done / total, 1.0)
        filled = int(round(frac * self.width))
        elapsed = time.perf_counter() - self.start
        self.stream.write(f"\r{self.label:<20s} [{'#' * filled}{'.' * (self.width - filled)}] "
                          f"{done}/{total} {elapsed:6.1f}s")
        self.stream.flush()

    def close(self) -> None:
        self.stream.write("\n")
        self.stream.flush()


def save_figure(record: Record, out: Path) -> Path | None:
    """Draw the experiment's figure with its module's ``plot`` and save ``out/<id>.png``."""
    mod = get_experiment(record.id)
    if not hasattr(mod, "plot"):
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from .plotting import setup_style

    setup_style()
    fig = mod.plot(record.results)
    fig = fig if hasattr(fig, "savefig") else plt.gcf()
    path = out / f"{record.id}.png"
    fig.savefig(path, dpi=120)
    plt.close("all")
    return path


#: paper-scale cost order (measured, most expensive first): the parallel run starts these first
LONGEST_FIRST = ("global_probability", "rank_sensitivity", "multi_token", "convergence_types", "rank",
                 "lambda_head", "local_convergence", "sequential_causal", "gd_paths_2d", "prompt_multi_input",
                 "joint_training", "prompt_single_input")


def reproduce(ids: Sequence[str], scale: str, out: Path, seed: int = 0, device: str = "cpu", jobs: int = 1) -> dict:
    """Run ``ids`` at ``scale`` in ``jobs`` processes; write records, figures and ``summary.json`` into ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    summary: dict = {}

    def finish(record: Record) -> None:
        save_record(record, out / "records")
        save_figure(record, out)
        summary[record.id] = record.to_json()
        ordered = {k: summary[k] for k in ids if k in summary}  # summary.json in the order asked for
        (out / "summary.json").write_text(json.dumps(ordered, indent=1, allow_nan=False))
        print(f"{record.id}: {record.seconds:.1f} s", file=sys.stderr)

    if jobs <= 1 or len(ids) <= 1:
        for exp_id in ids:
            bar = ProgressBar(exp_id)
            record = run_experiment(exp_id, scale=scale, seed=seed, device=device, progress=bar)
            bar(1, 1)
            bar.close()
            finish(record)
    else:
        _run_parallel(ids, scale, seed, device, jobs, finish)
    return {k: summary[k] for k in ids}


def _run_parallel(ids: Sequence[str], scale: str, seed: int, device: str, jobs: int, finish) -> None:
    """Experiments in ``jobs`` spawned processes, longest first; one status line of per-experiment bars."""
    import multiprocessing as mp
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

    ctx = mp.get_context("spawn")
    order = sorted(ids, key=lambda k: LONGEST_FIRST.index(k) if k in LONGEST_FIRST else len(LONGEST_FIRST))
    with ctx.Manager() as manager, ProcessPoolExecutor(max_workers=jobs, mp_context=ctx) as pool:
        updates = manager.Queue()
        pending = {pool.submit(_worker, k, scale, seed, device, updates) for k in order}
        status = StatusLine()
        while pending:
            done, pending = wait(pending, timeout=0.5, return_when=FIRST_COMPLETED)
            while True:
                try:
                    status.update(*updates.get_nowait())
                except queue.Empty:
                    break
            for fut in done:
                record = fut.result()
                status.clear()
                finish(record)
                status.forget(record.id)
            status.draw()
        status.clear()


def _worker(exp_id: str, scale: str, seed: int, device: str, updates) -> Record:
    """One experiment in a worker process, reporting ``(id, done, total)`` progress to ``updates``."""
    updates.put((exp_id, 0, 0))  # started: shown before its first sweep cell finishes
    return run_experiment(exp_id, scale=scale, seed=seed, device=device,
                          progress=lambda done, total: updates.put((exp_id, done, total)))


class StatusLine:
    """The progress bars of the running experiments, side by side on one stderr line."""

    def __init__(self, width: int = 12, stream=sys.stderr) -> None:
        self.width, self.stream = width, stream
        self.bars: dict[str, tuple[int, int]] = {}
        self.start = time.perf_counter()

    def update(self, exp_id: str, done: int, total: int) -> None:
        self.bars[exp_id] = (done, total)

    def forget(self, exp_id: str) -> None:
        self.bars.pop(exp_id, None)

    def draw(self) -> None:
        parts = []
        for exp_id, (done, total) in self.bars.items():
            filled = int(round(self.width * min(done / total, 1.0))) if total > 0 else 0
            count = f"{done}/{total}" if total > 0 else "started"
            parts.append(f"{exp_id} [{'#' * filled}{'.' * (self.width - filled)}] {count}")
        self.stream.write(f"\r{'  '.join(parts)}  {time.perf_counter() - self.start:6.1f}s\033[K")
        self.stream.flush()

    def clear(self) -> None:
        self.stream.write("\r\033[K")
        self.stream.flush()


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m tfsvm.reproduce", description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", default="paper", choices=SCALES, help="trial counts (default: paper)")
    parser.add_argument("--out", type=Path, required=True, help="output directory")
    parser.add_argument("--only", nargs="+", metavar="ID", choices=IDS, help="run only these experiments")
    parser.add_argument("--seed", type=int, default=0, help="master seed (default 0)")
    parser.add_argument("--device", default="cpu", help="torch device, e.g. cpu or cuda")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1,
                        help="experiments run in this many worker processes (default: the number of CPU cores)")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.device != "cpu":
        import torch

        if args.device.startswith("cuda") and not torch.cuda.is_available():
            raise OptionError(f"device {args.device!r} requested but no CUDA device is available")
    if args.jobs < 1:
        raise OptionError(f"--jobs must be >= 1, got {args.jobs}")
    t0 = time.perf_counter()
    reproduce(args.only or IDS, args.scale, args.out, seed=args.seed, device=args.device, jobs=args.jobs)
    print(f"total: {time.perf_counter() - t0:.1f} s; summary in {args.out / 'summary.json'}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
