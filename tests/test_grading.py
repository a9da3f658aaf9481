"""A fake class graded end to end with nbgrader: the right points for every student, hostile ones included.

Two lessons: 00 (the face lesson's warm-up, one exercise) and 06 (the style costs, five). Students:

==========  ======================================================  ==========  ==================
student     what they hand in                                       00          06 (5 exercises)
==========  ======================================================  ==========  ==================
solution    the instructor's solutions                              1           1 1 1 1 1
untouched   the student copies as released                          0           0 0 0 0 0
mistakes1   wrong variant 1 of euclidean_distance, content, style,  0           0 1 1 0 0
            total
mistakes2   wrong variant 2 of the same                             0           0 1 1 0 0
mistakes3   no 00 (a missing notebook); wrong gram_matrix and       0 missing   1 0 0 0 1
            layer cost, variant 1 (the style cost needs them)
mistakes4   no 00; the same, variant 2                              0 missing   1 0 0 0 1
looper      an infinite loop in euclidean_distance                  0           (missing)
hog         compute_content_cost kills its kernel; gram_matrix      (missing)   0 0 0 0 1
            allocates until memory runs out
tamperer    deletes 00's test cell; edits 06's gram test cell to    1           1 0 0 0 0
            print "passed" with a wrong gram_matrix; deletes the
            total-cost test cell with a wrong total_cost
deleter     deletes and writes the grader's files before defining   0           (missing)
            its function
broken      a file that is not a notebook                           0           (missing)
==========  ======================================================  ==========  ==================

It needs root (CI grades as root): only then do kernels run as an unprivileged user who cannot
delete the grader's files, which the deleter checks.
"""

from __future__ import annotations

import csv
import os
import re
import time

import nbformat
import pytest
from conftest import require_asset

from facelib.course.grading import classroom

FACE, STYLE = "00_setup_check", "06_style_transfer_costs"
EXERCISES = {FACE: ["euclidean_distance"],
             STYLE: ["compute_content_cost", "gram_matrix", "compute_layer_style_cost", "compute_style_cost",
                     "total_cost"]}
_OWN_GRAMS = ("_, n_H, n_W, n_C = a_G.shape\nG_S = tf.einsum('bijc,bijd->bcd', a_S, a_S)\n"
              "G_G = tf.einsum('bijc,bijd->bcd', a_G, a_G)\n")
WRONG = {  # two plausible wrong bodies per exercise (the code between the solution markers)
    "euclidean_distance": ["return np.sum(np.square(x - y), axis=-1)",                # squared
                           "return np.sqrt(np.sum(np.square(x - y)))"],               # over every axis
    "compute_content_cost": [
        "_, n_H, n_W, n_C = a_G.shape\nreturn tf.reduce_sum(tf.square(a_C - a_G)) / (n_H * n_W * n_C)",  # no 4
        "_, n_H, n_W, n_C = a_G.shape\nreturn tf.reduce_sum(a_C - a_G) / (4 * n_H * n_W * n_C)"],       # no square
    "gram_matrix": ["m, n_H, n_W, n_C = a.shape\nu = tf.reshape(a, (m, n_C, n_H * n_W))\n"
                    "return tf.matmul(u, u, transpose_b=True)",                        # reshaped, not transposed
                    "m, n_H, n_W, n_C = a.shape\nu = tf.reshape(a, (m, n_H * n_W, n_C))\n"
                    "return tf.matmul(u, u, transpose_a=True) / (n_H * n_W)"],         # normalised
    "compute_layer_style_cost": [  # their own Gram matrices, so only the normalisation is wrong
        _OWN_GRAMS + "return tf.reduce_sum(tf.square(G_S - G_G)) / (n_H * n_W * n_C) ** 2",    # no 2
        _OWN_GRAMS + "return tf.reduce_sum(tf.square(G_S - G_G)) / (2 * n_H * n_W * n_C)"],    # not squared
    "compute_style_cost": [
        "return sum(compute_layer_style_cost(style_activations[n], generated_activations[n]) for n in style_layers)",
        "return sum(w * compute_layer_style_cost(style_activations[n], generated_activations[n])\n"
        "           for n, w in style_layers.items()) / len(style_layers)"],
    "total_cost": ["return alpha * J_style + beta * J_content",                        # swapped weights
                   "return J_content + J_style"],                                       # no weights
}
LOOP = "while True:\n    pass"
CRASH = "import os, signal\nos.kill(os.getpid(), signal.SIGKILL)  # the kernel dies at once"
HOG = "blocks = []\nwhile True:\n    blocks.append(np.ones(1 << 27))  # 1 GiB at a time, touched"
PASSED_LINE = 'print("gram_matrix: all 4 tests passed.")'


