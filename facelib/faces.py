"""Faces: detect, find landmarks, align 150x150 chips and encode them with dlib's ResNet.

The encoder is dlib's ``dlib_face_recognition_resnet_model_v1`` (King, 2017: a 29-layer
ResNet trained with a metric loss on about 3 million faces), rebuilt layer by layer as a
Keras 3 model and loaded with the weights read by :mod:`facelib.dlibfmt`. Its output
:math:`f(x) \\in \\mathbb{R}^{128}` places two chips of the same person closer than
0.6 (Euclidean) and chips of different people farther apart.

The pipeline, as in dlib and the ``face_recognition`` library:

1. :func:`detect_faces` boxes faces (MMOD CNN detector, :mod:`facelib.detector`);
2. :func:`face_landmarks` finds 5 points per face (eye corners and nose base,
   :mod:`facelib.landmarks`);
3. :func:`face_chips` warps each face by a similarity transform that puts those points
   where dlib's template has them, in a 150x150 chip with 25% padding;
4. :func:`encode_chips` runs the encoder on batches of chips;
5. :func:`face_distance` and :func:`verify` compare descriptors:
   :math:`d(A, B) = \\lVert f(A) - f(B) \\rVert_2`, same person when :math:`d < 0.6`.

:func:`encode_faces` chains steps 1 to 4.
"""

from __future__ import annotations

import hashlib
import re
from functools import cache
from pathlib import Path

import keras
import numpy as np
from keras import ops

from facelib import assets, dlibfmt

__all__ = [
    "ChannelAffine",
    "ZeroPadAdd",
    "build_encoder",
    "load_encoder",
    "encoder",
    "encode_chips",
    "similarity_transform",
    "face_chips",
    "jitter_chip",
    "detect_faces",
    "face_landmarks",
    "center_box",
    "align_faces",
    "encode_faces",
    "face_distance",
    "verify",
]

RESNET_FILE = "dlib_face_recognition_resnet_model_v1.dat"
CHIP_SIZE = 150
EMBEDDING_SIZE = 128
_DLIB_PIXEL_SCALE = 256.0  # dlib divides (pixel - channel mean) by 256, not 255


# -- layers -----------------------------------------------------------------------------------
@keras.saving.register_keras_serializable(package="facelib")
class ChannelAffine(keras.layers.Layer):
    """dlib's ``affine`` layer: a per-channel scale and shift, :math:`y = \\gamma x + \\beta`.

    It is what a batch-normalisation layer becomes after training, with the running
    statistics folded into :math:`\\gamma` and :math:`\\beta`.
    """

    def build(self, input_shape):
        channels = input_shape[-1]
        self.gamma = self.add_weight(name="gamma", shape=(channels,), initializer="ones")
        self.beta = self.add_weight(name="beta", shape=(channels,), initializer="zeros")

    def call(self, inputs):
        return inputs * self.gamma + self.beta


@keras.saving.register_keras_serializable(package="facelib")
class ZeroPadAdd(keras.layers.Layer):
    """dlib's ``add_prev``: add two tensors, padding the smaller with zeros (bottom/right).

    In dlib's down-sampling blocks the shortcut (an average pool of the block input) can
    have fewer channels or more rows than the residual branch; dlib then adds them where
    they overlap and keeps the rest of the larger one. With equal shapes it is a plain
    sum.
    """

    def call(self, inputs):
        a, b = inputs
        target = [max(a.shape[i], b.shape[i]) for i in (1, 2, 3)]
        return self._pad(a, target) + self._pad(b, target)

    @staticmethod
    def _pad(x, target):
        extra = [t - s for t, s in zip(target, x.shape[1:], strict=True)]
        if not any(extra):
            return x
        return ops.pad(x, [[0, 0]] + [[0, e] for e in extra])

    def compute_output_shape(self, input_shapes):
        a, b = input_shapes
        return (a[0],) + tuple(max(a[i], b[i]) for i in (1, 2, 3))


