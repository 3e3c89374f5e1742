"""What running a chapter costs: wall-clock time and peak memory, measured by the chapter itself.

A chapter's last cell calls :func:`glue_run_cost`, which measures the time since its kernel
process started (start-up and imports included, as a reader waits for them too) and the peak
resident memory of the kernel and of the largest process it started, such as an experiment's
worker process (``getrusage``), and glues both, so that the top of the chapter can state what
running it cost when the book was built.
"""

from __future__ import annotations

import resource
import sys
import time
from dataclasses import dataclass

import psutil


@dataclass(frozen=True)
class RunCost:
    """Seconds since the process started and peak resident memory in MB (10^6 bytes)."""

    seconds: float
    peak_mb: float
    child_peak_mb: float  # the largest finished child process: experiment workers, helpers (0.0 if none)

    def memory_text(self) -> str:
        """The peak memory as a phrase for the text, e.g. ``"410 MB"``."""
        text = f"{self.peak_mb:.0f} MB"
        if self.child_peak_mb > 0:
            text += f" in the kernel and {self.child_peak_mb:.0f} MB in the largest process it started"
        return text


def _peak_mb(who: int) -> float:
    """Peak resident memory of ``who`` (``RUSAGE_SELF`` / ``RUSAGE_CHILDREN``) in MB."""
    peak = resource.getrusage(who).ru_maxrss  # kilobytes on Linux, bytes on macOS
    return peak / 1e6 if sys.platform == "darwin" else peak * 1024 / 1e6


def measure() -> RunCost:
    """The cost of this process so far: seconds since it started, and peak memory."""
    return RunCost(seconds=time.time() - psutil.Process().create_time(), peak_mb=_peak_mb(resource.RUSAGE_SELF),
                   child_peak_mb=_peak_mb(resource.RUSAGE_CHILDREN))


def glue_run_cost(prefix: str) -> RunCost:
    """Measure and glue ``<prefix>-cost-seconds`` (float), ``<prefix>-cost-peak-mb`` (a phrase) and
    ``<prefix>-cost-scale`` (the experiments' scale, :func:`tfsvm.experiments.book_scale`).

    Call it in a chapter's last cell; the chapter states both at its top. The keys end in
    ``-seconds`` and ``-peak-mb`` because they differ from run to run (the clean-environment test
    compares every other glued value with the build's).
    """
    from myst_nb import glue

    from tfsvm.experiments import book_scale

    cost = measure()
    glue(f"{prefix}-cost-scale", book_scale(), display=False)
    glue(f"{prefix}-cost-seconds", round(cost.seconds, 1), display=False)
    glue(f"{prefix}-cost-peak-mb", cost.memory_text(), display=False)
    return cost
