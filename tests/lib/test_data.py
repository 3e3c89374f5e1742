"""Data containers and generators of tfsvm.data (A §2–§6, App. F; B §3.4)."""

from __future__ import annotations

import time

import numpy as np
import pytest
import torch

from tfsvm import data as D
from tfsvm.errors import DTypeError, NonFiniteError, OptionError, ShapeError, ValueRangeError


# -- unit-sphere generator ---------------------------------------------------------------


def test_unit_sphere_shapes_norms_labels():
    inst = D.unit_sphere_data(5, 4, 3, seed=0)
    assert inst.X.shape == (5, 4, 3) and inst.Z.shape == (5, 3) and inst.Y.shape == (5,) and inst.v.shape == (3,)
    assert (inst.n, inst.T, inst.d, inst.batch_shape, inst.trials) == (5, 4, 3, (), None)
    np.testing.assert_allclose(np.linalg.norm(inst.X, axis=-1), 1.0, atol=1e-14)
    np.testing.assert_allclose(np.linalg.norm(inst.Z, axis=-1), 1.0, atol=1e-14)
    np.testing.assert_allclose(np.linalg.norm(inst.v), 1.0, atol=1e-14)
    assert set(np.unique(inst.Y)) <= {-1.0, 1.0}
    assert all(a.dtype == np.float64 for a in (inst.X, inst.Z, inst.Y, inst.v))


def test_unit_sphere_reproducible_and_batched():
    a = D.unit_sphere_data(3, 4, 5, seed=7, trials=6)
    b = D.unit_sphere_data(3, 4, 5, seed=7, trials=6)
    c = D.unit_sphere_data(3, 4, 5, seed=8, trials=6)
    assert a.X.shape == (6, 3, 4, 5) and a.v.shape == (6, 5) and a.batch_shape == (6,) and a.trials == 6
    np.testing.assert_array_equal(a.X, b.X)
    assert not np.array_equal(a.X, c.X)
    # an unbatched draw equals the single trial of a one-trial batch with the same seed
    one = D.unit_sphere_data(3, 4, 5, seed=7)
    t0 = D.unit_sphere_data(3, 4, 5, seed=7, trials=1).trial(0)
    for name in "XZYv":
        np.testing.assert_array_equal(getattr(one, name), getattr(t0, name))
    tr = a.trial(2)
    np.testing.assert_array_equal(tr.X, a.X[2])
    np.testing.assert_array_equal(tr.v, a.v[2])


def test_labels_random_are_balanced_and_ones():
    inst = D.unit_sphere_data(1000, 2, 2, seed=1)
    assert 0.4 < np.mean(inst.Y == 1) < 0.6
    assert np.all(D.unit_sphere_data(10, 3, 2, seed=1, labels="ones").Y == 1)


def test_scores_and_opt():
    inst = D.unit_sphere_data(4, 5, 3, seed=2, trials=3)
    manual = inst.Y[..., None] * np.einsum("bntd,bd->bnt", inst.X, inst.v)
    np.testing.assert_allclose(inst.scores, manual)
    np.testing.assert_array_equal(inst.opt, np.argmax(manual, axis=-1))
    assert inst.opt.dtype == np.int64


def test_opt_ties_go_to_smallest_index():
    X = np.array([[[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]]])
    inst = D.AttentionData(X, np.ones((1, 2)), np.ones(1), np.array([1.0, 0.0]))
    assert inst.opt.tolist() == [0]


def test_gap_filter_vectorised_and_fast():
    t0 = time.perf_counter()
    inst = D.unit_sphere_data(20, 5, 10, seed=0, trials=500, gap=0.1)
    elapsed = time.perf_counter() - t0
    assert inst.X.shape == (500, 20, 5, 10)
    assert np.all(inst.score_gap >= 0.1)
    top2 = -np.sort(-inst.scores, axis=-1)[..., :2]
    assert np.all(top2[..., 0] - top2[..., 1] >= 0.1)
    assert elapsed < 10.0
    # gap=None keeps draws with small gaps (so the filter really filters)
    raw = D.unit_sphere_data(20, 5, 10, seed=0, trials=50)
    assert np.any(raw.score_gap < 0.1)


def test_gap_too_large_raises():
    with pytest.raises(OptionError, match="gap"):
        D.unit_sphere_data(2, 3, 2, seed=0, gap=5.0)


