"""ImageNet ConvNets whose hidden layers the style-transfer lessons read.

Two backbones, chosen by one argument everywhere (``backbone="squeezenet"`` or ``"vgg19"``):

``"squeezenet"``
    SqueezeNet 1.1 (Iandola et al., 2016), built here in Keras layer by layer and loaded
    with the ImageNet weights of the ``squeezenet`` asset (no classifier). About 0.7 M
    parameters: fast enough for style transfer on a laptop CPU, and always available offline.
``"vgg19"``
    VGG19 (Simonyan and Zisserman, 2014), the course's network, from
    :func:`keras.applications.VGG19` without its classifier. Its ImageNet weights are used
    only when they are already in Keras's cache (``$KERAS_HOME/models``, default
    ``~/.keras/models``); otherwise :func:`build` raises :class:`WeightsNotCachedError`.
    ``weights=None`` gives random weights (fine for speed tests and plumbing).

Both expect Caffe-style input: RGB turned into BGR, the ImageNet mean pixel subtracted, no
scaling (see :func:`preprocess`; :func:`deprocess` undoes it).

SqueezeNet 1.1 layer names
--------------------------
The weights file names its layers with a ``/`` (``fire2/squeeze1x1``); Keras forbids ``/`` in
names, so the Keras layers use ``_`` (``fire2_squeeze1x1``). Every function here accepts both
spellings. In input-to-output order (spatial stride relative to the input in brackets)::

    conv1 -> relu_conv1 (/2) -> pool1 (/4)
    fire2, fire3                   (/4)   64 + 64 = 128 channels each
    pool3 (/8) -> fire4, fire5     (/8)   128 + 128 = 256 channels each
    pool5 (/16) -> fire6, fire7    (/16)  192 + 192 = 384 channels each
                   fire8, fire9    (/16)  256 + 256 = 512 channels each

Each fire module ``fireN`` has layers ``fireN_squeeze1x1``, ``fireN_relu_squeeze1x1``,
``fireN_expand1x1``, ``fireN_expand3x3``, ``fireN_relu_expand1x1``, ``fireN_relu_expand3x3``
and ``fireN_concat`` (the module's output: the two ReLU'd expand branches, 1x1 first).
Convolutions (``conv1``, ``*_squeeze1x1``, ``*_expand*``) output pre-activations; the
``relu_*`` layers and ``*_concat`` are the ReLU outputs used as features.

VGG19 layer names are Keras's: ``block1_conv1`` ... ``block5_conv4`` (ReLU outputs) and
``block1_pool`` ... ``block5_pool``.

References
----------
Iandola et al., "SqueezeNet: AlexNet-level accuracy with 50x fewer parameters and <0.5MB model
size", arXiv:1602.07360 (2016). Simonyan and Zisserman, "Very deep convolutional networks for
large-scale image recognition", arXiv:1409.1556 (2014).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from facelib.errors import ArgumentError, FacelibError
from facelib.validation import check_choice

POOLINGS = ("max", "avg")
"""``pooling=``: the networks' own max pooling, or average pooling in its place (same weights)."""

IMAGENET_MEAN_BGR = (103.939, 116.779, 123.68)
"""Mean ImageNet pixel in BGR order, subtracted by Caffe-style preprocessing."""

SQUEEZENET_FILE = "squeezenet_weights_tf_dim_ordering_tf_kernels_notop.h5"
VGG19_FILE = "vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5"

# (fire module, squeeze channels, expand channels per branch); pools come before fire4 and fire6.
_FIRE_MODULES = ((2, 16, 64), (3, 16, 64), (4, 32, 128), (5, 32, 128),
                 (6, 48, 192), (7, 48, 192), (8, 64, 256), (9, 64, 256))
_POOL_BEFORE = {4: "pool3", 6: "pool5"}

class WeightsNotCachedError(FacelibError, FileNotFoundError):
    """Pretrained weights were asked for but are not on this machine."""


