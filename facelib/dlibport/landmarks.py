"""dlib's 5-point face landmark predictor, evaluated in NumPy.

``shape_predictor_5_face_landmarks.dat`` finds the two corners of each eye and the base of
the nose inside a face box. It is an ensemble of regression trees (Kazemi and Sullivan,
2014): starting from a mean shape :math:`S^{(0)}` placed in the box, each of 15 cascades
reads 800 grey pixel values relative to the current shape and adds the outputs of 500
depth-4 trees:

.. math:: S^{(t+1)} = S^{(t)} + \\sum_{k=1}^{500} g_k\\big(I, S^{(t)}\\big)

Shapes live in box-normalised coordinates, :math:`(0,0)` at the box's top-left corner and
:math:`(1,1)` at its bottom-right. Feature pixel :math:`j` of a cascade is stored as an
anchor landmark :math:`a_j` and an offset :math:`\\delta_j` in the mean shape; in the
current shape it sits at :math:`s_{a_j} + M \\delta_j`, where :math:`M` is the rotation
and scale of the least-squares similarity transform from the mean shape to the current
one (Umeyama, 1991). Its value is the image's intensity :math:`\\lfloor(R+G+B)/3\\rfloor`
at the nearest pixel (0 outside the image). A tree node sends a face left when
:math:`I_{u} - I_{v} > \\theta`; the leaf holds the shape increment.

dlib rounds the final points to whole pixels; :meth:`ShapePredictor.predict` returns them
unrounded (dlib's are ``floor(p + 0.5)`` of these).

References
----------
V. Kazemi and J. Sullivan, "One Millisecond Face Alignment with an Ensemble of
Regression Trees", CVPR 2014. dlib's ``shape_predictor.h``.
"""

from __future__ import annotations

import math
import zipfile
from functools import cache
from pathlib import Path

import numpy as np

from facelib import assets
from facelib.dlibport import datfile
from facelib.dlibport.geometry import similarity_transform
from facelib.errors import ArgumentError, MissingFileError
from facelib.images import load_image
from facelib.storage import sha256

__all__ = ["MODEL_FILE", "ShapePredictor", "predict"]

MODEL_FILE = "shape_predictor_5_face_landmarks.dat"
_CACHE_FORMAT = 1  # bump when the cached arrays change meaning
_CASCADE_KEYS = ("split_pixels", "split_thresh", "leaves", "anchors", "deltas")


def _cache_path(digest: str) -> Path:
    return assets.home() / "converted" / f"shape_predictor-{digest[:20]}-v{_CACHE_FORMAT}.npz"


def _load(path: Path, digest: str) -> dict[str, np.ndarray]:
    """Arrays of a shape predictor, from the cache under ``assets.home()/converted`` if it is complete there."""
    cached = _cache_path(digest)
    if cached.is_file():
        try:
            with np.load(cached, allow_pickle=False) as data:
                arrays = {key: data[key] for key in data.files}
            cascades = sum(key.startswith("leaves_") for key in arrays)
            expected = {"initial_shape"} | {f"{key}_{t}" for key in _CASCADE_KEYS for t in range(cascades)}
            if (missing := sorted(expected - set(arrays))) or not cascades:
                raise KeyError(f"missing {', '.join(missing[:3]) or 'every cascade'}")
            return arrays
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as error:
            assets.note(f"the landmark model cache {cached} is damaged ({error}); reading the .dat file again")
    arrays = datfile.read_shape_predictor(path)
    assets.write_cache(cached, lambda handle: np.savez(handle, **arrays))
    return arrays


