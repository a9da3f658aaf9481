"""Classroom mode: tagging for nbgrader, hidden tests, restoring deleted cells, the sandbox's parts.

The fake class that nbgrader grades end to end is in ``test_grading.py``.
"""

from __future__ import annotations

import copy
import functools
import hashlib
import os
import subprocess
import sys
from pathlib import Path

import keras
import nbformat
import numpy as np
import pytest
import tensorflow as tf
from nbgrader.preprocessors import ClearHiddenTests, ClearSolutions

from facelib.course.checks import CheckFailed, _core, or_reference, run_hidden
from facelib.course.checks._core import find_checker
from facelib.course.grading import classroom, grader, sandbox
from facelib.errors import FacelibError

NOTEBOOKS = classroom.notebooks()


def _cell(kind: str, source: str, cell_id: str):
    cell = nbformat.v4.new_code_cell(source) if kind == "code" else nbformat.v4.new_markdown_cell(source)
    cell.id = cell_id
    return cell


def _lesson(check: str = "# NBVAL_CHECK_OUTPUT\ncheck_euclidean_distance(euclidean_distance);"):
    return nbformat.v4.new_notebook(cells=[
        _cell("markdown", "# A lesson", "m1"),
        _cell("code", "import numpy as np\nfrom facelib.course.checks import check_euclidean_distance", "c1"),
        _cell("code", "def euclidean_distance(x, y):\n    ### BEGIN SOLUTION\n"
                      "    return np.sqrt(np.sum((x - y) ** 2, axis=-1))\n    ### END SOLUTION", "c2"),
        _cell("code", check, "c3"),
        _cell("code", "print(euclidean_distance(np.zeros(2), np.ones(2)))", "c4"),
    ])


def test_tag_derives_every_cell_role_from_the_markers():
    tagged = classroom.tag_notebook(_lesson())
    roles = [c.metadata.get("nbgrader") for c in tagged.cells]
    assert roles[0] is None and roles[4] is None                      # markdown and demo cells stay free
    assert roles[1]["locked"] and not roles[1]["grade"]                # the checkers' import is locked
    assert roles[2]["solution"] and roles[2]["grade_id"] == "euclidean_distance" and not roles[2]["locked"]
    assert roles[3]["grade"] and roles[3]["locked"] and roles[3]["points"] == 1
    assert roles[3]["grade_id"] == "test_euclidean_distance"
    assert tagged.cells[3].source == (
        "# NBVAL_CHECK_OUTPUT\ncheck_euclidean_distance(euclidean_distance);\n### BEGIN HIDDEN TESTS\n"
        'from facelib.course.checks import run_hidden\nrun_hidden("check_euclidean_distance", euclidean_distance)\n'
        "### END HIDDEN TESTS")


def test_tag_passes_a_checker_its_other_arguments_in_the_hidden_tests():
    tagged = classroom.tag_notebook(_lesson(check="# NBVAL_CHECK_OUTPUT\n"
                                                  "check_euclidean_distance(euclidean_distance, steps=3);"))
    assert 'run_hidden("check_euclidean_distance", euclidean_distance, steps=3)' in tagged.cells[3].source


def test_tag_is_idempotent_and_keeps_what_an_instructor_set():
    once = classroom.tag_notebook(_lesson())
    once.cells[3].metadata.nbgrader["points"] = 5
    end = classroom.HIDDEN_END
    once.cells[3].source = once.cells[3].source.replace(end, f"assert 1 + 1 == 2\n{end}")
    twice = classroom.tag_notebook(once)
    assert twice.cells[3].metadata.nbgrader["points"] == 5
    assert twice.cells[3].source.endswith("euclidean_distance)\nassert 1 + 1 == 2\n" + classroom.HIDDEN_END)
    assert classroom.tag_notebook(twice) == twice
    assert twice.cells[3].source.count(classroom.HIDDEN_BEGIN) == 1


@pytest.mark.parametrize("lesson, message", [
    (_lesson(check="check_euclidean_distance(euclidean_distance)"), "without a check cell"),
])
def test_a_graded_function_without_a_check_cell_is_refused(lesson, message):
    with pytest.raises(FacelibError, match=message):
        classroom.tag_notebook(lesson)


