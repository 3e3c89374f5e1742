"""Generate the student and autograder versions of every course assignment.

Each assignment has ONE source notebook in otter-assign (v1) format,
``assignments/<name>/<name>.ipynb``. This script runs ``otter assign`` on each of them
and writes

    <out>/<name>/student/<name>.ipynb              the notebook handed out (no solutions,
                                                   public tests only, in its metadata)
    <out>/<name>/autograder/<name>.ipynb           the reference solution notebook
    <out>/<name>/autograder/<name>-autograder.zip  the grader for `otter run` / `otter grade`

with ``<out> = assignments/dist`` by default (git-ignored). Generation is offline and fast:
``--no-run-tests`` (the test suite grades the solutions separately, see
tests/test_assignments.py) and ``--no-pdfs``. After generating, the student notebooks are
scanned for solution and hidden-test markers; any hit is an error.

The grading environment is defined here, once, for all assignments: the source notebook is
copied into a staging folder together with a wheel of this repository's library and a
``requirements.txt`` (:data:`GRADING_REQUIREMENTS` plus that wheel), and its assignment
config is completed with ``requirements``, ``python_version`` and ``autograder_files``. The
autograder zip therefore carries an ``environment.yml`` (Python 3.11, pip: otter-grader with
its grading extras, numpy, scipy, cvxpy, clarabel, torch and ``files/tfsvm-*.whl``) from
which the Gradescope / ``otter grade`` image is built without access to this repository.

Usage::

    python assignments/build.py                 # all assignments into assignments/dist
    python assignments/build.py --out /tmp/x    # somewhere else
    python assignments/build.py part1-att-svm   # only some assignments
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent

#: Python of the grading image (the book's version, see environment.yml).
PYTHON_VERSION = "3.11"

#: What the grader needs besides the library wheel. otter-grader is pinned to the version the
#: assignments are generated with (its grading extras bring the kernel and PDF tooling);
#: torch to the build the book is tested with (constraints.txt at the repository root).
GRADING_REQUIREMENTS = (
    "otter-grader[grading]=={otter}",
    "numpy>=1.26",
    "scipy>=1.11",
    "cvxpy>=1.5",
    "clarabel>=0.9",
    "torch==2.13.0",
)

#: Text that must never reach a student notebook (otter markers of solutions / hidden tests).
FORBIDDEN_IN_STUDENT = (
    "BEGIN SOLUTION",
    "END SOLUTION",
    "# SOLUTION",
    "BEGIN TEST CONFIG",
    "hidden: true",
    "ASSIGNMENT CONFIG",
    "# BEGIN QUESTION",  # (otter keeps "<!-- BEGIN QUESTION -->" around written answers: allowed)
)


def assignment_names() -> list[str]:
    """Every folder ``assignments/<name>/`` holding a source notebook ``<name>.ipynb``, sorted."""
    return sorted(p.parent.name for p in HERE.glob("*/*.ipynb") if p.stem == p.parent.name)


def check_student_notebook(path: Path) -> None:
    """Raise RuntimeError if a generated student notebook contains a forbidden marker."""
    text = path.read_text(encoding="utf-8")
    hits = [m for m in FORBIDDEN_IN_STUDENT if m in text]
    if hits:
        raise RuntimeError(f"{path} contains solution/hidden-test markers: {hits}")


def build_wheel(folder: Path) -> Path:
    """Build the library's wheel into ``folder`` (from a copy of the sources, so the
    repository gets no build artefacts); return its path."""
    src = folder / "src"
    shutil.copytree(ROOT / "lib", src / "lib", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy2(ROOT / name, src / name)
    cmd = [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation", "-w", str(folder), str(src)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"building the tfsvm wheel failed:\n{proc.stdout}\n{proc.stderr}")
    shutil.rmtree(src)
    (wheel,) = folder.glob("tfsvm-*.whl")
    return wheel


def grading_requirements(wheel_name: str) -> list[str]:
    """Lines of the autograder's requirements.txt (the wheel is shipped in the zip's files/)."""
    from importlib.metadata import version

    return [r.format(otter=version("otter-grader")) for r in GRADING_REQUIREMENTS] + [f"files/{wheel_name}"]


def stage(name: str, staging: Path, wheel: Path) -> Path:
    """Copy the source notebook into ``staging/<name>`` with the wheel and requirements.txt,
    and complete its assignment config; return the staged notebook."""
    master = HERE / name / f"{name}.ipynb"
    if not master.is_file():
        raise FileNotFoundError(f"no source notebook {master}")
    folder = staging / name
    folder.mkdir(parents=True)
    shutil.copy2(wheel, folder / wheel.name)
    (folder / "requirements.txt").write_text("\n".join(grading_requirements(wheel.name)) + "\n")
    nb = json.loads(master.read_text(encoding="utf-8"))
    config = nb["cells"][0]
    source = "".join(config["source"])
    if not source.startswith("# ASSIGNMENT CONFIG"):
        raise RuntimeError(f"{master}: the first cell must be the raw '# ASSIGNMENT CONFIG' cell")
    extra = (
        f"requirements: requirements.txt\noverwrite_requirements: true\n"
        f"python_version: '{PYTHON_VERSION}'\nautograder_files:\n  - {wheel.name}\n"
    )
    config["source"] = source.rstrip("\n") + "\n" + extra
    staged = folder / master.name
    staged.write_text(json.dumps(nb, indent=1), encoding="utf-8")
    return staged


def build_one(name: str, out: Path, staging: Path, wheel: Path) -> Path:
    """Run ``otter assign`` for one assignment; return its output folder ``out/<name>``."""
    master = stage(name, staging, wheel)
    dest = out / name
    if dest.exists():
        shutil.rmtree(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "otter", "assign", "--no-run-tests", "--no-pdfs", str(master), str(dest)]
    proc = subprocess.run(cmd, cwd=master.parent, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"otter assign failed for {name}:\n{proc.stdout}\n{proc.stderr}")
    # Otter names the zip with a timestamp; give it a stable name.
    zips = sorted((dest / "autograder").glob("*.zip"))
    if len(zips) != 1:
        raise RuntimeError(f"expected one autograder zip in {dest / 'autograder'}, found {zips}")
    zips[0].rename(dest / "autograder" / f"{name}-autograder.zip")
    check_student_notebook(dest / "student" / f"{name}.ipynb")
    return dest


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help="assignments to build (default: all)")
    parser.add_argument("--out", type=Path, default=HERE / "dist", help="output folder (default: assignments/dist)")
    args = parser.parse_args(argv)
    names = args.names or assignment_names()
    unknown = sorted(set(names) - set(assignment_names()))
    if unknown:
        parser.error(f"unknown assignment(s) {unknown}; available: {assignment_names()}")
    out = args.out.resolve()
    with tempfile.TemporaryDirectory(prefix="tfsvm-assign-") as tmp:
        wheel = build_wheel(Path(tmp))
        for name in names:
            dest = build_one(name, out, Path(tmp) / "staging", wheel)
            print(f"{name}: {dest / 'student'} and {dest / 'autograder'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
