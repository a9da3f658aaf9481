"""The one error family of facelib.

Every error that facelib raises on purpose (bad input, a damaged file, a missing asset) derives
from :class:`FacelibError`, so the command line can tell "you gave me something wrong" (exit 2)
from a bug (a traceback). Each concrete error also derives from the built-in base that fits it,
so existing ``except ValueError`` or ``except FileNotFoundError`` code keeps working::

    class ImageError(FacelibError, ValueError): ...
"""

from __future__ import annotations

__all__ = ["FacelibError", "ArgumentError", "WrongTypeError", "MissingFileError"]


class FacelibError(Exception):
    """Base class of every error facelib raises on purpose; the message says what was wrong and what to do."""


class ArgumentError(FacelibError, ValueError):
    """An argument has the wrong type or value; the message names the argument."""


class WrongTypeError(ArgumentError, TypeError):
    """An argument is of a type the function does not take; the message names it and the types it takes."""


class MissingFileError(FacelibError, FileNotFoundError):
    """A file named by the caller does not exist; the message names it."""
