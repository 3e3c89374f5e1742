"""The headless Debian Chromium used by the browser tests (tests/conftest.py) and the PDF (tools/print_pdf.py)."""

from __future__ import annotations

from pathlib import Path

CHROMIUM = Path("/usr/bin/chromium")
# Flags for a closed network: no background connections, no sandbox (root in CI).
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
