"""Regularization paths W̄_R = argmin_{‖W‖ ≤ R} L(W) (A §2, Theorem 9's local path)."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from .._validation import as_float_array, check_count, check_option, check_positive
from ..attention import DTYPE, _log_excess
from ..data import AttentionData
from ..errors import OptionError, ShapeError, SolverError
from ..gradients import LinearProblem
from ..losses import Loss, get_loss
from ._common import _TINY, _check_seed, _cpu_settings




@dataclass(frozen=True, eq=False)
class RegularizationPath:
    """W̄_R for each radius (behaves like the list of matrices: ``path[j]``, ``len(path)``, iteration).

    Attributes: W (len(radii), d, d) — W̄_R (or K̄_R Q̄_Rᵀ); radii; excess_loss L(W̄_R) − L⋆;
    active — True where the ball constraint is active (KKT multiplier > 0); iterations;
    K, Q — the factors for param="KQ".
    """

    W: np.ndarray
    radii: np.ndarray
    excess_loss: np.ndarray
    active: np.ndarray
    iterations: np.ndarray
    param: str
    K: np.ndarray | None = None
    Q: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.radii)

    def __getitem__(self, j: int) -> np.ndarray:
        return self.W[j]

    def __iter__(self):
        return iter(self.W)


def regularization_path(
    data: AttentionData,
    radii: Iterable[float],
    param: str = "W",
    loss: str | Loss = "logistic",
    init: Any = None,
    seed: int = 0,
    maxiter: int = 5000,
    gtol: float = 1e-9,
    cone: tuple[Any, float] | None = None,
) -> RegularizationPath:
    """(W-RP) W̄_R = argmin_{‖W‖_F ≤ R} L(W), or (KQ-RP) argmin_{‖K‖_F² + ‖Q‖_F² ≤ 2R} L(KQᵀ)
    (Lemma 15: the same as the nuclear ball ‖W‖_⋆ ≤ R), for each R in ``radii`` (linear head).

    Solver. L has no finite minimiser for separable data (Lemma 2), so the ball constraint is
    active and the problem is solved on the sphere: W = R·θ/‖θ‖ (or (K, Q) = √(2R)·θ/‖θ‖),
    minimising f(θ) = log(L(W) − L⋆) — the same minimisers as L, but computed in log space
    (:func:`tfsvm.attention.log_excess_loss`), so it stays accurate when L(W) − L⋆ is far below
    float64 resolution of L (large R) — with scipy's L-BFGS-B and autograd gradients.
    Stopping rule: max_j |∂f/∂θ_j| ≤ ``gtol``·max(1, R), or a relative decrease of f below 1e-15,
    or ``maxiter`` iterations (``iterations`` in the result records the count; a
    :class:`~tfsvm.errors.SolverError` is raised if f ends above its starting value). Each radius
    is warm-started from the previous solution (rescaled), the first from the steepest-descent
    direction −∇L(0) (plus a small seeded perturbation for (K, Q), to leave the rank-deficient
    saddle). Afterwards the KKT multiplier is checked: if ⟨∇L(W̄_R), W̄_R⟩ ≥ 0 the constraint is
    not active (``active`` False) and an unconstrained L-BFGS run from W̄_R/2 is used when it stays
    inside the ball. This is a local method: on non-convex landscapes it returns the local
    minimiser reached from the warm start, as the path-following of the paper intends.

    Local path (Theorem 9 of A): ``cone=(alpha, eps)`` minimises L over
    cone_ε(α) ∩ {‖W‖_F ≤ R} instead (param="W"), see :func:`_local_regularization_path`.
    """
    if cone is not None:
        if param != "W":
            raise OptionError("cone=(alpha, eps) is only supported for param='W'")
        return _local_regularization_path(data, radii, cone, loss, init, maxiter)
    if not isinstance(data, AttentionData) or data.batch_shape:
        raise OptionError("regularization_path needs one (unbatched) AttentionData instance")
    check_option(param, "param", ("W", "KQ"))
    ls_ = get_loss(loss)
    seed = _check_seed(seed)
    maxiter = check_count(maxiter, "maxiter", 1)
    gtol = check_positive(gtol, "gtol")
    r_arr = _check_radii(radii)
    d = data.d
    if init is not None and param == "KQ":
        raise OptionError("init is only supported for param='W'")
    W0 = None if init is None else as_float_array(init, "init", 2)
    if W0 is not None and W0.shape != (d, d):
        raise ShapeError(f"init has shape {W0.shape}; expected ({d}, {d})")
    X, Z, Y, v = (torch.tensor(np.asarray(a), dtype=DTYPE) for a in (data.X, data.Z, data.Y, data.v))

    def f_W(W: torch.Tensor) -> torch.Tensor:
        return _log_excess(X, W, Z, Y, v, ls_)

    def unpack(th: torch.Tensor, Rad: float) -> torch.Tensor:
        if param == "W":
            return (Rad * th / torch.linalg.vector_norm(th)).reshape(d, d)
        th = math.sqrt(2 * Rad) * th / torch.linalg.vector_norm(th)
        K, Q = th[: d * d].reshape(d, d), th[d * d :].reshape(d, d)
        return K @ Q.T

    prob = LinearProblem(X[None], Z[None, :, None], Y[None, :, None], v[None], ls_)
    theta = _ball_start(prob, W0, param, seed)
    Ws, excess, active, iters, Ks, Qs = [], [], [], [], [], []
    with _cpu_settings(torch.device("cpu")):
        for Rad in r_arr:
            res = _on_sphere(f_W, lambda th, Rad=float(Rad): unpack(th, Rad), theta, maxiter, gtol * max(1.0, Rad))
            if res is None:
                raise SolverError(f"regularization path: L-BFGS failed at R = {Rad}")
            theta = res.x / np.linalg.norm(res.x)
            with torch.no_grad():
                Wb = unpack(torch.tensor(theta, dtype=DTYPE), float(Rad))
                G, _ = prob.grad(Wb[None])
                act = float((G[0] * Wb).sum()) < 0
            if not act and param == "W":  # constraint inactive: try an interior minimiser
                Wb = _interior(f_W, Wb, float(Rad), res.fun, maxiter, gtol)
            with torch.no_grad():
                excess.append(float(torch.exp(f_W(Wb))))
            Ws.append(Wb.numpy().copy())
            active.append(act)
            iters.append(int(res.nit))
            if param == "KQ":
                th = math.sqrt(2 * Rad) * theta
                Ks.append(th[: d * d].reshape(d, d))
                Qs.append(th[d * d :].reshape(d, d))
    return RegularizationPath(
        np.array(Ws), r_arr, np.array(excess), np.array(active), np.array(iters), param,
        np.array(Ks) if Ks else None, np.array(Qs) if Qs else None,
    )


def _check_radii(radii: Iterable[float]) -> np.ndarray:
    r_arr = np.asarray(list(radii), dtype=np.float64)
    if r_arr.ndim != 1 or r_arr.size == 0 or not np.all(np.isfinite(r_arr)) or np.any(r_arr <= 0):
        raise OptionError("radii must be a non-empty list of finite numbers > 0")
    return r_arr


def _ball_start(prob: LinearProblem, W0: np.ndarray | None, param: str, seed: int) -> np.ndarray:
    """Unit starting vector θ of the path: W0, or the steepest-descent direction −∇L(0) (a seeded
    random direction if that is 0); for (K, Q) the balanced factors of its SVD plus a small seeded
    perturbation (to leave the rank-deficient saddle)."""
    d = prob.Zflat.shape[-1]
    if W0 is None:
        G0, _ = prob.grad(torch.zeros(1, d, d, dtype=DTYPE))
        W0 = -G0[0].numpy()
    if not np.any(W0):
        W0 = np.random.default_rng(seed).standard_normal((d, d))
    if param == "W":
        return W0.ravel() / np.linalg.norm(W0)
    U, S, Vt = np.linalg.svd(W0)
    K0, Q0 = U * np.sqrt(S), Vt.T * np.sqrt(S)
    rng = np.random.default_rng(seed)
    scale = np.sqrt(np.sum(K0**2) + np.sum(Q0**2))
    K0 = K0 + 1e-2 * scale / d * rng.standard_normal((d, d))
    Q0 = Q0 + 1e-2 * scale / d * rng.standard_normal((d, d))
    theta = np.concatenate([K0.ravel(), Q0.ravel()])
    return theta / np.linalg.norm(theta)


def _on_sphere(f_W, unpack, theta: np.ndarray, maxiter: int, gtol: float):
    """L-BFGS-B on θ ↦ f_W(unpack(θ)) from θ; the scipy result, or None if f ends above its start."""
    from scipy.optimize import minimize

    def fun(x: np.ndarray) -> tuple[float, np.ndarray]:
        th = torch.tensor(x, dtype=DTYPE, requires_grad=True)
        val = f_W(unpack(th))
        if not torch.isfinite(val):
            return float(val.detach()), np.zeros_like(x)
        (g,) = torch.autograd.grad(val, th)
        return float(val.detach()), g.numpy()

    f_start = fun(theta)[0]
    res = minimize(fun, theta, jac=True, method="L-BFGS-B",
                   options={"maxiter": maxiter, "gtol": gtol, "ftol": 1e-15, "maxcor": 20})
    if not np.isfinite(res.fun) or res.fun > f_start + 1e-12 * abs(f_start):
        return None
    return res


def _interior(f_W, Wb: torch.Tensor, Rad: float, f_ball: float, maxiter: int, gtol: float) -> torch.Tensor:
    """An unconstrained L-BFGS-B minimiser from Wb/2 if it stays in the ball ‖W‖ ≤ R and beats
    the value f_ball on the sphere, else Wb."""
    from scipy.optimize import minimize

    d = Wb.shape[-1]

    def fun(x: np.ndarray) -> tuple[float, np.ndarray]:
        Wt = torch.tensor(x.reshape(d, d), dtype=DTYPE, requires_grad=True)
        val = f_W(Wt)
        (g,) = torch.autograd.grad(val, Wt)
        return float(val.detach()), g.numpy().ravel()

    r2 = minimize(fun, 0.5 * Wb.numpy().ravel(), jac=True, method="L-BFGS-B",
                  options={"maxiter": maxiter, "gtol": gtol, "ftol": 1e-15})
    if np.linalg.norm(r2.x) <= Rad and r2.fun <= f_ball:
        return torch.tensor(r2.x.reshape(d, d), dtype=DTYPE)
    return Wb


def _local_regularization_path(data: AttentionData, radii: Iterable[float], cone: tuple[Any, float],
                               loss: str | Loss, init: Any, maxiter: int) -> RegularizationPath:
    """W̄_R = argmin { L(W) : W ∈ cone_ε(α), ‖W‖_F ≤ R } (Theorem 9 of A), by SLSQP.

    cone_ε(α) (eq. (5), :func:`tfsvm.tokens.cone_eps_value`) asks, per sequence, that *some*
    lower-score token t beat every higher-score token τ ≠ α_i by ε‖W‖_F. It is a union of convex
    cones; we use the piece that contains W_α^mm: t_i = the lower-score token with the largest
    logit under W_α^mm, giving the smooth constraints (x_{it_i} − x_iτ)ᵀ W z_i ≥ ε‖W‖_F for every
    τ ∈ high_i, plus ‖W‖_F² ≤ R². The first
    radius starts from R·W_α^mm/‖W_α^mm‖ (or ``init``) and each radius warm-starts the next. The
    objective is L(W) − L_α, L_α = (1/n) Σ_i ℓ(γ_iα_i), computed without cancellation and rescaled
    to O(1) per radius (inside the cone L − L_α → 0 like e^{−cR}, far below the resolution of L).
    SLSQP is a local method: at an intermediate R it may stop at a local minimiser on the cone's
    boundary (in the two-token example of chapter 5 it does at R = 20, where the grid search of
    :func:`tfsvm.experiments.local_convergence.local_path` finds an interior one); the direction
    limit of Theorem 9 is reached all the same (1 − corr(W̄_50, W_α^mm) ≈ 3·10⁻⁷ there).
    Raises :class:`~tfsvm.errors.OptionError` if W_α^mm is not in cone_ε(α) (then the piece is
    empty near it) and :class:`~tfsvm.errors.InfeasibleError` if (Att-SVM) for α is infeasible.
    """
    from scipy.optimize import minimize

    from .. import svm, tokens
    from .._validation import check_selection

    if not isinstance(data, AttentionData) or data.batch_shape:
        raise OptionError("regularization_path needs one (unbatched) AttentionData instance")
    if not isinstance(cone, (tuple, list)) or len(cone) != 2:
        raise OptionError("cone must be a pair (alpha, eps)")
    alpha = check_selection(cone[0], data.X, "alpha")
    eps = check_positive(cone[1], "eps")
    ls_ = get_loss(loss)
    maxiter = check_count(maxiter, "maxiter", 1)
    r_arr = _check_radii(radii)
    X_np, Z_np, sc = data.X, data.Z, data.scores
    n, _, d = X_np.shape
    W_a = svm.att_svm(X_np, Z_np, alpha)
    if tokens.cone_eps_value(W_a, X_np, Z_np, sc, alpha) < eps:
        raise OptionError(f"W_alpha^mm is not in cone_eps(alpha) for eps = {eps}: pick a smaller eps or a locally-optimal alpha")
    F = _cone_rows(X_np, Z_np, sc, alpha, W_a)
    X, Z, Y, v = (torch.tensor(np.asarray(a), dtype=DTYPE) for a in (X_np, Z_np, data.Y, data.v))

    gam = torch.tensor(sc, dtype=DTYPE)  # (n, T) token scores γ_it (Definition 1), computed once by the data
    g_a = gam[torch.arange(n), torch.as_tensor(alpha)]  # (n,)
    diff = gam - g_a[:, None]  # γ_it − γ_iα_i (0 at α_i)

    def excess_over_alpha(Wt: torch.Tensor) -> torch.Tensor:
        """L(W) − L_α with L_α = (1/n) Σ_i ℓ(γ_iα_i), without cancellation: δ_i = Σ_t s_it (γ_it − γ_iα_i)
        from log-softmax (the α_i term is exactly 0), then ℓ(γ_iα + δ_i) − ℓ(γ_iα) = δ_i·ℓ′ for tiny δ_i."""
        s_ = torch.exp(torch.log_softmax((X @ (Wt @ Z.unsqueeze(-1))).squeeze(-1), dim=-1))
        delta = (s_ * diff).sum(-1)
        small = delta.abs() < 1e-8
        dsafe = torch.where(small, torch.ones_like(delta), delta)
        ratio = torch.where(small, ls_.deriv(g_a), (ls_.value(g_a + dsafe) - ls_.value(g_a)) / dsafe)
        return (delta * ratio).mean()

    scale = [1.0]

    def fun(x: np.ndarray) -> tuple[float, np.ndarray]:
        Wt = torch.tensor(x.reshape(d, d), dtype=DTYPE, requires_grad=True)
        val = excess_over_alpha(Wt) / scale[0]
        (g,) = torch.autograd.grad(val, Wt)
        return float(val.detach()), g.numpy().ravel()

    W0 = W_a if init is None else as_float_array(init, "init", 2)
    if W0.shape != (d, d):
        raise ShapeError(f"init has shape {W0.shape}; expected ({d}, {d})")
    x = W0.ravel() / np.linalg.norm(W0)
    prob = LinearProblem(X[None], Z[None, :, None], Y[None, :, None], v[None], ls_)
    Ws, excess, active, iters = [], [], [], []
    with _cpu_settings(torch.device("cpu")):
        for Rad in r_arr:
            x = Rad * x / np.linalg.norm(x)
            scale[0] = 1.0
            scale[0] = max(abs(fun(x)[0]), 1e-300)  # objective O(1) at the start of every radius
            cons = [{"type": "ineq", "fun": lambda w, R=float(Rad): R * R - w @ w, "jac": lambda w: -2 * w}]
            if F.size:
                cons.append({"type": "ineq", "fun": lambda w: F @ w - eps * np.linalg.norm(w),
                             "jac": lambda w: F - eps * w[None] / max(np.linalg.norm(w), _TINY)})
            res = minimize(fun, x, jac=True, method="SLSQP", constraints=cons,
                           options={"maxiter": maxiter, "ftol": 1e-14})
            if not np.all(np.isfinite(res.x)):
                raise SolverError(f"local regularization path: SLSQP failed at R = {Rad}: {res.message}")
            x = res.x
            Wb = x.reshape(d, d)
            with torch.no_grad():
                G, _ = prob.grad(torch.tensor(Wb[None], dtype=DTYPE))
                excess.append(float(torch.exp(_log_excess(X, torch.tensor(Wb, dtype=DTYPE), Z, Y, v, ls_))))
            Ws.append(Wb.copy())
            active.append(float((G[0].numpy() * Wb).sum()) < 0)
            iters.append(int(res.nit))
    return RegularizationPath(np.array(Ws), r_arr, np.array(excess), np.array(active), np.array(iters), "W")


def _cone_rows(X: np.ndarray, Z: np.ndarray, sc: np.ndarray, alpha: np.ndarray, W_a: np.ndarray) -> np.ndarray:
    """Rows f of the linear constraints fᵀ vec(W) ≥ ε‖W‖ of the piece of cone_ε(α) that contains
    W_α^mm (see :func:`_local_regularization_path`), (rows, d²)."""
    n, T, d = X.shape
    logits = X @ (W_a @ Z[..., None])[..., 0][..., None]  # (n, T, 1)
    top = sc[np.arange(n), alpha][:, None]
    low = sc < top
    high = (sc >= top) & (np.arange(T) != alpha[:, None])
    rows = []
    for i in range(n):
        if not high[i].any():
            continue
        t_i = int(np.argmax(np.where(low[i], logits[i, :, 0], -np.inf)))
        rows += [np.outer(X[i, t_i] - X[i, tau], Z[i]).ravel() for tau in np.flatnonzero(high[i])]
    return np.array(rows).reshape(-1, d * d)
