"""Grade a folder of submissions of one assignment locally and write one gradebook CSV.

``otter grade`` needs Docker; this script loops ``otter run`` (no container, no installation:
the current environment must have the library, see assignments/README.md) over every
``*.ipynb`` / ``*.zip`` in the submissions folder, grades each into its own folder
``<out>/<submission stem>/results.json`` and writes ``<out>/gradebook.csv`` with one row per
submission: the autograded points per question, the total, the maximum, and an empty column per
manually graded question (to be filled in from the notebooks).

WARNING: ``otter run`` executes the students' code unsandboxed, with your permissions. Use it
only for code you trust (or inside a throw-away VM / container); for untrusted code use the
container route (Gradescope or ``otter grade``).

Usage::

    python assignments/grade.py --assignment part1-att-svm SUBMISSIONS [--out DIR]
    make grade ASSIGNMENT=part1-att-svm SUBMISSIONS=dir

The autograder zip is read from ``assignments/dist/<assignment>/autograder/`` (``make
assignments`` writes it) unless ``--zip`` is given.
"""

from __future__ import annotations

import argparse
import csv
import json
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def manual_questions(assignment: str) -> list[str]:
    """Names of the manually graded (written) questions of an assignment, from its source
    notebook ``assignments/<name>/<name>.ipynb`` (raw cells ``# BEGIN QUESTION`` with
    ``manual: true``), in notebook order."""
    source = HERE / assignment / f"{assignment}.ipynb"
    names = []
    for cell in json.loads(source.read_text(encoding="utf-8"))["cells"]:
        text = "".join(cell["source"])
        if cell["cell_type"] == "raw" and text.lstrip().startswith("# BEGIN QUESTION") and "manual: true" in text:
            names.append(next(line.split(":", 1)[1].strip() for line in text.splitlines() if line.startswith("name:")))
    return names


def grade_one(zip_path: Path, submission: Path, out: Path, timeout: float = 900) -> dict:
    """``otter run`` one submission into ``out``; return the parsed results.json."""
    out.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "otter", "run", "--no-logo", "-a", str(zip_path), "-o", str(out), str(submission)]
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=out)
    seconds = round(time.perf_counter() - start, 1)
    (out / "otter-run.log").write_text(proc.stdout + proc.stderr, encoding="utf-8")
    if proc.returncode != 0 or not (out / "results.json").is_file():
        return {"error": f"otter run failed (exit {proc.returncode}), see {out / 'otter-run.log'}", "seconds": seconds}
    return {**json.loads((out / "results.json").read_text(encoding="utf-8")), "seconds": seconds}


def scores(results: dict) -> dict[str, tuple[float, float]]:
    """{question: (score, max_score)} of the autograded questions of one results.json."""
    return {t["name"]: (t["score"], t["max_score"]) for t in results.get("tests", []) if t.get("max_score") is not None}


def write_gradebook(rows: list[tuple[str, dict]], manual: list[str], path: Path) -> None:
    """One CSV row per submission: points per question, total, max, manual columns, grading time, error."""
    questions = sorted({q for _, r in rows for q in scores(r)})
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["submission", *questions, "autograded_total", "autograded_max", *(f"{m} (manual)" for m in manual), "grading_seconds", "error"])
        for name, results in rows:
            s = scores(results)
            total = sum(v[0] for v in s.values())
            maximum = sum(v[1] for v in s.values())
            writer.writerow([name, *(s.get(q, (0.0, 0.0))[0] for q in questions), total, maximum, *([""] * len(manual)), results["seconds"], results.get("error", "")])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("submissions", type=Path, help="folder of submitted .ipynb or otter .zip files")
    parser.add_argument("--assignment", required=True, help="assignment name, e.g. part1-att-svm")
    parser.add_argument("--zip", type=Path, help="autograder zip (default: assignments/dist/<name>/autograder/<name>-autograder.zip)")
    parser.add_argument("--out", type=Path, help="output folder (default: <submissions>-graded)")
    args = parser.parse_args(argv)
    if not (HERE / args.assignment / f"{args.assignment}.ipynb").is_file():
        parser.error(f"unknown assignment {args.assignment!r}")
    zip_path = (args.zip or HERE / "dist" / args.assignment / "autograder" / f"{args.assignment}-autograder.zip").resolve()
    if not zip_path.is_file():
        parser.error(f"no autograder zip {zip_path} (run `make assignments` first)")
    submissions = sorted(p for p in args.submissions.iterdir() if p.suffix in (".ipynb", ".zip"))
    if not submissions:
        parser.error(f"no .ipynb or .zip submissions in {args.submissions}")
    out = (args.out or args.submissions.with_name(args.submissions.name + "-graded")).resolve()
    rows = []
    for sub in submissions:
        results = grade_one(zip_path, sub.resolve(), out / sub.stem)
        rows.append((sub.stem, results))
        print(f"{sub.name}: {sum(v[0] for v in scores(results).values())} / {sum(v[1] for v in scores(results).values())}"
              + (f"  ({results['error']})" if "error" in results else ""))
    write_gradebook(rows, manual_questions(args.assignment), out / "gradebook.csv")
    print(f"gradebook: {out / 'gradebook.csv'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
