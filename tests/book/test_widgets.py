"""The live explorers of Chapters 3 and 4, run in-process (no kernel, no browser).

Each explorer is a callback defined in a chapter cell and handed to
:func:`tfsvm.plotting.explore`. The tests execute that cell (after the chapter's import cell), so
they test the code readers run in Binder, then call the callback with non-default settings and
check the figure against an independent computation: Theorem 2 of Tarzanagh et al. (2023) for the
gradient-descent explorer (W-GD approaches W^mm, (K,Q)-GD approaches W*^mm) and the run
classification of Figures 2 and 5 for the convergence explorer.
"""

from __future__ import annotations

from typing import Any

import ipywidgets
import jupytext
import numpy as np
import pytest

from conftest import ROOT
from tfsvm import checks, data, metrics, plotting, svm, tokens, training
from tfsvm.experiments import convergence_types

BOOK = ROOT / "book"


def cell_source(chapter: str, marker: str) -> str:
    """Source of the one code cell of ``book/<chapter>.md`` that contains ``marker``."""
    notebook = jupytext.read(BOOK / f"{chapter}.md")
    found = [c.source for c in notebook.cells if c.cell_type == "code" and marker in c.source]
    assert len(found) == 1, f"{chapter}: expected one code cell containing {marker!r}, found {len(found)}"
    return found[0]


def run_explorer_cell(chapter: str, callback: str, namespace: dict[str, Any] | None = None) -> dict[str, Any]:
    """Execute the chapter's import cell and the cell defining ``callback``; return the namespace."""
    ns: dict[str, Any] = dict(namespace or {})
    exec(cell_source(chapter, "setup_style()"), ns)
    exec(cell_source(chapter, f"def {callback}("), ns)
    return ns


def live_widgets() -> int:
    """Number of ipywidgets currently alive in this process."""
    return len(ipywidgets.widgets.widget._instances)


