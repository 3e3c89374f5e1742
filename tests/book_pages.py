"""The book's pages, from ``_toc.yml`` (shared by the site, PDF and clean-environment tests)."""

from __future__ import annotations

from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def toc_pages() -> list[str]:
    """Every document of ``_toc.yml``, as its path relative to the site root (``book/intro.html``)."""
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    pages = [toc["root"]]
    for part in toc.get("parts", []):
        for chapter in part["chapters"]:
            pages.append(chapter["file"])
            pages += [section["file"] for section in chapter.get("sections", [])]
    return [f"{p}.html" for p in pages]


#: every page of the book
PAGES = toc_pages()
