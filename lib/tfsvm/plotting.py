"""The book's figure style: one look for every chapter.

Colours follow the paper where it has a convention: the W-parameterization is
blue and (K,Q) red (Fig. 7); Global / Local / Not-local bars are red / blue / teal
(Figs. 2, 5). Every palette here stays distinguishable under simulated deuteranopia,
protanopia and tritanopia (tests/test_palette.py states the measure and the threshold).
Figures have an opaque white background so they stay legible when the site is shown in
dark mode.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import html
import inspect
import io
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import matplotlib as mpl
import matplotlib.pyplot as plt

from tfsvm._validation import check_count

#: colour of each parameterization
PARAM_COLORS = {"W": "tab:blue", "KQ": "tab:red"}
#: colour of each convergence type (Figs. 2 and 5). Not-local is a light teal and B.1 a light green:
#: matplotlib's "teal" merges with the blue under tritanopia, its green with the red under
#: deuteranopia (tests/test_palette.py)
CONVERGENCE_COLORS = {"global": "tab:red", "local": "tab:blue", "not_local": "#4DB6AC", "b1": "#A6D854"}
#: the colour cycle of every figure: matplotlib's blue and orange, then a dark green and a magenta in
#: place of matplotlib's green and red, so that the first ``CYCLE_CHECKED`` colours (the most series
#: any figure takes from the cycle) stay apart for colour-blind readers; then the rest of tab10
CYCLE_COLORS = ("tab:blue", "tab:orange", "#1B5E20", "#AA3377", "tab:brown", "tab:pink", "tab:gray", "tab:olive",
                "tab:cyan")
CYCLE_CHECKED = 4
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
            "axes.prop_cycle": mpl.cycler(color=list(CYCLE_COLORS)),
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


#: environment variables set by the book build (tools/tfsvm_book.py) for the kernels: the folder the
#: slider frames are written to, copied to ``FRAMES_FOLDER`` at the site's root, and the book's root
FRAMES_DIR_ENV, SITE_ROOT_ENV = "TFSVM_FRAMES_DIR", "TFSVM_SITE_ROOT"
FRAMES_FOLDER = "figure-frames"

_SLIDER_SCRIPT = """(function () {
  var root = document.getElementById("%(id)s"), frames = %(frames)s, delay = %(interval)d;
  var img = root.querySelector("img"), slider = root.querySelector("input[type=range]");
  var label = root.querySelector("output"), play = root.querySelector("[data-play]"), timer = null;
  function show(k) {
    k = Math.max(0, Math.min(frames.length - 1, k));
    slider.value = k; img.src = frames[k]; label.textContent = (k + 1) + " / " + frames.length;
    if (k + 1 < frames.length) { new Image().src = frames[k + 1]; }  // fetch the next frame ahead
  }
  function stop() {
    clearInterval(timer); timer = null; play.textContent = "\u25B6"; play.setAttribute("aria-label", "play");
  }
  slider.addEventListener("input", function () { stop(); show(+slider.value); });
  root.querySelectorAll("[data-step]").forEach(function (b) {
    b.addEventListener("click", function () { stop(); show(+slider.value + (+b.dataset.step)); });
  });
  play.addEventListener("click", function () {
    if (timer) { stop(); return; }
    if (+slider.value === frames.length - 1) { show(0); }
    play.textContent = "\u23F8"; play.setAttribute("aria-label", "pause");
    timer = setInterval(function () {
      if (+slider.value >= frames.length - 1) { stop(); } else { show(+slider.value + 1); }
    }, delay);
  });
})();"""


def _frame_urls(frames: list[bytes]) -> list[str]:
    """Where the page finds each PNG frame.

    In the book build (``$TFSVM_FRAMES_DIR`` set) every frame is written to a file named by its
    content hash, which the site serves from ``FRAMES_FOLDER``; the URL is relative to the page
    (the kernel runs in the chapter's folder). The browser fetches a frame only when the reader
    moves to it, so the page itself stays small. Elsewhere (a live notebook) frames are inlined as
    ``data:`` URIs, since a notebook server does not serve the build's folder.
    """
    folder = os.environ.get(FRAMES_DIR_ENV)
    if not folder:
        return ["data:image/png;base64," + base64.b64encode(png).decode("ascii") for png in frames]
    Path(folder).mkdir(parents=True, exist_ok=True)
    to_root = Path(os.path.relpath(os.environ.get(SITE_ROOT_ENV, os.getcwd()), os.getcwd())).as_posix()
    urls = []
    for png in frames:
        name = hashlib.sha256(png).hexdigest()[:20] + ".png"
        (Path(folder) / name).write_bytes(png)
        urls.append(f"{to_root}/{FRAMES_FOLDER}/{name}")
    return urls


def interactive_frames(fig, draw_frame: Callable[[int], Any], n_frames: int, alt: str, interval_ms: int = 200):
    """A kernel-free interactive figure: every frame is pre-rendered at build time.

    ``draw_frame(k)`` updates ``fig`` to frame ``k``; ``alt`` describes the figure for readers
    who cannot see it. Returns an ``IPython.display.HTML`` object: the first frame, a slider,
    step and play buttons, and a few lines of JavaScript that swap the image's ``src`` (no
    Python kernel, nothing fetched from outside the site). Frames are separate image files
    loaded on demand in the book build (see ``_frame_urls``), so a page never carries them all.
    """
    from IPython.display import HTML

    check_count(n_frames, "n_frames", 1)
    frames = []
    for k in range(n_frames):
        draw_frame(k)
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png")
        frames.append(buffer.getvalue())
    plt.close(fig)
    urls = _frame_urls(frames)
    ident = "tfsvm-frames-" + hashlib.sha256("".join(urls).encode()).hexdigest()[:12]
    script = _SLIDER_SCRIPT % {"id": ident, "frames": json.dumps(urls), "interval": interval_ms}
    text = html.escape(alt, quote=True)
    return HTML(
        f'<div class="animation tfsvm-frames" id="{ident}">'
        f'<img src="{urls[0]}" alt="{text}" style="max-width: 100%; height: auto;">'
        '<div class="tfsvm-frames-controls">'
        f'<input type="range" min="0" max="{n_frames - 1}" step="1" value="0" aria-label="frame of: {text}">'
        '<button type="button" data-step="-1" aria-label="previous frame">&#9664;</button>'
        '<button type="button" data-play aria-label="play">&#9654;</button>'
        '<button type="button" data-step="1" aria-label="next frame">&#9654;&#9654;</button>'
        f'<output>1 / {n_frames}</output></div>'
        f'<script>{script}</script></div>'
    )


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
