"""tfsvm.classical: GD on separable logistic regression (background chapter)."""

import numpy as np
import pytest

from tfsvm import classical, metrics, svm
from tfsvm.errors import OptionError, ShapeError


def _separable(seed: int = 0):
    rng = np.random.default_rng(seed)
    pos = rng.normal([1.5, 1.0], 0.4, (10, 2))
    neg = rng.normal([-1.5, -1.0], 0.4, (10, 2))
    return np.vstack([pos, neg]), np.r_[np.ones(10), -np.ones(10)]


def test_first_step_is_the_mean_of_the_signed_examples():
    P, y = _separable()
    path = classical.logistic_gd(P, y, lr=0.5, steps=1, record=[0, 1])
    assert np.all(path.w[0] == 0)
    # at w = 0 every example has weight 1/2: w(1) = lr * mean(y_j x_j) / 2
    np.testing.assert_allclose(path.w[1], 0.5 * (y[:, None] * P).mean(0) / 2, rtol=1e-14)


def test_direction_approaches_the_svm_and_norm_grows_logarithmically():
    P, y = _separable()
    w_mm = svm.max_margin(y[:, None] * P).w
    rec = [10, 100, 1000, 10000]
    path = classical.logistic_gd(P, y, lr=1.0, steps=10000, record=rec)
    mis = np.array([metrics.one_minus_corr(w, w_mm) for w in path.w])
    assert np.all(np.diff(path.loss) < 0)
    assert np.all(np.diff(mis) < 0)
    # w(t) = w_mm log t + O(1) (Soudry et al.): over the last decade the norm grows by about
    # ||w_mm|| log 10 (the O(1) term still moves, so only to 20%)
    norms = np.linalg.norm(path.w, axis=1)
    per_decade = (norms[-1] - norms[-2]) / (np.log(10) * np.linalg.norm(w_mm))
    assert abs(per_decade - 1) < 0.2


def test_bad_input_is_named():
    P, y = _separable()
    with pytest.raises(ShapeError, match="labels"):
        classical.logistic_gd(P, y[:-1], lr=1.0, steps=5, record=[5])
    with pytest.raises(OptionError, match="-1 or \\+1"):
        classical.logistic_gd(P, 2 * y, lr=1.0, steps=5, record=[5])
    with pytest.raises(OptionError, match="record"):
        classical.logistic_gd(P, y, lr=1.0, steps=5, record=[6])


def test_direction_error_is_zero_for_parallel_vectors_and_names_zero_input():
    err = classical.direction_error(np.array([[2.0, 0.0], [0.0, 1.0]]), np.array([1.0, 0.0]))
    np.testing.assert_allclose(err, [0.0, np.sqrt(2.0)], atol=1e-15)
    with pytest.raises(OptionError, match="nonzero"):
        classical.direction_error(np.zeros((1, 2)), np.array([1.0, 0.0]))
