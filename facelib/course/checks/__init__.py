"""Checkers that the notebooks call right after each graded function.

Each ``check_<name>(fn)`` runs the learner's ``fn`` on fixed inputs, compares it with a
reference (an independent NumPy formula written in the checker, or the value of facelib's own
implementation where the checker says so), prints one short deterministic line when all cases
pass, and raises :class:`CheckFailed` with a hint otherwise. Lessons keep their checkers in their own module.
:func:`run_hidden` runs a checker's hidden tests (other inputs, silent when they pass), from the
``### BEGIN HIDDEN TESTS`` block of a test cell that nbgrader keeps out of the student copy.
"""

from facelib.course.checks._core import CheckFailed, or_reference, run_hidden
from facelib.course.checks.basics import check_euclidean_distance

__all__ = ["CheckFailed", "or_reference", "run_hidden", "check_euclidean_distance"]
