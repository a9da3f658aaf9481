"""Checkers for notebook 08 (convolutions in 1D and 3D)."""

from __future__ import annotations

from collections.abc import Callable

from facelib.convnets.arithmetic import conv_output_shape
from facelib.course.checks._core import CheckFailed, call, passed

# (input_shape, kernel_size, filters, stride, padding, what the case catches)
_CASES = [
    ((14, 14, 3), 5, 16, 1, "valid", "the lecture's first 2D layer"),
    ((10, 10, 16), 5, 32, 1, "valid", "the lecture's second 2D layer: channels become the filter count"),
    ((14, 1), 5, 16, 1, "valid", "1D: a 14-sample signal"),
    ((14, 14, 14, 1), 5, 16, 1, "valid", "3D: a 14x14x14 volume"),
    ((15, 15, 3), 3, 8, 2, "valid", "stride 2: floor((n - f) / s) + 1"),
    ((17, 10, 3), (4, 3), 6, (3, 2), "valid", "a stride that does not divide n - f: round down"),
    ((7, 2), 3, 4, 2, "same", "'same' with stride 2 and odd n: ceil(n / s)"),
    ((10, 10, 10, 2), 3, 5, 3, "same", "'same' with stride 3: ceil(10 / 3) = 4"),
    ((12, 8, 6, 1), (5, 3, 1), 7, (1, 2, 3), "same", "'same' does not depend on the kernel size"),
    ((9, 4), 9, 3, 1, "valid", "a kernel as long as the input gives one output"),
]
_HIDDEN_CASES = [  # run by the hidden tests only, never shown in the student copy
    ((21, 21, 5), 4, 7, 3, "valid", "stride 3 in 2D"),
    ((30, 2), 7, 9, 4, "valid", "1D with stride 4"),
    ((9, 11, 13, 3), (3, 5, 1), 2, (2, 3, 1), "valid", "3D with one stride per axis"),
    ((11, 6, 2), (3, 3), 4, (4, 5), "same", "'same' with strides 4 and 5"),
    ((5, 5, 5, 5, 1), 2, 3, 1, "valid", "4 spatial axes"),
]


def check_conv_output_shape(fn: Callable, hidden: bool = False) -> None:
    """Check ``fn(input_shape, kernel_size, filters, stride, padding)`` on 1D, 2D and 3D cases.

    The expected shapes come from :func:`facelib.signals.conv_output_shape`, itself tested
    against Keras' Conv1D, Conv2D and Conv3D layers. ``hidden=True`` runs other cases.
    """
    cases = _HIDDEN_CASES if hidden else _CASES
    for i, (shape, kernel, filters, stride, padding, what) in enumerate(cases, 1):
        expected = conv_output_shape(shape, kernel, filters, stride, padding)
        got = call(fn, shape, kernel, filters, stride, padding, name="conv_output_shape")
        case = (f"case {i} ({what}): input {shape}, kernel {kernel}, {filters} filters, "
                f"stride {stride}, padding '{padding}'")
        try:
            got = tuple(int(v) for v in got)
        except (TypeError, ValueError):
            raise CheckFailed(f"{case}: expected a tuple of ints like {expected}, got {got!r}.") from None
        if got != expected:
            raise CheckFailed(f"{case}: expected {expected}, got {got}. {_hint(shape, got, expected, padding)}")
    passed("conv_output_shape", len(cases))


def _hint(shape: tuple, got: tuple, expected: tuple, padding: str) -> str:
    """The most likely mistake behind a wrong shape."""
    if len(got) != len(expected):
        return ("Return one size per spatial axis of input_shape, then the number of filters "
                "(the batch axis is not part of input_shape).")
    if got[-1] != expected[-1]:
        return ("The last axis is the number of filters: each filter spans all input channels "
                f"({shape[-1]} here) and gives one output channel.")
    if padding == "same":
        return "With 'same' padding n_out = ceil(n / s), whatever the kernel size (round up, not down)."
    return "With 'valid' padding n_out = floor((n - f) / s) + 1: divide by the stride, round down, add 1."
