"""The bad-input matrix: every case ends in a typed, clear error or a documented empty result.

Each case runs through the tool a learner uses (the ``facelib`` command line in-process, or the
public API), never crashes or hangs, and never leaves a changed or partial database behind.
Unit-level twins of some cases live in tests/test_images.py, tests/test_database.py and
tests/test_assets.py; here they are checked end to end.

=============================  ================================================================
case                           outcome
=============================  ================================================================
image files (``facelib identify DB IMAGE``)
not_an_image                   ImageError, exit 2: "not an image in a supported format"
empty_file                     ImageError, exit 2: "empty (0 bytes)"
truncated_jpeg                 ImageError, exit 2: "truncated or corrupt"
missing_image                  ImageError, exit 2: "does not exist"
directory_as_image             ImageError, exit 2: "is not a file"
decompression_bomb             ImageError, exit 2: "too large to decode safely"; Pillow's limit kept
cmyk_jpeg                      decoded; the face is recognised
sixteen_bit_png                decoded (scaled to 8 bits); the face is recognised
palette_png                    decoded; the face is recognised
rgba_png                       decoded (alpha dropped); the face is recognised
greyscale_jpeg                 decoded; the face is recognised
one_pixel_image                empty result: "no face found"
no_face                        empty result for identify; verify: exit 2 "no face found"
several_faces                  one line per face, each named or "not recognized"
arrays passed to the API
nan_image                      ImageError "NaN or infinite"
inf_encoding_enroll            DatabaseError "NaN or infinite"
nan_query_identify             DatabaseError "NaN or infinite"
complex_dtype_encodings        DatabaseError "dtype"
wrong_rank_image               ImageError "shape"
wrong_rank_chips               ValueError "shape"
wrong_length_query             DatabaseError "128-dimensional"
database files
db_missing                     exit 2 "no database ... create one with facelib enroll"
db_truncated                   DatabaseError, exit 2 "truncated"
db_random_bytes                DatabaseError "not a FaceDatabase file"
db_newer_version               DatabaseError "upgrade facelib"
db_pickled_objects             DatabaseError "pickled"; nothing is unpickled
db_edited_bad_name             DatabaseError "path separators"
db_edited_nan                  DatabaseError "NaN"
db_edited_shapes               DatabaseError "damaged"
db_edited_owner_out_of_range   DatabaseError "damaged: owners" (no encoding silently dropped)
db_edited_version_text         DatabaseError "damaged: format_version"
person names (``facelib enroll``; the database file stays byte for byte the same)
duplicate_name                 exit 2 "already enrolled"
name_with_slash                exit 2 "path separators"
name_with_backslash            exit 2 "path separators"
name_dot_dot                   exit 2 "path separators"
empty_name                     exit 2 "empty"
very_long_name                 exit 2 "at most 100"
assets and options
unknown_asset_offline          AssetNotFoundError; ``assets fetch`` exit 1 listing the registered assets
weight_wrong_checksum          AssetCorruptError "does not match its SHA-256"; ``assets verify`` exit 1
negative_threshold             usage error, exit 2
database_not_npz               usage error, exit 2 "must end in .npz"
stylize_missing_folder         exit 2 before any model is built
=============================  ================================================================
"""

from __future__ import annotations

import contextlib
import io
import re
import shutil
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from facelib import assets
from facelib.__main__ import main
from facelib.database import DatabaseError, FaceDatabase
from facelib.images import ImageError, load_image

RNG = np.random.default_rng(0)


def _run(*argv) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main([str(a) for a in argv])
    return code, out.getvalue(), err.getvalue()


