"""Classroom: the lessons as nbgrader assignments, and grading a class with nbgrader.

Commands (``python -m facelib.course.grading ...``; ``make assignments`` and ``make grade`` wrap them):

``tag NOTEBOOK...``
    Write nbgrader's cell metadata and the hidden tests into lesson notebooks, derived from their
    markers alone (idempotent: run it again after editing a notebook). A code cell holding
    ``### BEGIN SOLUTION`` becomes an autograded solution cell named after the function it
    defines; the cell marked ``# NBVAL_CHECK_OUTPUT`` that calls ``check_<x>(<fn>)`` on it becomes a
    locked autograded test cell worth 1 point (points already set are kept) and gets a
    ``### BEGIN HIDDEN TESTS`` block (lines an instructor added to it are kept); the cell
    importing the checkers is locked (the test cells need its names). Markdown stays editable:
    changing it cannot change a grade.
``assignments``
    Build the nbgrader course under ``build/course`` from ``data/nbgrader_config.py``: every tagged
    lesson becomes assignment ``<stem>`` (``source/<stem>/<stem>.ipynb``), and
    ``nbgrader generate_assignment`` writes its student copy to ``release/<stem>/``.
``validate [NOTEBOOK...]``
    ``nbgrader validate`` on the source notebooks (every test cell passes with the solutions).
``grade SUBMISSIONS [--jobs N]``
    Autograde every ``SUBMISSIONS/<student>/<stem>.ipynb`` (or ``<student>/<stem>/<stem>.ipynb``, as
    ``nbgrader collect`` leaves them), each in a kernel started by :mod:`facelib.course.grading.sandbox` against a
    read-only copy of facelib, N at a time; write ``build/grades/grades.csv`` and
    ``build/grades/feedback/<student>/<stem>.html``, and record everything in the course gradebook.
"""

from __future__ import annotations

import argparse
import compileall
import copy
import csv
import html
import json
import os
import re
import shutil
import stat
import subprocess
import sys
import time
import warnings
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from facelib.course.runner import notebooks
from facelib.errors import FacelibError

ROOT = Path(__file__).resolve().parents[3]
CONFIG = Path(__file__).resolve().parent / "nbgrader_config.py"
COURSE = ROOT / "build" / "course"
GRADING = ROOT / "build" / "grading"
GRADES = ROOT / "build" / "grades"
KERNEL = "facelib-grader"
_JOB_CONFIG = """
# Added by `python -m facelib.course.grading grade`: a kernel that dies costs only the cell that killed it.
from nbgrader.converters import Autograde
from nbgrader.preprocessors import Execute
from facelib.course.grading.autograde import RestartingExecute
c.Autograde.autograde_preprocessors = [RestartingExecute if p is Execute else p
                                       for p in Autograde.class_traits()["autograde_preprocessors"].default()]
"""

BEGIN, END = "### BEGIN SOLUTION", "### END SOLUTION"
HIDDEN_BEGIN, HIDDEN_END = "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS"
CHECK_MARK = "# NBVAL_CHECK_OUTPUT"
_HIDDEN_IMPORT = "from facelib.course.checks import run_hidden"
_CHECK_CALL = re.compile(r"^[ \t]*(?:[\w.]+\.)?(check_\w+)\((\w+)((?:,[^()\n]*)?)\)", re.MULTILINE)
_DEF = re.compile(r"^def (\w+)\(", re.MULTILINE)
_HIDDEN_BLOCK = re.compile(rf"\n*^{HIDDEN_BEGIN}$.*?^{HIDDEN_END}$\n?", re.DOTALL | re.MULTILINE)
_IMPORTS_CHECKS = re.compile(r"^\s*(from facelib\.course\.checks\b|from facelib\.course import .*\bchecks\b"
                             r"|import facelib\.course\.checks)",
                             re.MULTILINE)


# -- tagging ----------------------------------------------------------------------------------------
def _meta(grade_id: str, *, solution: bool = False, grade: bool = False, locked: bool = False,
          points: float | None = None) -> dict:
    meta = {"grade": grade, "grade_id": grade_id, "locked": locked, "schema_version": 3,
            "solution": solution, "task": False}
    if grade:
        meta["points"] = points
    return meta


