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
unknown_asset_offline          AssetNotFoundError; ``assets fetch`` exit 2 (a usage error) listing the registered assets
weight_wrong_checksum          AssetCorruptError "does not match its SHA-256"; ``assets verify`` exit 1
negative_threshold             usage error, exit 2
threshold_above_two            usage error, exit 2 "(0, 2]" (a typo for 0.6 would accept everyone)
threshold_nan, threshold_zero  usage error, exit 2
database_not_npz               usage error, exit 2 "must end in .npz"
stylize_missing_folder         exit 2 before any model is built
round two (issue 12)
one_missing_among_many         identify: exit 2 naming the missing file before any image is processed
no_face_encode                 encode_faces: NoFaceError naming each image (grey, black), never a vector
no_face_fallback               encode_faces(fallback=True): the centre box, counted by align_faces
library_threshold_type         compare_faces / identify: ArgumentError naming threshold (None, "0.6")
ragged_descriptors             face_distance: ArgumentError naming the argument
huge_chip_size                 face_chips(size=20000): ArgumentError giving the limit and why
unicode_name_forms             "José" composed, decomposed or with a trailing space: one person
db_read_only_folder            enroll: exit 2 naming the database, before any encoding
encoder_cache_truncated        rebuilt from the .dat file, one line saying so
encoder_cache_altered          weights changed, checksum kept: rebuilt, one line saying so
landmark_cache_missing_keys    rebuilt, one line saying so
facelib_home_empty             FACELIB_HOME="" counts as unset: nothing written into the current folder
facelib_home_read_only         works without caching; one line says so, once
stylize_output_unwritable      -o out.psd / out.h5 / an existing folder: exit 2 before any work
stylize_size_too_large         --size 3000 / 100000: exit 2 giving the limit and why, before any work
upsample_too_large             identify --upsample 3 on a 1024x768 photo: exit 2 giving the limit
=============================  ================================================================

Concurrent writers (20 rounds of two writers at once, and two real ``facelib enroll``) are in
tests/test_concurrency.py; peak memory on the largest photos in tests/test_memory.py; float TIFFs in
tests/test_images.py.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import shutil
import struct
import subprocess
import sys
import unicodedata
import zlib
from pathlib import Path

import numpy as np
import pytest
from conftest import run_cli
from PIL import Image

from facelib import assets
from facelib.cli import main
from facelib.course import ROOT
from facelib.errors import ArgumentError
from facelib.images import ImageError, load_image
from facelib.recognition.database import DatabaseError, FaceDatabase

RNG = np.random.default_rng(0)


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
    code, out, err = run_cli("identify", small_db[0], image)
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
    code, out, err = run_cli("identify", db_path, *paths.values())
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
    code, out, err = run_cli("verify", paths["no_face"], paths["rgba_png"])
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
    code, out, err = run_cli("identify", path, tmp_path / "face.png")
    assert code == 2 and out == "" and re.search(message, err)
    code, _, err = run_cli("enroll", path, "bob", tmp_path / "face.png")  # a broken file is never overwritten
    assert code == 2 and re.search(message, err)
    _unchanged(path, before)


def test_db_missing(tmp_path):
    (tmp_path / "face.png").write_bytes(b"")
    code, out, err = run_cli("identify", tmp_path / "nobody.npz", tmp_path / "face.png")
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
    code, out, err = run_cli("enroll", small_db[0], name, image)
    assert code == 2 and out == "" and message in err
    _unchanged(*small_db)


# -- assets and options -------------------------------------------------------------------------
def test_unknown_asset_offline(monkeypatch, tmp_path):
    monkeypatch.setenv("FACELIB_HOME", str(tmp_path))
    with pytest.raises(assets.AssetNotFoundError, match="Registered assets: .*lfw"):
        assets.file("no_such_weights", "model.dat")
    with pytest.raises(SystemExit) as exit_, contextlib.redirect_stderr(io.StringIO()) as err:
        main(["assets", "fetch", "no_such_weights"])  # a usage error (exit 2), not "missing" (exit 1)
    assert exit_.value.code == 2 and "unknown asset 'no_such_weights'" in err.getvalue()
    assert "dlib_models" in err.getvalue()


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
    code, out, _ = run_cli("assets", "verify", "dlib_models")
    assert code == 1 and "CORRUPT" in out and "shape_predictor_5_face_landmarks.dat" in out


