"""The notebook-02 checker passes the reference and rejects plausible wrong triplet losses."""

from __future__ import annotations

import numpy as np
import pytest

from facelib.course.checks import CheckFailed
from facelib.course.checks.losses import check_triplet_loss
from facelib.metric import losses


def _sq(x, y):
    return np.sum((x - y) ** 2, axis=-1)


WRONG = {
    "plain instead of squared distances":
        lambda a, p, n, alpha: np.sum(np.maximum(np.sqrt(_sq(a, p)) - np.sqrt(_sq(a, n)) + alpha, 0)),
    "mean instead of sum":
        lambda a, p, n, alpha: np.mean(np.maximum(_sq(a, p) - _sq(a, n) + alpha, 0)),
    "no max(., 0)":
        lambda a, p, n, alpha: np.sum(_sq(a, p) - _sq(a, n) + alpha),
    "max after the sum":
        lambda a, p, n, alpha: np.maximum(np.sum(_sq(a, p) - _sq(a, n) + alpha), 0),
    "alpha forgotten":
        lambda a, p, n, alpha: np.sum(np.maximum(_sq(a, p) - _sq(a, n), 0)),
    "alpha subtracted":
        lambda a, p, n, alpha: np.sum(np.maximum(_sq(a, p) - _sq(a, n) - alpha, 0)),
    "positive and negative swapped":
        lambda a, p, n, alpha: np.sum(np.maximum(_sq(a, n) - _sq(a, p) + alpha, 0)),
    "distance summed over every axis":
        lambda a, p, n, alpha: np.maximum(np.sum((a - p) ** 2) - np.sum((a - n) ** 2) + alpha, 0),
}


def test_reference_passes(capsys):
    check_triplet_loss(losses.triplet_loss)
    assert capsys.readouterr().out == "triplet_loss: all 6 tests passed.\n"


def test_numpy_solution_passes():
    check_triplet_loss(lambda a, p, n, alpha: np.sum(np.maximum(_sq(a, p) - _sq(a, n) + alpha, 0)))


@pytest.mark.parametrize("wrong", sorted(WRONG))
def test_wrong_implementations_fail(wrong):
    with pytest.raises(CheckFailed):
        check_triplet_loss(WRONG[wrong])


def test_stub_fails_with_a_clear_message():
    def triplet_loss(a, p, n, alpha):
        raise NotImplementedError()

    with pytest.raises(CheckFailed, match="not implemented yet"):
        check_triplet_loss(triplet_loss)
