"""What every checker shares: calling the learner's code, comparing, reporting, hidden tests.

A checker ``check_<name>(fn)`` prints one line when every case passes. Its hidden tests
(:func:`run_hidden`, called from the ``### BEGIN HIDDEN TESTS`` block that nbgrader keeps out of
the student copy) run the same checker on other inputs and print nothing when they pass: every
``np.random.default_rng(seed)`` the checker draws from is seeded with ``(HIDDEN_SALT, seed)``
instead, and a checker whose cases are written out by hand takes ``hidden=True`` to use others.
"""

from __future__ import annotations

import contextlib
import importlib
import inspect
import io
import pkgutil
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from facelib.errors import FacelibError


class CheckFailed(FacelibError, AssertionError):
    """A graded function gave a wrong answer; the message says which case and a hint."""


class CheckerNotFoundError(FacelibError, KeyError):
    """No module of ``facelib.course.checks`` defines a checker of the name asked for."""


_PASSED: set[str] = set()  # names of the graded functions whose check passed in this kernel


def call(fn: Callable, *args: Any, name: str | None = None, **kwargs: Any) -> Any:
    """Call the learner's ``fn``; turn ``NotImplementedError`` into a clear failure."""
    try:
        return fn(*args, **kwargs)
    except NotImplementedError as error:
        label = name or getattr(fn, "__name__", "the function")
        raise CheckFailed(f"{label} is not implemented yet: replace `raise NotImplementedError()` "
                          "with your code.") from error


def as_numpy(value: Any) -> np.ndarray:
    """A NumPy copy of a NumPy array, TensorFlow tensor or Python number."""
    return np.asarray(value.numpy() if hasattr(value, "numpy") else value, dtype=np.float64)


def expect_close(got: Any, expected: Any, case: str, hint: str = "", atol: float = 1e-5,
                 rtol: float = 1e-4) -> None:
    """Fail with ``case`` and ``hint`` unless ``got`` has ``expected``'s shape and values."""
    got_arr, expected_arr = as_numpy(got), as_numpy(expected)
    if got_arr.shape != expected_arr.shape:
        raise CheckFailed(f"{case}: expected shape {expected_arr.shape}, got {got_arr.shape}. {hint}")
    if not np.allclose(got_arr, expected_arr, atol=atol, rtol=rtol):
        worst = float(np.max(np.abs(got_arr - expected_arr)))
        raise CheckFailed(f"{case}: values differ from the reference (largest difference {worst:.4g}). "
                          f"{hint}")


def passed(name: str, cases: int) -> None:
    """Print the one line a passing check shows (and return nothing, so notebooks show only that line)."""
    _PASSED.add(name)
    print(f"{name}: all {cases} tests passed.")


HIDDEN_SALT = 20261201  # mixed into every seed a checker draws from in hidden mode


@contextlib.contextmanager
def _redrawn_inputs() -> Iterator[None]:
    """Within the block, ``np.random.default_rng(seed)`` gives another stream for every integer seed."""
    original = np.random.default_rng

    def default_rng(seed: Any = None) -> np.random.Generator:
        if isinstance(seed, (int, np.integer)):
            seed = [HIDDEN_SALT, int(seed)]
        return original(seed)

    np.random.default_rng = default_rng
    try:
        yield
    finally:
        np.random.default_rng = original


def find_checker(name: str) -> Callable:
    """The checker called ``name`` in any ``facelib.course.checks`` module.

    Raises
    ------
    CheckerNotFoundError
        If no module of ``facelib.course.checks`` defines it (a ``KeyError``).
    """
    import facelib.course.checks

    for info in pkgutil.iter_modules(facelib.course.checks.__path__):
        module = importlib.import_module(f"facelib.course.checks.{info.name}")
        if callable(getattr(module, name, None)):
            return getattr(module, name)
    raise CheckerNotFoundError(f"no checker called {name!r} in facelib.course.checks")


def run_hidden(checker: str | Callable, fn: Callable, *args: Any, **kwargs: Any) -> None:
    """Run ``checker``'s hidden tests on ``fn``: silent when they pass, :class:`CheckFailed` otherwise.

    ``checker`` is a checker or its name (looked up afresh in ``facelib.course.checks``, so a name the
    notebook rebound does not count); ``args`` and ``kwargs`` go to it after ``fn``. Inputs drawn at
    random are redrawn with other seeds; a checker with a ``hidden`` parameter is called with
    ``hidden=True`` to use its other cases.
    """
    if isinstance(checker, str):
        checker = find_checker(checker)
    if "hidden" in inspect.signature(checker).parameters:
        kwargs["hidden"] = True
    try:
        with _redrawn_inputs(), contextlib.redirect_stdout(io.StringIO()):
            checker(fn, *args, **kwargs)
    except CheckFailed as error:
        raise CheckFailed(f"hidden tests: {error}") from None


def or_reference(fn: Callable, reference: Callable) -> Callable:
    """The learner's ``fn`` once its check has passed in this kernel, else facelib's ``reference``.

    Demonstration cells call a graded function through this, so a student copy with one exercise
    left undone still runs every later cell (and says which implementation it uses).
    """
    name = getattr(fn, "__name__", repr(fn))
    if name in _PASSED:
        return fn
    print(f"{name} has not passed its check yet: the cells below use facelib's implementation instead.")
    return reference
