"""The dependency lists agree: pyproject.toml is the single source, environment.yml (Binder) repeats
its runtime part (core + [book] + [assignments]) with a CPU-only torch, and nothing test-only.

conda-forge and the CPU wheel index are out of reach here, so these checks are static.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

import yaml
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[2]
RUNTIME_EXTRAS = ("book", "assignments")  # what readers and students use; "dev" is for testing
# conda-forge's CPU-only build of torch (its plain "pytorch" may pull CUDA)
CPU_TORCH = "pytorch-cpu"


def _normalise(spec: str) -> tuple[str, str]:
    req = Requirement(spec)
    return req.name.lower().replace("_", "-"), str(req.specifier)


def _project() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def runtime_requirements() -> set[tuple[str, str]]:
    project = _project()
    specs = list(project["dependencies"])
    for extra in RUNTIME_EXTRAS:
        specs += project["optional-dependencies"][extra]
    return {_normalise(s) for s in specs}


def _environment() -> tuple[list[str], list[str]]:
    """environment.yml's conda packages (python and pip aside) and its pip section."""
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    conda = [dep for dep in env["dependencies"] if isinstance(dep, str) and dep != "pip" and not dep.startswith("python=")]
    pip_sections = [dep["pip"] for dep in env["dependencies"] if isinstance(dep, dict) and "pip" in dep]
    assert len(pip_sections) == 1, "environment.yml must have exactly one pip section"
    return conda, pip_sections[0]


def environment_requirements() -> set[tuple[str, str]]:
    """What environment.yml installs, with conda-forge's CPU torch counted as torch."""
    conda, pip = _environment()
    specs = {_normalise(s) for s in pip}
    for name, specifier in map(_normalise, conda):
        specs.add(("torch" if name == CPU_TORCH else name, specifier))
    return specs


def test_environment_yml_installs_the_runtime_packages_of_pyproject():
    missing = runtime_requirements() - environment_requirements()
    extra = environment_requirements() - runtime_requirements()
    assert not missing and not extra, f"only in pyproject: {sorted(missing)}; only in environment.yml: {sorted(extra)}"


def test_environment_yml_installs_a_cpu_only_torch():
    conda, pip = _environment()
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    assert env["channels"] == ["conda-forge"], "pytorch-cpu is conda-forge's CPU build: use that channel only"
    assert [_normalise(s)[0] for s in conda].count(CPU_TORCH) == 1, f"environment.yml must install {CPU_TORCH}"
    assert "torch" not in {_normalise(s)[0] for s in pip}, "a pip torch on Linux is the CUDA build"


def test_environment_yml_has_no_test_only_tools():
    dev = {_normalise(s)[0] for s in _project()["optional-dependencies"]["dev"]}
    runtime = {name for name, _ in runtime_requirements()}
    assert not dev & runtime, f"in [dev] and in a runtime list: {sorted(dev & runtime)}"
    installed = {name for name, _ in environment_requirements()}
    assert not dev & installed, f"test-only tools in environment.yml: {sorted(dev & installed)}"


def test_otter_is_a_runtime_dependency():
    """Students run the autograded assignments in Binder: otter-grader is in the [assignments] extra."""
    assignments = {_normalise(s)[0] for s in _project()["optional-dependencies"]["assignments"]}
    assert "otter-grader" in assignments


def test_environment_yml_uses_python_311():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    assert "python=3.11" in env["dependencies"]


def test_jupyter_book_is_pinned_below_2():
    names = dict(runtime_requirements())
    assert set(names["jupyter-book"].split(",")) == {"<2", ">=1.0.4.post1"}


def test_ci_runs_the_readme_test_command():
    ci_lines = [ln.strip() for ln in (ROOT / ".ci/run").read_text().splitlines()]
    commands = [ln for ln in ci_lines if ln and not ln.startswith(("#", "set ", "cd "))]
    assert commands == ["make test"]
    assert "```bash\nmake test\n```" in (ROOT / "README.md").read_text()
