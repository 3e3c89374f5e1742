"""Figure 4 of A (v1): the rank of the Frobenius and nuclear-norm attention SVMs.

For each setting (n, T) and dimension d, random unit-sphere instances are drawn
(x_it, z_i, v on the unit sphere, labels ±1, cross-attention), the optimal tokens
``opt`` are read off (Definition 1) and two SVMs are solved with alpha = opt:

* (Att-SVM), Frobenius norm -> ``W^mm`` (exact batched solver ``svm.att_svm_batch``);
* (Att-SVM⋆), nuclear norm with m = d -> ``W⋆^mm`` (an SDP, :func:`tfsvm.svm.att_svm` with
  ``norm="nuc"``, solved on the subspaces of Lemma 1).

Ranks are counted with a *relative* threshold (singular values > 1e-6 σ_max,
:func:`tfsvm.svm.numerical_rank`) and averaged over the **feasible** instances only;
the feasible fraction is reported separately. (The paper's notebook counted an
infeasible instance as rank 1, because ``np.linalg.matrix_rank(None) == 1``, and used an
absolute threshold 1e-7 on SCS output, which inflates nuclear ranks; see the chapter.)
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from .. import data, svm
from ..errors import InfeasibleError, SolverError
from ..plotting import PARAM_COLORS, new_figure
from ._common import derive_seed, mean_or_none, setting_key

#: the five distinct (n, T) settings of Figure 4's six panels: (a) T = 5, n in {5, 10, 15};
#: (b) n = 5, T in {5, 10, 15}
_SETTINGS: tuple[tuple[int, int], ...] = ((5, 5), (10, 5), (15, 5), (5, 10), (5, 15))
_DS: tuple[int, ...] = (1, 2, 3, 4, 5, 10, 15, 20)

CONFIGS: dict[str, dict[str, Any]] = {
    "smoke": {"settings": [[5, 5], [10, 5]], "ds": [1, 3, 5, 10], "trials": 3, "rtol": 1e-6},
    "book": {"settings": [list(s) for s in _SETTINGS], "ds": list(_DS), "trials": 15, "rtol": 1e-6},
    "paper": {"settings": [list(s) for s in _SETTINGS], "ds": list(_DS), "trials": 100, "rtol": 1e-6},
}

#: The paper gives Figure 4 as curves without a table and with a code quirk at small d
#: (infeasible instances counted as rank 1); there are no read-off values to compare with.
PAPER: dict[str, Any] = {}


def _run_cell(n: int, T: int, d: int, trials: int, seed: int, rtol: float = 1e-6) -> dict[str, Any]:
    """One point of Figure 4: feasible fraction and mean ranks over the feasible instances."""
    inst = data.unit_sphere_data(n, T, d, seed=seed, trials=trials)
    opt = inst.opt
    W_fro, feasible = svm.att_svm_batch(inst.X, inst.Z, opt)
    r_fro, r_nuc, failed = [], [], 0
    for b in np.flatnonzero(feasible):
        r_fro.append(int(svm.numerical_rank(W_fro[b], rtol=rtol)))
        try:
            W_nuc = svm.att_svm(inst.X[b], inst.Z[b], opt[b], norm="nuc")
        except (SolverError, InfeasibleError):
            failed += 1
            continue
        r_nuc.append(int(svm.numerical_rank(W_nuc, rtol=rtol)))
    return {
        "feasible": float(np.mean(feasible)),
        "rank_fro": mean_or_none(r_fro),
        "rank_nuc": mean_or_none(r_nuc),
        "nuc_failed": failed,
    }


def run(config: dict[str, Any], seed: int = 0, device: str = "cpu",
        progress: Callable[[int, int], None] | None = None) -> dict[str, Any]:
    """Figure 4: ``results["n{n}_T{T}"][str(d)] = {"feasible", "rank_fro", "rank_nuc", "nuc_failed"}``.

    ``rank_*`` are means over the feasible instances (None when none is feasible);
    ``nuc_failed`` counts feasible instances whose nuclear SDP did not solve accurately
    (they are left out of ``rank_nuc``). ``device`` is unused (no training).
    """
    settings = [tuple(s) for s in config["settings"]]
    ds = list(config["ds"])
    total, done = len(settings) * len(ds), 0
    results: dict[str, Any] = {}
    for n, T in settings:
        cells = {}
        for d in ds:
            cells[str(d)] = _run_cell(n, T, d, config["trials"], derive_seed(seed, n, T, d),
                                     config.get("rtol", 1e-6))
            done += 1
            if progress is not None:
                progress(done, total)
        results[setting_key(n, T)] = cells
    return results


def plot(results: dict[str, Any]):
    """Figure 4: mean rank of W^mm (solid) and W⋆^mm (dashed) vs d, with the feasible fraction below.

    Left column: T = 5, n in {5, 10, 15}; right column: n = 5, T in {5, 10, 15}. Returns the
    figure (a 2 × 2 grid of its own, so there is no ``ax`` argument).
    """
    fig, axes = new_figure(ncols=2, nrows=2, width=10.0, height=5.6, sharex=True,
                           gridspec_kw={"height_ratios": [3, 1.2]})
    panels = [
        ("(a) $T=5$", [(5, 5), (10, 5), (15, 5)], lambda n, T: f"$n={n}$"),
        ("(b) $n=5$", [(5, 5), (5, 10), (5, 15)], lambda n, T: f"$T={T}$"),
    ]
    shades = ["0.0", "0.35", "0.6"]
    markers = ["o", "s", "^"]
    for col, (title, settings, label) in enumerate(panels):
        top, bottom = axes[0, col], axes[1, col]
        for j, (n, T) in enumerate(settings):
            cells = results.get(setting_key(n, T))
            if cells is None:
                continue
            ds = [int(d) for d in cells]
            fro = [np.nan if cells[str(d)]["rank_fro"] is None else cells[str(d)]["rank_fro"] for d in ds]
            nuc = [np.nan if cells[str(d)]["rank_nuc"] is None else cells[str(d)]["rank_nuc"] for d in ds]
            feas = [cells[str(d)]["feasible"] for d in ds]
            blue, red = PARAM_COLORS["W"], PARAM_COLORS["KQ"]
            alpha = 1.0 - 0.3 * j
            top.plot(ds, fro, "-", marker=markers[j], color=blue, alpha=alpha, ms=4,
                     label=rf"$W^{{\mathrm{{mm}}}}$, {label(n, T)}")
            top.plot(ds, nuc, "--", marker=markers[j], color=red, alpha=alpha, ms=4, mfc="white",
                     label=rf"$W^{{\mathrm{{mm}}}}_\star$, {label(n, T)}")
            bottom.plot(ds, feas, "-", marker=markers[j], color=shades[j], ms=4, label=label(n, T))
        top.set_title(title)
        top.set_ylabel("mean rank (feasible instances)")
        bottom.set_ylabel("feasible\nfraction")
        bottom.set_xlabel("dimension $d$")
        bottom.set_ylim(-0.05, 1.05)
        top.set_ylim(0, None)
        top.legend(fontsize=7, ncol=2, loc="upper left" if col == 0 else "lower right")
        bottom.set_xticks(_DS)
        bottom.legend(fontsize=7, loc="lower right")
    return fig
