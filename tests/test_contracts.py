"""Contracts, by property: every public entry point given a value outside its contract raises a FacelibError
naming that argument, or returns a right result; never another exception.

Covered: the facade (``facelib.faces.__all__``'s functions), the database (``FaceDatabase`` and
``normalize_name``), the style API (``stylize`` and the public cost functions) and every command of
the command line. Each test replaces one argument of a valid call with a value drawn from
:data:`BAD` (wrong types, NaN, infinities, negative or huge numbers, ragged lists, arrays of the wrong
shape or dtype); a value that happens to be valid must give a result that passes the function's own
output check.
"""

from __future__ import annotations

import contextlib
import inspect
import io
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from facelib import faces
from facelib.cli import main
from facelib.convnets import style
from facelib.errors import FacelibError
from facelib.recognition.database import FaceDatabase, Match, normalize_name

CONTRACT = settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
SLOW = settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck))

BAD = st.one_of(
    st.none(), st.booleans(), st.text(max_size=4), st.binary(max_size=4),
    st.sampled_from([float("nan"), float("inf"), -float("inf"), -1, -1.5, 0, 10**30, -(10**30), 1e308]),
    st.integers(-(2**70), 2**70),
    st.sampled_from([[1, 2, 3], [[1, 2], [3]], ["a", "b"], {"a": 1}, (), object(), Path("/nonexistent/x.npz")]),
    st.sampled_from([np.zeros((2, 2), complex), np.array(["a", "b"]), np.zeros(3, "datetime64[s]"),
                     np.full((3, 4), np.nan), np.zeros((0,)), np.zeros((2, 3, 4, 5, 6)), np.zeros(7, object),
                     np.ones((5, 2)), np.ones((1, 4)) * np.inf, np.array(5.0)]),
)


def _call(function, argument: str, value, kwargs: dict, words=()):
    """Call with ``argument`` replaced by ``value``: a FacelibError naming it (or one of ``words``), or a result."""
    call = {**kwargs, argument: value}
    try:
        return True, function(**call)
    except FacelibError as error:
        names = (argument, *words)
        assert any(name in str(error) for name in names), f"{function.__name__}({argument}={value!r}): {error}"
        return False, None


def _arguments(function, skip=()) -> list[str]:
    return [name for name in inspect.signature(function).parameters if name not in skip]


# -- the facade ---------------------------------------------------------------------------------
IMAGE = np.zeros((48, 64, 3), np.uint8)  # a valid photo, without a face
BOX = np.array([[10.0, 10.0, 40.0, 40.0]])
LANDMARKS = np.array([[[30, 20], [25, 20], [12, 20], [17, 20], [21, 30]]], float)
ENCODING = np.full(128, 0.05)
IMAGE_WORDS = ("image", "source", "photo")

FACADE = {  # function -> (valid keyword arguments, words a message may use for the image)
    faces.detect_faces: {"image": IMAGE, "upsample": 0},
    faces.find_faces: {"image": IMAGE, "upsample": 0},
    faces.face_landmarks: {"image": IMAGE, "boxes": BOX},
    faces.central_face: {"boxes": BOX, "shape": IMAGE.shape},
    faces.align_faces: {"images": [IMAGE], "upsample": 0, "padding": 0.25, "fallback": True},
    faces.encode_faces: {"images": [IMAGE], "jitter": 0, "upsample": 0, "seed": 0, "fallback": True},
    faces.face_distance: {"known": ENCODING, "candidate": ENCODING},
    faces.compare_faces: {"a": ENCODING, "b": ENCODING, "threshold": 0.6},
    faces.face_chips: {"image": IMAGE, "landmarks": LANDMARKS, "size": 150, "padding": 0.25, "jitter": 0, "seed": 0},
    faces.jitter_chip: {"chip": np.zeros((150, 150, 3), np.uint8), "rng": np.random.default_rng(0)},
    faces.encode_chips: {"chips": np.zeros((1, 150, 150, 3), np.uint8), "batch_size": 8},
    faces.center_box: {"shape": IMAGE.shape},
    faces.similarity_transform: {"src": LANDMARKS[0], "dst": LANDMARKS[0] * 2},
    faces.converted_weights_path: {"dat_digest": "0" * 64},
}


