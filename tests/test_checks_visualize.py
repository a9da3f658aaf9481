"""The notebook-05 checker passes the reference and rejects plausible mistakes."""

from __future__ import annotations

import pytest

from facelib.course.checks._core import CheckFailed
from facelib.course.checks.visualize import check_receptive_field_size, reference_receptive_field_size


def correct(kernels, strides):
    size, jump = 1, 1
    for k, s in zip(kernels, strides, strict=True):
        size += (k - 1) * jump
        jump *= s
    return size


def ignores_strides(kernels, strides):
    """r = 1 + sum (k - 1): right for stride-1 stacks only."""
    return 1 + sum(k - 1 for k in kernels)


def updates_jump_first(kernels, strides):
    """Multiplies in a layer's own stride before widening: prod_{i <= l} instead of prod_{i < l}."""
    size, jump = 1, 1
    for k, s in zip(kernels, strides, strict=True):
        jump *= s
        size += (k - 1) * jump
    return size


def sums_kernels(kernels, strides):
    """Forgets the -1: adds k times the jump, so it is off by the sum of the jumps."""
    size, jump = 1, 1
    for k, s in zip(kernels, strides, strict=True):
        size += k * jump
        jump *= s
    return size


def not_implemented(kernels, strides):
    raise NotImplementedError()


def test_reference_matches_hand_arithmetic():
    assert reference_receptive_field_size([3, 3], [2, 2]) == 7              # 3 + (3 - 1) * 2
    assert reference_receptive_field_size([3] * 12, [2, 2, 1, 1, 2, 1, 1, 2, 1, 1, 1, 1]) == 207
    assert reference_receptive_field_size([11, 3, 5, 3, 3, 3, 3], [4, 2, 1, 2, 1, 1, 1]) == 163


def test_correct_implementation_passes(capsys):
    check_receptive_field_size(correct)
    assert capsys.readouterr().out.strip() == "receptive_field_size: all 6 tests passed."


@pytest.mark.parametrize("wrong", [ignores_strides, updates_jump_first, sums_kernels])
def test_plausible_mistakes_fail(wrong):
    with pytest.raises(CheckFailed, match="differ from the reference"):
        check_receptive_field_size(wrong)


def test_stub_fails_with_a_clear_message():
    with pytest.raises(CheckFailed, match="not implemented yet"):
        check_receptive_field_size(not_implemented)
