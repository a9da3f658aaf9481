"""Grading a class: every submission autograded by nbgrader, its kernel in its own sandbox.

``python -m facelib.course.grading grade SUBMISSIONS`` (``make grade``) calls :func:`grade`.
For each ``SUBMISSIONS/<student>/<stem>.ipynb`` (or ``<student>/<stem>/<stem>.ipynb``, as
``nbgrader collect`` leaves them):

1. root reads the submission as a regular file, never through a link (a link, FIFO, device or
   folder in its place is refused and reported), puts back deleted test cells and writes it into
   a private copy of the course (``WORK/jobs/<n>``: config, gradebook copy; root only);
2. ``nbgrader autograde`` runs there, outside any sandbox, with :class:`~.autograde.RestartingExecute`;
   the kernel it starts is :mod:`.sandbox`'s bubblewrap sandbox, as the job's own uid (root: one
   of ``jobs`` numbers from ``first_uid`` on, without passwd entries) with the job's cgroup limits;
   it talks to nbgrader over Unix sockets in a folder of its own;
3. after the job, everything still running as its uid or in its cgroup is killed and its socket
   folder removed; a job whose kernel never ran a cell (the grader failed, not the student) is
   tried again, twice;
4. the main thread (the only gradebook writer) reads the graded notebook back (regular files only,
   no links) into the course gradebook and ``COURSE/autograded``; at the end nbgrader writes the
   feedback, and :func:`grade` writes ``OUT/feedback/<student>/<stem>.html`` and ``OUT/grades.csv``
   for every student, whatever happened to any submission.
"""

from __future__ import annotations

import contextlib
import csv
import errno
import html
import json
import os
import queue
import re
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

import facelib
from facelib.course.grading import autograde, classroom, sandbox
from facelib.errors import FacelibError

KERNEL = "facelib-grader"
STUDENT_ID = re.compile(r"[A-Za-z0-9_@+-][A-Za-z0-9_.@+-]{0,99}")
LARGEST_NOTEBOOK = 64 << 20   # bytes read from a submission at most
ATTEMPTS = 3                  # tries of a job whose kernel never ran a cell


class Refused(FacelibError):
    """A submission path that is not a regular file (a link, FIFO, device or folder)."""


@dataclass(frozen=True)
class Limits:
    """What one submission may use (see :mod:`.sandbox` for how each is enforced)."""

    cell_seconds: int = 180          # c.Execute.timeout in the course config
    submission_seconds: int = 600    # the whole notebook, restarts included
    memory_gb: float = 6.0           # the job: kernel, children and their tmpfs (cgroup), and per process
    disk_mb: int = 512               # the working folder; /tmp and /dev/shm get half of it each
    processes: int = 512             # processes and threads of the job


@dataclass
class Result:
    """One student's grade on one notebook."""

    student: str
    notebook: str
    points: dict[str, float]              # test cell grade_id -> points scored
    max_points: dict[str, float]
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0
    autograded: bool = False              # nbgrader graded it (its feedback is nbgrader's)

    @property
    def total(self) -> float:
        return sum(self.points.values())


def read_regular(folder: Path, *parts: str, limit: int = LARGEST_NOTEBOOK) -> bytes:
    """The bytes of ``folder/parts...``, every part opened without following a link.

    Raises
    ------
    FileNotFoundError
        If it is not there.
    Refused
        If a part is a link, or the file is a FIFO, device or folder, or larger than ``limit``.
    """
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)  # trusted: the caller's folder
    try:
        for i, part in enumerate(parts):
            last = i == len(parts) - 1
            try:
                child = os.open(part, flags | (os.O_NONBLOCK if last else os.O_DIRECTORY), dir_fd=fd)
            except OSError as error:
                if error.errno in (errno.ELOOP, errno.ENOTDIR):  # a link; a file where a folder belongs
                    raise Refused(f"{'/'.join(parts[:i + 1])} is a link or not a folder: refused") from None
                raise
            os.close(fd)
            fd = child
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            kind = "a folder" if stat.S_ISDIR(mode) else "a FIFO" if stat.S_ISFIFO(mode) else "a device or socket"
            raise Refused(f"{'/'.join(parts)} is {kind}, not a file: refused")
        if os.fstat(fd).st_size > limit:
            raise Refused(f"{'/'.join(parts)} is larger than {limit >> 20} MB: refused")
        with os.fdopen(fd, "rb", closefd=False) as file:
            return file.read(limit + 1)
    finally:
        os.close(fd)