def test_markers_in_markdown_or_unbalanced_are_refused():
    lesson = _lesson()
    lesson.cells[0].source = "Write between `### BEGIN SOLUTION` and the end marker."
    with pytest.raises(FacelibError, match="reword"):
        classroom.tag_notebook(lesson)
    lesson = _lesson()
    lesson.cells[2].source = lesson.cells[2].source.replace("    ### END SOLUTION", "")
    with pytest.raises(FacelibError, match="Unbalanced"):
        classroom.tag_notebook(lesson)


def test_committed_notebooks_are_tagged_up_to_date():
    assert classroom.tag(NOTEBOOKS, check=True) == [], "run `python -m facelib.course.grading tag notebooks/*.ipynb`"


def _student_copy(nb):
    """What nbgrader generate_assignment does to the cells: stubs, and hidden tests removed."""
    resources = {"language": "python"}
    nb, _ = ClearSolutions().preprocess(copy.deepcopy(nb), resources)
    nb, _ = ClearHiddenTests().preprocess(nb, resources)
    return nb


def _namespace(nb) -> dict:
    namespace = {"np": np, "tf": tf, "keras": keras, "ops": keras.ops}
    for cell in nb.cells:
        if cell.metadata.get("nbgrader", {}).get("solution"):
            exec(compile(cell.source, "<graded cell>", "exec"), namespace)
    return namespace


def _tests(nb) -> list[tuple[str, str]]:
    return [(checker, function) for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade")
            for checker, function, _ in classroom._CHECK_CALL.findall(c.source)]


@pytest.mark.parametrize("path", [p for p in NOTEBOOKS if _tests(nbformat.read(p, as_version=4))],
                         ids=lambda p: p.name)
def test_solutions_pass_visible_and_hidden_tests_and_stubs_fail(path, capsys):
    nb = nbformat.read(path, as_version=4)
    student = _student_copy(nb)
    assert not any(classroom.HIDDEN_BEGIN in c.source or classroom.BEGIN in c.source for c in student.cells)
    solution, stub = _namespace(nb), _namespace(student)
    for checker, function in _tests(nb):
        capsys.readouterr()
        run_hidden(checker, solution[function])
        assert capsys.readouterr().out == "", "hidden tests must print nothing when they pass (nbval)"
        with pytest.raises(CheckFailed, match="not implemented"):
            find_checker(checker)(stub[function])
        with pytest.raises(CheckFailed, match="hidden tests: .*not implemented"):
            run_hidden(checker, stub[function])


def _fingerprint(value) -> str:
    if isinstance(value, np.ndarray):
        return hashlib.sha256(value.tobytes()).hexdigest() + str(value.shape)
    if isinstance(value, dict):
        return repr({k: _fingerprint(v) for k, v in sorted(value.items())})
    if isinstance(value, (tuple, list)):
        return repr([_fingerprint(v) for v in value])
    return repr(value)


def _memoriser(reference):
    """A function tuned to the visible checks: right on every input it has seen; on others it answers
    what it answered for inputs of the same shapes (or the first answer it learnt)."""
    seen, by_shape = {}, {}

    def shapes(args):
        return repr([np.shape(a) if isinstance(a, np.ndarray) else type(a).__name__ for a in args])

    def learn(*args, **kwargs):
        seen[_fingerprint((args, kwargs))] = by_shape[shapes(args)] = result = reference(*args, **kwargs)
        return result

    def tuned(*args, **kwargs):
        return seen.get(_fingerprint((args, kwargs)), by_shape.get(shapes(args), next(iter(seen.values()))))
    return learn, tuned


_GRADED = sorted({call for p in NOTEBOOKS for call in _tests(nbformat.read(p, as_version=4))})
# train_step changes its variable in place: a function that only replays remembered return values cannot
# pass its visible checks, so there is nothing to memorise (its hidden run reseeds the quadratic cost).
_NOT_MEMORISABLE = {"check_train_step"}


