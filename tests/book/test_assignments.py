"""Tests of the course assignments (assignments/, otter-grader).

For every assignment the generator ``assignments/build.py`` is run once into a temporary
folder; then

1. the reference solution notebook (the autograder version) is graded with ``otter run``
   and must get full marks on every question;
2. the unmodified student notebook is graded the same way: the grader must finish and
   give zero points on every question (all questions are implementation questions);
3. the student notebook must contain no solution code, no hidden test and no otter marker.

Each notebook is graded once (module-scoped fixtures, two gradings in parallel) and the
assertions run on the parsed ``results.json`` of all questions.
"""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[2]
ASSIGNMENTS = ROOT / "assignments"
NAMES = sorted(p.parent.name for p in ASSIGNMENTS.glob("*/*.ipynb") if p.stem == p.parent.name)
MARKERS = ("BEGIN SOLUTION", "END SOLUTION", "BEGIN TEST CONFIG", "hidden: true", "BEGIN QUESTION", "ASSIGNMENT CONFIG")
TIMEOUT = 600

pytestmark = pytest.mark.slow  # ~1 min of CPU: six notebook gradings


def test_there_are_three_assignments_one_per_book_part():
    assert NAMES == ["part1-att-svm", "part2-gd-convergence", "part3-beyond-linear"]


@pytest.fixture(scope="module")
def dist(tmp_path_factory) -> Path:
    """Run the generator once (fresh output folder) and return its output folder."""
    out = tmp_path_factory.mktemp("dist")
    proc = subprocess.run(
        [sys.executable, str(ASSIGNMENTS / "build.py"), "--out", str(out)],
        capture_output=True, text=True, timeout=TIMEOUT,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return out


def _grade(dist: Path, name: str, notebook: Path, tag: str) -> dict[str, tuple[float, float]]:
    """Grade ``notebook`` with ``otter run`` (no container, no installation); return
    {question: (score, max_score)}."""
    out = dist / f"results-{name}-{tag}"
    out.mkdir()
    zip_path = dist / name / "autograder" / f"{name}-autograder.zip"
    proc = subprocess.run(
        [sys.executable, "-m", "otter", "run", "--no-logo", "-a", str(zip_path), "-o", str(out), str(notebook)],
        capture_output=True, text=True, timeout=TIMEOUT, cwd=dist,
    )
    assert proc.returncode == 0, f"otter run crashed on {notebook}:\n{proc.stdout}\n{proc.stderr}"
    results = json.loads((out / "results.json").read_text())
    return {t["name"]: (t["score"], t["max_score"]) for t in results["tests"] if t.get("max_score") is not None}


def _questions(name: str) -> list[str]:
    """Question names declared in the source notebook."""
    nb = nbformat.read(ASSIGNMENTS / name / f"{name}.ipynb", as_version=4)
    names = []
    for cell in nb.cells:
        if cell.cell_type == "raw" and cell.source.lstrip().startswith("# BEGIN QUESTION"):
            names.append(next(l.split(":", 1)[1].strip() for l in cell.source.splitlines() if l.startswith("name:")))
    return names


@pytest.fixture(scope="module")
def grades(dist) -> dict[tuple[str, str], dict[str, tuple[float, float]]]:
    """Grade the reference ("solution") and blank ("student") notebook of every assignment,
    two gradings at a time (the machine has 2 cores)."""
    jobs = {
        (n, tag): dist / n / folder / f"{n}.ipynb"
        for n in NAMES
        for tag, folder in (("solution", "autograder"), ("student", "student"))
    }
    with ThreadPoolExecutor(max_workers=2) as pool:
        futures = {key: pool.submit(_grade, dist, key[0], nb, key[1]) for key, nb in jobs.items()}
        return {key: f.result() for key, f in futures.items()}


@pytest.fixture(scope="module")
def reference_grades(grades) -> dict[str, dict[str, tuple[float, float]]]:
    return {n: grades[(n, "solution")] for n in NAMES}


@pytest.fixture(scope="module")
def student_grades(grades) -> dict[str, dict[str, tuple[float, float]]]:
    return {n: grades[(n, "student")] for n in NAMES}


@pytest.mark.parametrize("name", NAMES)
def test_generator_writes_student_notebook_and_autograder_zip_with_all_questions(dist, name):
    questions = _questions(name)
    assert 4 <= len(questions) <= 6
    assert (dist / name / "student" / f"{name}.ipynb").is_file()
    assert (dist / name / "autograder" / f"{name}.ipynb").is_file()
    with zipfile.ZipFile(dist / name / "autograder" / f"{name}-autograder.zip") as zf:
        files = set(zf.namelist())
        hidden_cases = sum(zf.read(f"tests/{q}.py").decode().count("hidden=True") for q in questions)
    assert {f"tests/{q}.py" for q in questions} <= files
    assert "otter_config.json" in files
    assert hidden_cases == len(_hidden_test_names(name)) >= len(questions)  # every question has hidden tests


@pytest.mark.parametrize("name", NAMES)
def test_reference_solution_gets_full_marks_on_every_question(reference_grades, name):
    grades = reference_grades[name]
    assert sorted(grades) == sorted(_questions(name))
    not_full = {q: g for q, g in grades.items() if not (g[1] > 0 and g[0] == g[1])}
    assert not not_full, f"reference solution of {name} lost points: {not_full}"


@pytest.mark.parametrize("name", NAMES)
def test_unmodified_student_notebook_is_graded_without_crash_and_scores_zero(student_grades, name):
    grades = student_grades[name]
    assert sorted(grades) == sorted(_questions(name))
    assert all(maximum > 0 for _, maximum in grades.values())
    nonzero = {q: g for q, g in grades.items() if g[0] != 0}
    assert not nonzero, f"the blank student notebook of {name} earned points: {nonzero}"


def _solution_lines(name: str) -> list[str]:
    """Distinctive code lines inside BEGIN/END SOLUTION blocks of the source notebook."""
    nb = nbformat.read(ASSIGNMENTS / name / f"{name}.ipynb", as_version=4)
    lines, inside = [], False
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        for line in cell.source.splitlines():
            if line.strip() == "# BEGIN SOLUTION":
                inside = True
            elif line.strip() == "# END SOLUTION":
                inside = False
            elif inside and len(line.strip()) >= 25:
                lines.append(line.strip())
    return lines


def _hidden_test_names(name: str) -> list[str]:
    """Function names of the hidden test cells of the source notebook."""
    nb = nbformat.read(ASSIGNMENTS / name / f"{name}.ipynb", as_version=4)
    names = []
    for cell in nb.cells:
        if cell.cell_type == "code" and "BEGIN TEST CONFIG" in cell.source and "hidden: true" in cell.source:
            names.append(next(l.split("(")[0][4:] for l in cell.source.splitlines() if l.startswith("def ")))
    return names


@pytest.mark.parametrize("name", NAMES)
def test_student_notebook_contains_no_solution_code_hidden_test_or_marker(dist, name):
    text = (dist / name / "student" / f"{name}.ipynb").read_text(encoding="utf-8")
    solution, hidden = _solution_lines(name), _hidden_test_names(name)
    assert len(solution) >= 10 and len(hidden) >= 4  # the check below has something to find
    assert [m for m in MARKERS if m in text] == []
    assert [line for line in solution if line in text] == []
    assert [h for h in hidden if h in text] == []
    # ... while the reference notebook still has the solutions (the grep is meaningful)
    reference = (dist / name / "autograder" / f"{name}.ipynb").read_text(encoding="utf-8")
    assert sum(json.dumps(line)[1:-1] in reference for line in solution) >= len(solution) // 2
