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

import hashlib
import math
import os
import tempfile
from functools import cache
from pathlib import Path

import numpy as np

from facelib import assets, dlibfmt
from facelib.images import load_image

__all__ = ["MODEL_FILE", "ShapePredictor", "predict"]

MODEL_FILE = "shape_predictor_5_face_landmarks.dat"
_CACHE_FORMAT = 1  # bump when the cached arrays change meaning


# -- reading the .dat file -----------------------------------------------------------------------
def _int_stream(data: bytes, name: str) -> tuple[np.ndarray, np.ndarray]:
    """Every dlib integer in ``data`` (a shape predictor holds nothing else) and its offset.

    A float is two of them (mantissa, exponent), a matrix is ``-rows, -cols`` and then its
    floats, a vector is its length and then its items.
    """
    raw = np.frombuffer(data, dtype=np.uint8)
    steps = (1 + (raw & 0x0F)).astype(np.uint8).tobytes()  # an integer takes 1 + (header & 15) bytes
    starts, pos, end = [], 0, len(data)
    append = starts.append
    while pos < end:
        append(pos)
        pos += steps[pos]
    if pos != end:
        reader = dlibfmt.Reader(data, name)
        reader.pos = starts[-1]
        raise reader.error("file ends inside an integer")
    offsets = np.asarray(starts, dtype=np.int64)
    header = raw[offsets].astype(np.int64)
    size = header & 0x0F
    bad = ((header & 0x70) != 0) | (size > 8)
    if bad.any():
        reader = dlibfmt.Reader(data, name)
        reader.pos = int(offsets[np.argmax(bad)])
        raise reader.error(f"byte 0x{int(header[np.argmax(bad)]):02x} is not a dlib integer header")
    magnitude = np.zeros(len(offsets), dtype=np.uint64)
    padded = np.concatenate([raw, np.zeros(9, dtype=np.uint8)])
    for j in range(int(size.max(initial=0))):
        byte = np.where(j < size, padded[offsets + 1 + j], 0).astype(np.uint64)
        magnitude |= byte << np.uint64(8 * j)
    values = magnitude.astype(np.int64)
    values[(header & 0x80) != 0] *= -1
    return values, offsets


class _Cursor:
    """Walks the integer stream of one file, raising errors that name the file and offset."""

    def __init__(self, data: bytes, values: np.ndarray, offsets: np.ndarray, name: str) -> None:
        self.data, self.values, self.offsets, self.name, self.i = data, values, offsets, name, 0

    def error(self, message: str) -> dlibfmt.DlibFormatError:
        reader = dlibfmt.Reader(self.data, self.name)
        reader.pos = int(self.offsets[self.i]) if self.i < len(self.offsets) else len(self.data)
        return reader.error(message)

    def take(self, count: int, what: str) -> np.ndarray:
        if count < 0 or self.i + count > len(self.values):
            raise self.error(f"file ends while reading {what}")
        block = self.values[self.i:self.i + count]
        self.i += count
        return block

    def int(self, what: str, low: int = 0, high: int = 1 << 40) -> int:
        value = int(self.take(1, what)[0])
        if not low <= value <= high:
            self.i -= 1
            raise self.error(f"{what} is {value}, expected {low} to {high}")
        return value

    def floats(self, count: int, what: str) -> np.ndarray:
        pairs = self.take(2 * count, what).reshape(count, 2)
        if np.any(np.abs(pairs[:, 1]) > 1100):
            raise self.error(f"non-finite value in {what}")
        return np.ldexp(pairs[:, 0].astype(np.float64), pairs[:, 1]).astype(np.float32)


