"""Generators of paper A's datasets (A §2–§7, App. F); each takes an explicit ``seed``
(numpy ``default_rng(seed)``, no global state)."""

from __future__ import annotations

import dataclasses

import numpy as np

from .._validation import check_count, check_option, check_positive
from ..errors import OptionError
from ..tokens.scores import gamma, top_gaps
from .containers import AttentionData, SequenceData

__all__ = ["unit_sphere_data", "equal_scores_data", "gd_paths_2d_data", "orthonormal_token_data", "sequence_data"]


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
        Sequences, tokens per sequence (T ≥ 2), dimension.
    seed : int
        Seed of ``numpy.random.default_rng``.
    trials : int or None
        None → one instance, X (n, T, d). An integer B → B independent instances, X (B, n, T, d),
        drawn in one vectorised call (trial b is *not* the same as seed b unbatched).
    gap : float or None
        Score-gap filter of App. F (Figs 2, 5, 6 use 0.1): keep only instances with
        ``min_i (γ_{i,opt_i} − max_{t≠opt_i} γ_it) ≥ gap``.
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
            bad = np.argwhere(top_gaps(gamma(X, Y, v)) < gap)
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
    (d ≥ n). The moved tokens are no longer unit vectors.
    """
    spread = float(spread)
    if not np.isfinite(spread) or spread < 0 or spread >= top - rest:
        raise OptionError(f"spread must be in [0, top - rest = {top - rest}), got {spread!r} (token 0 must stay optimal)")
    base = unit_sphere_data(n, T, d, seed=seed, trials=trials)
    noise = np.random.default_rng(seed).uniform(-spread, spread, base.X.shape[:-1])
    target = np.where(np.arange(T) == 0, top, rest + noise)
    v = base.v[..., None, None, :]  # broadcasts over (n, T)
    shift = base.Y[..., None] * (target - base.scores)  # Y_i (target − γ_it): moves γ_it to target (Y_i² = 1)
    return dataclasses.replace(base, X=base.X + shift[..., None] * v)


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
    """Section 6.1 / Figure 9 data: n = 1 sequence of T orthonormal tokens in R^d (T ≤ d).

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
