"""Reading images safely: every file or array becomes uint8 RGB (or greyscale), or a clear error.

Handles what learners' folders hold: greyscale, palette, RGBA, CMYK and 16-bit files; EXIF
rotation; and refuses empty, truncated, non-image and decompression-bomb files with an
:class:`ImageError` that says what was wrong and what to do.

EXIF orientation is applied by reading the one Orientation tag and transposing the pixels
(never by re-serialising the EXIF block, which fails on a tag of an unexpected type); EXIF that
cannot be read leaves the pixels as stored, with a note on stderr. Colour profiles are not
applied; a PNG whose profile is over Pillow's 1 MB chunk limit is decoded without it.
"""

from __future__ import annotations

import io
import os
import struct
import sys
from contextlib import contextmanager
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError, features

from facelib.errors import ArgumentError, FacelibError
from facelib.validation import check_int

ImageSource = str | os.PathLike | bytes | np.ndarray | Image.Image
_MODES = ("RGB", "L")
# Formats Pillow decodes by itself; EPS/PS (which would run Ghostscript) and other exotic ones are refused.
FORMATS = ("JPEG", "PNG", "PPM", "BMP", "GIF", "TIFF", "WEBP") + (("AVIF",) if features.check("avif") else ())
_ORIENTATION = 0x0112  # the EXIF tag, and the transpose that undoes each of its values
_TRANSPOSE = {2: Image.Transpose.FLIP_LEFT_RIGHT, 3: Image.Transpose.ROTATE_180, 4: Image.Transpose.FLIP_TOP_BOTTOM,
              5: Image.Transpose.TRANSPOSE, 6: Image.Transpose.ROTATE_270, 7: Image.Transpose.TRANSVERSE,
              8: Image.Transpose.ROTATE_90}
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


class ImageError(FacelibError, ValueError):
    """An image could not be read or has an unusable shape, type or value."""


class ImageTooLargeError(ImageError):
    """An image (or the size a computation would enlarge it to) is over a documented limit."""


def _to_8bit(img: Image.Image, label: str) -> Image.Image:
    """Scale 16- and 32-bit greyscale images to 8 bits (Pillow would clip, not scale).

    Integer images are scaled by 65535 (16-bit, or 32-bit with values above 255); float
    images (mode ``F``) follow the same rule as float arrays, :func:`_scale_values`.
    """
    if img.mode in ("I;16", "I;16B", "I;16L", "I"):
        values = np.asarray(img, dtype=np.float64)
        top = 65535.0 if img.mode.startswith("I;16") or values.max(initial=0) > 255 else 255.0
        return Image.fromarray(np.clip(values / top * 255.0 + 0.5, 0, 255).astype(np.uint8), "L")
    if img.mode == "F":
        return Image.fromarray(_scale_values(np.asarray(img, dtype=np.float64), True, label), "L")
    return img


def _scale_values(values: np.ndarray, floating: bool, label: str) -> np.ndarray:
    """Pixel values as uint8, one rule for arrays and float image files.

    Floats in [0, 1] are scaled, :math:`v' = \\mathrm{round}(255 v)`; other values must lie
    in [0, 255] and are rounded, :math:`v' = \\mathrm{round}(v)`.
    """
    if not np.all(np.isfinite(values)):
        raise ImageError(f"{label} contains NaN or infinite values; clean it before use.")
    low, high = values.min(initial=0), values.max(initial=0)
    if floating and low >= 0 and high <= 1.0:
        values = values * 255.0  # floats in [0, 1]
    elif low < 0 or high > 255:
        raise ImageError(f"{label} values must lie in [0, 255] (or [0, 1] for floats); got "
                         f"[{values.min():.4g}, {values.max():.4g}].")
    return np.round(values).astype(np.uint8)


