"""Checkers for notebook 05 (what ConvNets learn): receptive-field arithmetic."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from facelib.course.checks._core import call, expect_close, passed


def reference_receptive_field_size(kernels, strides) -> int:
    """r_L = 1 + sum_l (k_l - 1) prod_{i < l} s_i, in closed form with a cumulative product."""
    k = np.asarray(kernels, dtype=np.int64)
    s = np.asarray(strides, dtype=np.int64)
    jumps = np.concatenate([[1], np.cumprod(s)[:-1]])        # j_l = product of the strides before layer l
    return int(1 + np.sum((k - 1) * jumps))


# (what the case is, kernels, strides), all layers 'valid' or stride-1 'same'
_CASES = [
    ("one 3x3 convolution", [3], [1]),
    ("one 3x3 convolution with stride 2", [3], [2]),
    ("conv 3/2 then pool 3/2 (SqueezeNet's pool1)", [3, 3], [2, 2]),
    ("SqueezeNet 1.1 up to fire9 (expand3x3 path)", [3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3],
     [2, 2, 1, 1, 2, 1, 1, 2, 1, 1, 1, 1]),
    ("AlexNet conv1..conv5 with its pools", [11, 3, 5, 3, 3, 3, 3], [4, 2, 1, 2, 1, 1, 1]),
    ("1x1 layers with stride 2 between 5x5 ones", [5, 1, 5, 1, 5], [1, 2, 1, 2, 1]),
]
_HIDDEN_CASES = [  # run by the hidden tests only, never shown in the student copy
    ("VGG-style 3x3 stacks with 2x2 pools", [3, 3, 2, 3, 3, 2, 3, 3, 3], [1, 1, 2, 1, 1, 2, 1, 1, 1]),
    ("one 7x7 convolution with stride 3 then a 5x5 one", [7, 5], [3, 1]),
    ("strides of 3 before a 1x1 layer", [4, 4, 1], [3, 3, 1]),
]


def check_receptive_field_size(fn: Callable, hidden: bool = False) -> None:
    """Check ``fn(kernels, strides)`` = 1 + sum_l (k_l - 1) prod_{i<l} s_i on fixed layer stacks.

    ``hidden=True`` runs other stacks.
    """
    cases = _HIDDEN_CASES if hidden else _CASES
    for case, kernels, strides in cases:
        got = call(fn, list(kernels), list(strides))
        expect_close(got, reference_receptive_field_size(kernels, strides), f"{case} (kernels {kernels}, "
                     f"strides {strides})",
                     "Layer l widens the field by (k_l - 1) times the jump j_l of its input, the product of "
                     "the strides of the layers BEFORE it (not including its own stride).", atol=0, rtol=0)
    passed("receptive_field_size", len(cases))