def test_every_public_function_of_the_facade_is_covered():
    public = {name for name, value in vars(faces).items()
              if name in faces.__all__ and callable(value) and not inspect.isclass(value)}
    covered = {f.__name__ for f in FACADE} | {"build_encoder", "load_encoder", "encoder"}  # model builders
    assert public == covered


def _facade_result_ok(function, result) -> None:
    if function in (faces.detect_faces,):
        boxes, scores = result
        assert boxes.shape[1:] == (4,) and len(scores) == len(boxes)
    elif function is faces.find_faces:
        assert result.encodings.shape == (len(result.boxes), 128) and np.all(np.isfinite(result.encodings))
    elif function in (faces.face_distance,):
        assert np.all(np.isfinite(result)) and np.all(np.asarray(result) >= 0)
    elif function is faces.compare_faces:
        assert np.asarray(result).dtype == bool
    elif function is faces.central_face:
        assert result is None or isinstance(result, int)
    elif function in (faces.align_faces, faces.encode_faces, faces.face_landmarks, faces.face_chips,
                      faces.jitter_chip, faces.encode_chips, faces.center_box, faces.similarity_transform):
        parts = result if isinstance(result, tuple) else (result,)
        assert all(np.all(np.isfinite(np.asarray(p, dtype=np.float64))) for p in parts)
    else:
        assert isinstance(result, Path)


def _draw_and_call(data, function, kwargs: dict, arguments: list[str], words_for) -> tuple[bool, object]:
    """Call ``function(**kwargs)`` with one of ``arguments`` replaced by a drawn bad value (see :func:`_call`)."""
    argument = data.draw(st.sampled_from(arguments))
    return _call(function, argument, data.draw(BAD), kwargs, words_for(argument))


@pytest.mark.parametrize("function", list(FACADE), ids=lambda f: f.__name__)
@SLOW
@given(data=st.data())
def test_facade_contracts(function, data):
    ok, result = _draw_and_call(data, function, FACADE[function], _arguments(function),
                                lambda a: IMAGE_WORDS if a in ("image", "images", "chip", "chips") else ())
    if ok:
        _facade_result_ok(function, result)


# -- the database -------------------------------------------------------------------------------
def _db() -> FaceDatabase:
    db = FaceDatabase()
    db.enroll("ada", np.eye(4)[:2])
    db.enroll("bob", np.eye(4)[2:])
    return db


@settings(max_examples=60, deadline=None)
@given(name=BAD)
def test_normalize_name_contract(name):
    ok, result = _call(normalize_name, "name", name, {})
    if ok:
        assert isinstance(result, str) and result == result.strip() and result


@CONTRACT
@given(method=st.sampled_from(["enroll", "remove", "encodings_of", "identify", "nearest"]), data=st.data())
def test_database_methods_contract(method, data):
    db = _db()
    bound = getattr(db, method)
    valid = {"enroll": {"name": "cy", "encodings": np.ones(4)}, "remove": {"name": "ada"},
             "encodings_of": {"name": "ada"}, "identify": {"encodings": np.ones(4), "threshold": 0.6},
             "nearest": {"encodings": np.ones(4)}}[method]
    argument = data.draw(st.sampled_from(list(valid)))
    ok, result = _call(bound, argument, data.draw(BAD), valid)
    if ok and method in ("identify", "nearest"):
        assert all(isinstance(m, Match) and np.isfinite(m.distance) for m in result)
    if ok and method == "enroll":
        assert len(db) == 3


@CONTRACT
@given(argument=st.sampled_from(["dim", "exact_below"]), value=BAD)
def test_database_constructor_contract(argument, value):
    ok, db = _call(FaceDatabase, argument, value, {})
    if ok:
        assert isinstance(db, FaceDatabase) and (db.dim is None or db.dim >= 1)


