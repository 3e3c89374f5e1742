"""Exceptions raised by :mod:`tfsvm`.

Every public function validates its inputs at the door and raises one of these,
with a message that names the offending argument and the problem, in the
caller's terms (the book's "bad input" table lists them all).
"""

from __future__ import annotations


class TfsvmError(Exception):
    """Base class of every error raised on purpose by :mod:`tfsvm`."""


class ShapeError(TfsvmError, ValueError):
    """An array has the wrong rank, or its shape disagrees with another argument."""


class NonFiniteError(TfsvmError, ValueError):
    """An array contains NaN or infinity."""


class ValueRangeError(TfsvmError, ValueError):
    """An array has the right shape but values outside their allowed set: labels other than
    ±1, probabilities outside [0, 1], token indices outside [0, T), a zero matrix where a
    direction is needed."""


class DTypeError(TfsvmError, TypeError):
    """An array has a dtype the function cannot use (e.g. integers for tokens)."""


class OptionError(TfsvmError, ValueError):
    """An option (loss, norm, parameterization, head, ...) has an unknown value,
    or a numeric option is out of its range (e.g. a learning rate ≤ 0)."""


class TieError(TfsvmError, ValueError):
    """The optimal token of some sequences is not unique (Definition 1 needs a
    strict argmax); the message lists the sequences."""


class InfeasibleError(TfsvmError, ValueError):
    """An SVM problem has no feasible point: the selected tokens cannot be
    separated from the others. The message lists the sequences at fault."""


class SolverError(TfsvmError, RuntimeError):
    """A numerical solver failed to reach the requested accuracy."""
