"""B's toy datasets, as in the official MaxMarginTokenSelection notebooks."""

from __future__ import annotations

import numpy as np

from .._validation import check_option
from ..errors import OptionError
from .containers import PromptData

__all__ = ["prompt_single_input_data", "prompt_multi_input_data", "joint_training_data", "loss_comparison_data"]

_KEY_2D = np.diag([1.0, 1.0, 0.0])
_SCORE_HEAD = np.array([0.0, 0.0, 1.0])


def prompt_single_input_data(case: str = "global") -> PromptData:
    """B's single-input example (``single_input_converge.ipynb``): n = 1, T = 3, d = 3, Y = 1.

    Tokens (x, y, score): ``"global"`` [(−0.1, 1, 1), (1, 0, 0.9), (0, 0, 0.9)];
    ``"local"`` [(−0.1, 1, 1), (1, 0, 0.9), (0, 0, 0)]. Keys use only the first two
    coordinates (W = diag(1, 1, 0)) and v = (0, 0, 1) reads the third, so the third
    coordinate is the token score. Token 0 is optimal; in the local case token 1 is
    locally optimal.
    """
    check_option(case, "case", ("global", "local"))
    last = 0.9 if case == "global" else 0.0
    X = np.array([[[-0.1, 1.0, 1.0], [1.0, 0.0, 0.9], [0.0, 0.0, last]]])
    return PromptData(X, np.ones(1), _SCORE_HEAD, _KEY_2D)


def prompt_multi_input_data(seed: int = 0) -> PromptData:
    """B's multi-input example (``multi_input_converge.ipynb``): n = 3, T = 7, d = 3, Y = 1.

    X = 0.2·N(0, I) (numpy ``default_rng(seed)``); token 0 += (1, 0, 0); tokens 1–3 +=
    (−1, 1, 0); tokens 4–6 += (−0.5, −0.5, 0); the third coordinate (the score, read by
    v = (0, 0, 1)) is set to 1.0 for token 0 and 0.5 for the others (equal non-optimal
    scores, the analogue of Assumption B.2). W = diag(1, 1, 0).
    """
    rng = np.random.default_rng(seed)
    X = 0.2 * rng.standard_normal((3, 7, 3))
    X[:, 0] += np.array([1.0, 0.0, 0.0])
    X[:, 1:4] += np.array([-1.0, 1.0, 0.0])
    X[:, 4:7] += np.array([-0.5, -0.5, 0.0])
    X[:, 0, 2] = 1.0
    X[:, 1:, 2] = 0.5
    return PromptData(X, np.ones(3), _SCORE_HEAD, _KEY_2D)


def joint_training_data(tight: bool = True) -> PromptData:
    """B's joint (v, p) training example (``joint_training.ipynb``, B's Figure 3): n = 3, T = 2, d = 2, W = I.

    X_1 = [(0,0), (1,1)], Y_1 = +1; X_2 = [(0,0), (1,−1)], Y_2 = −1; X_3 = [(0,0), (0.5,1)]
    (``tight=True``, panel a) or [(0,0), (0.5,1.5)] (panel b), Y_3 = +1. The selected token is
    token 1 (the second) in every sequence. ``v`` holds the notebook's initial head v(0) = (−1, 0);
    the notebook's initial prompt is p(0) = (0, −1).
    """
    third = [0.5, 1.0] if tight else [0.5, 1.5]
    X = np.array([[[0.0, 0.0], [1.0, 1.0]], [[0.0, 0.0], [1.0, -1.0]], [[0.0, 0.0], third]])
    return PromptData(X, np.array([1.0, -1.0, 1.0]), np.array([-1.0, 0.0]), np.eye(2))


def loss_comparison_data(C: float) -> PromptData:
    """B's loss-comparison example (``diff_loss_function.ipynb``): n = 2, T = 2, d = 3, Y = (1, 1).

    X_1 = [(0,0,0), (1,1,C)], X_2 = [(0,0,0), (1,−1,1)], v = (0,0,1) (scores (0, C) and (0, 1)),
    W = diag(1, 1, 0). p^mm = (1, 0, 0) for every C.
    """
    C = float(C)
    if not np.isfinite(C):
        raise OptionError(f"C must be finite, got {C!r}")
    X = np.array([[[0.0, 0.0, 0.0], [1.0, 1.0, C]], [[0.0, 0.0, 0.0], [1.0, -1.0, 1.0]]])
    return PromptData(X, np.ones(2), _SCORE_HEAD, _KEY_2D)
