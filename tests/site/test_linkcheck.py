"""Links of the built book: every internal link resolves, external ones are listed, not fetched.

Two checks, both offline:

1. Sphinx's ``linkcheck`` builder, run on the book with the notebooks' outputs taken from the
   jupyter cache of the HTML build (nothing is re-executed). External ``http(s)`` links are
   ignored (CI has no network) but written to ``_build/linkcheck/external-links.txt``; every
   local file link must be ``working``. Sphinx's linkcheck does not look at cross-references
   between pages: those are resolved by the strict ``-n -W`` HTML build.
2. The real internal link check, over ``_build/html``: every ``<a href>`` to a local file
   points at an existing file, and its ``#fragment``, if any, is an ``id`` on the target page.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

from conftest import ROOT

LINKCHECK = ROOT / "_build" / "linkcheck"
EXTERNAL = r"https?://.*"
# jupyter-book's own Python entry point: its CLI would write linkcheck's report into _build/html.
BUILD = ("import json, sys; from jupyter_book.sphinx import build_sphinx; "
         "sys.exit(build_sphinx(**json.loads(sys.argv[1])))")
BUILD_ARGS = {
    "sourcedir": str(ROOT), "outputdir": str(LINKCHECK), "builder": "linkcheck",
    "noconfig": True, "path_config": str(ROOT / "_config.yml"), "doctreedir": str(LINKCHECK / ".doctrees"),
    "confoverrides": {"external_toc_path": str(ROOT / "_toc.yml"), "latex_individualpages": False,
                      "linkcheck_ignore": [EXTERNAL]},
}


@pytest.fixture(scope="module")
def linkcheck(built_site: Path) -> list[dict]:
    """Run the linkcheck builder once; its ``output.json`` records, one per link."""
    shutil.rmtree(LINKCHECK, ignore_errors=True)
    command = [sys.executable, "-c", BUILD, json.dumps(BUILD_ARGS)]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    log = result.stdout + result.stderr
    assert result.returncode == 0, f"linkcheck build failed:\n{log[-5000:]}"
    # outputs come from the HTML build's jupyter cache; executing here means that cache is stale
    assert "Executing notebook" not in log, "linkcheck re-executed notebooks: rebuild the book first (make book)"
    lines = (LINKCHECK / "output.json").read_text().splitlines()
    return [json.loads(line) for line in lines]


def _is_external(uri: str) -> bool:
    return uri.startswith(("http://", "https://"))


def test_linkcheck_finds_the_books_links(linkcheck):
    assert any(_is_external(r["uri"]) for r in linkcheck), "linkcheck collected no external link at all"


def test_local_links_are_working(linkcheck):
    bad = [f"{r['filename']}:{r['lineno']}: {r['uri']} [{r['status']}] {r['info']}"
           for r in linkcheck if not _is_external(r["uri"]) and r["status"] not in ("working", "unchecked")]
    assert not bad, "local links that do not resolve:\n" + "\n".join(bad)


def test_external_links_are_listed_not_fetched(linkcheck):
    external = [r for r in linkcheck if _is_external(r["uri"])]
    fetched = [r["uri"] for r in external if r["status"] != "ignored"]
    assert not fetched, f"external links were fetched (CI is offline): {fetched}"
    listing = sorted({f"{r['uri']}  ({r['filename']}:{r['lineno']})" for r in external})
    (LINKCHECK / "external-links.txt").write_text("\n".join(listing) + "\n")
    print(f"{len(listing)} external links, not fetched (offline):", *listing, sep="\n  ")


# --- every <a href> of the HTML site ------------------------------------------------------------

class _Page(HTMLParser):
    """The ids and the ``<a href>`` targets of one HTML page."""

    def __init__(self) -> None:
        super().__init__()
        self.ids: set[str] = set()
        self.hrefs: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if attributes.get("id"):
            self.ids.add(attributes["id"])
        if tag == "a" and attributes.get("name"):
            self.ids.add(attributes["name"])
        if tag == "a" and attributes.get("href") is not None:
            self.hrefs.append(attributes["href"])


def _parse(page: Path) -> _Page:
    parser = _Page()
    parser.feed(page.read_text(encoding="utf-8"))
    return parser


def _site_pages(site: Path) -> Iterator[Path]:
    """Every HTML page of the site, except the theme's and extensions' static assets."""
    for page in sorted(site.rglob("*.html")):
        if not page.relative_to(site).parts[0].startswith("_"):
            yield page


def _broken_links(site: Path) -> list[str]:
    """``page: href -- problem`` for each local link that misses its file or its anchor."""
    parsed: dict[Path, _Page] = {}

    def page_of(path: Path) -> _Page:
        if path not in parsed:
            parsed[path] = _parse(path)
        return parsed[path]

    problems = []
    for page in _site_pages(site):
        for href in page_of(page).hrefs:
            url = urlsplit(href)
            if url.scheme or url.netloc:  # http(s), mailto, javascript: not local files
                continue
            target = (page.parent / unquote(url.path)).resolve() if url.path else page
            where = f"{page.relative_to(site)}: {href}"
            if not target.is_relative_to(site):
                problems.append(f"{where} -- outside the site")
            elif not target.is_file():
                problems.append(f"{where} -- no such file")
            elif url.fragment and target.suffix == ".html" and unquote(url.fragment) not in page_of(target).ids:
                problems.append(f"{where} -- no id {unquote(url.fragment)!r} on {target.relative_to(site)}")
    return problems


def test_every_local_link_of_the_site_resolves(built_site):
    assert len(list(_site_pages(built_site))) > 10, "too few pages found in the built site"
    problems = _broken_links(built_site)
    assert not problems, f"{len(problems)} broken internal links:\n" + "\n".join(problems)
