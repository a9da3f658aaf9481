"""The image loader: every odd file becomes uint8 pixels or a clear ImageError."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from facelib import images
from facelib.images import ImageError, load_image

RNG = np.random.default_rng(0)
RGB = RNG.integers(0, 256, size=(12, 10, 3), dtype=np.uint8)


def _save(tmp_path, img: Image.Image, name: str, **kwargs):
    path = tmp_path / name
    img.save(path, **kwargs)
    return path


@pytest.mark.parametrize("mode", ["L", "P", "RGBA", "CMYK", "LA"])
def test_colour_modes_become_rgb(tmp_path, mode):
    path = _save(tmp_path, Image.fromarray(RGB).convert(mode), f"x.{'jpg' if mode == 'CMYK' else 'png'}")
    pixels = load_image(path)
    assert pixels.shape == (12, 10, 3) and pixels.dtype == np.uint8


def test_sixteen_bit_png_is_scaled_not_clipped(tmp_path):
    values = np.linspace(0, 65535, 120).reshape(12, 10).astype(np.uint16)
    path = _save(tmp_path, Image.fromarray(values), "deep.png")
    grey = load_image(path, mode="L")
    assert grey.dtype == np.uint8 and grey.min() == 0 and grey.max() == 255
    np.testing.assert_allclose(grey.astype(float), values / 65535 * 255, atol=1)


def test_rgba_drops_alpha_keeping_colours(tmp_path):
    rgba = np.dstack([RGB, np.full((12, 10), 7, np.uint8)])
    np.testing.assert_array_equal(load_image(_save(tmp_path, Image.fromarray(rgba), "a.png")), RGB)


def test_one_pixel_image(tmp_path):
    assert load_image(_save(tmp_path, Image.new("RGB", (1, 1), (1, 2, 3)), "one.png")).tolist() == [[[1, 2, 3]]]


@pytest.mark.parametrize("content, message", [
    (b"", "empty"),
    (b"this is not a picture", "not an image"),
])
def test_bad_files(tmp_path, content, message):
    path = tmp_path / "bad.jpg"
    path.write_bytes(content)
    with pytest.raises(ImageError, match=message):
        load_image(path)


def test_truncated_jpeg(tmp_path):
    buffer = io.BytesIO()
    Image.fromarray(RNG.integers(0, 256, size=(64, 64, 3), dtype=np.uint8)).save(buffer, "JPEG")
    path = tmp_path / "cut.jpg"
    path.write_bytes(buffer.getvalue()[: len(buffer.getvalue()) // 2])
    with pytest.raises(ImageError, match="truncated"):
        load_image(path)


def test_missing_file(tmp_path):
    with pytest.raises(ImageError, match="does not exist"):
        load_image(tmp_path / "nowhere.png")


def test_decompression_bomb_keeps_pillows_limit(tmp_path, monkeypatch):
    path = _save(tmp_path, Image.new("L", (100, 100)), "big.png")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)  # 10,000 px is then over twice the limit
    with pytest.raises(ImageError, match="too large"):
        load_image(path)


@pytest.mark.parametrize("array, message", [
    (np.full((4, 4, 3), np.nan), "NaN"),
    (np.full((4, 4, 3), np.inf), "NaN or infinite"),
    (np.zeros((4, 4, 3, 1)), "shape"),
    (np.zeros((4, 4, 2)), "shape"),
    (np.zeros((0, 4, 3)), "empty"),
    (np.full((4, 4), 300.0), r"\[0, 255\]"),
    (np.zeros((4, 4), dtype=bool), "dtype"),
])
def test_bad_arrays(array, message):
    with pytest.raises(ImageError, match=message):
        load_image(array)


def test_arrays_and_bytes_round_trip():
    np.testing.assert_array_equal(load_image(RGB), RGB)
    np.testing.assert_array_equal(load_image(RGB / 255.0), RGB)
    buffer = io.BytesIO()
    Image.fromarray(RGB).save(buffer, "PNG")
    np.testing.assert_array_equal(load_image(buffer.getvalue()), RGB)
    assert load_image(RGB[..., 0]).shape == (12, 10, 3)


def test_wrong_source_type_and_mode():
    with pytest.raises(ImageError, match="image must be a path"):
        load_image(42)
    with pytest.raises(ValueError, match="mode"):
        load_image(RGB, mode="CMYK")


def test_postscript_is_refused_without_running_anything(tmp_path):
    path = tmp_path / "evil.eps"
    path.write_bytes(b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\nshowpage\n")
    with pytest.raises(ImageError, match="supported format"):
        load_image(path)


def test_float_tiff_in_unit_range_is_scaled_like_the_same_array(tmp_path):
    values = np.linspace(0.0, 1.0, 120, dtype=np.float32).reshape(12, 10)
    path = _save(tmp_path, Image.fromarray(values, "F"), "unit.tif")
    grey = load_image(path, mode="L")
    np.testing.assert_array_equal(grey, load_image(values, mode="L"))  # one rule for files and arrays
    np.testing.assert_array_equal(grey, np.round(values.astype(np.float64) * 255).astype(np.uint8))
    assert grey.max() == 255  # not clipped to black


def test_float_tiff_in_byte_range_is_rounded_like_the_same_array(tmp_path):
    values = np.linspace(0.0, 255.0, 120, dtype=np.float32).reshape(12, 10)
    path = _save(tmp_path, Image.fromarray(values, "F"), "bytes.tif")
    np.testing.assert_array_equal(load_image(path, mode="L"), load_image(values, mode="L"))
    np.testing.assert_array_equal(load_image(path, mode="L"), np.round(values).astype(np.uint8))


@pytest.mark.parametrize("value, message", [(300.0, r"\[0, 255\]"), (-0.5, r"\[0, 255\]"), (np.nan, "NaN")])
def test_float_tiff_out_of_range_is_refused_naming_the_file(tmp_path, value, message):
    values = np.full((4, 4), value, dtype=np.float32)
    path = _save(tmp_path, Image.fromarray(values, "F"), "odd.tif")
    with pytest.raises(ImageError, match=message) as error:
        load_image(path)
    assert "odd.tif" in str(error.value)
    with pytest.raises(ImageError, match=message):
        load_image(values)


def test_exif_rotation_is_applied(tmp_path):
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation: the camera was turned; show the picture rotated 90 degrees clockwise
    path = _save(tmp_path, Image.fromarray(RGB), "turned.png", exif=exif)
    np.testing.assert_array_equal(load_image(path), np.rot90(RGB, k=-1))


def test_resize_keeps_the_aspect_or_crops_the_centre():
    rng = np.random.default_rng(3)
    photo = rng.integers(0, 256, (120, 200, 3), dtype=np.uint8)
    assert images.resize(photo, 100).shape == (60, 100, 3)                  # longer side 100, aspect kept
    square = images.resize(photo, (64, 64))                                    # centre 120 x 120 crop, then 64
    expected = np.asarray(Image.fromarray(photo[:, 40:160]).resize((64, 64), Image.LANCZOS))
    np.testing.assert_array_equal(square, expected)
    grey = images.resize(photo, (56, 46), mode="L")
    assert grey.shape == (56, 46) and grey.dtype == np.uint8
    with pytest.raises(ValueError, match="size"):
        images.resize(photo, 8)
