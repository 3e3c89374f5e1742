"""Reproduce every experiment of both papers in one command.

    python -m tfsvm.reproduce --scale paper --out results/
    python -m tfsvm.reproduce --scale smoke --out /tmp/smoke --only rank gd_paths_2d

Writes ``OUT/summary.json`` (experiment id -> {"seconds", "config", "results", "paper"}),
one figure ``OUT/<id>.png`` per experiment, and a progress bar per experiment on stderr.
"""

from __future__ import annotations

import argparse
import json
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


def reproduce(ids: Sequence[str], scale: str, out: Path, seed: int = 0, device: str = "cpu") -> dict:
    """Run ``ids`` at ``scale``; write records, figures and ``summary.json`` into ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    summary = {}
    for exp_id in ids:
        bar = ProgressBar(exp_id)
        record = run_experiment(exp_id, scale=scale, seed=seed, device=device, progress=bar)
        bar(1, 1)
        bar.close()
        save_record(record, out / "records")
        save_figure(record, out)
        summary[exp_id] = record.to_json()
        (out / "summary.json").write_text(json.dumps(summary, indent=1, allow_nan=False))
        print(f"{exp_id}: {record.seconds:.1f} s", file=sys.stderr)
    return summary


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m tfsvm.reproduce", description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", default="paper", choices=SCALES, help="trial counts (default: paper)")
    parser.add_argument("--out", type=Path, required=True, help="output directory")
    parser.add_argument("--only", nargs="+", metavar="ID", choices=IDS, help="run only these experiments")
    parser.add_argument("--seed", type=int, default=0, help="master seed (default 0)")
    parser.add_argument("--device", default="cpu", help="torch device, e.g. cpu or cuda")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.device != "cpu":
        import torch

        if args.device.startswith("cuda") and not torch.cuda.is_available():
            raise OptionError(f"device {args.device!r} requested but no CUDA device is available")
    t0 = time.perf_counter()
    reproduce(args.only or IDS, args.scale, args.out, seed=args.seed, device=args.device)
    print(f"total: {time.perf_counter() - t0:.1f} s; summary in {args.out / 'summary.json'}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
