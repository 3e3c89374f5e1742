"""The book's figure style: one look for every chapter.

Colours follow the paper where it has a convention: the W-parameterization is
blue and (K,Q) red (Fig. 7); Global / Local / Not-local bars are red / blue / teal
(Figs. 2, 5). Figures have an opaque white background so they stay legible when
the site is shown in dark mode.
"""

from __future__ import annotations

import functools
import inspect
import os
from collections.abc import Callable
from typing import Any

import matplotlib as mpl
import matplotlib.pyplot as plt

#: colour of each parameterization
PARAM_COLORS = {"W": "tab:blue", "KQ": "tab:red"}
#: colour of each convergence type (Figs. 2 and 5)
CONVERGENCE_COLORS = {"global": "tab:red", "local": "tab:blue", "not_local": "teal", "b1": "tab:green"}
#: human-readable labels
PARAM_LABELS = {"W": r"$W$", "KQ": r"$(K,Q)$"}


def setup_style() -> None:
    """Apply the book's matplotlib style (call once at the top of a chapter)."""
    mpl.rcParams.update(
        {
            "figure.figsize": (6.4, 4.0),
            "figure.dpi": 110,
            "figure.facecolor": "white",
            "savefig.facecolor": "white",
            "axes.facecolor": "white",
            "axes.grid": True,
            "grid.alpha": 0.3,
            "axes.spines.top": False,
            "axes.spines.right": False,
            "axes.titlesize": 11,
            "axes.labelsize": 11,
            "legend.fontsize": 9,
            "legend.framealpha": 0.9,
            "font.size": 10,
        }
    )


def new_figure(ncols: int = 1, nrows: int = 1, width: float = 6.4, height: float = 4.0, **kwargs):
    """``plt.subplots`` with the book's size conventions; returns ``(fig, axes)``."""
    setup_style()
    return plt.subplots(nrows, ncols, figsize=(width, height), constrained_layout=True, **kwargs)


def figure_and_axes(ax: Any = None, **new_figure_kwargs: Any):
    """``(fig, axes)`` of a figure function's ``ax`` argument: a new figure (:func:`new_figure` with
    ``new_figure_kwargs``) when ``ax`` is None, else the caller's Axes (one, or an array) and their figure."""
    if ax is None:
        return new_figure(**new_figure_kwargs)
    first = ax.flat[0] if hasattr(ax, "flat") else ax[0] if isinstance(ax, (list, tuple)) else ax
    return first.figure, ax


def glue_figure(name: str, fig) -> None:
    """Glue ``fig`` under ``name`` for a ``{glue:figure}`` directive, and close it.

    Closing matters: a figure left open is also drawn under the cell by the inline backend,
    so the page would show it twice.
    """
    from myst_nb import glue

    glue(name, fig, display=False)
    plt.close(fig)


def interactive_frames(fig, draw_frame, n_frames: int, alt: str, interval_ms: int = 200):
    """A kernel-free interactive figure: every frame is pre-rendered at build time.

    ``draw_frame(k)`` updates ``fig`` to frame ``k``; ``alt`` describes the figure for readers
    who cannot see it. Returns an ``IPython.display.HTML`` object (matplotlib's JavaScript
    animation export: a slider plus play/step buttons) that works on the static site without a
    Python kernel. The export's link to an icon font on a CDN is dropped: the site's theme
    already ships the icons, and the page must load offline.
    """
    import re

    from IPython.display import HTML
    from matplotlib.animation import FuncAnimation

    animation = FuncAnimation(fig, draw_frame, frames=n_frames, interval=interval_ms, blit=False)
    html = animation.to_jshtml(default_mode="once")
    plt.close(fig)
    html = re.sub(r"<link[^>]*https?://[^>]*>", "", html)
    html = html.replace("<img id=", f'<img alt="{alt}" id=', 1)
    return HTML(html)


def explore(callback: Callable[..., Any], button: str = "Train", **controls: Any):
    """A figure the reader can recompute: ``callback(**settings)`` returns a matplotlib figure.

    Always displays ``callback()``, the figure for the callback's default arguments, as a normal
    (static) output. In a live notebook (Binder, Colab, a local Jupyter) it also displays a form
    built by ``ipywidgets.interactive`` and returns it: ``controls`` maps argument names to
    ipywidgets abbreviations, ``(min, max, step)`` for a slider or a list of ``(label, value)``
    pairs for a drop-down, each starting at the callback's default; arguments without a control
    keep their default. The callback runs only when the reader presses ``button``, because
    training takes a second or more and dragging a slider would otherwise start it many times.

    During the book build (the build sets ``TFSVM_RECORD_DIR`` for the kernels, see
    ``tools/tfsvm_book.py``) no widget is created and None is returned: a static page has no kernel
    to run the callback, and any widget state saved in the notebook makes Jupyter Book load the
    widget manager from a CDN, which fails on the offline site.
    """
    from IPython.display import display

    figure = callback()
    plt.close(figure)
    display(figure)
    if os.environ.get("TFSVM_RECORD_DIR"):
        return None
    import ipywidgets

    @functools.wraps(callback)
    def rerun(**settings: Any):
        new = callback(**settings)
        plt.close(new)  # shown once, by the form (auto_display), not again by the inline backend
        return new

    settings = {name: controls.get(name, ipywidgets.fixed(p.default))
                for name, p in inspect.signature(callback).parameters.items()}
    form = ipywidgets.interactive(rerun, {"manual": True, "manual_name": button, "auto_display": True}, **settings)
    display(form)
    return form