# -- architecture -----------------------------------------------------------------------------
# dlib's face ResNet, from the input side: a 7x7/2 stem, then levels of residual blocks
# (filters, number of blocks, whether the first block halves the resolution).
_LEVELS = ((32, 3, False), (64, 4, True), (128, 3, True), (256, 3, True), (256, 1, True))


def _expected_types() -> list[str]:
    """Layer types of the network definition, input side first, as dlib stores them."""
    types = ["con", "affine", "relu", "max_pool"]
    for _, blocks, down in _LEVELS:
        for i in range(blocks):
            types += ["con", "affine", "relu", "con", "affine"]
            types += ["avg_pool", "add_prev", "relu"] if down and i == 0 else ["add_prev", "relu"]
    return types + ["avg_pool", "fc"]


# weights are always loaded afterwards: zeros are much cheaper to create than random ones
_ZEROS = {"kernel_initializer": "zeros", "bias_initializer": "zeros"}


def build_encoder(avg_rgb=(122.782, 117.001, 104.298), name: str = "dlib_face_resnet") -> keras.Model:
    """The face encoder's architecture (zero weights): 150x150x3 RGB in 0-255 -> 128.

    The first layer applies dlib's input normalisation
    :math:`x' = (x - \\mu_c) / 256` with the per-channel means ``avg_rgb`` stored in the
    model file. Convolutions use dlib's paddings: 1 for 3x3 stride-1 layers, none for
    strided ones.

    Parameters
    ----------
    avg_rgb : tuple of 3 floats
        Channel means subtracted before scaling.
    name : str
        Model name.

    Returns
    -------
    keras.Model
    """
    layers = keras.layers
    inputs = keras.Input((CHIP_SIZE, CHIP_SIZE, 3), name="chip")
    x = layers.Normalization(mean=list(avg_rgb), variance=[_DLIB_PIXEL_SCALE**2] * 3, name="dlib_input")(inputs)
    counter = {"con": 0, "affine": 0, "relu": 0, "add": 0, "pool": 0}

    def nxt(kind):
        counter[kind] += 1
        return f"{kind}{counter[kind]}"

    def con(x, filters, size, stride):
        # dlib pads stride-1 convolutions by size // 2 on every side ("same" for odd sizes)
        # and strided ones not at all ("valid").
        padding = "same" if stride == 1 else "valid"
        return layers.Conv2D(filters, size, strides=stride, padding=padding, name=nxt("con"), **_ZEROS)(x)

    def affine(x):
        return ChannelAffine(name=nxt("affine"))(x)

    def relu(x):
        return layers.ReLU(name=nxt("relu"))(x)

    x = relu(affine(con(x, 32, 7, 2)))
    x = layers.MaxPooling2D(3, strides=2, padding="valid", name="max_pool")(x)
    for filters, blocks, down in _LEVELS:
        for i in range(blocks):
            stride = 2 if down and i == 0 else 1
            y = relu(affine(con(x, filters, 3, stride)))
            y = affine(con(y, filters, 3, 1))
            shortcut = layers.AveragePooling2D(2, strides=2, name=nxt("pool"))(x) if stride == 2 else x
            x = relu(ZeroPadAdd(name=nxt("add"))([shortcut, y]))
    x = layers.GlobalAveragePooling2D(name="avg_pool_everything")(x)
    outputs = layers.Dense(EMBEDDING_SIZE, use_bias=False, name="fc", kernel_initializer="zeros")(x)
    return keras.Model(inputs, outputs, name=name)


def _load_dlib_weights(model: keras.Model, net: dlibfmt.DlibNet) -> None:
    """Copy the weights of a read dlib ResNet into ``model`` (built by :func:`build_encoder`)."""
    found, expected = net.types(), _expected_types()
    if found != expected:
        raise dlibfmt.DlibFormatError(
            f"{net.path}: layer sequence differs from dlib's face ResNet "
            f"({len(found)} layers found, {len(expected)} expected); is this the right model file?"
        )
    cons = [layer for layer in net.layers if layer.type == "con"]
    affines = [layer for layer in net.layers if layer.type == "affine"]
    for i, layer in enumerate(cons, start=1):
        filters = layer.weights["filters"].transpose(2, 3, 1, 0)  # (F,C,h,w) -> (h,w,C,F)
        model.get_layer(f"con{i}").set_weights([filters, layer.weights["biases"]])
    for i, layer in enumerate(affines, start=1):
        model.get_layer(f"affine{i}").set_weights([layer.weights["gamma"], layer.weights["beta"]])
    model.get_layer("fc").set_weights([net.layers[-1].weights["weights"]])