def hidden_block(calls: list[tuple[str, str, str]], own: list[str] = ()) -> str:
    """The hidden-tests block for a test cell that calls ``checker(function<rest>)`` for each triple,
    followed by the instructor's ``own`` lines."""
    lines = [HIDDEN_BEGIN, _HIDDEN_IMPORT]
    lines += [f'run_hidden("{checker}", {function}{rest})' for checker, function, rest in calls]
    return "\n".join([*lines, *own, HIDDEN_END])


def _own_hidden_lines(source: str) -> list[str]:
    """Lines an instructor added to a test cell's hidden block (everything ``tag`` did not write)."""
    match = _HIDDEN_BLOCK.search(source)
    body = match[0].strip("\n").splitlines()[1:-1] if match else []
    return [line for line in body if line != _HIDDEN_IMPORT and not line.startswith("run_hidden(")]


def tag_notebook(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """A copy of ``nb`` with nbgrader metadata and hidden tests derived from its markers.

    Raises
    ------
    FacelibError
        If a graded function has no test cell, or markers are unbalanced.
    """
    nb = copy.deepcopy(nb)
    graded: set[str] = set()     # every function a solution cell defines (a test cell may check any)
    required: list[str] = []     # the first function of each solution cell, which must be checked
    for cell in nb.cells:
        old = cell.metadata.pop("nbgrader", {})
        if not cell.get("id"):
            raise FacelibError("A cell has no id: open and save the notebook with JupyterLab 4 (nbformat 4.5).")
        source = cell.source
        if cell.cell_type != "code":
            if any(marker in source for marker in ("BEGIN SOLUTION", "END SOLUTION", "HIDDEN TESTS")):
                raise FacelibError(f"{cell.cell_type} cell {cell.id} names an nbgrader marker (BEGIN SOLUTION, "
                                   "END SOLUTION or HIDDEN TESTS): nbgrader would cut the text there; reword it.")
            continue
        elif BEGIN in source or END in source:
            if source.count(BEGIN) != source.count(END):
                raise FacelibError(f"Unbalanced solution markers in cell {cell.id}:\n{source[:200]}")
            names = _DEF.findall(source)
            graded.update(names)
            required += names[:1]
            cell.metadata["nbgrader"] = _meta(names[0] if names else f"solution-{cell.id}", solution=True)
        elif CHECK_MARK in source and any(f in graded for _, f, _ in _CHECK_CALL.findall(source)):
            calls = [call for call in _CHECK_CALL.findall(source) if call[1] in graded]
            visible = _HIDDEN_BLOCK.sub("", source).rstrip("\n")
            cell.source = f"{visible}\n{hidden_block(calls, _own_hidden_lines(source))}"
            cell.metadata["nbgrader"] = _meta(f"test_{calls[0][1]}", grade=True, locked=True,
                                              points=old.get("points") or 1)
        elif _IMPORTS_CHECKS.search(source):
            cell.metadata["nbgrader"] = _meta(f"setup-{cell.id}", locked=True)
    tested = {f for c in nb.cells if "nbgrader" in c.metadata and c.metadata.nbgrader["grade"]
              for _, f, _ in _CHECK_CALL.findall(c.source)}
    if untested := [f for f in required if f not in tested]:
        raise FacelibError(f"Graded functions without a check cell (# NBVAL_CHECK_OUTPUT + check_x(fn)): "
                           f"{', '.join(untested)}")
    return nb


def tag(paths: list[Path], check: bool = False) -> list[Path]:
    """Tag notebooks in place; with ``check`` only list those that are not tagged up to date."""
    changed = []
    for path in paths:
        nb = nbformat.read(path, as_version=4)
        tagged = tag_notebook(nb)
        if tagged != nb:
            changed.append(path)
            if not check:
                nbformat.write(tagged, path)
    return changed


# -- the course: source, release, validate ---------------------------------------------------------
def _with_venv_on_path() -> None:
    """nbgrader's gradebook runs ``alembic``, which sits beside this interpreter."""
    bin_dir = str(Path(sys.executable).parent)
    if bin_dir not in os.environ.get("PATH", "").split(os.pathsep):
        os.environ["PATH"] = os.pathsep.join([bin_dir, os.environ.get("PATH", "")])


def nbgrader(*args: str, course: Path = COURSE, env: dict | None = None, check: bool = True,
             log: Path | None = None) -> subprocess.CompletedProcess:
    """Run ``nbgrader ARGS`` in the course folder (so its ``nbgrader_config.py`` applies)."""
    _with_venv_on_path()
    with open(log or os.devnull, "w") as out:
        result = subprocess.run([sys.executable, "-m", "nbgrader", *args], cwd=course, env=env,
                                stdout=out, stderr=subprocess.STDOUT, text=True)
    if check and result.returncode:
        detail = log.read_text()[-3000:] if log else ""
        raise FacelibError(f"nbgrader {' '.join(args)} failed (exit {result.returncode}) in {course}\n{detail}")
    return result


def make_assignments(paths: list[Path] | None = None, course: Path = COURSE) -> list[Path]:
    """Build the course from the tagged lessons; returns the release (student) notebooks.

    Raises
    ------
    FacelibError
        If a lesson is not tagged up to date (run ``python -m facelib.course.grading tag``).
    """
    paths = paths or notebooks()
    if stale := tag(paths, check=True):
        raise FacelibError(f"Not tagged up to date: {', '.join(p.name for p in stale)}. Run "
                           "`python -m facelib.course.grading tag notebooks/*.ipynb` and commit the notebooks.")
    course.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(CONFIG, course / "nbgrader_config.py")
    released = []
    for path in paths:
        source = course / "source" / path.stem
        source.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, source / path.name)
        log = course / "logs" / f"generate_{path.stem}.log"
        log.parent.mkdir(exist_ok=True)
        nbgrader("generate_assignment", path.stem, "--force", course=course, log=log)
        released.append(course / "release" / path.stem / path.name)
        graded = sum(bool(c.metadata.get("nbgrader", {}).get("grade")) for c in nbformat.read(path, 4).cells)
        print(f"{path.name}: {graded} autograded exercises -> {released[-1].relative_to(ROOT)}", flush=True)
    return released


