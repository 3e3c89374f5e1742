"""Input checks shared by every public entry point (scikit-learn style).

Each checker returns a float64 numpy array (or the validated value) and raises
an error from :mod:`tfsvm.errors` whose message names the argument.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from .errors import DTypeError, NonFiniteError, OptionError, ShapeError, ValueRangeError


def as_float_array(a: Any, name: str, ndim: int | Sequence[int] | None = None) -> np.ndarray:
    """Convert ``a`` to a finite float64 array with one of the allowed ranks.

    Integer and boolean arrays are refused (tokens are real vectors; an integer
    array is almost always a mistake such as passing ``alpha`` for ``X``).
    float32 (or other lower precision) input is upcast with a warning, since
    everything compared with an SVM solution must be float64.
    """
    if a is None:
        raise ShapeError(f"{name} is None; expected an array")
    if hasattr(a, "detach"):  # a torch tensor
        a = a.detach().cpu().numpy()
    arr = np.asarray(a)
    if arr.dtype == object:
        raise DTypeError(f"{name} could not be converted to a numeric array")
    if arr.dtype.kind in "biu":
        raise DTypeError(f"{name} has integer/boolean dtype {arr.dtype}; pass floating-point values")
    if arr.dtype.kind == "c":
        raise DTypeError(f"{name} is complex; pass real values")
    if arr.dtype.kind != "f":
        raise DTypeError(f"{name} has unsupported dtype {arr.dtype}")
    if arr.dtype != np.float64:
        warnings.warn(f"{name} has dtype {arr.dtype}; upcasting to float64", stacklevel=3)
        arr = arr.astype(np.float64)
    if ndim is not None:
        allowed = (ndim,) if isinstance(ndim, int) else tuple(ndim)
        if arr.ndim not in allowed:
            want = " or ".join(str(k) for k in allowed)
            raise ShapeError(f"{name} must have {want} dimensions, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        bad = int(np.size(arr) - np.count_nonzero(np.isfinite(arr)))
        raise NonFiniteError(f"{name} contains {bad} NaN or infinite value(s)")
    return arr


def check_option(value: str, name: str, allowed: Iterable[str]) -> str:
    """Check that a string option is one of ``allowed``."""
    allowed = tuple(allowed)
    if not isinstance(value, str) or value not in allowed:
        raise OptionError(f"unknown {name} {value!r}; expected one of {', '.join(map(repr, allowed))}")
    return value


def _finite_number(value: Any, name: str, strict: bool) -> float:
    """``value`` as a finite float that is > 0 (``strict``) or ≥ 0, else OptionError."""
    bound = "> 0" if strict else ">= 0"
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise OptionError(f"{name} must be a number {bound}, got {value!r}") from None
    if not np.isfinite(v) or v < 0 or (strict and v == 0):
        raise OptionError(f"{name} must be a finite number {bound}, got {value!r}")
    return v


def check_positive(value: float, name: str) -> float:
    """Check that a scalar option is a finite number > 0 (e.g. a learning rate)."""
    return _finite_number(value, name, strict=True)


def check_nonnegative(value: Any, name: str) -> float:
    """Check a finite number ≥ 0 (a tolerance, a ridge coefficient) and return it as float."""
    return _finite_number(value, name, strict=False)


def as_index_array(alpha: Any, name: str = "alpha") -> np.ndarray:
    """Token indices as an int64 array: integer arrays pass, integral floats are converted,
    anything else raises :class:`~tfsvm.errors.DTypeError` (shapes and ranges are checked by the caller)."""
    a = np.asarray(alpha)
    if a.dtype.kind == "f":
        if not np.all(np.isfinite(a)) or not np.all(a == np.round(a)):
            raise DTypeError(f"{name} must contain integer token indices, got {a.dtype} values")
        return a.astype(np.int64)
    if a.dtype.kind not in "iu":
        raise DTypeError(f"{name} must contain integer token indices, got dtype {a.dtype}")
    return a


def check_count(value: int, name: str, minimum: int) -> int:
    """Check that an integer option (n, T, steps, trials, ...) is ≥ ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise OptionError(f"{name} must be an integer, got {value!r}")
    if value < minimum:
        raise OptionError(f"{name} must be >= {minimum}, got {value}")
    return int(value)


def check_tokens(X: Any, name: str = "X", batched: bool = False) -> np.ndarray:
    """Check token sequences: shape (n, T, d), or (B, n, T, d) if ``batched``; n ≥ 1, T ≥ 2."""
    X = check_sequence_axes(as_float_array(X, name, (3, 4) if batched else 3), name, X_axes=True)
    if X.shape[-1] < 1:
        raise ShapeError(f"{name} has token dimension d = 0")
    return X