def read_submission(submissions: Path, student: str, stem: str) -> bytes | None:
    """``<student>/<stem>.ipynb`` or ``<student>/<stem>/<stem>.ipynb`` (nbgrader's collected layout) in
    ``submissions``; None if neither is there.

    Raises
    ------
    Refused
        If either is there but is not a regular file reached without links.
    """
    for parts in ((student, f"{stem}.ipynb"), (student, stem, f"{stem}.ipynb")):
        try:
            return read_regular(submissions, *parts)
        except (FileNotFoundError, NotADirectoryError):
            continue
    return None


def _exercises(release: Path) -> dict[str, float]:
    """Test cell grade_id -> points, in notebook order."""
    return {c.metadata.nbgrader["grade_id"]: float(c.metadata.nbgrader["points"])
            for c in nbformat.read(release, as_version=4).cells
            if c.metadata.get("nbgrader", {}).get("grade")}


def make_read_only_copy(dest: Path) -> Path:
    """Copy facelib (with its data) to ``dest/facelib``, compiled, with every write bit cleared."""
    import compileall

    _remove_tree(dest)
    shutil.copytree(Path(facelib.__file__).parent, dest / "facelib",
                    ignore=shutil.ignore_patterns("__pycache__"))
    compileall.compile_dir(dest / "facelib", quiet=1)
    for path in sorted(dest.rglob("*"), reverse=True):
        path.chmod(0o555 if path.is_dir() else 0o444)
    dest.chmod(0o555)
    return dest


def _remove_tree(path: Path) -> None:
    if path.exists():
        for sub in (path, *path.rglob("*")):
            if sub.is_dir() and not sub.is_symlink():
                sub.chmod(sub.stat().st_mode | stat.S_IWUSR | stat.S_IXUSR)
        shutil.rmtree(path)


def _reason(cell: nbformat.NotebookNode, limits: Limits, oom: bool) -> str | None:
    for out in cell.get("outputs", []):
        if out.output_type != "error":
            continue
        if out.ename == autograde.OVER_TIME:
            return f"exceeded the {autograde.minutes(limits.submission_seconds)} limit for the whole notebook"
        if out.ename in ("CellTimeoutError", "KeyboardInterrupt"):  # the grader interrupts a cell at the limit
            return f"stopped after the time limit of {limits.cell_seconds} s per cell"
        if out.ename == "MemoryError":
            return f"ran out of memory (limit {limits.memory_gb:g} GB)"
        if out.ename == "DeadKernelError":
            why = f" (killed at the {limits.memory_gb:g} GB memory limit of the submission)" if oom else ""
            return f"the kernel died in this exercise{why}; it was restarted for the ones after it"
        if out.ename in ("ConnectionRefusedError", "gaierror") or "Network is unreachable" in out.evalue:
            return "tried to reach the network (there is none while grading)"
        return f"{out.ename}: {out.evalue}".strip()[:400]
    return None


def _explain(result: Result, graded: nbformat.NotebookNode, limits: Limits, oom: bool) -> None:
    """Add one note per exercise that lost points: the first error of its solution or test cell."""
    cells = {c.metadata.get("nbgrader", {}).get("grade_id"): c for c in graded.cells}
    for gid, got in result.points.items():
        if got >= result.max_points[gid]:
            continue
        function = gid.removeprefix("test_")
        reasons = [_reason(cells[k], limits, oom) for k in (function, gid) if k in cells]
        reason = next((r for r in reasons if r), "the test cell did not pass")
        result.notes.append(f"{function}: 0 points: {reason}")


@dataclass
class _Job:
    """One submission's private course folder and what its kernel is given."""

    number: int
    student: str
    stem: str
    notebook: nbformat.NotebookNode
    release: Path
    course: Path
    folder: Path
    lib: Path
    limits: Limits
    sockets: Path


