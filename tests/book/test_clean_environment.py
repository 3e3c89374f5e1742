"""Binder and Colab, tested the way we can test them here.

Binder cannot be reached from CI, so this test rebuilds its equivalent: a fresh virtual
environment with exactly the packages of ``environment.yml``, then ``postBuild`` (which installs
the package and makes jupytext the default viewer of ``.md`` chapters). The launch buttons of
the built pages must point at this repository's ``main`` branch and the page's own source file,
and the notebook download (the route to Colab) must start with a cell that installs what Colab
lacks.

Every notebook page of the book is also executed in that environment, as a reader's Jupyter
would run it (jupytext, the venv's own kernel, the chapter's folder as working directory), and
the values it glues into the text must equal the book build's exactly, wall-clock timings and
peak memory aside: a second, independent build of the book reproduces every number it prints.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import NamedTuple

import nbformat
import pytest
import yaml
from myst_nb.ext.glue import extract_glue_data_cell

from conftest import ROOT
from book_pages import PAGES

CONSTRAINTS = ["-c", str(ROOT / "constraints.txt")]  # torch==2.13.0, the CPU build on disk, as in the Makefile
NOTEBOOKS = [p.removesuffix(".html") for p in PAGES if "code-cell" in (ROOT / p).with_suffix(".md").read_text()]
CHAPTERS = [p for p in NOTEBOOKS if Path(p).name[:2].isdigit()]
GLUING = [p for p in NOTEBOOKS if "glue(" in (ROOT / p).with_suffix(".md").read_text()]
BOOK_EXECUTED = ROOT / "_build" / "jupyter_execute"  # the book build's executed notebooks and glue
WORKERS = 2  # kernels run side by side (the library keeps torch at one thread each)
TIMEOUT = 1800  # seconds per notebook, as in _config.yml
# glued wall-clock times and peak memory (tfsvm.runcost): the only values allowed to differ
TIMINGS = re.compile(r"-(seconds|peak-mb)$")


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
    _run(pip + CONSTRAINTS + ["torch"])  # stands in for environment.yml's conda-forge pytorch-cpu
    _run(pip + CONSTRAINTS + requirements)
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


class Execution(NamedTuple):
    notebook: Path  # the executed .ipynb
    process: subprocess.CompletedProcess


def _execute(source: Path, out: Path, env: dict[str, str]) -> Execution:
    """Run a MyST notebook with jupytext in the clean venv, in the source's own folder (as Jupyter does)."""
    notebook = out / f"{source.stem}.ipynb"
    jupytext = Path(env["VIRTUAL_ENV"]) / "bin" / "jupytext"
    cmd = [str(jupytext), "--to", "ipynb", "--execute", "--run-path", str(source.parent),
           "--output", str(notebook), str(source)]
    process = subprocess.run(cmd, capture_output=True, text=True, cwd=source.parent, env=env, timeout=TIMEOUT)
    return Execution(notebook, process)


def _check_ran(name: str, run: Execution) -> nbformat.NotebookNode:
    """The executed notebook, after asserting that jupytext ran it without an error."""
    process = run.process
    assert process.returncode == 0, f"{name} fails in the clean environment:\n{process.stderr[-4000:]}"
    return nbformat.read(run.notebook, as_version=4)


def _glued(notebook: nbformat.NotebookNode) -> dict[str, dict]:
    """Glue key -> mime bundle, extracted exactly as myst-nb does for the book."""
    return {key: dict(output["data"]) for cell in notebook.cells if cell.cell_type == "code"
            for key, output in extract_glue_data_cell(cell)}


@pytest.fixture(scope="module")
def clean_runs(binder_env, tmp_path_factory) -> dict[str, Execution]:
    """Every notebook page executed once in the clean venv, ``WORKERS`` at a time."""
    out = tmp_path_factory.mktemp("executed")
    sources = [ROOT / f"{name}.md" for name in NOTEBOOKS]
    with ThreadPoolExecutor(max_workers=WORKERS) as pool:
        runs = pool.map(lambda source: _execute(source, out, binder_env), sources)
        return dict(zip(NOTEBOOKS, runs))


def test_the_kernel_is_the_clean_venvs(binder_env, tmp_path):
    """A probe with a chapter's own front matter (kernelspec ``python3``) reports where its kernel runs."""
    front_matter = (ROOT / f"{CHAPTERS[0]}.md").read_text().split("---\n", 2)[1]
    probe = tmp_path / "probe.md"
    probe.write_text(f"---\n{front_matter}---\n\n```{{code-cell}} ipython3\nimport sys\nprint(sys.prefix)\n```\n")
    notebook = _check_ran("probe", _execute(probe, tmp_path, binder_env))
    printed = notebook.cells[0].outputs[0]["text"].strip()
    assert Path(printed).resolve() == Path(binder_env["VIRTUAL_ENV"]).resolve(), f"kernel ran in {printed}"


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_runs_in_the_clean_environment(clean_runs, name):
    _check_ran(name, clean_runs[name])


@pytest.mark.parametrize("name", GLUING)
def test_glued_values_equal_the_book_builds(built_site, clean_runs, name):
    ours = {k: v for k, v in _glued(_check_ran(name, clean_runs[name])).items() if not TIMINGS.search(k)}
    book_file = BOOK_EXECUTED / f"{name}.glue.json"
    book = {k: v["data"] for k, v in json.loads(book_file.read_text()).items() if not TIMINGS.search(k)}
    assert ours.keys() == book.keys(), (f"{name}: glue keys differ; only in the clean run: "
                                        f"{sorted(ours.keys() - book.keys())}, only in the book build: "
                                        f"{sorted(book.keys() - ours.keys())}")
    differing = [f"{key}: clean {_show(ours[key])} != book {_show(book[key])}"
                 for key in book if ours[key] != book[key]]
    assert not differing, f"{name}: glued values differ from the book build ({book_file}):\n" + "\n".join(differing)


def _show(bundle: dict) -> str:
    """A mime bundle for an assertion message: its text, and the size of any image."""
    return repr({mime: value if mime.startswith("text/") else f"<{len(value)} chars>"
                 for mime, value in bundle.items()})