def check_sequence_axes(a: np.ndarray, name: str, X_axes: bool = False) -> np.ndarray:
    """Check the sequence and token axes of an array: n ≥ 1 sequences, T ≥ 2 tokens each. They are the
    last two axes (scores, probabilities: (..., n, T)), or the two before the last (``X_axes``: (..., n, T, d))."""
    n, T = a.shape[-3:-1] if X_axes else a.shape[-2:]
    if n < 1:
        raise ShapeError(f"{name} has no sequences (n = 0); need n >= 1")
    if T < 2:
        raise ShapeError(f"{name} has T = {T} token(s) per sequence; need T >= 2 to select among tokens")
    return a


def check_queries(Z: Any, X: np.ndarray, name: str = "Z") -> np.ndarray:
    """Check queries ``Z`` of shape X.shape[:-2] + (d,): one query z_i per sequence."""
    Z = as_float_array(Z, name)
    want = X.shape[:-2] + (X.shape[-1],)
    if Z.shape != want:
        raise ShapeError(
            f"{name} has shape {Z.shape} but X has shape {X.shape}; expected {name} of shape {want} "
            f"(one query of dimension d = {X.shape[-1]} per sequence)"
        )
    return Z


def check_labels(Y: Any, X: np.ndarray, name: str = "Y") -> np.ndarray:
    """Check labels of shape X.shape[:-2] with entries in {-1, +1}; returns float64."""
    Yarr = as_labels(Y, name)
    want = X.shape[:-2]
    if Yarr.shape != want:
        raise ShapeError(f"{name} has shape {Yarr.shape} but X has {want[-1]} sequences; expected shape {want}")
    return Yarr


def as_labels(Y: Any, name: str = "Y") -> np.ndarray:
    """Labels as float64, every entry -1 or +1 (the one ±1 check; shapes are the caller's).

    Boolean arrays raise :class:`~tfsvm.errors.DTypeError`, other values
    :class:`~tfsvm.errors.ValueRangeError`.
    """
    Yarr = np.asarray(Y)
    if Yarr.dtype == bool:
        raise DTypeError(f"{name} is boolean; labels must be -1 or +1")
    Yarr = np.asarray(Yarr, dtype=np.float64)
    if not np.all(np.isin(Yarr, (-1.0, 1.0))):
        raise ValueRangeError(f"{name} must contain only -1 and +1")
    return Yarr


def check_probs(probs: Any, name: str = "probs", ndim: int | Sequence[int] | None = None) -> np.ndarray:
    """Check attention probabilities of shape (..., n, T) (``ndim`` allowed ranks, default any ≥ 2):
    every entry in [0, 1] (up to 1e-12 of rounding above 1)."""
    p = as_float_array(probs, name, ndim)
    if p.ndim < 2:
        raise ShapeError(f"{name} has shape {p.shape}; expected (..., n, T) attention probabilities")
    if np.any(p < 0) or np.any(p > 1 + 1e-12):
        raise ValueRangeError(f"{name} must contain probabilities in [0, 1]")
    return p


def check_head(v: Any, d: int, name: str = "v") -> np.ndarray:
    """Check a linear head ``v`` of shape (d,)."""
    v = as_float_array(v, name, 1)
    if v.shape != (d,):
        raise ShapeError(f"{name} has shape {v.shape} but tokens have dimension d = {d}; expected ({d},)")
    return v


def check_selection(alpha: Any, X: np.ndarray, name: str = "alpha") -> np.ndarray:
    """Check a token selection: integers of shape X.shape[:-2] with 0 ≤ α_i < T."""
    a = as_index_array(alpha, name)
    want = X.shape[:-2]
    if a.shape != want:
        n = want[-1] if want else 0
        raise ShapeError(f"{name} has {a.size} entries (shape {a.shape}) but X has {n} sequences; expected shape {want}")
    return check_index_range(a, X.shape[-2], name)


def check_index_range(a: np.ndarray, T: int, name: str = "alpha") -> np.ndarray:
    """Check integer token indices: every entry in [0, T) (ValueRangeError naming where not); int64."""
    bad = np.argwhere((a < 0) | (a >= T))
    if bad.size:
        where = bad[:10, 0].tolist() if a.ndim == 1 else bad[:5].tolist()
        raise ValueRangeError(f"{name} has entries out of range [0, {T}) at {'sequences' if a.ndim == 1 else 'index tuples'} {where}")
    return a.astype(np.int64)
