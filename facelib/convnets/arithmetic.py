"""Convolution arithmetic: output sizes, strides between positions, receptive fields.

The one home of these formulas in facelib (the course checkers keep their own independent
references). Per spatial axis, a window layer (convolution or pooling) with kernel :math:`k`,
dilation :math:`d` (effective kernel :math:`\\hat k = d (k - 1) + 1`), stride :math:`s` and
:math:`p` padding samples before its input gives

.. math::

    n_{out} = \\left\\lfloor \\frac{n + 2p - \\hat k}{s} \\right\\rfloor + 1 \\ ('valid': p = 0), \\qquad
    n_{out} = \\lceil n / s \\rceil \\ ('same'),

and, for units whose field on the input has size :math:`r`, jump (input samples between
neighbouring units) :math:`j` and first sample :math:`a` (Dumoulin & Visin 2016; Araujo et al. 2019),

.. math::

    r_{out} = r_{in} + (\\hat k - 1)\\, j_{in}, \\qquad j_{out} = j_{in}\\, s, \\qquad a_{out} = a_{in} - p\\, j_{in},

from :math:`r = 1, j = 1, a = 0` at the input; unit :math:`i` is centred on :math:`a + (r - 1)/2 + i j`.
:func:`window_field` is that step, :func:`same_padding` TensorFlow's :math:`p` for 'same',
:func:`conv_output_shape` the shape of an output; :func:`input_jump` and :func:`output_times` walk a
Sequential 1-D model, :func:`facelib.convnets.visualize.receptive_field` a functional 2-D one.

References
----------
V. Dumoulin and F. Visin, "A guide to convolution arithmetic for deep learning", arXiv:1603.07285.
A. Araujo, W. Norris and J. Sim, "Computing Receptive Fields of Convolutional Neural Networks",
Distill, 2019.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from facelib.errors import ArgumentError
from facelib.validation import check_float, check_int

PADDINGS = ("valid", "same")


def window_field(field: tuple[int, int, float], kernel: int, stride: int = 1, dilation: int = 1,
                 pad_before: float = 0) -> tuple[int, int, float]:
    """The field ``(r, j, a)`` of a window layer's units from the field of its input's units, on one axis.

    ``r_out = r + (k_hat - 1) j``, ``j_out = j s``, ``a_out = a - p j`` with ``k_hat = d (k - 1) + 1``.

    Examples
    --------
    >>> window_field((1, 1, 0), kernel=3, stride=2)          # a 3-wide stride-2 convolution on the input
    (3, 2, 0)
    >>> window_field((3, 2, 0), kernel=3, stride=2, pad_before=1)
    (7, 4, -2)
    """
    r, j, a = field
    k_hat = dilation * (kernel - 1) + 1
    return r + (k_hat - 1) * j, j * stride, a - pad_before * j


def same_padding(n: int | None, k_hat: int, stride: int) -> int | None:
    """Samples TensorFlow pads before an input of size ``n`` for ``padding='same'``.

    TensorFlow pads ``max((ceil(n / s) - 1) s + k_hat - n, 0)`` samples in all and puts the smaller
    half (``// 2``) before the input. With stride 1 that is ``(k_hat - 1) // 2`` whatever ``n``; with
    a larger stride it depends on ``n``, and is None when ``n`` is None (unknown).

    Examples
    --------
    >>> same_padding(None, 5, 1), same_padding(8, 3, 2), same_padding(7, 3, 2)
    (2, 0, 1)
    """
    if stride == 1:
        return (k_hat - 1) // 2
    if n is None:
        return None
    return max((math.ceil(n / stride) - 1) * stride + k_hat - n, 0) // 2


def _sequential_fields(model, n: int | None):
    """Each layer of a Sequential 1-D model with the field ``(r, j, a)`` and length ``n`` of its output.

    Layers with a window (``kernel_size`` or ``pool_size``) move the field; other layers (activations,
    dropout, ...) leave it alone. ``a`` (and ``n``) are NaN (None) when an input length they need is unknown.
    """
    field = (1, 1, 0.0)
    for layer in model.layers:
        window = getattr(layer, "kernel_size", None) or getattr(layer, "pool_size", None)
        if window is not None and hasattr(layer, "strides"):
            k, s = int(window[0]), int(layer.strides[0])
            k_hat = int(getattr(layer, "dilation_rate", (1,))[0]) * (k - 1) + 1
            if layer.padding == "same":
                p = same_padding(n, k_hat, s)
                n = None if n is None else -(-n // s)
            else:
                p, n = 0, None if n is None else (n - k_hat) // s + 1
            field = window_field(field, k_hat, s, pad_before=math.nan if p is None else p)
        yield layer, field, n


def input_jump(model, layer_name: str) -> int:
    """Input samples between two neighbouring positions at ``layer_name``'s input, in a Sequential model.

    j = prod of the strides s_l of every layer before it (convolutions and pooling); a layer with
    kernel k and dilation d there spans (k - 1) d j + 1 input samples.
    """
    jump = 1
    for layer, (_, j, _), _ in _sequential_fields(model, None):
        if layer.name == layer_name:
            return jump
        jump = j
    raise ArgumentError(f"layer_name {layer_name!r} is not a layer of model {model.name!r}")


def output_times(model, layer_name: str, n_samples: int, fs: float) -> np.ndarray:
    """Time (s) at the centre of each output position's receptive field, for a Sequential 1-D model.

    Position ``i`` of ``layer_name``'s output is centred on input sample ``a + (r - 1) / 2 + i j``
    (:func:`window_field` through every layer up to it, 'same' padding as TensorFlow pads an input of
    ``n_samples``), at time ``(that) / fs``.
    """
    n_samples = check_int("n_samples", n_samples, minimum=1)
    fs = check_float("fs", fs, minimum=0.0, exclusive_minimum=True)
    for layer, (r, j, a), n in _sequential_fields(model, n_samples):
        if layer.name == layer_name:
            return (a + (r - 1) / 2 + np.arange(n) * j) / fs
    raise ArgumentError(f"layer_name {layer_name!r} is not a layer of model {model.name!r}")


def conv_output_shape(input_shape: Sequence[int], kernel_size: int | Sequence[int], filters: int,
                      stride: int | Sequence[int] = 1, padding: str = "valid") -> tuple[int, ...]:
    """Shape of a convolution's output, in any number of spatial dimensions (no batch axis).

    For each spatial size :math:`n`, kernel size :math:`f` and stride :math:`s`:

    .. math:: n_{out} = \\left\\lfloor \\frac{n - f}{s} \\right\\rfloor + 1 \\quad ('valid',\\ p = 0),
              \\qquad n_{out} = \\left\\lceil \\frac{n}{s} \\right\\rceil \\quad ('same')

    (the general :math:`\\lfloor (n + 2p - f)/s \\rfloor + 1`), and the channel axis becomes
    ``filters``: each filter spans all input channels and gives one output channel.

    Parameters
    ----------
    input_shape : sequence of int
        ``(n_1, ..., n_d, channels)``, channels last as in Keras; ``d >= 1``.
    kernel_size : int or sequence of d ints
        Spatial size of each filter (its depth is always the input's channel count).
    filters : int
        Number of filters, i.e. of output channels.
    stride : int or sequence of d ints
        Step of the filter along each spatial axis.
    padding : {'valid', 'same'}
        'valid': no padding; 'same': pad so that ``n_out = ceil(n / s)``.

    Returns
    -------
    tuple of int
        ``(n_out_1, ..., n_out_d, filters)``.

    Raises
    ------
    ValueError
        If a size is not a positive integer, the lengths disagree, the padding is unknown, or a
        'valid' kernel is larger than the input.

    Examples
    --------
    >>> conv_output_shape((14, 14, 3), 5, 16)
    (10, 10, 16)
    >>> conv_output_shape((14, 14, 14, 1), 5, 16)
    (10, 10, 10, 16)
    >>> conv_output_shape((15, 1), 3, 8, stride=2, padding="same")
    (8, 8)
    """
    shape = _positive_ints(input_shape, "input_shape")
    if len(shape) < 2:
        raise ArgumentError(f"input_shape must be (n_1, ..., n_d, channels) with at least one spatial axis, "
                            f"got {tuple(input_shape)!r}")
    spatial = shape[:-1]
    kernel = _per_axis(kernel_size, len(spatial), "kernel_size")
    strides = _per_axis(stride, len(spatial), "stride")
    (filters,) = _positive_ints([filters], "filters")
    if padding not in PADDINGS:
        raise ArgumentError(f"padding must be one of {PADDINGS}, got {padding!r}")
    if padding == "same":
        out = [math.ceil(n / s) for n, s in zip(spatial, strides, strict=True)]
    else:
        if any(f > n for n, f in zip(spatial, kernel, strict=True)):
            raise ArgumentError(f"kernel_size {kernel} is larger than the input {spatial} with padding='valid': "
                                "use a smaller kernel, a bigger input, or padding='same'")
        out = [(n - f) // s + 1 for n, f, s in zip(spatial, kernel, strides, strict=True)]
    return (*out, filters)


def _positive_ints(values: Sequence[int], name: str) -> tuple[int, ...]:
    try:
        items = tuple(values)
    except TypeError:
        raise ArgumentError(f"{name} must be a sequence of positive integers, got {values!r}") from None
    if not items:
        raise ArgumentError(f"{name} must hold positive integers, got {values!r}")
    return tuple(check_int(name, v, minimum=1) for v in items)


def _per_axis(value: int | Sequence[int], n_axes: int, name: str) -> tuple[int, ...]:
    """An int for every axis, or exactly one int per axis."""
    values = _positive_ints([value] * n_axes if isinstance(value, (int, np.integer)) else value, name)
    if len(values) != n_axes:
        raise ArgumentError(f"{name} must be one int or {n_axes} ints (one per spatial axis), got {value!r}")
    return values