def test_self_attention_queries_are_first_tokens():
    inst = D.unit_sphere_data(3, 4, 5, seed=0, trials=2, self_attention=True)
    np.testing.assert_array_equal(inst.Z, inst.X[:, :, 0])
    sa = D.AttentionData.self_attention(inst.X[0], inst.Y[0], inst.v[0])
    np.testing.assert_array_equal(sa.Z, inst.X[0, :, 0])


def test_to_torch_and_read_only():
    inst = D.unit_sphere_data(2, 3, 4, seed=0)
    tt = inst.to_torch("cpu")
    assert all(isinstance(a, torch.Tensor) and a.dtype == torch.float64 for a in tt)
    np.testing.assert_array_equal(tt.X.numpy(), inst.X)
    with pytest.raises(ValueError):
        inst.X[0, 0, 0] = 1.0


def test_v_broadcast_over_trials():
    X = np.random.default_rng(0).standard_normal((3, 2, 4, 5))
    Z = np.ones((3, 2, 5))
    inst = D.AttentionData(X, Z, np.ones((3, 2)), np.arange(5.0))
    assert inst.v.shape == (3, 5)
    np.testing.assert_array_equal(inst.v[2], np.arange(5.0))


# -- the papers' toys -----------------------------------------------------------------------


def test_gd_paths_2d_data():
    inst = D.gd_paths_2d_data()
    assert (inst.n, inst.T, inst.d) == (2, 3, 2)
    assert np.all(inst.Y == 1)
    np.testing.assert_allclose(np.linalg.norm(inst.v), 1.0)
    np.testing.assert_allclose(np.linalg.norm(inst.Z, axis=-1), 1.0)
    assert inst.X[0, :, 0].mean() < 0 < inst.X[1, :, 0].mean()  # shifted by (−1,0) and (+1,0)
    np.testing.assert_array_equal(D.gd_paths_2d_data(seed=1).X, inst.X)


def test_orthonormal_tokens():
    inst = D.orthonormal_token_data(10, 10, seed=0)
    assert (inst.n, inst.T, inst.d) == (1, 10, 10) and np.all(inst.Y == 1)
    np.testing.assert_allclose(inst.X[0] @ inst.X[0].T, np.eye(10), atol=1e-12)
    b = D.orthonormal_token_data(4, 6, seed=1, trials=5)
    assert b.X.shape == (5, 1, 4, 6)
    np.testing.assert_allclose(b.X[:, 0] @ np.swapaxes(b.X[:, 0], -1, -2), np.broadcast_to(np.eye(4), (5, 4, 4)), atol=1e-12)
    with pytest.raises(OptionError, match="T <= d"):
        D.orthonormal_token_data(5, 3, seed=0)


def test_sequence_data():
    sd = D.sequence_data(3, 4, 5, seed=0, trials=2)
    assert sd.X.shape == (2, 3, 4, 5) and sd.Z.shape == (2, 3, 4, 5) and sd.Y.shape == (2, 3, 4) and sd.K == 4
    np.testing.assert_array_equal(sd.Z, sd.X)
    assert sd.scores.shape == (2, 3, 4, 4)
    oc = sd.opt(causal=True)
    assert np.all(oc <= np.arange(4))  # output k selects among tokens t <= k
    assert oc[..., 0].max() == 0
    with pytest.raises(ShapeError, match="Y has shape"):
        D.SequenceData(sd.X[0], sd.Z[0], np.ones((3, 3)), sd.v[0])


def test_prompt_single_input_data():
    g = D.prompt_single_input_data("global")
    loc = D.prompt_single_input_data("local")
    np.testing.assert_array_equal(g.X[0], [[-0.1, 1, 1], [1, 0, 0.9], [0, 0, 0.9]])
    np.testing.assert_array_equal(loc.X[0], [[-0.1, 1, 1], [1, 0, 0.9], [0, 0, 0]])
    np.testing.assert_array_equal(g.W, np.diag([1.0, 1.0, 0.0]))
    np.testing.assert_array_equal(g.v, [0, 0, 1])
    np.testing.assert_array_equal(g.scores[0], [1, 0.9, 0.9])
    np.testing.assert_array_equal(g.keys[0][:, 2], 0.0)
    assert g.opt.tolist() == [0]
    with pytest.raises(OptionError):
        D.prompt_single_input_data("other")


