"""The bad-input table: one row per rejected input, shared by tests/lib/test_bad_input.py and the
book's reference page (which shows what each row raises). No pytest here, so readers' environments
can import it."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np



@dataclass(frozen=True)
class BadInputCase:
    """One row of the bad-input table.

    Attributes
    ----------
    entry : public entry point, "module.function".
    problem : what is wrong with the call, in the caller's words.
    error : name of the class in :mod:`tfsvm.errors` that must be raised.
    message : fragment the error message must contain.
    call : zero-argument callable making the bad call.
    """

    entry: str
    problem: str
    error: str
    message: str
    call: Callable[[], Any]

    @property
    def id(self) -> str:
        return f"{self.entry}: {self.problem}"


def _entry(name: str) -> Callable[..., Any]:
    """The function ``module.function`` of tfsvm, imported when a row runs."""
    module, function = name.rsplit(".", 1)
    return getattr(importlib.import_module(f"tfsvm.{module}"), function)


@dataclass(frozen=True)
class _Later:
    """An argument built only when the row runs (e.g. an AttentionData)."""

    make: Callable[[], Any]


def _row(entry: str, problem: str, error: str, message: str, *args: Any, **kwargs: Any) -> BadInputCase:
    """A row calling ``entry(*args, **kwargs)``; ``_Later`` arguments are built at call time."""

    def call() -> Any:
        def value(a: Any) -> Any:
            return a.make() if isinstance(a, _Later) else a

        return _entry(entry)(*map(value, args), **{k: value(a) for k, a in kwargs.items()})

    return BadInputCase(entry, problem, error, message, call)


def _with(a: np.ndarray, index: tuple, value: float) -> np.ndarray:
    """A copy of ``a`` with one entry replaced."""
    b = a.copy()
    b[index] = value
    return b


# A small valid problem: n = 2 sequences of T = 3 tokens in d = 2 (B's keys in sequence 0).
X = np.array([[[-0.1, 1.0], [1.0, 0.0], [0.0, 0.0]], [[0.5, 0.5], [-1.0, 0.2], [0.3, -0.8]]])
Z = np.array([[1.0, 0.0], [0.0, 1.0]])
Y = np.array([1.0, -1.0])
V = np.array([1.0, 0.5])
ALPHA = np.array([0, 1])
W = np.eye(2)
SCORES = np.array([[1.0, 0.9, 0.0], [0.2, 0.7, -0.3]])
PROBS = np.array([[0.8, 0.1, 0.1], [0.1, 0.8, 0.1]])
# Identical sequences and queries asked to select different tokens: no W separates both.
X_TWINS, Z_TWINS = np.stack([X[0], X[0]]), np.stack([Z[0], Z[0]])
X_NAN, Z_INF = _with(X, (0, 0, 0), np.nan), _with(Z, (1, 1), np.inf)


def _data(**changes: Any) -> _Later:
    """An AttentionData (built at call time) with some fields replaced."""
    return _Later(lambda: _entry("data.AttentionData")(**({"X": X, "Z": Z, "Y": Y, "v": V} | changes)))


def _selection_rows(entry: str, *extra: Any) -> list[BadInputCase]:
    """Mistakes shared by every entry point taking (X, Z, [scores,] alpha)."""

    def r(problem: str, error: str, message: str, X_: np.ndarray, Z_: np.ndarray, alpha: Any) -> BadInputCase:
        scores = [SCORES[: X_.shape[0], : X_.shape[1]] if X_.ndim == 3 else SCORES] if extra else []
        return _row(entry, problem, error, message, X_, Z_, *scores, alpha)

    return [
        r("X has rank 2", "ShapeError", "X must have 3 dimensions", X[0], Z, ALPHA),
        r("Z has the wrong number of sequences", "ShapeError", "Z has shape (1, 2)", X, Z[:1], ALPHA),
        r("alpha has the wrong length", "ShapeError", "alpha has 3 entries", X, Z, [0, 1, 2]),
        r("alpha out of range", "ValueRangeError", "out of range [0, 3)", X, Z, [0, 3]),
        r("NaN in X", "NonFiniteError", "X contains 1 NaN", X_NAN, Z, ALPHA),
        r("inf in Z", "NonFiniteError", "Z contains 1 NaN or infinite", X, Z_INF, ALPHA),
        r("T = 1 token per sequence", "ShapeError", "need T >= 2", X[:, :1], Z, [0, 0]),
        r("n = 0 sequences", "ShapeError", "need n >= 1", X[:0], Z[:0], ALPHA[:0]),
        r("integer tokens", "DTypeError", "integer/boolean dtype", X.astype(int), Z, ALPHA),
        r("fractional alpha", "DTypeError", "integer token indices", X, Z, [0.5, 1.0]),
    ]


BAD_INPUT_CASES: list[BadInputCase] = [
    # ---- svm
    *_selection_rows("svm.solve_att_svm"),
    _row("svm.solve_att_svm", "unknown norm", "OptionError", "unknown norm 'l1'", X, Z, ALPHA, norm="l1"),
    _row("svm.solve_att_svm", "infeasible selection", "InfeasibleError", "sequence", X_TWINS, Z_TWINS, [0, 1]),
    _row("svm.att_svm", "X has rank 4", "ShapeError", "X must have 3 dimensions", X[None], Z, ALPHA),
    _row("svm.att_svm", "infeasible selection", "InfeasibleError", "sequence", X_TWINS, Z_TWINS, [0, 1]),
    _row("svm.att_svm_batch", "X without trial axis", "ShapeError", "expects (B, n, T, d)", X, Z, ALPHA),
    _row("svm.att_svm_batch", "alpha for 3 trials, X for 1", "ShapeError", "alpha has 6 entries", X[None], Z[None], np.zeros((3, 2), int)),
    # ---- tokens
    *_selection_rows("tokens.is_locally_optimal", "scores"),
    _row("tokens.is_locally_optimal", "scores shape differs from X", "ShapeError", "scores has shape (2, 2)", X, Z, SCORES[:, :2], ALPHA),
    _row("tokens.is_locally_optimal", "unknown norm", "OptionError", "unknown norm 'max'", X, Z, SCORES, ALPHA, norm="max"),
    _row("tokens.token_scores", "Y has the wrong length", "ShapeError", "Y has shape (1,)", X, Y[:1], V),
    _row("tokens.token_scores", "v has the wrong dimension", "ShapeError", "v has shape (3,)", X, Y, np.ones(3)),
    _row("tokens.token_scores", "labels not in {-1, +1}", "ValueRangeError", "only -1 and +1", X, np.array([1.0, 0.0]), V),
    _row("tokens.token_scores", "integer head", "DTypeError", "v has integer/boolean dtype", X, Y, np.array([1, 0])),
    _row("tokens.optimal_tokens", "tie for the top score", "TieError", "sequence(s) [1]", np.array([[1.0, 0.0], [2.0, 2.0]])),
    _row("tokens.optimal_tokens", "T = 1 score per sequence", "ShapeError", "need T >= 2", SCORES[:, :1]),
    _row("tokens.optimal_tokens", "NaN score", "NonFiniteError", "scores contains 1 NaN", _with(SCORES, (0, 1), np.nan)),
    _row("tokens.optimal_tokens", "negative tie tolerance", "OptionError", "tol must be a finite number >= 0", SCORES, tol=-1e-3),
    _row("tokens.selected_tokens", "negative probability", "ValueRangeError", "probabilities in [0, 1]", -PROBS),
    _row("tokens.assumption_b1", "threshold <= 0", "OptionError", "threshold must be a finite number > 0", X, Z, ALPHA, threshold=0.0),
    _row("tokens.assumption_b2", "tie for the top score", "TieError", "sequence(s) [0]", _with(SCORES, (0, 1), 1.0)),
    _row("tokens.classify_runs_batch", "X without trial axis", "ShapeError", "expects (B, n, T, d)", X, Z, SCORES, PROBS),
    _row("tokens.in_cone_eps", "eps <= 0", "OptionError", "eps must be a finite number > 0", W, X, Z, SCORES, ALPHA, eps=0.0),
    _row("tokens.locally_optimal_batch", "X without trial axis", "ShapeError", "expects (B, n, T, d)", X, Z, SCORES, ALPHA),
    _row("tokens.classify_run", "probs_final shape differs from X", "ShapeError", "probs_final has shape (2, 2)", X, Z, SCORES, PROBS[:, :2]),
    _row("tokens.classify_run", "tie in scores", "TieError", "sequence(s) [0]", X, Z, _with(SCORES, (0, 1), 1.0), PROBS),
    _row("tokens.classify_run", "probabilities above 1", "ValueRangeError", "probabilities in [0, 1]", X, Z, SCORES, 2 * PROBS),
    _row("tokens.selection_sets", "thresholds inverted", "OptionError", "masked_below <= selected_above", PROBS, 1e-6, 1e-3),
    _row("tokens.assumption_c", "unknown loss", "OptionError", "unknown loss 'hinge'", X, Z, Y, V, loss="hinge"),
    _row("tokens.assumption_d", "T**n exceeds the guard", "OptionError", "max_selections", X, Z, SCORES, max_selections=4),
    _row("tokens.in_cone", "mu outside (0, 1)", "OptionError", "mu must lie in (0, 1)", W, W, mu=1.5, R=1.0),
    _row("tokens.in_cone", "R <= 0", "OptionError", "R must be a finite number > 0", W, W, mu=0.1, R=0.0),
    _row("tokens.cone_eps_value", "W is zero", "ValueRangeError", "W is the zero matrix", 0 * W, X, Z, SCORES, ALPHA),
    _row("tokens.cone_eps_value", "W not d x d", "ShapeError", "expected (2, 2)", np.eye(3), X, Z, SCORES, ALPHA),
    _row("tokens.convergence_fractions", "unknown run label", "OptionError", "unknown run label", ["global", "lokal"]),
    # ---- data
    _row("data.unit_sphere_data", "T < 2", "OptionError", "T must be >= 2", 2, 1, 3, seed=0),
    _row("data.unit_sphere_data", "n < 1", "OptionError", "n must be >= 1", 0, 3, 3, seed=0),
    _row("data.AttentionData", "Y and X disagree on n", "ShapeError", "Y has shape (1,)", X=X, Z=Z, Y=Y[:1], v=V),
    _row("data.AttentionData", "integer tokens", "DTypeError", "integer/boolean dtype", X=X.astype(int), Z=Z, Y=Y, v=V),
    # ---- attention
    _row("attention.attention_probs", "W not d x d", "ShapeError", "W has shape (3, 3)", X, np.eye(3), Z),
    _row("attention.attention_probs", "NaN in W", "NonFiniteError", "W contains 1 NaN", X, _with(W, (0, 0), np.nan), Z),
    _row("attention.attention_probs", "Z shape differs from X", "ShapeError", "Z has shape (1, 2)", X, W, Z[:1]),
    # ---- gradients
    _row("gradients.grad_W", "unknown loss", "OptionError", "unknown loss 'hinge'", X, Z, Y, V, W, loss="hinge"),
    _row("gradients.grad_W", "v has the wrong dimension", "ShapeError", "v has shape (3,)", X, Z, Y, np.ones(3), W),
    # ---- training
    _row("training.train", "lr = 0", "OptionError", "lr must be a finite number > 0", _data(), steps=2, lr=0.0),
    _row("training.train", "lr < 0", "OptionError", "lr must be a finite number > 0", _data(), steps=2, lr=-0.1),
    _row("training.train", "unknown parameterization", "OptionError", "'QK'", _data(), param="QK", steps=2, lr=0.1),
    _row("training.train", "steps < 0", "OptionError", "steps must be >= 0", _data(), steps=-1, lr=0.1),
    # ---- metrics, losses, heads
    _row("metrics.corr", "shapes differ", "ShapeError", "shape", W, np.eye(3)),
    _row("metrics.corr", "NaN entry", "NonFiniteError", "NaN", _with(W, (0, 1), np.nan), W),
    _row("losses.get_loss", "unknown loss", "OptionError", "unknown loss 'hinge'", "hinge"),
    _row("heads.make_head", "unknown head", "OptionError", "unknown head 'tanh'", "tanh"),
]