def _deleter_cell() -> str:
    targets = [("remove", "facelib.course.checks._core.__file__"),
               ("remove", repr(str(classroom.ROOT / "facelib" / "checks" / "_core.py"))),
               ("remove", repr(str(classroom.COURSE / "gradebook.db"))),
               ("write", repr(str(classroom.ROOT / "facelib" / "checks" / "planted.py")))]
    lines = ["import os", "import facelib.course.checks._core", "errors = []"]
    for action, target in targets:
        do = f"os.remove({target})" if action == "remove" else f"open({target}, 'w').close()"
        lines += ["try:", f"    {do}", "except OSError as error:", "    errors.append(error)"]
    lines += ["if errors:", "    raise errors[0]", "",
              "def euclidean_distance(x, y):", "    return np.sqrt(np.sum(np.square(x - y), axis=-1))"]
    return "\n".join(lines)


def _with_body(source: str, body: str) -> str:
    match = re.search(r"^([ \t]*)### BEGIN SOLUTION\n.*?^[ \t]*### END SOLUTION", source, re.DOTALL | re.MULTILINE)
    indented = "\n".join(match[1] + line for line in body.splitlines())
    return source[:match.start()] + indented + source[match.end():]


def _submission(stem: str, bodies: dict[str, str] | None = None, untouched: bool = False,
                tests: dict[str, str | None] | None = None, cells: dict[str, str] | None = None):
    """The release of ``stem`` filled in: solutions, except ``bodies`` (function -> body) and ``cells``
    (grade_id -> whole source); test cells in ``tests`` are replaced (str) or deleted (None)."""
    release = nbformat.read(classroom.COURSE / "release" / stem / f"{stem}.ipynb", as_version=4)
    source = {c.metadata.nbgrader["grade_id"]: c.source for c in nbformat.read(
        classroom.ROOT / "notebooks" / f"{stem}.ipynb", as_version=4).cells if "nbgrader" in c.metadata}
    kept = []
    for cell in release.cells:
        gid = cell.metadata.get("nbgrader", {}).get("grade_id")
        if cell.metadata.get("nbgrader", {}).get("solution") and not untouched:
            cell.source = (cells or {}).get(gid) or (
                _with_body(source[gid], bodies[gid]) if gid in (bodies or {}) else source[gid])
        if gid in (tests or {}):
            if tests[gid] is None:
                continue
            cell.source = tests[gid]
        kept.append(cell)
    release.cells = kept
    return release


def _wrong(variant: int, functions: list[str]) -> dict[str, str]:
    return {f: WRONG[f][variant] for f in functions}


def _class() -> dict[str, dict[str, nbformat.NotebookNode]]:
    own = ["compute_content_cost", "compute_style_cost", "total_cost"]  # wrong on their own
    return {
        "solution": {FACE: _submission(FACE), STYLE: _submission(STYLE)},
        "untouched": {FACE: _submission(FACE, untouched=True), STYLE: _submission(STYLE, untouched=True)},
        "mistakes1": {FACE: _submission(FACE, _wrong(0, ["euclidean_distance"])),
                      STYLE: _submission(STYLE, _wrong(0, own))},
        "mistakes2": {FACE: _submission(FACE, _wrong(1, ["euclidean_distance"])),
                      STYLE: _submission(STYLE, _wrong(1, own))},
        "mistakes3": {STYLE: _submission(STYLE, _wrong(0, ["gram_matrix", "compute_layer_style_cost"]))},
        "mistakes4": {STYLE: _submission(STYLE, _wrong(1, ["gram_matrix", "compute_layer_style_cost"]))},
        "looper": {FACE: _submission(FACE, {"euclidean_distance": LOOP})},
        "hog": {STYLE: _submission(STYLE, {"compute_content_cost": CRASH, "gram_matrix": HOG})},
        "tamperer": {FACE: _submission(FACE, tests={"test_euclidean_distance": None}),
                     STYLE: _submission(STYLE, _wrong(0, ["gram_matrix", "total_cost"]),
                                        tests={"test_gram_matrix": PASSED_LINE, "test_total_cost": None})},
        "deleter": {FACE: _submission(FACE, cells={"euclidean_distance": _deleter_cell()})},
    }


