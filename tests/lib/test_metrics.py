"""tfsvm.metrics: correlation of matrices and softmax statistics."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tfsvm import metrics
from tfsvm.errors import DTypeError, NonFiniteError, ShapeError, ValueRangeError


def test_corr_basic_values():
    rng = np.random.default_rng(0)
    W = rng.standard_normal((3, 3))
    assert metrics.corr(W, 2.5 * W) == pytest.approx(1.0, abs=1e-15)
    assert metrics.corr(W, -W) == pytest.approx(-1.0, abs=1e-15)
    A, B = np.diag([1.0, 0.0, 0.0]), np.diag([0.0, 1.0, 0.0])
    assert metrics.corr(A, B) == 0.0
    manual = np.sum(W * A) / (np.linalg.norm(W) * np.linalg.norm(A))
    assert metrics.corr(W, A) == pytest.approx(manual)
    assert isinstance(metrics.corr(W, A), float)
    assert metrics.one_minus_corr(W, 3 * W) == pytest.approx(0.0, abs=1e-15)
    assert metrics.one_minus_corr(W, A) == pytest.approx(1 - manual)


def test_corr_is_uncentred():
    # Pearson (centred) correlation of these is 1, the uncentred cosine is not
    A = np.array([[1.0, 2.0], [3.0, 4.0]])
    B = A + 10.0
    assert metrics.corr(A, B) < 0.99


def test_corr_batched_and_torch():
    rng = np.random.default_rng(1)
    Ws = rng.standard_normal((7, 5, 4, 4))  # (steps, trials, d, d)
    ref = rng.standard_normal((5, 4, 4))  # one reference per trial
    c = metrics.corr(Ws, ref)
    assert c.shape == (7, 5)
    assert c[3, 2] == pytest.approx(metrics.corr(Ws[3, 2], ref[2]))
    assert metrics.corr(torch.tensor(Ws[0, 0]), torch.tensor(ref[0])) == pytest.approx(metrics.corr(Ws[0, 0], ref[0]))
    v = rng.standard_normal(3)
    assert metrics.corr(v, 2 * v) == pytest.approx(1.0)


def test_corr_errors():
    W = np.eye(3)
    with pytest.raises(NonFiniteError, match="W2 contains a zero matrix"):
        metrics.corr(W, np.zeros((3, 3)))
    with pytest.raises(NonFiniteError, match="W1 contains a zero matrix"):
        metrics.corr(np.stack([W, 0 * W]), W)
    with pytest.raises(ShapeError, match="matrix shapes differ"):
        metrics.corr(W, np.eye(2))
    with pytest.raises(NonFiniteError, match="NaN"):
        metrics.corr(np.full((3, 3), np.nan), W)
    with pytest.raises(DTypeError):
        metrics.corr(np.eye(3, dtype=int), W)
    with pytest.raises(ShapeError, match="do not broadcast"):
        metrics.corr(np.ones((2, 3, 3)), np.ones((4, 3, 3)))


def test_mean_max_prob():
    P = np.array([[[0.7, 0.2, 0.1], [0.3, 0.3, 0.4]]])
    assert metrics.mean_max_prob(P) == pytest.approx([0.55])
    assert metrics.mean_max_prob(P[0]) == pytest.approx(0.55)
    with pytest.raises(ShapeError):
        metrics.mean_max_prob(np.array([0.5, 0.5]))


def test_largest_masked_prob():
    P = np.array([[0.9, 1e-8, 0.1 - 1e-8], [1 - 2e-7, 1e-7, 1e-7]])
    mask = P < 1e-6
    assert metrics.largest_masked_prob(P, mask) == pytest.approx(1e-7)
    assert metrics.largest_masked_prob(P, 1e-6) == pytest.approx(1e-7)
    assert metrics.largest_masked_prob(P, np.zeros_like(mask)) == 0.0
    batched = np.stack([P, P * 0 + 1 / 3])
    np.testing.assert_allclose(metrics.largest_masked_prob(batched, 1e-6), [1e-7, 0.0])
    with pytest.raises(DTypeError, match="boolean"):
        metrics.largest_masked_prob(P, mask.astype(float))
    with pytest.raises(ShapeError, match="masked has shape"):
        metrics.largest_masked_prob(P, mask[:1])


def test_path_corr():
    rng = np.random.default_rng(0)
    W = rng.standard_normal((4, 4))
    c = metrics.path_corr([W, -W, 3 * W, np.zeros((4, 4))], W)
    np.testing.assert_allclose(c[:3], [1, -1, 1])
    assert np.isnan(c[3])
    noise = rng.standard_normal((4, 4))
    radii = np.array([1.0, 10.0, 100.0, 1000.0])
    path = np.stack([R * W / np.linalg.norm(W) + noise for R in radii])
    c = metrics.path_corr(path, W)
    assert np.all(np.diff(c) > 0) and c[-1] > 0.999
    with pytest.raises(ShapeError):
        metrics.path_corr(path, np.eye(3))
    with pytest.raises(ValueRangeError):
        metrics.path_corr(path, np.zeros((4, 4)))


def test_loglog_slope_recovers_power_laws():
    k = np.arange(1, 201, dtype=float)
    assert metrics.loglog_slope(k, 3.0 * k**-1.5) == pytest.approx(-1.5, abs=1e-10)
    # 1/log k is not a power law: its fitted slope is small and depends on the window
    late = metrics.loglog_slope(k, 1 / np.log(k + 1), x_min=100)
    assert -0.3 < late < 0
    # only the points with x >= x_min count
    y = np.where(k < 50, 1.0, k**-2.0)
    assert metrics.loglog_slope(k, y, x_min=50) == pytest.approx(-2.0, abs=1e-10)


def test_loglog_slope_errors():
    with pytest.raises(ShapeError):
        metrics.loglog_slope([1.0, 2.0], [1.0])
    with pytest.raises(ShapeError):
        metrics.loglog_slope([1.0, 2.0], [1.0, 0.5], x_min=2.0)
    with pytest.raises(NonFiniteError):
        metrics.loglog_slope([1.0, 2.0, 3.0], [1.0, 0.0, 0.5])
