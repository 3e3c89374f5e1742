"""Tests of the course assignments (assignments/, otter-grader).

For every assignment the generator ``assignments/build.py`` is run once into a temporary
folder; then

1. the reference solution notebook (the autograder version) is graded with ``otter run``
   and must get full marks on every autograded question;
2. the unmodified student notebook is graded the same way: the grader must finish and
   give zero points on every autograded question;
3. the student notebook must contain no solution code, no hidden test and no otter marker;
4. variants of the reference solution show the intended grade: answers that wrap the
   library's reference functions (direct call, module alias, importlib, copied function
   object) score 0 on those questions; numpy-bool and array-based answers get full marks; a
   missing tie check or a missing InfeasibleError costs exactly the test that checks it;
5. the autograder zip carries the grading environment (Python 3.11, otter-grader with its
   grading extras, numpy, scipy, cvxpy, clarabel, torch 2.13.0 and the library's wheel), and
   a fresh virtual environment built from the zip alone (``test_zip_alone_*``; no repository
   on the path) grades the reference solutions with full marks and the student notebooks
   with zero;
6. the batch grader ``assignments/grade.py`` writes one gradebook CSV for three submissions.

Each notebook is graded once (module-scoped fixtures, two gradings in parallel) and the
assertions run on the parsed ``results.json`` of all questions.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
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
MARKERS = ("BEGIN SOLUTION", "END SOLUTION", "BEGIN TEST CONFIG", "hidden: true", "# BEGIN QUESTION", "ASSIGNMENT CONFIG")
TIMEOUT = 600

pytestmark = pytest.mark.slow  # ~15 min wall on the shared 2-core machine: 20 notebook gradings and a fresh venv


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


def _grade(dist: Path, name: str, notebook: Path, tag: str, python: str = sys.executable,
           env: dict | None = None) -> dict[str, tuple[float, float]]:
    """Grade ``notebook`` with ``otter run`` (no container, no installation) of ``python``;
    return {question: (score, max_score)}."""
    out = dist / f"results-{name}-{tag}"
    out.mkdir()
    zip_path = dist / name / "autograder" / f"{name}-autograder.zip"
    proc = subprocess.run(
        [python, "-m", "otter", "run", "--no-logo", "-a", str(zip_path), "-o", str(out), str(notebook)],
        capture_output=True, text=True, timeout=TIMEOUT, cwd=out, env=env,
    )
    assert proc.returncode == 0, f"otter run crashed on {notebook}:\n{proc.stdout}\n{proc.stderr}"
    results = json.loads((out / "results.json").read_text())
    return {t["name"]: (t["score"], t["max_score"]) for t in results["tests"] if t.get("max_score") is not None}


def _questions(name: str, manual: bool = False) -> list[str]:
    """Names of the autograded (or, with ``manual``, the written) questions of the source notebook."""
    nb = nbformat.read(ASSIGNMENTS / name / f"{name}.ipynb", as_version=4)
    names = []
    for cell in nb.cells:
        if cell.cell_type == "raw" and cell.source.lstrip().startswith("# BEGIN QUESTION"):
            if ("manual: true" in cell.source) == manual:
                names.append(next(l.split(":", 1)[1].strip() for l in cell.source.splitlines() if l.startswith("name:")))
    return names


@pytest.fixture(scope="module")
def grades(dist) -> dict[tuple[str, str], dict[str, tuple[float, float]]]:
    """Grade the reference ("solution") and blank ("student") notebook of every assignment,
    and the variants of VARIANTS, two gradings at a time (the machine has 2 cores)."""
    jobs = {
        (n, tag): dist / n / folder / f"{n}.ipynb"
        for n in NAMES
        for tag, folder in (("solution", "autograder"), ("student", "student"))
    }
    for (n, tag), variant in VARIANTS.items():
        jobs[(n, tag)] = _variant_notebook(dist, n, tag, variant["code"])
    with ThreadPoolExecutor(max_workers=2) as pool:
        futures = {key: pool.submit(_grade, dist, key[0], nb, key[1]) for key, nb in jobs.items()}
        return {key: f.result() for key, f in futures.items()}


# Variants of the reference solution: after the solution cell that defines the function named
# by the key, a cell redefining some answers is inserted. "expected" is the intended grade of
# the changed questions (every other question keeps full marks).
VARIANTS = {
    ("part1-att-svm", "library-wrappers"): {
        "code": {
            # copied function objects (types.FunctionType / copy.copy of the reference)
            "token_scores": """