def validate(paths: list[Path] | None = None, course: Path = COURSE) -> None:
    """``nbgrader validate`` each source notebook: every test cell must pass with the solutions.

    Raises
    ------
    FacelibError
        Naming the notebooks that fail, with nbgrader's report.
    """
    course.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(CONFIG, course / "nbgrader_config.py")
    failed = []
    for path in paths or notebooks():
        start = time.perf_counter()
        log = course / "logs" / f"validate_{path.stem}.log"
        log.parent.mkdir(exist_ok=True)
        result = nbgrader("validate", str(path.resolve()), course=course, check=False, log=log)
        report = log.read_text()
        ok = result.returncode == 0 and "Success! Your notebook passes all the tests." in report
        print(f"{path.name}: nbgrader validate {'passed' if ok else 'FAILED'} "
              f"in {time.perf_counter() - start:.0f} s", flush=True)
        if not ok:
            failed.append(f"{path.name}:\n{report[-2000:]}")
    if failed:
        raise FacelibError("nbgrader validate failed:\n" + "\n".join(failed))


# -- grading ---------------------------------------------------------------------------------------
@dataclass
class Result:
    """One student's grade on one notebook."""

    student: str
    notebook: str
    points: dict[str, float]              # test cell grade_id -> points scored
    max_points: dict[str, float]
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0
    autograded: bool = False              # nbgrader graded it (its feedback is nbgrader's)

    @property
    def total(self) -> float:
        return sum(self.points.values())


def _exercises(release: Path) -> dict[str, float]:
    """Test cell grade_id -> points, in notebook order."""
    return {c.metadata.nbgrader["grade_id"]: float(c.metadata.nbgrader["points"])
            for c in nbformat.read(release, as_version=4).cells
            if c.metadata.get("nbgrader", {}).get("grade")}


