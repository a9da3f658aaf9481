"""Faces, the face_recognition-style facade: detect, find landmarks, align chips, encode, compare.

The pipeline, as in dlib and the ``face_recognition`` library:

1. :func:`detect_faces` boxes faces (MMOD CNN detector, :mod:`facelib.dlibport.detector`);
2. :func:`face_landmarks` finds 5 points per face (eye corners and nose base,
   :mod:`facelib.dlibport.landmarks`);
3. :func:`face_chips` warps each face by a similarity transform that puts those points
   where dlib's template has them, in a 150x150 chip with 25% padding (:mod:`facelib.dlibport.align`);
4. :func:`encode_chips` runs dlib's ResNet on batches of chips (:mod:`facelib.dlibport.encoder`);
5. :func:`face_distance` and :func:`compare_faces` compare descriptors:
   :math:`d(A, B) = \\lVert f(A) - f(B) \\rVert_2`, same person when :math:`d \\le \\tau` (0.6),
   the one rule of :func:`facelib.decision.same_person`.

:func:`find_faces` chains steps 1 to 4 for every face of a photo (boxes, chips, encodings);
:func:`encode_faces` chains them for the face nearest the centre of each photo and says which
images hold no face (:class:`NoFaceError`); the centre-box fallback of the LFW protocol is an
explicit option. Each public function reads and checks its image once, where it enters.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import NamedTuple

import numpy as np

from facelib.decision import check_threshold, same_person
from facelib.dlibport.align import CHIP_SIZE, MAX_CHIP_SIZE, MAX_JITTER, center_box, face_chips, jitter_chip
from facelib.dlibport.encoder import (
    ENCODING_SIZE,
    RESNET_FILE,
    ChannelAffine,
    ZeroPadAdd,
    build_encoder,
    converted_weights_path,
    encode_chips,
    encoder,
    load_encoder,
)
from facelib.dlibport.geometry import similarity_transform
from facelib.errors import ArgumentError, FacelibError
from facelib.validation import check_bool, check_float, check_int, check_rng

__all__ = [
    "CHIP_SIZE",
    "MAX_CHIP_SIZE",
    "ENCODING_SIZE",
    "RESNET_FILE",
    "ChannelAffine",
    "ZeroPadAdd",
    "NoFaceError",
    "build_encoder",
    "converted_weights_path",
    "load_encoder",
    "encoder",
    "encode_chips",
    "similarity_transform",
    "face_chips",
    "jitter_chip",
    "detect_faces",
    "find_faces",
    "FoundFaces",
    "face_landmarks",
    "center_box",
    "central_face",
    "align_faces",
    "encode_faces",
    "face_distance",
    "compare_faces",
]


class NoFaceError(FacelibError, ValueError):
    """No face was found in one or more images; the message names each of them."""


# -- the pipeline -------------------------------------------------------------------------------
# Each public function loads and checks its image once, where it enters (facelib.images.load_image);
# the steps below it are handed the loaded uint8 array, which dlibport's entry points take as is.

def _boxes(boxes) -> np.ndarray:
    """Face boxes as a finite float64 (N, 4) array; ArgumentError naming ``boxes`` otherwise."""
    try:
        array = np.asarray(boxes, dtype=np.float64)
    except (ValueError, TypeError) as error:
        raise ArgumentError(f"boxes must be numbers (left, top, right, bottom), shape (4,) or (N, 4) "
                            f"({error})") from None
    if array.ndim > 2 or array.size % 4 or (array.ndim == 2 and array.shape[1] != 4) or (
            array.ndim == 1 and array.size not in (0, 4)):
        raise ArgumentError(f"boxes must have shape (4,) or (N, 4) (left, top, right, bottom), got {array.shape}")
    if not np.all(np.isfinite(array)):
        raise ArgumentError("boxes contain NaN or infinite values")
    return array.reshape(-1, 4)


def _detect(image: np.ndarray, upsample: int) -> tuple[np.ndarray, np.ndarray]:
    from facelib.dlibport import detector

    return detector.detect(image, upsample=upsample)


def _landmarks(image: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    from facelib.dlibport import landmarks

    if not len(boxes):
        return np.zeros((0, 5, 2))
    return np.floor(np.stack([landmarks.predict(image, box) for box in boxes]) + 0.5)


def detect_faces(image, upsample: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Face boxes ``(left, top, right, bottom)`` and scores, by dlib's CNN (MMOD) detector.

    See :func:`facelib.dlibport.detector.detect`.
    """
    from facelib.images import load_image

    return _detect(load_image(image), upsample)


def face_landmarks(image, boxes) -> np.ndarray:
    """The 5 landmarks (x, y) of each face box, in whole pixels: shape (N, 5, 2).

    :func:`facelib.dlibport.landmarks.predict` rounded to the nearest pixel, as dlib's
    ``full_object_detection`` stores them, so chips cut from them match dlib's.

    Raises
    ------
    facelib.errors.ArgumentError
        When ``boxes`` is not (4,) or (N, 4) finite numbers.
    """
    from facelib.images import load_image

    boxes = _boxes(boxes)
    return _landmarks(load_image(image), boxes)