import copy, types
_scores_copy = types.FunctionType(tokens.token_scores.__code__, tokens.token_scores.__globals__)
_optimal_copy = copy.copy(tokens.optimal_tokens)
def token_scores(X, Y, v):
    return _scores_copy(X, Y, v)
def optimal_tokens(scores):
    return _optimal_copy(scores)
""",
            # module alias
            "constraint_features": """
import tfsvm.svm as S
def constraint_features(X, Z, alpha):
    F_rows, rows = S.att_features(X, Z, alpha)
    n, T, d = np.shape(X)
    F = np.zeros((n, T, d, d))
    F[rows[:, 0], rows[:, 1]] = F_rows
    return F
""",
            # importlib
            "att_svm_cvxpy": """
import importlib
def att_svm_cvxpy(X, Z, alpha):
    return importlib.import_module("tfsvm.svm").att_svm(X, Z, alpha)
""",
        },
        "expected": {"q1_scores": 0.0, "q2_features": 0.0, "q3_cvxpy": 0.0},
    },
    ("part1-att-svm", "fairness"): {
        "code": {
            # no tie check: loses the hidden test that checks it (half of the points)
            "token_scores": """
def optimal_tokens(scores):
    return np.argmax(np.asarray(scores), axis=-1)
""",
            # no InfeasibleError: loses the hidden test that checks it
            "att_svm_cvxpy": """
def att_svm_cvxpy(X, Z, alpha):
    F = constraint_features(X, Z, alpha)
    n, T, d = np.shape(X)
    keep = np.ones((n, T), dtype=bool)
    keep[np.arange(n), np.asarray(alpha)] = False
    W = cp.Variable((d, d))
    cp.Problem(cp.Minimize(cp.sum_squares(W)), [F[keep].reshape(-1, d * d) @ cp.vec(W, order="C") >= 1]).solve(solver=cp.CLARABEL)
    return W.value
""",
            # numpy booleans are correct answers
            "features_independent": """
def features_independent(X, Z, alpha):
    n, T, d = np.shape(X)
    keep = np.ones((n, T), dtype=bool)
    keep[np.arange(n), np.asarray(alpha)] = False
    A = constraint_features(X, Z, alpha)[keep].reshape(-1, d * d)
    return np.linalg.matrix_rank(A) == A.shape[0]
def all_selections_separable(X, Z):
    n, T, _ = np.shape(X)
    return np.all([features_independent(X, Z, np.array(a)) for a in itertools.product(range(T), repeat=n)])
""",
        },
        "expected": {"q1_scores": 1.5, "q3_cvxpy": 1.5, "q5_feasibility": 3.0},
    },
    ("part2-gd-convergence", "library-wrappers"): {
        "code": {
            # direct call
            "grad_W": """
from tfsvm import gradients
def grad_W(X, Z, Y, v, W):
    return gradients.grad_W(X, Z, Y, v, W, loss="logistic")
""",
            # module alias
            "classify": """
import tfsvm.tokens as T_
def classify(X, Z, scores, probs_final):
    return T_.classify_run(X, Z, scores, probs_final)
""",
            # importlib
            "check_b2": """
import importlib
def check_b2(scores, tol=1e-12):
    return bool(importlib.import_module("tfsvm.tokens").assumption_b2(scores, tol))
def check_c(X, Z, Y, v):
    return bool(importlib.import_module("tfsvm.tokens").assumption_c(X, Z, Y, v).holds)
""",
        },
        "expected": {"q1_gradient": 0.0, "q4_classify": 0.0, "q5_assumptions": 0.0},
    },
    ("part2-gd-convergence", "fairness"): {
        "code": {
            # array methods on the scores (the tests pass arrays) and numpy booleans
            "check_b2": """
