"""What the grading sandbox costs: one class graded sandboxed and by plain nbgrader, side by side.

16 honest submissions (8 students x lessons 00 and 06, each the instructor's solutions) graded

- *sandboxed*: ``facelib.course.grading.grader.grade(..., jobs=2)``, what ``make grade JOBS=2`` runs
  (every kernel in its own bubblewrap sandbox, private course copies, read-back, feedback);
- *plain*: ``nbgrader autograde`` then ``nbgrader generate_feedback`` with no sandbox, two at a time
  (two course copies, four students each, graded at once), kernels started as nbgrader starts them.

Both sides grade the same notebooks in the same run, plain first (it has no caches to warm for the
other). Writes ``benchmarks/results/grading_overhead.json``. Needs bubblewrap and the assets of
lessons 00 and 06.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import _report
import nbformat

from facelib.course.grading import classroom, grader

RESULTS = Path(__file__).resolve().parent / "results" / "grading_overhead.json"
LESSONS = ["00_setup_check", "06_style_transfer_costs"]
STUDENTS = 8
JOBS = 2


def _solutions(course: Path, stem: str) -> nbformat.NotebookNode:
    """The student copy of ``stem`` with every solution cell as the instructor wrote it."""
    nb = nbformat.read(course / "release" / stem / f"{stem}.ipynb", as_version=4)
    source = nbformat.read(course / "source" / stem / f"{stem}.ipynb", as_version=4)
    solved = {c.metadata.nbgrader["grade_id"]: c.source for c in source.cells
              if c.metadata.get("nbgrader", {}).get("solution")}
    for cell in nb.cells:
        cell.source = solved.get(cell.metadata.get("nbgrader", {}).get("grade_id"), cell.source)
    return nb


def _plain(course: Path, students: list[str], base: Path) -> float:
    """Seconds for plain nbgrader to grade ``students`` on every lesson, ``JOBS`` course copies at once."""
    copies = []
    for i in range(JOBS):
        copy = base / f"plain{i}"
        shutil.copytree(course, copy, ignore=shutil.ignore_patterns("autograded", "feedback", "submitted"))
        for student in students[i::JOBS]:
            for stem in LESSONS:
                folder = copy / "submitted" / student / stem
                folder.mkdir(parents=True)
                nbformat.write(_solutions(course, stem), folder / f"{stem}.ipynb")
        copies.append(copy)
    classroom.with_venv_on_path()
    start = time.perf_counter()
    script = " && ".join(f"{sys.executable} -m nbgrader {step} {stem} --force"
                         for step in ("autograde", "generate_feedback") for stem in LESSONS)
    running = [subprocess.Popen(["sh", "-c", script], cwd=copy, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL) for copy in copies]
    if any(p.wait() for p in running):
        raise RuntimeError("plain nbgrader failed")
    return time.perf_counter() - start


def _sandboxed(course: Path, students: list[str], base: Path) -> tuple[float, list[grader.Result]]:
    submissions = base / "submissions"
    for student in students:
        for stem in LESSONS:
            (submissions / student).mkdir(parents=True, exist_ok=True)
            nbformat.write(_solutions(course, stem), submissions / student / f"{stem}.ipynb")
    start = time.perf_counter()
    results = grader.grade(submissions, jobs=JOBS, stems=LESSONS, course=course, out=base / "grades",
                           work=base / "work")
    return time.perf_counter() - start, results


def main() -> None:
    students = [f"student{i}" for i in range(STUDENTS)]
    with tempfile.TemporaryDirectory(prefix="grading-overhead-") as tmp:
        base = Path(tmp)
        course = base / "course"
        classroom.make_assignments([classroom.ROOT / "notebooks" / f"{stem}.ipynb" for stem in LESSONS],
                                   course=course)
        plain = _plain(course, students, base)
        print(f"plain nbgrader: {plain:.0f} s", flush=True)
        sandboxed, results = _sandboxed(course, students, base)
        print(f"sandboxed: {sandboxed:.0f} s", flush=True)
        wrong = [(r.student, r.notebook, r.total) for r in results if r.total != sum(r.max_points.values())]
        if wrong:
            raise RuntimeError(f"honest students lost points in the sandbox: {wrong}")
    print(f"sandboxed / plain = {sandboxed / plain:.2f}")
    _report.write(RESULTS, {
        "what": f"{STUDENTS} students x {LESSONS}, their solutions, graded with {JOBS} jobs at once",
        "plain_nbgrader_s": round(plain, 1), "sandboxed_s": round(sandboxed, 1),
        "sandboxed_over_plain": round(sandboxed / plain, 3)})


if __name__ == "__main__":
    main()
