"""Kernel launcher for grading: one submission's kernel in its own bubblewrap sandbox.

nbgrader (outside, with the gradebook and the source notebooks) starts every grading kernel
through this module (the job's kernel spec)::

    python -m facelib.course.grading.sandbox --lib DIR --sockets DIR --uid 61001 ... -f {connection_file}

which execs `bubblewrap <https://github.com/containers/bubblewrap>`_ (``bwrap``) around
``ipykernel``. Inside the sandbox the kernel sees:

==================  ================================================================================
path                what it is
==================  ================================================================================
``/usr`` ...        the system, read-only (``/etc``: only what programs need to start, no secrets)
interpreter         ``sys.prefix`` and ``sys.base_prefix`` at their own paths, read-only
``/opt/grading``    the compiled copy of facelib (``--lib``), read-only, first on ``PYTHONPATH``
data                ``$FACELIB_MIRROR`` and ``$FACELIB_HOME`` (the course's assets), read-only
working folder      a fresh tmpfs of ``--disk-mb`` at the notebook's path, holding a copy of the
                    notebook; the kernel's only writable place besides ``/tmp`` and ``/dev/shm``
                    (their own tmpfs of ``--tmp-mb`` each) and its socket folder
``/run/kernel``     ``--sockets``: the kernel's own ZMQ sockets (jupyter's ``ipc`` transport)
==================  ================================================================================

and nothing else: no course folder, gradebook, source notebook or other submission, an empty
environment (``HOME`` is the working folder), no network (``--unshare-net``: a connection fails
with "Network is unreachable"), its own PID namespace (``kill(-1, 9)`` reaches only its own
processes; everything dies with the kernel, ``--die-with-parent``).

As root the kernel runs as ``--uid`` (a number with no passwd entry, one per concurrent job) with
no capabilities and ``no_new_privs`` (``setpriv``), and bwrap needs no user namespace, so an
interpreter in a private folder such as ``/root/.pyenv`` works: only its folder is bound, under
folders that bwrap creates traversable. As an ordinary user bwrap makes a user namespace and the
kernel runs as that user.

Limits (a submission exceeding one loses the cell, or the kernel, that exceeded it):

===========================  ======================================================================
limit                        how
===========================  ======================================================================
memory of the job            ``--cgroup`` folders (made by the grader; cgroup v2 ``memory.max`` or
                             v1 ``memory.limit_in_bytes``): kernel, children and the tmpfs pages
                             they write, together; the kernel is killed at the limit
address space per process    ``--address-gb`` (``RLIMIT_AS``): a single large allocation raises
                             ``MemoryError`` in the cell instead
processes                    ``--processes`` for the job's uid (``RLIMIT_NPROC``) and, with a
                             cgroup, ``pids.max``
disk                         the tmpfs sizes (``--disk-mb`` + 2 x ``--tmp-mb``); ``RLIMIT_FSIZE``
                             caps a single file at ``--disk-mb``
time                         per cell and per submission: the grader (:mod:`.autograde`)
===========================  ======================================================================
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import stat
import sys
import time
from pathlib import Path

from facelib.errors import FacelibError

GIB, MIB = 1 << 30, 1 << 20
LIB = "/opt/grading"          # the read-only copy of facelib inside the sandbox
SOCKETS = "/run/kernel"       # the kernel's socket folder inside the sandbox
INSTALL = "apt-get install bubblewrap"
_ETC = ("passwd", "group", "nsswitch.conf", "ld.so.cache", "ld.so.conf", "ld.so.conf.d", "localtime",
        "fonts", "alternatives", "mime.types", "matplotlibrc")


def bwrap() -> str:
    """The ``bwrap`` program.

    Raises
    ------
    FacelibError
        If bubblewrap is not installed, with the command that installs it.
    """
    found = shutil.which("bwrap")
    if found is None:
        raise FacelibError(f"Grading runs each submission in a bubblewrap sandbox, and `bwrap` is not installed: "
                           f"{'' if os.geteuid() == 0 else 'sudo '}{INSTALL} (Debian/Ubuntu; the package is "
                           "`bubblewrap` on other distributions too).")
    return found


def _system() -> list[str]:
    """bwrap arguments for a read-only system: /usr, its merged-usr links, what /etc programs need."""
    args = ["--ro-bind", "/usr", "/usr"]
    for top in ("/bin", "/sbin", "/lib", "/lib32", "/lib64"):
        if os.path.islink(top):
            args += ["--symlink", os.readlink(top), top]
        elif os.path.isdir(top):
            args += ["--ro-bind", top, top]
    for name in _ETC:
        if os.path.exists(f"/etc/{name}"):
            args += ["--ro-bind", f"/etc/{name}", f"/etc/{name}"]
    return args


def _read_only(paths: list[str]) -> list[str]:
    """bwrap arguments binding each existing folder read-only at its own path (nested ones once)."""
    kept: list[str] = []
    for path in sorted({os.path.realpath(p) for p in paths if p and os.path.isdir(p)}):
        if not any(path == k or path.startswith(k + os.sep) for k in kept):
            kept.append(path)
    return [arg for path in kept for arg in ("--ro-bind", path, path)]


def _parents(args: list[str]) -> list[str]:
    """Folders bwrap creates above the places that ``args`` mount (made traversable: bwrap makes them 0700)."""
    mounts = {"--ro-bind": 2, "--bind": 2, "--tmpfs": 1, "--ro-bind-data": 2, "--file": 2, "--proc": 1, "--dev": 1}
    places = {args[i + n] for i, arg in enumerate(args) if (n := mounts.get(arg)) and i + n < len(args)}
    parents = {str(p) for place in places for p in Path(place).parents if str(p) != "/"}
    return sorted(parents - places)


def command(connection: int, workdir: str, notebooks: list[tuple[int, str]], *, lib: str, sockets: str,
            uid: int | None, disk_mb: int, tmp_mb: int) -> list[str]:
    """The bwrap command line that runs ipykernel for one job.

    ``connection`` is an open file holding the kernel's connection file (as the kernel must see
    it), ``notebooks`` open files copied into the working folder ``workdir`` under their names;
    ``uid`` is the job's uid when started as root (None: the caller's, in a user namespace).
    """
    env = {"PATH": "/usr/bin:/bin", "HOME": workdir, "LANG": "C.UTF-8", "PYTHONPATH": LIB,
           "PYTHONDONTWRITEBYTECODE": "1", "MPLCONFIGDIR": "/tmp/matplotlib", "KERAS_HOME": "/tmp/keras",
           "PYDEVD_DISABLE_FILE_VALIDATION": "1", "TF_CPP_MIN_LOG_LEVEL": "2"}
    data = {key: os.path.realpath(value) for key in ("FACELIB_MIRROR", "FACELIB_HOME")
            if (value := os.environ.get(key))}
    env.update(data)
    args = [bwrap(), "--unshare-pid", "--unshare-net", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try",
            "--die-with-parent", "--hostname", "grading", "--clearenv"]
    if uid is None:
        args += ["--unshare-user"]
    for key, value in env.items():
        args += ["--setenv", key, value]
    args += _system() + _read_only([sys.prefix, sys.base_prefix, *data.values()])
    args += ["--ro-bind", lib, LIB, "--bind", sockets, SOCKETS, "--proc", "/proc", "--dev", "/dev"]
    for path, size in (("/tmp", tmp_mb), ("/dev/shm", tmp_mb), (workdir, disk_mb)):
        args += ["--perms", "1777", "--size", str(size * MIB), "--tmpfs", path]
    for fd, name in notebooks:
        args += ["--perms", "0644", "--file", str(fd), f"{workdir}/{name}"]
    args += ["--perms", "0444", "--ro-bind-data", str(connection), "/run/connection.json", "--chdir", workdir]
    args += [arg for folder in _parents(args) for arg in ("--chmod", "0755", folder)] + ["--"]
    if uid is not None:
        args += ["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups", "--inh-caps=-all",
                 "--bounding-set=-all", "--no-new-privs", "--"]
    return args + [sys.executable, "-m", "ipykernel_launcher", "-f", "/run/connection.json",
                   "--HistoryManager.hist_file=:memory:"]


class JobCgroup:
    """Memory and process limits for everything one job starts, where a cgroup is writable.

    cgroup v2 (``memory.max``, ``pids.max``, killed through ``cgroup.kill``) or, where only v1 is
    mounted, the v1 ``memory`` and ``pids`` hierarchies; each job's folder is made under this
    process's own cgroup, so every limit above it still applies. The memory limit counts the
    kernel, its children and the tmpfs pages they write.
    """

    def __init__(self, name: str, memory_bytes: int, processes: int, root: Path = Path("/sys/fs/cgroup")):
        own = {c: p for _, cs, p in (line.split(":", 2) for line in Path("/proc/self/cgroup").read_text().split())
               for c in cs.split(",")}
        self.v2 = "memory" in _words(root / "cgroup.controllers") and "" in own
        if self.v2:
            self.folders = [root / own[""].lstrip("/") / name]
            settings = {"memory.max": memory_bytes, "memory.swap.max": 0, "pids.max": processes}
        else:
            self.folders = [root / c / own.get(c, "/").lstrip("/") / name for c in ("memory", "pids")]
            settings = {"memory.limit_in_bytes": memory_bytes, "memory.memsw.limit_in_bytes": memory_bytes,
                        "pids.max": processes}
        self.usable = True
        try:
            for folder in self.folders:
                folder.mkdir()
            for key, value in settings.items():
                for folder in self.folders:
                    if (folder / key).exists():
                        (folder / key).write_text(str(value))
            if not any((f / k).exists() for f in self.folders for k in ("memory.max", "memory.limit_in_bytes")):
                raise OSError("no memory controller")
        except OSError:
            self.usable = False
            self.remove()

    def oom_kills(self) -> int:
        """How many times the kernel's out-of-memory killer acted in this job."""
        for folder in self.folders:
            for events in ("memory.events", "memory.oom_control"):
                for line in _lines(folder / events):
                    if line.startswith("oom_kill "):
                        return int(line.split()[1])
        return 0

    def remove(self) -> None:
        """Kill whatever still runs in the job's cgroups, then remove them."""
        for folder in self.folders:
            for _ in range(100):
                pids = [int(p) for p in _lines(folder / "cgroup.procs")]
                if not pids:
                    break
                for pid in pids:
                    try:
                        os.kill(pid, 9)
                    except ProcessLookupError:
                        pass
                time.sleep(0.05)
            try:
                folder.rmdir()
            except FileNotFoundError:
                pass