def check_b2(scores, tol=1e-12):
    rest = scores.copy()
    rest[np.arange(scores.shape[0]), scores.argmax(axis=1)] = np.nan
    return np.all(np.nanmax(rest, axis=1) - np.nanmin(rest, axis=1) <= tol)
""",
        },
        "expected": {"q5_assumptions": 3.0},
    },
    ("part3-beyond-linear", "library-wrappers"): {
        "code": {
            # importlib
            "project_to_simplex": """
import importlib
def project_to_simplex(y):
    return importlib.import_module("tfsvm.heads").project_to_simplex(y)
def selected_count(gamma, lam):
    lh = importlib.import_module("tfsvm.experiments.lambda_head")
    return int(np.sum(lh.lemma6_oracle(gamma, lam) > 1e-12))
def lemma6_interval(gamma, tau):
    lo, hi = importlib.import_module("tfsvm.experiments.lambda_head").tau_interval(gamma, tau)
    return float(lo), float(hi)
""",
            # direct call
            "causal_svm_cvxpy": """
def causal_svm_cvxpy(X, Z, alpha):
    return svm.causal_svm(X, Z, alpha)
""",
            # module alias
            "p_svm_cvxpy": """
import tfsvm.svm as SV
def p_svm_cvxpy(keys, alpha, relaxed=None):
    return SV.p_svm(keys, alpha, relaxed)
""",
            # the reference object bound to another name
            "joint_svms": """
_joint = svm.joint_p_svm
def joint_svms(X, Y, alpha):
    sol = _joint(X, Y, alpha)
    return sol.p, sol.v, sol.support
""",
        },
        "expected": {"q1_lambda_head": 0.0, "q3_causal_svm": 0.0, "q4_p_svm": 0.0, "q5_joint": 0.0},
    },
}


def _variant_notebook(dist: Path, name: str, tag: str, code: dict[str, str]) -> Path:
    """The reference notebook with a cell ``code[f]`` inserted after the cell defining ``f``."""
    nb = nbformat.read(dist / name / "autograder" / f"{name}.ipynb", as_version=4)
    for function, source in code.items():
        (i,) = [k for k, c in enumerate(nb.cells) if c.cell_type == "code" and f"def {function}(" in c.source]
        nb.cells.insert(i + 1, nbformat.v4.new_code_cell(source.strip()))
    path = dist / "variants" / f"{name}-{tag}.ipynb"
    path.parent.mkdir(exist_ok=True)
    nbformat.write(nb, path)
    return path


@pytest.mark.parametrize("key", sorted(VARIANTS), ids=["-".join(k) for k in sorted(VARIANTS)])
def test_variant_submissions_get_the_intended_grade(grades, key):
    name = key[0]
    got = grades[key]
    expected = {q: maximum for q, (_, maximum) in grades[(name, "solution")].items()}
    expected.update(VARIANTS[key]["expected"])
    assert {q: score for q, (score, _) in got.items()} == expected


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


# --- the grading environment shipped in the autograder zip ----------------------------------

def _zip_pip_requirements(zip_path: Path) -> tuple[list[str], list[str]]:
    """(conda dependencies, pip requirements) of the zip's environment.yml."""
    import yaml

    with zipfile.ZipFile(zip_path) as zf:
        env = yaml.safe_load(zf.read("environment.yml"))
    conda = [d for d in env["dependencies"] if isinstance(d, str)]
    (pip,) = [d["pip"] for d in env["dependencies"] if isinstance(d, dict)]
    return conda, pip