@pytest.mark.parametrize(("argv", "message"), [
    pytest.param(["verify", "a.jpg", "b.jpg", "--threshold", "-1"], "in (0, 2]", id="negative_threshold"),
    pytest.param(["verify", "a.jpg", "b.jpg", "--threshold", "6"], "in (0, 2]", id="threshold_above_two"),
    pytest.param(["identify", "p.npz", "a.jpg", "--threshold", "nan"], "in (0, 2]", id="threshold_nan"),
    pytest.param(["identify", "p.npz", "a.jpg", "--threshold", "0"], "in (0, 2]", id="threshold_zero"),
])
def test_usage_errors(argv, message, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    assert exit_.value.code == 2 and message in capsys.readouterr().err


def test_database_not_npz():
    code, _, err = run_cli("identify", "people.db", "a.jpg")
    assert code == 2 and "must end in .npz" in err


def test_stylize_missing_folder(tmp_path):
    code, _, err = run_cli("stylize", "c.jpg", "s.jpg", "-o", tmp_path / "no" / "out.png")
    assert code == 2 and "does not exist; create it first" in err


# -- round two (issue 12) -----------------------------------------------------------------------
def test_one_missing_among_many(small_db, tmp_path):
    good = tmp_path / "face.png"
    Image.new("RGB", (64, 64)).save(good)
    code, out, err = run_cli("identify", small_db[0], good, good, tmp_path / "gone.jpg", good)
    assert code == 2 and out == "" and "gone.jpg does not exist" in err  # checked before any image is processed


@pytest.fixture(scope="module")
def faceless():
    return {"grey": np.full((200, 200, 3), 128, np.uint8), "black": np.zeros((200, 200, 3), np.uint8)}


def test_no_face_encode(faceless):
    from facelib import faces

    with pytest.raises(faces.NoFaceError, match="no face found in 2 of 2 images: image 0, image 1"):
        faces.encode_faces([faceless["grey"], faceless["black"]])
    with pytest.raises(faces.NoFaceError, match="no face found in 1 of 1 images: image 0"):
        faces.encode_faces(faceless["grey"])


def test_no_face_fallback(faceless):
    from facelib import faces

    chips, detected = faces.align_faces([faceless["grey"], faceless["black"]], fallback=True)
    assert chips.shape == (2, 150, 150, 3) and detected.tolist() == [False, False]
    assert faces.encode_faces([faceless["grey"]], fallback=True).shape == (1, 128)


@pytest.mark.parametrize("threshold", [None, "0.6", float("nan"), -0.1, True])
def test_library_threshold_type(threshold, small_db):
    from facelib import faces

    with pytest.raises(ArgumentError, match="threshold"):
        faces.compare_faces(np.zeros(128), np.ones(128), threshold=threshold)
    with pytest.raises(ArgumentError, match="threshold"):
        FaceDatabase.load(small_db[0]).identify(np.zeros(128), threshold=threshold)


def test_ragged_descriptors():
    from facelib import faces

    with pytest.raises(ArgumentError, match="known must be 128-d descriptors of one length"):
        faces.face_distance([np.zeros(128), np.zeros(64)], np.zeros(128))
    with pytest.raises(ArgumentError, match="candidate"):
        faces.face_distance(np.zeros(128), [[0.0] * 128, [0.0]])


def test_huge_chip_size():
    from facelib import faces

    landmarks = np.array([[120, 80], [100, 82], [50, 80], [70, 82], [85, 120]], np.float64)
    with pytest.raises(ArgumentError, match=r"size must be <= 1024, got 20000: a chip resamples .* GB"):
        faces.face_chips(np.zeros((200, 200, 3), np.uint8), landmarks, size=20000)
    assert faces.face_chips(np.zeros((200, 200, 3), np.uint8), landmarks, size=1024).shape == (1024, 1024, 3)


def test_unicode_name_forms(small_db, tmp_path):
    composed, decomposed = "Jos\u00e9", "Jose\u0301"
    assert composed != decomposed and unicodedata.normalize("NFC", decomposed) == composed
    db = FaceDatabase.load(small_db[0])
    db.enroll(decomposed + " ", RNG.normal(size=128))
    assert db.names == ["ada", composed] and composed in db and decomposed in db
    for name in (composed, decomposed, " " + composed):
        with pytest.raises(DatabaseError, match="already enrolled"):
            db.enroll(name, RNG.normal(size=128))
    path = db.save(tmp_path / "people.npz")
    assert FaceDatabase.load(path).names == ["ada", composed]
    Image.new("RGB", (8, 8)).save(tmp_path / "face.png")
    code, out, err = run_cli("enroll", path, decomposed + "  ", tmp_path / "face.png")
    assert code == 2 and "already enrolled" in err


def _read_only_prefix(folder: Path) -> list[str]:
    """A command prefix that runs a command with ``folder`` read-only.

    Permissions do not bind root (CI runs as root), so root gets a private mount namespace with a
    read-only tmpfs over the folder; anyone else gets the folder's write permission removed.
    """
    if os.geteuid() != 0:
        folder.chmod(0o555)
        return []
    prefix = ["unshare", "-m", "sh", "-c", f'mount -t tmpfs -o ro tmpfs "{folder}" && exec "$0" "$@"']
    probe = subprocess.run([*prefix, sys.executable, "-c", f"open({str(folder / 'x')!r}, 'w')"],
                           capture_output=True, text=True)
    if "Read-only file system" not in probe.stderr:
        pytest.skip(f"cannot make a read-only folder as root here (unshare/mount): {probe.stderr[-200:]}")
    return prefix


def _facelib(*argv, prefix=(), env=None, cwd=None) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
    return subprocess.run([*prefix, sys.executable, *argv], capture_output=True, text=True, env=env, cwd=cwd,
                          timeout=600)


def test_db_read_only_folder(tmp_path):
    folder = tmp_path / "shared"
    folder.mkdir()
    Image.new("RGB", (8, 8)).save(tmp_path / "face.png")  # no face: refused only if encoding started
    run = _facelib("-m", "facelib", "enroll", folder / "people.npz", "ada", tmp_path / "face.png",
                   prefix=_read_only_prefix(folder))
    assert run.returncode == 2, run.stderr
    assert f"cannot write the database {folder / 'people.npz'}" in run.stderr and "no face" not in run.stderr
    save = ("import numpy as np; from facelib.recognition.database import FaceDatabase; db = FaceDatabase(); "
            f"db.enroll('ada', np.zeros(4)); db.save({str(folder / 'people.npz')!r})")
    run = _facelib("-c", save, prefix=_read_only_prefix(folder))  # the library says the same
    assert "DatabaseError: cannot write the database" in run.stderr


def test_encoder_cache_damaged(tmp_path, monkeypatch, capfd):
    """A truncated, empty or altered converted-weights cache is rebuilt from the verified .dat, saying so."""
    from conftest import require_asset

    from facelib.dlibport import encoder

    require_asset("dlib_models")
    monkeypatch.setenv("FACELIB_HOME", str(tmp_path))
    dat = assets.file("dlib_models", encoder.RESNET_FILE)
    cache = encoder.converted_weights_path(assets.checksum("dlib_models", encoder.RESNET_FILE))
    good = encoder.load_encoder(dat, assets.checksum("dlib_models", encoder.RESNET_FILE)).get_weights()
    assert cache.is_file()
    original = cache.read_bytes()
    with np.load(cache) as archive:
        arrays = dict(archive)
    last = f"w{len(good) - 1:03d}"
    arrays[last] = RNG.permutation(arrays[last].ravel()).reshape(arrays[last].shape)  # the fc layer, shuffled
    altered = io.BytesIO()
    np.savez(altered, **arrays)  # the checksum inside is the old one
    capfd.readouterr()
    for case, content in [("truncated", original[: len(original) // 2]), ("empty", b""),
                          ("altered", altered.getvalue())]:
        cache.write_bytes(content)
        weights = encoder.load_encoder(dat, assets.checksum("dlib_models", encoder.RESNET_FILE)).get_weights()
        for a, b in zip(weights, good, strict=True):
            np.testing.assert_array_equal(a, b, err_msg=case)
        err = capfd.readouterr().err
        assert err.count("\n") == 1 and "converted encoder weights" in err and "converting the .dat" in err, case
        assert str(cache) in err and cache.read_bytes() == original, case


@pytest.mark.parametrize("dropped, named", [("anchors_0", "anchors_0"), ("every cascade", "every cascade")])
def test_landmark_cache_missing_keys(tmp_path, monkeypatch, capfd, dropped, named):
    """A cache missing one array, or every cascade (only initial_shape left), is rebuilt."""
    from conftest import require_asset

    from facelib.dlibport import landmarks

    require_asset("dlib_models")
    monkeypatch.setenv("FACELIB_HOME", str(tmp_path))
    box = (168, 69, 263, 164)
    image = np.asarray(Image.open(require_asset("nst_content") / "astronaut.png").convert("RGB"))
    expected = landmarks.ShapePredictor().predict(image, box)
    (cache,) = (tmp_path / "converted").glob("shape_predictor-*.npz")
    with np.load(cache) as archive:
        arrays = {k: v for k, v in archive.items()
                  if k != dropped and not (dropped == "every cascade" and k != "initial_shape")}
    np.savez(cache, **arrays)
    capfd.readouterr()
    np.testing.assert_array_equal(landmarks.ShapePredictor().predict(image, box), expected)
    err = capfd.readouterr().err
    assert err.count("\n") == 1 and "landmark model cache" in err and named in err
    with np.load(cache) as archive:
        assert "anchors_0" in archive.files  # rebuilt


_CACHES = ("from facelib.dlibport import encoder, landmarks; "
           "landmarks.ShapePredictor(); encoder.encoder(); print('worked')")


def test_facelib_home_empty(tmp_path):
    run = _facelib("-c", "from facelib.dlibport import landmarks; landmarks.ShapePredictor(); print('worked')",
                   env={"FACELIB_HOME": "", "HOME": str(tmp_path / "home")}, cwd=tmp_path)
    assert run.returncode == 0 and "worked" in run.stdout, run.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["home"]  # nothing in the current folder
    assert list((tmp_path / "home" / ".cache" / "facelib" / "converted").glob("shape_predictor-*.npz"))


def test_facelib_home_read_only(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    run = _facelib("-c", _CACHES, env={"FACELIB_HOME": str(home)}, prefix=_read_only_prefix(home))
    assert run.returncode == 0 and "worked" in run.stdout, run.stderr
    lines = [line for line in run.stderr.splitlines() if line.startswith("facelib: ")]
    assert lines == [f"facelib: cannot write the cache folder {home / 'converted'} (Read-only file system); "
                     "working without caching (set FACELIB_HOME to a writable folder)"]


@pytest.fixture(scope="module")
def style_pair(tmp_path_factory):
    folder = tmp_path_factory.mktemp("style")
    for name in ("c.png", "s.png"):
        Image.fromarray(RNG.integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(folder / name)
    return folder


@pytest.mark.parametrize("output", ["out.psd", "out.h5", "."])
def test_stylize_output_unwritable(style_pair, output):
    target = style_pair / output
    code, out, err = run_cli("stylize", style_pair / "c.png", style_pair / "s.png", "-o", target)
    assert code == 2 and out == "" and ("folder" in err or "cannot save an image as" in err), err


@pytest.mark.parametrize("size", [3000, 100_000])
def test_stylize_size_too_large(style_pair, size):
    code, out, err = run_cli("stylize", style_pair / "c.png", style_pair / "s.png", "-o", style_pair / "out.png",
                          "--size", size)
    assert code == 2 and "1024" in err and "memory" in err, err
    assert not (style_pair / "out.png").exists()


def test_upsample_too_large(small_db, tmp_path):
    photo = tmp_path / "photo.jpg"
    Image.fromarray(RNG.integers(0, 256, (768, 1024, 3), dtype=np.uint8)).save(photo)
    code, out, err = run_cli("identify", small_db[0], photo, "--upsample", 3)
    assert code == 2 and re.search(r"upsample=3 .* at most 16\.8 MP", err), err
    _unchanged(*small_db)
