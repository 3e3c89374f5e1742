"""Binder and Colab, tested the way we can test them here.

Binder cannot be reached from CI, so this test rebuilds its equivalent: a fresh virtual
environment with exactly the packages of ``environment.yml``, then ``postBuild`` (which installs
the package and makes jupytext the default viewer of ``.md`` chapters). The launch buttons of
the built pages must point at this repository's ``main`` branch and the page's own source file,
and the notebook download (the route to Colab) must start with a cell that installs what Colab
lacks.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from conftest import ROOT
from test_site import PAGES

TORCH = "torch==2.13.0"  # the CPU build on this machine's disk, as in the Makefile
NOTEBOOKS = [p.removesuffix(".html") for p in PAGES if "code-cell" in (ROOT / p).with_suffix(".md").read_text()]
CHAPTERS = [p for p in NOTEBOOKS if Path(p).name[:2].isdigit()]


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


@pytest.mark.parametrize("page", [p for p in PAGES if p.removesuffix(".html") in NOTEBOOKS])
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
