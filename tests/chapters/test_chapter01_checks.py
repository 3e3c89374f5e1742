"""The numerical checks of Chapter 1 (attention selects tokens), at test size.

Each test names the statement it checks: the models (1a), (1b), (2), (W-ERM), (KQ-ERM) of A,
the softmax-saturation bound, the norm bound of normalized GD (App. F) and the data behind the
drawing of A's Figure 3.
"""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from tfsvm import attention, data, metrics, svm, training  # noqa: E402
from tfsvm.experiments import gd_paths_2d  # noqa: E402


@pytest.fixture(scope="module")
def inst():
    return data.unit_sphere_data(n=4, T=6, d=5, seed=0)


@pytest.fixture(scope="module")
def KQ():
    rng = np.random.default_rng(1)
    return rng.standard_normal((5, 5)), rng.standard_normal((5, 5))


def test_eq1a_first_row_of_cross_attention_is_the_model_output(inst, KQ):
    K, Q = KQ
    direct = np.array([(attention.softmax(inst.Z[i] @ Q @ K.T @ inst.X[i].T) @ inst.X[i]) @ inst.v
                       for i in range(inst.n)])
    lib = attention.attention_output(inst.X, K @ Q.T, inst.Z, inst.v)
    np.testing.assert_allclose(lib, direct, atol=1e-12)


def test_eq1b_self_attention_uses_the_first_token_as_query(inst, KQ):
    K, Q = KQ
    self_inst = data.AttentionData.self_attention(inst.X, inst.Y, inst.v)
    direct = np.array([(attention.softmax(inst.X[i] @ Q @ K.T @ inst.X[i].T)[0] @ inst.X[i]) @ inst.v
                       for i in range(inst.n)])
    lib = attention.attention_output(self_inst.X, K @ Q.T, self_inst.Z, inst.v)
    np.testing.assert_allclose(lib, direct, atol=1e-12)


def test_w_erm_and_kq_erm_are_the_same_function(inst, KQ):
    K, Q = KQ
    a = attention.erm_loss(inst.X, inst.Z, inst.Y, (K, Q), inst.v)
    b = attention.erm_loss(inst.X, inst.Z, inst.Y, K @ Q.T, inst.v)
    assert abs(a - b) < 1e-13


def test_softmax_saturation_bound_and_ties():
    a = np.array([1.0, 0.7, 0.2, -0.4, -1.0])
    radii = np.linspace(0, 25, 101)
    probs = attention.softmax(radii[:, None] * a[None, :])
    bound = (len(a) - 1) * np.exp(-radii * (a[0] - a[1]))
    assert np.all(1 - probs[:, 0] <= bound * (1 + 1e-12))
    assert np.all(probs[:, 1:] <= np.exp(-radii[:, None] * (a[0] - a[None, 1:])) * (1 + 1e-12))
    tie = attention.softmax(50.0 * np.array([1.0, 1.0, 0.3, -0.2]))
    np.testing.assert_allclose(tie[:2], [0.5, 0.5], atol=1e-12)


def test_normalized_gd_norm_bound_and_one_hot_attention():
    first = data.unit_sphere_data(n=3, T=4, d=4, seed=3, trials=4)
    steps, lr = 300, 0.1
    run = training.train(first, param="W", steps=steps, lr=lr, init="default", seed=4, record="all")
    norms = np.linalg.norm(run.W, axis=(-2, -1))
    excess = norms - norms[0] - lr * run.steps[:, None]
    assert excess.max() <= 1e-12  # ||W(k)||_F <= ||W(0)||_F + k eta
    assert norms[-1].min() > 0.5 * lr * steps  # the norm keeps growing (steps nearly aligned)
    assert np.median(run.max_prob[-1]) > 0.99  # attention is (almost) one-hot
    run_KQ = training.train(first, param="KQ", steps=steps, lr=lr, init="default", seed=4, ridge=0.0)
    assert np.median(run_KQ.max_prob[-1]) > 0.99


def test_figure3_logistic_gd_approaches_the_svm_direction():
    rng = np.random.default_rng(0)
    P = np.vstack([rng.normal([1.3, 0.9], 0.45, (12, 2)), rng.normal([-1.3, -0.9], 0.45, (12, 2))])
    y = np.r_[np.ones(12), -np.ones(12)]
    w_svm = svm.max_margin(y[:, None] * P).w
    w_gd = gd_paths_2d.logistic_direction(P, y, steps=2000)
    assert metrics.corr(w_gd, w_svm) > 0.99


def test_figure3_drawing_shows_attention_svm_margins():
    toy = data.gd_paths_2d_data(seed=1)
    sol = svm.solve_att_svm(toy.X, toy.Z, toy.opt)
    assert np.nanmin(sol.margins) >= 1 - 1e-9  # every other token on or beyond the dotted line
    assert all(len(s) >= 1 for s in sol.support)  # circled support tokens exist
    fig = gd_paths_2d.plot_analogy(seed=0)
    assert len(fig.axes) == 2
    plt.close(fig)