EXPECTED = {  # student -> notebook -> points per exercise, in notebook order
    "solution": {FACE: [1], STYLE: [1, 1, 1, 1, 1]},
    "untouched": {FACE: [0], STYLE: [0, 0, 0, 0, 0]},
    "mistakes1": {FACE: [0], STYLE: [0, 1, 1, 0, 0]},
    "mistakes2": {FACE: [0], STYLE: [0, 1, 1, 0, 0]},
    "mistakes3": {FACE: [0], STYLE: [1, 0, 0, 0, 1]},
    "mistakes4": {FACE: [0], STYLE: [1, 0, 0, 0, 1]},
    "looper": {FACE: [0], STYLE: [0, 0, 0, 0, 0]},
    "hog": {FACE: [0], STYLE: [0, 0, 0, 0, 1]},
    "tamperer": {FACE: [1], STYLE: [1, 0, 0, 0, 0]},
    "deleter": {FACE: [0], STYLE: [0, 0, 0, 0, 0]},
    "broken": {FACE: [0], STYLE: [0, 0, 0, 0, 0]},
}

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0, reason="grading as root is what lets kernels run as an unprivileged user (CI grades as root)")


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    for name in ("nst_content", "nst_style", "squeezenet"):  # what lesson 06 loads
        require_asset(name)
    classroom.make_assignments([classroom.ROOT / "notebooks" / f"{stem}.ipynb" for stem in (FACE, STYLE)])
    folder = tmp_path_factory.mktemp("submissions")
    for student, notebooks in _class().items():
        (folder / student).mkdir()
        for stem, nb in notebooks.items():
            nbformat.write(nb, folder / student / f"{stem}.ipynb")
    (folder / "broken").mkdir()
    (folder / "broken" / f"{FACE}.ipynb").write_text('{"cells": [{"cell_type": "code", "source": ')
    start = time.perf_counter()
    results = classroom.grade(folder, jobs=2, stems=[FACE, STYLE], memory_gb=4)
    seconds = time.perf_counter() - start
    with open(classroom.GRADES / "grades.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    return results, rows, seconds


def test_every_student_gets_the_expected_points(graded):
    results, rows, seconds = graded
    per_notebook = {stem: [r.seconds for r in results if r.notebook == stem and r.seconds] for stem in (FACE, STYLE)}
    print(f"\nfake class graded in {seconds:.0f} s with --jobs 2; mean seconds per submission: "
          + ", ".join(f"{stem} {sum(s) / len(s):.0f} s (n={len(s)})" for stem, s in per_notebook.items()))
    got = {}
    for row in rows:
        got.setdefault(row["student"], {})[row["notebook"]] = [int(float(row[e])) for e in EXERCISES[row["notebook"]]]
        assert float(row["total"]) == sum(got[row["student"]][row["notebook"]])
    assert got == EXPECTED


def test_feedback_names_what_went_wrong(graded):
    results, _, _ = graded
    notes = {(r.student, r.notebook): " | ".join(r.notes) for r in results}
    assert "time limit" in notes["looper", FACE]
    assert "memory" in notes["hog", STYLE] and "kernel died" in notes["hog", STYLE]
    assert "test_euclidean_distance was deleted" in notes["tamperer", FACE]
    assert "test_gram_matrix was edited" in notes["tamperer", STYLE]
    assert "test_total_cost was deleted" in notes["tamperer", STYLE]
    assert "PermissionError" in notes["deleter", FACE]
    assert "no notebook submitted" in notes["mistakes3", FACE]
    assert "could not be read" in notes["broken", FACE]
    assert "hidden" not in notes["solution", STYLE] and not notes["solution", FACE]
    for student in EXPECTED:
        for stem in (FACE, STYLE):
            page = (classroom.GRADES / "feedback" / student / f"{stem}.html").read_text()
            assert f"{stem}: {sum(EXPECTED[student][stem])} / {len(EXERCISES[stem])} points" in page


def test_the_deleter_changed_nothing(graded):
    for path in (classroom.ROOT / "facelib" / "checks" / "_core.py", classroom.COURSE / "gradebook.db",
                 classroom.GRADING / "lib" / "facelib" / "checks" / "_core.py"):
        assert path.is_file(), path
    assert not (classroom.ROOT / "facelib" / "checks" / "planted.py").exists()


def test_grades_are_in_the_course_gradebook(graded):
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{classroom.COURSE / 'gradebook.db'}") as gb:
        for student, notebooks in EXPECTED.items():
            for stem, points in notebooks.items():
                if stem == FACE and student in ("mistakes3", "mistakes4", "hog"):
                    continue  # nothing handed in, nothing recorded
                if stem == STYLE and student in ("looper", "deleter", "broken"):
                    continue
                assert gb.find_submission_notebook(stem, stem, student).score == sum(points), (student, stem)
