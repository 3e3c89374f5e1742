"""Binder, tested the way we can test it here.

Binder cannot be reached from CI, so this test rebuilds its equivalent: a fresh virtual
environment with exactly the packages of ``environment.yml``, the package installed by
``postBuild`` (which also makes jupytext the default viewer of ``.md`` chapters), and every
chapter of ``_toc.yml`` converted to a notebook with jupytext and executed there. The glued
numbers of that independent execution must equal the ones of the book build, which also
checks that a rebuild gives the same numbers. The launch buttons of the built pages must point
at this repository's ``main`` branch and the page's own source file, and the notebook download
(the route to Colab) must start with a cell that installs what Colab lacks.
"""

from __future__ import annotations

import json
import math
import os
import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import yaml

from conftest import HTML, ROOT
from test_site import PAGES

TORCH = "torch==2.13.0"  # the CPU build on this machine's disk, as in the Makefile
EXECUTED = ROOT / "_build" / "jupyter_execute"
CHAPTERS = [p.removesuffix(".html") for p in PAGES if "code-cell" in (ROOT / p).with_suffix(".md").read_text()]


def _run(cmd: list[str], **kwargs) -> subprocess.CompletedProcess:
    result = subprocess.run(cmd, capture_output=True, text=True, **kwargs)
    assert result.returncode == 0, f"{' '.join(cmd)} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return result


@pytest.fixture(scope="module")
def binder_env(tmp_path_factory) -> dict[str, str]:
    """A fresh venv built like Binder builds it: environment.yml's pip list, then postBuild."""
    root = tmp_path_factory.mktemp("binder")
    venv, home = root / "venv", root / "home"
    home.mkdir()
    _run([sys.executable, "-m", "venv", str(venv)])
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet"]
    env_yml = yaml.safe_load((ROOT / "environment.yml").read_text())
    requirements = next(dep["pip"] for dep in env_yml["dependencies"] if isinstance(dep, dict))
    _run(pip + [TORCH])
    _run(pip + requirements)
    env = {**os.environ, "HOME": str(home), "PATH": f"{venv / 'bin'}:{os.environ['PATH']}", "VIRTUAL_ENV": str(venv)}
    env.pop("TFSVM_RECORD_DIR", None)
    env.pop("TFSVM_SCALE", None)
    _run(["bash", str(ROOT / "postBuild")], cwd=ROOT, env=env)
    return env


def test_postbuild_installs_the_package_and_opens_md_as_notebooks(binder_env):
    python = Path(binder_env["VIRTUAL_ENV"]) / "bin" / "python"
    out = _run([str(python), "-c", "import tfsvm, jupytext; print(tfsvm.__file__)"], env=binder_env).stdout
    assert str(ROOT / "lib" / "tfsvm") in out
    settings = json.loads((Path(binder_env["HOME"]) / ".jupyter/labconfig/default_setting_overrides.json").read_text())
    viewers = settings["@jupyterlab/docmanager-extension:plugin"]["defaultViewers"]
    assert viewers["markdown"] == "Jupytext Notebook"


def _execute(chapter: str, env: dict[str, str], outdir: Path) -> Path:
    notebook = outdir / (Path(chapter).name + ".ipynb")
    _run(["jupytext", "--to", "ipynb", "--output", str(notebook), str(ROOT / f"{chapter}.md")], env=env)
    _run(["jupyter", "nbconvert", "--to", "notebook", "--execute", "--inplace",
          "--ExecutePreprocessor.timeout=1800", str(notebook)], env=env, cwd=ROOT / "book")
    return notebook


def _glued_text(notebook: dict) -> dict[str, str]:
    """Glued values (not figures, not wall-clock timings ``*-seconds``) of an executed notebook."""
    glued = {}
    for cell in notebook["cells"]:
        for output in cell.get("outputs", []):
            name = output.get("metadata", {}).get("scrapbook", {}).get("name")
            data = output.get("data", {})
            if name and not name.endswith("-seconds") and "image/png" not in data and "text/plain" in data:
                glued[name] = data["text/plain"]
    return glued


def _same(a: str, b: str) -> bool:
    """Equal text, or equal numbers to 12 significant digits (the page shows at most 4)."""
    try:
        return math.isclose(float(a), float(b), rel_tol=1e-12, abs_tol=0.0) or a == b
    except ValueError:
        return a == b


@pytest.fixture(scope="module")
def clean_runs(binder_env, tmp_path_factory) -> dict[str, Path]:
    outdir = tmp_path_factory.mktemp("executed")
    with ThreadPoolExecutor(max_workers=2) as pool:  # two cores; torch runs single-threaded
        paths = pool.map(lambda ch: _execute(ch, binder_env, outdir), CHAPTERS)
    return dict(zip(CHAPTERS, paths))


@pytest.mark.slow
@pytest.mark.parametrize("chapter", CHAPTERS)
def test_chapter_runs_in_a_clean_environment_and_reproduces_the_build(clean_runs, chapter):
    clean = _glued_text(json.loads(clean_runs[chapter].read_text()))
    built_file = EXECUTED / f"{chapter}.ipynb"
    assert built_file.exists(), f"{built_file} missing: build the book first"
    built = _glued_text(json.loads(built_file.read_text()))
    assert clean.keys() == built.keys()
    differing = {k: (built[k], clean[k]) for k in built if not _same(built[k], clean[k])}
    assert not differing, f"{chapter}: glued values differ between the build and a clean re-run: {differing}"


@pytest.mark.parametrize("page", [p for p in PAGES if p.removesuffix(".html") in CHAPTERS])
def test_launch_buttons_point_at_main_and_the_page_source(built_site, page):
    html = (built_site / page).read_text()
    repo = yaml.safe_load((ROOT / "_config.yml").read_text())["repository"]["url"].removeprefix("https://github.com/")
    source = page.removesuffix(".html") + ".md"
    binder = re.findall(r'href="(https://mybinder\.org/[^"]+)"', html)
    assert binder, f"{page}: no Binder launch button"
    assert all(url == f"https://mybinder.org/v2/gh/{repo}/main?urlpath=lab/tree/{source}" for url in binder), binder
    assert "colab.research.google.com" not in html, f"{page}: Colab cannot open a .md source; use the .ipynb download"
    assert (built_site / "_sources" / (page.removesuffix(".html") + ".ipynb")).exists(), f"{page}: no .ipynb download"


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_downloaded_notebook_installs_the_library_on_colab(built_site, chapter):
    notebook = json.loads((built_site / "_sources" / f"{chapter}.ipynb").read_text())
    first_code = next(c for c in notebook["cells"] if c["cell_type"] == "code")
    source = "".join(first_code["source"])
    assert "google.colab" in source and "pip install" in source, f"{chapter}: first cell does not set up Colab"