def check_backbone(backbone: str) -> str:
    """``backbone`` if it is one of :data:`NAMES`; :class:`~facelib.errors.ArgumentError` otherwise."""
    return check_choice("backbone", backbone, NAMES)


def _check_weights(weights: str | None) -> None:
    if not (weights is None or (isinstance(weights, str) and weights == "imagenet")):
        raise ArgumentError(f"weights must be 'imagenet' or None (random weights), got {weights!r}.")


def keras_cache_dir() -> Path:
    """Folder where ``keras.applications`` keeps downloaded weights (``$KERAS_HOME/models``)."""
    return Path(os.environ.get("KERAS_HOME", Path.home() / ".keras")).expanduser() / "models"


def squeezenet(weights: str | None = "imagenet", pooling: str = "max") -> Any:
    """SqueezeNet 1.1 without its classifier, as a Keras model on Caffe-preprocessed images.

    Parameters
    ----------
    weights : {"imagenet", None}
        ``"imagenet"`` loads the ``squeezenet`` asset (SHA-256 checked); ``None`` keeps the
        random initial weights.
    pooling : {"max", "avg"}
        The three 3x3 stride-2 pools (``pool1``, ``pool3``, ``pool5``) take the maximum, as
        trained, or the mean of their window. Gatys et al. (2015) use average pooling for image
        synthesis: gradients reach every pixel of a window instead of only its maximum, which
        gives smoother, bolder strokes. The layer names stay the same.

    Returns
    -------
    keras.Model
        Input ``(batch, height, width, 3)`` of any size of at least 31 px (BGR, mean subtracted,
        see :func:`preprocess`); output ``fire9_concat``, ``(batch, ~height/16, ~width/16, 512)``.
        Layer names: see the module docstring.

    Raises
    ------
    facelib.assets.AssetNotFoundError
        When ``weights="imagenet"`` and the weights file cannot be found.
    """
    _check_weights(weights)
    check_choice("pooling", pooling, POOLINGS)
    import keras
    from keras import layers

    pool = layers.MaxPooling2D if pooling == "max" else layers.AveragePooling2D

    def conv(x, filters: int, size: int, name: str, padding: str = "valid", strides: int = 1):
        return layers.Conv2D(filters, size, strides=strides, padding=padding, name=name)(x)

    inputs = keras.Input((None, None, 3), name="image")
    x = conv(inputs, 64, 3, "conv1", strides=2)
    x = layers.ReLU(name="relu_conv1")(x)
    x = pool(3, strides=2, name="pool1")(x)
    for number, squeeze, expand in _FIRE_MODULES:
        if number in _POOL_BEFORE:
            x = pool(3, strides=2, name=_POOL_BEFORE[number])(x)
        f = f"fire{number}_"
        s = layers.ReLU(name=f + "relu_squeeze1x1")(conv(x, squeeze, 1, f + "squeeze1x1"))
        e1 = layers.ReLU(name=f + "relu_expand1x1")(conv(s, expand, 1, f + "expand1x1"))
        e3 = layers.ReLU(name=f + "relu_expand3x3")(conv(s, expand, 3, f + "expand3x3", "same"))
        x = layers.Concatenate(axis=-1, name=f + "concat")([e1, e3])
    model = keras.Model(inputs, x, name="squeezenet1_1")
    if weights == "imagenet":
        for layer, (kernel, bias) in read_squeezenet_weights().items():
            model.get_layer(layer.replace("/", "_")).set_weights([kernel, bias])
    return model


def read_squeezenet_weights(path: str | Path | None = None) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """``{layer name as in the file: (kernel (kh, kw, in, out), bias (out,))}`` from the HDF5 file.

    ``path`` defaults to the ``squeezenet`` asset's file.
    """
    import h5py

    from facelib import assets

    path = Path(path) if path is not None else assets.file("squeezenet", SQUEEZENET_FILE)
    weights = {}
    with h5py.File(path, "r") as f:
        for raw in f.attrs["layer_names"]:
            name = raw.decode() if isinstance(raw, bytes) else str(raw)
            names = [n.decode() if isinstance(n, bytes) else str(n)
                     for n in f[name].attrs["weight_names"]]
            if names:
                kernel, bias = (np.asarray(f[name][n], dtype=np.float32) for n in names)
                weights[name] = (kernel, bias)
    return weights


