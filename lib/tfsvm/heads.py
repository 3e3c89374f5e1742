"""Prediction heads h: R^d → R applied to the attention output r_i = X_iᵀ s_i (eq. (2) of A).

* :class:`LinearHead` — h(x) = vᵀx, the head of A's main theory (v fixed, not trained).
* :class:`MLPHead` — h(x) = 1ᵀ ReLU(Vᵀx), the head of the official Figure 8 code
  (``base_nonlinear.py``, mode ``'relu'``); ``MLPHead.random(d, seed)`` draws V with
  i.i.d. N(0, 1) entries scaled to ‖V‖_F = 1. (The paper's text writes 1ᵀReLU(x),
  i.e. V = I; pass ``V=np.eye(d)`` for that.)
* :class:`LambdaHead` — h(x) = vᵀx − λ‖x‖², the head of Section 6.1 / Lemma 6.

Heads act on torch tensors of shape (..., d) and return (...); a numpy input gives
a numpy output. Parameters may carry one leading *trial* dimension (B,): then the
input must have the same leading dimension, x of shape (B, ..., d), and trial b
uses parameter b (this is how the batched trainers run many instances at once).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from ._validation import as_float_array, check_option
from .errors import OptionError, ShapeError

__all__ = ["Head", "LinearHead", "MLPHead", "LambdaHead", "make_head", "HEADS", "project_to_simplex"]


def _trial_dims(p: torch.Tensor, x: torch.Tensor, core_ndim: int) -> int:
    """Number of trial dimensions of a parameter (batch..., core...), checked against the leading
    dimensions of the head input x (batch..., rest..., d)."""
    nb = p.ndim - core_ndim
    if x.ndim - 1 - nb < 0:
        raise ShapeError(f"head input has shape {tuple(x.shape)}, too few dimensions for a head with trial shape {tuple(p.shape[:nb])}")
    if nb and tuple(x.shape[:nb]) != tuple(p.shape[:nb]):
        raise ShapeError(
            f"head has trial shape {tuple(p.shape[:nb])} but its input has leading shape {tuple(x.shape[:nb])}"
        )
    return nb


def _expand(p: torch.Tensor, x: torch.Tensor, core_ndim: int) -> torch.Tensor:
    """Reshape a parameter (batch..., core...) so that it broadcasts against x (batch..., rest..., d)."""
    nb = _trial_dims(p, x, core_ndim)
    return p.reshape(tuple(p.shape[:nb]) + (1,) * (x.ndim - 1 - nb) + tuple(p.shape[nb:]))


class Head:
    """Base class: a fixed (not trained) prediction head with numpy float64 parameters."""

    name: str = "head"
    #: whether h is linear (h(x) = vᵀx).
    is_linear: bool = False
    _core: dict[str, int] = {}

    def __init__(self, **params: np.ndarray) -> None:
        self._params = params
        self._cache: dict[tuple[str, str], torch.Tensor] = {}

    # -- parameters -------------------------------------------------------------
    def _p(self, key: str, like: torch.Tensor) -> torch.Tensor:
        ck = (key, str(like.device))
        t = self._cache.get(ck)
        if t is None:
            t = torch.as_tensor(np.array(self._params[key]), dtype=torch.float64, device=like.device)
            self._cache[ck] = t
        return t

    @property
    def d(self) -> int:
        """Token dimension the head accepts."""
        raise NotImplementedError

    @property
    def batch_shape(self) -> tuple[int, ...]:
        """Leading trial shape of the parameters: () or (B,)."""
        key, core = next(iter(self._core.items()))
        p = np.asarray(self._params[key])
        return p.shape[: p.ndim - core]

    def trial(self, b: int) -> "Head":
        """The head of trial ``b`` (a head without trial dimension is returned as is)."""
        if not self.batch_shape:
            return self
        kw = {}
        for key, core in self._core.items():
            p = np.asarray(self._params[key])
            kw[key] = p[b] if p.ndim > core else p
        return type(self)(**kw)

    def _forward(self, x: torch.Tensor) -> torch.Tensor:
        """h(x) = ψ(F(x)); a head without ψ overrides this instead."""
        return self.feature_value_and_grad(self.features(x))[0]

    # -- closed-form gradients (tfsvm.gradients) --------------------------------------
    # A head is written h(x) = ψ(F(x)) with F linear (token features) and ψ cheap: the trainers
    # precompute F of every token once, then need only ψ and ∇ψ at the mixed features each step.

    def features(self, X: torch.Tensor) -> torch.Tensor:
        """Token features F(x_t), (trials..., rest..., T, k), for tokens X (trials..., rest..., T, d);
        the identity unless a head overrides it."""
        return X

    def feature_value_and_grad(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(ψ(z), ∇ψ(z)) at mixed features z (trials..., rest..., k), so that h(x) = ψ(F(x))."""
        raise NotImplementedError

    @property
    def has_closed_form(self) -> bool:
        """Whether the head defines ψ and ∇ψ (:meth:`feature_value_and_grad`); the trainers use
        the closed-form gradients then, autograd through ``__call__`` otherwise."""
        return type(self).feature_value_and_grad is not Head.feature_value_and_grad

    def __call__(self, x: Any) -> Any:
        """h(x) for x of shape (..., d) (torch in → torch out, numpy in → numpy out)."""
        if isinstance(x, torch.Tensor):
            if x.shape[-1] != self.d:
                raise ShapeError(f"head input has last dimension {x.shape[-1]} but the head has d = {self.d}")
            return self._forward(x)
        arr = as_float_array(x, "x")
        if arr.ndim < 1 or arr.shape[-1] != self.d:
            raise ShapeError(f"x has shape {arr.shape} but the head has d = {self.d}; expected (..., {self.d})")
        return self._forward(torch.from_numpy(np.array(arr))).numpy()


