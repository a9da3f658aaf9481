"""What a ConvNet's units respond to: receptive fields, top-k patches, activation maximisation, grids.

Zeiler & Fergus (2014) looked inside a trained network by running a data set through it and
showing, for one unit, the image patches that excite it most, each cut to the part of the image
that unit can see: its *receptive field*. This module computes those fields from the layers of
any Keras functional model, finds the strongest patches batch by batch, synthesises an image that
a unit likes by gradient ascent, and lays images out in grids.

Receptive fields follow :mod:`facelib.convnets.arithmetic` (the formulas are written there):
per axis a field is its size :math:`r`, its jump :math:`j` (input pixels between neighbouring
units) and its first input pixel :math:`a`; :func:`receptive_field` walks the functional graph
with :func:`~facelib.convnets.arithmetic.window_field` and joins parallel branches.

References
----------
M. D. Zeiler and R. Fergus, "Visualizing and Understanding Convolutional Networks", ECCV 2014.
V. Dumoulin and F. Visin, "A guide to convolution arithmetic for deep learning", arXiv:1603.07285.
A. Araujo, W. Norris and J. Sim, "Computing Receptive Fields of Convolutional Neural Networks",
Distill, 2019.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import NamedTuple

import keras
import numpy as np
import tensorflow as tf

from facelib.convnets.arithmetic import same_padding, window_field
from facelib.errors import ArgumentError, WrongTypeError

__all__ = ["ReceptiveField", "TopPatches", "receptive_field", "top_patches", "visible_patch",
           "maximize_activation", "mosaic", "image_grid"]

# Layers that act on each position separately: the field passes through them unchanged.
_POINTWISE = tuple(getattr(keras.layers, name) for name in (
    "InputLayer", "Activation", "ReLU", "LeakyReLU", "PReLU", "ELU", "Softmax", "BatchNormalization",
    "Dropout", "SpatialDropout2D", "GaussianNoise", "GaussianDropout", "Rescaling", "Normalization",
    "Identity") if hasattr(keras.layers, name))
_WINDOWED = (keras.layers.Conv2D, keras.layers.DepthwiseConv2D, keras.layers.SeparableConv2D,
             keras.layers.MaxPooling2D, keras.layers.AveragePooling2D)
_MERGING = (keras.layers.Concatenate, keras.layers.Add, keras.layers.Subtract, keras.layers.Multiply,
            keras.layers.Average, keras.layers.Maximum, keras.layers.Minimum)


class ReceptiveField(NamedTuple):
    """Receptive field of the units of one layer, per spatial axis (rows, columns).

    Attributes
    ----------
    size : tuple of int
        :math:`r`, how many input pixels one unit sees along each axis.
    stride : tuple of int
        :math:`j`, input pixels between the fields of two neighbouring units.
    offset : tuple of float
        Centre of unit (0, 0)'s field in input pixel coordinates (pixel ``i`` has centre ``i``);
        negative or fractional when the field starts in the padding.
    """

    size: tuple[int, int]
    stride: tuple[int, int]
    offset: tuple[float, float]

    def window(self, row: int, col: int) -> tuple[int, int, int, int]:
        """Input box ``(left, top, right, bottom)`` seen by unit ``(row, col)``, edges inclusive.

        The same convention as the face boxes of ``facelib.faces`` (dlib's rectangles): the box
        holds pixels ``left..right`` and ``top..bottom``, so it is ``right - left + 1 = size``
        pixels wide. ``top = offset - (size - 1) / 2 + row * stride`` (likewise ``left`` with
        ``col``); the box may reach outside the image, into the padding.
        """
        top, left = (round(o - (r - 1) / 2) + i * j for o, r, j, i in zip(self.offset, self.size, self.stride,
                                                                           (row, col), strict=True))
        return left, top, left + self.size[1] - 1, top + self.size[0] - 1


class TopPatches(NamedTuple):
    """The ``k`` strongest responses of some units over a set of images.

    Attributes
    ----------
    patches : ndarray of uint8, shape (n_units, k, size_rows, size_cols, 3)
        Each response's receptive field cut from its image (grey where it leaves the image).
    activations : ndarray of float32, shape (n_units, k)
        The responses, strongest first.
    image_index : ndarray of int, shape (n_units, k)
        Which image each response came from.
    position : ndarray of int, shape (n_units, k, 2)
        (row, col) of the responding unit in the layer's feature map.
    units : ndarray of int, shape (n_units,)
        The units' channel indices.
    field : ReceptiveField
        The layer's receptive field, used to cut the patches.
    """

    patches: np.ndarray
    activations: np.ndarray
    image_index: np.ndarray
    position: np.ndarray
    units: np.ndarray
    field: ReceptiveField


def _pair(value) -> tuple[int, int]:
    return (int(value), int(value)) if np.isscalar(value) else (int(value[0]), int(value[1]))


def _same_padding(n: int | None, k: int, s: int, layer: keras.layers.Layer) -> int:
    """Pixels TensorFlow pads before the input for 'same' (:func:`~facelib.convnets.arithmetic.same_padding`)."""
    pad = same_padding(n, k, s)
    if pad is None:
        raise ArgumentError(f"layer {layer.name!r} uses padding='same' with stride {s}, whose padding "
                            "depends on the input size, but the model's input size is not fixed; build the "
                            "model with a fixed input shape, e.g. keras.Input((224, 224, 3)).")
    return pad


def _window_params(layer: keras.layers.Layer) -> tuple[tuple[int, int], tuple[int, int], tuple[int, int], str]:
    if getattr(layer, "data_format", "channels_last") != "channels_last":
        raise ArgumentError(f"layer {layer.name!r} uses data_format={layer.data_format!r}; receptive_field "
                            "supports channels_last models only.")
    if isinstance(layer, (keras.layers.MaxPooling2D, keras.layers.AveragePooling2D)):
        return _pair(layer.pool_size), _pair(layer.strides), (1, 1), layer.padding
    return _pair(layer.kernel_size), _pair(layer.strides), _pair(layer.dilation_rate), layer.padding


def _through(layer: keras.layers.Layer, field: tuple[tuple[int, int, int], ...]) -> tuple[tuple[int, int, int], ...]:
    """Field ``((r, j, a) per axis)`` of ``layer``'s output from that of its one input."""
    if isinstance(layer, _POINTWISE):
        return field
    if isinstance(layer, keras.layers.ZeroPadding2D):
        pads = [before for before, _ in layer.padding]
        return tuple((r, j, a - p * j) for (r, j, a), p in zip(field, pads, strict=True))
    if isinstance(layer, keras.layers.Cropping2D):
        crops = [before for before, _ in layer.cropping]
        return tuple((r, j, a + c * j) for (r, j, a), c in zip(field, crops, strict=True))
    if isinstance(layer, _WINDOWED):
        kernel, strides, dilation, padding = _window_params(layer)
        sizes = layer.input.shape[1:3]
        out = []
        for axis_field, k, s, d, n in zip(field, kernel, strides, dilation, sizes, strict=True):
            p = _same_padding(n, d * (k - 1) + 1, s, layer) if padding == "same" else 0
            out.append(window_field(axis_field, k, s, d, p))
        return tuple(out)
    raise ArgumentError(f"receptive_field cannot follow layer {layer.name!r} of type {type(layer).__name__}: "
                        "it knows Conv2D, DepthwiseConv2D, SeparableConv2D, Max/AveragePooling2D, ZeroPadding2D, "
                        "Cropping2D, merge layers (Concatenate, Add, ...) and pointwise layers (activations, "
                        "normalisation, dropout).")


def _union(layer: keras.layers.Layer, fields: list) -> tuple[tuple[int, int, int], ...]:
    """Field of a merge of parallel branches: the union of the branches' fields."""
    out = []
    for axis in range(2):
        jumps = {f[axis][1] for f in fields}
        if len(jumps) != 1:
            raise ArgumentError(f"layer {layer.name!r} merges branches with different strides {sorted(jumps)}; "
                                "their units do not line up, so there is no single receptive field.")
        start = min(f[axis][2] for f in fields)
        end = max(f[axis][2] + f[axis][0] for f in fields)
        out.append((end - start, jumps.pop(), start))
    return tuple(out)


def _get_layer(model: keras.Model, layer_name: str) -> keras.layers.Layer:
    if not isinstance(model, keras.Model):
        raise WrongTypeError(f"model must be a Keras model, got {type(model).__name__}.")
    try:
        return model.get_layer(layer_name)
    except ValueError as error:
        names = [layer.name for layer in model.layers]
        raise ArgumentError(f"layer_name {layer_name!r} is not a layer of model {model.name!r}; its layers are "
                            f"{names[:8]}{' ...' if len(names) > 8 else ''}.") from error


def receptive_field(model: keras.Model, layer_name: str) -> ReceptiveField:
    """Receptive field of the units of ``layer_name``, computed from the model's layers.

    Walks the functional graph from the input to the layer. Each windowed layer (convolution,
    pooling) with kernel ``k``, dilation ``d`` (``k_hat = d (k - 1) + 1``), stride ``s`` and
    ``p`` pixels of padding before the input updates, per axis,

    ``r_out = r_in + (k_hat - 1) * j_in``, ``j_out = j_in * s``, ``a_out = a_in - p * j_in``,

    from ``r = 1, j = 1, a = 0`` at the input, where ``a`` is the first input pixel of unit 0's
    field. ``padding='valid'`` means ``p = 0``; ``padding='same'`` follows TensorFlow, which pads
    ``max((ceil(n / s) - 1) s + k_hat - n, 0)`` pixels and puts the smaller half first, so
    ``p = (k_hat - 1) // 2`` for stride 1 (the model needs a fixed input size ``n`` for a 'same'
    layer with stride > 1). Where parallel branches merge (Concatenate, Add, ...) the field is
    the union of the branches' fields: the largest one when they share a centre, as in
    SqueezeNet's fire modules (expand1x1 || expand3x3).

    Parameters
    ----------
    model : keras.Model
        A functional model, channels last, each layer called once.
    layer_name : str
        The layer whose output units are asked about.

    Returns
    -------
    ReceptiveField
        ``size`` (r), ``stride`` (j) and ``offset`` (centre of unit 0, ``a + (r - 1) / 2``),
        each a (rows, cols) pair.

    Raises
    ------
    ValueError
        If the layer does not exist, or the path to it holds a layer whose geometry is unknown
        (e.g. a ``Lambda``), or branches with different strides merge.

    Examples
    --------
    >>> import keras
    >>> x = keras.Input((None, None, 3))
    >>> y = keras.layers.Conv2D(8, 3, strides=2, name="conv")(x)
    >>> y = keras.layers.MaxPooling2D(3, strides=2, name="pool")(y)
    >>> receptive_field(keras.Model(x, y), "pool")
    ReceptiveField(size=(7, 7), stride=(4, 4), offset=(3.0, 3.0))
    """
    target = _get_layer(model, layer_name)
    producer = {id(layer.output): layer for layer in model.layers if not isinstance(layer.output, list)}
    inputs = {id(tensor) for tensor in model.inputs}     # a Sequential model lists no InputLayer
    memo: dict[int, tuple] = {}

    def field_of(layer: keras.layers.Layer) -> tuple[tuple[int, int, int], ...]:
        if id(layer) in memo:
            return memo[id(layer)]
        if isinstance(layer, keras.layers.InputLayer):
            result = ((1, 1, 0), (1, 1, 0))
        else:
            tensors = layer.input if isinstance(layer.input, (list, tuple)) else [layer.input]
            fields = []
            for tensor in tensors:
                if id(tensor) in inputs:
                    fields.append(((1, 1, 0), (1, 1, 0)))
                elif id(tensor) in producer:
                    fields.append(field_of(producer[id(tensor)]))
                else:
                    raise ArgumentError(f"cannot trace the input of layer {layer.name!r} back to a layer of the "
                                        "model (nested models and shared layers are not supported).")
            if isinstance(layer, _MERGING):
                result = _union(layer, fields)
            elif len(fields) == 1:
                result = _through(layer, fields[0])
            else:
                raise ArgumentError(f"layer {layer.name!r} of type {type(layer).__name__} has {len(fields)} "
                                    "inputs and is not a known merge layer.")
        memo[id(layer)] = result
        return result

    (r0, j0, a0), (r1, j1, a1) = field_of(target)
    return ReceptiveField(size=(r0, r1), stride=(j0, j1), offset=(a0 + (r0 - 1) / 2, a1 + (r1 - 1) / 2))


def _as_batch(images, name: str = "images") -> np.ndarray:
    """Validate a batch of RGB images, shape (N, H, W, 3)."""
    if isinstance(images, (list, tuple)):
        shapes = {np.shape(image) for image in images}
        if len(shapes) > 1:
            raise ArgumentError(f"{name} must all have one size; got shapes {sorted(shapes)[:4]}. Resize or crop "
                                "them to one size first.")
        images = np.stack(images) if images else np.zeros((0, 1, 1, 3), np.uint8)
    images = np.asarray(images)
    if images.ndim != 4 or images.shape[-1] != 3:
        raise ArgumentError(f"{name} must have shape (N, H, W, 3) (RGB), got {images.shape}.")
    if len(images) == 0:
        raise ArgumentError(f"{name} is empty; give at least one image.")
    return images


def _cut(image: np.ndarray, window: tuple[int, int, int, int], fill: int) -> np.ndarray:
    """``image[top:bottom + 1, left:right + 1]`` for an inclusive ``(left, top, right, bottom)`` box,
    filled with ``fill`` where the box leaves the image."""
    left, top, right, bottom = window
    bottom, right = bottom + 1, right + 1
    patch = np.full((bottom - top, right - left, image.shape[-1]), fill, dtype=np.uint8)
    h, w = image.shape[:2]
    t, l, b, r = max(top, 0), max(left, 0), min(bottom, h), min(right, w)
    if t < b and l < r:
        patch[t - top:b - top, l - left:r - left] = np.clip(image[t:b, l:r], 0, 255)
    return patch


def _check_units(layer: keras.layers.Layer, units) -> np.ndarray:
    channels = layer.output.shape[-1]
    array = np.atleast_1d(np.asarray(units))
    if array.ndim != 1 or len(array) == 0 or not np.issubdtype(array.dtype, np.integer) \
            or array.min() < 0 or array.max() >= channels:
        raise ArgumentError(f"units of layer {layer.name!r} must be a non-empty list of channel indices in "
                            f"0..{channels - 1}, got {array.tolist()}.")
    return array


def top_patches(model: keras.Model, units: Mapping[str, Sequence[int]], images, k: int = 9,
                preprocess: Callable | None = None, batch_size: int = 32, fill: int = 128) -> dict[str, TopPatches]:
    """The ``k`` image patches that excite each unit most, cut to the unit's receptive field.

    For every image and every unit (channel) ``c`` of a layer with activations ``A`` the
    strongest position ``(y*, x*) = argmax_{y,x} A[y, x, c]`` is kept, so that one image gives
    at most one patch per unit; the ``k`` images with the largest ``A[y*, x*, c]`` then give the
    patches, each the window ``receptive_field(model, layer).window(y*, x*)`` cut from its image.
    All layers are read in one forward pass per batch, and the maximum and argmax are taken inside
    that compiled TensorFlow function, so whole feature maps never reach NumPy.

    Parameters
    ----------
    model : keras.Model
        Functional model; each layer must lie on a path :func:`receptive_field` can follow.
    units : mapping of str to sequence of int
        ``{layer name: channel indices of the units to show}``.
    images : array-like, shape (N, H, W, 3)
        RGB images, values 0-255, all one size; at least ``k`` of them.
    k : int, default 9
        Patches per unit.
    preprocess : callable, optional
        Maps a float32 batch of RGB images (0-255) to the model's input (e.g. mean subtraction).
    batch_size : int, default 32
        Images per forward pass.
    fill : int, default 128
        Grey level where a field reaches past the image border (the padding).

    Returns
    -------
    dict of str to TopPatches
        Per layer: patches, activations, image_index, position (strongest first), the units
        and the receptive field.

    Raises
    ------
    ValueError
        If ``images`` is not (N, H, W, 3), ``k`` is not in ``1..N``, a layer is unknown or a unit
        is not one of its channels.

    Examples
    --------
    >>> import keras, numpy as np
    >>> x = keras.Input((8, 8, 3))
    >>> model = keras.Model(x, keras.layers.MaxPooling2D(2, name="pool")(x))
    >>> images = np.zeros((2, 8, 8, 3), np.uint8)
    >>> images[1, 5, 2] = 255                      # one bright pixel in the second image
    >>> best = top_patches(model, {"pool": [0]}, images, k=1)["pool"]
    >>> best.image_index.tolist(), best.position.tolist(), best.field.size
    ([[1]], [[[2, 1]]], (2, 2))
    """
    if not isinstance(units, Mapping) or not units:
        raise ArgumentError("units must be a non-empty dict {layer name: [channel, ...]}, e.g. {'conv1': [0, 5]}; "
                            f"got {units!r}.")
    layers = {name: _get_layer(model, name) for name in units}
    chosen = {name: _check_units(layers[name], u) for name, u in units.items()}
    images = _as_batch(images)
    if not isinstance(k, (int, np.integer)) or not 1 <= k <= len(images):
        raise ArgumentError(f"k must be an integer from 1 to the number of images ({len(images)}), got {k!r}.")
    if not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise ArgumentError(f"batch_size must be a positive integer, got {batch_size!r}.")
    fields = {name: receptive_field(model, name) for name in units}
    strongest = _strongest_units(model, layers, chosen, images, preprocess or (lambda x: x), batch_size)
    result = {}
    for name, (values, rows, cols) in strongest.items():
        best = np.argsort(-values, axis=0, kind="stable")[:k].T                               # (U, k)
        take = np.arange(best.shape[0])[:, None]
        position = np.stack([rows[best, take], cols[best, take]], axis=-1).astype(int)
        window = fields[name].window
        patches = np.stack([np.stack([_cut(images[i], window(*pos), fill) for i, pos in zip(b, p, strict=True)])
                            for b, p in zip(best, position, strict=True)])
        result[name] = TopPatches(patches=patches, activations=values[best, take].astype(np.float32),
                                  image_index=best, position=position, units=chosen[name], field=fields[name])
    return result


def _strongest_units(model: keras.Model, layers: Mapping[str, keras.layers.Layer], chosen: Mapping[str, np.ndarray],
                     images: np.ndarray, prepare: Callable, batch_size: int) -> dict[str, np.ndarray]:
    """Per layer, ``(max, row of max, col of max)`` of each chosen unit in each image: shape (3, N, U).

    One forward pass per batch reads every layer; the maximum and argmax over positions are taken
    inside that compiled TensorFlow function, so whole feature maps never reach NumPy.
    """
    extractor = keras.Model(model.inputs, {name: layer.output for name, layer in layers.items()})

    @tf.function(reduce_retracing=True)
    def strongest(batch):
        out = {}
        for name, maps in extractor(prepare(batch), training=False).items():
            maps = tf.gather(maps, chosen[name], axis=-1)                                    # (B, h, w, U)
            flat = tf.reshape(maps, (tf.shape(maps)[0], -1, maps.shape[-1]))                # (B, h*w, U)
            where = tf.argmax(flat, axis=1, output_type=tf.int32)
            out[name] = tf.stack([tf.reduce_max(flat, axis=1), tf.cast(where // tf.shape(maps)[2], tf.float32),
                                  tf.cast(where % tf.shape(maps)[2], tf.float32)])          # (3, B, U)
        return out

    parts: dict[str, list[np.ndarray]] = {name: [] for name in layers}
    for start in range(0, len(images), batch_size):
        for name, value in strongest(tf.constant(images[start:start + batch_size], dtype=tf.float32)).items():
            parts[name].append(value.numpy())
    return {name: np.concatenate(part, axis=1) for name, part in parts.items()}


def _smooth(images: tf.Tensor) -> tf.Tensor:
    """3 x 3 binomial blur, ``[1, 2, 1] / 4`` along each axis, edges reflected."""
    taps = tf.constant([1.0, 2.0, 1.0]) / 4.0
    kernel = tf.tile((taps[:, None] * taps[None, :])[:, :, None, None], [1, 1, images.shape[-1], 1])
    padded = tf.pad(images, [[0, 0], [1, 1], [1, 1], [0, 0]], mode="REFLECT")
    return tf.nn.depthwise_conv2d(padded, kernel, [1, 1, 1, 1], "VALID")


def maximize_activation(model: keras.Model, layer_name: str, units: Sequence[int], steps: int = 100,
                        size: int = 128, learning_rate: float = 4.0, decay: float = 0.01, blur: float = 0.5,
                        jitter: int = 4, preprocess: Callable | None = None, seed: int = 0) -> np.ndarray:
    """Images that excite each unit most, found by regularised gradient ascent on the input.

    Starting from grey plus noise, each of ``steps`` compiled steps updates one image per unit
    (all units at once) as in Yosinski et al. (2015):

    ``g = d/dx mean_{y,x} A[y, x, c](shift(x))``, the gradient of unit ``c``'s mean activation
    over its feature map, taken at ``x`` shifted by a random jitter of up to ``jitter`` pixels;

    ``x <- x + eta * g / rms(g)`` (the step does not depend on the activations' scale);

    ``x <- 128 + (1 - decay) (x - 128)`` (L2 decay towards grey);

    ``x <- clip((1 - blur) x + blur * B(x), 0, 255)`` with ``B`` a 3 x 3 binomial blur.

    Without the jitter, decay and blur the ascent finds high-frequency patterns that excite the
    unit but look like noise; with them it finds smoother, more readable ones.

    Parameters
    ----------
    model : keras.Model
        The network.
    layer_name : str
        Layer whose channels are the units.
    units : sequence of int
        Channel indices.
    steps : int, default 100
        Gradient-ascent steps.
    size : int, default 128
        Side of the square images, pixels.
    learning_rate : float, default 4.0
        ``eta``, in grey levels per step.
    decay : float, default 0.01
        Fraction of the distance to grey removed per step, in [0, 1).
    blur : float, default 0.5
        Weight of the blurred image per step, in [0, 1].
    jitter : int, default 4
        Largest random shift, pixels, per step.
    preprocess : callable, optional
        Differentiable map from an RGB batch (0-255, float32) to the model's input.
    seed : int, default 0
        Seed of the initial noise and the jitter.

    Returns
    -------
    ndarray of float32, shape (len(units), size, size, 3)
        RGB images, values in [0, 255]; often low in contrast, so show them with
        ``image_grid(..., stretch=True)``.

    Raises
    ------
    ValueError
        If a unit is not a channel of the layer, or a setting is out of range.

    References
    ----------
    J. Yosinski, J. Clune, A. Nguyen, T. Fuchs and H. Lipson, "Understanding Neural Networks
    Through Deep Visualization", ICML Deep Learning Workshop, 2015.
    """
    layer = _get_layer(model, layer_name)
    units = _check_units(layer, units)
    for name, value in (("steps", steps), ("size", size), ("learning_rate", learning_rate)):
        if not np.isscalar(value) or not value > 0:
            raise ArgumentError(f"{name} must be positive, got {value!r}.")
    if not 0 <= decay < 1 or not 0 <= blur <= 1:
        raise ArgumentError(f"decay must be in [0, 1) and blur in [0, 1]; got decay={decay!r}, blur={blur!r}.")
    if not isinstance(jitter, (int, np.integer)) or jitter < 0:
        raise ArgumentError(f"jitter must be a non-negative integer, got {jitter!r}.")
    rng = tf.random.Generator.from_seed(seed)
    image = tf.Variable(128.0 + rng.normal((len(units), int(size), int(size), 3), stddev=24.0))
    step = _ascent_step(keras.Model(model.inputs, layer.output), preprocess or (lambda x: x),
                        tf.one_hot(units, layer.output.shape[-1]), image, rng, learning_rate, decay, blur, jitter)
    for _ in range(int(steps)):
        step()
    return image.numpy().astype(np.float32)


def _ascent_step(extractor: keras.Model, prepare: Callable, one_hot: tf.Tensor, image: tf.Variable,
                 rng: tf.random.Generator, learning_rate: float, decay: float, blur: float, jitter: int) -> Callable:
    """One compiled step of :func:`maximize_activation`: jittered gradient, normalised step, decay, blur.

    ``one_hot`` (U, C) picks unit ``c`` of image ``u``; ``image`` (U, size, size, 3) is updated in place.
    """

    @tf.function
    def step():
        shift = rng.uniform((2,), -jitter, jitter + 1, dtype=tf.int32)
        with tf.GradientTape() as tape:
            maps = extractor(prepare(tf.roll(image, shift, axis=(1, 2))), training=False)   # (U, h, w, C)
            score = tf.reduce_sum(tf.reduce_mean(maps, axis=(1, 2)) * one_hot)
        grad = tape.gradient(score, image)
        grad /= tf.sqrt(tf.reduce_mean(tf.square(grad), axis=(1, 2, 3), keepdims=True)) + 1e-8
        x = 128.0 + (1.0 - decay) * (image + learning_rate * grad - 128.0)
        image.assign(tf.clip_by_value((1.0 - blur) * x + blur * _smooth(x), 0.0, 255.0))

    return step


def visible_patch(image: np.ndarray, window: tuple[int, int, int, int], side: int, fill: int = 255) -> np.ndarray:
    """The part of an inclusive ``(left, top, right, bottom)`` box that lies inside ``image``, scaled to fit a tile.

    A unit near the border of a feature map sees a window that hangs over the image's edge (into
    the padding); :func:`top_patches` fills that part with grey. For display, this crops the
    window to the image and scales the crop (nearest neighbour, aspect ratio kept) so that its
    longer side is ``side`` pixels, centred on a ``side`` x ``side`` tile of colour ``fill``.

    Raises
    ------
    ValueError
        If the window does not overlap the image, or ``side`` is not a positive integer.
    """
    from PIL import Image

    if isinstance(side, bool) or not isinstance(side, int | np.integer) or side < 1:
        raise ArgumentError(f"side must be a positive integer, got {side!r}")
    left, top, right, bottom = window
    h, w = image.shape[:2]
    t, l, b, r = max(top, 0), max(left, 0), min(bottom, h - 1), min(right, w - 1)
    if t > b or l > r:
        raise ArgumentError(f"window {window} does not overlap the image of shape {image.shape[:2]}")
    crop = np.clip(np.asarray(image)[t:b + 1, l:r + 1], 0, 255).astype(np.uint8)
    scale = side / max(crop.shape[:2])
    size = (max(1, round(crop.shape[1] * scale)), max(1, round(crop.shape[0] * scale)))
    crop = np.asarray(Image.fromarray(crop).resize(size, Image.Resampling.NEAREST))
    tile = np.full((side, side, *image.shape[2:]), fill, dtype=np.uint8)
    y, x = (side - crop.shape[0]) // 2, (side - crop.shape[1]) // 2
    tile[y:y + crop.shape[0], x:x + crop.shape[1]] = crop
    return tile


def mosaic(images, cols: int, gap: int = 2, fill: int = 255) -> np.ndarray:
    """Tile equally sized images into one, ``cols`` per row, ``gap`` pixels of ``fill`` between.

    Parameters
    ----------
    images : array-like, shape (N, H, W, 3)
        The tiles, uint8 RGB.
    cols : int
        Tiles per row; rows = ceil(N / cols).
    gap : int, default 2
        Pixels between tiles.
    fill : int, default 255
        Grey level of the gaps and of empty cells.

    Returns
    -------
    ndarray of uint8, shape (rows * (H + gap) - gap, cols * (W + gap) - gap, 3)
    """
    images = _as_batch(images)
    if not isinstance(cols, (int, np.integer)) or cols < 1:
        raise ArgumentError(f"cols must be a positive integer, got {cols!r}.")
    if not isinstance(gap, (int, np.integer)) or gap < 0:
        raise ArgumentError(f"gap must be a non-negative integer, got {gap!r}.")
    n, h, w, _ = images.shape
    rows = -(-n // cols)
    out = np.full((rows * (h + gap) - gap, cols * (w + gap) - gap, 3), fill, dtype=np.uint8)
    for i, image in enumerate(images):
        r, c = divmod(i, cols)
        out[r * (h + gap):r * (h + gap) + h, c * (w + gap):c * (w + gap) + w] = np.clip(image, 0, 255)
    return out


def image_grid(images: Sequence[np.ndarray], rows: int | None = None, cols: int | None = None,
               titles: Sequence[str] | None = None, size: float = 2.0, suptitle: str | None = None,
               stretch: bool = False):
    """Show images in a ``rows`` x ``cols`` matplotlib grid, each with an optional title.

    Parameters
    ----------
    images : sequence of ndarray
        Each (H, W) greyscale or (H, W, 3) RGB; uint8 (0-255) or float (0-1, clipped).
    rows, cols : int, optional
        Grid shape; a missing one is worked out from the other (default: one row).
    titles : sequence of str, optional
        One per image.
    size : float, default 2.0
        Side of one cell, inches.
    suptitle : str, optional
        Title of the whole figure.
    stretch : bool, default False
        Map each image's values linearly so that its 1st and 99th percentiles span the display
        range (for low-contrast images such as those of :func:`maximize_activation`).

    Returns
    -------
    matplotlib.figure.Figure
        The figure, with ``rows * cols`` axes (unused cells blank).

    Raises
    ------
    ValueError
        If the grid is too small for the images, or ``titles`` does not match ``images``.
    """
    import matplotlib.pyplot as plt

    images = list(images)
    if not images:
        raise ArgumentError("images is empty; give at least one image.")
    if rows is None and cols is None:
        rows, cols = 1, len(images)
    elif rows is None:
        rows = -(-len(images) // cols)
    elif cols is None:
        cols = -(-len(images) // rows)
    if rows < 1 or cols < 1 or rows * cols < len(images):
        raise ArgumentError(f"a {rows} x {cols} grid cannot hold {len(images)} images; raise rows or cols.")
    if titles is not None and len(titles) != len(images):
        raise ArgumentError(f"titles has {len(titles)} entries for {len(images)} images; give one per image.")
    shown = []
    for i, image in enumerate(images):
        image = np.asarray(image)
        if image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[-1] != 3):
            raise ArgumentError(f"images[{i}] must have shape (H, W) or (H, W, 3), got {image.shape}.")
        if stretch:
            low, high = np.percentile(image, [1, 99])
            image = (image.astype(np.float64) - low) / max(high - low, 1e-8)
        shown.append(image if image.dtype == np.uint8 else np.clip(image, 0.0, 1.0))
    fig, axes = plt.subplots(rows, cols, figsize=(size * cols, size * rows), squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i >= len(shown):
            continue
        image = shown[i]
        ax.imshow(image, cmap="gray" if image.ndim == 2 else None, vmin=0,
                  vmax=255 if image.dtype == np.uint8 else 1, interpolation="nearest")
        if titles is not None:
            ax.set_title(titles[i], fontsize=9)
    if suptitle:
        fig.suptitle(suptitle)
    fig.tight_layout()
    return fig