def vgg19(weights: str | None = "imagenet", pooling: str = "max") -> Any:
    """VGG19 without its classifier from :func:`keras.applications.VGG19`.

    Parameters
    ----------
    weights : {"imagenet", None}
        ``"imagenet"`` uses the weights in Keras's cache (never downloads); ``None`` gives
        random weights.
    pooling : {"max", "avg"}
        Its five 2x2 pools as trained (max), or averaging (as Gatys et al. do for synthesis).

    Raises
    ------
    WeightsNotCachedError
        When ``weights="imagenet"`` and ``vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5``
        is not in :func:`keras_cache_dir`.
    """
    _check_weights(weights)
    check_choice("pooling", pooling, POOLINGS)
    import keras

    if weights == "imagenet":
        cached = keras_cache_dir() / VGG19_FILE
        if not cached.is_file():
            raise WeightsNotCachedError(
                f"VGG19's ImageNet weights are not in Keras's cache ({cached} is missing). "
                "On a machine with internet access run `python -c \"import keras; "
                "keras.applications.VGG19(include_top=False)\"` once to cache them, or copy the "
                f"file {VGG19_FILE} into {cached.parent}. Offline, use backbone='squeezenet' "
                "(its weights ship with the course), or weights=None for random weights."
            )
        weights = str(cached)
    model = keras.applications.VGG19(include_top=False, weights=weights, input_shape=(None, None, 3))
    if pooling == "max":
        return model

    def average_pools(layer):
        if isinstance(layer, keras.layers.MaxPooling2D):
            return keras.layers.AveragePooling2D(layer.pool_size, layer.strides, name=layer.name)
        return layer.__class__.from_config(layer.get_config())

    averaged = keras.models.clone_model(model, clone_function=average_pools)
    averaged.set_weights(model.get_weights())  # pools have no weights: the lists line up
    return averaged


@dataclass(frozen=True)
class Backbone:
    """One entry of :data:`REGISTRY`.

    Attributes
    ----------
    name : str
        The ``backbone=`` value.
    build : callable
        ``build(weights, pooling)`` -> the Keras model (:func:`squeezenet`, :func:`vgg19`).
    content_layer : str
        Default content layer l of J_content.
    style_layers : tuple of str
        Default style layers of J_style, input to output.
    """

    name: str
    build: Callable[[str | None, str], Any]
    content_layer: str
    style_layers: tuple[str, ...]


REGISTRY = {
    "squeezenet": Backbone("squeezenet", squeezenet, content_layer="fire5_concat",
                           style_layers=("relu_conv1", "fire2_concat", "fire3_concat", "fire4_concat",
                                         "fire5_concat", "fire6_concat")),
    "vgg19": Backbone("vgg19", vgg19, content_layer="block5_conv2",
                      style_layers=("block1_conv1", "block2_conv1", "block3_conv1", "block4_conv1",
                                    "block5_conv1")),
}
"""Every backbone by name: its builder and default layers (VGG19's are the course's choice). The
style-transfer recipe of each is ``facelib.convnets.style.RECIPES[name]`` (style builds on this module)."""

NAMES = tuple(REGISTRY)
"""Names accepted by every ``backbone=`` argument (and the command line's ``--backbone``)."""


def build(backbone: str = "squeezenet", weights: str | None = "imagenet", pooling: str = "max") -> Any:
    """The whole ``backbone`` network (``REGISTRY[backbone].build``: :func:`squeezenet` or :func:`vgg19`)."""
    return REGISTRY[check_backbone(backbone)].build(weights, pooling)


def layer_names(model: Any) -> list[str]:
    """Names of ``model``'s layers in input-to-output order, without the input layer."""
    return [layer.name for layer in model.layers[1:]]


