"""tfsvm: the library behind the executable textbook of
"Transformers as Support Vector Machines" (Tarzanagh, Li, Thrampoulidis, Oymak,
arXiv 2308.16898) and its precursor "Max-Margin Token Selection in Attention
Mechanism" (arXiv 2306.13596).

Equation, theorem and figure numbers in docstrings refer to arXiv v1 of
2308.16898 ("A") unless marked "B" (2306.13596).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

__version__ = "0.1.0.dev0"  # single source (pyproject reads it); PEP 440 ".devN" until released


def source_hash() -> str:
    """SHA-256 (first 16 hex digits) of the library's Python sources.

    The book's first (hidden) cell prints it, so the Jupyter Book execution cache
    is invalidated whenever the library changes.
    """
    h = hashlib.sha256()
    root = Path(__file__).parent
    for path in sorted(root.rglob("*.py")):
        h.update(path.relative_to(root).as_posix().encode())
        h.update(path.read_bytes())
    return h.hexdigest()[:16]