def find_submission(folder: Path, stem: str) -> Path | None:
    """``folder/<stem>.ipynb`` or ``folder/<stem>/<stem>.ipynb`` (nbgrader's collected layout)."""
    for path in (folder / f"{stem}.ipynb", folder / stem / f"{stem}.ipynb"):
        if path.is_file():
            return path
    return None


def restore_cells(submitted: nbformat.NotebookNode, release: nbformat.NotebookNode) -> list[str]:
    """Put back, in place, every nbgrader cell of ``release`` that ``submitted`` lacks; name the graded ones.

    A missing cell goes right after the nearest earlier release cell still there (found by its
    nbgrader name or its cell id). Edited locked cells need no help: nbgrader overwrites them from
    the gradebook.
    """
    def keys(cell) -> set:
        return {cell.get("id"), cell.metadata.get("nbgrader", {}).get("grade_id")} - {None}

    restored = []
    for i, cell in enumerate(release.cells):
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if grade_id is None or any(grade_id in keys(c) for c in submitted.cells):
            continue
        position = 0
        for earlier in reversed(release.cells[:i]):
            found = [k for k, c in enumerate(submitted.cells) if keys(c) & keys(earlier)]
            if found:
                position = found[0] + 1
                break
        submitted.cells.insert(position, copy.deepcopy(cell))
        if cell.metadata.nbgrader.get("grade") or cell.metadata.nbgrader.get("solution"):
            restored.append(grade_id)
    return restored


def edited_locked_cells(submitted: nbformat.NotebookNode, release: nbformat.NotebookNode) -> list[str]:
    """grade_ids of locked code cells whose source the student changed (nbgrader restores them)."""
    original = {c.metadata.nbgrader["grade_id"]: c.source for c in release.cells
                if c.cell_type == "code" and c.metadata.get("nbgrader", {}).get("locked")}
    return [gid for c in submitted.cells if (gid := c.metadata.get("nbgrader", {}).get("grade_id")) in original
            and c.source.strip() != original[gid].strip()]


def _make_read_only_copy(dest: Path) -> Path:
    """Copy facelib (with its package data) to ``dest``, compiled, with every write bit cleared."""
    _remove_tree(dest)
    shutil.copytree(Path(__file__).resolve().parents[2], dest / "facelib", ignore=shutil.ignore_patterns("__pycache__"))
    compileall.compile_dir(dest / "facelib", quiet=1)
    for path in sorted(dest.rglob("*"), reverse=True):
        path.chmod(0o555 if path.is_dir() else 0o444)
    dest.chmod(0o555)
    return dest


def _remove_tree(path: Path) -> None:
    if path.exists():
        for sub in (path, *path.rglob("*")):
            if sub.is_dir() and not sub.is_symlink():
                sub.chmod(sub.stat().st_mode | stat.S_IWUSR | stat.S_IXUSR)
        shutil.rmtree(path)


def _check_user_can_run_python(user: str) -> None:
    """Fail early, with what to do, when kernels could not start as ``user``."""
    if os.geteuid() != 0:
        return
    import pwd

    try:
        gid = pwd.getpwnam(user).pw_gid
        probe = subprocess.run([sys.executable, "-c", "import facelib"], user=user, group=gid, extra_groups=[],
                               capture_output=True, text=True, cwd="/",
                               env={"PYTHONPATH": str(GRADING / "lib"), "PATH": os.environ.get("PATH", "")})
        problem = probe.stderr.strip()[-300:] if probe.returncode else None
    except (KeyError, OSError) as error:
        problem = str(error)
    if problem:
        raise FacelibError(
            f"The grading user {user!r} cannot start {sys.executable} ({problem}). Make the folders above the "
            "interpreter and the checkout traversable (chmod o+x), or pass an existing user with --user.")


def _reason(cell: nbformat.NotebookNode, timeout: int, memory_gb: float) -> str | None:
    for out in cell.get("outputs", []):
        if out.output_type != "error":
            continue
        if out.ename in ("CellTimeoutError", "KeyboardInterrupt"):  # the grader interrupts a cell at the limit
            return f"stopped after the time limit of {timeout} s per cell"
        if out.ename == "MemoryError":
            return f"ran out of memory (limit {memory_gb:g} GB per kernel)"
        if out.ename == "DeadKernelError":
            return "the kernel died in this exercise (it was restarted for the ones after it)"
        return f"{out.ename}: {out.evalue}".strip()[:400]
    return None