class LinearHead(Head):
    """h(x) = vᵀx with v of shape (d,) or (B, d)."""

    name = "linear"
    is_linear = True
    _core = {"v": 1}

    def __init__(self, v: Any) -> None:
        v = as_float_array(v, "v", (1, 2))
        super().__init__(v=v)

    @property
    def v(self) -> np.ndarray:
        """The head vector, (d,) or (B, d)."""
        return self._params["v"]

    @property
    def d(self) -> int:
        return self.v.shape[-1]

    def feature_value_and_grad(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        v = _expand(self._p("v", z), z, 1)
        return (z * v).sum(-1), v.expand(z.shape)

    def __repr__(self) -> str:
        return f"LinearHead(d={self.d}, batch_shape={self.batch_shape})"


class MLPHead(Head):
    """h(x) = 1ᵀ ReLU(Vᵀx) with V of shape (d, k) or (B, d, k) (official Figure 8 head)."""

    name = "mlp"
    _core = {"V": 2}

    def __init__(self, V: Any) -> None:
        V = as_float_array(V, "V", (2, 3))
        super().__init__(V=V)

    @classmethod
    def random(cls, d: int, seed: int, trials: int | None = None, k: int | None = None) -> "MLPHead":
        """V with i.i.d. N(0,1) entries scaled to ‖V‖_F = 1 (per trial), shape (d, k) or (trials, d, k); k = d by default."""
        from ._validation import check_count

        d = check_count(d, "d", 1)
        k = d if k is None else check_count(k, "k", 1)
        rng = np.random.default_rng(seed)
        shape = (d, k) if trials is None else (check_count(trials, "trials", 1), d, k)
        V = rng.standard_normal(shape)
        V /= np.linalg.norm(V, axis=(-2, -1), keepdims=True)
        return cls(V)

    @property
    def V(self) -> np.ndarray:
        """The hidden-layer matrix, (d, k) or (B, d, k)."""
        return self._params["V"]

    @property
    def d(self) -> int:
        return self.V.shape[-2]

    def features(self, X: torch.Tensor) -> torch.Tensor:
        """F(x) = Vᵀx: the hidden pre-activations, one product per trial (no per-sequence copies of V)."""
        V = self._p("V", X)  # (d, k) or (trials..., d, k)
        nb = _trial_dims(V, X, 2)
        return (X.reshape(X.shape[:nb] + (-1, X.shape[-1])) @ V).reshape(X.shape[:-1] + (V.shape[-1],))

    def feature_value_and_grad(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """ψ(z) = 1ᵀReLU(z), ∇ψ(z) = 1[z > 0] (ReLU'(0) = 0, as in autograd)."""
        return torch.relu(z).sum(-1), (z > 0).to(z.dtype)

    def __repr__(self) -> str:
        return f"MLPHead(d={self.d}, k={self.V.shape[-1]}, batch_shape={self.batch_shape})"


class LambdaHead(Head):
    """h(x) = vᵀx − λ‖x‖² (Section 6.1 of A); v (d,) or (B, d), λ ≥ 0 a scalar or (B,)."""

    name = "lambda"
    _core = {"v": 1, "lam": 0}

    def __init__(self, v: Any, lam: Any) -> None:
        v = as_float_array(v, "v", (1, 2))
        lam_arr = np.asarray(lam)
        if lam_arr.dtype.kind in "iu":
            lam_arr = lam_arr.astype(np.float64)
        lam_arr = as_float_array(lam_arr, "lam", (0, 1))
        if np.any(lam_arr < 0):
            raise OptionError(f"lam must be >= 0, got {lam!r}")
        if lam_arr.ndim == 1 and (v.ndim != 2 or lam_arr.shape[0] != v.shape[0]):
            raise ShapeError(f"lam has shape {lam_arr.shape} but v has shape {v.shape}; a per-trial lam needs v of shape (B, d)")
        if lam_arr.ndim == 0 and v.ndim == 2:
            lam_arr = np.full(v.shape[0], float(lam_arr))
        super().__init__(v=v, lam=lam_arr)

    @property
    def v(self) -> np.ndarray:
        return self._params["v"]

    @property
    def lam(self) -> np.ndarray:
        return self._params["lam"]

    @property
    def d(self) -> int:
        return self.v.shape[-1]

    def _forward(self, x: torch.Tensor) -> torch.Tensor:
        v = _expand(self._p("v", x), x, 1)
        lam = _expand(self._p("lam", x).unsqueeze(-1), x, 1).squeeze(-1)
        return (x * v).sum(-1) - lam * (x * x).sum(-1)

    def feature_value_and_grad(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        v = _expand(self._p("v", z), z, 1)
        lam = _expand(self._p("lam", z).unsqueeze(-1), z, 1)
        return (z * (v - lam * z)).sum(-1), v - 2 * lam * z

    def __repr__(self) -> str:
        return f"LambdaHead(d={self.d}, lam={self.lam}, batch_shape={self.batch_shape})"


HEADS = {"linear": LinearHead, "mlp": MLPHead, "lambda": LambdaHead}


def make_head(name: str, **params: Any) -> Head:
    """Build a head by name: ``make_head("linear", v=...)``, ``make_head("mlp", V=...)``,
    ``make_head("lambda", v=..., lam=...)``. Unknown names raise :class:`~tfsvm.errors.OptionError`."""
    check_option(name, "head", HEADS)
    try:
        return HEADS[name](**params)
    except TypeError as exc:  # wrong keyword arguments
        raise OptionError(f"head {name!r}: {exc}") from None


def project_to_simplex(y: Any) -> np.ndarray:
    """Euclidean projection of each row of ``y`` (..., T) onto the simplex Δ_T.

    With T orthonormal tokens the λ-head problem (9) of A, min_{s∈Δ} λ‖s‖² − γᵀs, is solved by
    projecting γ/(2λ) onto Δ_T: this is the oracle of Lemma 6 (see
    :func:`tfsvm.experiments.lambda_head.lemma6_oracle`).

    The sort-based algorithm of Duchi et al. (2008): with u = y sorted decreasingly,
    ρ = max{k : u_k − (Σ_{j≤k} u_j − 1)/k > 0}, θ = (Σ_{j≤ρ} u_j − 1)/ρ, and the
    projection is max(y − θ, 0).
    """
    y = np.asarray(y, dtype=np.float64)
    T = y.shape[-1]
    u = -np.sort(-y, axis=-1)
    css = np.cumsum(u, axis=-1) - 1.0
    positive = u - css / np.arange(1, T + 1) > 0
    rho = T - np.argmax(positive[..., ::-1], axis=-1)  # last k where the test holds (1-based)
    theta = np.take_along_axis(css, (rho - 1)[..., None], axis=-1) / rho[..., None]
    return np.maximum(y - theta, 0.0)