@pytest.mark.parametrize("checker, function", [(c, f) for c, f in _GRADED if c not in _NOT_MEMORISABLE])
def test_a_function_tuned_to_the_visible_checks_fails_the_hidden_ones(checker, function):
    path = next(p for p in NOTEBOOKS if (checker, function) in _tests(nbformat.read(p, as_version=4)))
    solution = _namespace(nbformat.read(path, as_version=4))
    learn, tuned = _memoriser(solution[function])
    find_checker(checker)(learn)
    find_checker(checker)(tuned)                 # the visible checks cannot tell
    with pytest.raises(CheckFailed, match="hidden tests"):
        run_hidden(checker, tuned)


def test_run_hidden_looks_the_checker_up_afresh():
    with pytest.raises(KeyError, match="no checker called"):
        run_hidden("check_nothing", lambda: None)


def test_or_reference_uses_the_learner_function_only_after_its_check_passed(capsys, monkeypatch):
    monkeypatch.setattr(_core, "_PASSED", set())  # a fresh kernel
    def euclidean_distance(x, y):
        return np.linalg.norm(x - y, axis=-1)

    def reference(x, y):
        return 0.0

    assert or_reference(euclidean_distance, reference) is reference
    assert "has not passed its check yet" in capsys.readouterr().out
    find_checker("check_euclidean_distance")(euclidean_distance)
    assert or_reference(euclidean_distance, reference) is euclidean_distance


def test_restore_cells_puts_deleted_cells_back_in_place():
    release = classroom.tag_notebook(_lesson())
    submitted = copy.deepcopy(release)
    del submitted.cells[3]                      # the test cell
    del submitted.cells[1]                      # the locked import cell
    assert classroom.restore_cells(submitted, release) == ["test_euclidean_distance"]
    assert [c.id for c in submitted.cells] == [c.id for c in release.cells]


def test_edited_locked_cells_are_named():
    release = classroom.tag_notebook(_lesson())
    submitted = copy.deepcopy(release)
    submitted.cells[3].source = 'print("euclidean_distance: all 3 tests passed.")'
    assert classroom.edited_locked_cells(submitted, release) == ["test_euclidean_distance"]


def _limited(code: str, memory_gb: float = 1.0, file_mb: float = 1.0) -> subprocess.CompletedProcess:
    setup = f"from facelib.course.grading.sandbox import set_limits; set_limits({memory_gb}, {file_mb}, None)\n"
    return subprocess.run([sys.executable, "-c", setup + code], capture_output=True, text=True, timeout=120)


def test_sandbox_memory_limit_raises_memory_error_in_the_cell():
    result = _limited("import numpy as np\ntry:\n    np.ones(1 << 28)\nexcept MemoryError:\n    print('limited')")
    assert result.stdout.strip() == "limited", result.stderr
    assert _limited("import numpy as np\nnp.ones(1 << 20)\nprint('fits')").stdout.strip() == "fits"


def test_sandbox_file_size_limit(tmp_path):
    target = tmp_path / "big.bin"
    result = _limited(f"try:\n    open({str(target)!r}, 'wb').write(bytes(2 << 20))\n"
                      "except OSError as e:\n    print('limited', e.errno)")
    assert result.stdout.startswith("limited"), result.stderr
    assert target.stat().st_size <= 1 << 20


def test_grading_without_bubblewrap_is_refused_with_the_install_command(monkeypatch, tmp_path):
    monkeypatch.setattr(sandbox.shutil, "which", lambda name: None)
    with pytest.raises(FacelibError, match="apt-get install bubblewrap"):
        grader.grade(tmp_path, course=tmp_path / "course", out=tmp_path / "out", work=tmp_path / "work")
    assert not (tmp_path / "out").exists() and not (tmp_path / "work").exists()


