"""The data containers: A's attention data, A §7's sequence-output data and B's prompt data.

Every container validates its arrays once, stores them as read-only float64, and takes an
optional leading trial axis B (batches of independent instances).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np

from .._validation import as_float_array, as_labels, check_labels, check_queries, check_tokens
from ..errors import OptionError, ShapeError
from ..tokens.scores import gamma, top_gaps

__all__ = ["AttentionData", "SequenceData", "PromptData", "TorchAttentionData"]


def _frozen(a: np.ndarray) -> np.ndarray:
    a = np.array(a, dtype=np.float64, copy=True)
    a.setflags(write=False)
    return a


def _check_v(v: Any, X: np.ndarray, name: str = "v") -> np.ndarray:
    """v of shape (d,) or batch_shape + (d,); a (d,) head is broadcast over trials."""
    v = as_float_array(v, name, (1, 2))
    bs, d = X.shape[:-3], X.shape[-1]
    if v.shape == (d,):
        return np.broadcast_to(v, bs + (d,))
    if v.shape != bs + (d,):
        raise ShapeError(f"{name} has shape {v.shape} but X has shape {X.shape}; expected ({d},) or {bs + (d,)}")
    return v


class TorchAttentionData(NamedTuple):
    """Torch float64 tensors of an :class:`AttentionData` / :class:`SequenceData` (see ``to_torch``)."""

    X: Any
    Z: Any
    Y: Any
    v: Any


def _to_torch(data: Any, device: Any) -> TorchAttentionData:
    import torch

    dev = torch.device(device)
    t = lambda a: torch.tensor(np.asarray(a), dtype=torch.float64, device=dev)  # noqa: E731
    return TorchAttentionData(t(data.X), t(data.Z), t(data.Y), t(data.v))


@dataclass(frozen=True, eq=False)
class _TrialData:
    """Fields (X, Z, Y, v), shape properties, trial slicing and torch conversion shared by the
    containers of A's data (validation is each subclass's ``__post_init__``)."""

    X: np.ndarray
    Z: np.ndarray
    Y: np.ndarray
    v: np.ndarray

    def _store(self, **arrays: np.ndarray) -> None:
        for name, arr in arrays.items():
            object.__setattr__(self, name, _frozen(arr))

    @property
    def n(self) -> int:
        """Number of sequences per instance."""
        return self.X.shape[-3]

    @property
    def T(self) -> int:
        """Tokens per sequence."""
        return self.X.shape[-2]

    @property
    def d(self) -> int:
        """Token dimension."""
        return self.X.shape[-1]

    @property
    def batch_shape(self) -> tuple[int, ...]:
        """() for one instance, (B,) for a batch of B trials."""
        return self.X.shape[:-3]

    @property
    def trials(self) -> int | None:
        """Number of trials B, or None for unbatched data."""
        return self.X.shape[0] if self.batch_shape else None

    def trial(self, b: int):
        """Instance ``b`` of a batched dataset (unbatched data: only b = 0 is allowed)."""
        if not self.batch_shape:
            if b not in (0, -1):
                raise OptionError(f"unbatched data has a single instance; got trial index {b}")
            return self
        B = self.batch_shape[0]
        if not isinstance(b, (int, np.integer)) or not -B <= b < B:
            raise OptionError(f"trial index must be an integer in [0, {B}), got {b!r}")
        return type(self)(self.X[b], self.Z[b], self.Y[b], self.v[b])

    def batched(self):
        """The same data with a trial dimension (B = 1 if unbatched)."""
        if self.batch_shape:
            return self
        return type(self)(self.X[None], self.Z[None], self.Y[None], self.v[None])

    def to_torch(self, device: Any = "cpu") -> TorchAttentionData:
        """(X, Z, Y, v) as torch float64 tensors on ``device``."""
        return _to_torch(self, device)


@dataclass(frozen=True, eq=False)
class AttentionData(_TrialData):
    """Data of the attention model (2) of A with a linear head v.

    Parameters
    ----------
    X : array (n, T, d) or (B, n, T, d)
        Token sequences; T ≥ 2.
    Z : array (n, d) or (B, n, d)
        One query (cross-attention token) z_i per sequence; self-attention uses z_i = x_i1
        (see :meth:`self_attention`).
    Y : array (n,) or (B, n)
        Labels in {−1, +1}.
    v : array (d,) or (B, d)
        Linear head; a (d,) head given with batched X is repeated over the trials.
    """

    def __post_init__(self) -> None:
        X = check_tokens(self.X, "X", batched=True)
        Z = check_queries(self.Z, X, "Z")
        Y = check_labels(self.Y, X, "Y")
        v = _check_v(self.v, X)
        self._store(X=X, Z=Z, Y=Y, v=v)

    # -- constructors -------------------------------------------------------------
    @classmethod
    def self_attention(cls, X: Any, Y: Any, v: Any, query_index: int = 0) -> "AttentionData":
        """Self-attention data: z_i = x_{i, query_index} (the paper uses the first token, index 0)."""
        X = check_tokens(X, "X", batched=True)
        T = X.shape[-2]
        if not isinstance(query_index, (int, np.integer)) or not -T <= query_index < T:
            raise OptionError(f"query_index must be an integer in [0, {T}), got {query_index!r}")
        return cls(X, X[..., query_index, :], Y, v)

    # -- token scores -------------------------------------------------------------
    @property
    def scores(self) -> np.ndarray:
        """Token scores γ_it = Y_i · vᵀx_it (Definition 1), shape (..., n, T)."""
        return gamma(self.X, self.Y, self.v)

    @property
    def opt(self) -> np.ndarray:
        """Optimal token indices opt_i = argmax_t γ_it, shape (..., n), int64.

        Ties are broken towards the smallest index (numpy ``argmax``); Definition 1 needs a
        unique maximiser, which holds almost surely for the random generators here.
        Use :func:`tfsvm.tokens.optimal_tokens` to *refuse* ties (it raises TieError).
        """
        return np.argmax(self.scores, axis=-1)

    @property
    def score_gap(self) -> np.ndarray:
        """min_i (γ_{i,opt_i} − max_{t≠opt_i} γ_it) per instance (the App. F filter statistic)."""
        return np.min(top_gaps(self.scores), axis=-1)

    def __repr__(self) -> str:
        return f"AttentionData(n={self.n}, T={self.T}, d={self.d}, batch_shape={self.batch_shape})"


@dataclass(frozen=True, eq=False)
class SequenceData(_TrialData):
    """Sequence-output data of A §7 / App. D: K outputs per sequence, output k uses query z_ik.

    ``X`` (n, T, d), ``Z`` (n, K, d), ``Y`` (n, K) in {−1,+1}, ``v`` (d,), optionally with one
    leading trial dimension. The loss is L_seq(W) = (1/n) Σ_i Σ_k ℓ(Y_ik · h(X_iᵀ S(X_i W z_ik)))
    (eq. (10)); the causal variant (needs K = T) masks tokens t > k for output k.
    """

    def __post_init__(self) -> None:
        X = check_tokens(self.X, "X", batched=True)
        Z = as_float_array(self.Z, "Z", X.ndim)
        if Z.shape[:-2] != X.shape[:-2] or Z.shape[-1] != X.shape[-1]:
            raise ShapeError(
                f"Z has shape {Z.shape} but X has shape {X.shape}; expected {X.shape[:-2] + ('K', X.shape[-1])} "
                "(K queries of dimension d per sequence)"
            )
        Y = as_labels(self.Y, "Y")
        if Y.shape != Z.shape[:-1]:
            raise ShapeError(f"Y has shape {Y.shape}; expected {Z.shape[:-1]} (one label per sequence and output)")
        self._store(X=X, Z=Z, Y=Y, v=_check_v(self.v, X))

    @classmethod
    def self_attention(cls, X: Any, Y: Any, v: Any) -> "SequenceData":
        """Self-attention sequence data: z_ik = x_ik (K = T), labels Y (n, T)."""
        X = check_tokens(X, "X", batched=True)
        return cls(X, X, Y, v)

    @property
    def K(self) -> int:
        """Number of outputs (queries) per sequence."""
        return self.Z.shape[-2]

    @property
    def scores(self) -> np.ndarray:
        """γ_ikt = Y_ik · vᵀx_it, shape (..., n, K, T)."""
        # Definition 1 per output: sequence axis n becomes (n, 1) against the labels' (n, K)
        return gamma(self.X[..., None, :, :], self.Y, self.v[..., None, :])

    def opt(self, causal: bool = False) -> np.ndarray:
        """opt_ik = argmax_t γ_ikt (over t ≤ k when ``causal``), shape (..., n, K); ties → smallest index."""
        s = self.scores
        if causal:
            T = self.T
            mask = np.arange(T)[None, :] > np.arange(self.K)[:, None]
            s = np.where(mask, -np.inf, s)
        return np.argmax(s, axis=-1)

    def __repr__(self) -> str:
        return f"SequenceData(n={self.n}, T={self.T}, K={self.K}, d={self.d}, batch_shape={self.batch_shape})"


@dataclass(frozen=True, eq=False)
class PromptData:
    """Data of B's prompt-attention model f(X) = vᵀXᵀS(X Wᵀ p).

    Convention (B's slides and code): the key of token t is k_t = W x_t and the logits are
    a_t = k_tᵀ p = x_tᵀ Wᵀ p. ``X`` (n, T, d), ``Y`` (n,), ``v`` (d,) the head (the initial
    head when v is trained), ``W`` (d, d) the fixed key matrix.
    """

    X: np.ndarray
    Y: np.ndarray
    v: np.ndarray
    W: np.ndarray

    def __post_init__(self) -> None:
        X = check_tokens(self.X, "X")
        Y = check_labels(self.Y, X, "Y")
        d = X.shape[-1]
        v = as_float_array(self.v, "v", 1)
        if v.shape != (d,):
            raise ShapeError(f"v has shape {v.shape} but tokens have dimension d = {d}; expected ({d},)")
        W = as_float_array(self.W, "W", 2)
        if W.shape != (d, d):
            raise ShapeError(f"W has shape {W.shape}; expected ({d}, {d})")
        for name, arr in (("X", X), ("Y", Y), ("v", v), ("W", W)):
            object.__setattr__(self, name, _frozen(arr))

    n = _TrialData.n
    T = _TrialData.T
    d = _TrialData.d

    @property
    def keys(self) -> np.ndarray:
        """Keys k_it = W x_it, shape (n, T, d)."""
        return self.X @ self.W.T

    scores = AttentionData.scores
    opt = AttentionData.opt

    def __repr__(self) -> str:
        return f"PromptData(n={self.n}, T={self.T}, d={self.d})"
