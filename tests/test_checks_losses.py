"""The notebook-02 checkers pass the references and reject plausible wrong triplet losses and miners."""

from __future__ import annotations

import numpy as np
import pytest

from facelib.course.checks import CheckFailed, run_hidden
from facelib.course.checks.losses import check_batch_hard_mining, check_triplet_loss
from facelib.metric import losses, mining


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


# -- batch-hard mining from a distance matrix ----------------------------------------------------------
def _masks(labels, own_positive=False, same_identity_negatives=False):
    same = labels[:, None] == labels[None, :]
    positive = same if own_positive else same & ~np.eye(len(labels), dtype=bool)
    negative = ~np.eye(len(labels), dtype=bool) if same_identity_negatives else ~same
    return positive, negative


def _mining(own_positive=False, same_identity_negatives=False, positive_pick=np.argmax, negative_pick=np.argmin,
            keep_all=False):
    """A batch-hard miner in NumPy, with one of the usual mistakes switched on."""
    def pick(choose, mask, d):
        return choose(np.where(mask, d, -np.inf if choose is np.argmax else np.inf), axis=1)

    def mine(d, labels):
        positive, negative = _masks(labels, own_positive, same_identity_negatives)
        p, n = pick(positive_pick, positive, d), pick(negative_pick, negative, d)
        anchors = np.arange(len(labels)) if keep_all else np.flatnonzero(positive.any(1) & negative.any(1))
        return np.stack([anchors, p[anchors], n[anchors]], axis=1)
    return mine


WRONG_MINING = {
    "the anchor as its own positive": _mining(own_positive=True),
    "negatives from the same identity": _mining(same_identity_negatives=True),
    "hardest positive taken as the minimum": _mining(positive_pick=np.argmin),
    "anchors without a positive kept": _mining(keep_all=True),
    "hardest negative taken as the maximum": _mining(negative_pick=np.argmax),
    "labels assumed grouped by person (images i // 3 are one person)":
        lambda d, labels: _mining()(d, np.arange(len(labels)) // 3),
}


def test_mining_reference_passes(capsys):
    check_batch_hard_mining(mining.batch_hard_from_distances)
    assert capsys.readouterr().out == "batch_hard_mining: all 4 tests passed.\n"


def test_mining_numpy_solution_and_list_answer_pass():
    check_batch_hard_mining(_mining())
    check_batch_hard_mining(lambda d, labels: _mining()(d, labels).tolist())


@pytest.mark.parametrize("wrong", sorted(WRONG_MINING))
def test_mining_mistakes_fail_visible_and_hidden_checks(wrong):
    with pytest.raises(CheckFailed):
        check_batch_hard_mining(WRONG_MINING[wrong])
    with pytest.raises(CheckFailed, match="hidden tests"):
        run_hidden(check_batch_hard_mining, WRONG_MINING[wrong])


def test_mining_listed_mistakes_fail_with_their_hint():
    with pytest.raises(CheckFailed, match="case 2.*not its own positive"):
        check_batch_hard_mining(_mining(own_positive=True))
    with pytest.raises(CheckFailed, match="case 1.*DIFFERENT label"):
        check_batch_hard_mining(_mining(same_identity_negatives=True))
    with pytest.raises(CheckFailed, match="case 1.*LARGEST distance"):
        check_batch_hard_mining(_mining(positive_pick=np.argmin))


def test_mining_own_positive_is_caught_even_when_singletons_are_dropped():
    """A miner that keeps the diagonal among positives but drops anchors without another image is still
    wrong where a photo appears twice (case 3)."""
    def mine(d, labels):
        same = labels[:, None] == labels[None, :]
        usable = (same & ~np.eye(len(labels), dtype=bool)).any(1) & (~same).any(1)
        anchors = np.flatnonzero(usable)
        p = np.argmax(np.where(same, d, -np.inf), axis=1)
        n = np.argmin(np.where(~same, d, np.inf), axis=1)
        return np.stack([anchors, p[anchors], n[anchors]], axis=1)

    with pytest.raises(CheckFailed, match="case 3"):
        check_batch_hard_mining(mine)


def test_mining_hidden_tests_pass_the_reference_silently(capsys):
    run_hidden("check_batch_hard_mining", mining.batch_hard_from_distances)
    assert capsys.readouterr().out == ""


def test_mining_stub_fails_with_a_clear_message():
    def batch_hard_mining(d, labels):
        raise NotImplementedError()

    with pytest.raises(CheckFailed, match="not implemented yet"):
        check_batch_hard_mining(batch_hard_mining)
