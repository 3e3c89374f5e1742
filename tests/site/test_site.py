"""The site as readers see it: every page of the built book in a real (headless) browser.

Checks per page: no console errors; MathJax has typeset every formula (no raw TeX
left); every image loads and has alt text; no image is shown twice; theorem and exercise boxes render;
solution dropdowns open; dark mode keeps figures on a light background; slider
figures fetch their frames on demand; no page exceeds 1 MB of HTML; a
screenshot is saved under ``_build/screenshots/`` for review.
"""

from __future__ import annotations

import hashlib
import urllib.parse

import pytest

from book_pages import PAGES
from conftest import HTML, ROOT

SCREENSHOTS = ROOT / "_build" / "screenshots"




def source_of(page: str) -> str:
    return (ROOT / page).with_suffix(".md").read_text()


@pytest.fixture(scope="module")
def visit(browser, site_url):
    """Open a page, wait for MathJax, return (page, console errors)."""
    opened = []

    def _visit(path: str, dark: bool = False):
        context = browser.new_context(viewport={"width": 1280, "height": 900}, color_scheme="dark" if dark else "light")
        page = context.new_page()
        errors: list[str] = []
        page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.goto(f"{site_url}/{path}", wait_until="load")
        if page.locator(".math").count():
            page.wait_for_function("() => window.MathJax && window.MathJax.startup && window.MathJax.startup.promise",
                                   timeout=30_000)
            page.evaluate("async () => { await window.MathJax.startup.promise; }")
        opened.append(context)
        return page, errors

    yield _visit
    for context in opened:
        context.close()


def test_every_toc_page_was_built(built_site):
    missing = [p for p in PAGES if not (built_site / p).exists()]
    assert not missing, f"pages in _toc.yml without HTML: {missing}"


@pytest.mark.parametrize("path", PAGES)
def test_page_loads_without_console_errors_and_math_is_typeset(visit, path):
    page, errors = visit(path)
    assert not errors, f"console errors on {path}: {errors}"
    n_math = page.locator(".math").count()
    if n_math:
        typeset = page.locator(".math mjx-container").count() + page.locator("mjx-container.MathJax").count()
        assert typeset >= n_math, f"{path}: only {typeset} of {n_math} formulas typeset by MathJax"
    body = page.locator("article").inner_text()
    for raw in ("\\(", "\\)", "$$", "\\begin{"):
        assert raw not in body, f"{path}: raw TeX {raw!r} left in the rendered text"
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / (path.replace("/", "_").removesuffix(".html") + ".png")), full_page=True)
    assert (SCREENSHOTS / (path.replace("/", "_").removesuffix(".html") + ".png")).stat().st_size > 0


@pytest.mark.parametrize("path", PAGES)
def test_page_fetches_nothing_from_outside_the_site(browser, site_url, path):
    # the site must work offline; e.g. a page with saved ipywidgets state would load the widget
    # manager from a CDN (the live explorers, tfsvm.plotting.explore, create no widget in the build)
    context = browser.new_context()
    page = context.new_page()
    outside: list[str] = []
    page.on("request", lambda request: None if request.url.startswith((site_url, "data:", "blob:", "about:"))
            else outside.append(request.url))
    page.goto(f"{site_url}/{path}", wait_until="load")
    context.close()
    assert not outside, f"{path} requests resources from outside the site: {outside}"


@pytest.mark.parametrize("path", PAGES)
def test_images_load_and_have_alt_text(visit, path):
    page, _ = visit(path)
    images = page.locator("article img")
    for k in range(images.count()):
        img = images.nth(k)
        img.scroll_into_view_if_needed()
        width = img.evaluate("el => el.complete ? el.naturalWidth : 0")
        assert width > 0, f"{path}: image {img.get_attribute('src')} did not load"
        assert (img.get_attribute("alt") or "").strip(), f"{path}: image {img.get_attribute('src')} has no alt text"
        alt = img.get_attribute("alt").strip()
        # a file name read out by a screen reader says nothing: describe the figure (its caption)
        assert not alt.lower().endswith((".png", ".svg", ".jpg", ".jpeg", ".gif")) and "_images/" not in alt, \
            f"{path}: image {img.get_attribute('src')} has a file name as alt text: {alt!r}"


