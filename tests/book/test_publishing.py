"""Publishing: the GitHub workflows, the Colab cell, the version and the citation metadata.

The workflows cannot run here, so their YAML is parsed and checked: triggers, jobs, permissions,
that every ``make`` target they call exists (a dry run of make) and that the deployed site is
built at the paper's trial counts.
"""

from __future__ import annotations

import datetime
import re
import subprocess
import sys
import tomllib

import pytest
import yaml

import tfsvm
from conftest import ROOT

sys.path.insert(0, str(ROOT / "tools"))
import colab_cell  # noqa: E402
import tfsvm_book  # noqa: E402

WORKFLOWS = ROOT / ".github" / "workflows"
MAKE_CALL = re.compile(r"\bmake\s+((?:[\w.-]+\s*)+)")


def workflow(name: str) -> dict:
    data = yaml.safe_load((WORKFLOWS / name).read_text())
    data["on"] = data.pop(True, data.get("on"))  # YAML 1.1 reads the key `on` as True
    return data


def steps(job: dict) -> list[dict]:
    return job.get("steps", [])


def uses(job: dict) -> list[str]:
    """The actions a job uses, without their version (``actions/checkout``)."""
    return [step["uses"].split("@")[0] for step in steps(job) if "uses" in step]


def runs(data: dict) -> list[str]:
    """Every shell command of a workflow, with ``.ci/run`` read as the commands it runs."""
    commands = []
    for job in data["jobs"].values():
        for step in steps(job):
            run = step.get("run", "")
            if ".ci/run" in run:
                run += "\n" + (ROOT / ".ci" / "run").read_text()
            commands += [line for line in run.splitlines() if line.strip() and not line.strip().startswith("#")]
    return commands


def make_targets(data: dict) -> list[str]:
    return [target for command in runs(data) for match in MAKE_CALL.finditer(command)
            for target in match.group(1).split()]


@pytest.mark.parametrize("name", ["ci.yml", "book.yml", "release.yml"])
def test_every_make_target_a_workflow_calls_exists(name):
    targets = make_targets(workflow(name))
    for target in targets:
        dry = subprocess.run(["make", "-n", "-C", str(ROOT), target], capture_output=True, text=True)
        assert dry.returncode == 0, f"{name}: `make {target}` fails a dry run:\n{dry.stderr}"


def test_ci_runs_make_test_on_push_and_pull_request():
    ci = workflow("ci.yml")
    assert {"push", "pull_request"} <= set(ci["on"])
    assert make_targets(ci) == ["test"]
    (job,) = ci["jobs"].values()
    assert "actions/checkout" in uses(job)
    assert job["container"].endswith("bookworm"), "the browser tests and the PDF need Debian's Chromium"


def test_book_workflow_builds_at_paper_scale_and_deploys_to_pages():
    book = workflow("book.yml")
    assert book["on"]["push"]["branches"] == ["main"] and "workflow_dispatch" in book["on"]
    assert book["permissions"]["pages"] == "write" and book["permissions"]["id-token"] == "write"
    assert book["concurrency"]["group"] and book["concurrency"]["cancel-in-progress"] is False
    build, deploy = book["jobs"]["build"], book["jobs"]["deploy"]
    assert make_targets(book) == ["site"]
    upload = next(s for s in steps(build) if s.get("uses", "").startswith("actions/upload-pages-artifact"))
    assert upload["with"]["path"] == "_build/html"
    assert deploy["needs"] == "build" and deploy["environment"]["name"] == "github-pages"
    assert "actions/deploy-pages" in uses(deploy)


def test_the_deployed_site_is_built_at_paper_scale():
    """Static check of both places that set the scale: the workflow's env and the Makefile's site target."""
    build = workflow("book.yml")["jobs"]["build"]
    assert build["env"]["TFSVM_SCALE"] == "paper"
    assert not any("TFSVM_SCALE" in step.get("env", {}) for step in steps(build)), "a step overrides the scale"
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r"^site: export TFSVM_SCALE := paper$", makefile, re.MULTILINE)
    assert re.search(r"^site: book pdf$", makefile, re.MULTILINE), "the site is the book and its PDF"


def test_book_workflow_caches_the_execution_cache_by_library_and_chapters():
    build = workflow("book.yml")["jobs"]["build"]
    caches = [s["with"] for s in steps(build) if s.get("uses", "").startswith("actions/cache")]
    jupyter = next(c for c in caches if "_build/.jupyter_cache" in c["path"])
    assert "_build/reproduce" in jupyter["path"], "the records must travel with the cached notebooks"
    assert "hashFiles('lib/**', 'book/**')" in jupyter["key"] and "paper" in jupyter["key"]


