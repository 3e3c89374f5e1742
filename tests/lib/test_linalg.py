"""The small-matrix batched products and the feature-major layout of the trainers' hot loop."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from tfsvm._linalg import SMALL_PRODUCT, feature_block, feature_major_rows, is_feature_major, matmul, rows_of


def _laid_out(shape: tuple[int, ...], order: tuple[int, ...], rng) -> torch.Tensor:
    """A tensor of ``shape`` whose memory holds the axes in ``order`` (a permuted view)."""
    base = torch.tensor(rng.standard_normal([shape[i] for i in order]))
    return base.permute(*np.argsort(order))


ORDERS = [(0, 1, 2), (0, 2, 1), (1, 0, 2), (2, 0, 1)]  # row-major, column-major, feature-major …


@pytest.mark.parametrize("oa,ob,oo", list(itertools.product(ORDERS, ORDERS, ORDERS + [None])))
def test_matmul_equals_torch_for_every_layout(oa, ob, oo):
    rng = np.random.default_rng(0)
    a, b = _laid_out((7, 4, 5), oa, rng), _laid_out((7, 5, 3), ob, rng)
    out = None if oo is None else _laid_out((7, 4, 3), oo, rng)
    got = matmul(a, b, out=out)
    if out is not None:
        assert got is out
    np.testing.assert_allclose(got.numpy(), (a @ b).numpy(), rtol=1e-14, atol=1e-14)


def test_matmul_broadcasts_and_falls_back_to_torch():
    rng = np.random.default_rng(1)
    a, b = torch.tensor(rng.standard_normal((2, 7, 4, 5))), torch.tensor(rng.standard_normal((7, 5, 3)))
    np.testing.assert_allclose(matmul(a, b).numpy(), (a @ b).numpy(), rtol=1e-14)
    w, w_ref = b.clone().requires_grad_(True), b.clone().requires_grad_(True)  # autograd: torch's product
    matmul(a, w).sum().backward()
    (a @ w_ref).sum().backward()
    assert torch.equal(w.grad, w_ref.grad)
    big = int(round(SMALL_PRODUCT ** (1 / 3))) + 2  # above the small-product bound: torch
    A = torch.tensor(rng.standard_normal((2, big, big)))
    np.testing.assert_allclose(matmul(A, A).numpy(), (A @ A).numpy(), rtol=1e-13)


def test_feature_major_rows_round_trip_and_rows_of():
    rng = np.random.default_rng(2)
    block = torch.tensor(rng.standard_normal((4, 3, 6)))  # (k, B, N)
    rows = feature_major_rows(block)  # (B, N, k)
    assert rows.shape == (3, 6, 4) and torch.equal(rows[1, 2], block[:, 1, 2])
    assert is_feature_major(rows) and not is_feature_major(rows.contiguous())
    assert feature_block(rows).data_ptr() == block.data_ptr()  # a view, no copy
    assert torch.equal(feature_block(rows.contiguous()), block)  # a copy from a row-major matrix
    A, Ct = torch.tensor(rng.standard_normal((3, 4, 5))), torch.tensor(rng.standard_normal((3, 5, 6)))
    R = rows_of(A, Ct)
    np.testing.assert_allclose(R.numpy(), (A @ Ct).transpose(-1, -2).numpy(), rtol=1e-14)
    assert feature_block(R).is_contiguous() and R.stride() == (6, 1, 18)
