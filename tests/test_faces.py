"""facelib.faces against dlib itself (dlib-bin) on real photos: chips, encoder, pipeline."""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import pytest
from conftest import dlib_model

from facelib import faces
from facelib.dlibport import datfile
from facelib.images import load_image
from facelib.storage import sha256

dlib = pytest.importorskip("dlib")

N_LFW = 50


# -- dlib references, computed once per session -------------------------------------------------
def _dlib_models(folder: Path):
    """dlib's HOG detector, shape predictor and encoder (shared with the other parity tests in conftest)."""
    return dlib_model("hog_detector"), dlib_model("shape_predictor"), dlib_model("face_encoder")


@functools.cache
def _dlib_faces(models: Path, photos: tuple[Path, ...]):
    """For each face dlib's HOG detector finds (or a centre box): image, landmarks, dlib's chip."""
    detector, predictor, _ = _dlib_models(models)
    cases = []
    for path in photos:
        image = load_image(path)
        upsample = 1 if max(image.shape) < 1000 else 0  # the group photos' faces are large
        boxes = list(detector(image, upsample)) or [dlib.rectangle(*faces.center_box(image.shape).astype(int))]
        for box in boxes[:3]:
            shape = predictor(image, box)
            points = np.array([(p.x, p.y) for p in shape.parts()], np.float64)
            cases.append((image, shape, points, np.asarray(dlib.get_face_chip(image, shape, size=150, padding=0.25))))
    return cases


def _lfw_sample(lfw: Path) -> tuple[Path, ...]:
    files = sorted((lfw / "lfw_funneled").glob("*/*.jpg"))
    pick = np.random.default_rng(2017).choice(len(files), N_LFW, replace=False)
    return tuple(files[i] for i in sorted(pick))


@pytest.fixture
def lfw_faces(asset_dir):
    return _dlib_faces(asset_dir("dlib_models"), _lfw_sample(asset_dir("lfw")))


@pytest.fixture
def other_faces(asset_dir):
    photos = (asset_dir("nst_content") / "astronaut.png",) + tuple(sorted(asset_dir("group_photos").glob("*.jpg")))
    return _dlib_faces(asset_dir("dlib_models"), photos)


@functools.cache
def _dlib_chip_descriptors(models: Path, chips: bytes, count: int) -> np.ndarray:
    recognizer = _dlib_models(models)[2]
    batch = list(np.frombuffer(chips, np.uint8).reshape(count, 150, 150, 3))
    return np.array(recognizer.compute_face_descriptor(batch), np.float64)


# -- chips ---------------------------------------------------------------------------------------
def test_chips_match_dlib_get_face_chip(lfw_faces, other_faces):
    cases = lfw_faces + other_faces
    assert len(lfw_faces) >= N_LFW and len(other_faces) >= 4  # astronaut + 3 people in each group photo
    diffs = [np.abs(faces.face_chips(image, points).astype(int) - chip) for image, _, points, chip in cases]
    worst = max(d.max() for d in diffs)
    mismatch = np.mean([(d > 0).mean() for d in diffs])
    assert worst <= 1 and mismatch < 1e-3, f"max pixel difference {worst}, share of differing values {mismatch}"


def test_face_chips_shapes_and_validation(other_faces):
    image, _, points, _ = other_faces[0]
    assert faces.face_chips(image, points).shape == (150, 150, 3)
    assert faces.face_chips(image, points[None].repeat(2, 0), size=100).shape == (2, 100, 100, 3)
    with pytest.raises(ValueError, match="landmarks must be"):
        faces.face_chips(image, points[:4])
    with pytest.raises(ValueError, match="padding"):
        faces.face_chips(image, points, padding=-0.1)
    with pytest.raises(ValueError, match="jitter"):
        faces.face_chips(image, points, jitter=-1)


