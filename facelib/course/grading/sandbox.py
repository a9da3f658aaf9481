"""Kernel launcher for grading: a student's notebook runs with limits, as an unprivileged user.

nbgrader has no memory limit of its own (jupyter/nbgrader#1429), so the grading kernel spec
starts kernels through this module::

    python -m facelib.course.grading.sandbox --memory-gb 6 --user nobody --home DIR -- -f {connection_file}

It sets the limits below on itself, switches to ``--user`` when it runs as root (the connection
file is copied into ``--home`` first, so that user can read it), and then becomes an ipykernel.

================  =====================================================================
limit             effect on a submission that exceeds it
================  =====================================================================
address space     an allocation beyond ``--memory-gb`` raises ``MemoryError`` in that cell
file size         a file larger than ``--file-mb`` cannot be written (``OSError``)
processes         at most ``--processes`` processes and threads for the user (fork bombs; root only)
core dumps        none
================  =====================================================================

The address-space limit counts reserved as well as used memory: TensorFlow with a small model
reserves about 1.7 GB, so give ``--memory-gb`` that much above the notebook's budget.
"""

from __future__ import annotations

import argparse
import os
import pwd
import resource
import shutil
import sys
from pathlib import Path

from facelib.errors import FacelibError

GIB, MIB = 1 << 30, 1 << 20


def set_limits(memory_gb: float, file_mb: float, processes: int | None) -> None:
    """Apply the address-space, file-size, core-dump and (unless None) process limits to this process.

    The process limit counts every process of the user, so it is only set for the grading user.
    """
    limits = [(resource.RLIMIT_AS, int(memory_gb * GIB)), (resource.RLIMIT_FSIZE, int(file_mb * MIB)),
              (resource.RLIMIT_CORE, 0)]
    if processes is not None:
        limits.append((resource.RLIMIT_NPROC, processes))
    for limit, value in limits:
        resource.setrlimit(limit, (value, value))


def become(user: str, home: Path, connection_file: Path) -> Path:
    """Switch to ``user`` (only possible as root); returns the connection file that user can read.

    ``home`` and the current folder (the notebook's) become the user's; nothing else does.

    Raises
    ------
    FacelibError
        If ``user`` does not exist.
    """
    try:
        entry = pwd.getpwnam(user)
    except KeyError:
        raise FacelibError(f"Grading user {user!r} does not exist: create it (useradd --system {user}) "
                           "or pass another with --user.") from None
    home.mkdir(parents=True, exist_ok=True)
    readable = home / connection_file.name
    shutil.copyfile(connection_file, readable)
    for path in (home, readable, Path.cwd()):
        os.chown(path, entry.pw_uid, entry.pw_gid)
    os.setgroups([])
    os.setgid(entry.pw_gid)
    os.setuid(entry.pw_uid)
    return readable


def _main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m facelib.course.grading.sandbox",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("--memory-gb", type=float, default=6.0, help="address-space limit (default 6)")
    parser.add_argument("--file-mb", type=float, default=512.0, help="largest file it may write (default 512)")
    parser.add_argument("--processes", type=int, default=512, help="processes and threads (default 512)")
    parser.add_argument("--user", default="nobody", help="run as this user when started as root")
    parser.add_argument("--home", type=Path, required=True, help="HOME for the kernel (created)")
    parser.add_argument("-f", dest="connection_file", type=Path, required=True)
    args = parser.parse_args(argv)
    connection_file, processes = args.connection_file, None
    if os.geteuid() == 0:
        connection_file, processes = become(args.user, args.home, connection_file), args.processes
    else:
        args.home.mkdir(parents=True, exist_ok=True)
    os.environ.update(HOME=str(args.home), MPLCONFIGDIR=str(args.home / "matplotlib"),
                      FACELIB_HOME=str(args.home / "facelib"), KERAS_HOME=str(args.home / "keras"))
    set_limits(args.memory_gb, args.file_mb, processes)
    os.execv(sys.executable, [sys.executable, "-m", "ipykernel_launcher", "-f", str(connection_file),
                              "--HistoryManager.hist_file=:memory:"])


if __name__ == "__main__":
    _main()