def _kernel_spec(job: _Job, uid: int | None, cgroup: sandbox.JobCgroup | None) -> None:
    limits = job.limits
    argv = [sys.executable, "-m", sandbox.__name__, "--lib", str(job.lib),
            "--sockets", str(job.sockets), "--address-gb", f"{limits.memory_gb:g}",
            "--disk-mb", str(limits.disk_mb), "--tmp-mb", str(limits.disk_mb // 2),
            "--processes", str(limits.processes)]
    argv += ["--uid", str(uid)] if uid is not None else []
    for folder in cgroup.folders if cgroup and cgroup.usable else []:
        argv += ["--cgroup", str(folder)]
    spec = job.folder / "jupyter" / "kernels" / KERNEL
    spec.mkdir(parents=True, exist_ok=True)
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [*argv, "-f", "{connection_file}"], "display_name": "facelib grading sandbox",
        "language": "python", "interrupt_mode": "message"}))


def _run_nbgrader(job: _Job, uid: int | None, cgroup: sandbox.JobCgroup | None) -> tuple[int | None, str]:
    """``nbgrader autograde`` of one job; returns its exit status (None: stopped at the backstop) and log."""
    _remove_tree(job.folder)
    submitted = job.folder / "submitted" / job.student / job.stem
    submitted.mkdir(parents=True)
    job.folder.chmod(0o700)
    (job.folder / "source" / job.stem).mkdir(parents=True)
    shutil.copyfile(job.course / "gradebook.db", job.folder / "gradebook.db")
    nbformat.write(job.notebook, submitted / f"{job.stem}.ipynb")
    shutil.rmtree(job.sockets, ignore_errors=True)
    job.sockets.mkdir(mode=0o700)
    if uid is not None:
        os.chown(job.sockets, uid, uid)
    shutil.copyfile(job.course / "nbgrader_config.py", job.folder / "nbgrader_config.py")
    (job.folder / "runtime").mkdir(mode=0o700)
    _kernel_spec(job, uid, cgroup)
    classroom.with_venv_on_path()
    env = {**os.environ, "JUPYTER_PATH": str(job.folder / "jupyter"),
           "JUPYTER_RUNTIME_DIR": str(job.folder / "runtime")}
    backstop = job.limits.submission_seconds + 60 * (autograde.RestartingExecute.max_restarts.default_value + 2)
    log = job.folder / "autograde.log"
    with open(log, "w") as out:
        command = [sys.executable, "-m", autograde.__name__, "--kernel", KERNEL, "--ip", str(job.sockets / "kernel"),
                   "--cell-seconds", str(job.limits.cell_seconds), "--submission-seconds",
                   str(job.limits.submission_seconds), "--", job.stem, f"--student={job.student}", "--force"]
        process = subprocess.Popen(command, cwd=job.folder, env=env, stdout=out, stderr=subprocess.STDOUT,
                                   start_new_session=True)
        try:
            code = process.wait(backstop)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
            code = None
    return code, log.read_text(errors="replace")


def _grade_one(job: _Job, uids: queue.Queue) -> Result:
    """Autograde one notebook in its job folder; the kernel runs as a uid taken from ``uids``."""
    start = time.perf_counter()
    exercises = _exercises(job.release)
    result = Result(job.student, job.stem, dict.fromkeys(exercises, 0.0), exercises)
    uid = uids.get()
    try:
        for attempt in range(1, ATTEMPTS + 1):
            cgroup = sandbox.JobCgroup(f"facelib-grading-{os.getpid()}-{job.number}",
                                       int(job.limits.memory_gb * (1 << 30)), job.limits.processes)
            try:
                code, log = _run_nbgrader(job, uid, cgroup)
                oom = cgroup.oom_kills() > 0
            finally:
                cgroup.remove()
                if uid is not None:
                    sandbox.kill_uid(uid)
                shutil.rmtree(job.sockets, ignore_errors=True)
            if code is None:
                result.notes.append(f"exceeded the {autograde.minutes(job.limits.submission_seconds)} limit for "
                                    "the whole notebook and could not be stopped cleanly: every exercise 0 points")
                break
            try:
                graded = nbformat.reads(read_regular(job.folder, "autograded", job.student, job.stem,
                                                     f"{job.stem}.ipynb").decode(), as_version=4)
            except (OSError, FacelibError, ValueError):
                graded = None
            if code == 0 and graded is not None and autograde.STARTED in log:
                result.autograded = True
                _read_points(result, job)
                _explain(result, graded, job.limits, oom)
                if oom:
                    result.notes.append(f"the sandbox killed a process at the {job.limits.memory_gb:g} GB memory limit "
                                        "(the kernel and its children together)")
                break
            errors = re.findall(r"^\s*([\w.]+(?:Error|Exception): .*)$", log, re.MULTILINE)
            problem = (errors or [f"nbgrader exit {code}"])[-1][:300]
            if autograde.STARTED in log:  # the student's code ran: this is the submission's doing
                result.notes.append(f"grading stopped ({problem}): every exercise 0 points")
                break
            if attempt == ATTEMPTS:
                result.notes.append(f"not graded: the grader failed {ATTEMPTS} times before the notebook's first "
                                    f"cell ran ({problem}); not the student's fault: grade this notebook again")
    finally:
        uids.put(uid)
    result.seconds = time.perf_counter() - start
    return result