def _explain(result: Result, graded: Path, timeout: int, memory_gb: float) -> None:
    """Add one note per exercise that lost points: the first error of its solution or test cell."""
    nb = nbformat.read(graded, as_version=4)
    cells = {c.metadata.get("nbgrader", {}).get("grade_id"): c for c in nb.cells}
    for gid, got in result.points.items():
        if got >= result.max_points[gid]:
            continue
        function = gid.removeprefix("test_")
        reasons = [_reason(cells[k], timeout, memory_gb) for k in (function, gid) if k in cells]
        reason = next((r for r in reasons if r), "the test cell did not pass")
        result.notes.append(f"{function}: 0 points: {reason}")


def _grade_one(student: str, stem: str, submission: Path, release: Path, lib: Path, timeout: int,
               memory_gb: float, user: str) -> tuple[Result, Path]:
    """Autograde one notebook in a private copy of the course; returns the result and that folder."""
    exercises = _exercises(release)
    result = Result(student, stem, dict.fromkeys(exercises, 0.0), exercises)
    job = GRADING / "jobs" / student / stem
    _remove_tree(job)
    submitted = job / "submitted" / student / stem
    submitted.mkdir(parents=True)
    (job / "source" / stem).mkdir(parents=True)
    (job / "nbgrader_config.py").write_text((COURSE / "nbgrader_config.py").read_text() + _JOB_CONFIG)
    shutil.copyfile(COURSE / "gradebook.db", job / "gradebook.db")
    release_nb = nbformat.read(release, as_version=4)
    try:  # whatever is wrong with the file is the student's problem, never the grader's
        nb = nbformat.read(submission, as_version=4)
        notes = [f"the locked cell {gid} was edited: graded with the original"
                 for gid in edited_locked_cells(nb, release_nb)]
        notes += [f"the cell {gid} was deleted: graded with the original put back"
                  for gid in restore_cells(nb, release_nb)]
        nbformat.write(nb, submitted / f"{stem}.ipynb")
    except Exception as error:
        result.notes.append(f"the notebook could not be read ({type(error).__name__}: {str(error)[:200]}): "
                            "every exercise 0 points")
        return result, job
    result.notes += notes
    spec = job / "jupyter" / "kernels" / KERNEL
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "facelib.course.grading.sandbox", "--memory-gb", str(memory_gb), "--user", user,
                 "--home", str(job / "home"), "-f", "{connection_file}"],
        "display_name": "facelib grading sandbox", "language": "python",
        "env": {"PYTHONPATH": str(lib)}}))
    _with_venv_on_path()
    env = {**os.environ, "JUPYTER_PATH": str(job / "jupyter")}
    env.pop("PYTHONPATH", None)
    grading = nbgrader("autograde", stem, "--student", student, "--force", f"--Execute.kernel_name={KERNEL}",
                       f"--Execute.timeout={timeout}", course=job, env=env, check=False,
                       log=job / "autograde.log")
    graded = job / "autograded" / student / stem / f"{stem}.ipynb"
    if grading.returncode or not graded.is_file():
        errors = re.findall(r"^\s*([\w.]+(?:Error|Exception): .*)$", (job / "autograde.log").read_text(), re.MULTILINE)
        result.notes.append(f"grading stopped ({(errors or ['see autograde.log'])[-1][:300]}): every exercise 0 points")
        return result, job
    from nbgrader.api import Gradebook

    result.autograded = True
    with Gradebook(f"sqlite:///{job / 'gradebook.db'}") as gb:
        for grade in gb.find_submission_notebook(stem, stem, student).grades:
            if grade.name in result.points:
                result.points[grade.name] = float(grade.score)
    _explain(result, graded, timeout, memory_gb)
    return result, job


def _timed_grade_one(*args) -> tuple[Result, Path]:
    start = time.perf_counter()
    result, job = _grade_one(*args)
    result.seconds = time.perf_counter() - start
    return result, job