@pytest.fixture(scope="module")
def ch03_build(tmp_path_factory):
    """Chapter 3's explorer cell as the book build runs it (``TFSVM_RECORD_DIR`` set)."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TFSVM_RECORD_DIR", str(tmp_path_factory.mktemp("records")))
        before = live_widgets()
        ns = run_explorer_cell("03-regularization-path", "explore_gd")
        ns["widgets_created"] = live_widgets() - before
    return ns


@pytest.fixture(scope="module")
def ch04_build(tmp_path_factory):
    """Chapter 4's explorer cell as the book build runs it, with the chapter's Figure 5 config."""
    config = {"scale": "book", **convergence_types.CONFIGS["book"]}
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TFSVM_RECORD_DIR", str(tmp_path_factory.mktemp("records")))
        return run_explorer_cell("04-global-convergence", "explore_convergence", {"cfg5": config})


def curves(fig) -> dict[str, np.ndarray]:
    """The plotted lines of a one-axes figure, by legend label."""
    (ax,) = fig.axes
    return {line.get_label(): np.asarray(line.get_ydata()) for line in ax.get_lines()}


# --------------------------------------------------------------------------- the build path


def test_build_creates_no_widget(ch03_build, ch04_build):
    # widget state in the executed notebook would make the static page fetch the widget manager
    assert ch03_build["explorer"] is None and ch04_build["explorer"] is None
    assert ch03_build["widgets_created"] == 0


# --------------------------------------------------------------------------- Chapter 3


@pytest.mark.parametrize(("param", "own_norm"), [("W", "Frobenius"), ("KQ", "nuclear")])
def test_gd_explorer_follows_the_svm_of_its_parameterization(ch03_build, param, own_norm):
    n, T, d, lr, seed = 4, 3, 6, 0.2, 1
    fig = ch03_build["explore_gd"](n=n, T=T, d=d, lr=lr, param=param, seed=seed)
    lines = curves(fig)
    assert len(lines) == 2, lines.keys()
    own = next(y for label, y in lines.items() if own_norm in label)
    other = next(y for label, y in lines.items() if own_norm not in label)
    # Theorem 2: each parameterization approaches the max-margin solution of its own norm
    assert own[-1] < 1e-2 and own[-1] < other[-1] / 5, (own[-1], other[-1])
    # the plotted end point is 1 - corr of an independent run with the SVM solution
    inst = data.unit_sphere_data(n, T, d, seed=seed)
    run = training.train(inst, param=param, steps=ch03_build["EXPLORE_STEPS"], lr=lr, seed=seed)
    norm = "fro" if own_norm == "Frobenius" else "nuc"
    expected = metrics.one_minus_corr(run.W_final, svm.att_svm(inst.X, inst.Z, inst.opt, norm=norm))
    assert own[-1] == pytest.approx(max(expected, 1e-16), rel=1e-6, abs=1e-12)
    assert f"$d={d}$" in fig.axes[0].get_title()


def test_gd_explorer_reports_an_infeasible_svm(ch03_build):
    # n·(T − 1) = 21 margin constraints cannot all be met with d² = 4 parameters for random data
    fig = ch03_build["explore_gd"](n=8, T=4, d=2, seed=0)
    assert not curves(fig)
    (note,) = fig.axes[0].texts
    assert "infeasible" in note.get_text() and "Frobenius" in note.get_text() and "nuclear" in note.get_text()


def test_live_form_retrains_with_the_readers_setting(monkeypatch):
    monkeypatch.delenv("TFSVM_RECORD_DIR", raising=False)
    ns = run_explorer_cell("03-regularization-path", "explore_gd")
    form = ns["explorer"]
    assert isinstance(form, ipywidgets.interactive)
    controls = {w.description: w for w in form.kwargs_widgets}
    assert set(controls) == {"n", "T", "d", "lr", "param", "seed"}
    assert controls["n"].value == 3 and controls["param"].value == "W"  # defaults of the callback
    assert form.result is None  # nothing is trained before the reader presses Train
    controls["d"].value, controls["param"].value = 7, "KQ"
    form.manual_button.click()
    assert form.manual_button.description == "Train"
    assert "$d=7$" in form.result.axes[0].get_title() and "(K,Q)" in form.result.axes[0].get_title()


# --------------------------------------------------------------------------- Chapter 4


def test_convergence_explorer_matches_the_run_classification(ch04_build):
    n, T, d, trials, seed = 3, 4, 8, 20, 2
    fig = ch04_build["explore_convergence"](n=n, T=T, d=d, trials=trials, seed=seed)
    bars = [p.get_height() for p in fig.axes[0].patches]
    assert len(bars) == 6  # not-local, global, local for W and for (K,Q)
    config = ch04_build["cfg5"]
    inst = checks.figure5_instances(n, T, d, trials, config["gap"], seed=seed)
    for j, param in enumerate(("W", "KQ")):
        final, _ = checks.classify_gd_runs(inst, param, config["steps"], config["lr"], seed=seed)
        share = tokens.convergence_fractions(final)
        assert bars[3 * j: 3 * j + 3] == pytest.approx([100 * share[k] for k in ("not_local", "global", "local")])
        assert bars[3 * j] + bars[3 * j + 2] == pytest.approx(100)  # local includes global
        assert bars[3 * j + 1] <= bars[3 * j + 2]


# --------------------------------------------------------------------------- the helper


def test_explore_takes_defaults_from_the_callback_and_fixes_the_rest(monkeypatch):
    monkeypatch.delenv("TFSVM_RECORD_DIR", raising=False)
    calls = []

    def callback(a: int = 2, b: float = 0.5, c: str = "x"):
        calls.append((a, b, c))
        fig, ax = plotting.new_figure()
        ax.plot([0, 1], [a, b], label=c)
        return fig

    form = plotting.explore(callback, button="Go", a=(1, 5, 1), b=(0.0, 1.0, 0.1))
    assert calls == [(2, 0.5, "x")]  # the static default figure
    assert [w.description for w in form.children[:-2]] == ["a", "b"] and form.manual_button.description == "Go"
    form.children[0].value = 4
    form.manual_button.click()
    assert calls[-1] == (4, 0.5, "x")
