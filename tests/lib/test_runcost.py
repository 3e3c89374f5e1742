"""The run cost a chapter states at its top (:mod:`tfsvm.runcost`): time and peak memory."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from tfsvm import runcost


def test_measure_counts_time_and_sees_memory_grow():
    before = runcost.measure()
    assert before.seconds > 0 and before.peak_mb > 10  # a Python process with numpy holds well over 10 MB
    block = np.ones(40_000_000)  # 320 MB, touched
    after = runcost.measure()
    assert after.peak_mb >= before.peak_mb + 250, (before, after)
    assert after.seconds >= before.seconds
    del block


def test_child_process_memory_is_reported_when_a_child_ran():
    alone = runcost.RunCost(seconds=3.0, peak_mb=400.0, child_peak_mb=0.0)
    assert alone.memory_text() == "400 MB"
    with_child = runcost.RunCost(seconds=3.0, peak_mb=400.0, child_peak_mb=250.4)
    assert with_child.memory_text() == "400 MB in the kernel and 250 MB in the largest process it started"
    subprocess.run([sys.executable, "-c", "import numpy; a = numpy.ones(20_000_000)"], check=True)
    assert runcost.measure().child_peak_mb >= 150  # the child held 160 MB


def test_glue_run_cost_glues_the_two_keys(monkeypatch):
    import myst_nb

    glued = {}
    monkeypatch.setattr(myst_nb, "glue", lambda key, value, display=True: glued.setdefault(key, (value, display)))
    monkeypatch.setenv("TFSVM_SCALE", "paper")
    cost = runcost.glue_run_cost("ch99")
    assert set(glued) == {"ch99-cost-seconds", "ch99-cost-peak-mb", "ch99-cost-scale"}
    assert glued["ch99-cost-scale"] == ("paper", False)
    assert glued["ch99-cost-seconds"] == (pytest.approx(cost.seconds, abs=0.06), False)
    assert glued["ch99-cost-peak-mb"] == (cost.memory_text(), False)
