"""Encodings :math:`f(x)` of a fixed list of image files, cached on disk.

Encoding a photo costs a few hundredths of a second on a CPU (landmarks, alignment, the
ResNet forward pass); a lesson that compares a thousand LFW faces would spend most of its
time there, every run. :func:`encode_files` therefore keeps every 128-d encoding it computes
in an ``.npz`` archive under ``assets.home()/encodings/``:

- one archive per *alignment method* and *model*: its name holds the SHA-256 of the model
  files used (the ResNet, the landmark predictor, and the face detector for ``"detect"``),
  so new weights never meet old encodings;
- inside it, one row per *image content*: the key is the SHA-256 of the image file, so a
  renamed file is found again and a changed one is encoded again.

Two ways to find the face (``method``):

``"center"``
    The 5 landmarks are predicted inside :func:`facelib.faces.center_box`, the middle 44% of
    the image, then the chip is aligned on them. Made for LFW's deep-funneled images, where
    every face is already roughly centred at the same size (about 20x faster than detecting).
``"detect"``
    The full pipeline (:func:`facelib.faces.align_faces`): the CNN detector (one upsampling
    step), the detected face nearest the centre (else the centre box), landmarks, chip.

Files are plain arrays (``keys``, ``encodings``), read with ``allow_pickle=False``; a cache
that cannot be read is rebuilt (one line on stderr says so), and one that cannot be written only
costs time (:func:`facelib.assets.write_cache`).

The module was called ``facelib.encodings``, a name that hides the standard library's
``encodings`` in a namespace that imports it.
"""

from __future__ import annotations

import hashlib
import os
import zipfile
from collections.abc import Iterable
from functools import cache
from pathlib import Path

import numpy as np

from facelib import assets, faces
from facelib.errors import MissingFileError
from facelib.storage import sha256
from facelib.validation import check_choice

__all__ = ["METHODS", "cache_path", "chip_of", "encode_files"]

METHODS = ("center", "detect")
_MODEL_FILES = {
    "center": ("dlib_face_recognition_resnet_model_v1.dat", "shape_predictor_5_face_landmarks.dat"),
    "detect": ("dlib_face_recognition_resnet_model_v1.dat", "shape_predictor_5_face_landmarks.dat",
               "mmod_human_face_detector.dat"),
}
_FORMAT = 2  # bump when the meaning of a cached encoding changes (chip size, padding, ...)


def _check_method(method: str) -> str:
    return check_choice("method", method, METHODS)


@cache
def _model_key(method: str) -> str:
    digest = hashlib.sha256(f"v{_FORMAT}-{method}".encode())
    for name in _MODEL_FILES[method]:
        digest.update(assets.checksum("dlib_models", name).encode())  # the manifest's, already verified
    return digest.hexdigest()[:16]


def cache_path(method: str = "center") -> Path:
    """The archive holding the cached encodings of ``method`` for the installed model files."""
    return assets.home() / "encodings" / f"{_check_method(method)}-{_model_key(method)}.npz"


def _read_cache(path: Path) -> dict[str, np.ndarray]:
    if not path.is_file():
        return {}
    try:
        with np.load(path, allow_pickle=False) as archive:
            keys, values = archive["keys"], archive["encodings"]
        if values.shape != (len(keys), faces.ENCODING_SIZE):
            raise ValueError(f"encodings of shape {values.shape} for {len(keys)} keys")
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as error:
        assets.note(f"the encodings cache {path} is damaged ({error}); encoding the images again")
        return {}
    return dict(zip(keys.tolist(), values, strict=True))


def _write_cache(path: Path, table: dict[str, np.ndarray]) -> None:
    keys = np.array(list(table), dtype=str)
    values = np.array(list(table.values()), dtype=np.float32).reshape(-1, faces.ENCODING_SIZE)
    assets.write_cache(path, lambda handle: np.savez(handle, keys=keys, encodings=values))


def chip_of(path: str | os.PathLike, method: str = "center") -> np.ndarray:
    """The aligned 150x150 chip that :func:`encode_files` encodes for one image file.

    Parameters
    ----------
    path : str or Path
        An image file with a face.
    method : {"center", "detect"}
        How the face is found (see the module notes).

    Returns
    -------
    np.ndarray, shape (150, 150, 3), uint8
    """
    from facelib.images import load_image

    if _check_method(method) == "detect":
        return faces.align_faces([path], upsample=1, fallback=True)[0][0]
    image = load_image(path)
    points = faces.face_landmarks(image, faces.center_box(image.shape)[None])[0]
    return faces.face_chips(image, points)


def encode_files(paths: Iterable[str | os.PathLike], method: str = "center", use_cache: bool = True,
                 batch_size: int = 32) -> np.ndarray:
    """Encodings :math:`f(x)` of image files, one row per path, in order.

    Each file's face is aligned by ``method`` and encoded by :func:`facelib.faces.encoder`.
    Encodings already cached for the same file content and model are read back instead.

    Parameters
    ----------
    paths : iterable of str or Path
        Image files, one face each (repeats are encoded once).
    method : {"center", "detect"}
        ``"center"``: landmarks in the centre box (LFW's funneled images);
        ``"detect"``: the CNN face detector first.
    use_cache : bool
        Read and extend the cache under ``assets.home()/encodings/``; False always encodes.
    batch_size : int
        Chips per forward pass of the encoder.

    Returns
    -------
    np.ndarray, shape (len(paths), 128), float32

    Raises
    ------
    facelib.errors.MissingFileError
        If a path is not a file (the message names it).
    facelib.errors.ArgumentError
        For an unknown ``method``.
    """
    _check_method(method)
    paths = [Path(p) for p in paths]
    if missing := [str(p) for p in paths if not p.is_file()]:
        raise MissingFileError(f"{len(missing)} image file(s) not found, e.g. {missing[0]!r}")
    if not paths:
        return np.zeros((0, faces.ENCODING_SIZE), np.float32)
    keys = [sha256(p) for p in paths]
    store = cache_path(method) if use_cache else None
    table = _read_cache(store) if store is not None else {}
    todo = list(dict.fromkeys(k for k in keys if k not in table))
    if todo:
        first = {k: p for k, p in zip(keys, paths, strict=True)}
        chips = np.stack([chip_of(first[k], method) for k in todo])
        table.update(zip(todo, faces.encode_chips(chips, batch_size=batch_size), strict=True))
        if store is not None:
            _write_cache(store, table)
    return np.stack([table[k] for k in keys]).astype(np.float32)