class FoundFaces(NamedTuple):
    """Every face of one photo (:func:`find_faces`), in the detector's order."""

    boxes: np.ndarray
    """(N, 4) float64 ``(left, top, right, bottom)``."""
    chips: np.ndarray
    """(N, 150, 150, 3) uint8 aligned chips."""
    encodings: np.ndarray
    """(N, 128) float32 descriptors :math:`f(x)`."""


def find_faces(image, upsample: int = 1) -> FoundFaces:
    """Every face in a photo: its box, its aligned chip and its 128-d encoding.

    Detect (:func:`detect_faces`), find landmarks, align (:func:`face_chips`) and encode
    (:func:`encode_chips`) each face; the photo is read once.

    Parameters
    ----------
    image : path, bytes, array or PIL image
        The photo (anything :func:`facelib.images.load_image` reads).
    upsample : int
        Detector upsampling steps (1 finds faces down to about 40 px).

    Returns
    -------
    FoundFaces
        ``boxes`` (N, 4), ``chips`` (N, 150, 150, 3) and ``encodings`` (N, 128); N = 0 for a
        photo without faces.

    Examples
    --------
    >>> import skimage.data
    >>> found = find_faces(skimage.data.astronaut(), upsample=0)
    >>> found.boxes.shape, found.encodings.shape
    ((1, 4), (1, 128))
    """
    from facelib.images import load_image

    image = load_image(image)
    boxes, _ = _detect(image, upsample)
    boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
    if not len(boxes):
        return FoundFaces(boxes, np.zeros((0, CHIP_SIZE, CHIP_SIZE, 3), np.uint8),
                          np.zeros((0, ENCODING_SIZE), np.float32))
    chips = face_chips(image, _landmarks(image, boxes))
    return FoundFaces(boxes, chips, encode_chips(chips))


def central_face(boxes, shape) -> int | None:
    """Index of the box whose centre is nearest the centre of an image of ``shape``; None when there is no box."""
    boxes = _boxes(boxes)
    try:
        sides = tuple(shape)[:2]
    except TypeError:
        sides = ()
    if len(sides) != 2:
        raise ArgumentError(f"shape must be an image shape (height, width, ...), got {shape!r}")
    height, width = (check_int(f"shape[{i}]", side, minimum=1) for i, side in enumerate(sides))
    if len(boxes) == 0:
        return None
    centers = (boxes[:, :2] + boxes[:, 2:]) / 2
    target = np.array([width - 1, height - 1]) / 2
    return int(np.argmin(((centers - target) ** 2).sum(1)))


def _describe(source, i: int) -> str:
    return str(source) if isinstance(source, str | Path) else f"image {i}"