@pytest.mark.parametrize("name", NAMES)
def test_autograder_zip_lists_the_grading_environment_and_ships_the_library(dist, name):
    from importlib.metadata import version

    zip_path = dist / name / "autograder" / f"{name}-autograder.zip"
    conda, pip = _zip_pip_requirements(zip_path)
    assert "python=3.11" in conda
    wheels = [r for r in pip if r.startswith("files/tfsvm-") and r.endswith(".whl")]
    assert len(wheels) == 1, pip
    names = {r.split("[")[0].split("=")[0].split(">")[0] for r in pip if r not in wheels}
    assert names == {"otter-grader", "numpy", "scipy", "cvxpy", "clarabel", "torch"}
    assert f"otter-grader[grading]=={version('otter-grader')}" in pip
    assert "torch==2.13.0" in pip
    with zipfile.ZipFile(zip_path) as zf:
        assert wheels[0] in zf.namelist()
        with zf.open(wheels[0]) as fh, zipfile.ZipFile(fh) as wheel:
            shipped = set(wheel.namelist())
    library = {str(p.relative_to(ROOT / "lib")) for p in (ROOT / "lib" / "tfsvm").rglob("*.py")}
    assert library <= shipped, sorted(library - shipped)


@pytest.fixture(scope="module")
def zip_venv(dist, tmp_path_factory) -> tuple[str, dict]:
    """A fresh virtual environment built from the autograder zip alone: its pip requirements
    (the same for every assignment, checked here), installed from the unzipped folder, with
    torch constrained to the CPU build of constraints.txt. One venv for all zips; pip's cache
    makes rebuilds cheap. Returns (python, environment without PYTHONPATH)."""
    reqs = {n: _zip_pip_requirements(dist / n / "autograder" / f"{n}-autograder.zip")[1] for n in NAMES}
    assert len({tuple(r) for r in reqs.values()}) == 1, reqs
    folder = tmp_path_factory.mktemp("zip-alone")
    with zipfile.ZipFile(dist / NAMES[0] / "autograder" / f"{NAMES[0]}-autograder.zip") as zf:
        zf.extractall(folder / "source")
    (folder / "source" / "requirements.txt").write_text("\n".join(reqs[NAMES[0]]) + "\n")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    venv = folder / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=TIMEOUT, env=env)
    python = str(venv / "bin" / "python")
    proc = subprocess.run(
        [python, "-m", "pip", "install", "--quiet", "-r", "requirements.txt", "-c", str(ROOT / "constraints.txt")],
        capture_output=True, text=True, timeout=3600, cwd=folder / "source", env=env,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    probe = subprocess.run([python, "-c", "import tfsvm, torch; print(tfsvm.__file__, torch.__version__)"],
                           capture_output=True, text=True, timeout=TIMEOUT, cwd=folder, env=env)
    assert str(venv) in probe.stdout and "2.13.0" in probe.stdout, probe.stdout + probe.stderr
    return python, env


@pytest.fixture(scope="module")
def zip_alone_grades(dist, zip_venv) -> dict[tuple[str, str], dict[str, tuple[float, float]]]:
    python, env = zip_venv
    jobs = {(n, tag): dist / n / folder / f"{n}.ipynb"
            for n in NAMES for tag, folder in (("solution", "autograder"), ("student", "student"))}
    with ThreadPoolExecutor(max_workers=2) as pool:
        futures = {key: pool.submit(_grade, dist, key[0], nb, f"zip-alone-{key[1]}", python, env) for key, nb in jobs.items()}
        return {key: f.result() for key, f in futures.items()}


@pytest.mark.parametrize("name", NAMES)
def test_zip_alone_grades_the_reference_with_full_marks_and_the_blank_notebook_with_zero(zip_alone_grades, name):
    solution, student = zip_alone_grades[(name, "solution")], zip_alone_grades[(name, "student")]
    assert sorted(solution) == sorted(student) == sorted(_questions(name))
    assert all(score == maximum > 0 for score, maximum in solution.values()), solution
    assert all(score == 0 for score, _ in student.values()), student


# --- notebook text: written answers, one submission heading, the book's part titles -----------

@pytest.mark.parametrize("name", NAMES)
def test_written_prompts_have_manual_questions_with_model_answers_only_for_instructors(dist, name):
    manual = _questions(name, manual=True)
    expected = {"part1-att-svm": 1, "part2-gd-convergence": 2, "part3-beyond-linear": 0}[name]
    assert len(manual) == expected
    student = (dist / name / "student" / f"{name}.ipynb").read_text(encoding="utf-8")
    reference = (dist / name / "autograder" / f"{name}.ipynb").read_text(encoding="utf-8")
    assert student.count("Model answer") == 0 and reference.count("**Model answer.**") == expected
    assert reference.count("**Rubric (") == expected
    assert student.count("_Type your answer here, replacing this text._") == expected


@pytest.mark.parametrize("name", NAMES)
def test_student_notebook_has_one_submission_heading_defines_b_and_uses_the_books_part_title(dist, name):
    import yaml

    nb = nbformat.read(dist / name / "student" / f"{name}.ipynb", as_version=4)
    markdown = [c.source for c in nb.cells if c.cell_type == "markdown"]
    assert sum(line.strip() == "## Submission" for text in markdown for line in text.splitlines()) == 1
    assert "**B** = *Max-Margin Token Selection in Attention Mechanism*" in markdown[0]
    part = {"part1-att-svm": "Part I:", "part2-gd-convergence": "Part II:", "part3-beyond-linear": "Part III:"}[name]
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    (caption,) = [p["caption"] for p in toc["parts"] if p["caption"].startswith(part)]
    assert f'*Book part: "{caption}".*' in markdown[0]


# --- batch grading -------------------------------------------------------------------------

def test_batch_grading_writes_one_gradebook_for_three_submissions(dist, tmp_path):
    name = NAMES[0]
    subs = tmp_path / "submissions"
    subs.mkdir()
    shutil.copy(dist / name / "autograder" / f"{name}.ipynb", subs / "alice.ipynb")
    shutil.copy(dist / name / "student" / f"{name}.ipynb", subs / "bob.ipynb")
    shutil.copy(_variant_notebook(dist, name, "batch", VARIANTS[(name, "fairness")]["code"]), subs / "carol.ipynb")
    zip_path = dist / name / "autograder" / f"{name}-autograder.zip"
    proc = subprocess.run(
        [sys.executable, str(ASSIGNMENTS / "grade.py"), "--assignment", name, "--zip", str(zip_path), "--out", str(tmp_path / "out"), str(subs)],
        capture_output=True, text=True, timeout=3 * TIMEOUT,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for student in ("alice", "bob", "carol"):
        assert (tmp_path / "out" / student / "results.json").is_file()
    with (tmp_path / "out" / "gradebook.csv").open() as fh:
        rows = {r["submission"]: r for r in csv.DictReader(fh)}
    assert sorted(rows) == ["alice", "bob", "carol"]
    assert [float(rows[s]["autograded_total"]) for s in ("alice", "bob", "carol")] == [15.0, 0.0, 12.0]
    assert {float(r["autograded_max"]) for r in rows.values()} == {15.0}
    assert "q5b_explain (manual)" in rows["alice"] and rows["alice"]["q5b_explain (manual)"] == ""


# --- one student set-up command; the student pages under "Courses" ---------------------------

SETUP_COMMAND = 'pip install "tfsvm[assignments] @ git+https://github.com/tfsvm-book/transformers-as-svms"'


def test_one_setup_command_everywhere_and_the_assignments_extra():
    import tomllib

    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    names = {s.split(">")[0].split("=")[0].split("<")[0] for s in extras["assignments"]}
    assert names == {"otter-grader", "notebook", "jupyterlab"}
    for page in ("book/assignments.md", "assignments/README.md", "README.md", "book/teaching.md"):
        assert SETUP_COMMAND in (ROOT / page).read_text(), page
    for name in NAMES:
        nb = nbformat.read(ASSIGNMENTS / name / f"{name}.ipynb", as_version=4)
        (setup,) = [c.source for c in nb.cells if c.cell_type == "code" and "google.colab" in c.source]
        assert f"SETUP = '{SETUP_COMMAND}'" in setup and f'otter.Notebook("{name}.ipynb")' in setup
    assert "pip install -e ." not in (ROOT / "book/assignments.md").read_text().replace('pip install -e ".[assignments]"', "")


def test_student_and_teaching_pages_form_the_courses_part():
    import yaml

    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    parts = {p["caption"]: [c["file"] for c in p["chapters"]] for p in toc["parts"]}
    assert parts["Courses"] == ["book/assignments", "book/teaching"]
    assert "For instructors" not in parts