def test_release_publishes_sdist_and_wheel_with_trusted_publishing():
    release = workflow("release.yml")
    assert release["on"]["push"]["tags"] == ["v*"]
    build, publish = release["jobs"]["build"], release["jobs"]["publish"]
    assert any("python -m build" in cmd for cmd in runs({"jobs": {"build": build}}))
    assert publish["needs"] == "build"
    assert publish["permissions"]["id-token"] == "write"
    step = next(s for s in steps(publish) if s.get("uses", "").startswith("pypa/gh-action-pypi-publish"))
    assert not {"password", "user"} & set(step.get("with", {})), "trusted publishing needs no token"
    assert release["permissions"] == {"contents": "read"}, "only the publish job may mint an id-token"


# --- one repository URL, one version --------------------------------------------------------


def test_every_chapter_has_the_colab_cell_generated_from_config():
    expected = colab_cell.colab_cell()
    url = colab_cell.repository_url()
    chapters = sorted((ROOT / "book").glob("[0-9][0-9]-*.md"))
    assert chapters
    for path in chapters:
        source = path.read_text()
        cells = colab_cell.CODE_CELL.findall(source)
        assert cells and cells[0] == expected, (f"{path.name}: its first code cell is not the Colab cell "
                                                "generated from _config.yml: run `python tools/colab_cell.py`")
        assert len(colab_cell.colab_cells(source)) == 1, f"{path.name}: more than one Colab cell"
        assert source.count(url) == expected.count(url), f"{path.name}: the repository URL is written out elsewhere"


def test_colab_installs_from_the_repository_until_released():
    url = "https://example.org/repo"
    assert colab_cell.install_spec(url, "0.1.0.dev0") == f"tfsvm[book] @ git+{url}"
    assert colab_cell.install_spec(url, "0.1.0") == "tfsvm[book]==0.1.0"
    assert colab_cell.package_version() == tfsvm.__version__


def test_citation_names_the_repository_and_version():
    citation = yaml.safe_load((ROOT / "CITATION.cff").read_text())
    assert citation["repository-code"] == colab_cell.repository_url()
    assert citation["version"] == tfsvm.__version__
    assert isinstance(citation["date-released"], datetime.date)
    for key in ("cff-version", "message", "title", "authors", "license", "abstract"):
        assert citation.get(key), f"CITATION.cff lacks {key}"


def test_version_is_single_sourced_in_the_package():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert "version" not in project["project"] and project["project"]["dynamic"] == ["version"]
    assert project["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "tfsvm.__version__"}


def test_changelog_has_the_current_version_and_links_the_errata():
    changelog = (ROOT / "CHANGELOG.md").read_text()
    assert re.search(rf"^## \[?{re.escape(tfsvm.__version__)}\]?", changelog, re.MULTILINE)
    assert "book/errata" in changelog


@pytest.mark.book
def test_every_page_shows_the_version_and_build_date(built_site):
    stamp = re.compile(rf"Version {re.escape(tfsvm.__version__)}, built \d{{4}}-\d{{2}}-\d{{2}}")
    pages = sorted(built_site.glob("book/*.html"))
    assert pages
    missing = [p.name for p in pages if not stamp.search(p.read_text())]
    assert not missing, f"pages without the edition line: {missing}"
    assert stamp.match(tfsvm_book.edition())


@pytest.mark.book
def test_the_site_offers_the_pdf_linked_from_the_preface(built_site):
    preface = (built_site / "book" / "intro.html").read_text()
    assert 'href="../book.pdf"' in preface
    assert (built_site / "book.pdf").read_bytes()[:5] == b"%PDF-", "make pdf copies the PDF into the site"


def test_a_new_library_or_scale_makes_sphinx_reread_every_document(monkeypatch):
    """`make site` after `make book`: the paper-scale build must re-execute, not reuse book-scale pages."""
    from types import SimpleNamespace

    env = SimpleNamespace(found_docs={"book/intro", "book/02-att-svm", "book/new"})
    monkeypatch.setenv("TFSVM_SCALE", "book")
    assert tfsvm_book._reread_on_new_stamp(None, env, {"book/new"}, set(), set()) == ["book/02-att-svm", "book/intro"]
    assert tfsvm_book._reread_on_new_stamp(None, env, set(), set(), set()) == []
    monkeypatch.setenv("TFSVM_SCALE", "paper")
    assert tfsvm_book._reread_on_new_stamp(None, env, set(), set(), set()) == ["book/02-att-svm", "book/intro", "book/new"]
