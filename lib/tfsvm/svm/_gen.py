"""(Gen-SVM) of A §6 with its finite part (eq. (7)) and the SVM-equivalence (eq. (6)):
the directional and finite components of a multi-token composition.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .._validation import as_float_array, check_queries, check_tokens
from ..errors import DTypeError, InfeasibleError, OptionError, ShapeError, ValueRangeError
from ._attention import _attach_sequences, _describe_att
from ._certificates import MaxMarginResult
from ._core import max_margin

__all__ = ["gen_svm", "finite_part", "svm_equivalence"]


def _check_mask(mask: Any, X: np.ndarray, name: str = "selected") -> np.ndarray:
    m = np.asarray(mask)
    if m.dtype.kind == "f" or m.dtype.kind == "c" or m.dtype == object:
        raise DTypeError(f"{name} must be a boolean mask (True = selected token), got dtype {m.dtype}")
    if m.dtype != bool:
        if not np.all(np.isin(m, (0, 1))):
            raise DTypeError(f"{name} must be a boolean mask; integer masks may only contain 0 and 1")
        m = m.astype(bool)
    if m.shape != X.shape[:-1]:
        raise ShapeError(f"{name} has shape {m.shape} but X has shape {X.shape}; expected {X.shape[:-1]}")
    empty = np.flatnonzero(~m.any(axis=-1))
    if empty.size:
        raise ValueRangeError(f"{name} selects no token in sequence(s) {empty.tolist()[:10]}; every sequence needs >= 1")
    return m


def _gen_rows(X: np.ndarray, Z: np.ndarray, selected: np.ndarray):
    n, T, d = X.shape
    F, rows, E, erows = [], [], [], []
    for i in range(n):
        sel = np.flatnonzero(selected[i])
        msk = np.flatnonzero(~selected[i])
        for t in sel:
            for tau in msk:
                F.append(np.outer(X[i, t] - X[i, tau], Z[i]))
                rows.append((i, t, tau))
        for t in sel[1:]:
            E.append(np.outer(X[i, t] - X[i, sel[0]], Z[i]))
            erows.append((i, t, sel[0]))
    F = np.array(F).reshape(-1, d, d)
    E = np.array(E).reshape(-1, d, d)
    return F, np.array(rows, dtype=int).reshape(-1, 3), E, np.array(erows, dtype=int).reshape(-1, 3)


def gen_svm(X: Any, Z: Any, selected: Any, *, full_output: bool = False) -> np.ndarray | MaxMarginResult:
    """(Gen-SVM) of A §6: the directional component of a multi-token composition.

    minimise ``‖W‖_F`` subject to, for every i,
    ``(x_it - x_itau)ᵀ W z_i ≥ 1`` for t in O_i, tau in Obar_i, and
    ``(x_it - x_itau)ᵀ W z_i = 0`` for t, tau in O_i.

    Parameters
    ----------
    X : (n, T, d); Z : (n, d); selected : (n, T) bool mask, True for the selected set O_i
        (softmax of the converged model > threshold), False for the masked set Obar_i.
        Every sequence needs at least one selected token; sequences with no masked token
        contribute only equalities. With |O_i| = 1 for all i this is (Att-SVM).
    full_output : return the :class:`MaxMarginResult` (``.W``, margins, multipliers,
        ``info["rows"]`` = (i, t, tau) of each inequality) instead of W.

    Returns W^mm (d, d) (not normalised; ``W^mm / ‖W^mm‖_F`` is the direction of eq. (6)).
    """
    X = check_tokens(X)
    Z = check_queries(Z, X)
    selected = _check_mask(selected, X)
    if selected.all():
        raise OptionError(
            "selected marks every token of every sequence: (Gen-SVM) then has no inequality "
            "constraint, its solution is W = 0 and defines no direction"
        )
    d = X.shape[-1]
    F, rows, E, _ = _gen_rows(X, Z, selected)
    describe = _describe_att(rows, X, Z, lambda j: int(rows[j, 1]), "Gen-SVM")
    try:
        res = max_margin(F, F_eq=E if E.shape[0] else None, shape=(d, d), describe_infeasible=describe)
    except InfeasibleError as exc:
        raise _attach_sequences(exc, rows[:, [0, 2]]) from None
    res.info["rows"] = rows
    return res if full_output else res.W


def finite_part(X: Any, Z: Any, probs: Any, selected: Any) -> np.ndarray:
    """The finite component ``W^fin`` of eq. (7), A §6.

    Minimum-Frobenius-norm solution of
    ``(x_it - x_itau)ᵀ W z_i = log(s_it / s_itau)`` for all t, tau in O_i, i in [n]
    (least squares via ``numpy.linalg.lstsq``; as in the official code). Equivalent to
    the pairs (t, first selected token) for each i. Returns 0 if no sequence selects
    two tokens.

    Parameters
    ----------
    probs : (n, T) softmax probabilities ``s_i`` of the converged model (only ratios
        inside O_i matter; they must be > 0 there).
    selected : (n, T) bool mask of O_i.

    Raises InfeasibleError if eq. (7) has no exact solution (residual > 1e-8 relative),
    naming the sequences with unmatched log-ratios.
    """
    X = check_tokens(X)
    Z = check_queries(Z, X)
    selected = _check_mask(selected, X)
    P = as_float_array(probs, "probs", 2)
    if P.shape != X.shape[:-1]:
        raise ShapeError(f"probs has shape {P.shape}; expected {X.shape[:-1]} (one probability per token)")
    if np.any(P[selected] <= 0):
        bad = sorted({int(i) for i in np.nonzero(selected & (P <= 0))[0]})
        raise ValueRangeError(f"probs must be > 0 on the selected tokens (log-ratios of eq. (7)); sequences {bad}")
    n, T, d = X.shape
    _, _, E, erows = _gen_rows(X, Z, selected)
    if E.shape[0] == 0:
        return np.zeros((d, d))
    rhs = np.log(P[erows[:, 0], erows[:, 1]]) - np.log(P[erows[:, 0], erows[:, 2]])
    A = E.reshape(E.shape[0], -1)
    w, *_ = np.linalg.lstsq(A, rhs, rcond=None)
    res = A @ w - rhs
    scale = max(1.0, float(np.max(np.abs(rhs))))
    if np.max(np.abs(res)) > 1e-8 * scale:
        bad = sorted({int(erows[j, 0]) for j in np.flatnonzero(np.abs(res) > 1e-8 * scale)})
        err = InfeasibleError(
            f"eq. (7) has no exact solution: the log-probability ratios of sequence(s) {bad} cannot be "
            f"reproduced by any W (max residual {np.max(np.abs(res)):.2e}); d is too small for the "
            "selected sets"
        )
        err.sequences = bad
        raise err
    return w.reshape(d, d)


def svm_equivalence(W_fin: Any, W_mm: Any, W_gd: Any, *, return_scale: bool = False):
    """``W^SVMeq = W^fin + R * W^mm / ‖W^mm‖_F`` (A §6, eq. (6)).

    R is the least-squares scale ``argmin_R ‖W^fin + R Wbar^mm - W_gd‖_F``, i.e.
    ``R = <W_gd - W^fin, Wbar^mm>``, as in the official code (``base_nonlinear.py``);
    the poster instead describes maximising the correlation with W_gd.

    Parameters: three (d, d) matrices (W_mm need not be normalised; it must be nonzero).
    Returns W^SVMeq (d, d), and R too if ``return_scale``.
    """
    W_fin = as_float_array(W_fin, "W_fin", 2)
    W_mm = as_float_array(W_mm, "W_mm", 2)
    W_gd = as_float_array(W_gd, "W_gd", 2)
    if not (W_fin.shape == W_mm.shape == W_gd.shape) or W_fin.shape[0] != W_fin.shape[1]:
        raise ShapeError(
            f"W_fin {W_fin.shape}, W_mm {W_mm.shape} and W_gd {W_gd.shape} must be square matrices of one shape"
        )
    nm = float(np.linalg.norm(W_mm))
    if nm == 0:
        raise OptionError("W_mm is the zero matrix; its direction (and W^SVMeq) is undefined")
    Wbar = W_mm / nm
    R = float(np.sum((W_gd - W_fin) * Wbar))
    out = W_fin + R * Wbar
    return (out, R) if return_scale else out
