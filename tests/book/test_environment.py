"""The dependency lists agree: pyproject.toml is the single source, environment.yml repeats it."""

from __future__ import annotations

import tomllib
from pathlib import Path

import yaml
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[2]


def _normalise(spec: str) -> tuple[str, str]:
    req = Requirement(spec)
    return req.name.lower().replace("_", "-"), str(req.specifier)


def pyproject_requirements() -> set[tuple[str, str]]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    specs = list(project["dependencies"])
    for extra in ("book", "dev"):
        specs += project["optional-dependencies"][extra]
    return {_normalise(s) for s in specs}


def environment_requirements() -> set[tuple[str, str]]:
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip_sections = [dep["pip"] for dep in env["dependencies"] if isinstance(dep, dict) and "pip" in dep]
    assert len(pip_sections) == 1, "environment.yml must have exactly one pip section"
    return {_normalise(s) for s in pip_sections[0]}


def test_environment_yml_installs_the_same_packages_as_pyproject():
    missing = pyproject_requirements() - environment_requirements()
    extra = environment_requirements() - pyproject_requirements()
    assert not missing and not extra, f"only in pyproject: {sorted(missing)}; only in environment.yml: {sorted(extra)}"


def test_environment_yml_uses_python_311():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    assert "python=3.11" in env["dependencies"]


def test_jupyter_book_is_pinned_below_2():
    names = dict(pyproject_requirements())
    assert names["jupyter-book"] == "<2,>=1.0.4.post1" or set(names["jupyter-book"].split(",")) == {"<2", ">=1.0.4.post1"}


def test_ci_runs_the_readme_test_command():
    ci_lines = [ln.strip() for ln in (ROOT / ".ci/run").read_text().splitlines()]
    commands = [ln for ln in ci_lines if ln and not ln.startswith(("#", "set ", "cd "))]
    assert commands == ["make test"]
    assert "```bash\nmake test\n```" in (ROOT / "README.md").read_text()