def _parse(path: Path) -> dict[str, np.ndarray]:
    """Read a dlib shape_predictor file into arrays (see :class:`ShapePredictor`)."""
    data = path.read_bytes()
    values, offsets = _int_stream(data, str(path))
    c = _Cursor(data, values, offsets, str(path))
    c.int("shape_predictor version", 1, 1)
    rows, cols = (abs(int(v)) for v in c.take(2, "initial shape size"))
    if cols != 1 or rows % 2 or rows == 0:
        raise c.error(f"initial shape is {rows}x{cols}, expected a column of x, y pairs")
    initial = c.floats(rows, "initial shape")
    n_cascades = c.int("number of cascades", 1, 1000)
    cascades = []
    for t in range(n_cascades):
        n_trees = c.int("number of trees", 1, 100_000)
        # dlib's trees are complete binary trees of one depth: each is [n, n splits (idx1, idx2,
        # threshold), n + 1, n + 1 leaves (-rows, -1, rows floats)], all of the same length
        n_splits = c.int("number of splits", 0, 1 << 16)
        c.i -= 1
        n_leaves = n_splits + 1
        if n_leaves & (n_leaves - 1):
            raise c.error(f"a tree with {n_splits} splits is not complete; dlib's trees are")
        width = 2 + 4 * n_splits + n_leaves * (2 + 2 * rows)
        start = c.i
        block = c.take(n_trees * width, f"the trees of cascade {t}").reshape(n_trees, width)
        split = block[:, 1:1 + 4 * n_splits].reshape(n_trees, n_splits, 4)
        leaf = block[:, 2 + 4 * n_splits:].reshape(n_trees, n_leaves, 2 + 2 * rows)
        if np.any(block[:, 0] != n_splits) or np.any(block[:, 1 + 4 * n_splits] != n_leaves) \
                or np.any(np.abs(leaf[..., 0]) != rows) or np.any(np.abs(leaf[..., 1]) != 1):
            c.i = start
            raise c.error(f"cascade {t}: trees of different sizes or leaves that do not match the shape")
        cascades.append((
            split[..., :2],
            np.ldexp(split[..., 2].astype(np.float64), np.clip(split[..., 3], -1100, 1100)),
            np.ldexp(leaf[..., 2::2].astype(np.float64), np.clip(leaf[..., 3::2], -1100, 1100)),
        ))
    c.int("number of anchor lists", n_cascades, n_cascades)
    anchors = [c.take(c.int("number of feature pixels", 1, 1 << 20), "anchor indices") for _ in range(n_cascades)]
    c.int("number of delta lists", n_cascades, n_cascades)
    deltas = [c.floats(2 * c.int("number of feature pixels", 1, 1 << 20), "pixel offsets").reshape(-1, 2)
              for _ in range(n_cascades)]
    if c.i != len(values):
        raise c.error(f"{len(values) - c.i} unexpected integers after the model")
    arrays = {"initial_shape": initial.reshape(-1, 2)}
    for t, ((idx, thresh, leaf), anchor, delta) in enumerate(zip(cascades, anchors, deltas, strict=True)):
        if len(anchor) != len(delta) or np.any((anchor < 0) | (anchor >= rows // 2)):
            raise c.error(f"cascade {t}: anchor indices do not fit the shape")
        if np.any((idx < 0) | (idx >= len(anchor))) or not np.all(np.isfinite(thresh)) \
                or not np.all(np.isfinite(leaf)):
            raise c.error(f"cascade {t}: split features out of range or non-finite values")
        arrays[f"split_pixels_{t}"] = idx.astype(np.int64)
        arrays[f"split_thresh_{t}"] = thresh.astype(np.float32)
        arrays[f"leaves_{t}"] = leaf.astype(np.float32)
        arrays[f"anchors_{t}"] = anchor.astype(np.int64)
        arrays[f"deltas_{t}"] = delta.astype(np.float32)
    return arrays


def _load(path: Path) -> dict[str, np.ndarray]:
    """Arrays of a shape predictor, from the cache under ``assets.home()/converted`` if there."""
    digest = hashlib.sha256(path.read_bytes()).hexdigest()[:20]
    cached = assets.home() / "converted" / f"shape_predictor-{digest}-v{_CACHE_FORMAT}.npz"
    if cached.is_file():
        try:
            with np.load(cached) as data:
                return {key: data[key] for key in data.files}
        except (OSError, ValueError, KeyError):
            pass  # unreadable cache: convert again
    arrays = _parse(path)
    try:
        cached.parent.mkdir(parents=True, exist_ok=True)
        handle, tmp = tempfile.mkstemp(suffix=".npz", dir=cached.parent)
        with os.fdopen(handle, "wb") as out:
            np.savez(out, **arrays)
        os.replace(tmp, cached)
    except OSError:
        pass  # a read-only cache only costs speed
    return arrays


# -- evaluation ----------------------------------------------------------------------------------
def _similarity_matrix(source: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Rotation-and-scale part :math:`cR` of the least-squares similarity map source -> target.

    Umeyama (1991): with centred points, :math:`\\Sigma = \\frac1n \\sum (t_i - \\bar t)(s_i -
    \\bar s)^T = U D V^T`, :math:`R = U S V^T` (:math:`S` fixes a reflection) and
    :math:`c = \\mathrm{tr}(DS) / \\sigma_s^2`.
    """
    src, dst = source.astype(np.float64), target.astype(np.float64)
    src_c, dst_c = src - src.mean(axis=0), dst - dst.mean(axis=0)
    sigma_src = np.mean(np.sum(src_c**2, axis=1))
    cov = dst_c.T @ src_c / len(src)
    u, d, vt = np.linalg.svd(cov)
    s = np.ones(2)
    if np.linalg.det(cov) < 0 or (np.linalg.det(cov) == 0 and np.linalg.det(u) * np.linalg.det(vt) < 0):
        s[1] = -1  # d is sorted decreasing: flip the smaller singular direction
    rotation = u @ np.diag(s) @ vt
    scale = np.sum(d * s) / sigma_src if sigma_src != 0 else 1.0
    return scale * rotation


class ShapePredictor:
    """A dlib ``shape_predictor`` (ensemble of regression trees) in NumPy.

    Parameters
    ----------
    path : str or Path, optional
        A dlib shape predictor file; by default the checksummed
        ``shape_predictor_5_face_landmarks.dat`` of the ``dlib_models`` asset. The parsed
        arrays are cached under ``assets.home()/converted``.

    Raises
    ------
    facelib.dlibfmt.DlibFormatError
        If the file is corrupt or not a shape predictor; the message names the file.

    Examples
    --------
    >>> import skimage.data
    >>> points = ShapePredictor().predict(skimage.data.astronaut(), (168, 69, 263, 164))
    >>> points.shape
    (5, 2)
    """

    def __init__(self, path: str | Path | None = None) -> None:
        path = assets.file("dlib_models", MODEL_FILE) if path is None else Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"shape predictor file {str(path)!r} does not exist")
        arrays = _load(path)
        self.path = path
        self.initial_shape = arrays["initial_shape"]
        self.cascades = [
            {key: arrays[f"{key}_{t}"] for key in ("split_pixels", "split_thresh", "leaves", "anchors", "deltas")}
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
            rectangle, as :func:`facelib.detector.detect` returns).

        Returns
        -------
        ndarray of float64, shape (num_parts, 2)
            ``(x, y)`` of each landmark in image pixels.
        """
        box = np.asarray(box, dtype=np.float64)
        if box.shape != (4,) or not np.all(np.isfinite(box)):
            raise ValueError(f"box must be 4 finite numbers (left, top, right, bottom), got {box!r}")
        pixels = load_image(image, mode="RGB")
        height, width = pixels.shape[:2]
        left, top, right, bottom = box
        size = np.array([right - left, bottom - top])  # unit box -> image: (left, top) + p * size
        origin = np.array([left, top])
        shape = self.initial_shape.astype(np.float32).copy()
        for cascade in self.cascades:
            m = _similarity_matrix(self.initial_shape, shape).astype(np.float32)
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
