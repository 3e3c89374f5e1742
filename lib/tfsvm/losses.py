"""Loss functions ℓ and their derivatives ℓ′ (Assumption A of A).

Assumption A asks, over any bounded interval, that (i) ℓ is strictly decreasing
and bounded below, (ii) ℓ′ is M0-Lipschitz and (iii) |ℓ′| ≤ M1. The three losses
the paper names are here:

===============  ==================  ===================  ====================
name             ℓ(u)                ℓ′(u)                (M0, M1) on |u| ≤ B
===============  ==================  ===================  ====================
``logistic``     log(1 + e^{−u})     −1/(1 + e^{u})       (1/4, 1)
``exponential``  e^{−u}              −e^{−u}              (e^{B}, e^{B})
``correlation``  −u                  −1                   (0, 1)
===============  ==================  ===================  ====================

(The correlation loss is not bounded below, so it satisfies A(i) only on
bounded intervals, which is all the paper uses; Lemma 6 uses it.)

Every method accepts a numpy array (returns numpy) or a torch tensor (returns
torch, differentiable). Values are computed stably: the logistic loss is
``logaddexp(0, −u)`` and its derivative ``−sigmoid(−u)``, so neither overflows
for large ``|u|``. ``log_neg_deriv(u) = log(−ℓ′(u))`` is provided because the
trainers compute gradient *directions* in log space (see :mod:`tfsvm.training`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import torch

from ._validation import check_option

__all__ = ["Loss", "logistic", "exponential", "correlation", "get_loss", "LOSSES"]


def _is_torch(u: Any) -> bool:
    return isinstance(u, torch.Tensor)


def _np(u: Any) -> np.ndarray:
    return np.asarray(u, dtype=np.float64)


@dataclass(frozen=True)
class Loss:
    """A decreasing loss ℓ with its derivative, for numpy arrays or torch tensors.

    Attributes
    ----------
    name : str
        ``"logistic"``, ``"exponential"`` or ``"correlation"``.
    M0, M1 : float
        Global constants of Assumption A(ii),(iii) (``inf`` when only local
        constants exist, as for the exponential loss: use :meth:`constants`).
    """

    name: str
    _value_np: Callable[[np.ndarray], np.ndarray]
    _value_t: Callable[[torch.Tensor], torch.Tensor]
    _deriv_np: Callable[[np.ndarray], np.ndarray]
    _deriv_t: Callable[[torch.Tensor], torch.Tensor]
    _logneg_np: Callable[[np.ndarray], np.ndarray]
    _logneg_t: Callable[[torch.Tensor], torch.Tensor]
    _constants: Callable[[float], tuple[float, float]]

    def __call__(self, u: Any) -> Any:
        """ℓ(u), elementwise."""
        return self.value(u)

    def value(self, u: Any) -> Any:
        """ℓ(u), elementwise."""
        return self._value_t(u) if _is_torch(u) else self._value_np(_np(u))

    def deriv(self, u: Any) -> Any:
        """ℓ′(u), elementwise (negative for every u: the losses are strictly decreasing)."""
        return self._deriv_t(u) if _is_torch(u) else self._deriv_np(_np(u))

    def log_neg_deriv(self, u: Any) -> Any:
        """log(−ℓ′(u)), computed without under/overflow."""
        return self._logneg_t(u) if _is_torch(u) else self._logneg_np(_np(u))

    def constants(self, bound: float = math.inf) -> tuple[float, float]:
        """(M0, M1) of Assumption A valid on the interval |u| ≤ ``bound``."""
        return self._constants(float(bound))

    @property
    def M0(self) -> float:
        """Global Lipschitz constant of ℓ′ (inf if none)."""
        return self._constants(math.inf)[0]

    @property
    def M1(self) -> float:
        """Global bound on |ℓ′| (inf if none)."""
        return self._constants(math.inf)[1]

    def __repr__(self) -> str:
        return f"Loss({self.name!r})"


def _exp_constants(bound: float) -> tuple[float, float]:
    c = math.inf if bound > 700 else math.exp(bound)
    return c, c


logistic = Loss(
    name="logistic",
    _value_np=lambda u: np.logaddexp(0.0, -u),
    _value_t=lambda u: torch.logaddexp(torch.zeros_like(u), -u),
    _deriv_np=lambda u: -np.exp(-np.logaddexp(0.0, u)),
    _deriv_t=lambda u: -torch.sigmoid(-u),
    _logneg_np=lambda u: -np.logaddexp(0.0, u),
    _logneg_t=lambda u: -torch.logaddexp(torch.zeros_like(u), u),
    _constants=lambda bound: (0.25, 1.0),
)
"""Logistic loss ℓ(u) = log(1 + e^{−u}); M0 = 1/4, M1 = 1."""

exponential = Loss(
    name="exponential",
    _value_np=lambda u: np.exp(-u),
    _value_t=lambda u: torch.exp(-u),
    _deriv_np=lambda u: -np.exp(-u),
    _deriv_t=lambda u: -torch.exp(-u),
    _logneg_np=lambda u: -u,
    _logneg_t=lambda u: -u,
    _constants=_exp_constants,
)
"""Exponential loss ℓ(u) = e^{−u}; on |u| ≤ B, M0 = M1 = e^{B}."""

correlation = Loss(
    name="correlation",
    _value_np=lambda u: -u,
    _value_t=lambda u: -u,
    _deriv_np=lambda u: -np.ones_like(u),
    _deriv_t=lambda u: -torch.ones_like(u),
    _logneg_np=lambda u: np.zeros_like(u),
    _logneg_t=lambda u: torch.zeros_like(u),
    _constants=lambda bound: (0.0, 1.0),
)
"""Correlation loss ℓ(u) = −u (used by Lemma 6); M0 = 0, M1 = 1."""

LOSSES: dict[str, Loss] = {"logistic": logistic, "exponential": exponential, "correlation": correlation}


def get_loss(name: str | Loss) -> Loss:
    """Return the :class:`Loss` called ``name`` (a :class:`Loss` is passed through).

    Raises :class:`~tfsvm.errors.OptionError` for an unknown name.
    """
    if isinstance(name, Loss):
        return name
    check_option(name, "loss", LOSSES)
    return LOSSES[name]