def image_digest(src: str, site_url: str) -> str:
    """SHA-256 of an image's bytes: the payload of a data URI, or the file the site serves."""
    if src.startswith("data:"):
        return hashlib.sha256(src.split(",", 1)[1].encode()).hexdigest()
    rel = urllib.parse.unquote(urllib.parse.urlsplit(src).path)
    base = urllib.parse.urlsplit(site_url).path.rstrip("/")
    return hashlib.sha256((HTML / rel[len(base):].lstrip("/")).read_bytes()).hexdigest()


@pytest.mark.parametrize("path", PAGES)
def test_no_page_shows_the_same_image_twice(visit, site_url, path):
    # a glued figure left open is drawn under its cell *and* by {glue:figure}; compare the bytes of
    # every image in the article (the slider of an interactive figure shows one frame at a time, so
    # it is one <img> and takes part like any other image)
    page, _ = visit(path)
    seen: dict[str, int] = {}
    images = page.locator("article img")
    for k in range(images.count()):
        src = images.nth(k).evaluate("el => el.currentSrc || el.src")
        if not src:
            continue
        digest = image_digest(src, site_url)
        assert digest not in seen, f"{path}: image {k} repeats image {seen[digest]} ({src[:80]})"
        seen[digest] = k


@pytest.mark.parametrize("path", [p for p in PAGES if "prf:" in source_of(p)])
def test_theorem_boxes_render(visit, path):
    page, _ = visit(path)
    assert page.locator("div.proof").count() > 0, f"{path}: no sphinx-proof box rendered"


@pytest.mark.parametrize("path", [p for p in PAGES if "solution-start" in source_of(p)])
def test_exercises_render_and_solutions_open(visit, path):
    page, _ = visit(path)
    assert page.locator("div.exercise").count() > 0, f"{path}: no exercise box rendered"
    solutions = page.locator("div.solution.dropdown")
    assert solutions.count() > 0, f"{path}: no solution dropdown rendered"
    first = solutions.first
    body = first.locator(".admonition-title ~ *").first
    assert not body.is_visible(), f"{path}: solution is not hidden before the reader opens it"
    first.locator("button.toggle-button").click()
    body.wait_for(state="visible", timeout=5_000)


@pytest.mark.parametrize("path", [p for p in PAGES if "{glue:figure}" in source_of(p) or "code-cell" in source_of(p)])
def test_dark_mode_keeps_figures_on_white(visit, path):
    page, _ = visit(path, dark=True)
    assert page.evaluate("document.documentElement.dataset.theme") == "dark"
    images = page.locator("article figure img, article .cell_output img")
    for k in range(images.count()):
        bg = images.nth(k).evaluate("el => getComputedStyle(el).backgroundColor")
        assert bg == "rgb(255, 255, 255)", f"{path}: figure background in dark mode is {bg}"


@pytest.mark.parametrize("path", [p for p in PAGES if "interactive_frames(" in source_of(p)])
def test_interactive_figures_respond_to_the_slider(visit, path):
    page, _ = visit(path)
    sliders = page.locator("div.animation input[type=range]")
    assert sliders.count() > 0, f"{path}: no interactive figure rendered"
    for k in range(sliders.count()):
        slider = sliders.nth(k)
        img = page.locator("div.animation").nth(k).locator("img").first
        before = img.get_attribute("src")
        slider.scroll_into_view_if_needed()
        slider.evaluate("el => { el.value = el.max; el.dispatchEvent(new Event('input')); }")
        page.wait_for_function("([el, old]) => el.src !== old", arg=[img.element_handle(), before], timeout=5_000)
        # the new frame is a separate file fetched on demand: it must exist on the site
        page.wait_for_function("el => el.complete && el.naturalWidth > 0", arg=img.element_handle(), timeout=5_000)
        assert img.evaluate("el => el.naturalWidth") > 0


MAX_PAGE_BYTES = 1_000_000  # a page over 1 MB is seconds of blank screen on a slow link


def test_every_page_is_light(built_site):
    sizes = {str(p.relative_to(built_site)): p.stat().st_size for p in built_site.rglob("*.html")}
    assert sizes, "no HTML page found"
    heavy = {page: size for page, size in sizes.items() if size > MAX_PAGE_BYTES}
    assert not heavy, f"pages over {MAX_PAGE_BYTES} bytes of HTML: {heavy}"