def _snake_case(name: str) -> str:
    name = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub(r"([a-z])([A-Z])", r"\1_\2", name).lower()


def _read_keras_weights(model: keras.Model, path: Path) -> bool:
    """Fill ``model`` from a ``.weights.h5`` file it saved, reading the datasets directly.

    Keras's own ``load_weights`` walks every attribute of every layer and takes longer than
    converting the ``.dat`` file again; this reads the same file in the layout Keras writes
    (``layers/<class_name>[_<k>]/vars/<i>``). Returns False, loading nothing, if the file
    does not have that layout, so the caller can fall back to ``model.load_weights``.
    """
    import h5py

    seen: dict[str, int] = {}
    values = []
    with h5py.File(path, "r") as handle:
        for layer in model.layers:
            base = _snake_case(type(layer).__name__)
            seen[base] = seen.get(base, -1) + 1
            key = f"layers/{base}" + (f"_{seen[base]}" if seen[base] else "") + "/vars"
            for i, variable in enumerate(layer.weights):
                dataset = handle.get(f"{key}/{i}")
                if dataset is None or tuple(dataset.shape) != tuple(variable.shape):
                    return False
                values.append(dataset[()])
    model.set_weights(values)
    return True


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


_AVG_ATTRIBUTE = "dlib_input_avg_rgb"


def converted_weights_path(dat_path: str | Path) -> Path:
    """Where the converted Keras weights of a ``.dat`` file are cached (keyed by its SHA-256)."""
    return assets.home() / "converted" / f"dlib_face_resnet_{_sha256(Path(dat_path))[:16]}.weights.h5"


def load_encoder(dat_path: str | Path) -> keras.Model:
    """Build the encoder and load the weights of the dlib model file ``dat_path``.

    The first call converts the ``.dat`` file and saves the weights as ``.weights.h5``
    under ``assets.home()/converted/`` (with dlib's channel means as a file attribute);
    later calls load that file.

    Raises
    ------
    facelib.dlibfmt.DlibFormatError
        If the file is corrupt or is not dlib's face ResNet (the message names the file).
    """
    import h5py

    dat_path = Path(dat_path)
    cached = converted_weights_path(dat_path)
    if cached.is_file():
        with h5py.File(cached, "r") as handle:
            avg = handle.attrs.get(_AVG_ATTRIBUTE)
        if avg is not None:
            model = build_encoder(tuple(float(v) for v in avg))
            if not _read_keras_weights(model, cached):
                model.load_weights(cached)
            return model
    net = dlibfmt.read_dnn(dat_path)
    model = build_encoder(net.input.params["avg"])
    _load_dlib_weights(model, net)
    cached.parent.mkdir(parents=True, exist_ok=True)
    partial = cached.with_name(cached.name.replace(".weights.h5", ".partial.weights.h5"))
    model.save_weights(partial)
    with h5py.File(partial, "a") as handle:  # the channel means are constants, not weights
        handle.attrs[_AVG_ATTRIBUTE] = np.asarray(net.input.params["avg"], np.float64)
    partial.replace(cached)
    return model


@cache
def encoder() -> keras.Model:
    """dlib's 128-d face encoder as a Keras model with its pretrained weights (cached).

    Input: a batch of 150x150 RGB face chips, values 0-255 (uint8 or float), aligned
    like :func:`face_chips`. Output: a batch of 128-d descriptors :math:`f(x)`.
    """
    return load_encoder(assets.file("dlib_models", RESNET_FILE))


