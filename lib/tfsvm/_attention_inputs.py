"""The input layer of :mod:`tfsvm.attention`: public numpy / torch inputs checked once and
converted to float64 torch tensors (the model functions then call unchecked kernels)."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import torch

from ._validation import as_float_array, check_labels, check_queries, check_tokens
from .errors import OptionError, ShapeError
from .heads import Head, LinearHead
from .losses import Loss, get_loss

DTYPE = torch.float64




class _Inputs:
    """Converts public inputs to float64 torch tensors and remembers whether any was torch."""

    def __init__(self) -> None:
        self.torch = False
        self.device: torch.device | None = None

    def check(self, a: Any, name: str, ndim: Any = None) -> tuple[np.ndarray, Any]:
        """Validate ``a``; return (numpy view for checks, original object)."""
        if isinstance(a, torch.Tensor):
            self.torch = True
            self.device = a.device if self.device is None else self.device
            t = a.detach().cpu()
            if t.dtype in (torch.bfloat16, torch.float16):
                t = t.float()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # re-issued below with the torch dtype
                arr = as_float_array(t.numpy(), name, ndim)  # integer/bool → DTypeError
            if a.dtype != DTYPE:
                warnings.warn(f"{name} has dtype {a.dtype}; upcasting to float64", stacklevel=4)
            return arr, a
        arr = as_float_array(a, name, ndim)
        return arr, arr

    def tensor(self, a: Any) -> torch.Tensor:
        dev = self.device or torch.device("cpu")
        if isinstance(a, torch.Tensor):
            return a.to(dtype=DTYPE, device=dev)
        return torch.as_tensor(np.array(a, dtype=np.float64), dtype=DTYPE, device=dev)

    def out(self, t: torch.Tensor) -> Any:
        if self.torch:
            return t
        t = t.detach().cpu()
        return t.item() if t.ndim == 0 else t.numpy()


def _check_W(W: Any, X: np.ndarray, inp: _Inputs, name: str = "W") -> Any:
    """W of shape (d, d) or batch_shape + (d, d)."""
    arr, obj = inp.check(W, name, (2, 3))
    d, bs = X.shape[-1], X.shape[:-3]
    if arr.shape != (d, d) and arr.shape != bs + (d, d):
        raise ShapeError(f"{name} has shape {arr.shape} but X has shape {X.shape}; expected ({d}, {d}) or {bs + (d, d)}")
    return obj


def _check_KQ(W: Any, X: np.ndarray, inp: _Inputs) -> Any:
    """W, or a pair (K, Q) with K, Q of shape (d, m) or batch_shape + (d, m); returns a tensor W."""
    if isinstance(W, (tuple, list)):
        if len(W) != 2:
            raise ShapeError(f"W must be a (d, d) matrix or a pair (K, Q); got a sequence of length {len(W)}")
        d, bs = X.shape[-1], X.shape[:-3]
        objs = []
        for name, M in zip(("K", "Q"), W):
            arr, obj = inp.check(M, name, (2, 3))
            if arr.shape[-2] != d or arr.shape[:-2] not in ((), bs):
                raise ShapeError(f"{name} has shape {arr.shape}; expected ({d}, m) or {bs + (d, 'm')}")
            objs.append((arr, obj))
        if objs[0][0].shape[-1] != objs[1][0].shape[-1]:
            raise ShapeError(f"K has shape {objs[0][0].shape} and Q has shape {objs[1][0].shape}: their ranks m differ")
        K, Q = inp.tensor(objs[0][1]), inp.tensor(objs[1][1])
        return K @ Q.transpose(-1, -2)
    return inp.tensor(_check_W(W, X, inp))


def _check_Zseq(Z: Any, X: np.ndarray, inp: _Inputs, name: str = "Z") -> tuple[Any, bool]:
    """Z of shape (…, n, d) (one query per sequence) or (…, n, K, d) (sequence outputs)."""
    arr, obj = inp.check(Z, name)
    if arr.ndim == X.ndim:
        if arr.shape[:-2] != X.shape[:-2] or arr.shape[-1] != X.shape[-1]:
            raise ShapeError(
                f"{name} has shape {arr.shape} but X has shape {X.shape}; expected {X.shape[:-2] + ('K', X.shape[-1])}"
            )
        return obj, True
    check_queries(arr, X, name)
    return obj, False


def _as_head(head: Any, d: int, bs: tuple[int, ...], name: str = "head") -> Head:
    if isinstance(head, Head):
        hd = head
    elif head is None:
        raise OptionError(f"{name} is required (a tfsvm.heads.Head or a head vector v of shape ({d},))")
    else:
        v = head.detach().cpu().numpy() if isinstance(head, torch.Tensor) else head
        hd = LinearHead(as_float_array(v, "v", (1, 2)))
    if hd.d != d:
        raise ShapeError(f"{name} acts on dimension {hd.d} but tokens have dimension d = {d}")
    if hd.batch_shape not in ((), bs):
        raise ShapeError(f"{name} has trial shape {hd.batch_shape} but X has trial shape {bs}")
    return hd


def _check_loss(loss: Any) -> Loss:
    return get_loss(loss)


def _tokens(X: Any, inp: _Inputs, name: str = "X") -> tuple[np.ndarray, Any]:
    arr, obj = inp.check(X, name, (3, 4))
    check_tokens(arr, name, batched=True)
    return arr, obj


def _checked_XWZ(X: Any, W: Any, Z: Any) -> tuple[_Inputs, torch.Tensor, torch.Tensor, torch.Tensor, bool]:
    """Validate (X, W, Z) of a public entry point: (inputs, X, W, Z as tensors, sequence queries?)."""
    inp = _Inputs()
    Xa, Xo = _tokens(X, inp)
    Zo, seq = _check_Zseq(Z, Xa, inp)
    Wt = _check_KQ(W, Xa, inp)
    return inp, inp.tensor(Xo), Wt, inp.tensor(Zo), seq


def _seq_inputs(X, Z, Y, W, head, inp: _Inputs, causal: bool):
    Xa, Xo = _tokens(X, inp)
    if Z is None:
        Zo, Za = Xo, Xa
    else:
        Zo, seq = _check_Zseq(Z, Xa, inp)
        if not seq:
            raise ShapeError(f"Z must have shape {Xa.shape[:-2] + ('K', Xa.shape[-1])} for sequence outputs")
        Za = inp.check(Zo, "Z")[0]
    if causal and Za.shape[-2] != Xa.shape[-2]:
        raise ShapeError(f"causal attention needs K = T queries per sequence; Z has K = {Za.shape[-2]}, T = {Xa.shape[-2]}")
    Ya = np.asarray(Y.detach().cpu().numpy() if isinstance(Y, torch.Tensor) else Y, dtype=np.float64)
    if Ya.shape != Za.shape[:-1]:
        raise ShapeError(f"Y has shape {Ya.shape}; expected {Za.shape[:-1]} (one label per sequence and output)")
    if not np.all(np.isin(Ya, (-1.0, 1.0))):
        raise ShapeError("Y must contain only -1 and +1")
    Wt = _check_KQ(W, Xa, inp)
    hd = _as_head(head, Xa.shape[-1], Xa.shape[:-3])
    return inp.tensor(Xo), Wt, inp.tensor(Zo), inp.tensor(Ya), hd


def _linear_inputs(X, Z, Y, v, inp: _Inputs):
    Xa, Xo = _tokens(X, inp)
    Za, Zo = inp.check(Z, "Z")
    check_queries(Za, Xa, "Z")
    Ya = check_labels(Y.detach().cpu().numpy() if isinstance(Y, torch.Tensor) else Y, Xa, "Y")
    va, vo = inp.check(v, "v", (1, 2))
    d, bs = Xa.shape[-1], Xa.shape[:-3]
    if va.shape not in ((d,), bs + (d,)):
        raise ShapeError(f"v has shape {va.shape} but X has shape {Xa.shape}; expected ({d},) or {bs + (d,)}")
    vt = inp.tensor(vo)
    if vt.ndim == 1 and bs:
        vt = vt.expand(bs + (d,))
    return Xa, inp.tensor(Xo), inp.tensor(Zo), inp.tensor(Ya), vt


def _prompt_args(X, p, v, W, inp: _Inputs, need_v: bool = True):
    Xa, Xo = inp.check(X, "X", 3)
    check_tokens(Xa, "X")
    d = Xa.shape[-1]
    pa, po = inp.check(p, "p", (1, 2))
    if pa.shape[-1] != d:
        raise ShapeError(f"p has shape {pa.shape} but tokens have dimension d = {d}; expected ({d},) or (B, {d})")
    vo = None
    if need_v:
        va, vo = inp.check(v, "v", (1, 2))
        if va.shape[-1] != d or (va.ndim == 2 and pa.ndim == 2 and va.shape[0] != pa.shape[0]):
            raise ShapeError(f"v has shape {va.shape}; expected ({d},) or the batch shape of p {pa.shape}")
    Wa, Wo = inp.check(W, "W", 2)
    if Wa.shape != (d, d):
        raise ShapeError(f"W has shape {Wa.shape}; expected ({d}, {d})")
    return Xa, inp.tensor(Xo), inp.tensor(po), (inp.tensor(vo) if need_v else None), inp.tensor(Wo)
