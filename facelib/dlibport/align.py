"""Aligned face chips: dlib's ``get_face_chip`` and ``jitter_image``, pixel for pixel.

A similarity transform (rotation, scale, shift; least squares, Umeyama 1991) maps dlib's
5-point template, padded by ``padding`` of the face size on each side, onto a face's landmarks;
the chip is sampled bilinearly through it, after dlib's 2:1 image pyramid when the face is much
larger than the chip. The geometry itself lives in :mod:`facelib.dlibport.geometry`.
"""

from __future__ import annotations

import numpy as np

from facelib.dlibport import geometry
from facelib.errors import ArgumentError
from facelib.validation import check_float, check_int, check_rng

__all__ = ["CHIP_SIZE", "MAX_CHIP_SIZE", "face_chips", "jitter_chip", "center_box"]

CHIP_SIZE = 150
# A chip is a face resampled to size x size; the encoder wants 150. Above 1024 px no photo holds
# more detail of a face, and the float64 sampling grids (about 40 * size^2 bytes) grow past 40 MB.
MAX_CHIP_SIZE = 1024
MAX_JITTER = 1000  # jittered chips per face: 1000 of 150x150 px are 67 MB (dlib's examples use 100)

# Where dlib's 5-point template puts the landmarks (outer and inner corner of the left eye
# in the image, of the right eye, base of the nose), as fractions of an unpadded chip.
_TEMPLATE_5 = np.array(
    [
        (0.8595674595992, 0.2134981538014),
        (0.6460604764104, 0.2289674387677),
        (0.1205750620789, 0.2137274526848),
        (0.3340850613712, 0.2290642403242),
        (0.4901123135679, 0.6277975316475),
    ]
)


def _chip_box(landmarks: np.ndarray, size: int, padding: float) -> tuple[np.ndarray, float]:
    """dlib's chip details: the (left, top, right, bottom) box in the image and its angle."""
    template = (padding + _TEMPLATE_5) / (2 * padding + 1) * size
    a, t = geometry.similarity_transform(template, landmarks)
    angle = np.arctan2(a[1, 0], a[0, 0])
    scale = np.hypot(a[0, 0], a[1, 0])
    center = a @ np.array([size / 2, size / 2]) + t
    half = (size * scale - 1) / 2  # dlib's centered_drect: width - 1 between the edges
    return np.concatenate([center - half, center + half]), float(angle)


def _extract_chip(image: np.ndarray, box: np.ndarray, angle: float, size: int) -> np.ndarray:
    """dlib's extract_image_chip: rotate/scale ``box`` of ``image`` into a size x size chip.

    When the box is much larger than the chip, dlib first shrinks a crop around it with
    its 2:1 pyramid, so that bilinear sampling does not alias; this does the same.
    """
    chip_area = size * size
    # dlib grows the crop by a 2-pixel margin for the bilinear filter, and each pyramid level it
    # will take doubles that margin and adds the 5x5 filter's 2-pixel reach: grow -> 2 grow + 2
    grow, down = 2.0, geometry.rect_down(box)
    while geometry.rect_area(down) > chip_area:
        down, grow = geometry.rect_down(down), grow * 2 + 2
    corners = np.array([box[[0, 1]], box[[2, 1]], box[[0, 3]], box[[2, 3]]])
    center = (box[:2] + box[2:]) / 2
    rotated = geometry.rotate(center, corners, angle)
    grown = np.concatenate([rotated.min(0) - grow, rotated.max(0) + grow])
    limits = np.array([0, 0, image.shape[1] - 1, image.shape[0] - 1])
    crop = np.concatenate([np.maximum(grown[:2], limits[:2]), np.minimum(grown[2:], limits[2:])])
    crop = np.floor(crop + 0.5).astype(np.int64)  # dlib rounds the crop to whole pixels
    source = image[crop[1] : crop[3] + 1, crop[0] : crop[2] + 1]
    rect = box - np.tile(crop[:2], 2)
    while geometry.rect_area(geometry.rect_down(rect)) > chip_area and min(source.shape[:2]) > 8:
        source, rect = geometry.pyramid_down(source), geometry.rect_down(rect)
    center = (rect[:2] + rect[2:]) / 2
    corners = geometry.rotate(center, np.array([rect[[0, 1]], rect[[2, 1]], rect[[0, 3]]]), angle)
    # affine map from chip pixel (c, r) to source: corners of the chip onto rotated corners
    last = size - 1
    x_axis, y_axis = (corners[1] - corners[0]) / last, (corners[2] - corners[0]) / last
    cols, rows = np.meshgrid(np.arange(size, dtype=np.float64), np.arange(size, dtype=np.float64))
    x = corners[0, 0] + cols * x_axis[0] + rows * y_axis[0]
    y = corners[0, 1] + cols * x_axis[1] + rows * y_axis[1]
    return geometry.bilinear(source, x, y)