def test_jitter_is_seeded_small_and_sometimes_mirrored(other_faces):
    image, _, points, chip = other_faces[0]
    a = faces.face_chips(image, points, jitter=8, seed=3)
    b = faces.face_chips(image, points, jitter=8, seed=3)
    c = faces.face_chips(image, points, jitter=8, seed=4)
    assert a.shape == (8, 150, 150, 3) and a.dtype == np.uint8
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    plain, mirrored = chip.astype(float).ravel(), chip[:, ::-1].astype(float).ravel()
    flipped = [
        np.corrcoef(j.astype(float).ravel(), mirrored)[0, 1] > np.corrcoef(j.astype(float).ravel(), plain)[0, 1]
        for j in a
    ]
    best = [max(np.corrcoef(j.astype(float).ravel(), ref)[0, 1] for ref in (plain, mirrored)) for j in a]
    assert 0 < sum(flipped) < len(a) and min(best) > 0.8


def test_similarity_transform_recovers_a_known_one():
    rng = np.random.default_rng(0)
    src = rng.uniform(0, 100, (7, 2))
    angle, scale, shift = 0.3, 1.7, np.array([5.0, -2.0])
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    a, t = faces.similarity_transform(src, src @ (scale * rotation).T + shift)
    np.testing.assert_allclose(a, scale * rotation, atol=1e-10)
    np.testing.assert_allclose(t, shift, atol=1e-8)


# -- encoder -------------------------------------------------------------------------------------
def test_encoder_matches_dlib_on_the_same_chips(lfw_faces, other_faces, asset_dir):
    chips = np.stack([case[3] for case in lfw_faces + other_faces])
    expected = _dlib_chip_descriptors(asset_dir("dlib_models"), chips.tobytes(), len(chips))
    got = faces.encode_chips(chips, batch_size=16)
    assert got.shape == (len(chips), 128) and got.dtype == np.float32
    assert np.abs(got - expected).max() < 1e-3


def test_end_to_end_from_landmarks_matches_dlib(lfw_faces, other_faces, asset_dir):
    recognizer = _dlib_models(asset_dir("dlib_models"))[2]
    cases = lfw_faces[:8] + other_faces[:2]
    expected = np.array([recognizer.compute_face_descriptor(image, shape) for image, shape, _, _ in cases])
    got = faces.encode_chips(np.stack([faces.face_chips(image, points) for image, _, points, _ in cases]))
    assert np.linalg.norm(got - expected, axis=1).max() < 0.01


def test_encoder_model_structure():
    model = faces.encoder()
    assert model.input_shape == (None, 150, 150, 3) and model.output_shape == (None, 128)
    kinds = [type(layer).__name__ for layer in model.layers]
    assert kinds.count("Conv2D") == 29 and kinds.count("ChannelAffine") == 29
    assert kinds.count("ZeroPadAdd") == 14 and "Lambda" not in kinds


def test_zero_pad_add_matches_numpy():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(2, 4, 4, 3)).astype("float32"), rng.normal(size=(2, 3, 3, 5)).astype("float32")
    expected = np.zeros((2, 4, 4, 5), np.float32)
    expected[:, :, :, :3] += a
    expected[:, :3, :3, :] += b
    np.testing.assert_allclose(np.asarray(faces.ZeroPadAdd()([a, b])), expected, atol=1e-6)


