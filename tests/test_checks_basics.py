"""The warm-up checker rejects the plausible mistakes it promises to catch."""

import numpy as np
import pytest

from facelib.course.checks import CheckFailed, check_euclidean_distance


def test_reference_passes(capsys):
    check_euclidean_distance(lambda x, y: np.linalg.norm(x - y, axis=-1))
    assert capsys.readouterr().out == "euclidean_distance: all 3 tests passed.\n"


@pytest.mark.parametrize("wrong", [
    lambda x, y: np.sum((x - y) ** 2, axis=-1),            # squared distance
    lambda x, y: np.sqrt(np.sum((x - y) ** 2)),            # summed over every axis
    lambda x, y: np.sqrt(np.sum((x - y) ** 2, axis=0)),    # wrong axis
    lambda x, y: np.mean(np.abs(x - y), axis=-1),          # wrong norm
])
def test_wrong_implementations_fail(wrong):
    with pytest.raises(CheckFailed):
        check_euclidean_distance(wrong)


def test_stub_fails_with_a_clear_message():
    def euclidean_distance(x, y):
        raise NotImplementedError()

    with pytest.raises(CheckFailed, match="not implemented"):
        check_euclidean_distance(euclidean_distance)
