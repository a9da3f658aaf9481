"""The checker of notebook 08 accepts the reference and rejects the usual wrong shape formulas."""

from __future__ import annotations

import math

import pytest

from facelib.convnets.arithmetic import conv_output_shape
from facelib.course.checks import CheckFailed
from facelib.course.checks.signals import check_conv_output_shape


def _per_axis(value, n):
    return (value,) * n if isinstance(value, int) else tuple(value)


def _wrong(rule, channels=None):
    """A conv_output_shape that applies ``rule(n, f, s, padding)`` per axis."""
    def fn(input_shape, kernel_size, filters, stride=1, padding="valid"):
        spatial = input_shape[:-1]
        sizes = [rule(n, f, s, padding) for n, f, s in
                 zip(spatial, _per_axis(kernel_size, len(spatial)), _per_axis(stride, len(spatial)), strict=True)]
        return (*sizes, filters if channels is None else channels(input_shape, filters))
    return fn


WRONG = {
    "forgets the stride": _wrong(lambda n, f, s, p: n if p == "same" else n - f + 1),
    "floor instead of ceil for 'same'": _wrong(lambda n, f, s, p: n // s if p == "same" else (n - f) // s + 1),
    "'same' keeps n whatever the stride": _wrong(lambda n, f, s, p: n if p == "same" else (n - f) // s + 1),
    "ceil instead of floor for 'valid'": _wrong(
        lambda n, f, s, p: math.ceil(n / s) if p == "same" else math.ceil((n - f) / s) + 1),
    "(n - f + 1) // s for 'valid'": _wrong(
        lambda n, f, s, p: math.ceil(n / s) if p == "same" else (n - f + 1) // s),
    "keeps the input's channel count": _wrong(
        lambda n, f, s, p: math.ceil(n / s) if p == "same" else (n - f) // s + 1,
        channels=lambda shape, filters: shape[-1]),
    "multiplies channels by filters": _wrong(
        lambda n, f, s, p: math.ceil(n / s) if p == "same" else (n - f) // s + 1,
        channels=lambda shape, filters: shape[-1] * filters),
    "ignores padding ('valid' always)": _wrong(lambda n, f, s, p: (n - f) // s + 1),
}


# The lecture's formulas, written here independently of facelib.signals: per spatial axis
# floor((n - f) / s) + 1 for 'valid', ceil(n / s) for 'same'; the channels become the filter count.
INDEPENDENT = _wrong(lambda n, f, s, p: math.ceil(n / s) if p == "same" else (n - f) // s + 1)


def test_an_independent_implementation_passes(capsys):
    check_conv_output_shape(INDEPENDENT)
    assert capsys.readouterr().out == "conv_output_shape: all 10 tests passed.\n"


def test_facelib_agrees_with_the_independent_formula_and_keras_cases():
    assert conv_output_shape((15, 15, 3), 3, 8, 2, "valid") == INDEPENDENT((15, 15, 3), 3, 8, 2, "valid") == (7, 7, 8)
    assert conv_output_shape((7, 2), 3, 4, 2, "same") == INDEPENDENT((7, 2), 3, 4, 2, "same") == (4, 4)


@pytest.mark.parametrize("name", sorted(WRONG))
def test_wrong_implementations_fail(name):
    with pytest.raises(CheckFailed):
        check_conv_output_shape(WRONG[name])


def test_wrong_rank_fails_with_hint():
    def drops_channels(input_shape, kernel_size, filters, stride=1, padding="valid"):
        return conv_output_shape(input_shape, kernel_size, filters, stride, padding)[:-1]

    with pytest.raises(CheckFailed, match="one size per spatial axis"):
        check_conv_output_shape(drops_channels)


def test_channel_mistake_gets_channel_hint():
    with pytest.raises(CheckFailed, match="number of filters"):
        check_conv_output_shape(WRONG["keeps the input's channel count"])


def test_stub_fails_clearly():
    def stub(input_shape, kernel_size, filters, stride=1, padding="valid"):
        raise NotImplementedError()

    with pytest.raises(CheckFailed, match="not implemented"):
        check_conv_output_shape(stub)


def test_non_tuple_answer_fails():
    with pytest.raises(CheckFailed, match="tuple of ints"):
        check_conv_output_shape(lambda *args: None)
