"""The digits patch tokenizer and loader (tfsvm.images)."""

import numpy as np
import pytest

from tfsvm import images, metrics
from tfsvm.errors import NonFiniteError, OptionError, ShapeError


def test_pair_loader_labels_and_range():
    imgs, Y = images.load_digit_pair((3, 8))
    assert imgs.shape[1:] == (8, 8) and len(imgs) == len(Y)
    assert set(np.unique(Y)) == {-1.0, 1.0}
    assert imgs.min() >= 0 and imgs.max() <= 1


def test_patch_shapes_and_image_recovered_from_patches():
    imgs, _ = images.load_digit_pair((0, 1))
    for p in (1, 2, 4):
        P = images.image_patches(imgs, p)
        assert P.shape == (len(imgs), (8 // p) ** 2, p * p)
        np.testing.assert_array_equal(images.patches_to_image(P, p), imgs)
    P = images.image_patches(imgs, 2)
    np.testing.assert_array_equal(P[5, 1], imgs[5, 0:2, 2:4].ravel())  # patch 1 = rows 0-1, columns 2-3


def test_image_is_recoverable_from_its_linear_tokens():
    imgs, _ = images.load_digit_pair((0, 1))
    P = images.image_patches(imgs[:60], 2)
    X = images.embed_patches(P, d=24, seed=3, embedding="linear")  # d >= p² + T = 20
    assert X.shape == (60, 16, 24)
    U = np.concatenate([P, np.broadcast_to(np.eye(16), (60, 16, 16))], axis=-1)  # (pixels, position)
    # the embedding is linear: estimate it from 50 images, then invert it on 10 others
    Et, *_ = np.linalg.lstsq(U[:50].reshape(-1, 20), X[:50].reshape(-1, 24), rcond=None)
    U_rec = np.linalg.lstsq(Et.T, X[50:].reshape(-1, 24).T, rcond=None)[0].T.reshape(10, 16, 20)
    np.testing.assert_allclose(images.patches_to_image(U_rec[..., :4], 2), imgs[50:60], atol=1e-8)


def test_fourier_tokens_are_seeded_and_about_unit_norm():
    P = images.image_patches(images.load_digit_pair((0, 1))[0][:20], 2)
    a = images.embed_patches(P, 64, seed=1)
    np.testing.assert_array_equal(a, images.embed_patches(P, 64, seed=1))
    assert not np.allclose(a, images.embed_patches(P, 64, seed=2))
    norms = np.linalg.norm(a, axis=-1)
    assert 0.7 < norms.mean() < 1.3
    assert np.linalg.matrix_rank(a.reshape(-1, 64)) == 64  # spread over all d dimensions


def test_task_split_is_seeded_disjoint_and_probe_is_accurate():
    t1 = images.digits_task((0, 1), d=32, n_train=32, seed=0)
    t2 = images.digits_task((0, 1), d=32, n_train=32, seed=0)
    np.testing.assert_array_equal(t1.train.X, t2.train.X)
    np.testing.assert_array_equal(t1.test.Y, t2.test.Y)
    assert t1.train.n == 32 and t1.train.T == 16 and t1.train.d == 32
    assert np.isclose(np.linalg.norm(t1.train.v), 1.0)
    np.testing.assert_allclose(t1.train.Z, t1.train.X.mean(axis=1))
    full = images.digits_task((0, 1), d=32, seed=0)
    assert full.train.n + full.test.n == len(images.load_digit_pair((0, 1))[1])
    train_rows = {r.tobytes() for r in full.images_train}
    assert not any(r.tobytes() in train_rows for r in full.images_test)
    probe = np.mean(np.sign(full.test.X.mean(1) @ full.test.v) == full.test.Y)
    assert probe > 0.95
    patch_query = images.digits_task((0, 1), d=32, n_train=32, seed=0, query=5)
    np.testing.assert_allclose(patch_query.train.Z, patch_query.train.X[:, 5])


@pytest.mark.parametrize("call, err", [
    (lambda: images.load_digit_pair((1, 1)), OptionError),
    (lambda: images.load_digit_pair((0, 10)), OptionError),
    (lambda: images.image_patches(np.zeros((2, 8, 8)), 3), ShapeError),
    (lambda: images.image_patches(np.zeros((8, 8)), 2), ShapeError),
    (lambda: images.image_patches(np.full((1, 8, 8), np.nan), 2), NonFiniteError),
    (lambda: images.patches_to_image(np.zeros((2, 15, 4)), 2), ShapeError),
    (lambda: images.embed_patches(np.zeros((2, 16, 4)), 8, 0, embedding="relu"), OptionError),
    (lambda: images.digits_task((0, 1), d=8, n_train=10_000), OptionError),
    (lambda: images.digits_task((0, 1), d=8, query="cls"), OptionError),
    (lambda: images.digits_task((0, 1), d=8, test_fraction=1.5), OptionError),
])
def test_bad_input_is_named(call, err):
    with pytest.raises(err):
        call()


def test_sparsity_metrics():
    one_hot = np.eye(4)[None, [0, 2]]  # (1, 2, 4)
    uniform = np.full((1, 2, 4), 0.25)
    assert metrics.mass_fraction(one_hot) == pytest.approx(0.25)
    assert metrics.mass_fraction(uniform) == pytest.approx(1.0)  # 90% of uniform mass needs 4 of 4
    assert metrics.mean_entropy(one_hot) == pytest.approx(0.0)
    assert metrics.mean_entropy(uniform) == pytest.approx(np.log(4))
    with pytest.raises(OptionError):
        metrics.mass_fraction(uniform, mass=1.0)