@CONTRACT
@given(method=st.sampled_from(["open", "load", "save", "save_index"]), data=st.data())
def test_database_files_contract(method, data, tmp_path_factory):
    folder = tmp_path_factory.mktemp("db")
    path = _db().save(folder / "people.npz")
    db = FaceDatabase.load(path)
    bound = {"open": FaceDatabase.open, "load": FaceDatabase.load, "save": db.save, "save_index": db.save_index}[method]
    valid = {"open": {"path": path, "dim": None}, "load": {"path": path, "use_index": True, "exact_below": 50},
             "save": {"path": path, "lock_timeout": 1.0}, "save_index": {"lock_timeout": 1.0}}[method]
    argument = data.draw(st.sampled_from(list(valid)))
    ok, result = _call(bound, argument, data.draw(BAD), valid)
    if ok and method in ("open", "load"):
        assert isinstance(result, FaceDatabase)
    if ok:
        assert len(FaceDatabase.load(path)) == 2  # never damaged


# -- the style API ------------------------------------------------------------------------------
A = np.ones((1, 4, 4, 3), np.float32)
STYLE = {  # function -> valid keyword arguments
    style.content_cost: {"a_C": A, "a_G": A * 2, "normalization": "volume"},
    style.gram_matrix: {"a": A},
    style.layer_style_cost: {"a_S": A, "a_G": A * 2},
    style.style_cost: {"style_activations": {"x": A}, "generated_activations": {"x": A * 2}, "layer_weights": ["x"]},
    style.total_cost: {"J_content": 1.0, "J_style": 2.0, "alpha": 10.0, "beta": 40.0},
    style.total_variation: {"images": A},
    style.initial_image: {"content": np.zeros((8, 8, 3), np.float32), "init": "blend", "noise_ratio": 0.5, "seed": 0},
}


@pytest.mark.parametrize("function", list(STYLE), ids=lambda f: f.__name__)
@CONTRACT
@given(data=st.data())
def test_style_cost_contracts(function, data):
    ok, result = _draw_and_call(data, function, STYLE[function], list(STYLE[function]),
                                lambda argument: ("style layer",) if argument == "layer_weights" else ())
    if ok:  # (finite inputs may still overflow to inf, never to NaN)
        assert not np.any(np.isnan(np.asarray(result, dtype=np.float64)))


STYLIZE = {"content": np.zeros((32, 32, 3), np.uint8), "style": np.zeros((32, 32, 3), np.uint8), "size": 32,
           "backbone": "squeezenet", "weights": None, "steps": 1, "alpha": 1.0, "beta": 1.0, "tv_weight": 0.0,
           "optimizer": "adam", "learning_rate": 1.0, "init": "content", "noise_ratio": 0.0, "pooling": "max",
           "seed": 0, "max_seconds": 60.0, "snapshot_every": 0, "progress": False}


@SLOW
@given(argument=st.sampled_from(list(STYLIZE)), value=BAD.filter(lambda v: v is not None))
def test_stylize_contract(argument, value):
    ok, result = _call(style.stylize, argument, value, STYLIZE)
    if ok:
        assert result.image.dtype == np.uint8 and result.image.ndim == 3


# -- the command line ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def cli_files(tmp_path_factory):
    from PIL import Image

    folder = tmp_path_factory.mktemp("cli")
    Image.fromarray(np.zeros((40, 40, 3), np.uint8)).save(folder / "grey.png")
    (folder / "text.jpg").write_text("not an image")
    _db().save(folder / "db4.npz")  # 4-d encodings: the wrong length for faces
    return folder


TOKENS = ["--threshold", "--upsample", "--json", "-q", "--size", "--steps", "--backbone", "-o", "--force",
          "--wait", "--treshold", "0", "-1", "2.5", "nan", "1e9", "x", "", "vgg19", "squeezenet",
          "{f}/grey.png", "{f}/text.jpg", "{f}/missing.jpg", "{f}/db4.npz", "{f}/new.npz",
          "{f}/out.psd", "{f}", "Ada", "a/b", "\u200b"]


@SLOW
@given(command=st.sampled_from(["verify", "enroll", "identify", "stylize", "assets"]),
       rest=st.lists(st.sampled_from(TOKENS), max_size=6))
def test_every_command_answers_with_an_exit_code(command, rest, cli_files):
    argv = [command, *(token.format(f=cli_files) for token in rest)]
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(argv)
        except SystemExit as exit_:  # argparse: usage errors and --help
            code = exit_.code
    assert code in (0, 1, 2), (argv, code, err.getvalue()[-500:])
    if code == 2:
        assert "error" in err.getvalue(), argv
    assert "Traceback" not in err.getvalue()