def _record(result: Result, job: Path) -> None:
    """Copy one graded submission into the course gradebook and folders (the only writer).

    A submission nbgrader could not grade is recorded with 0 points per exercise, like ``result``.
    """
    from nbgrader.api import Gradebook, MissingEntry

    with warnings.catch_warnings(), Gradebook(f"sqlite:///{job / 'gradebook.db'}") as private, \
            Gradebook(f"sqlite:///{COURSE / 'gradebook.db'}") as gb:
        warnings.simplefilter("ignore")  # nbgrader 0.9.6's own SQLAlchemy 2 warnings
        try:
            graded = {g.name: g for g in private.find_submission_notebook(
                result.notebook, result.notebook, result.student).grades} if result.autograded else {}
        except MissingEntry:
            graded = {}
        gb.update_or_create_student(result.student)
        gb.update_or_create_submission(result.notebook, result.student)
        for mine in gb.find_submission_notebook(result.notebook, result.notebook, result.student).grades:
            if mine.name in graded:
                mine.auto_score, mine.needs_manual_grade = graded[mine.name].auto_score, \
                    graded[mine.name].needs_manual_grade
            else:
                mine.auto_score, mine.needs_manual_grade = 0.0, False
        gb.db.commit()
    src, dest = job / "autograded" / result.student / result.notebook, COURSE / "autograded" / result.student
    shutil.rmtree(dest / result.notebook, ignore_errors=True)
    if result.autograded and src.is_dir():
        shutil.copytree(src, dest / result.notebook)