def _bomb_png(path, side: int = 30_000):
    """A 54-byte PNG header claiming side x side pixels (Pillow refuses it before decoding)."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0))
                     + chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + chunk(b"IEND", b""))
    return path


@pytest.fixture
def small_db(tmp_path):
    """A saved database of random 128-d encodings, and its bytes (to prove it is never changed)."""
    db = FaceDatabase()
    db.enroll("ada", RNG.normal(size=(2, 128)))
    path = db.save(tmp_path / "people.npz")
    return path, path.read_bytes()


def _unchanged(path, before):
    assert path.read_bytes() == before
    assert sorted(p.name for p in path.parent.iterdir() if p.name.startswith(".")) == []  # no temp files


# -- image files --------------------------------------------------------------------------------
def _not_an_image(tmp):
    (tmp / "x.jpg").write_text("this is not a picture")
    return tmp / "x.jpg"


def _empty(tmp):
    (tmp / "x.jpg").write_bytes(b"")
    return tmp / "x.jpg"


def _truncated(tmp):
    buffer = io.BytesIO()
    Image.fromarray(RNG.integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(buffer, "JPEG")
    (tmp / "x.jpg").write_bytes(buffer.getvalue()[:400])
    return tmp / "x.jpg"


def _directory(tmp):
    (tmp / "folder.jpg").mkdir()
    return tmp / "folder.jpg"


@pytest.mark.parametrize(("make", "message"), [
    pytest.param(_not_an_image, "not an image in a supported format", id="not_an_image"),
    pytest.param(_empty, r"empty \(0 bytes\)", id="empty_file"),
    pytest.param(_truncated, "truncated or corrupt", id="truncated_jpeg"),
    pytest.param(lambda tmp: tmp / "nowhere.jpg", "does not exist", id="missing_image"),
    pytest.param(_directory, "is not a file", id="directory_as_image"),
    pytest.param(lambda tmp: _bomb_png(tmp / "bomb.png"), "too large to decode safely", id="decompression_bomb"),
])
def test_unreadable_images(make, message, small_db, tmp_path):
    limit = Image.MAX_IMAGE_PIXELS
    image = make(tmp_path)
    code, out, err = _run("identify", small_db[0], image)
    assert code == 2 and out == ""
    assert err.startswith("facelib identify: error: ")
    assert re.search(message, err)
    with pytest.raises(ImageError, match=message):
        load_image(image)
    assert Image.MAX_IMAGE_PIXELS == limit  # the safety limit is never lowered or lifted
    _unchanged(*small_db)


@pytest.fixture(scope="module")
def odd_files(tmp_path_factory):
    """Real faces in odd formats, plus faceless and many-face photos, identified in ONE command."""
    from conftest import require_asset

    from facelib import faces

    root = require_asset("lfw") / "lfw_funneled"
    lfw = {n: root / n.replace(" ", "_") / f"{n.replace(' ', '_')}_{i:04d}.jpg"
           for n, i in [("George W Bush", 1), ("Colin Powell", 1), ("Serena Williams", 1)]}
    query = Image.open(root / "George_W_Bush" / "George_W_Bush_0002.jpg")
    tmp = tmp_path_factory.mktemp("odd")
    files = {
        "cmyk_jpeg": ("cmyk.jpg", query.convert("CMYK")),
        "sixteen_bit_png": ("grey16.png", Image.fromarray(np.asarray(query.convert("L"), np.uint16) * 257)),
        "palette_png": ("palette.png", query.convert("P", palette=Image.Palette.ADAPTIVE)),
        "rgba_png": ("rgba.png", query.convert("RGBA")),
        "greyscale_jpeg": ("grey.jpg", query.convert("L")),
        "one_pixel_image": ("one.png", Image.new("RGB", (1, 1), (200, 150, 120))),
        "no_face": ("coffee.png", Image.open(require_asset("nst_content") / "coffee.png")),
        "several_faces": ("three.jpg", Image.fromarray(np.concatenate(
            [np.asarray(Image.open(lfw[n]).convert("RGB")) for n in ["Colin Powell", "Serena Williams",
                                                                        "George W Bush"]], axis=1))),
    }
    paths = {}
    for case, (name, img) in files.items():
        img.save(tmp / name)
        paths[case] = tmp / name
    assert Image.open(paths["sixteen_bit_png"]).mode.startswith("I")  # really 16 bits on disk
    assert Image.open(paths["cmyk_jpeg"]).mode == "CMYK" and Image.open(paths["palette_png"]).mode == "P"
    db = FaceDatabase()
    encodings = faces.encode_faces([lfw["George W Bush"], lfw["Colin Powell"]])
    db.enroll("George W Bush", encodings[0])
    db.enroll("Colin Powell", encodings[1])
    db_path = db.save(tmp / "people.npz")
    code, out, err = _run("identify", db_path, *paths.values())
    assert code == 0, err
    lines = {case: [line for line in out.splitlines() if line.startswith(f"{path}: ")]
             for case, path in paths.items()}
    return paths, lines, db_path


@pytest.mark.parametrize("case", ["cmyk_jpeg", "sixteen_bit_png", "palette_png", "rgba_png", "greyscale_jpeg"])
def test_odd_formats_decode_and_the_face_is_recognised(odd_files, case):
    _, lines, _ = odd_files
    assert len(lines[case]) == 1 and ": George W Bush (distance 0." in lines[case][0], lines[case]


@pytest.mark.parametrize("case", ["one_pixel_image", "no_face"])
def test_no_face_is_a_documented_empty_result(odd_files, case):
    paths, lines, _ = odd_files
    assert lines[case] == [f"{paths[case]}: no face found"]


def test_no_face_makes_verify_fail_clearly(odd_files):
    paths, _, _ = odd_files
    code, out, err = _run("verify", paths["no_face"], paths["rgba_png"])
    assert code == 2 and out == "" and "no face found in" in err and "--upsample" in err


def test_several_faces_each_get_an_answer(odd_files):
    paths, lines, _ = odd_files
    found = lines["several_faces"]
    assert [line.split(": face ")[1][0] for line in found] == ["1", "2", "3"]
    lefts = [int(line.split(" at (")[1].split(",")[0]) for line in found]
    answers = [line.rsplit(": ", 1)[1].split(" (distance")[0] for line in found]
    by_position = [answers[i] for i in np.argsort(lefts)]  # photos side by side: Powell, Williams, Bush
    assert by_position == ["Colin Powell", "not recognized", "George W Bush"]


# -- arrays passed to the API -------------------------------------------------------------------
def test_nan_image():
    from facelib import faces

    with pytest.raises(ImageError, match="NaN or infinite"):
        faces.encode_faces([np.full((40, 40, 3), np.nan)])


@pytest.mark.parametrize(("action", "encodings", "message"), [
    pytest.param("enroll", np.r_[np.zeros(127), np.inf], "NaN or infinite", id="inf_encoding_enroll"),
    pytest.param("identify", np.r_[np.nan, np.zeros(127)], "NaN or infinite", id="nan_query_identify"),
    pytest.param("enroll", np.zeros(128, complex), "dtype", id="complex_dtype_encodings"),
    pytest.param("identify", np.zeros(64), "128-dimensional", id="wrong_length_query"),
])
def test_bad_encodings(small_db, action, encodings, message):
    db = FaceDatabase.load(small_db[0])
    with pytest.raises(DatabaseError, match=message):
        db.enroll("bob", encodings) if action == "enroll" else db.identify(encodings)
    assert db.names == ["ada"]


def test_wrong_rank_image():
    from facelib import faces

    with pytest.raises(ImageError, match="shape"):
        faces.detect_faces(np.zeros((2, 40, 40, 3), np.uint8))


def test_wrong_rank_chips():
    from facelib import faces

    with pytest.raises(ValueError, match="shape"):
        faces.encode_chips(np.zeros((150, 150)))


# -- database files -----------------------------------------------------------------------------
def _write_npz(path, **overrides):
    arrays = {"format_version": np.array(1), "names": np.array(["ada"]),
              "encodings": np.zeros((1, 128), np.float32), "owners": np.zeros(1, np.int64)} | overrides
    np.savez(path, **arrays)


def _truncated_db(path):
    _write_npz(path)
    path.write_bytes(path.read_bytes()[:300])


@pytest.mark.parametrize(("make", "message"), [
    pytest.param(_truncated_db, "truncated", id="db_truncated"),
    pytest.param(lambda p: p.write_bytes(RNG.bytes(500)), "not a FaceDatabase file", id="db_random_bytes"),
    pytest.param(lambda p: _write_npz(p, format_version=np.array(99)), "upgrade facelib", id="db_newer_version"),
    pytest.param(lambda p: _write_npz(p, names=np.array([{"os.system": "rm"}], dtype=object)), "pickled",
                 id="db_pickled_objects"),
    pytest.param(lambda p: _write_npz(p, names=np.array(["../../etc"])), "path separators",
                 id="db_edited_bad_name"),
    pytest.param(lambda p: _write_npz(p, encodings=np.full((1, 128), np.nan, np.float32)), "NaN",
                 id="db_edited_nan"),
    pytest.param(lambda p: _write_npz(p, owners=np.zeros(3, np.int64)), "damaged", id="db_edited_shapes"),
    pytest.param(lambda p: _write_npz(p, owners=np.array([7])), "damaged: owners", id="db_edited_owner_out_of_range"),
    pytest.param(lambda p: _write_npz(p, format_version=np.array("two")), "damaged: format_version",
                 id="db_edited_version_text"),
])
def test_bad_database_files(tmp_path, make, message):
    path = tmp_path / "people.npz"
    make(path)
    before = path.read_bytes()
    with pytest.raises(DatabaseError, match=message):
        FaceDatabase.load(path)
    image = Image.new("RGB", (8, 8))
    image.save(tmp_path / "face.png")
    code, out, err = _run("identify", path, tmp_path / "face.png")
    assert code == 2 and out == "" and re.search(message, err)
    code, _, err = _run("enroll", path, "bob", tmp_path / "face.png")  # a broken file is never overwritten
    assert code == 2 and re.search(message, err)
    _unchanged(path, before)


def test_db_missing(tmp_path):
    (tmp_path / "face.png").write_bytes(b"")
    code, out, err = _run("identify", tmp_path / "nobody.npz", tmp_path / "face.png")
    assert code == 2 and "no database at" in err and "facelib enroll" in err
    with pytest.raises(FileNotFoundError, match="no database file"):
        FaceDatabase.load(tmp_path / "nobody.npz")
    assert not (tmp_path / "nobody.npz").exists()


# -- person names -------------------------------------------------------------------------------
@pytest.mark.parametrize(("name", "message"), [
    pytest.param("ada", "already enrolled", id="duplicate_name"),
    pytest.param("ada/../../x", "path separators", id="name_with_slash"),
    pytest.param("C:\\people\\ada", "path separators", id="name_with_backslash"),
    pytest.param("..", "path separators", id="name_dot_dot"),
    pytest.param("", "empty", id="empty_name"),
    pytest.param("a" * 1000, "at most 100", id="very_long_name"),
])
def test_bad_names_leave_the_database_unchanged(small_db, tmp_path, name, message):
    image = tmp_path / "face.png"
    Image.new("RGB", (8, 8)).save(image)
    code, out, err = _run("enroll", small_db[0], name, image)
    assert code == 2 and out == "" and message in err
    _unchanged(*small_db)


# -- assets and options -------------------------------------------------------------------------
def test_unknown_asset_offline(monkeypatch, tmp_path):
    monkeypatch.setenv("FACELIB_HOME", str(tmp_path))
    with pytest.raises(assets.AssetNotFoundError, match="Registered assets: .*lfw"):
        assets.file("no_such_weights", "model.dat")
    code, out, err = _run("assets", "fetch", "no_such_weights")
    assert code == 1 and "Unknown asset 'no_such_weights'" in err and "dlib_models" in err


def test_weight_wrong_checksum(monkeypatch, tmp_path):
    """A corrupted copy of the real dlib weights in the cache is refused, never loaded."""
    from conftest import require_asset

    good = require_asset("dlib_models")
    home, mirror = tmp_path / "home", tmp_path / "empty_mirror"
    shutil.copytree(good, home / "dlib_models")
    mirror.mkdir()
    target = home / "dlib_models" / "shape_predictor_5_face_landmarks.dat"
    data = bytearray(target.read_bytes())
    data[len(data) // 2] ^= 0xFF  # one flipped byte, same size: only the hash can tell
    target.write_bytes(bytes(data))
    monkeypatch.setenv("FACELIB_HOME", str(home))
    monkeypatch.setenv("FACELIB_MIRROR", str(mirror))
    assert assets.locate("dlib_models") == home / "dlib_models"
    with pytest.raises(assets.AssetCorruptError, match="does not match its SHA-256"):
        assets.file("dlib_models", "shape_predictor_5_face_landmarks.dat")
    code, out, _ = _run("assets", "verify", "dlib_models")
    assert code == 1 and "CORRUPT" in out and "shape_predictor_5_face_landmarks.dat" in out


@pytest.mark.parametrize(("argv", "message"), [
    pytest.param(["verify", "a.jpg", "b.jpg", "--threshold", "-1"], "positive number", id="negative_threshold"),
    pytest.param(["identify", "people.db", "a.jpg"], "must end in .npz", id="database_not_npz"),
])
def test_usage_errors(argv, message, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    assert exit_.value.code == 2 and message in capsys.readouterr().err


def test_stylize_missing_folder(tmp_path):
    code, _, err = _run("stylize", "c.jpg", "s.jpg", "-o", tmp_path / "no" / "out.png")
    assert code == 2 and "does not exist; create it first" in err
