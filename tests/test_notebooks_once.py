"""`make test` executes each lesson once (nbval), in place of a second run by `nbgrader validate`.

That keeps validate's guarantee only while nbval sees every cell fail that validate would fail:
no lesson cell may carry an nbval tag that skips a cell or lets it raise, and nbval's per-cell
timeout must be nbgrader's ``c.Execute.timeout``. (nbval ``--nbval-lax`` fails on an error in any
cell, graded or not, and runs the hidden tests, which the instructor's notebooks keep.)
"""

from __future__ import annotations

import re

import nbformat
from traitlets.config import Config

from facelib.course import ROOT, runner

_LENIENT_TAGS = {"nbval-skip", "raises-exception", "nbval-raises-exception"}


def _nbgrader_timeout() -> int:
    config = Config()
    source = (ROOT / "facelib" / "course" / "grading" / "nbgrader_config.py").read_text()
    exec(compile(source, "nbgrader_config.py", "exec"), {"get_config": lambda: config})
    return int(config.Execute.timeout)


def test_nbval_in_make_test_uses_nbgraders_cell_timeout():
    makefile = (ROOT / "Makefile").read_text()
    notebooks = re.search(r"^notebooks:.*?(?=^\S)", makefile, re.MULTILINE | re.DOTALL).group(0)
    assert "--nbval-lax" in notebooks
    assert re.search(r"--nbval-cell-timeout=(\d+)", notebooks).group(1) == str(_nbgrader_timeout())
    test_target = re.search(r"^test:.*?(?=^\S)", makefile, re.MULTILINE | re.DOTALL).group(0)
    assert "notebooks" in test_target.splitlines()[0] and "grading assignments" in test_target


def test_no_lesson_cell_is_skipped_or_allowed_to_raise_by_nbval():
    lenient = [f"{path.name} cell {i}: {sorted(_LENIENT_TAGS & set(cell.metadata.get('tags', [])))}"
               for path in runner.notebooks()
               for i, cell in enumerate(nbformat.read(path, as_version=4).cells)
               if _LENIENT_TAGS & set(cell.metadata.get("tags", []))]
    assert not lenient
    sources = [path.read_text() for path in runner.notebooks()]
    assert sum("BEGIN HIDDEN TESTS" in s for s in sources) >= 1       # nbval runs the hidden tests too
    assert not any("NBVAL_SKIP" in s or "NBVAL_RAISES_EXCEPTION" in s for s in sources)