def _lines(path: Path) -> list[str]:
    try:
        return path.read_text().splitlines()
    except OSError:
        return []


def _words(path: Path) -> list[str]:
    return " ".join(_lines(path)).split()


def kill_uid(uid: int) -> int:
    """Kill every process whose real or effective uid is ``uid``; returns how many there were."""
    found = 0
    for status in Path("/proc").glob("[0-9]*/status"):
        uids = next((line.split()[1:3] for line in _lines(status) if line.startswith("Uid:")), [])
        if str(uid) in uids:
            found += 1
            try:
                os.kill(int(status.parent.name), 9)
            except ProcessLookupError:
                pass
    return found


def set_limits(address_gb: float, file_mb: float, processes: int | None) -> None:
    """Address-space, file-size, core-dump and (unless None) process limits, inherited by the kernel."""
    limits = [(resource.RLIMIT_AS, int(address_gb * GIB)), (resource.RLIMIT_FSIZE, int(file_mb * MIB)),
              (resource.RLIMIT_CORE, 0)]
    if processes is not None:
        limits.append((resource.RLIMIT_NPROC, processes))
    for limit, value in limits:
        resource.setrlimit(limit, (value, value))


def _open_regular(path: Path) -> int:
    """An inheritable read-only descriptor of the regular file ``path``, never through a link."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise FacelibError(f"{path} is not a regular file")
    os.set_inheritable(fd, True)
    return fd


def _inside(connection_file: Path) -> int:
    """A descriptor of the connection file as the kernel sees it: its sockets in ``/run/kernel``."""
    info = json.loads(connection_file.read_text())
    info["ip"] = f"{SOCKETS}/{Path(info['ip']).name}"
    read, write = os.pipe()
    os.write(write, json.dumps(info).encode())  # a few hundred bytes: fits in the pipe
    os.close(write)
    os.set_inheritable(read, True)
    return read


def _main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m facelib.course.grading.sandbox",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("--lib", required=True, help="the read-only compiled copy of facelib")
    parser.add_argument("--sockets", required=True, help="the job's socket folder (the connection file's ip)")
    parser.add_argument("--uid", type=int, help="the job's uid (when started as root)")
    parser.add_argument("--cgroup", action="append", default=[], help="a cgroup folder to join (repeatable)")
    parser.add_argument("--address-gb", type=float, default=6.0, help="address space per process (default 6)")
    parser.add_argument("--disk-mb", type=int, default=512, help="size of the working folder (default 512)")
    parser.add_argument("--tmp-mb", type=int, default=256, help="size of /tmp and of /dev/shm (default 256)")
    parser.add_argument("--processes", type=int, default=256, help="processes and threads (default 256)")
    parser.add_argument("-f", dest="connection_file", type=Path, required=True)
    args = parser.parse_args(argv)
    if (os.geteuid() == 0) != (args.uid is not None):
        raise FacelibError("--uid is required when grading as root, and only then")
    for folder in args.cgroup:
        Path(folder, "cgroup.procs").write_text(str(os.getpid()))
    workdir = os.getcwd()
    notebooks = [(_open_regular(p), p.name) for p in sorted(Path(workdir).glob("*.ipynb"))]
    argv = command(_inside(args.connection_file), workdir, notebooks, lib=args.lib, sockets=args.sockets,
                   uid=args.uid, disk_mb=args.disk_mb, tmp_mb=args.tmp_mb)
    set_limits(args.address_gb, args.disk_mb, args.processes if args.uid is not None else None)
    os.execv(argv[0], argv)


if __name__ == "__main__":
    _main()
