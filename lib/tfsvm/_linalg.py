"""Batched products of many small matrices, and the feature-major layout of the trainers' hot loop.

torch's CPU ``bmm`` pays a fixed cost per matrix of the batch, which dominates for the paper's
sizes (d ≈ 5–20, hundreds of trials); numpy's ``matmul`` makes one BLAS call per matrix without the
per-matrix tensor bookkeeping (timings in ``bench/README.md``). :func:`matmul` uses numpy there and
torch everywhere else.

numpy hands a stacked matrix to BLAS without a copy when its rows are contiguous (last stride
one, any row stride, such as the feature-major row matrices of :mod:`tfsvm.gradients`) and, for
the first operand, also when it is column-major. :func:`matmul` therefore computes a @ b into a
row-major ``out``, and bᵀ aᵀ into the transpose of a column-major ``out``, copying the one operand
that would otherwise be column-major in the second place.
"""

from __future__ import annotations

import numpy as np
import torch

#: Largest per-matrix product p·q·r sent to numpy. It is well below OpenBLAS's multithreading
#: threshold (64³), so these products stay on one thread, as the trainers' torch work does; for
#: larger matrices the per-matrix cost no longer dominates and torch is as fast.
SMALL_PRODUCT = 40**3


def _rows_contiguous(a: np.ndarray) -> bool:
    return a.strides[-1] == a.itemsize or a.shape[-1] == 1


def matmul(a: torch.Tensor, b: torch.Tensor, out: torch.Tensor | None = None) -> torch.Tensor:
    """``torch.matmul(a, b, out=out)`` for batched matrices (…, p, q) @ (…, q, r); through numpy
    for small float CPU tensors outside autograd (same result up to floating-point rounding).
    ``out`` may be any strided view, e.g. the (B, n, k) view of a feature-major (k, B, n) block."""
    if not (a.device.type == "cpu" and b.device.type == "cpu" and a.ndim >= 3 and b.ndim >= 3
            and a.dtype == b.dtype and a.dtype in (torch.float64, torch.float32)
            and not (a.requires_grad or b.requires_grad)
            and a.shape[-2] * a.shape[-1] * b.shape[-1] <= SMALL_PRODUCT):
        return torch.matmul(a, b, out=out)
    if out is None:
        out = torch.empty(torch.broadcast_shapes(a.shape[:-2], b.shape[:-2]) + (a.shape[-2], b.shape[-1]),
                          dtype=a.dtype)
    A, Bm, O = a.numpy(), b.numpy(), out.numpy()
    if _rows_contiguous(O):
        np.matmul(A, Bm if _rows_contiguous(Bm) else np.ascontiguousarray(Bm), out=O)
    else:  # out column-major: outᵀ = bᵀ aᵀ
        At = A.swapaxes(-1, -2)
        np.matmul(Bm.swapaxes(-1, -2), At if _rows_contiguous(At) else np.ascontiguousarray(At), out=O.swapaxes(-1, -2))
    return out


def is_feature_major(r: torch.Tensor) -> bool:
    """Whether the row matrix r (B, n, k) views a feature-major block (k, B, n)."""
    return r.permute(2, 0, 1).is_contiguous() and not r.is_contiguous()


def feature_block(r: torch.Tensor) -> torch.Tensor:
    """The feature-major block (k, B, n) of a row matrix r (B, n, k): a view when r is held
    feature-major (:func:`feature_major_rows`), a copy otherwise. Elementwise work on such blocks
    runs over contiguous rows of all sequences at once."""
    return r.permute(2, 0, 1).contiguous()


def feature_major_rows(block: torch.Tensor) -> torch.Tensor:
    """The row matrix (B, n, k) viewing a feature-major block (k, B, n)."""
    return block.permute(1, 2, 0)


def rows_of(A: torch.Tensor, Ct: torch.Tensor) -> torch.Tensor:
    """The row matrix (A Ct)ᵀ = Ctᵀ Aᵀ, (B, N, k), held feature-major, for A (B, k, p) and
    Ct (B, p, N): one product written straight into the block."""
    block = A.new_empty(A.shape[-2], A.shape[0], Ct.shape[-1])  # (k, B, N)
    matmul(A, Ct, out=block.transpose(0, 1))
    return feature_major_rows(block)