def test_converted_weights_are_cached_and_reloaded(asset_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("FACELIB_HOME", str(tmp_path))
    dat = asset_dir("dlib_models") / faces.RESNET_FILE
    first = faces.load_encoder(dat)
    cached = faces.converted_weights_path(sha256(dat))
    assert cached.is_file() and cached.parent == tmp_path / "converted"
    assert not list(cached.parent.glob(".*.tmp"))  # written atomically, nothing left behind
    second = faces.load_encoder(dat)
    chips = np.random.default_rng(0).integers(0, 256, (2, 150, 150, 3)).astype("float32")
    np.testing.assert_array_equal(np.asarray(first(chips)), np.asarray(second(chips)))
    for a, b in zip(first.get_weights(), second.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)


def test_corrupt_or_wrong_dat_is_refused_naming_the_file(asset_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("FACELIB_HOME", str(tmp_path / "home"))
    folder = asset_dir("dlib_models")
    truncated = tmp_path / "truncated_resnet.dat"
    truncated.write_bytes((folder / faces.RESNET_FILE).read_bytes()[:1_000_000])
    with pytest.raises(datfile.DlibFormatError, match="truncated_resnet.dat"):
        faces.load_encoder(truncated)
    with pytest.raises(datfile.DlibFormatError, match="mmod_human_face_detector.dat.*layer sequence"):
        faces.load_encoder(folder / "mmod_human_face_detector.dat")


def test_encode_chips_validation():
    with pytest.raises(ValueError, match="chips must have shape"):
        faces.encode_chips(np.zeros((2, 100, 100, 3)))
    with pytest.raises(ValueError, match="batch_size"):
        faces.encode_chips(np.zeros((1, 150, 150, 3)), batch_size=0)
    assert faces.encode_chips(np.zeros((0, 150, 150, 3))).shape == (0, 128)


# -- distances -------------------------------------------------------------------------------------
def test_face_distance_and_compare_faces_match_numpy():
    rng = np.random.default_rng(0)
    known, probe = rng.normal(size=(5, 128)), rng.normal(size=128)
    expected = np.sqrt(((known - probe) ** 2).sum(1))
    np.testing.assert_allclose(faces.face_distance(known, probe), expected)
    threshold = float(np.median(expected))  # one distance sits exactly on the threshold: d <= tau accepts it
    np.testing.assert_array_equal(faces.compare_faces(known, probe, threshold=threshold), expected <= threshold)
    assert faces.compare_faces(known, probe, threshold=threshold).sum() == 3
    with pytest.raises(ValueError, match="128-d"):
        faces.face_distance(known[:, :64], probe)
    with pytest.raises(ValueError, match="threshold"):
        faces.compare_faces(known, probe, threshold=0)


def test_same_person_closer_than_different_people(asset_dir):
    lfw = asset_dir("lfw") / "lfw_funneled"
    detector, predictor, _ = _dlib_models(asset_dir("dlib_models"))
    names = ["George_W_Bush_0001", "George_W_Bush_0002", "Colin_Powell_0001", "Serena_Williams_0001"]
    chips = []
    for name in names:
        image = load_image(lfw / name.rsplit("_", 1)[0] / f"{name}.jpg")
        chips.append(faces.face_chips(image, [(p.x, p.y) for p in predictor(image, detector(image, 1)[0]).parts()]))
    f = faces.encode_chips(np.stack(chips))
    assert faces.compare_faces(f[0], f[1]) and not faces.compare_faces(f[0], f[2])
    assert not faces.compare_faces(f[2], f[3])


# -- the whole pipeline with facelib's own detector and landmarks -----------------------------------
def test_encode_faces_matches_dlib_given_the_same_box(asset_dir):
    """Detector parity is tested in test_detector.py; here: from the box on, as dlib does it."""
    _, predictor, recognizer = _dlib_models(asset_dir("dlib_models"))
    paths = _lfw_sample(asset_dir("lfw"))[:3]
    expected = []
    for path in paths:
        image = load_image(path)
        boxes, _ = faces.detect_faces(image)
        box = boxes[faces.central_face(boxes, image.shape)]
        expected.append(recognizer.compute_face_descriptor(image, predictor(image, dlib.rectangle(*box.astype(int)))))
    got = faces.encode_faces(list(paths))
    assert got.shape == (3, 128)
    assert np.linalg.norm(got - np.array(expected), axis=1).max() < 0.01
    jittered = faces.encode_faces(list(paths[:1]), jitter=3)
    assert jittered.shape == (1, 128) and 0 < np.linalg.norm(jittered[0] - got[0]) < 0.3


def test_face_distance_refuses_nan_and_inf():
    good = np.zeros(128)
    for bad in (np.full(128, np.nan), np.full(128, np.inf)):
        with pytest.raises(ValueError, match="NaN or infinite"):
            faces.face_distance(good, bad)
        with pytest.raises(ValueError, match="NaN or infinite"):
            faces.compare_faces(bad, good)
