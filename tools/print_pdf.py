"""Print the single-page HTML book to one PDF with the headless Chromium of the browser tests.

    python tools/print_pdf.py _build/singlehtml _build/pdf/book.pdf

The site is served on localhost (MathJax and images load as on the web), MathJax is waited for
(every formula typeset, its fonts loaded) and every image is loaded before Chromium prints:
A4, backgrounds kept, bookmarks from the headings, the book's title and edition (version, build
date) in the page header and "page / pages" in the footer. ``make pdf`` runs it after ``jupyter-book build --builder singlehtml``.
"""

from __future__ import annotations

import argparse
import functools
import http.server
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from html import escape
from pathlib import Path

import yaml

from browser import CHROMIUM, CHROMIUM_ARGS
from tfsvm_book import edition

ROOT = Path(__file__).resolve().parents[1]
TIMEOUT_MS = 120_000
MARGIN = {"top": "16mm", "bottom": "16mm", "left": "14mm", "right": "14mm"}
SMALL = "font-size:8px;font-family:sans-serif;color:#555;width:100%;margin:0 14mm;"
MATHJAX_LOADED = "() => window.MathJax && MathJax.startup && MathJax.startup.promise"
IMAGES_LOADED = "() => [...document.images].every(img => { img.loading = 'eager'; return img.complete; })"


PRINT_PAGE = "print.html"


class _BookHandler(http.server.SimpleHTTPRequestHandler):
    """Serves the site, and the single page at its root as ``/print.html``.

    Sphinx writes the single page at the root document's path (``book/intro.html``) but with links
    relative to the site's root (``_static/``, ``_images/``), so it is served from the root.
    """

    page = ""

    def translate_path(self, path: str) -> str:
        if path.split("?")[0] == f"/{PRINT_PAGE}":
            path = f"/{self.page}"
        return super().translate_path(path)

    def log_message(self, *args) -> None:
        pass


@contextmanager
def serve(directory: Path, page: str) -> Iterator[str]:
    """Serve ``directory`` (and ``page`` as ``/print.html``) on 127.0.0.1; yields the base URL."""
    handler = functools.partial(type("Handler", (_BookHandler,), {"page": page}), directory=str(directory))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()


def book_info() -> tuple[str, str]:
    """The root page of the book (``_toc.yml``) as an HTML path, and the book's title (``_config.yml``)."""
    root = yaml.safe_load((ROOT / "_toc.yml").read_text())["root"]
    title = yaml.safe_load((ROOT / "_config.yml").read_text())["title"]
    return f"{root}.html", title


def print_pdf(site: Path, out: Path) -> None:
    """Print the single-page book in ``site`` to ``out``."""
    from playwright.sync_api import sync_playwright

    page_path, title = book_info()
    if not (site / page_path).exists():
        raise FileNotFoundError(f"{site / page_path} is missing: build with `jupyter-book build . --builder singlehtml`")
    if not CHROMIUM.exists():
        raise FileNotFoundError(f"{CHROMIUM} is missing: `make pdf` installs it (apt-get install chromium)")
    out.parent.mkdir(parents=True, exist_ok=True)
    header = f'<div style="{SMALL}text-align:right;">{escape(title)} — {escape(edition())}</div>'
    footer = (f'<div style="{SMALL}text-align:center;">'
              '<span class="pageNumber"></span> / <span class="totalPages"></span></div>')
    with serve(site, page_path) as url, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            page.set_default_timeout(TIMEOUT_MS)
            page.goto(f"{url}/{PRINT_PAGE}", wait_until="load")
            if page.locator(".math").count():  # every formula typeset before printing
                page.wait_for_function(MATHJAX_LOADED, polling=200)
                page.evaluate("async () => { await MathJax.startup.promise; }")
            page.wait_for_function(IMAGES_LOADED, polling=200)
            page.evaluate("async () => { await document.fonts.ready; }")
            page.pdf(path=str(out), format="A4", print_background=True, margin=MARGIN,
                     display_header_footer=True, header_template=header, footer_template=footer,
                     outline=True, tagged=True)  # bookmarks from the headings
        finally:
            browser.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("site", type=Path, help="output folder of the singlehtml build")
    parser.add_argument("out", type=Path, help="the PDF to write")
    args = parser.parse_args(argv)
    print_pdf(args.site, args.out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
