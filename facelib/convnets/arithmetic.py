"""Convolution arithmetic: output shapes, strides between positions, and the lecture's formulas.

:func:`conv_output_shape` is the reference for the shape of a convolution's output in any number of
dimensions: per spatial axis ``n_out = floor((n + 2p - f) / s) + 1`` (``padding='valid'``: p = 0;
``'same'``: ``n_out = ceil(n / s)``). :func:`input_jump` is the product of the strides before a layer.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from facelib.errors import ArgumentError
from facelib.validation import check_int

PADDINGS = ("valid", "same")


def input_jump(model, layer_name: str) -> int:
    """Input samples between two neighbouring positions at ``layer_name``'s input, in a Sequential model.

    j = prod of the strides s_l of every layer before it (convolutions and pooling); a layer with
    kernel k and dilation d there spans (k - 1) d j + 1 input samples.
    """
    jump = 1
    for layer in model.layers:
        if layer.name == layer_name:
            return jump
        jump *= layer.strides[0] if hasattr(layer, "strides") else 1
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
