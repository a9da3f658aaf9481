"""facelib.recognition.encoding_cache: encodings of files match dlib's; the cache is keyed by content and model."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from facelib import faces
from facelib.recognition import encoding_cache


@pytest.fixture
def home(tmp_path, monkeypatch):
    """A private, empty FACELIB_HOME for the encodings cache (the converted weights stay where they are)."""
    from facelib import assets

    converted = assets.home() / "converted"
    monkeypatch.setenv("FACELIB_HOME", str(tmp_path))
    if converted.is_dir():
        (tmp_path / "converted").symlink_to(converted)
    return tmp_path


@pytest.fixture
def lfw_files(asset_dir):
    root = asset_dir("lfw") / "lfw_funneled"
    return [root / "Aaron_Peirsol" / f"Aaron_Peirsol_{i:04d}.jpg" for i in (1, 2)] + [
        root / "Abdullah_Gul" / "Abdullah_Gul_0001.jpg"]


def test_center_method_matches_dlib(lfw_files, asset_dir, home):
    """Independent reference: dlib's own landmarks (in the same centre box) and descriptor."""
    dlib = pytest.importorskip("dlib")
    from facelib.images import load_image

    models = asset_dir("dlib_models")
    predictor = dlib.shape_predictor(str(models / "shape_predictor_5_face_landmarks.dat"))
    recognizer = dlib.face_recognition_model_v1(str(models / "dlib_face_recognition_resnet_model_v1.dat"))
    got = encoding_cache.encode_files(lfw_files)
    for path, row in zip(lfw_files, got, strict=True):
        image = load_image(path)
        shape = predictor(image, dlib.rectangle(*faces.center_box(image.shape).astype(int)))
        expected = np.array(recognizer.compute_face_descriptor(image, shape))
        assert np.linalg.norm(row - expected) < 0.05, path.name  # dlib rounds landmarks to whole pixels
    assert got.shape == (3, 128) and got.dtype == np.float32
    same, different = np.linalg.norm(got[0] - got[1]), np.linalg.norm(got[0] - got[2])
    assert same < 0.6 < different


def test_second_call_reads_the_cache(lfw_files, home, monkeypatch):
    first = encoding_cache.encode_files(lfw_files)
    assert encoding_cache.cache_path("center").is_file()
    assert encoding_cache.cache_path("center").parent == home / "encodings"

    def boom(*args, **kwargs):
        raise AssertionError("the cache should have answered")

    monkeypatch.setattr(faces, "encode_chips", boom)
    np.testing.assert_array_equal(encoding_cache.encode_files(lfw_files[::-1]), first[::-1])


def test_cache_key_is_the_file_content(lfw_files, home, tmp_path, monkeypatch):
    encoding_cache.encode_files(lfw_files[:1])
    renamed = tmp_path / "renamed.jpg"
    shutil.copy(lfw_files[0], renamed)
    other = tmp_path / "other.jpg"
    shutil.copy(lfw_files[2], other)
    calls = []
    real = faces.encode_chips

    def counting(chips, **kwargs):
        calls.append(len(chips))
        return real(chips, **kwargs)

    monkeypatch.setattr(faces, "encode_chips", counting)
    out = encoding_cache.encode_files([renamed, other, other, renamed])
    assert calls == [1]  # the renamed copy came from the cache; the repeated new file was encoded once
    np.testing.assert_array_equal(out[0], out[3])
    np.testing.assert_array_equal(out[1], out[2])


def test_use_cache_false_writes_nothing(lfw_files, home):
    encoding_cache.encode_files(lfw_files[:1], use_cache=False)
    assert not (home / "encodings").exists()


def test_corrupt_cache_is_rebuilt(lfw_files, home):
    path = encoding_cache.cache_path("center")
    path.parent.mkdir(parents=True)
    path.write_bytes(b"not an npz archive")
    out = encoding_cache.encode_files(lfw_files[:1])
    assert out.shape == (1, 128)
    with np.load(path, allow_pickle=False) as archive:
        assert archive["encodings"].shape == (1, 128)


def test_methods_have_separate_caches(asset_dir):
    assert encoding_cache.cache_path("center") != encoding_cache.cache_path("detect")
    assert encoding_cache.cache_path("center").name.startswith("center-")


def test_bad_input_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere.jpg"):
        encoding_cache.encode_files([tmp_path / "nowhere.jpg"])
    with pytest.raises(ValueError, match="method must be one of"):
        encoding_cache.encode_files([], method="hog")
    assert encoding_cache.encode_files([]).shape == (0, 128)