def test_prompt_multi_input_data():
    m = D.prompt_multi_input_data(seed=0)
    assert (m.n, m.T, m.d) == (3, 7, 3)
    np.testing.assert_array_equal(m.X[:, 0, 2], 1.0)
    np.testing.assert_array_equal(m.X[:, 1:, 2], 0.5)
    assert np.all(m.opt == 0) and np.all(m.Y == 1)
    # cluster centres: token 0 near (1,0), tokens 1–3 near (−1,1), tokens 4–6 near (−0.5,−0.5)
    np.testing.assert_allclose(m.X[:, 0, :2].mean(0), [1.0, 0.0], atol=0.4)
    np.testing.assert_allclose(m.X[:, 1:4, :2].mean((0, 1)), [-1.0, 1.0], atol=0.3)
    np.testing.assert_allclose(m.X[:, 4:, :2].mean((0, 1)), [-0.5, -0.5], atol=0.3)


def test_joint_training_and_loss_comparison_data():
    t = D.joint_training_data(True)
    nt = D.joint_training_data(False)
    assert (t.n, t.T, t.d) == (3, 2, 2)
    np.testing.assert_array_equal(t.Y, [1, -1, 1])
    np.testing.assert_array_equal(t.X[2, 1], [0.5, 1.0])
    np.testing.assert_array_equal(nt.X[2, 1], [0.5, 1.5])
    np.testing.assert_array_equal(t.W, np.eye(2))
    lc = D.loss_comparison_data(100.0)
    np.testing.assert_array_equal(lc.scores, [[0, 100], [0, 1]])


# -- bad input ------------------------------------------------------------------------------


def test_bad_input_attention_data():
    X = np.random.default_rng(0).standard_normal((2, 3, 4))
    Z, Y, v = np.ones((2, 4)), np.ones(2), np.ones(4)
    with pytest.raises(ShapeError, match="Z has shape"):
        D.AttentionData(X, np.ones((3, 4)), Y, v)
    with pytest.raises(ShapeError, match="v has shape"):
        D.AttentionData(X, Z, Y, np.ones(3))
    with pytest.raises(ShapeError, match="T = 1"):
        D.AttentionData(X[:, :1], Z, Y, v)
    with pytest.raises(ValueRangeError, match="-1 and \\+1"):
        D.AttentionData(X, Z, np.array([1.0, 0.5]), v)
    Xn = X.copy()
    Xn[0, 0, 0] = np.nan
    with pytest.raises(NonFiniteError, match="X contains 1 NaN"):
        D.AttentionData(Xn, Z, Y, v)
    with pytest.raises(DTypeError, match="X has integer"):
        D.AttentionData(X.astype(int), Z, Y, v)
    with pytest.raises(ShapeError, match="X must have 3 or 4 dimensions"):
        D.AttentionData(X[0], Z, Y, v)


def test_bad_generator_options():
    with pytest.raises(OptionError, match="T must be >= 2"):
        D.unit_sphere_data(2, 1, 3, seed=0)
    with pytest.raises(OptionError, match="labels"):
        D.unit_sphere_data(2, 3, 3, seed=0, labels="half")
    with pytest.raises(OptionError, match="n must be an integer"):
        D.unit_sphere_data(2.5, 3, 3, seed=0)
    with pytest.raises(OptionError, match="gap must be a finite number > 0"):
        D.unit_sphere_data(2, 3, 3, seed=0, gap=-1.0)
    inst = D.unit_sphere_data(2, 3, 3, seed=0, trials=2)
    with pytest.raises(OptionError, match="trial index"):
        inst.trial(5)


def test_equal_scores_data_satisfies_assumption_b2_batched_and_unbatched():
    data = D
    from tfsvm import tokens

    one = data.equal_scores_data(n=3, T=4, d=5, seed=2)
    np.testing.assert_allclose(one.scores, np.where(np.arange(4) == 0, 1.0, 0.5) * np.ones((3, 1)), atol=1e-12)
    assert tokens.assumption_b2(one.scores)
    batch = data.equal_scores_data(n=3, T=4, d=5, seed=2, trials=6, spread=0.1)
    assert batch.X.shape == (6, 3, 4, 5)
    assert np.all(batch.opt == 0) and np.all(np.abs(batch.scores[..., 1:] - 0.5) <= 0.1)
    with pytest.raises(OptionError):
        data.equal_scores_data(n=3, T=4, d=5, seed=2, spread=0.6)
