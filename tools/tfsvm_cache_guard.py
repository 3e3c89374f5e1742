"""Sphinx extension: never execute the book from a stale cache.

Jupyter Book's execution cache is keyed on the notebooks' code cells only, so a
change in ``lib/tfsvm`` would not re-run the chapters. This extension stores
``tfsvm.source_hash()`` next to the cache and wipes the cache when the library's
sources change. It is listed under ``sphinx.local_extensions`` in ``_config.yml``,
so every ``jupyter-book build`` goes through it.
"""

from __future__ import annotations

import shutil
from pathlib import Path

STAMP = "tfsvm-source-hash"


def _cache_dir(app) -> Path:
    configured = getattr(app.config, "nb_execution_cache_path", "")
    return Path(configured) if configured else Path(app.outdir).parent / ".jupyter_cache"


def _guard(app, config) -> None:
    import tfsvm

    cache = _cache_dir(app)
    current = tfsvm.source_hash()
    stamp = cache / STAMP
    if cache.exists() and (not stamp.exists() or stamp.read_text().strip() != current):
        shutil.rmtree(cache)
    cache.mkdir(parents=True, exist_ok=True)
    stamp.write_text(current + "\n")


def setup(app):
    app.connect("config-inited", _guard, priority=100)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
