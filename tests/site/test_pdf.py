"""The whole book as one PDF (``make pdf``, which ``make test`` runs first): complete, typeset, illustrated.

Checks on ``_build/pdf/book.pdf``: enough pages for the whole book, every document of ``_toc.yml``
present by its title, no TeX left untypeset, the figures embedded as images, and the edition (version
and build date) in every page header.
"""

from __future__ import annotations

import re
import unicodedata

import pytest
import yaml

import tfsvm
from conftest import ROOT
from book_pages import PAGES

pytestmark = pytest.mark.book  # needs the build: `make test` runs `make pdf` first

PDF = ROOT / "_build" / "pdf" / "book.pdf"
# A floor, not a measurement: the book's 17 documents print to well over a hundred A4 pages; fewer
# than three per document means that whole chapters are missing or cut.
MIN_PAGES_PER_DOCUMENT = 3
RAW_TEX = ["\\(", "\\)", "$$", "\\begin{"]  # MathJax delimiters and environments


@pytest.fixture(scope="module")
def reader():
    from pypdf import PdfReader

    assert PDF.exists(), "the PDF is not built: run `make pdf` (`make test` builds it first)"
    return PdfReader(PDF)


@pytest.fixture(scope="module")
def page_texts(reader) -> list[str]:
    return [_normalise(page.extract_text()) for page in reader.pages]


def _normalise(text: str) -> str:
    """NFKC (ligatures such as 'ﬁ' become 'fi'), runs of white space as one space."""
    return re.sub(r"\s+", " ", unicodedata.normalize("NFKC", text)).strip()


def _squash(text: str) -> str:
    """Without spaces and hyphens: where a line wraps, Chromium's bookmarks lose the space and the
    extracted text may gain a hyphen or a line break."""
    return re.sub(r"[\s\-\u00ad]", "", _normalise(text))


def titles() -> dict[str, str]:
    """Document -> the title of its source (first ``# `` heading), for every page of ``_toc.yml``."""
    out = {}
    for page in PAGES:
        source = (ROOT / page).with_suffix(".md").read_text()
        out[page] = re.search(r"^# (.+)$", source, re.MULTILINE).group(1).strip()
    return out


def test_the_pdf_has_pages_for_the_whole_book(reader):
    floor = MIN_PAGES_PER_DOCUMENT * len(PAGES)
    assert len(reader.pages) >= floor, f"{len(reader.pages)} pages, fewer than {floor}"


def _bookmarks(outline) -> list[str]:
    """Every bookmark's title, squashed."""
    return [title for item in outline for title in (_bookmarks(item) if isinstance(item, list) else [_squash(item.title)])]


def test_every_chapter_title_is_a_bookmark_and_in_the_text(reader, page_texts):
    bookmarks, text = _bookmarks(reader.outline), _squash(" ".join(page_texts))
    missing = {page: title for page, title in titles().items()
               if not any(b.startswith(_squash(title)) for b in bookmarks) or _squash(title) not in text}
    assert not missing, f"chapters missing from the PDF's bookmarks or text: {missing}"


def test_no_tex_is_left_untypeset(page_texts):
    found = {i + 1: [t for t in RAW_TEX if t in text] for i, text in enumerate(page_texts)}
    found = {page: tex for page, tex in found.items() if tex}
    assert not found, f"raw TeX on PDF pages: {found}"


def test_figures_are_embedded_as_images(reader):
    """At least one image per figure the sources glue (solutions' figures aside, they stay folded)."""
    images = sum(len(page.images) for page in reader.pages)
    figures = sum(len(re.findall(r"^```\{glue:figure\}", (ROOT / p).with_suffix(".md").read_text(), re.MULTILINE))
                  for p in PAGES)
    assert figures and images >= figures, f"{images} images in the PDF for {figures} glued figures"


def test_every_page_header_gives_the_edition(page_texts):
    stamp = _normalise(f"Version {tfsvm.__version__}, built")
    unstamped = [i + 1 for i, text in enumerate(page_texts) if stamp not in text]
    assert not unstamped, f"pages without the version in their header: {unstamped[:10]}"


def test_the_book_title_is_on_the_first_page(page_texts):
    title = yaml.safe_load((ROOT / "_config.yml").read_text())["title"]
    assert _normalise(title) in page_texts[0]
