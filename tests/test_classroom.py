"""Classroom mode: solutions are stripped, and each checker passes the solution but not the stub."""

from __future__ import annotations

import importlib
import pkgutil
import re

import keras
import nbformat
import numpy as np
import pytest
import tensorflow as tf

import facelib.checks
from facelib import classroom
from facelib.checks import CheckFailed

NOTEBOOKS = [p for p in classroom.notebooks()
             if any(classroom.has_solution(c) for c in nbformat.read(p, as_version=4).cells)]
CHECK_CALL = re.compile(r"\b(check_\w+)\((\w+)\)")


def test_strip_source_keeps_indentation_and_code_around():
    source = ("def f(x):\n    y = 1\n    ### BEGIN SOLUTION\n    return x + y\n    ### END SOLUTION\n\n"
              "def g():\n    ### BEGIN SOLUTION\n    return 2\n    ### END SOLUTION\n")
    assert classroom.strip_source(source) == (
        "def f(x):\n    y = 1\n    # YOUR CODE HERE\n    raise NotImplementedError()\n\n"
        "def g():\n    # YOUR CODE HERE\n    raise NotImplementedError()\n")


@pytest.mark.parametrize("source", ["### BEGIN SOLUTION\nx = 1\n", "x = 1\n### END SOLUTION\n"])
def test_unbalanced_markers_are_refused(source):
    with pytest.raises(ValueError, match="Unbalanced"):
        classroom.strip_source(source)


def _checker(name: str):
    for info in pkgutil.iter_modules(facelib.checks.__path__):
        module = importlib.import_module(f"facelib.checks.{info.name}")
        if hasattr(module, name):
            return getattr(module, name)
    raise AssertionError(f"no checker called {name} in facelib.checks")


def _graded_namespace(nb) -> dict:
    namespace = {"np": np, "tf": tf, "keras": keras, "ops": keras.ops}
    for cell in nb.cells:
        if classroom.has_solution(cell) or (cell.cell_type == "code" and "NotImplementedError" in cell.source):
            exec(compile(cell.source, "<graded cell>", "exec"), namespace)
    return namespace


def _check_calls(nb) -> list[tuple[str, str]]:
    return [m.groups() for c in nb.cells if c.cell_type == "code" for m in CHECK_CALL.finditer(c.source)]


def test_some_notebook_has_graded_functions():
    assert NOTEBOOKS, "no notebook has a graded function"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_checkers_pass_solutions_and_reject_student_stubs(path):
    nb = nbformat.read(path, as_version=4)
    calls = _check_calls(nb)
    graded = sum(classroom.has_solution(c) for c in nb.cells)
    assert len(calls) >= graded, f"{path.name}: every graded cell needs a check cell after it"
    solution = _graded_namespace(nb)
    student = _graded_namespace(classroom.student_version(nb))
    for checker_name, function in calls:
        checker = _checker(checker_name)
        checker(solution[function])
        with pytest.raises(CheckFailed, match="not implemented"):
            checker(student[function])


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_student_copy_has_no_solution_and_no_outputs(path):
    student = classroom.student_version(nbformat.read(path, as_version=4))
    code = "\n".join(c.source for c in student.cells if c.cell_type == "code")
    assert classroom.BEGIN not in code and classroom.END not in code
    assert "raise NotImplementedError()" in code
    assert all(not c.get("outputs") for c in student.cells if c.cell_type == "code")


def test_make_assignments_writes_every_notebook(tmp_path):
    written = classroom.make_assignments(tmp_path)
    assert [p.name for p in written] == [p.name for p in classroom.notebooks()]
