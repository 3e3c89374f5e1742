"""Shared fixtures: the built site, served on localhost, and a headless Chromium."""

from __future__ import annotations

import functools
import http.server
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
HTML = ROOT / "_build" / "html"
sys.path.insert(0, str(ROOT / "tools"))
from browser import CHROMIUM, CHROMIUM_ARGS  # noqa: E402  (shared with tools/print_pdf.py)


@pytest.fixture(scope="session")
def built_site() -> Path:
    """The HTML book; `make test` builds it before running pytest."""
    index = HTML / "index.html"
    assert index.exists(), "the book is not built: run `make book` (or `make test`, which builds it first)"
    return HTML


@pytest.fixture(scope="session")
def site_url(built_site: Path) -> Iterator[str]:
    """Serve ``_build/html`` on 127.0.0.1 for the length of the session."""
    handler = functools.partial(_QuietHandler, directory=str(built_site))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:  # keep pytest output clean
        pass


@pytest.fixture(scope="session")
def browser():
    """Headless Debian Chromium driven by Playwright."""
    from playwright.sync_api import sync_playwright

    assert CHROMIUM.exists(), "Chromium is missing: `make test` installs it (apt-get install chromium)"
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


# --- no silent skips -------------------------------------------------------------------------
# A skipped test proves nothing. Every skip must carry a recorded reason, and the run fails if
# any test was skipped without one (pytest.skip("...") and skip markers with reason= pass).
_UNEXPLAINED_SKIPS: list[str] = []


def pytest_runtest_logreport(report) -> None:
    if report.skipped:
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        if not reason or reason.strip() in ("Skipped", "Skipped: ") or "got empty parameter set" in reason:
            _UNEXPLAINED_SKIPS.append(report.nodeid)


def pytest_sessionfinish(session, exitstatus) -> None:
    if _UNEXPLAINED_SKIPS:
        print(f"\nskipped without a recorded reason: {_UNEXPLAINED_SKIPS}")
        session.exitstatus = 1