def _read_points(result: Result, job: _Job) -> None:
    from nbgrader.api import Gradebook

    with warnings.catch_warnings(), Gradebook(f"sqlite:///{job.folder / 'gradebook.db'}") as gb:
        warnings.simplefilter("ignore")  # nbgrader 0.9.6's own SQLAlchemy 2 warnings
        for grade in gb.find_submission_notebook(job.stem, job.stem, job.student).grades:
            if grade.name in result.points:
                result.points[grade.name] = float(grade.score)


def _record(result: Result, job: _Job | None, course: Path) -> None:
    """Write one graded submission into the course gradebook and folders (the only writer).

    A submission nbgrader could not grade is recorded with 0 points per exercise, like ``result``.
    """
    from nbgrader.api import Gradebook

    with warnings.catch_warnings(), Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        warnings.simplefilter("ignore")
        gb.update_or_create_student(result.student)
        gb.update_or_create_submission(result.notebook, result.student)
        for grade in gb.find_submission_notebook(result.notebook, result.notebook, result.student).grades:
            grade.auto_score = result.points.get(grade.name, 0.0)
            grade.needs_manual_grade = False
        gb.db.commit()
    dest = course / "autograded" / result.student / result.notebook
    shutil.rmtree(dest, ignore_errors=True)
    if result.autograded and job is not None:
        graded = read_regular(job.folder, "autograded", job.student, job.stem, f"{job.stem}.ipynb")
        dest.mkdir(parents=True)
        (dest / f"{job.stem}.ipynb").write_bytes(graded)


