"""The Colab set-up cell of every chapter, generated from the one place the repository URL is written.

The URL is ``repository.url`` in ``_config.yml``; the version is ``tfsvm.__version__``. Until a
version is released (a PEP 440 development version such as ``0.1.0.dev0``) the cell installs the
package from the repository; a released version is installed from PyPI, pinned. The ``[book]``
extra brings ``myst_nb`` (the chapters' ``glue``); Colab already has torch.

    python tools/colab_cell.py           # rewrite the cell of every chapter that has one
    python tools/colab_cell.py --check   # exit 1 if any chapter's cell differs from the generated one

``tests/book/test_publishing.py`` checks that every chapter's cell equals the generated one.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import yaml
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]
MARKER = '"google.colab" in sys.modules'
# a MyST code cell: the fence line, its body, the closing fence
CODE_CELL = re.compile(r"^```\{code-cell\}[^\n]*\n.*?^```$", re.MULTILINE | re.DOTALL)


def repository_url(config: Path = ROOT / "_config.yml") -> str:
    """``repository.url`` of the book's configuration (no trailing slash)."""
    return yaml.safe_load(config.read_text())["repository"]["url"].rstrip("/")


def package_version(init: Path = ROOT / "lib" / "tfsvm" / "__init__.py") -> str:
    """``tfsvm.__version__``, read from the source (so the cell does not depend on what is installed)."""
    found = re.search(r'^__version__ = "([^"]+)"', init.read_text(), re.MULTILINE)
    if not found:
        raise ValueError(f"{init}: no __version__ = \"...\" line")
    return found.group(1)


def install_spec(url: str, version: str) -> str:
    """What the cell installs: the repository until ``version`` is a release, then that release."""
    if Version(version).is_devrelease or Version(version).is_prerelease:
        return f"tfsvm[book] @ git+{url}"
    return f"tfsvm[book]=={version}"


def colab_cell(url: str | None = None, version: str | None = None) -> str:
    """The MyST source of the set-up cell."""
    spec = install_spec(url or repository_url(), version or package_version())
    return ("```{code-cell} ipython3\n"
            ":tags: [remove-cell]\n"
            "# On Colab, install the book's library first (everywhere else it is already installed).\n"
            "import sys\n"
            f"if {MARKER}:\n"
            f'    %pip install --quiet "{spec}"\n'
            "```")


def colab_cells(source: str) -> list[re.Match]:
    """The code cells of a chapter source that set up Colab."""
    return [cell for cell in CODE_CELL.finditer(source) if MARKER in cell.group(0)]


def chapters() -> list[Path]:
    """Every chapter source with a Colab set-up cell."""
    return sorted(p for p in (ROOT / "book").glob("*.md") if colab_cells(p.read_text()))


def rewrite(path: Path, cell: str) -> bool:
    """Replace the chapter's set-up cell with ``cell``; True if the file changed."""
    source = path.read_text()
    found = colab_cells(source)
    if len(found) != 1:
        raise ValueError(f"{path}: expected one Colab set-up cell, found {len(found)}")
    new = source[:found[0].start()] + cell + source[found[0].end():]
    if new != source:
        path.write_text(new)
    return new != source


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only report chapters whose cell differs")
    args = parser.parse_args(argv)
    cell = colab_cell()
    stale = [p for p in chapters() if [m.group(0) for m in colab_cells(p.read_text())] != [cell]]
    if args.check:
        for path in stale:
            print(f"{path.relative_to(ROOT)}: Colab cell differs from `python tools/colab_cell.py`")
        return 1 if stale else 0
    for path in stale:
        rewrite(path, cell)
        print(f"rewrote {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
