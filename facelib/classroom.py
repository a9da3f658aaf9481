"""Course tooling: write student copies of the assignments (running the notebooks is ``facelib.runner``).

``python -m facelib.classroom assignments`` writes ``build/assignments/`` where each graded
solution, written between ``### BEGIN SOLUTION`` and ``### END SOLUTION``, becomes
``# YOUR CODE HERE`` + ``raise NotImplementedError()``, and every output is cleared.
"""

from __future__ import annotations

import argparse
import copy
import re
import sys
from pathlib import Path

import nbformat

from facelib.runner import notebooks

BEGIN, END = "### BEGIN SOLUTION", "### END SOLUTION"
ROOT = Path(__file__).resolve().parent.parent
_SOLUTION = re.compile(rf"^([ \t]*){re.escape(BEGIN)}[^\n]*\n.*?^[ \t]*{re.escape(END)}[^\n]*$",
                       re.DOTALL | re.MULTILINE)


def strip_source(source: str) -> str:
    """Replace every solution block in one cell's source by the student stub.

    Raises
    ------
    ValueError
        If the markers are unbalanced (a BEGIN without END or the reverse).
    """
    stripped = _SOLUTION.sub(lambda m: f"{m[1]}# YOUR CODE HERE\n{m[1]}raise NotImplementedError()", source)
    if BEGIN in stripped or END in stripped:
        raise ValueError(f"Unbalanced solution markers in cell:\n{source[:200]}")
    return stripped


def has_solution(cell) -> bool:
    """Whether a notebook cell holds a graded solution."""
    return cell.cell_type == "code" and BEGIN in cell.source


def student_version(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """A copy of ``nb`` with solutions stubbed out and all outputs cleared."""
    nb = copy.deepcopy(nb)
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        cell.source = strip_source(cell.source)
        cell.outputs = []
        cell.execution_count = None
    return nb


def make_assignments(dest: Path = ROOT / "build" / "assignments") -> list[Path]:
    """Write the student copy of every notebook into ``dest``; returns the written paths."""
    dest.mkdir(parents=True, exist_ok=True)
    written = []
    for path in notebooks():
        nb = nbformat.read(path, as_version=4)
        student = student_version(nb)
        graded = sum(has_solution(c) for c in nb.cells)
        for cell in student.cells:  # a stub must still be valid Python
            if cell.cell_type == "code":
                compile(_without_magics(cell.source), f"{path.name} (student copy)", "exec")
        out = dest / path.name
        nbformat.write(student, out)
        print(f"{path.name}: {graded} graded cells stubbed -> {out}")
        written.append(out)
    return written


def _without_magics(source: str) -> str:
    return "\n".join("pass" if line.lstrip().startswith(("%", "!")) else line
                     for line in source.splitlines())


def _main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m facelib.classroom", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("assignments", help="write student copies into build/assignments")
    parser.parse_args(argv)
    make_assignments()
    return 0


if __name__ == "__main__":
    sys.exit(_main())
