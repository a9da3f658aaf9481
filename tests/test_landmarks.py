"""facelib.dlibport.landmarks against dlib's own shape_predictor (dlib-bin), given the same boxes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import skimage.data
from conftest import dlib_model

from facelib.dlibport import datfile, landmarks
from facelib.images import load_image

dlib = pytest.importorskip("dlib")

N_LFW = 50
MAX_ERROR_PX = 1.0


def _dlib_points(models: Path, image: np.ndarray, box) -> np.ndarray:
    shape = dlib_model("shape_predictor")(image, dlib.rectangle(*(int(v) for v in box)))
    return np.array([(p.x, p.y) for p in shape.parts()], np.float64)


def _boxes(rng: np.random.Generator, image_shape, count: int) -> list[tuple[int, int, int, int]]:
    """Face-sized boxes around the image centre, jittered in place and size (some cross the border)."""
    rows, cols = image_shape[:2]
    out = []
    for _ in range(count):
        size = rng.integers(int(0.3 * min(rows, cols)), int(0.7 * min(rows, cols)))
        cx, cy = cols / 2 + rng.normal(0, 0.1 * cols), rows / 2 + rng.normal(0, 0.1 * rows)
        left, top = int(cx - size / 2), int(cy - size / 2)
        out.append((left, top, left + size - 1, top + size - 1))
    return out


def _worst_error(models: Path, image: np.ndarray, boxes) -> float:
    worst = 0.0
    for box in boxes:
        mine = landmarks.predict(image, box)
        ref = _dlib_points(models, image, box)
        assert mine.shape == (5, 2)
        worst = max(worst, float(np.abs(mine - ref).max()))
    return worst


def test_lfw_landmarks_match_dlib(asset_dir):
    models, lfw = asset_dir("dlib_models"), asset_dir("lfw")
    people = sorted(p for p in (lfw / "lfw_funneled").iterdir() if p.is_dir())
    rng = np.random.default_rng(5)
    worst = 0.0
    for i in sorted(rng.choice(len(people), N_LFW, replace=False)):
        image = load_image(sorted(people[i].glob("*.jpg"))[0])
        worst = max(worst, _worst_error(models, image, _boxes(rng, image.shape, 2)))
    assert worst <= MAX_ERROR_PX, f"landmarks {worst:.2f} px from dlib's"


def test_astronaut_and_group_photos_match_dlib(asset_dir):
    models = asset_dir("dlib_models")
    rng = np.random.default_rng(6)
    images = [skimage.data.astronaut()] + [load_image(p) for p in sorted(asset_dir("group_photos").glob("*.jpg"))]
    worst = 0.0
    for image in images:
        worst = max(worst, _worst_error(models, image, _boxes(rng, image.shape, 5)))
    # dlib's detector box for the astronaut's face, and one hanging over the image's corner
    worst = max(worst, _worst_error(models, images[0], [(168, 69, 263, 164), (-40, -30, 60, 70)]))
    assert worst <= MAX_ERROR_PX, f"landmarks {worst:.2f} px from dlib's"


def test_rounded_points_equal_dlibs_integers(asset_dir):
    # dlib rounds each point with floor(p + 0.5); the unrounded points must round to them
    models = asset_dir("dlib_models")
    image = skimage.data.astronaut()
    mine = landmarks.predict(image, (168, 69, 263, 164))
    np.testing.assert_array_equal(np.floor(mine + 0.5), _dlib_points(models, image, (168, 69, 263, 164)))


def test_bad_box_is_refused():
    image = np.zeros((40, 40, 3), np.uint8)
    with pytest.raises(ValueError, match="box"):
        landmarks.predict(image, (1, 2, 3))
    with pytest.raises(ValueError, match="box"):
        landmarks.predict(image, (0, 0, np.nan, 10))


def test_corrupt_model_file_names_the_file(tmp_path, asset_dir):
    original = (asset_dir("dlib_models") / landmarks.MODEL_FILE).read_bytes()
    truncated = tmp_path / "truncated_sp.dat"
    truncated.write_bytes(original[:4000])
    with pytest.raises(datfile.DlibFormatError, match="truncated_sp.dat"):
        landmarks.ShapePredictor(truncated)
    garbage = tmp_path / "garbage_sp.dat"
    garbage.write_bytes(b"\x01\x01" + b"\x7f" * 100)
    with pytest.raises(datfile.DlibFormatError, match="garbage_sp.dat"):
        landmarks.ShapePredictor(garbage)
    detector_file = asset_dir("dlib_models") / "mmod_human_face_detector.dat"
    with pytest.raises(datfile.DlibFormatError, match="mmod_human_face_detector.dat"):
        landmarks.ShapePredictor(detector_file)
    with pytest.raises(FileNotFoundError, match="missing.dat"):
        landmarks.ShapePredictor(tmp_path / "missing.dat")
