"""Real images as token sequences: scikit-learn's handwritten digits, cut into patches (ViT-style).

An 8×8 digit becomes T = (8/p)² patch tokens (p = ``patch``, default 2, so T = 16). Token t is
built from u_t = (the p² pixels of patch t in [0, 1], a one-hot code of its position) and mapped
to dimension d by a fixed, seeded embedding (:func:`embed_patches`):

* ``"linear"``: x_t = E u_t with E ~ N(0, 1/d) of shape (d, p² + T). The tokens then span at
  most p² + T = 20 dimensions whatever d is, so d is not a real over-parameterization knob;
* ``"fourier"`` (default): random Fourier features x_t = √(2/d) cos(E u_t + b), b ~ U(0, 2π)
  (E ~ N(0, 1)), which spread the tokens over all d dimensions (‖x_t‖ ≈ 1, like the unit-sphere
  tokens of the synthetic chapters) while staying a fixed, data-independent map.

:func:`digits_task` returns a binary task (two digit classes, labels ±1) with a seeded train/test
split, queries that vary per image (A's (1a) allows any z_i: the mean token, or self-attention
from one patch) and the linear head of Theorems 2–7 fixed by a linear probe on mean-pooled
tokens. scikit-learn (which ships the 1,797 digits; nothing is downloaded) is imported lazily.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ._validation import check_count, check_option
from .data import AttentionData
from .errors import NonFiniteError, OptionError, ShapeError

__all__ = ["SIDE", "load_digit_pair", "image_patches", "patches_to_image", "embed_patches", "DigitsTask",
           "digits_task", "linear_probe"]

#: side of a scikit-learn digit image (8×8 pixels, values 0..16)
SIDE = 8
EMBEDDINGS = ("fourier", "linear")


def load_digit_pair(pair: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """All digits of the classes ``pair = (a, b)``: images (N, 8, 8) in [0, 1] and labels Y ∈ {−1, +1}
    (−1 for ``a``, +1 for ``b``), in the order of ``sklearn.datasets.load_digits``."""
    if (not isinstance(pair, (tuple, list)) or len(pair) != 2
            or not all(isinstance(c, (int, np.integer)) and 0 <= c <= 9 for c in pair) or pair[0] == pair[1]):
        raise OptionError(f"pair must be two different digits 0..9, got {pair!r}")
    from sklearn.datasets import load_digits

    digits = load_digits()
    keep = np.isin(digits.target, pair)
    images = digits.images[keep].astype(np.float64) / 16.0
    Y = np.where(digits.target[keep] == pair[1], 1.0, -1.0)
    return images, Y


def _check_images(images: Any, patch: int) -> np.ndarray:
    img = np.asarray(images, dtype=np.float64)
    if img.ndim != 3 or img.shape[1] != img.shape[2]:
        raise ShapeError(f"images must have shape (N, side, side), got {img.shape}")
    patch = check_count(patch, "patch", 1)
    if img.shape[1] % patch:
        raise ShapeError(f"patch size {patch} does not divide the image side {img.shape[1]}")
    if not np.all(np.isfinite(img)):
        raise NonFiniteError("images contain NaN or inf")
    return img


def image_patches(images: Any, patch: int = 2) -> np.ndarray:
    """Cut images (N, s, s) into (s/p)² non-overlapping p×p patches, row-major: (N, T, p²)."""
    img = _check_images(images, patch)
    N, s, _ = img.shape
    g = s // patch
    return img.reshape(N, g, patch, g, patch).transpose(0, 1, 3, 2, 4).reshape(N, g * g, patch * patch)


def patches_to_image(patches: Any, patch: int = 2) -> np.ndarray:
    """Inverse of :func:`image_patches`: (N, T, p²) → images (N, s, s) with s = p·√T."""
    P = np.asarray(patches, dtype=np.float64)
    patch = check_count(patch, "patch", 1)
    g = int(round(np.sqrt(P.shape[1]))) if P.ndim == 3 else 0
    if P.ndim != 3 or g * g != P.shape[1] or P.shape[2] != patch * patch:
        raise ShapeError(f"patches must have shape (N, g², {patch * patch}), got {P.shape}")
    N = P.shape[0]
    return P.reshape(N, g, g, patch, patch).transpose(0, 1, 3, 2, 4).reshape(N, g * patch, g * patch)


def _raw_tokens(patches: np.ndarray) -> np.ndarray:
    """u_t = (patch pixels, one-hot position): (N, T, p² + T)."""
    N, T, _ = patches.shape
    return np.concatenate([patches, np.broadcast_to(np.eye(T), (N, T, T))], axis=-1)


def embed_patches(patches: Any, d: int, seed: int, embedding: str = "fourier") -> np.ndarray:
    """Tokens (N, T, d) from patches (N, T, p²) by the fixed seeded embedding of the module docstring."""
    P = np.asarray(patches, dtype=np.float64)
    if P.ndim != 3:
        raise ShapeError(f"patches must have shape (N, T, p²), got {P.shape}")
    d = check_count(d, "d", 1)
    check_option(embedding, "embedding", EMBEDDINGS)
    U = _raw_tokens(P)
    rng = np.random.default_rng(seed)
    if embedding == "linear":
        return U @ (rng.standard_normal((d, U.shape[-1])) / np.sqrt(d)).T
    E = rng.standard_normal((d, U.shape[-1]))
    b = rng.uniform(0.0, 2 * np.pi, d)
    return np.sqrt(2.0 / d) * np.cos(U @ E.T + b)


def linear_probe(X: np.ndarray, Y: np.ndarray, C: float = 10.0) -> np.ndarray:
    """Unit-norm linear head v from a bias-free logistic regression (inverse regularization ``C``)
    on the mean-pooled tokens (1/T) Σ_t x_it."""
    from sklearn.linear_model import LogisticRegression

    clf = LogisticRegression(C=C, fit_intercept=False, max_iter=5000).fit(X.mean(axis=1), Y)
    v = clf.coef_[0].astype(np.float64)
    return v / np.linalg.norm(v)


@dataclass(frozen=True, eq=False)
class DigitsTask:
    """A binary digits task: ``train`` and ``test`` (AttentionData sharing the probe head v), the
    raw ``images_train`` / ``images_test`` (N, 8, 8), the ``pair`` and the ``query`` used."""

    train: AttentionData
    test: AttentionData
    images_train: np.ndarray
    images_test: np.ndarray
    pair: tuple[int, int]
    query: str | int


def _queries(X: np.ndarray, query: str | int) -> np.ndarray:
    if query == "mean":
        return X.mean(axis=1)
    if isinstance(query, (int, np.integer)) and not isinstance(query, bool) and 0 <= query < X.shape[1]:
        return X[:, int(query)]
    raise OptionError(f"query must be 'mean' or a patch index 0..{X.shape[1] - 1}, got {query!r}")


def digits_task(pair: tuple[int, int], d: int, n_train: int | None = None, seed: int = 0, test_fraction: float = 0.3,
                query: str | int = "mean", patch: int = 2, embedding: str = "fourier") -> DigitsTask:
    """The digits of ``pair`` as attention data (A's model (1a) with a per-image query z_i).

    A seeded permutation puts ``test_fraction`` of the images in the test set; the training set is
    the first ``n_train`` of the rest (all of them if None). Tokens: :func:`embed_patches` (the
    embedding is seeded with ``seed`` too); queries: the mean token (``"mean"``) or patch ``query``;
    head: :func:`linear_probe` on all non-test images (the head is given, as in Theorems 2–7; only
    the attention is trained on the ``n_train`` images).
    """
    if not 0 < test_fraction < 1:
        raise OptionError(f"test_fraction must lie in (0, 1), got {test_fraction}")
    images, Y = load_digit_pair(pair)
    X = embed_patches(image_patches(images, patch), d, seed, embedding)
    order = np.random.default_rng(seed).permutation(len(Y))
    n_test = int(round(test_fraction * len(Y)))
    test_idx, rest = order[:n_test], order[n_test:]
    v = linear_probe(X[rest], Y[rest])
    if n_train is not None:
        n_train = check_count(n_train, "n_train", 2)
        if n_train > len(rest):
            raise OptionError(f"n_train = {n_train} but only {len(rest)} training images of {pair} exist")
        rest = rest[:n_train]
    Z = _queries(X, query)
    make = lambda idx: AttentionData(X[idx], Z[idx], Y[idx], v)  # noqa: E731
    return DigitsTask(make(rest), make(test_idx), images[rest], images[test_idx], tuple(pair), query)
