"""The book's colours stay distinguishable for colour-blind readers.

Each palette that the figures use systematically is simulated under full deuteranopia,
protanopia and tritanopia with the model of Machado, Oliveira and Fernandes (2009, IEEE TVCG
15(6)), as implemented by ``colorspacious`` (severity 100), and every pair of its colours must stay
at least ``MIN_DELTA_E`` apart in the CAM02-UCS colour space (Luo, Cui and Li 2006), with normal
vision too. A ΔE of about 1 is a just-noticeable difference; 15 keeps lines and bars apart at a
glance. The first test shows the check can fail: matplotlib's own red and green, which the book
used before, merge under deuteranopia.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from colorspacious import cspace_convert
from matplotlib.colors import to_rgb

from tfsvm import plotting
from tfsvm.experiments import gd_paths_2d, joint_training, sequential_causal

MIN_DELTA_E = 15.0
VISIONS = ("normal", "deuteranomaly", "protanomaly", "tritanomaly")

PALETTES = {
    "parameterization (W, KQ)": plotting.PARAM_COLORS,
    "convergence types (Figs. 2, 5)": plotting.CONVERGENCE_COLORS,
    f"first {plotting.CYCLE_CHECKED} colours of the figure cycle": dict(
        enumerate(plotting.CYCLE_COLORS[: plotting.CYCLE_CHECKED])),
    "sequential vs causal (Chapter 7)": sequential_causal.MODE_COLORS,
    "tokens of the 2-d toy (Chapters 1, 3)": dict(enumerate(gd_paths_2d._TOKEN_COLORS)),
    "joint training paths (Chapter 8)": joint_training.COLORS,
}


def as_seen(colors: list[str], vision: str) -> np.ndarray:
    """CAM02-UCS coordinates of ``colors`` as a reader with ``vision`` sees them."""
    rgb = np.array([to_rgb(c) for c in colors])
    if vision != "normal":
        cvd = {"name": "sRGB1+CVD", "cvd_type": vision, "severity": 100}
        rgb = np.clip(cspace_convert(rgb, cvd, "sRGB1"), 0.0, 1.0)
    return cspace_convert(rgb, "sRGB1", "CAM02-UCS")


def closest_pair(palette: dict) -> tuple[float, str, str, str]:
    """The smallest pairwise ΔE over all visions: (ΔE, vision, name, name)."""
    names, colors = list(palette), [palette[k] for k in palette]
    found = []
    for vision in VISIONS:
        jab = as_seen(colors, vision)
        for a, b in itertools.combinations(range(len(colors)), 2):
            found.append((float(np.linalg.norm(jab[a] - jab[b])), vision, str(names[a]), str(names[b])))
    return min(found)


def test_the_check_can_fail_on_red_against_green():
    delta, vision, _, _ = closest_pair({"red": "tab:red", "green": "tab:green"})
    assert delta < MIN_DELTA_E and vision == "deuteranomaly"


def test_simulation_leaves_greys_grey():
    # a code consistency check of the simulation: dichromats see achromatic colours unchanged
    grey = as_seen(["0.5"], "normal")
    for vision in VISIONS[1:]:
        np.testing.assert_allclose(as_seen(["0.5"], vision), grey, atol=0.5)


@pytest.mark.parametrize("name", list(PALETTES))
def test_palette_is_colour_blind_safe(name):
    delta, vision, a, b = closest_pair(PALETTES[name])
    assert delta >= MIN_DELTA_E, f"{name}: {a} and {b} are only ΔE = {delta:.1f} apart for {vision}"


def test_figures_draw_from_the_book_cycle():
    plotting.setup_style()
    import matplotlib as mpl

    cycle = [c for c in mpl.rcParams["axes.prop_cycle"].by_key()["color"]]
    assert cycle == list(plotting.CYCLE_COLORS)