def align_faces(images, upsample: int = 1, padding: float = 0.25,
                fallback: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """One aligned 150x150 chip per image: the detected face nearest the image centre.

    Parameters
    ----------
    images : sequence of images or paths, or one image
        Photos, each holding (at least) one face.
    upsample : int
        Detector upsampling steps (1 finds faces down to about 40 px).
    padding : float
        Chip padding (dlib: 0.25).
    fallback : bool
        False (default): an image without a detected face is an error. True: use
        :func:`center_box` there instead, and say so in ``detected`` (the LFW protocol, whose
        images are centred faces, turns this on and counts the fallbacks).

    Returns
    -------
    chips : np.ndarray, shape (N, 150, 150, 3), uint8
    detected : np.ndarray, shape (N,), bool
        False where no face was found and :func:`center_box` was used instead.

    Raises
    ------
    NoFaceError
        Without ``fallback``, when any image holds no detectable face (the message names each).
    """
    from PIL import Image

    from facelib.images import load_image

    if isinstance(images, str | Path | bytes | bytearray | Image.Image) or (
            isinstance(images, np.ndarray) and images.ndim in (2, 3)):
        images = [images]  # one photo, not a sequence of them
    elif not isinstance(images, Iterable) or isinstance(images, Mapping) or (
            isinstance(images, np.ndarray) and images.ndim != 4):
        raise ArgumentError(f"images must be a photo or a sequence of photos (paths, bytes or arrays), got "
                            f"{type(images).__name__}")
    fallback = check_bool("fallback", fallback)
    chips, detected, missing = [], [], []
    upsample = check_int("upsample", upsample, minimum=0)
    padding = check_float("padding", padding, minimum=0.0)
    for i, source in enumerate(images):
        image = load_image(source)  # once: the steps below take the array
        boxes, _ = _detect(image, upsample)
        nearest = central_face(boxes, image.shape)
        detected.append(nearest is not None)
        if nearest is None and not fallback:
            missing.append(_describe(source, i))
            continue
        box = center_box(image.shape) if nearest is None else boxes[nearest]
        chips.append(face_chips(image, _landmarks(image, np.reshape(box, (1, 4)))[0], padding=padding))
    if missing:
        raise NoFaceError(f"no face found in {len(missing)} of {len(detected)} images: {', '.join(missing[:10])}"
                          f"{' ...' if len(missing) > 10 else ''}. Use photos in which the face is visible and "
                          "at least about 40 pixels wide, or upsample=2 for small faces (fallback=True uses "
                          "the centre of the image instead, as the LFW protocol does).")
    if not chips:
        return np.zeros((0, CHIP_SIZE, CHIP_SIZE, 3), np.uint8), np.zeros(0, bool)
    return np.stack(chips), np.array(detected)


def encode_faces(images, jitter: int = 0, upsample: int = 1, seed: int | None = 0,
                 fallback: bool = False) -> np.ndarray:
    """128-d descriptors :math:`f(x)`, one per image (the face nearest its centre).

    Detect, find landmarks, align (:func:`align_faces`) and encode (:func:`encode_chips`).

    Parameters
    ----------
    images : sequence of images or paths, or one image
        Photos (anything :func:`facelib.images.load_image` reads).
    jitter : int
        0: encode each chip as it is. ``n > 0``: the descriptor is the mean over ``n``
        random jitters of the chip (:func:`jitter_chip`; test-time augmentation, as
        dlib's ``num_jitters``, except that dlib does not jitter at all for 1); at most
        :data:`facelib.dlibport.align.MAX_JITTER` (1000).
    upsample : int
        Detector upsampling steps.
    seed : int or None
        Seed of the jitter's random generator.
    fallback : bool
        Encode the centre box of an image without a detected face instead of raising (see
        :func:`align_faces`); never a face, only the LFW protocol's convention.

    Returns
    -------
    np.ndarray, shape (N, 128), float32

    Raises
    ------
    NoFaceError
        When an image holds no detectable face (unless ``fallback``); the message names each
        such image, so a picture without a face never gets a descriptor presented as a face's.

    Examples
    --------
    >>> import skimage.data
    >>> f = encode_faces([skimage.data.astronaut()])
    >>> f.shape, bool(0.5 < np.linalg.norm(f) < 2)
    ((1, 128), True)
    """
    jitter = check_int("jitter", jitter, minimum=0, maximum=MAX_JITTER)
    if seed is not None:
        seed = check_int("seed", seed, minimum=0)
    chips, _ = align_faces(images, upsample, fallback=fallback)
    if not jitter:
        return encode_chips(chips)
    rng = check_rng("seed", seed)
    jittered = np.stack([jitter_chip(chip, rng) for chip in chips for _ in range(jitter)])
    return encode_chips(jittered).reshape(len(chips), jitter, ENCODING_SIZE).mean(1)


def _descriptors(value, name: str) -> np.ndarray:
    try:
        array = np.asarray(value, np.float64)
    except (ValueError, TypeError) as error:
        raise ArgumentError(f"{name} must be 128-d descriptors of one length (an (N, 128) array), "
                            f"not a ragged or non-numeric list ({error})") from None
    if array.shape[-1:] != (ENCODING_SIZE,):
        raise ArgumentError(f"{name} must be 128-d descriptors (last axis 128), got shape {array.shape}")
    if not np.all(np.isfinite(array)):
        raise ArgumentError(f"{name} contains NaN or infinite values; encode the faces again")
    return array


def face_distance(known, candidate) -> np.ndarray:
    """Euclidean distances :math:`d(A, B) = \\lVert f(A) - f(B) \\rVert_2`.

    Parameters
    ----------
    known : array-like, shape (N, 128) or (128,)
    candidate : array-like, shape (128,) or (N, 128)
        Broadcast against ``known``.

    Returns
    -------
    np.ndarray of distances, shape (N,) (a 0-d array for two single vectors).
    """
    return _distance(known, candidate, ("known", "candidate"))


def _distance(a, b, names: tuple[str, str]) -> np.ndarray:
    a, b = _descriptors(a, names[0]), _descriptors(b, names[1])
    try:
        return np.linalg.norm(a - b, axis=-1)
    except ValueError:
        raise ArgumentError(f"{names[0]} and {names[1]} do not broadcast: shapes {a.shape} and {b.shape}") from None


def compare_faces(a, b, threshold: float = 0.6) -> np.ndarray:
    """Same person? :math:`d(A, B) \\le \\tau` (:func:`facelib.decision.same_person`; dlib trained for 0.6).

    Raises
    ------
    facelib.errors.ArgumentError
        For a threshold that is not a positive finite number, naming ``threshold``.
    """
    threshold = check_threshold(threshold)
    return same_person(_distance(a, b, ("a", "b")), threshold)