def encode_chips(chips, batch_size: int = 32) -> np.ndarray:
    """Descriptors :math:`f(x)` of face chips.

    Parameters
    ----------
    chips : array-like, shape (N, 150, 150, 3) or (150, 150, 3)
        RGB chips with values 0-255, as made by :func:`face_chips`.
    batch_size : int
        Chips per forward pass.

    Returns
    -------
    np.ndarray, shape (N, 128), float32
    """
    chips = np.asarray(chips)
    if chips.ndim == 3:
        chips = chips[None]
    if chips.ndim != 4 or chips.shape[1:] != (CHIP_SIZE, CHIP_SIZE, 3):
        raise ValueError(
            f"chips must have shape (N, {CHIP_SIZE}, {CHIP_SIZE}, 3) with RGB values 0-255, got {chips.shape}; "
            "make them with facelib.faces.face_chips"
        )
    if not isinstance(batch_size, int | np.integer) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    if len(chips) == 0:
        return np.zeros((0, EMBEDDING_SIZE), np.float32)
    predict = _predictor(encoder())
    out = []
    for start in range(0, len(chips), batch_size):
        batch = chips[start : start + batch_size].astype(np.float32)
        count = len(batch)
        if count < batch_size:  # pad to a fixed shape: the graph is traced once
            batch = np.concatenate([batch, np.zeros((batch_size - count, *batch.shape[1:]), np.float32)])
        out.append(np.asarray(predict(batch))[:count])
    return np.concatenate(out).astype(np.float32)


@cache
def _predictor(model: keras.Model):
    """The model's inference pass as one TensorFlow graph (about 2x faster than eager on CPU)."""
    import tensorflow as tf

    return tf.function(lambda batch: model(batch, training=False), reduce_retracing=True)


# -- aligned face chips -----------------------------------------------------------------------
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
_PYRAMID_KERNEL = np.array([1, 4, 6, 4, 1])


def similarity_transform(src, dst) -> tuple[np.ndarray, np.ndarray]:
    """Least-squares similarity transform (Umeyama, 1991) mapping points ``src`` to ``dst``.

    Finds :math:`c, R, t` minimising :math:`\\sum_i \\lVert dst_i - (c R\\, src_i + t)\\rVert^2`
    with :math:`R` a rotation.

    Returns
    -------
    (A, t) : (2, 2) and (2,) arrays with ``dst ~ src @ A.T + t`` (``A = c R``).
    """
    src, dst = np.asarray(src, np.float64), np.asarray(dst, np.float64)
    mean_src, mean_dst = src.mean(0), dst.mean(0)
    src_c, dst_c = src - mean_src, dst - mean_dst
    variance = (src_c**2).sum(1).mean()
    cov = dst_c.T @ src_c / len(src)
    u, d, vt = np.linalg.svd(cov)
    s = np.eye(2)
    if np.linalg.det(cov) < 0 or (np.linalg.det(cov) == 0 and np.linalg.det(u) * np.linalg.det(vt) < 0):
        s[1, 1] = -1
    rotation = u @ s @ vt
    scale = np.trace(np.diag(d) @ s) / variance if variance else 1.0
    a = scale * rotation
    return a, mean_dst - a @ mean_src


def _chip_box(landmarks: np.ndarray, size: int, padding: float) -> tuple[np.ndarray, float]:
    """dlib's chip details: the (left, top, right, bottom) box in the image and its angle."""
    template = (padding + _TEMPLATE_5) / (2 * padding + 1) * size
    a, t = similarity_transform(template, landmarks)
    angle = np.arctan2(a[1, 0], a[0, 0])
    scale = np.hypot(a[0, 0], a[1, 0])
    center = a @ np.array([size / 2, size / 2]) + t
    half = (size * scale - 1) / 2  # dlib's centered_drect: width - 1 between the edges
    return np.concatenate([center - half, center + half]), float(angle)


def _rect_down(box: np.ndarray) -> np.ndarray:
    """Map a box one level down dlib's 2:1 image pyramid: p / 2 - (1.25, 0.75)."""
    return box / 2 - np.array([1.25, 0.75, 1.25, 0.75])


def _area(box: np.ndarray) -> float:
    width, height = box[2] - box[0] + 1, box[3] - box[1] + 1
    return 0.0 if width <= 0 or height <= 0 else float(width * height)


