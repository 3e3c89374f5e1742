"""Helpers for the hidden tests of the course assignments (``assignments/``).

A question such as "solve (Att-SVM) with cvxpy" has a reference implementation in this
library. :func:`forbid` makes such reference functions raise while a student's answer runs,
whichever way the answer reaches them: a direct call, a module alias, ``importlib``, a
name bound to the function object earlier in the notebook (all of these are the same
function object, whose code is swapped) or a copy of the function object made with
``types.FunctionType`` or ``copy`` (every live function with equal code is swapped too). :func:`substitute` replaces, for the duration of a
test, a helper that the student's function looks up in its notebook (an earlier question's
answer) by a correct one, so that each question is graded on its own.
"""

from __future__ import annotations

import gc
import importlib
import types
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any


def _resolve(dotted: str) -> types.FunctionType:
    """The plain Python function called ``dotted`` (``"package.module.name"``)."""
    module_name, _, attr = dotted.rpartition(".")
    if not module_name:
        raise ValueError(f"forbid: {dotted!r} is not a dotted name 'module.function'")
    obj = getattr(importlib.import_module(module_name), attr, None)
    if not isinstance(obj, types.FunctionType):
        raise TypeError(f"forbid: {dotted} is {type(obj).__name__}, not a plain Python function")
    if obj.__code__.co_freevars:
        raise TypeError(f"forbid: {dotted} is a closure; its code cannot be swapped")
    return obj


def _raising_code(dotted: str) -> types.CodeType:
    """Code of a function that accepts anything and raises RuntimeError naming ``dotted``."""
    message = f"{dotted} is the library's reference for this question and may not be used in the answer"
    source = f"def _forbidden(*args, **kwargs):\n    raise RuntimeError({message!r})\n"
    namespace: dict[str, Any] = {}
    exec(compile(source, f"<forbidden {dotted}>", "exec"), namespace)  # noqa: S102 - fixed template
    return namespace["_forbidden"].__code__


def _copies(codes: dict[types.CodeType, str]) -> list[tuple[types.FunctionType, str]]:
    """Every live plain function whose code equals one of ``codes`` (with the name to report)."""
    found = []
    for obj in gc.get_objects():
        if isinstance(obj, types.FunctionType) and not obj.__code__.co_freevars:
            name = codes.get(obj.__code__)
            if name is not None:
                found.append((obj, name))
    return found


@contextmanager
def forbid(*dotted_names: str) -> Iterator[None]:
    """Inside the ``with`` block, calling any of the named functions raises RuntimeError.

    The code objects of the functions, and of every live function with equal code (copies),
    are swapped (and restored on exit), so every route to them is affected, including
    aliases and copies made before the block.
    """
    codes = {_resolve(name).__code__: name for name in dotted_names}
    functions = _copies(codes)
    saved = [(f, f.__code__) for f, _ in functions]
    try:
        for f, name in functions:
            f.__code__ = _raising_code(name)
        yield
    finally:
        for f, code in saved:
            f.__code__ = code


@contextmanager
def substitute(function: Callable[..., Any], **replacements: Any) -> Iterator[None]:
    """Inside the block, the global names of ``function``'s module (for a notebook function:
    the notebook's namespace) given as keywords are bound to the replacement objects."""
    namespace = getattr(function, "__globals__", None)
    if namespace is None:
        raise TypeError(f"substitute: {function!r} is not a Python function")
    missing = object()
    saved = {name: namespace.get(name, missing) for name in replacements}
    try:
        namespace.update(replacements)
        yield
    finally:
        for name, value in saved.items():
            if value is missing:
                namespace.pop(name, None)
            else:
                namespace[name] = value
