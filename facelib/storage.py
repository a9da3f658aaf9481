"""Files on disk: one SHA-256 helper and one atomic write, shared by every cache and the database.

``atomic_write(path)`` writes to a uniquely named temporary file beside ``path``, flushes and
fsyncs it, then renames it over ``path`` (``os.replace`` is atomic on POSIX and Windows), so a
reader sees either the old file or the new one, never half of one, and two writers never share a
temporary file. A temporary file is removed when the write fails; one left by a killed process is
named ``.<name>.<random>.tmp`` and removed by :func:`remove_stale_temporaries`.

The new file keeps the permission bits and the group of the file it replaces (a file shared with
another user stays readable by them), and a new file gets the bits the umask allows, as ``open``
would give it. A symbolic link at ``path`` is followed: its target is replaced, the link stays.
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

__all__ = ["sha256", "sha256_arrays", "atomic_write", "remove_stale_temporaries", "umask"]

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
    path = Path(os.path.realpath(path))
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        _copy_owner_and_mode(path, fd)
        with os.fdopen(fd, "wb") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def umask() -> int:
    """The process's umask (read from ``/proc`` where it can be, without changing it)."""
    with contextlib.suppress(OSError, ValueError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    mask = os.umask(0o022)  # elsewhere: read by setting it, and set it back at once
    os.umask(mask)
    return mask


def _copy_owner_and_mode(path: Path, fd: int) -> None:
    """Give the temporary file ``fd`` the mode and group of ``path`` (or the umask's mode for a new file)."""
    if not hasattr(os, "fchmod"):  # Windows: files have no POSIX mode or group to keep
        return
    try:
        old = os.stat(path)
    except FileNotFoundError:
        os.fchmod(fd, 0o666 & ~umask())
        return
    if hasattr(os, "fchown") and old.st_gid != os.fstat(fd).st_gid:
        with contextlib.suppress(PermissionError):  # only the groups one belongs to can be given
            os.fchown(fd, -1, old.st_gid)
    os.fchmod(fd, old.st_mode & 0o7777)


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