def test_a_submission_is_read_as_a_regular_file_never_through_a_link(tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("root only")
    for student in ("plain", "collected", "link", "folderlink", "fifo", "device", "folder"):
        (tmp_path / "class" / student).mkdir(parents=True)
    (tmp_path / "class" / "plain" / "00.ipynb").write_text("{}")
    (tmp_path / "class" / "collected" / "00").mkdir()
    (tmp_path / "class" / "collected" / "00" / "00.ipynb").write_text("{ }")
    (tmp_path / "class" / "link" / "00.ipynb").symlink_to(secret)
    (tmp_path / "class" / "folderlink" / "00").symlink_to(tmp_path / "class" / "plain")
    (tmp_path / "class" / "studentlink").symlink_to(tmp_path / "class" / "plain")
    os.mkfifo(tmp_path / "class" / "fifo" / "00.ipynb")
    (tmp_path / "class" / "device" / "00.ipynb").symlink_to("/dev/zero")
    (tmp_path / "class" / "folder" / "00.ipynb").mkdir()
    read = functools.partial(grader.read_submission, tmp_path / "class", stem="00")
    assert read(student="plain") == b"{}" and read(student="collected") == b"{ }"
    assert read(student="nobody-here") is None
    for student, message in [("link", "is a link"), ("folderlink", "is a link"), ("studentlink", "is a link"),
                             ("fifo", "is a FIFO"), ("device", "is a link"), ("folder", "is a folder")]:
        with pytest.raises(grader.Refused, match=message):
            read(student=student)
    with pytest.raises(grader.Refused, match="is a device"):
        grader.read_regular(Path("/dev"), "null")


def test_the_sandbox_binds_no_course_checkout_or_secret(tmp_path, monkeypatch):
    monkeypatch.setenv("FACELIB_MIRROR", str(tmp_path / "mirror"))
    (tmp_path / "mirror").mkdir()
    argv = sandbox.command(5, str(tmp_path / "work"), [(6, "n.ipynb")], lib=str(tmp_path / "lib"),
                           sockets=str(tmp_path / "sockets"), uid=61000, disk_mb=64, tmp_mb=32)
    binds = {argv[i + 2] for i, arg in enumerate(argv) if arg in ("--bind", "--ro-bind")}
    writable = {argv[i + 2] for i, arg in enumerate(argv) if arg == "--bind"}
    assert writable == {sandbox.SOCKETS}
    assert str(classroom.ROOT) not in binds and not any(b.startswith(str(classroom.ROOT / "build")) for b in binds)
    assert {"--unshare-net", "--unshare-pid", "--die-with-parent", "--clearenv"} <= set(argv)
    assert "FACELIB_GRADING_SECRET" not in argv and str(tmp_path / "mirror") in binds
    assert argv[argv.index("setpriv"):argv.index("setpriv") + 2] == ["setpriv", "--reuid=61000"]
    sizes = [int(argv[i + 1]) for i, arg in enumerate(argv) if arg == "--size"]
    assert sum(sizes) == (64 + 32 + 32) << 20


@pytest.mark.skipif(os.geteuid() != 0, reason="grading uids are chosen only as root")
def test_a_grading_uid_that_belongs_to_a_user_is_refused():
    with pytest.raises(FacelibError, match="belongs to user 'root'"), grader._uid_pool(0, 2):
        pass


@pytest.mark.skipif(os.geteuid() != 0, reason="grading uids are chosen only as root")
def test_two_grading_runs_never_share_a_uid():
    with grader._uid_pool(61500, 2) as first, grader._uid_pool(61500, 2) as second:
        assert sorted(first.queue) == [61500, 61501] and sorted(second.queue) == [61502, 61503]


def test_validate_reports_a_lesson_whose_tests_fail(tmp_path):
    lesson = classroom.tag_notebook(nbformat.v4.new_notebook(cells=[
        _cell("code", "def check_double(fn):\n    print('double: all 0 tests passed.')", "c0"),
        _cell("code", "def double(x):\n    ### BEGIN SOLUTION\n    return 3 * x\n    ### END SOLUTION", "c1"),
        _cell("code", "# NBVAL_CHECK_OUTPUT\ncheck_double(double)", "c2"),
    ], metadata={"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}}))
    visible = lesson.cells[2].source.split(classroom.HIDDEN_BEGIN)[0]  # a hidden test of its own
    lesson.cells[2].source = f"{visible}{classroom.HIDDEN_BEGIN}\nassert double(2) == 4\n{classroom.HIDDEN_END}"
    path = tmp_path / "99_double.ipynb"
    nbformat.write(lesson, path)
    with pytest.raises(FacelibError, match="99_double.ipynb"):
        classroom.validate([path], course=tmp_path / "course")
    lesson.cells[1].source = lesson.cells[1].source.replace("3 * x", "2 * x")
    nbformat.write(lesson, path)
    classroom.validate([path], course=tmp_path / "course")
