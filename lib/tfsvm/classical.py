"""The classical implicit bias that A transposes to attention (background chapter).

Plain gradient descent on the logistic loss of linearly separable data (a linear classifier
without bias) never converges to a point: ``||w(t)||`` grows like ``log t`` while the direction
``w(t)/||w(t)||`` converges to the hard-margin SVM direction, slowly, at rate ``1/log t``
(Soudry et al., 2018, for almost all datasets). A's Figure 3 draws this analogy: logistic
regression is to the SVM on examples what softmax attention is to (Att-SVM) on tokens.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ._validation import as_float_array, check_count, check_positive
from .errors import OptionError, ShapeError

__all__ = ["LogisticPath", "logistic_gd", "direction_error", "plot_logistic_path"]


@dataclass(frozen=True)
class LogisticPath:
    """Recorded iterates of :func:`logistic_gd`.

    Attributes
    ----------
    steps : (k,) int, the recorded step numbers t.
    w : (k, d) the iterates w(t).
    loss : (k,) the mean logistic loss at w(t).
    """

    steps: np.ndarray
    w: np.ndarray
    loss: np.ndarray


def _check_record(record: Any, steps: int) -> np.ndarray:
    rec = np.unique(np.asarray(record))
    if rec.ndim != 1 or rec.size == 0 or not np.issubdtype(rec.dtype, np.integer):
        raise OptionError("record must be a non-empty list of integer step numbers")
    if rec[0] < 0 or rec[-1] > steps:
        raise OptionError(f"record must lie in [0, steps] = [0, {steps}], got {rec[0]}..{rec[-1]}")
    return rec.astype(np.int64)


def logistic_gd(points: Any, labels: Any, lr: float, steps: int, record: Any) -> LogisticPath:
    """Plain GD ``w(t+1) = w(t) - lr * grad`` on ``(1/N) sum_j log(1 + exp(-y_j x_j^T w))``, w(0) = 0.

    Parameters
    ----------
    points : (N, d) examples x_j; labels : (N,) entries in {-1, +1}.
    lr : step size > 0 (GD is monotone for ``lr < 2/L`` with ``L = ||X||_2^2 / (4N)``).
    steps : number of updates; record : step numbers in [0, steps] at which to keep w(t).
    """
    P = as_float_array(points, "points", 2)
    y = as_float_array(labels, "labels", 1)
    if y.shape != (P.shape[0],):
        raise ShapeError(f"labels has shape {y.shape}; expected ({P.shape[0]},), one per example")
    if not np.all(np.abs(y) == 1):
        raise OptionError("labels must be -1 or +1")
    lr = check_positive(lr, "lr")
    steps = check_count(steps, "steps", 0)
    rec = _check_record(record, steps)
    yx = y[:, None] * P
    w = np.zeros(P.shape[1])
    kept, losses = [], []
    nxt = 0
    for t in range(steps + 1):
        margins = yx @ w
        if t == rec[nxt]:
            kept.append(w.copy())
            losses.append(float(np.mean(np.logaddexp(0.0, -margins))))
            nxt += 1
            if nxt == rec.size:
                break
        weights = 0.5 * (1.0 - np.tanh(0.5 * margins))  # -l'(m) = 1/(1 + e^m), computed stably
        w = w + lr * (weights @ yx) / len(y)
    return LogisticPath(rec, np.array(kept), np.array(losses))


def direction_error(w: Any, w_ref: Any) -> np.ndarray:
    """``|| w/||w|| - w_ref/||w_ref|| ||`` for each row of ``w`` (k, d) against ``w_ref`` (d,)."""
    w = as_float_array(w, "w", 2)
    w_ref = as_float_array(w_ref, "w_ref", 1)
    if w_ref.shape != (w.shape[1],):
        raise ShapeError(f"w_ref has shape {w_ref.shape}; expected ({w.shape[1]},)")
    norms = np.linalg.norm(w, axis=1, keepdims=True)
    if np.any(norms == 0) or not np.any(w_ref):
        raise OptionError("direction_error needs nonzero vectors (w(0) = 0 has no direction)")
    return np.linalg.norm(w / norms - w_ref / np.linalg.norm(w_ref), axis=1)


def plot_logistic_path(points: Any, labels: Any, w_mm: Any, path: LogisticPath):
    """Three panels: (a) the data, the max-margin separator, support vectors and the GD direction;
    (b) ||w(t)|| against log t with slope ||w_mm||; (c) ||w(t) - w_mm log t|| and the direction
    error times log t against log t (both bounded, Soudry et al.)."""
    from .plotting import new_figure

    P, y, w_mm = np.asarray(points), np.asarray(labels), np.asarray(w_mm)
    fig, (a, b, c) = new_figure(ncols=3, width=13.0, height=4.0)
    for sign, marker, color in ((1, "o", "tab:green"), (-1, "s", "tab:purple")):
        a.plot(*P[y == sign].T, marker, color=color, ms=5, ls="none", label=f"examples, $y={sign:+d}$")
    sv = np.abs(y * (P @ w_mm) - 1) < 1e-6
    a.plot(*P[sv].T, "o", ms=11, mfc="none", mec="k", ls="none", label="support vectors")
    lim = 1.1 * np.abs(P).max()
    perp = np.array([-w_mm[1], w_mm[0]]) / np.linalg.norm(w_mm)
    for level, ls in ((0, "-"), (1, ":"), (-1, ":")):
        base = level * w_mm / (w_mm @ w_mm)
        seg = base + np.outer([-2 * lim, 2 * lim], perp)
        a.plot(*seg.T, ls, color="k", lw=1.1, label={0: "max-margin separator", 1: "margins $y\\,x^\\top w=\\pm1$"}.get(level))
    w_end = path.w[-1]
    a.annotate("", xy=1.5 * w_end / np.linalg.norm(w_end), xytext=(0, 0),
               arrowprops={"arrowstyle": "-|>", "color": "tab:orange", "lw": 2})
    a.plot([], [], "-", color="tab:orange", lw=2, label=f"GD direction at $t={path.steps[-1]:.0e}$")
    a.set(xlim=(-lim, lim), ylim=(-lim, lim), xlabel="$x_1$", ylabel="$x_2$", title="(a) data and SVM")
    a.set_aspect("equal")
    a.legend(fontsize=7, loc="lower right")
    t = path.steps[path.steps >= 2]
    w = path.w[path.steps >= 2]
    logt = np.log(t)
    b.plot(logt, np.linalg.norm(w, axis=1), "o-", color="tab:orange", ms=3, label="$\\|w(t)\\|$")
    b.plot(logt, np.linalg.norm(w_mm) * (logt - logt[-1]) + np.linalg.norm(w[-1]), "--", color="k",
           label="slope $\\|\\hat w\\|$")
    b.set(xlabel="$\\log t$", ylabel="$\\|w(t)\\|$", title="(b) the norm grows like $\\log t$")
    b.legend(fontsize=8)
    c.plot(logt, np.linalg.norm(w - np.outer(logt, w_mm), axis=1), "o-", color="tab:orange", ms=3,
           label="$\\|w(t) - \\hat w\\log t\\|$")
    c.plot(logt, direction_error(w, w_mm) * logt, "s-", color="tab:blue", ms=3,
           label="direction error $\\times \\log t$")
    c.set(xlabel="$\\log t$", ylabel="value", title="(c) both stay bounded", ylim=(0, None))
    c.legend(fontsize=8)
    return fig
