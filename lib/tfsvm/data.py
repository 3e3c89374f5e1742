"""Datasets of the papers' experiments and their generators (A §2–§6, App. F; B §3.4).

Containers
----------
* :class:`AttentionData` — A's cross-/self-attention data ``(X, Z, Y, v)`` with
  ``X`` (n, T, d), ``Z`` (n, d), ``Y`` (n,), ``v`` (d,), or with one leading trial
  dimension B for batches of independent instances: ``X`` (B, n, T, d), ``Z`` (B, n, d),
  ``Y`` (B, n), ``v`` (B, d).
* :class:`SequenceData` — A §7's sequence-output data: one query per output position,
  ``Z`` (n, K, d), labels ``Y`` (n, K) (self-attention: ``Z = X``, K = T).
* :class:`PromptData` — B's prompt-attention data ``(X, Y, v, W)``; the trainable
  object is the prompt/query vector p (and possibly v).

Generators (each takes an explicit ``seed``; numpy ``default_rng(seed)``, no global state)
------------------------------------------------------------------------------------------
* :func:`unit_sphere_data` — the data of every A experiment (Figs 2, 4–8, 10).
* :func:`gd_paths_2d_data` — the toy of Figure 1.
* :func:`orthonormal_token_data` — Section 6.1 / Figure 9.
* :func:`sequence_data` — self-attention data with per-position labels (Section 7).
* :func:`prompt_single_input_data`, :func:`prompt_multi_input_data`,
  :func:`joint_training_data`, :func:`loss_comparison_data` — B's four notebooks.

All arrays are float64 numpy, stored read-only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np

from ._validation import (
    as_float_array,
    check_count,
    check_labels,
    check_option,
    check_positive,
    check_queries,
    check_tokens,
)
from .errors import OptionError, ShapeError

__all__ = [
    "AttentionData",
    "SequenceData",
    "PromptData",
    "TorchAttentionData",
    "unit_sphere_data",
    "equal_scores_data",
    "gd_paths_2d_data",
    "orthonormal_token_data",
    "sequence_data",
    "prompt_single_input_data",
    "prompt_multi_input_data",
    "joint_training_data",
    "loss_comparison_data",
]


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
class AttentionData:
    """Data of the attention model (2) of A with a linear head v.

    Parameters
    ----------
    X : array (n, T, d) or (B, n, T, d)
        Token sequences; T >= 2.
    Z : array (n, d) or (B, n, d)
        One query (cross-attention token) z_i per sequence; self-attention uses z_i = x_i1
        (see :meth:`self_attention`).
    Y : array (n,) or (B, n)
        Labels in {−1, +1}.
    v : array (d,) or (B, d)
        Linear head; a (d,) head given with batched X is repeated over the trials.
    """

    X: np.ndarray
    Z: np.ndarray
    Y: np.ndarray
    v: np.ndarray

    def __post_init__(self) -> None:
        X = check_tokens(self.X, "X", batched=True)
        Z = check_queries(self.Z, X, "Z")
        Y = check_labels(self.Y, X, "Y")
        v = _check_v(self.v, X)
        for name, arr in (("X", X), ("Z", Z), ("Y", Y), ("v", v)):
            object.__setattr__(self, name, _frozen(arr))

    # -- constructors -------------------------------------------------------------
    @classmethod
    def self_attention(cls, X: Any, Y: Any, v: Any, query_index: int = 0) -> "AttentionData":
        """Self-attention data: z_i = x_{i, query_index} (the paper uses the first token, index 0)."""
        X = check_tokens(X, "X", batched=True)
        T = X.shape[-2]
        if not isinstance(query_index, (int, np.integer)) or not -T <= query_index < T:
            raise OptionError(f"query_index must be an integer in [0, {T}), got {query_index!r}")
        return cls(X, X[..., query_index, :], Y, v)

    # -- shape properties ---------------------------------------------------------
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

    # -- token scores -------------------------------------------------------------
    @property
    def scores(self) -> np.ndarray:
        """Token scores γ_it = Y_i · vᵀx_it (Definition 1), shape (..., n, T)."""
        return self.Y[..., None] * np.einsum("...ntd,...d->...nt", self.X, self.v)

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
        return _score_gap(self.scores)

    # -- slicing / conversion -----------------------------------------------------
    def trial(self, b: int) -> "AttentionData":
        """Instance ``b`` of a batched dataset (unbatched data: only b = 0 is allowed)."""
        if not self.batch_shape:
            if b not in (0, -1):
                raise OptionError(f"unbatched data has a single instance; got trial index {b}")
            return self
        B = self.batch_shape[0]
        if not isinstance(b, (int, np.integer)) or not -B <= b < B:
            raise OptionError(f"trial index must be an integer in [0, {B}), got {b!r}")
        return AttentionData(self.X[b], self.Z[b], self.Y[b], self.v[b])

    def batched(self) -> "AttentionData":
        """The same data with a trial dimension (B = 1 if unbatched)."""
        if self.batch_shape:
            return self
        return AttentionData(self.X[None], self.Z[None], self.Y[None], self.v[None])

    def to_torch(self, device: Any = "cpu") -> TorchAttentionData:
        """(X, Z, Y, v) as torch float64 tensors on ``device``."""
        return _to_torch(self, device)

    def __repr__(self) -> str:
        return f"AttentionData(n={self.n}, T={self.T}, d={self.d}, batch_shape={self.batch_shape})"


@dataclass(frozen=True, eq=False)
class SequenceData:
    """Sequence-output data of A §7 / App. D: K outputs per sequence, output k uses query z_ik.

    ``X`` (n, T, d), ``Z`` (n, K, d), ``Y`` (n, K) in {−1,+1}, ``v`` (d,), optionally with one
    leading trial dimension. The loss is L_seq(W) = (1/n) Σ_i Σ_k ℓ(Y_ik · h(X_iᵀ S(X_i W z_ik)))
    (eq. (10)); the causal variant (needs K = T) masks tokens t > k for output k.
    """

    X: np.ndarray
    Z: np.ndarray
    Y: np.ndarray
    v: np.ndarray

    def __post_init__(self) -> None:
        X = check_tokens(self.X, "X", batched=True)
        Z = as_float_array(self.Z, "Z", X.ndim)
        if Z.shape[:-2] != X.shape[:-2] or Z.shape[-1] != X.shape[-1]:
            raise ShapeError(
                f"Z has shape {Z.shape} but X has shape {X.shape}; expected {X.shape[:-2] + ('K', X.shape[-1])} "
                "(K queries of dimension d per sequence)"
            )
        Yarr = np.asarray(self.Y)
        if Yarr.dtype == bool:
            raise ShapeError("Y is boolean; labels must be -1 or +1")
        Yarr = np.asarray(Yarr, dtype=np.float64)
        if Yarr.shape != Z.shape[:-1]:
            raise ShapeError(f"Y has shape {Yarr.shape}; expected {Z.shape[:-1]} (one label per sequence and output)")
        if not np.all(np.isin(Yarr, (-1.0, 1.0))):
            raise ShapeError("Y must contain only -1 and +1")
        v = _check_v(self.v, X)
        for name, arr in (("X", X), ("Z", Z), ("Y", Yarr), ("v", v)):
            object.__setattr__(self, name, _frozen(arr))

    @classmethod
    def self_attention(cls, X: Any, Y: Any, v: Any) -> "SequenceData":
        """Self-attention sequence data: z_ik = x_ik (K = T), labels Y (n, T)."""
        X = check_tokens(X, "X", batched=True)
        return cls(X, X, Y, v)

    n = AttentionData.n
    T = AttentionData.T
    d = AttentionData.d
    batch_shape = AttentionData.batch_shape
    trials = AttentionData.trials
    to_torch = AttentionData.to_torch

    @property
    def K(self) -> int:
        """Number of outputs (queries) per sequence."""
        return self.Z.shape[-2]

    @property
    def scores(self) -> np.ndarray:
        """γ_ikt = Y_ik · vᵀx_it, shape (..., n, K, T)."""
        return self.Y[..., None] * np.einsum("...ntd,...d->...nt", self.X, self.v)[..., None, :]

    def opt(self, causal: bool = False) -> np.ndarray:
        """opt_ik = argmax_t γ_ikt (over t ≤ k when ``causal``), shape (..., n, K); ties → smallest index."""
        s = self.scores
        if causal:
            T = self.T
            mask = np.arange(T)[None, :] > np.arange(self.K)[:, None]
            s = np.where(mask, -np.inf, s)
        return np.argmax(s, axis=-1)

    def trial(self, b: int) -> "SequenceData":
        """Instance ``b`` of a batched dataset."""
        if not self.batch_shape:
            if b not in (0, -1):
                raise OptionError(f"unbatched data has a single instance; got trial index {b}")
            return self
        return SequenceData(self.X[b], self.Z[b], self.Y[b], self.v[b])

    def batched(self) -> "SequenceData":
        if self.batch_shape:
            return self
        return SequenceData(self.X[None], self.Z[None], self.Y[None], self.v[None])

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

    n = AttentionData.n
    T = AttentionData.T
    d = AttentionData.d

    @property
    def keys(self) -> np.ndarray:
        """Keys k_it = W x_it, shape (n, T, d)."""
        return self.X @ self.W.T

    @property
    def scores(self) -> np.ndarray:
        """γ_it = Y_i vᵀx_it, shape (n, T)."""
        return self.Y[:, None] * (self.X @ self.v)

    @property
    def opt(self) -> np.ndarray:
        """argmax_t γ_it (ties → smallest index)."""
        return np.argmax(self.scores, axis=-1)

    def __repr__(self) -> str:
        return f"PromptData(n={self.n}, T={self.T}, d={self.d})"


# ---------------------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------------------


def _score_gap(scores: np.ndarray) -> np.ndarray:
    """min over sequences of (top score − second score); shape scores.shape[:-2]."""
    top2 = -np.sort(-scores, axis=-1)[..., :2]
    return np.min(top2[..., 0] - top2[..., 1], axis=-1)


def _unit(a: np.ndarray) -> np.ndarray:
    return a / np.linalg.norm(a, axis=-1, keepdims=True)


def _labels(rng: np.random.Generator, shape: tuple[int, ...], labels: str) -> np.ndarray:
    g = rng.standard_normal(shape)
    if labels == "ones":
        return np.ones(shape)
    return np.where(g > 0, 1.0, -1.0)


_MAX_REDRAWS = 10_000


def unit_sphere_data(
    n: int,
    T: int,
    d: int,
    seed: int,
    trials: int | None = None,
    gap: float | None = None,
    labels: str = "random",
    self_attention: bool = False,
) -> AttentionData:
    """Random data of A's experiments: x_it, z_i, v i.i.d. N(0, I_d) normalised to the unit
    sphere; Y_i = ±1 with probability ½ (``labels="random"``, drawn as 2·1[g > 0] − 1 with
    g ~ N(0,1) as in the official code) or all +1 (``labels="ones"``).

    Parameters
    ----------
    n, T, d : int
        Sequences, tokens per sequence (T >= 2), dimension.
    seed : int
        Seed of ``numpy.random.default_rng``.
    trials : int or None
        None → one instance, X (n, T, d). An integer B → B independent instances, X (B, n, T, d),
        drawn in one vectorised call (trial b is *not* the same as seed b unbatched).
    gap : float or None
        Score-gap filter of App. F (Figs 2, 5, 6 use 0.1): keep only instances with
        ``min_i (γ_{i,opt_i} − max_{t≠opt_i} γ_it) >= gap``.
    labels : "random" or "ones"
    self_attention : bool
        If True, z_i = x_i1 (the first token) instead of an independent query.

    Notes
    -----
    *Rejection sampling.* Conditioning an instance on the gap event is done by redrawing,
    vectorised over all trials, only the sequences (X_i, Y_i) whose gap is below ``gap``.
    This gives exactly the distribution of per-instance rejection (redraw the whole instance
    until all n gaps pass): given v, the sequences are independent and the event is a
    product of per-sequence events; and since x_it is rotation invariant and ‖v‖ = 1, the law
    of the scores vᵀx_it does not depend on v, so the conditioning leaves the law of v
    (and of the independent queries z_i) unchanged. Per-instance rejection would need
    ~1/p^n draws (p = per-sequence pass rate), which is impractical for n = 20.
    """
    n = check_count(n, "n", 1)
    T = check_count(T, "T", 2)
    d = check_count(d, "d", 1)
    B = None if trials is None else check_count(trials, "trials", 1)
    check_option(labels, "labels", ("random", "ones"))
    if gap is not None:
        gap = check_positive(gap, "gap")
        if gap >= 2.0:
            raise OptionError(f"gap = {gap} is impossible: unit-sphere scores lie in [-1, 1], so score gaps are < 2")
    rng = np.random.default_rng(seed)
    b = 1 if B is None else B
    v = _unit(rng.standard_normal((b, d)))
    X = _unit(rng.standard_normal((b, n, T, d)))
    Z = None if self_attention else _unit(rng.standard_normal((b, n, d)))
    Y = _labels(rng, (b, n), labels)
    if gap is not None:
        for _ in range(_MAX_REDRAWS):
            scores = Y[..., None] * np.einsum("bntd,bd->bnt", X, v)
            top2 = -np.sort(-scores, axis=-1)[..., :2]
            bad = np.argwhere(top2[..., 0] - top2[..., 1] < gap)
            if bad.size == 0:
                break
            k = bad.shape[0]
            X[bad[:, 0], bad[:, 1]] = _unit(rng.standard_normal((k, T, d)))
            Y[bad[:, 0], bad[:, 1]] = _labels(rng, (k,), labels)
        else:
            raise OptionError(f"gap = {gap} is too large: could not draw sequences with that score gap (T = {T}, d = {d})")
    if self_attention:
        Z = X[:, :, 0, :]
    if B is None:
        return AttentionData(X[0], Z[0], Y[0], v[0])
    return AttentionData(X, Z, Y, v)


def equal_scores_data(n: int, T: int, d: int, seed: int, spread: float = 0.0, trials: int | None = None,
                      top: float = 1.0, rest: float = 0.5) -> AttentionData:
    """Instances satisfying Assumption B.2 of A (equal non-optimal scores), or nearly (Theorem 5).

    Unit-sphere data (:func:`unit_sphere_data`, same ``seed`` and ``trials``) whose tokens are
    moved along the unit head v until their scores γ_it = Y_i vᵀx_it are prescribed: ``top``
    for token 0 (the optimal one) and ``rest`` for the others, plus independent uniform noise of
    half-width ``spread`` (``spread = 0``: exactly B.2). The optimal token beats every other
    token along Y_i v, so (Att-SVM) is feasible whenever the queries are linearly independent
    (d >= n). The moved tokens are no longer unit vectors.
    """
    spread = float(spread)
    if not np.isfinite(spread) or spread < 0 or spread >= top - rest:
        raise OptionError(f"spread must be in [0, top - rest = {top - rest}), got {spread!r} (token 0 must stay optimal)")
    base = unit_sphere_data(n, T, d, seed=seed, trials=trials)
    noise = np.random.default_rng(seed).uniform(-spread, spread, base.X.shape[:-1])
    target = np.where(np.arange(T) == 0, top, rest + noise)
    v = base.v[..., None, None, :]  # broadcasts over (n, T)
    shift = base.Y[..., None] * target - np.einsum("...ntd,...d->...nt", base.X, base.v)
    return AttentionData(base.X + shift[..., None] * v, base.Z, base.Y, base.v)


def gd_paths_2d_data(seed: int = 1) -> AttentionData:
    """The toy of A's Figure 1 (``visualization1.ipynb``): n = 2, T = 3, d = 2, cross-attention.

    Draw order (numpy ``default_rng(seed)``): v ~ N(0, I_2) normalised; X = 0.3·N(0, I) with
    X_1 shifted by (−1, 0) and X_2 by (+1, 0); z_i ~ N(0, I_2) normalised; Y = (1, 1).
    (The official notebook uses torch's generator with seed 1, so the numbers differ.)
    """
    rng = np.random.default_rng(seed)
    v = _unit(rng.standard_normal(2))
    X = 0.3 * rng.standard_normal((2, 3, 2))
    X[0] += np.array([-1.0, 0.0])
    X[1] += np.array([1.0, 0.0])
    Z = _unit(rng.standard_normal((2, 2)))
    return AttentionData(X, Z, np.ones(2), v)


def orthonormal_token_data(T: int, d: int, seed: int, trials: int | None = None) -> AttentionData:
    """Section 6.1 / Figure 9 data: n = 1 sequence of T orthonormal tokens in R^d (T <= d).

    The tokens are the columns of the Q factor of the QR decomposition of a Gaussian (d, T)
    matrix; v and the query z are i.i.d. N(0, I) normalised; Y = 1.
    """
    T = check_count(T, "T", 2)
    d = check_count(d, "d", 1)
    if T > d:
        raise OptionError(f"orthonormal tokens need T <= d, got T = {T}, d = {d}")
    B = None if trials is None else check_count(trials, "trials", 1)
    b = 1 if B is None else B
    rng = np.random.default_rng(seed)
    Qf, _ = np.linalg.qr(rng.standard_normal((b, d, T)))
    X = np.swapaxes(Qf, -1, -2)[:, None]  # (b, 1, T, d)
    v = _unit(rng.standard_normal((b, d)))
    Z = _unit(rng.standard_normal((b, 1, d)))
    Y = np.ones((b, 1))
    if B is None:
        return AttentionData(X[0], Z[0], Y[0], v[0])
    return AttentionData(X, Z, Y, v)


def sequence_data(
    n: int, T: int, d: int, seed: int, trials: int | None = None, labels: str = "random"
) -> SequenceData:
    """Self-attention sequence-output data (A §7): unit-sphere tokens and v, z_ik = x_ik,
    labels Y_ik = ±1 with probability ½ (or all +1)."""
    n = check_count(n, "n", 1)
    T = check_count(T, "T", 2)
    d = check_count(d, "d", 1)
    check_option(labels, "labels", ("random", "ones"))
    B = None if trials is None else check_count(trials, "trials", 1)
    b = 1 if B is None else B
    rng = np.random.default_rng(seed)
    v = _unit(rng.standard_normal((b, d)))
    X = _unit(rng.standard_normal((b, n, T, d)))
    Y = _labels(rng, (b, n, T), labels)
    if B is None:
        return SequenceData(X[0], X[0], Y[0], v[0])
    return SequenceData(X, X, Y, v)


# ---------------------------------------------------------------------------------------
# B's toys (official MaxMarginTokenSelection notebooks)
# ---------------------------------------------------------------------------------------

_KEY_2D = np.diag([1.0, 1.0, 0.0])
_SCORE_HEAD = np.array([0.0, 0.0, 1.0])


def prompt_single_input_data(case: str = "global") -> PromptData:
    """B's single-input example (``single_input_converge.ipynb``): n = 1, T = 3, d = 3, Y = 1.

    Tokens (x, y, score): ``"global"`` [(−0.1, 1, 1), (1, 0, 0.9), (0, 0, 0.9)];
    ``"local"`` [(−0.1, 1, 1), (1, 0, 0.9), (0, 0, 0)]. Keys use only the first two
    coordinates (W = diag(1, 1, 0)) and v = (0, 0, 1) reads the third, so the third
    coordinate is the token score. Token 0 is optimal; in the local case token 1 is
    locally optimal.
    """
    check_option(case, "case", ("global", "local"))
    last = 0.9 if case == "global" else 0.0
    X = np.array([[[-0.1, 1.0, 1.0], [1.0, 0.0, 0.9], [0.0, 0.0, last]]])
    return PromptData(X, np.ones(1), _SCORE_HEAD, _KEY_2D)


def prompt_multi_input_data(seed: int = 0) -> PromptData:
    """B's multi-input example (``multi_input_converge.ipynb``): n = 3, T = 7, d = 3, Y = 1.

    X = 0.2·N(0, I) (numpy ``default_rng(seed)``); token 0 += (1, 0, 0); tokens 1–3 +=
    (−1, 1, 0); tokens 4–6 += (−0.5, −0.5, 0); the third coordinate (the score, read by
    v = (0, 0, 1)) is set to 1.0 for token 0 and 0.5 for the others (equal non-optimal
    scores, the analogue of Assumption B.2). W = diag(1, 1, 0).
    """
    rng = np.random.default_rng(seed)
    X = 0.2 * rng.standard_normal((3, 7, 3))
    X[:, 0] += np.array([1.0, 0.0, 0.0])
    X[:, 1:4] += np.array([-1.0, 1.0, 0.0])
    X[:, 4:7] += np.array([-0.5, -0.5, 0.0])
    X[:, 0, 2] = 1.0
    X[:, 1:, 2] = 0.5
    return PromptData(X, np.ones(3), _SCORE_HEAD, _KEY_2D)


def joint_training_data(tight: bool = True) -> PromptData:
    """B's joint (v, p) training example (``joint_training.ipynb``, B's Figure 3): n = 3, T = 2, d = 2, W = I.

    X_1 = [(0,0), (1,1)], Y_1 = +1; X_2 = [(0,0), (1,−1)], Y_2 = −1; X_3 = [(0,0), (0.5,1)]
    (``tight=True``, panel a) or [(0,0), (0.5,1.5)] (panel b), Y_3 = +1. The selected token is
    token 1 (the second) in every sequence. ``v`` holds the notebook's initial head v(0) = (−1, 0);
    the notebook's initial prompt is p(0) = (0, −1).
    """
    third = [0.5, 1.0] if tight else [0.5, 1.5]
    X = np.array([[[0.0, 0.0], [1.0, 1.0]], [[0.0, 0.0], [1.0, -1.0]], [[0.0, 0.0], third]])
    return PromptData(X, np.array([1.0, -1.0, 1.0]), np.array([-1.0, 0.0]), np.eye(2))


def loss_comparison_data(C: float) -> PromptData:
    """B's loss-comparison example (``diff_loss_function.ipynb``): n = 2, T = 2, d = 3, Y = (1, 1).

    X_1 = [(0,0,0), (1,1,C)], X_2 = [(0,0,0), (1,−1,1)], v = (0,0,1) (scores (0, C) and (0, 1)),
    W = diag(1, 1, 0). p^mm = (1, 0, 0) for every C.
    """
    C = float(C)
    if not np.isfinite(C):
        raise OptionError(f"C must be finite, got {C!r}")
    X = np.array([[[0.0, 0.0, 0.0], [1.0, 1.0, C]], [[0.0, 0.0, 0.0], [1.0, -1.0, 1.0]]])
    return PromptData(X, np.ones(2), _SCORE_HEAD, _KEY_2D)
