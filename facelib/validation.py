"""Argument validation shared by every facelib module: each check names the argument it rejects.

All checks raise :class:`facelib.errors.ArgumentError` (a ``ValueError``), and return the value
converted to a plain Python type, so a caller writes ``size = check_int("size", size, minimum=16)``.
Booleans are never accepted as numbers (``True`` is an ``int`` in Python, never a sensible size).
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np

from facelib.errors import ArgumentError

__all__ = ["check_int", "check_float", "check_choice", "check_bool"]


def check_int(name: str, value, *, minimum: int | None = None, maximum: int | None = None) -> int:
    """``value`` as an ``int`` in [minimum, maximum]; ArgumentError naming ``name`` otherwise.

    Examples
    --------
    >>> check_int("steps", 3, minimum=1)
    3
    >>> check_int("steps", True)
    Traceback (most recent call last):
    ...
    facelib.errors.ArgumentError: steps must be an integer, got True
    """
    if isinstance(value, bool | np.bool_) or not isinstance(value, int | np.integer):
        raise ArgumentError(f"{name} must be an integer, got {value!r}")
    _check_range(name, value, minimum, maximum)
    return int(value)


def check_float(name: str, value, *, minimum: float | None = None, maximum: float | None = None,
                exclusive_minimum: bool = False) -> float:
    """``value`` as a finite ``float`` in [minimum, maximum] (or (minimum, maximum] when ``exclusive_minimum``).

    Examples
    --------
    >>> check_float("alpha", 0.2, minimum=0.0)
    0.2
    >>> check_float("threshold", "0.6")
    Traceback (most recent call last):
    ...
    facelib.errors.ArgumentError: threshold must be a real number, got '0.6'
    """
    if isinstance(value, bool | np.bool_) or not isinstance(value, int | float | np.integer | np.floating):
        raise ArgumentError(f"{name} must be a real number, got {value!r}")
    if not math.isfinite(float(value)):
        raise ArgumentError(f"{name} must be finite, got {value!r}")
    if exclusive_minimum and minimum is not None and value <= minimum:
        raise ArgumentError(f"{name} must be > {minimum}, got {value!r}")
    _check_range(name, value, minimum, maximum)
    return float(value)


def check_choice(name: str, value, choices: Iterable[str]) -> str:
    """``value`` if it is one of ``choices``; ArgumentError listing the choices otherwise.

    Examples
    --------
    >>> check_choice("backbone", "vgg19", ["squeezenet", "vgg19"])
    'vgg19'
    """
    choices = list(choices)
    if not isinstance(value, str) or value not in choices:
        raise ArgumentError(f"{name} must be one of {', '.join(map(repr, choices))}, got {value!r}")
    return value


def check_bool(name: str, value) -> bool:
    """``value`` if it is ``True`` or ``False`` (a NumPy bool too); ArgumentError naming ``name`` otherwise.

    Examples
    --------
    >>> check_bool("fallback", "no")
    Traceback (most recent call last):
    ...
    facelib.errors.ArgumentError: fallback must be True or False, got 'no'
    """
    if not isinstance(value, bool | np.bool_):
        raise ArgumentError(f"{name} must be True or False, got {value!r}")
    return bool(value)



def check_rng(name: str, seed) -> np.random.Generator:
    """A NumPy generator from ``seed``: None (fresh entropy), a non-negative int, or a Generator (used as is).

    Examples
    --------
    >>> int(check_rng("seed", 0).integers(10)) == int(np.random.default_rng(0).integers(10))
    True
    >>> check_rng("seed", "")
    Traceback (most recent call last):
    ...
    facelib.errors.ArgumentError: seed must be None, a non-negative int or a numpy.random.Generator, got ''
    """
    if isinstance(seed, np.random.Generator):
        return seed
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int | np.integer)):
        raise ArgumentError(f"{name} must be None, a non-negative int or a numpy.random.Generator, got {seed!r}")
    return np.random.default_rng(None if seed is None else check_int(name, seed, minimum=0))


def _check_range(name: str, value, minimum, maximum) -> None:
    if minimum is not None and value < minimum:
        raise ArgumentError(f"{name} must be >= {minimum}, got {value!r}")
    if maximum is not None and value > maximum:
        raise ArgumentError(f"{name} must be <= {maximum}, got {value!r}")
