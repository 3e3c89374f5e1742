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

Usage::

    python assignments/build.py                 # all assignments into assignments/dist
    python assignments/build.py --out /tmp/x    # somewhere else
    python assignments/build.py part1-att-svm   # only some assignments
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent

#: Text that must never reach a student notebook (otter markers of solutions / hidden tests).
FORBIDDEN_IN_STUDENT = (
    "BEGIN SOLUTION",
    "END SOLUTION",
    "# SOLUTION",
    "BEGIN TEST CONFIG",
    "hidden: true",
    "ASSIGNMENT CONFIG",
    "BEGIN QUESTION",
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


def build_one(name: str, out: Path) -> Path:
    """Run ``otter assign`` for one assignment; return its output folder ``out/<name>``."""
    master = HERE / name / f"{name}.ipynb"
    if not master.is_file():
        raise FileNotFoundError(f"no source notebook {master}")
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
    for name in names:
        dest = build_one(name, out)
        print(f"{name}: {dest / 'student'} and {dest / 'autograder'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