def _write_feedback(result: Result, course: Path, dest: Path) -> None:
    """One HTML per student and notebook: nbgrader's feedback with the grader's notes on top."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    rows = "".join(f"<tr><td>{html.escape(g.removeprefix('test_'))}</td><td>{p:g} / {result.max_points[g]:g}</td></tr>"
                   for g, p in result.points.items())
    notes = "".join(f"<li>{html.escape(n)}</li>" for n in result.notes)
    summary = (f'<div style="margin:1em;padding:1em;border:2px solid #888">'
               f"<h2>{html.escape(result.notebook)}: {result.total:g} / {sum(result.max_points.values()):g} "
               f"points</h2><table>{rows}</table>{f'<ul>{notes}</ul>' if notes else ''}</div>")
    page = None
    if result.autograded:
        try:
            page = read_regular(course, "feedback", result.student, result.notebook,
                                f"{result.notebook}.html").decode("utf-8")
            if "HIDDEN TESTS" in page:  # nbgrader's page would show them: only the summary goes out
                page = None
            else:
                page = re.sub(r"(<body[^>]*>)", lambda m: m[1] + summary, page, count=1)
        except (OSError, FacelibError, UnicodeDecodeError):
            page = None
    if page is None:
        page = (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(result.notebook)}</title>"
                f"</head><body>{summary}</body></html>")
    dest.write_text(page, encoding="utf-8")


def write_grades(results: list[Result], path: Path) -> None:
    """``grades.csv``: student, notebook, points per exercise (blank if not in that notebook), total."""
    exercises: list[str] = []
    for result in sorted(results, key=lambda r: r.notebook):
        exercises += [g.removeprefix("test_") for g in result.points if g.removeprefix("test_") not in exercises]
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["student", "notebook", *exercises, "total", "max", "notes"])
        for r in sorted(results, key=lambda r: (r.student, r.notebook)):
            points = {g.removeprefix("test_"): f"{p:g}" for g, p in r.points.items()}
            writer.writerow([r.student, r.notebook, *(points.get(e, "") for e in exercises), f"{r.total:g}",
                             f"{sum(r.max_points.values()):g}", "; ".join(r.notes)])


UID_LOCKS = Path("/run/facelib-grading")   # root's: one lock per grading uid in use, across grading runs


@contextlib.contextmanager
def _uid_pool(first_uid: int, jobs: int) -> Iterator[queue.Queue]:
    """``jobs`` uids for the kernels (as root), each locked for this run, else the caller's (None).

    From ``first_uid`` on, a uid that another grading run on this machine holds is passed over (so
    two runs never share one); a uid with a passwd entry is refused; anything left running as a
    uid this run takes (a crashed run's) is killed first.

    Raises
    ------
    FacelibError
        If a uid on the way belongs to a user, or 100 uids on are all taken.
    """
    import fcntl
    import pwd

    pool: queue.Queue = queue.Queue()
    if os.geteuid() != 0:
        for _ in range(jobs):
            pool.put(None)
        yield pool
        return
    UID_LOCKS.mkdir(mode=0o700, exist_ok=True)
    if UID_LOCKS.is_symlink() or UID_LOCKS.stat().st_uid != 0:
        raise FacelibError(f"{UID_LOCKS} must be a folder of root's")
    locks: list[int] = []
    try:
        for uid in range(first_uid, first_uid + 100):
            if len(locks) == jobs:
                break
            try:
                raise FacelibError(f"uid {uid} belongs to user {pwd.getpwuid(uid).pw_name!r}: grading needs "
                                   f"{jobs} unused uids from {first_uid} on (pass another --first-uid)")
            except KeyError:
                pass
            lock = os.open(UID_LOCKS / f"{uid}.lock", os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(lock)
                continue
            locks.append(lock)
            if sandbox.kill_uid(uid):
                print(f"killed processes left running as grading uid {uid}", file=sys.stderr)
            pool.put(uid)
        else:
            raise FacelibError(f"uids {first_uid} to {first_uid + 99} are taken by other grading runs")
        yield pool
    finally:
        for lock in locks:
            os.close(lock)


def _socket_root() -> Path:
    """A fresh root-only folder for the jobs' sockets, in memory (/dev/shm) where possible."""
    shm = Path("/dev/shm")
    base = shm if shm.is_dir() and os.access(shm, os.W_OK) else None
    return Path(tempfile.mkdtemp(prefix="facelib-grading-", dir=base))


def _prepare(submissions: Path, student: str, stem: str,
             release: Path) -> tuple[nbformat.NotebookNode | None, Result, bool]:
    """The notebook to grade (None: nothing to grade), the result with the notes so far, and whether
    anything was handed in (then a notebook that cannot be graded is recorded with 0 points)."""
    exercises = _exercises(release)
    result = Result(student, stem, dict.fromkeys(exercises, 0.0), exercises)
    if not STUDENT_ID.fullmatch(student):
        result.notes.append("the folder name is not a student id (letters, digits, . _ @ + -, at most 100, "
                            "not starting with .): not graded, every exercise 0 points")
        return None, result, False
    try:
        raw = read_submission(submissions, student, stem)
        if raw is None:
            result.notes.append("no notebook submitted: every exercise 0 points")
            return None, result, False
        nb = nbformat.reads(raw.decode("utf-8"), as_version=4)
        release_nb = nbformat.read(release, as_version=4)
        result.notes += [f"the locked cell {gid} was edited: graded with the original"
                         for gid in classroom.edited_locked_cells(nb, release_nb)]
        result.notes += [f"the cell {gid} was deleted: graded with the original put back"
                         for gid in classroom.restore_cells(nb, release_nb)]
        return nb, result, True
    except Refused as error:
        result.notes.append(f"the submission was refused ({error}): every exercise 0 points")
    except Exception as error:  # whatever is wrong with the file is the student's problem, never the grader's
        result.notes.append(f"the notebook could not be read ({type(error).__name__}: {str(error)[:200]}): "
                            "every exercise 0 points")
    return None, result, True


def grade(submissions: Path, jobs: int = 1, stems: list[str] | None = None, limits: Limits | None = None, *,
          course: Path = classroom.COURSE, out: Path = classroom.GRADES, work: Path = classroom.GRADING,
          first_uid: int = 61000) -> list[Result]:
    """Autograde every student folder in ``submissions`` on the released notebooks; see the module doc.

    ``course`` is the built course (``make assignments``), ``out`` receives ``grades.csv`` and
    ``feedback/``, ``work`` the job folders and the read-only copy of facelib.

    Raises
    ------
    FacelibError
        If ``submissions`` is not a folder, the course has not been built, bubblewrap is missing
        or the grading uids are taken.
    """
    sandbox.bwrap()
    if not submissions.is_dir():
        raise FacelibError(f"SUBMISSIONS={submissions} is not a folder (expected one folder per student).")
    releases = {p.parent.name: p for p in sorted((course / "release").glob("*/*.ipynb"))}
    if not releases or not (course / "gradebook.db").is_file():
        raise FacelibError(f"No released assignments in {course}: run `make assignments` first.")
    stems = stems or sorted(releases)
    limits = limits or Limits(cell_seconds=classroom.configured_timeout())
    work.mkdir(parents=True, exist_ok=True)
    work.chmod(0o700)
    lib = make_read_only_copy(work / "lib")
    students = sorted(p.name for p in submissions.iterdir() if not p.name.startswith(".")
                      and (stat.S_ISDIR(p.lstat().st_mode) or p.is_symlink()))  # a link is refused, and listed
    results: list[Result] = []
    start = time.perf_counter()
    sockets = _socket_root()
    _remove_tree(out)
    try:
        with _uid_pool(first_uid, jobs) as uids, ThreadPoolExecutor(max_workers=jobs) as pool:
            futures = {}
            for student in students:
                for stem in stems:
                    nb, result, handed_in = _prepare(submissions, student, stem, releases[stem])
                    if nb is None:
                        if handed_in:
                            _record(result, None, course)
                        results.append(result)
                        continue
                    job = _Job(len(futures), student, stem, nb, releases[stem], course,
                               work / "jobs" / f"{len(futures):04d}", lib, limits, sockets / f"{len(futures):04d}")
                    notes = result.notes
                    futures[pool.submit(_grade_one, job, uids)] = (job, notes)
            for future in as_completed(futures):
                job, notes = futures[future]
                try:
                    result = future.result()
                except Exception as error:  # a grader bug stops one submission, never the class
                    exercises = _exercises(job.release)
                    result = Result(job.student, job.stem, dict.fromkeys(exercises, 0.0), exercises,
                                    [f"not graded: the grader failed ({type(error).__name__}: {error}); "
                                     "not the student's fault: grade this notebook again"])
                result.notes[:0] = notes
                _record(result, job, course)  # one gradebook writer: this thread
                results.append(result)
                print(f"{result.student} / {result.notebook}: {result.total:g} / "
                      f"{sum(result.max_points.values()):g} in {result.seconds:.0f} s"
                      + "".join(f"\n    {n}" for n in result.notes), flush=True)
    finally:
        shutil.rmtree(sockets, ignore_errors=True)
        for stem in stems:  # nbgrader's feedback for every graded student at once, from the course gradebook
            if any(r.autograded and r.notebook == stem for r in results):
                classroom.nbgrader("generate_feedback", stem, "--force", course=course, check=False,
                                   log=course / "logs" / f"feedback_{stem}.log")
        for result in results:
            _write_feedback(result, course, out / "feedback" / result.student / f"{result.notebook}.html")
        write_grades(results, out / "grades.csv")
    graded = [r for r in results if r.seconds]
    wall = time.perf_counter() - start
    print(f"graded {len(graded)} submissions with --jobs {jobs} in {wall:.0f} s "
          f"({wall / max(len(graded), 1):.1f} s per submission per notebook) -> {out / 'grades.csv'}")
    return results