@contextmanager
def _decoding(label: str):
    """Turn Pillow's decoding errors into ImageErrors that say what was wrong and what to do."""
    try:
        yield
    except PermissionError as error:
        raise ImageError(f"{label} cannot be read: permission denied. Ask its owner for read access or use a "
                         "copy you can read.") from error
    except Image.DecompressionBombError as error:
        raise ImageError(f"{label} is too large to decode safely ({error}). Resize it below "
                         f"{Image.MAX_IMAGE_PIXELS:,} pixels, or raise PIL.Image.MAX_IMAGE_PIXELS "
                         "if you trust the file.") from error
    except UnidentifiedImageError as error:
        raise ImageError(f"{label} is not an image in a supported format ({', '.join(FORMATS)}). "
                         "Check that the path points to a picture.") from error
    except (OSError, SyntaxError, ValueError) as error:
        raise ImageError(f"{label} could not be decoded ({error}); the file may be truncated or "
                         "corrupt. Save it again or use another copy.") from error


def _read(source, label: str, mode: str) -> np.ndarray:
    """Decode a file and convert it to pixels while it is open: one decoded copy, one array."""
    try:
        return _decode(source, label, mode)
    except ImageError as error:
        if "MAX_TEXT_CHUNK" not in str(error.__cause__) or (data := _without_icc(source)) is None:
            raise
        return _decode(io.BytesIO(data), label, mode)  # a PNG with a colour profile over Pillow's limit


def _decode(source, label: str, mode: str) -> np.ndarray:
    with _decoding(label):
        img = Image.open(source, formats=FORMATS)
    with img:
        with _decoding(label):
            img.load()
        return _pixels(_upright(img, label), mode, label)


def _upright(img: Image.Image, label: str) -> Image.Image:
    """The image turned as its EXIF Orientation tag says (read alone, defensively); as stored without readable EXIF."""
    try:
        orientation = img.getexif().get(_ORIENTATION)
    except (struct.error, TypeError, ValueError, SyntaxError, OSError, KeyError, IndexError) as error:
        print(f"facelib: note: {label}: its EXIF data cannot be read ({type(error).__name__}); using the pixels as "
              "stored, without the camera's rotation", file=sys.stderr)
        return img
    if isinstance(orientation, tuple | list) and len(orientation) == 1:
        orientation = orientation[0]
    method = _TRANSPOSE.get(orientation) if isinstance(orientation, int) else None
    return img if method is None else img.transpose(method)


def _without_icc(source) -> bytes | None:
    """A PNG file's bytes without its iCCP (colour profile) chunks; None when ``source`` is not a PNG."""
    data = source.getvalue() if isinstance(source, io.BytesIO) else Path(source).read_bytes()
    if not data.startswith(_PNG_SIGNATURE):
        return None
    out, at = [_PNG_SIGNATURE], len(_PNG_SIGNATURE)
    while at + 8 <= len(data):
        length, kind = struct.unpack(">I4s", data[at:at + 8])
        end = at + 12 + length
        if kind != b"iCCP":
            out.append(data[at:end])
        at = end
    return b"".join(out)


def _pixels(img: Image.Image, mode: str, label: str) -> np.ndarray:
    """A decoded image as a uint8 array in ``mode``; no conversion copy when it is in ``mode`` already."""
    img = _to_8bit(img, label)
    if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
        img = img.convert("RGBA").convert("RGB")
    try:
        return np.asarray(img if img.mode == mode else img.convert(mode))
    except (OSError, ValueError) as error:
        raise ImageError(f"{label} has colour mode {img.mode!r}, which cannot be converted to {mode}.") from error


def _from_array(array: np.ndarray, mode: str, name: str = "image") -> np.ndarray:
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[-1] not in (1, 3, 4)):
        raise ImageError(f"{name} array must have shape (H, W), (H, W, 1), (H, W, 3) or (H, W, 4); "
                         f"got {array.shape}.")
    if array.shape[0] == 0 or array.shape[1] == 0:
        raise ImageError(f"{name} array is empty: shape {array.shape}.")
    if array.dtype == np.uint8:
        pixels = array
    elif np.issubdtype(array.dtype, np.floating) or np.issubdtype(array.dtype, np.integer):
        pixels = _scale_values(array.astype(np.float64), np.issubdtype(array.dtype, np.floating), f"{name} array")
    else:
        raise ImageError(f"{name} array has unsupported dtype {array.dtype}; use uint8 or float.")
    if pixels.ndim == 3 and pixels.shape[-1] == 1:
        pixels = pixels[..., 0]
    if pixels.ndim == 3 and pixels.shape[-1] == 4:
        pixels = pixels[..., :3]
    if mode == "RGB" and pixels.ndim == 2:
        pixels = np.repeat(pixels[..., None], 3, axis=-1)
    if mode == "L" and pixels.ndim == 3:
        pixels = np.asarray(Image.fromarray(np.ascontiguousarray(pixels), "RGB").convert("L"))
    return np.ascontiguousarray(pixels)