def _write_feedback(result: Result, dest: Path) -> None:
    """One HTML per student and notebook: nbgrader's feedback with the grader's notes on top."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    rows = "".join(f"<tr><td>{html.escape(g.removeprefix('test_'))}</td><td>{p:g} / {result.max_points[g]:g}</td></tr>"
                   for g, p in result.points.items())
    notes = "".join(f"<li>{html.escape(n)}</li>" for n in result.notes)
    summary = (f'<div style="margin:1em;padding:1em;border:2px solid #888">'
               f"<h2>{html.escape(result.notebook)}: {result.total:g} / {sum(result.max_points.values()):g} "
               f"points</h2><table>{rows}</table>{f'<ul>{notes}</ul>' if notes else ''}</div>")
    feedback = COURSE / "feedback" / result.student / result.notebook / f"{result.notebook}.html"
    if result.autograded and feedback.is_file():
        page = feedback.read_text(encoding="utf-8")
        page = re.sub(r"(<body[^>]*>)", lambda m: m[1] + summary, page, count=1)
    else:
        page = f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(result.notebook)}</title>" \
               f"</head><body>{summary}</body></html>"
    dest.write_text(page, encoding="utf-8")


def write_grades(results: list[Result], path: Path) -> None:
    """``grades.csv``: student, notebook, points per exercise (blank if not in that notebook), total."""
    exercises: list[str] = []
    for result in sorted(results, key=lambda r: r.notebook):
        exercises += [g.removeprefix("test_") for g in result.points if g.removeprefix("test_") not in exercises]
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["student", "notebook", *exercises, "total", "max", "notes"])
        for r in sorted(results, key=lambda r: (r.student, r.notebook)):
            points = {g.removeprefix("test_"): f"{p:g}" for g, p in r.points.items()}
            writer.writerow([r.student, r.notebook, *(points.get(e, "") for e in exercises), f"{r.total:g}",
                             f"{sum(r.max_points.values()):g}", "; ".join(r.notes)])


def grade(submissions: Path, jobs: int = 1, stems: list[str] | None = None, timeout: int | None = None,
          memory_gb: float = 6.0, user: str = "nobody") -> list[Result]:
    """Autograde every student folder in ``submissions`` on the released notebooks; see the module doc.

    Raises
    ------
    FacelibError
        If ``submissions`` is not a folder, or the course has not been built (``make assignments``).
    """
    if not submissions.is_dir():
        raise FacelibError(f"SUBMISSIONS={submissions} is not a folder (expected one folder per student).")
    releases = {p.parent.name: p for p in sorted((COURSE / "release").glob("*/*.ipynb"))}
    if not releases or not (COURSE / "gradebook.db").is_file():
        raise FacelibError(f"No released assignments in {COURSE}: run `make assignments` first.")
    stems = stems or sorted(releases)
    timeout = timeout or _configured_timeout()
    lib = _make_read_only_copy(GRADING / "lib")
    _check_user_can_run_python(user)
    students = sorted(p.name for p in submissions.iterdir() if p.is_dir() and not p.name.startswith("."))
    results: list[Result] = []
    start = time.perf_counter()
    _remove_tree(GRADES)
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        futures = {}
        for student in students:
            for stem in stems:
                submission = find_submission(submissions / student, stem)
                if submission is None:
                    exercises = _exercises(releases[stem])
                    missing = Result(student, stem, dict.fromkeys(exercises, 0.0), exercises,
                                     ["no notebook submitted: every exercise 0 points"])
                    results.append(missing)
                    continue
                futures[pool.submit(_timed_grade_one, student, stem, submission, releases[stem], lib, timeout,
                                    memory_gb, user)] = (student, stem)
        for future in as_completed(futures):
            result, job = future.result()
            _record(result, job)  # one gradebook writer: this thread
            results.append(result)
            print(f"{result.student} / {result.notebook}: {result.total:g} / {sum(result.max_points.values()):g} "
                  f"in {result.seconds:.0f} s" + "".join(f"\n    {n}" for n in result.notes), flush=True)
    for stem in stems:  # nbgrader's feedback for every graded student at once, from the course gradebook
        if (COURSE / "autograded").is_dir() and any((d / stem).is_dir() for d in (COURSE / "autograded").iterdir()):
            nbgrader("generate_feedback", stem, "--force", course=COURSE, log=COURSE / "logs" / f"feedback_{stem}.log")
    for result in results:
        _write_feedback(result, GRADES / "feedback" / result.student / f"{result.notebook}.html")
    write_grades(results, GRADES / "grades.csv")
    graded = [r for r in results if r.seconds]
    wall = time.perf_counter() - start
    print(f"graded {len(graded)} submissions with --jobs {jobs} in {wall:.0f} s "
          f"({wall / max(len(graded), 1):.1f} s per submission per notebook) -> {GRADES / 'grades.csv'}")
    return results


def _configured_timeout() -> int:
    match = re.search(r"^c\.Execute\.timeout\s*=\s*(\d+)", CONFIG.read_text(), re.MULTILINE)
    if match is None:
        raise FacelibError(f"{CONFIG} sets no c.Execute.timeout")
    return int(match[1])


def _main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m facelib.course.grading", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    tagging = sub.add_parser("tag", help="write nbgrader metadata and hidden tests into notebooks")
    tagging.add_argument("paths", nargs="+", type=Path)
    tagging.add_argument("--check", action="store_true", help="only report notebooks not tagged up to date")
    sub.add_parser("assignments", help="build/course: source, release (student copies), gradebook")
    validating = sub.add_parser("validate", help="nbgrader validate the source notebooks")
    validating.add_argument("paths", nargs="*", type=Path)
    grading = sub.add_parser("grade", help="autograde SUBMISSIONS/<student>/<notebook>.ipynb")
    grading.add_argument("submissions", type=Path)
    grading.add_argument("--jobs", type=int, default=1, help="submissions graded at once (default 1)")
    grading.add_argument("--notebooks", nargs="*", help="assignment names (default: every lesson)")
    grading.add_argument("--timeout", type=int, help="seconds per cell (default: c.Execute.timeout)")
    grading.add_argument("--memory-gb", type=float, default=6.0, help="address space per kernel (default 6)")
    grading.add_argument("--user", default="nobody", help="user the kernels run as, when grading as root")
    args = parser.parse_args(argv)
    try:
        if args.command == "tag":
            changed = tag(args.paths, check=args.check)
            for path in changed:
                print(f"{path}: {'not tagged up to date' if args.check else 'tagged'}")
            return 1 if args.check and changed else 0
        if args.command == "assignments":
            make_assignments()
        elif args.command == "validate":
            validate(args.paths or None)
        else:
            grade(args.submissions, args.jobs, args.notebooks, args.timeout, args.memory_gb, args.user)
    except FacelibError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0

