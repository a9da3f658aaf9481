"""Files on disk: one SHA-256 helper and one atomic write, shared by every cache and the database.

``atomic_write(path)`` writes to a uniquely named temporary file beside ``path``, flushes and
fsyncs it, then renames it over ``path`` (``os.replace`` is atomic on POSIX and Windows), so a
reader sees either the old file or the new one, never half of one, and two writers never share a
temporary file. A temporary file is removed when the write fails; one left by a killed process is
named ``.<name>.<random>.tmp`` and removed by :func:`remove_stale_temporaries`.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

import numpy as np

__all__ = ["sha256", "sha256_arrays", "atomic_write", "remove_stale_temporaries"]

_BLOCK = 1 << 20


def sha256(path: str | os.PathLike) -> str:
    """The SHA-256 of a file as 64 hex digits, read in 1 MiB blocks (never the whole file at once)."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(_BLOCK), b""):
            digest.update(block)
    return digest.hexdigest()


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike) -> Iterator[BinaryIO]:
    """Open a temporary file beside ``path`` for binary writing; on success it replaces ``path``.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> target = pathlib.Path(tempfile.mkdtemp()) / "x.bin"
    >>> with atomic_write(target) as f:
    ...     _ = f.write(b"hello")
    >>> target.read_bytes()
    b'hello'
    """
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def remove_stale_temporaries(path: str | os.PathLike) -> int:
    """Remove temporary files that :func:`atomic_write` left beside ``path`` (a killed writer); return how many.

    Call it only while holding the lock that serialises writers of ``path``.
    """
    path = Path(path)
    removed = 0
    for stale in path.parent.glob(f".{path.name}.*.tmp"):
        stale.unlink(missing_ok=True)
        removed += 1
    return removed


def sha256_arrays(*arrays) -> str:
    """The SHA-256 of arrays' values (C order) and shapes, as 64 hex digits: a checksum of data held in memory."""
    digest = hashlib.sha256()
    for array in arrays:
        array = np.asarray(array)
        digest.update(f"{array.dtype.str}{array.shape}".encode())
        digest.update(array.tobytes())
    return digest.hexdigest()
