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
``grade SUBMISSIONS [--jobs N] [--minutes M] [--memory-gb G] ...``
    Autograde every ``SUBMISSIONS/<student>/<stem>.ipynb`` (or ``<student>/<stem>/<stem>.ipynb``, as
    ``nbgrader collect`` leaves them), N at a time, each kernel in its own bubblewrap sandbox
    (:mod:`.grader`, :mod:`.sandbox`); write ``build/grades/grades.csv`` and
    ``build/grades/feedback/<student>/<stem>.html``, and record everything in the course gradebook.
"""

from __future__ import annotations

import argparse
import copy
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import nbformat

from facelib.course import ROOT
from facelib.course.runner import notebooks, rewrite_notebooks
from facelib.errors import FacelibError

CONFIG = Path(__file__).resolve().parent / "nbgrader_config.py"
COURSE = ROOT / "build" / "course"
GRADING = ROOT / "build" / "grading"
GRADES = ROOT / "build" / "grades"
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
    return rewrite_notebooks(paths, tag_notebook, check)


# -- the course: source, release, validate ---------------------------------------------------------
def with_venv_on_path() -> None:
    """nbgrader's gradebook runs ``alembic``, which sits beside this interpreter."""
    bin_dir = str(Path(sys.executable).parent)
    if bin_dir not in os.environ.get("PATH", "").split(os.pathsep):
        os.environ["PATH"] = os.pathsep.join([bin_dir, os.environ.get("PATH", "")])


def nbgrader(*args: str, course: Path = COURSE, env: dict | None = None, check: bool = True,
             log: Path | None = None) -> subprocess.CompletedProcess:
    """Run ``nbgrader ARGS`` in the course folder (so its ``nbgrader_config.py`` applies)."""
    with_venv_on_path()
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
        print(f"{path.name}: {graded} autograded exercises -> {released[-1]}", flush=True)
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


# -- restoring cells ------------------------------------------------------------------------------
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


def configured_timeout() -> int:
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
    grading.add_argument("--minutes", type=float, default=10, help="wall-clock minutes per notebook (default 10)")
    grading.add_argument("--memory-gb", type=float, default=6.0,
                         help="memory of one notebook's kernel and its children (default 6)")
    grading.add_argument("--disk-mb", type=int, default=512, help="its working folder's size (default 512)")
    grading.add_argument("--processes", type=int, default=512, help="its processes and threads (default 512)")
    grading.add_argument("--first-uid", type=int, default=61000,
                         help="as root, kernels run as uids from this one on, one per job (default 61000)")
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
            from facelib.course.grading import grader

            limits = grader.Limits(args.timeout or configured_timeout(), round(args.minutes * 60), args.memory_gb,
                                   args.disk_mb, args.processes)
            grader.grade(args.submissions, args.jobs, args.notebooks, limits, first_uid=args.first_uid)
    except FacelibError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0

