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

__all__ = ["LogisticPath", "logistic_gd"]


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