def feature_extractor(backbone: str = "squeezenet", layers: Sequence[str] | None = None,
                      weights: str | None = "imagenet", model: Any = None, pooling: str = "max") -> Any:
    """A Keras model mapping preprocessed images to the activations of ``layers``.

    Parameters
    ----------
    backbone : {"squeezenet", "vgg19"}
        Which network.
    layers : sequence of str, optional
        Layer names (SqueezeNet's may be written with ``/`` as in its weights file). Default:
        the backbone's style layers followed by its content layer (:data:`REGISTRY`).
    weights : {"imagenet", None}
        Passed to :func:`build`.
    model : keras.Model, optional
        An already built ``backbone`` network to reuse instead of building one.
    pooling : {"max", "avg"}
        Passed to :func:`build` (ignored when ``model`` is given).

    Returns
    -------
    keras.Model
        Called on ``preprocess(images, backbone)`` of shape ``(batch, H, W, 3)``, it returns a
        dict ``{layer name: activation (batch, n_H, n_W, n_C)}`` keyed by the Keras names.
        Only the part of the network up to the deepest requested layer is computed.

    Raises
    ------
    ArgumentError
        For an unknown backbone, an empty list or a layer the backbone does not have.
    """
    import keras

    check_backbone(backbone)
    if layers is None:
        entry = REGISTRY[backbone]
        layers = list(dict.fromkeys([*entry.style_layers, entry.content_layer]))
    if isinstance(layers, str):
        layers = [layers]
    names = [str(name).replace("/", "_") for name in layers]
    if not names:
        raise ArgumentError("layers must name at least one layer.")
    net = build(backbone, weights, pooling) if model is None else model
    known = layer_names(net)
    unknown = [n for n in names if n not in known]
    if unknown:
        raise ArgumentError(f"layers {unknown} are not in {backbone}. Its layers are: {', '.join(known)}.")
    outputs = {name: net.get_layer(name).output for name in names}
    return keras.Model(net.inputs, outputs, name=f"{backbone}_features")


def _check_images(images: Any, argument: str = "images") -> None:
    shape = tuple(images.shape)
    if len(shape) not in (3, 4) or shape[-1] != 3:
        raise ArgumentError(f"{argument} must have shape (height, width, 3) or (batch, height, width, 3) "
                         f"with RGB channels last, got shape {shape}.")


def preprocess(images: Any, backbone: str = "squeezenet") -> Any:
    """Caffe-style input for ``backbone``: x = RGB[..., ::-1] - mean_BGR, pixels in [0, 255].

    Parameters
    ----------
    images : array or tensor, shape (height, width, 3) or (batch, height, width, 3)
        RGB images with values in [0, 255] (uint8 or float). Differentiable for tensors.
    backbone : {"squeezenet", "vgg19"}
        Both backbones were trained on Caffe-style input, so both get the same transform.

    Returns
    -------
    tensor, float32, shape (batch, height, width, 3)
        BGR with :data:`IMAGENET_MEAN_BGR` subtracted.
    """
    from keras import ops

    check_backbone(backbone)
    if not hasattr(images, "shape"):
        images = np.asarray(images)
    _check_images(images)
    x = ops.cast(images, "float32")
    if len(x.shape) == 3:
        x = x[None]
    return ops.flip(x, axis=-1) - ops.convert_to_tensor(np.array(IMAGENET_MEAN_BGR, np.float32))


def deprocess(x: Any, backbone: str = "squeezenet") -> np.ndarray:
    """Undo :func:`preprocess`: RGB ``uint8`` images, values clipped to [0, 255]."""
    check_backbone(backbone)
    x = np.asarray(x, dtype=np.float32)
    _check_images(x, "x")
    rgb = (x + np.array(IMAGENET_MEAN_BGR, np.float32))[..., ::-1]
    return np.clip(np.rint(rgb), 0, 255).astype(np.uint8)
