"""What every checker shares: calling the learner's code, comparing, reporting."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np


class CheckFailed(AssertionError):
    """A graded function gave a wrong answer; the message says which case and a hint."""


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
