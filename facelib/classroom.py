"""Course tooling: run every notebook headless, and write student copies of the assignments.

``python -m facelib.classroom run`` executes ``notebooks/*.ipynb`` in order into
``build/notebooks/`` (executed notebooks plus HTML), one progress line per notebook.
``python -m facelib.classroom assignments`` writes ``build/assignments/`` where each graded
solution, written between ``### BEGIN SOLUTION`` and ``### END SOLUTION``, becomes
``# YOUR CODE HERE`` + ``raise NotImplementedError()``, and every output is cleared.
"""

from __future__ import annotations

import argparse
import copy
import re
import sys
import time
from pathlib import Path

import nbformat

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


def notebooks(folder: Path = ROOT / "notebooks") -> list[Path]:
    """The lesson notebooks in teaching order."""
    return sorted(folder.glob("[0-9][0-9]_*.ipynb"))


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


def execute(path: Path, timeout: int = 900) -> nbformat.NotebookNode:
    """Run one notebook top to bottom in its own folder and return it with outputs."""
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    NotebookClient(nb, timeout=timeout, kernel_name="python3",
                   resources={"metadata": {"path": str(path.parent)}}).execute()
    return nb


def run_notebooks(paths: list[Path] | None = None, dest: Path | None = ROOT / "build" / "notebooks") -> None:
    """Execute notebooks in order into ``dest`` as ``.ipynb`` and ``.html``.

    With ``dest=None`` each notebook is written back in place (to commit it with outputs).
    """
    from nbconvert import HTMLExporter

    paths = paths or notebooks()
    total = time.perf_counter()
    for i, path in enumerate(paths, 1):
        print(f"[{i}/{len(paths)}] {path.name} ...", end=" ", flush=True)
        start = time.perf_counter()
        nb = execute(path)
        if dest is None:
            nbformat.write(nb, path)
        else:
            dest.mkdir(parents=True, exist_ok=True)
            nbformat.write(nb, dest / path.name)
            html, _ = HTMLExporter().from_notebook_node(nb)
            (dest / path.with_suffix(".html").name).write_text(html, encoding="utf-8")
        print(f"done in {time.perf_counter() - start:.1f} s", flush=True)
    print(f"{len(paths)} notebooks ran in {time.perf_counter() - total:.1f} s")


def _main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m facelib.classroom", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("run", help="execute every notebook into build/notebooks (ipynb + html)")
    sub.add_parser("assignments", help="write student copies into build/assignments")
    inplace = sub.add_parser("execute", help="run the given notebooks and save their outputs in place")
    inplace.add_argument("paths", nargs="+", type=Path)
    args = parser.parse_args(argv)
    if args.command == "run":
        run_notebooks()
    elif args.command == "execute":
        run_notebooks([p.resolve() for p in args.paths], dest=None)
    else:
        make_assignments()
    return 0


if __name__ == "__main__":
    sys.exit(_main())
