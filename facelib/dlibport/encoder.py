"""dlib's face encoder: the 29-layer ResNet built in Keras, its weights converted from the ``.dat`` file and cached.

The encoder is dlib's ``dlib_face_recognition_resnet_model_v1`` (King, 2017: a ResNet trained
with a metric loss on about 3 million faces), rebuilt layer by layer as a Keras 3 model and
loaded with the weights read by :mod:`facelib.dlibport.datfile`. Its output
:math:`f(x) \\in \\mathbb{R}^{128}` places two chips of the same person closer than 0.6
(Euclidean) and chips of different people farther apart.

Converting the ``.dat`` file takes a few seconds, so the converted weights are cached under
``assets.home()/converted/`` in an ``.npz`` archive (no pickle) keyed by the ``.dat`` file's
SHA-256, with a checksum of the weights inside: a cache that is damaged, truncated or altered is
converted again from the verified ``.dat`` file, with one line on stderr saying so; a cache
folder that cannot be written only costs time (:func:`facelib.assets.write_cache`).
"""

from __future__ import annotations

import zipfile
from functools import cache
from pathlib import Path
from typing import BinaryIO

import keras
import numpy as np
from keras import ops

from facelib import assets
from facelib.dlibport import datfile
from facelib.dlibport.align import CHIP_SIZE
from facelib.dlibport.geometry import PIXEL_SCALE
from facelib.errors import ArgumentError
from facelib.storage import sha256, sha256_arrays
from facelib.validation import check_int

__all__ = [
    "RESNET_FILE",
    "ENCODING_SIZE",
    "ChannelAffine",
    "ZeroPadAdd",
    "build_encoder",
    "converted_weights_path",
    "load_encoder",
    "encoder",
    "encode_chips",
]

RESNET_FILE = "dlib_face_recognition_resnet_model_v1.dat"
ENCODING_SIZE = 128
_CACHE_FORMAT = 2  # 2: .npz with a checksum of the weights (1 was an unchecked .weights.h5)


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
    x = layers.Normalization(mean=list(avg_rgb), variance=[PIXEL_SCALE**2] * 3, name="dlib_input")(inputs)
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
    outputs = layers.Dense(ENCODING_SIZE, use_bias=False, name="fc", kernel_initializer="zeros")(x)
    return keras.Model(inputs, outputs, name=name)


def _load_dlib_weights(model: keras.Model, net: datfile.DlibNet) -> None:
    """Copy the weights of a read dlib ResNet into ``model`` (built by :func:`build_encoder`)."""
    found, expected = net.types(), _expected_types()
    if found != expected:
        raise datfile.DlibFormatError(
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


def converted_weights_path(dat_digest: str) -> Path:
    """Where the converted weights of the ``.dat`` file with SHA-256 ``dat_digest`` are cached."""
    if not isinstance(dat_digest, str) or len(dat_digest) < 16 or not all(c in "0123456789abcdef" for c in dat_digest):
        raise ArgumentError(f"dat_digest must be a SHA-256 in hex digits, got {dat_digest!r}")
    return assets.home() / "converted" / f"dlib_face_resnet_{dat_digest[:16]}-v{_CACHE_FORMAT}.npz"


def _write_weights(handle: BinaryIO, avg: np.ndarray, values: list[np.ndarray]) -> None:
    arrays = {f"w{i:03d}": value for i, value in enumerate(values)}
    np.savez(handle, avg=avg, sha256=np.array(sha256_arrays(avg, *values)), **arrays)


def _read_weights(path: Path) -> tuple[np.ndarray, list[np.ndarray]] | None:
    """The channel means and weights cached at ``path``; None when there is none or it is damaged (said once)."""
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as archive:
            avg, stored = archive["avg"], str(archive["sha256"])
            values = [archive[f"w{i:03d}"] for i in range(len(archive.files) - 2)]
        if sha256_arrays(avg, *values) != stored:
            raise ValueError("its weights do not match their checksum")
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as error:
        assets.note(f"the converted encoder weights {path} are damaged ({error}); converting the .dat file again")
        return None
    return avg, values


def load_encoder(dat_path: str | Path, dat_digest: str | None = None) -> keras.Model:
    """Build the encoder and load the weights of the dlib model file ``dat_path``.

    The first call converts the ``.dat`` file and caches the weights (with dlib's channel
    means and a checksum) under ``assets.home()/converted/``; later calls read that file, after
    checking it.

    Parameters
    ----------
    dat_path : str or Path
        dlib's ``dlib_face_recognition_resnet_model_v1.dat`` (or a file of the same network).
    dat_digest : str, optional
        The file's SHA-256 when already known (the asset manifest records it); hashed otherwise.

    Raises
    ------
    facelib.dlibport.datfile.DlibFormatError
        If the file is corrupt or is not dlib's face ResNet (the message names the file).
    """
    dat_path = Path(dat_path)
    cached = converted_weights_path(dat_digest or sha256(dat_path))
    if (found := _read_weights(cached)) is not None:
        avg, values = found
        model = build_encoder(tuple(float(v) for v in avg))
        if [tuple(v.shape) for v in values] == [tuple(w.shape) for w in model.weights]:
            model.set_weights(values)
            return model
        assets.note(f"the converted encoder weights {cached} do not fit the network; converting the .dat file again")
    net = datfile.read_dnn(dat_path)
    model = build_encoder(net.input.params["avg"])
    _load_dlib_weights(model, net)
    avg = np.asarray(net.input.params["avg"], np.float64)
    assets.write_cache(cached, lambda handle: _write_weights(handle, avg, model.get_weights()))
    return model


@cache
def encoder() -> keras.Model:
    """dlib's 128-d face encoder as a Keras model with its pretrained weights (cached).

    Input: a batch of 150x150 RGB face chips, values 0-255 (uint8 or float), aligned
    like :func:`face_chips`. Output: a batch of 128-d encodings :math:`f(x)` (dlib calls them face descriptors).
    """
    return load_encoder(assets.file("dlib_models", RESNET_FILE), assets.checksum("dlib_models", RESNET_FILE))


def encode_chips(chips, batch_size: int = 32) -> np.ndarray:
    """Encodings :math:`f(x)` of face chips.

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
        raise ArgumentError(
            f"chips must have shape (N, {CHIP_SIZE}, {CHIP_SIZE}, 3) with RGB values 0-255, got {chips.shape}; "
            "make them with facelib.faces.face_chips"
        )
    batch_size = check_int("batch_size", batch_size, minimum=1)
    if len(chips) == 0:
        return np.zeros((0, ENCODING_SIZE), np.float32)
    predict = _predictor(encoder())
    out = []
    for start in range(0, len(chips), batch_size):
        batch = chips[start : start + batch_size].astype(np.float32)
        count = len(batch)
        if count < batch_size and len(chips) > batch_size:  # pad the last batch to the others' shape: one trace
            batch = np.concatenate([batch, np.zeros((batch_size - count, *batch.shape[1:]), np.float32)])
        out.append(np.asarray(predict(batch))[:count])
    return np.concatenate(out).astype(np.float32)


@cache
def _predictor(model: keras.Model):
    """The model's inference pass as one TensorFlow graph (about 2x faster than eager on CPU)."""
    import tensorflow as tf

    return tf.function(lambda batch: model(batch, training=False), reduce_retracing=True)