def _pyramid_down(image: np.ndarray) -> np.ndarray:
    """One level of dlib's 2:1 pyramid: 5x5 binomial filter ([1,4,6,4,1]^2 / 256), every 2nd pixel."""
    img = image.astype(np.int32)
    rows, cols = img.shape[:2]
    out_rows, out_cols = (rows - 3) // 2, (cols - 3) // 2
    k = _PYRAMID_KERNEL
    horizontal = sum(k[j] * img[:, j : j + 2 * out_cols : 2] for j in range(5))
    vertical = sum(k[i] * horizontal[i : i + 2 * out_rows : 2] for i in range(5))
    return (vertical // 256).astype(np.uint8)


def _rotate(center, points, angle):
    c, s = np.cos(angle), np.sin(angle)
    rel = points - center
    return np.stack([c * rel[:, 0] - s * rel[:, 1], s * rel[:, 0] + c * rel[:, 1]], 1) + center


def _bilinear(image: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Bilinear samples at (x, y); black where a 2x2 neighbourhood leaves the image."""
    left, top = np.floor(x).astype(np.int64), np.floor(y).astype(np.int64)
    inside = (left >= 0) & (top >= 0) & (left + 1 < image.shape[1]) & (top + 1 < image.shape[0])
    left, top = np.where(inside, left, 0), np.where(inside, top, 0)
    fx, fy = (x - left)[..., None], (y - top)[..., None]
    img = image.astype(np.float64)
    value = (1 - fy) * ((1 - fx) * img[top, left] + fx * img[top, left + 1]) + fy * (
        (1 - fx) * img[top + 1, left] + fx * img[top + 1, left + 1]
    )
    value = np.where(inside[..., None], value, 0.0)
    return np.clip(value, 0, 255).astype(np.uint8)


def _extract_chip(image: np.ndarray, box: np.ndarray, angle: float, size: int) -> np.ndarray:
    """dlib's extract_image_chip: rotate/scale ``box`` of ``image`` into a size x size chip.

    When the box is much larger than the chip, dlib first shrinks a crop around it with
    its 2:1 pyramid, so that bilinear sampling does not alias; this does the same.
    """
    chip_area = size * size
    depth, grow, down = 0, 2.0, _rect_down(box)
    while _area(down) > chip_area:
        down, depth, grow = _rect_down(down), depth + 1, grow * 2 + 2
    corners = np.array([box[[0, 1]], box[[2, 1]], box[[0, 3]], box[[2, 3]]])
    center = (box[:2] + box[2:]) / 2
    rotated = _rotate(center, corners, angle)
    grown = np.concatenate([rotated.min(0) - grow, rotated.max(0) + grow])
    limits = np.array([0, 0, image.shape[1] - 1, image.shape[0] - 1])
    crop = np.concatenate([np.maximum(grown[:2], limits[:2]), np.minimum(grown[2:], limits[2:])])
    crop = np.floor(crop + 0.5).astype(np.int64)  # dlib rounds the crop to whole pixels
    source = image[crop[1] : crop[3] + 1, crop[0] : crop[2] + 1]
    rect = box - np.tile(crop[:2], 2)
    while _area(_rect_down(rect)) > chip_area and min(source.shape[:2]) > 8:
        source, rect = _pyramid_down(source), _rect_down(rect)
    center = (rect[:2] + rect[2:]) / 2
    corners = _rotate(center, np.array([rect[[0, 1]], rect[[2, 1]], rect[[0, 3]]]), angle)
    # affine map from chip pixel (c, r) to source: corners of the chip onto rotated corners
    last = size - 1
    x_axis, y_axis = (corners[1] - corners[0]) / last, (corners[2] - corners[0]) / last
    cols, rows = np.meshgrid(np.arange(size, dtype=np.float64), np.arange(size, dtype=np.float64))
    x = corners[0, 0] + cols * x_axis[0] + rows * y_axis[0]
    y = corners[0, 1] + cols * x_axis[1] + rows * y_axis[1]
    return _bilinear(source, x, y)


def _jitter_box(rng: np.random.Generator, size: int) -> tuple[np.ndarray, float, bool]:
    """A random crop of a chip as dlib's ``jitter_image`` draws it: box, angle, flip."""
    inner = size - 6  # shrink_rect(get_rect(chip), 3)
    shift = np.round(rng.uniform(-0.02, 0.02, 2) * inner)
    box_size = int(inner / rng.uniform(0.97, 0.99999))
    center = np.full(2, (3 + size - 4 + 1) // 2) + shift
    left_top = center - box_size // 2
    box = np.concatenate([left_top, left_top + box_size - 1])
    angle = float(np.deg2rad(rng.uniform(-3, 3)))
    return box, angle, bool(rng.random() > 0.5)


def jitter_chip(chip: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One random variant of a chip, as dlib's ``jitter_image``: a crop moved by up to 2%,
    1-3% larger, turned by up to 3 degrees, and mirrored half of the time."""
    size = chip.shape[0]
    box, angle, flip = _jitter_box(rng, size)
    out = _extract_chip(chip, box, angle, size)
    return out[:, ::-1].copy() if flip else out


def _as_landmarks(landmarks) -> tuple[np.ndarray, bool]:
    points = np.asarray(landmarks, dtype=np.float64)
    single = points.ndim == 2
    if single:
        points = points[None]
    if points.ndim != 3 or points.shape[1:] != (5, 2) or not np.isfinite(points).all():
        raise ValueError(
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
        (x, y) points from :func:`face_landmarks`.
    size : int
        Chip side in pixels (150 for the encoder).
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

    image = load_image(image)
    points, single = _as_landmarks(landmarks)
    if isinstance(size, bool) or not isinstance(size, int | np.integer) or size < 16:
        raise ValueError(f"size must be an integer >= 16, got {size!r}")
    if not np.isfinite(padding) or padding < 0:
        raise ValueError(f"padding must be a number >= 0, got {padding!r}")
    if isinstance(jitter, bool) or not isinstance(jitter, int | np.integer) or jitter < 0:
        raise ValueError(f"jitter must be an integer >= 0, got {jitter!r}")
    chips = np.stack([_extract_chip(image, *_chip_box(p, int(size), float(padding)), int(size)) for p in points])
    if jitter:
        rng = np.random.default_rng(seed)
        chips = np.stack([[jitter_chip(chip, rng) for _ in range(jitter)] for chip in chips])
    return chips[0] if single else chips


# -- the pipeline -------------------------------------------------------------------------------
def detect_faces(image, upsample: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Face boxes ``(left, top, right, bottom)`` and scores, by dlib's CNN (MMOD) detector.

    See :func:`facelib.detector.detect`.
    """
    from facelib import detector
    from facelib.images import load_image

    return detector.detect(load_image(image), upsample=upsample)


def face_landmarks(image, boxes) -> np.ndarray:
    """The 5 landmarks (x, y) of each face box, in whole pixels: shape (N, 5, 2).

    :func:`facelib.landmarks.predict` rounded to the nearest pixel, as dlib's
    ``full_object_detection`` stores them, so chips cut from them match dlib's.
    """
    from facelib import landmarks
    from facelib.images import load_image

    image = load_image(image)
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    if not len(boxes):
        return np.zeros((0, 5, 2))
    return np.floor(np.stack([landmarks.predict(image, box) for box in boxes]) + 0.5)


def center_box(shape) -> np.ndarray:
    """The fallback face box when none is detected: the middle 44% of the image's shorter side.

    On LFW's 250x250 images this is (70, 70, 179, 179), where its faces are.
    """
    rows, cols = shape[:2]
    side = 0.44 * min(rows, cols)
    left, top = (cols - side) / 2, (rows - side) / 2
    return np.round([left, top, left + side - 1, top + side - 1])


def _central_face(boxes: np.ndarray, shape) -> np.ndarray | None:
    if len(boxes) == 0:
        return None
    centers = (boxes[:, :2] + boxes[:, 2:]) / 2
    target = np.array([shape[1] - 1, shape[0] - 1]) / 2
    return boxes[np.argmin(((centers - target) ** 2).sum(1))]


def align_faces(images, upsample: int = 1, padding: float = 0.25) -> tuple[np.ndarray, np.ndarray]:
    """One aligned 150x150 chip per image: the detected face nearest the image centre.

    Parameters
    ----------
    images : sequence of images or paths
        Photos, each holding (at least) one face.
    upsample : int
        Detector upsampling steps (1 finds faces down to about 40 px).
    padding : float
        Chip padding (dlib: 0.25).

    Returns
    -------
    chips : np.ndarray, shape (N, 150, 150, 3), uint8
    detected : np.ndarray, shape (N,), bool
        False where no face was found and :func:`center_box` was used instead.
    """
    from facelib.images import load_image

    if isinstance(images, str | Path) or (isinstance(images, np.ndarray) and images.ndim in (2, 3)):
        images = [images]  # one photo, not a sequence of them
    chips, detected = [], []
    for source in images:
        image = load_image(source)
        box = _central_face(detect_faces(image, upsample)[0], image.shape)
        detected.append(box is not None)
        box = center_box(image.shape) if box is None else box
        chips.append(face_chips(image, face_landmarks(image, box[None])[0], padding=padding))
    if not chips:
        return np.zeros((0, CHIP_SIZE, CHIP_SIZE, 3), np.uint8), np.zeros(0, bool)
    return np.stack(chips), np.array(detected)


def encode_faces(images, jitter: int = 0, upsample: int = 1, seed: int | None = 0) -> np.ndarray:
    """128-d descriptors :math:`f(x)`, one per image (the face nearest its centre).

    Detect, find landmarks, align (:func:`align_faces`) and encode (:func:`encode_chips`).

    Parameters
    ----------
    images : sequence of images or paths, or one image
        Photos (anything :func:`facelib.images.load_image` reads).
    jitter : int
        0: encode each chip as it is. ``n > 0``: the descriptor is the mean over ``n``
        random jitters of the chip (:func:`jitter_chip`; test-time augmentation, as
        dlib's ``num_jitters``, except that dlib does not jitter at all for 1).
    upsample : int
        Detector upsampling steps.
    seed : int or None
        Seed of the jitter's random generator.

    Returns
    -------
    np.ndarray, shape (N, 128), float32

    Examples
    --------
    >>> import skimage.data
    >>> f = encode_faces([skimage.data.astronaut()])
    >>> f.shape, bool(0.5 < np.linalg.norm(f) < 2)
    ((1, 128), True)
    """
    if isinstance(jitter, bool) or not isinstance(jitter, int | np.integer) or jitter < 0:
        raise ValueError(f"jitter must be an integer >= 0, got {jitter!r}")
    chips, _ = align_faces(images, upsample)
    if not jitter:
        return encode_chips(chips)
    rng = np.random.default_rng(seed)
    jittered = np.stack([jitter_chip(chip, rng) for chip in chips for _ in range(jitter)])
    return encode_chips(jittered).reshape(len(chips), jitter, EMBEDDING_SIZE).mean(1)


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
    a, b = np.asarray(known, np.float64), np.asarray(candidate, np.float64)
    if a.shape[-1:] != (EMBEDDING_SIZE,) or b.shape[-1:] != (EMBEDDING_SIZE,):
        raise ValueError(
            f"known and candidate must be 128-d descriptors (last axis 128), got shapes {a.shape} and {b.shape}"
        )
    if not (np.all(np.isfinite(a)) and np.all(np.isfinite(b))):
        raise ValueError("known and candidate contain NaN or infinite values; encode the faces again")
    return np.linalg.norm(a - b, axis=-1)


def verify(a, b, threshold: float = 0.6) -> np.ndarray:
    """Same person? :math:`d(A, B) < \\text{threshold}` (dlib's ResNet was trained for 0.6)."""
    if not np.isfinite(threshold) or threshold <= 0:
        raise ValueError(f"threshold must be a positive number, got {threshold!r}")
    return face_distance(a, b) < threshold