def _jitter_box(rng: np.random.Generator, size: int) -> tuple[np.ndarray, float, bool]:
    """A random crop of a chip as dlib's ``jitter_image`` draws it: box, angle, flip."""
    inner = size - 6  # shrink_rect(get_rect(chip), 3)
    shift = np.round(rng.uniform(-0.02, 0.02, 2) * inner)
    box_size = int(inner / rng.uniform(0.97, 0.99999))
    # centre of that inner rect (3, 3, size - 4, size - 4), as dlib's center(): (left + right + 1) // 2
    center = np.full(2, (3 + size - 4 + 1) // 2) + shift
    left_top = center - box_size // 2
    box = np.concatenate([left_top, left_top + box_size - 1])
    angle = float(np.deg2rad(rng.uniform(-3, 3)))
    return box, angle, bool(rng.random() > 0.5)


def jitter_chip(chip: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One random variant of a chip, as dlib's ``jitter_image``: a crop moved by up to 2%,
    1-3% larger, turned by up to 3 degrees, and mirrored half of the time."""
    try:
        chip = np.asarray(chip)
    except ValueError:  # a ragged nesting of lists
        chip = np.empty(0)
    if chip.ndim != 3 or chip.shape[0] != chip.shape[1] or chip.shape[0] < 16 or chip.shape[2] != 3 or (
            chip.dtype != np.uint8):
        raise ArgumentError(f"chip must be a square uint8 RGB chip (size, size, 3) from face_chips, got "
                            f"{chip.dtype} of shape {chip.shape}")
    if not isinstance(rng, np.random.Generator):
        raise ArgumentError(f"rng must be a numpy.random.Generator (np.random.default_rng(seed)), got "
                            f"{type(rng).__name__}")
    size = chip.shape[0]
    box, angle, flip = _jitter_box(rng, size)
    out = _extract_chip(chip, box, angle, size)
    return out[:, ::-1].copy() if flip else out


def _image_size(shape) -> tuple[int, int]:
    """(rows, cols) of an image ``shape`` (H, W, ...), each a positive integer; ArgumentError naming ``shape``."""
    try:
        rows, cols = tuple(shape)[:2]
    except (TypeError, ValueError):
        raise ArgumentError(f"shape must be an image shape (height, width, ...), got {shape!r}") from None
    if not all(isinstance(n, int | np.integer) and not isinstance(n, bool | np.bool_) and n >= 1 for n in (rows, cols)):
        raise ArgumentError(f"shape must hold a positive integer height and width, got {shape!r}")
    return int(rows), int(cols)


def _as_landmarks(landmarks) -> tuple[np.ndarray, bool]:
    try:
        points = np.asarray(landmarks, dtype=np.float64)
    except (ValueError, TypeError):
        raise ArgumentError(f"landmarks must be (x, y) numbers of shape (5, 2) or (N, 5, 2), "
                            f"got {landmarks!r}") from None
    single = points.ndim == 2
    if single:
        points = points[None]
    if points.ndim != 3 or points.shape[1:] != (5, 2) or not np.isfinite(points).all():
        raise ArgumentError(
            f"landmarks must be finite (x, y) points of shape (5, 2) or (N, 5, 2) from "
            f"facelib.faces.face_landmarks, got shape {np.shape(landmarks)}"
        )
    return points, single


def face_chips(image, landmarks, size: int = CHIP_SIZE, padding: float = 0.25, jitter: int = 0, seed=None):
    """Aligned face chips, as dlib's ``get_face_chip`` makes them (pixel for pixel).

    A similarity transform (rotation, scale, shift; least squares, Umeyama 1991) maps
    dlib's 5-point template, padded by ``padding`` of the face size on each side,
    :math:`p' = (\\text{padding} + p) / (1 + 2\\,\\text{padding}) \\cdot \\text{size}`,
    onto the landmarks; the chip is sampled bilinearly through it (after dlib's 2:1
    image pyramid when the face is much larger than the chip).

    Parameters
    ----------
    image : array-like or path
        The photo (anything :func:`facelib.images.load_image` reads).
    landmarks : array-like, shape (5, 2) or (N, 5, 2)
        (x, y) points from :func:`facelib.faces.face_landmarks`.
    size : int
        Chip side in pixels (150 for the encoder), 16 to :data:`MAX_CHIP_SIZE` (1024).
    padding : float
        Margin around the template as a fraction of the face size (dlib: 0.25).
    jitter : int
        If positive, return this many random variants of each chip (dlib's
        ``jitter_image``: small shifts, zooms, rotations and mirror flips) for test-time
        augmentation.
    seed : int, optional
        Seed of the jitter's random generator.

    Returns
    -------
    np.ndarray, uint8
        (size, size, 3) for one face, (N, size, size, 3) for N; with ``jitter`` an extra
        axis of that length after the face axis.
    """
    from facelib.images import load_image

    size = check_int("size", size, minimum=16)
    if size > MAX_CHIP_SIZE:
        raise ArgumentError(f"size must be <= {MAX_CHIP_SIZE}, got {size}: a chip resamples a face to size x size "
                            "pixels, and a larger chip adds no detail while its sampling grids need about "
                            f"{40 * size * size / 2**30:.1f} GB (the encoder uses {CHIP_SIZE})")
    padding = check_float("padding", padding, minimum=0.0)
    jitter = check_int("jitter", jitter, minimum=0, maximum=MAX_JITTER)
    points, single = _as_landmarks(landmarks)
    image = load_image(image)
    chips = np.stack([_extract_chip(image, *_chip_box(p, size, padding), size) for p in points])
    if jitter:
        rng = check_rng("seed", seed)
        chips = np.stack([[jitter_chip(chip, rng) for _ in range(jitter)] for chip in chips])
    return chips[0] if single else chips


def center_box(shape) -> np.ndarray:
    """The fallback face box when none is detected: the middle 44% of the image's shorter side.

    On LFW's 250x250 images this is (70, 70, 179, 179), where its faces are.
    """
    rows, cols = _image_size(shape)
    side = 0.44 * min(rows, cols)
    left, top = (cols - side) / 2, (rows - side) / 2
    return np.round([left, top, left + side - 1, top + side - 1])


