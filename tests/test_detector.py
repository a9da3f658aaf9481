"""facelib.dlibport.detector against dlib's own CNN face detector (dlib-bin) on real photos."""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import pytest
import skimage.data

from facelib.dlibport import datfile, detector
from facelib.dlibport.geometry import round_half_away
from facelib.errors import FacelibError
from facelib.images import ImageError, ImageTooLargeError, load_image

dlib = pytest.importorskip("dlib")

N_LFW = 50
MIN_IOU = 0.9


@functools.cache
def _dlib_detector(models: Path):
    return dlib.cnn_face_detection_model_v1(str(models / detector.MODEL_FILE))


def _dlib_detect(models: Path, image: np.ndarray, upsample: int) -> tuple[np.ndarray, np.ndarray]:
    found = _dlib_detector(models)(image, upsample)
    boxes = np.array([[d.rect.left(), d.rect.top(), d.rect.right(), d.rect.bottom()] for d in found], np.float64)
    return boxes.reshape(-1, 4), np.array([d.confidence for d in found])


def _iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Intersection over union of inclusive pixel boxes, every a against every b."""
    lo = np.maximum(a[:, None, :2], b[None, :, :2])
    hi = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.prod(np.clip(hi - lo + 1, 0, None), axis=2)
    area_a = np.prod(a[:, 2:] - a[:, :2] + 1, axis=1)
    area_b = np.prod(b[:, 2:] - b[:, :2] + 1, axis=1)
    return inter / (area_a[:, None] + area_b[None, :] - inter)


def _assert_same_faces(models: Path, image: np.ndarray, upsample: int, label: str) -> tuple[int, float]:
    """Same number of faces as dlib, each matched with IoU >= 0.9; returns (count, worst IoU)."""
    boxes, scores = detector.detect(image, upsample=upsample)
    ref_boxes, ref_scores = _dlib_detect(models, image, upsample)
    assert len(boxes) == len(ref_boxes), f"{label}: {len(boxes)} faces, dlib found {len(ref_boxes)}"
    assert np.all(np.diff(scores) <= 0), f"{label}: scores not sorted best first"
    if len(boxes) == 0:
        return 0, 1.0
    best = _iou(ref_boxes, boxes).max(axis=1)
    assert best.min() >= MIN_IOU, f"{label}: IoU {best.min():.3f} with dlib's box"
    np.testing.assert_allclose(np.sort(scores), np.sort(ref_scores), atol=1e-3, err_msg=label)
    return len(boxes), float(best.min())


def _lfw_sample(lfw: Path) -> list[Path]:
    people = sorted(p for p in (lfw / "lfw_funneled").iterdir() if p.is_dir())
    pick = np.random.default_rng(3).choice(len(people), N_LFW, replace=False)
    return [sorted(people[i].glob("*.jpg"))[0] for i in sorted(pick)]


# -- parity with dlib on real faces ---------------------------------------------------------------
def test_lfw_faces_match_dlib(asset_dir):
    models, lfw = asset_dir("dlib_models"), asset_dir("lfw")
    counts = [_assert_same_faces(models, load_image(path), 0, path.name)[0] for path in _lfw_sample(lfw)]
    assert sum(counts) >= N_LFW * 0.8  # LFW images are centred faces: nearly all are found


@pytest.mark.parametrize("upsample", [0, 1])
def test_astronaut_matches_dlib(asset_dir, upsample):
    count, _ = _assert_same_faces(asset_dir("dlib_models"), skimage.data.astronaut(), upsample, "astronaut")
    assert count == 1


@pytest.mark.parametrize("upsample", [0, 1])
@pytest.mark.parametrize("name", ["sample1.jpg", "sample3.jpg"])
def test_group_photos_match_dlib(asset_dir, name, upsample):
    # every fourth pixel (480 px wide) keeps dlib's run time moderate; faces become ~50 px,
    # so upsampling is needed to find all three people
    image = np.ascontiguousarray(load_image(asset_dir("group_photos") / name)[::4, ::4])
    count, _ = _assert_same_faces(asset_dir("dlib_models"), image, upsample, f"{name} upsample {upsample}")
    if upsample:
        assert count == 3


def test_threshold_trades_misses_for_false_alarms():
    image = skimage.data.astronaut()
    boxes, scores = detector.detect(image, upsample=0, threshold=0.0)
    more_boxes, more_scores = detector.detect(image, upsample=0, threshold=-0.8)
    assert len(more_boxes) >= len(boxes) and np.all(more_scores > -0.8)
    assert len(detector.detect(image, upsample=0, threshold=float(scores[0]))[0]) == 0  # strictly above


# -- the pieces that make the boxes agree ----------------------------------------------------------
def test_pyramid_up_is_dlibs_bilinear_resize():
    rng = np.random.default_rng(0)
    for rows, cols in [(37, 53), (250, 250), (64, 1)]:
        image = rng.integers(0, 256, (rows, cols, 3), dtype=np.uint8)
        up = detector._pyramid_up(image)
        assert up.shape == (2 * rows + 1, 2 * cols + 2, 3)  # dlib maps the image rect by 2(p + (1.25, 0.75))
        np.testing.assert_array_equal(up, dlib.resize_image(image, up.shape[0], up.shape[1]))


def test_resize_bilinear_against_direct_formula():
    rng = np.random.default_rng(1)
    src = rng.normal(size=(9, 13, 3)).astype(np.float32)
    out = detector._resize_bilinear(src, np.empty((5, 7, 3), np.float32))
    for r, c in [(0, 0), (4, 6), (2, 3), (3, 1)]:
        y, x = r * 8 / 4, c * 12 / 6  # corners aligned: (rows-1)/(out_rows-1)
        t, lft = int(np.floor(y)), int(np.floor(x))
        b, rgt = min(t + 1, 8), min(lft + 1, 12)
        fy, fx = y - t, x - lft
        want = (1 - fy) * ((1 - fx) * src[t, lft] + fx * src[t, rgt]) + fy * ((1 - fx) * src[b, lft] + fx * src[b, rgt])
        np.testing.assert_allclose(out[r, c], want, rtol=1e-6)


def test_pyramid_rects_tile_without_overlap():
    rects, rows, cols = detector._pyramid_rects(250, 300, padding=10, outer=11)
    sizes = [(r[2] - r[0] + 1, r[3] - r[1] + 1) for r in rects]
    assert sizes[0] == (300, 250) and cols == 300 + 22
    for (w0, h0), (w1, h1) in zip(sizes[:-1], sizes[1:], strict=True):
        assert (w1, h1) == (int(w0 * 5 / 6), int(h0 * 5 / 6))  # floor(5/6 n) per level
    for i, a in enumerate(rects):
        assert 0 <= a[0] and 0 <= a[1] and a[2] < cols and a[3] < rows
        for b in rects[i + 1:]:
            assert a[2] < b[0] or b[2] < a[0] or a[3] < b[1] or b[3] < a[1], "levels overlap"


def test_overlap_rule_uses_the_hull_not_the_union():
    kept = np.array([[0.0, 0, 9, 9]])
    # intersection 25 px, union 175 px, hull 225 px: IoU 0.143 > 0.12 but 25/225 = 0.111 < 0.12
    assert not detector._overlaps(kept, np.array([5.0, 5, 14, 14]), 0.12, 1.0)
    assert detector._overlaps(kept, np.array([3.0, 0, 12, 9]), 0.3, 1.0)  # 70 / 130 > 0.3
    assert detector._overlaps(kept, np.array([2.0, 2, 5, 5]), 0.9, 0.99)  # inside: fully covered
    assert not detector._overlaps(kept, np.array([10.0, 10, 19, 19]), 0.0, 1.0)  # touching corners only


def test_box_rounding_is_dlibs():
    values = np.array([-4.5, -3.5, -0.5, 0.5, 2.5, -2.5001, -4.4999, 7.49])
    theirs = [dlib.rectangle(dlib.drectangle(v, v, 20, 20)).left() for v in values]  # halves away from 0
    np.testing.assert_array_equal(round_half_away(values), theirs)


def test_keras_model_is_plain_convolutions():
    model = detector._default_detector().model
    convs = [layer for layer in model.layers if layer.__class__.__name__ == "Conv2D"]
    assert [layer.filters for layer in convs] == [16, 32, 32, 45, 45, 45, 1]
    assert not [layer for layer in model.layers if "Lambda" in layer.__class__.__name__]


# -- large photos: bounded memory, faces still found at full-resolution places ---------------------
def test_receptive_rows_by_hand():
    # back from the output: 9x9 "same" (+-4), three 5x5 "same" (+-2 each): rows r-10..r+10 of the
    # last stride-2 output; three valid 5x5 stride-2 convs map [q0, q1] to [2 q0, 2 q1 + 4]:
    # [2(r-10), 2(r+10)+4] -> [4r-40, 4r+52] -> [8r-80, 8r+108]
    field = detector._default_detector()._opts.field
    assert (field.stride, field.lo, field.hi) == (8, -80, 108)
    # dlib's map_output_to_input, composed from the output back: p_in = p_out * stride - padding + size // 2
    scale, offset = 1, 0
    for layer in reversed(datfile.read_dnn(detector._default_detector().path).layers):
        if layer.type == "con":
            offset = offset * layer.params["stride_x"] - layer.params["padding_x"] + layer.params["nc"] // 2
            scale *= layer.params["stride_x"]
    assert (field.stride, field.centre) == (scale, offset)


def test_strips_give_the_same_scores_as_one_pass(asset_dir, monkeypatch):
    image = np.ascontiguousarray(load_image(asset_dir("group_photos") / "sample3.jpg")[::2, ::2])
    whole, rects = detector._default_detector().score_map(image)
    monkeypatch.setattr(detector, "_STRIP_PIXELS", 1 << 17)  # ~20 strips of ~130 rows, 188 of them shared
    strips, strip_rects = detector._default_detector().score_map(image)
    assert strip_rects == rects and strips.shape == whole.shape
    np.testing.assert_allclose(strips, whole, atol=1e-5)


def test_banded_resampling_is_identical(monkeypatch):
    rng = np.random.default_rng(2)
    image = rng.integers(0, 256, (61, 47, 3), dtype=np.uint8)
    src = rng.normal(size=(61, 47, 3)).astype(np.float32)
    up, resized = detector._pyramid_up(image), detector._resize_bilinear(src, np.empty((50, 39, 3), np.float32))
    monkeypatch.setattr(detector, "_BAND_PIXELS", 200)  # bands of 2-4 rows
    np.testing.assert_array_equal(detector._pyramid_up(image), up)
    np.testing.assert_array_equal(detector._resize_bilinear(src, np.empty((50, 39, 3), np.float32)), resized)


def _group_composite(group_photos: Path, width: int) -> tuple[np.ndarray, np.ndarray]:
    """Three rows of three group photos, each resized to ``width`` columns, and where their faces are.

    The expected boxes are found on one resized copy of each photo (exactly as dlib would) and
    moved to its places in the composite.
    """
    from PIL import Image

    tiles, expected, top = [], [], 0
    for name in ["sample1.jpg", "sample3.jpg", "sample1.jpg"]:
        photo = Image.open(group_photos / name).convert("RGB")
        tile = np.asarray(photo.resize((width, round(photo.height * width / photo.width)), Image.Resampling.LANCZOS))
        boxes, _ = detector.detect(tile, upsample=0)
        expected += [boxes + [left, top, left, top] for left in range(0, 3 * width, width)]
        tiles.append(np.concatenate([tile] * 3, axis=1))
        top += tile.shape[0]
    return np.concatenate(tiles), np.concatenate(expected)


def test_faces_of_140px_in_a_12mp_photo_are_found_in_place(asset_dir):
    photo, expected = _group_composite(asset_dir("group_photos"), 1400)
    assert photo.shape[0] * photo.shape[1] > 11.9e6 and len(expected) == 27
    widths = expected[:, 2] - expected[:, 0] + 1
    assert 120 <= widths.min() and widths.max() <= 170  # faces of about 140 px
    boxes, scores = detector.detect(photo)  # default upsample=1: a large photo is not enlarged
    assert len(boxes) == len(expected) and np.all(np.diff(scores) <= 0)
    best = _iou(expected, boxes)
    assert best.max(axis=1).min() >= 0.6, "a face was missed or misplaced"
    assert len(set(best.argmax(axis=1).tolist())) == len(expected), "one box for two faces"


def test_size_limits_are_refused_with_the_reason():
    with pytest.raises(ImageTooLargeError, match=r"upsample=3 .*1024x768.* 50\.\d MP.*16\.8 MP.*upsample=2") as error:
        detector.detect(np.zeros((768, 1024, 3), np.uint8), upsample=3)  # was a MemoryError traceback
    assert isinstance(error.value, FacelibError) and isinstance(error.value, ValueError)
    assert detector._upsampled_pixels(768, 1024, 2) == 3075 * 4102 <= detector.MAX_UPSAMPLED_PIXELS  # allowed
    with pytest.raises(ImageTooLargeError, match=r"upsample=2 is refused for a 2400x2100 photo.*never enlarged"):
        detector.detect(np.zeros((2100, 2400, 3), np.uint8), upsample=2)


def test_pixel_limit_is_refused(monkeypatch):
    monkeypatch.setattr(detector, "MAX_PIXELS", 100 * 99)
    with pytest.raises(ImageTooLargeError, match=r"100x100 = 0\.0 MP; face detection accepts at most"):
        detector.detect(np.zeros((100, 100, 3), np.uint8))


# -- bad and empty input -------------------------------------------------------------------------
def test_no_face_gives_empty_result(asset_dir):
    painting = load_image(asset_dir("nst_style") / "kandinsky_composition_vii.jpg")[::2, ::2]
    for image in (np.full((240, 320, 3), 128, np.uint8), np.ascontiguousarray(painting)):
        boxes, scores = detector.detect(image, upsample=0)
        assert boxes.shape == (0, 4) and scores.shape == (0,)
        assert len(_dlib_detect(asset_dir("dlib_models"), image, 0)[0]) == 0
    boxes, scores = detector.detect(np.zeros((12, 9, 3), np.uint8), upsample=0)  # too small for the net
    assert boxes.shape == (0, 4) and scores.shape == (0,)


def test_bad_arguments_are_refused():
    image = np.zeros((50, 50, 3), np.uint8)
    with pytest.raises(ValueError, match="upsample"):
        detector.detect(image, upsample=-1)
    with pytest.raises(ValueError, match="upsample"):
        detector.detect(image, upsample=1.5)
    with pytest.raises(ValueError, match="threshold"):
        detector.detect(image, threshold=float("nan"))
    with pytest.raises(ImageError):
        detector.detect(np.zeros((5, 5, 2), np.uint8))


def test_corrupt_model_file_names_the_file(tmp_path, asset_dir):
    original = (asset_dir("dlib_models") / detector.MODEL_FILE).read_bytes()
    truncated = tmp_path / "truncated_mmod.dat"
    truncated.write_bytes(original[: len(original) // 2])
    with pytest.raises(datfile.DlibFormatError, match="truncated_mmod.dat"):
        detector.FaceDetector(truncated)
    wrong = tmp_path / "not_a_detector.dat"
    wrong.write_bytes(b"\x01\x01\x0dnot_a_model__" + bytes(64))
    with pytest.raises(datfile.DlibFormatError, match="not_a_detector.dat"):
        detector.FaceDetector(wrong)