def load_image(source: ImageSource, mode: str = "RGB", name: str = "image") -> np.ndarray:
    """Read an image as a uint8 array of shape (H, W, 3) for ``mode="RGB"`` or (H, W) for ``"L"``.

    Parameters
    ----------
    source : path, bytes, numpy array or PIL image
        A file path, the file's bytes, or pixels already in memory (uint8, or floats in
        [0, 1] or [0, 255]; greyscale, RGB or RGBA).
    mode : {"RGB", "L"}
        Colour or greyscale output. Alpha is dropped; palette, CMYK and 16-bit inputs are
        converted (16-bit values are scaled, not clipped).
    name : str
        The caller's name for the image (``"content"``), used in error messages.

    Raises
    ------
    ImageError
        For a missing, empty, truncated or non-image file, a decompression bomb, or an array
        of the wrong rank, dtype or value range.
    """
    if mode not in _MODES:
        raise ArgumentError(f"mode must be one of {_MODES}, got {mode!r}")
    if isinstance(source, np.ndarray):
        return _from_array(source, mode, name)
    if isinstance(source, Image.Image):
        return _pixels(source, mode, f"the {name} PIL image")
    if isinstance(source, (bytes, bytearray)):
        if not source:
            raise ImageError(f"the {name} bytes are empty.")
        return _read(io.BytesIO(source), f"the {name} bytes", mode)
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        try:
            if not path.is_file():
                raise ImageError(f"{name} file {path} does not exist or is not a file.")
            empty = path.stat().st_size == 0
        except OSError as error:  # a name too long, a loop of links, a folder that cannot be searched
            raise ImageError(f"{name} {path} cannot be read: {error.strerror or error}. Check the path.") from error
        if empty:
            raise ImageError(f"{name} {path} is empty (0 bytes).")
        return _read(path, str(path) if name == "image" else f"{name} {path}", mode)
    raise ImageError(f"{name} must be a path, bytes, numpy array or PIL image, not {type(source).__name__}")


def resize(image: ImageSource, size: int | tuple[int, int], mode: str = "RGB", name: str = "image") -> np.ndarray:
    """An image resized with Lanczos filtering, as uint8 (H, W, 3) for ``"RGB"`` or (H, W) for ``"L"``.

    The one resize of facelib's image I/O (datasets, style images, uploaded photos); the detector
    makes its own working copy of very large photos, in bounded memory.

    Parameters
    ----------
    image : path, bytes, numpy array or PIL image
        Anything :func:`load_image` reads.
    size : int or (height, width)
        An int sets the longer side and keeps the aspect ratio (the shorter side stops at 32 px);
        ``(height, width)`` first crops the centre to that aspect ratio, then resizes.
    mode : {"RGB", "L"}, name : str
        As in :func:`load_image`.

    Raises
    ------
    facelib.errors.ArgumentError
        For a size below 32 pixels or not an int or pair of ints.
    ImageError
        When ``image`` cannot be read.
    """
    pixels = load_image(image, mode=mode, name=name)
    h, w = pixels.shape[:2]
    if isinstance(size, tuple | list):
        if len(size) != 2:
            raise ArgumentError(f"size must be an int or (height, width), got {size!r}")
        target = (check_int("size[0]", size[0], minimum=32), check_int("size[1]", size[1], minimum=32))
        aspect = target[1] / target[0]
        crop_h, crop_w = (h, round(h * aspect)) if w / h >= aspect else (round(w / aspect), w)
        top, left = (h - crop_h) // 2, (w - crop_w) // 2
        pixels = pixels[top:top + crop_h, left:left + crop_w]
    else:
        scale = check_int("size", size, minimum=32) / max(h, w)
        target = (max(32, round(h * scale)), max(32, round(w * scale)))
    out = Image.fromarray(pixels).resize((target[1], target[0]), Image.LANCZOS)
    return np.asarray(out)