# -- evaluation ----------------------------------------------------------------------------------
class ShapePredictor:
    """A dlib ``shape_predictor`` (ensemble of regression trees) in NumPy.

    Parameters
    ----------
    path : str or Path, optional
        A dlib shape predictor file; by default the checksummed
        ``shape_predictor_5_face_landmarks.dat`` of the ``dlib_models`` asset. The parsed
        arrays are cached under ``assets.home()/converted``.

    The file is read by :func:`facelib.dlibport.datfile.read_shape_predictor` (a corrupt file raises its
    ``DlibFormatError``, naming the file).

    Examples
    --------
    >>> import skimage.data
    >>> points = ShapePredictor().predict(skimage.data.astronaut(), (168, 69, 263, 164))
    >>> points.shape
    (5, 2)
    """

    def __init__(self, path: str | Path | None = None) -> None:
        if path is None:
            path, digest = assets.file("dlib_models", MODEL_FILE), assets.checksum("dlib_models", MODEL_FILE)
        else:
            path = Path(path)
            if not path.is_file():
                raise MissingFileError(f"shape predictor file {str(path)!r} does not exist")
            digest = sha256(path)
        arrays = _load(path, digest)
        self.path = path
        self.initial_shape = arrays["initial_shape"]
        self.cascades = [
            {key: arrays[f"{key}_{t}"] for key in _CASCADE_KEYS}
            for t in range(sum(key.startswith("leaves_") for key in arrays))
        ]

    @property
    def num_parts(self) -> int:
        """How many landmarks the model predicts."""
        return len(self.initial_shape)

    def predict(self, image, box) -> np.ndarray:
        """Landmarks of the face in ``box``.

        Parameters
        ----------
        image : array or path
            The whole image, RGB (H, W, 3) or greyscale, uint8 (anything
            :func:`facelib.images.load_image` accepts).
        box : sequence of 4 numbers
            ``(left, top, right, bottom)`` in pixels, right/bottom inclusive (dlib's
            rectangle, as :func:`facelib.dlibport.detector.detect` returns).

        Returns
        -------
        ndarray of float64, shape (num_parts, 2)
            ``(x, y)`` of each landmark in image pixels.
        """
        box = np.asarray(box, dtype=np.float64)
        if box.shape != (4,) or not np.all(np.isfinite(box)):
            raise ArgumentError(f"box must be 4 finite numbers (left, top, right, bottom), got {box!r}")
        pixels = load_image(image, mode="RGB")
        height, width = pixels.shape[:2]
        left, top, right, bottom = box
        size = np.array([right - left, bottom - top])  # unit box -> image: (left, top) + p * size
        origin = np.array([left, top])
        shape = self.initial_shape.astype(np.float32).copy()
        for cascade in self.cascades:
            m = similarity_transform(self.initial_shape, shape)[0].astype(np.float32)
            deltas = cascade["deltas"]
            points = (deltas[:, :1] * m[:, 0] + deltas[:, 1:] * m[:, 1]) + shape[cascade["anchors"]]
            xy = np.floor(origin + points.astype(np.float64) * size + 0.5).astype(np.int64)
            inside = (xy[:, 0] >= 0) & (xy[:, 0] < width) & (xy[:, 1] >= 0) & (xy[:, 1] < height)
            features = np.zeros(len(xy), dtype=np.float32)
            rgb = pixels[xy[inside, 1], xy[inside, 0]].astype(np.int32)
            features[inside] = rgb.sum(axis=1) // 3  # dlib's rgb -> grey: floor((R + G + B) / 3)
            shape = self._run_trees(cascade, features, shape)
        return origin + shape.astype(np.float64) * size

    @staticmethod
    def _run_trees(cascade: dict, features: np.ndarray, shape: np.ndarray) -> np.ndarray:
        """Drop the face down every tree of a cascade and add the leaves, in dlib's order."""
        pixels, thresh, leaves = cascade["split_pixels"], cascade["split_thresh"], cascade["leaves"]
        n_trees, n_splits = thresh.shape
        trees = np.arange(n_trees)
        node = np.zeros(n_trees, dtype=np.int64)
        for _ in range(int(math.log2(n_splits + 1))):
            u, v = pixels[trees, node, 0], pixels[trees, node, 1]
            go_left = features[u] - features[v] > thresh[trees, node]
            node = 2 * node + np.where(go_left, 1, 2)
        steps = leaves[trees, node - n_splits]  # (n_trees, 2 * parts)
        total = np.cumsum(np.vstack([shape.reshape(1, -1), steps]), axis=0, dtype=np.float32)[-1]
        return total.reshape(shape.shape)


@cache
def _default_predictor() -> ShapePredictor:
    return ShapePredictor()


def predict(image, box) -> np.ndarray:
    """Five landmarks (eye corners, nose base) of the face in ``box``; the model is loaded once.

    See :meth:`ShapePredictor.predict`.
    """
    return _default_predictor().predict(image, box)
