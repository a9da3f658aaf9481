"""Triplet selection picks the documented triplets on hand-built batches."""

from __future__ import annotations

import numpy as np
import pytest

from facelib.errors import ArgumentError
from facelib.metric import losses, mining

# 1-D encodings: person 0 at 0 and 1, person 1 at 1.5 and 4, person 2 at 10 (no positive).
LABELS = np.array([0, 0, 1, 1, 2])
EMB = np.array([[0.0], [1.0], [1.5], [4.0], [10.0]])


def test_valid_triplets_lists_every_anchor_positive_negative():
    got = mining.valid_triplets(LABELS)
    expected = [(a, p, n) for a in range(5) for p in range(5) for n in range(5)
                if a != p and LABELS[a] == LABELS[p] and LABELS[n] != LABELS[a]]
    assert got.tolist() == [list(t) for t in expected]
    assert len(got) == 4 * 3   # four anchors with one positive, three negatives each


def test_batch_hard_picks_farthest_positive_and_closest_negative():
    # anchor 0: positive 1; negatives at d^2 2.25, 16, 100 -> 2. anchor 1: negatives 0.25, 9, 81 -> 2.
    # anchor 2: positive 3; negatives 2.25, 0.25, 72.25 -> 1. anchor 3: negatives 16, 9, 36 -> 1.
    assert mining.batch_hard_triplets(LABELS, EMB).tolist() == [[0, 1, 2], [1, 0, 2], [2, 3, 1], [3, 2, 1]]


def test_batch_hard_takes_the_farthest_of_several_positives():
    labels = np.array([0, 0, 0, 1])
    emb = np.array([[0.0], [1.0], [3.0], [2.0]])
    assert mining.batch_hard_triplets(labels, emb)[0].tolist() == [0, 2, 3]


def test_batch_hard_from_distances_matches_a_loop_and_ignores_the_distance_scale():
    rng = np.random.default_rng(3)
    labels = rng.permutation(np.array([4, 4, 4, 9, 9, 1, 7, 7]))          # person 1: no positive
    emb = rng.normal(size=(8, 5))
    d = np.sqrt(np.sum((emb[:, None] - emb[None]) ** 2, axis=-1))
    expected = [(a, max((p for p in range(8) if p != a and labels[p] == labels[a]), key=lambda p: d[a, p]),
                 min((n for n in range(8) if labels[n] != labels[a]), key=lambda n: d[a, n]))
                for a in range(8) if labels[a] != 1]
    got = mining.batch_hard_from_distances(d, labels)
    assert got.dtype == np.int64 and got.tolist() == [list(t) for t in expected]
    assert mining.batch_hard_from_distances(d**2, labels).tolist() == got.tolist()
    assert mining.batch_hard_triplets(labels, emb).tolist() == got.tolist()


def test_batch_hard_from_distances_without_a_negative_gives_no_rows():
    assert mining.batch_hard_from_distances(np.ones((3, 3)), [5, 5, 5]).shape == (0, 3)


@pytest.mark.parametrize("d, match", [(np.zeros((4, 3)), "shape"), (np.zeros((3, 3)), "shape"),
                                      (np.full((4, 4), np.nan), "NaN")])
def test_batch_hard_from_distances_refuses_bad_matrices(d, match):
    with pytest.raises(ArgumentError, match=match):
        mining.batch_hard_from_distances(d, [0, 0, 1, 1])


def test_semi_hard_picks_closest_negative_beyond_the_positive():
    # (0,1): d_ap 1; negatives 2.25, 16, 100 -> 2.   (1,0): d_ap 1; 0.25, 9, 81 -> 9 is the closest > 1 -> 3.
    # (2,3): d_ap 6.25; 2.25, 0.25, 72.25 -> 72.25 -> 4.  (3,2): d_ap 6.25; 16, 9, 36 -> 9 -> 1.
    assert mining.semi_hard_triplets(LABELS, EMB).tolist() == [[0, 1, 2], [1, 0, 3], [2, 3, 4], [3, 2, 1]]


def test_semi_hard_falls_back_to_farthest_negative():
    labels = np.array([0, 0, 1, 1])
    emb = np.array([[0.0], [5.0], [1.0], [2.0]])   # both negatives of anchor 0 are closer than its positive
    assert mining.semi_hard_triplets(labels, emb)[0].tolist() == [0, 1, 3]


@pytest.mark.parametrize("name, select", [("batch_hard", mining.batch_hard_triplets),
                                          ("semi_hard", mining.semi_hard_triplets)])
def test_loss_in_graph_uses_the_same_triplets(name, select):
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(5), 3)
    emb = rng.normal(size=(15, 6)).astype(np.float32)
    t = select(labels, emb)
    mean = float(losses.triplet_loss(emb[t[:, 0]], emb[t[:, 1]], emb[t[:, 2]], 0.2)) / len(t)
    assert float(losses.BATCH_LOSSES[name](labels, emb, 0.2)) == pytest.approx(mean, rel=1e-4)


def test_random_triplets_are_valid_one_per_usable_anchor():
    labels = np.repeat(np.arange(6), 4)
    t = mining.random_triplets(labels, np.random.default_rng(0))
    assert t[:, 0].tolist() == list(range(24))
    assert np.all(labels[t[:, 0]] == labels[t[:, 1]]) and np.all(t[:, 0] != t[:, 1])
    assert np.all(labels[t[:, 0]] != labels[t[:, 2]])
    assert mining.random_triplets(LABELS, np.random.default_rng(0))[:, 0].tolist() == [0, 1, 2, 3]


def test_pk_batch_draws_people_times_images():
    labels = np.repeat(np.arange(10), [5, 5, 5, 5, 5, 5, 5, 5, 2, 1])
    index = mining.pk_batch(labels, people=4, images_per_person=3, rng=np.random.default_rng(1))
    assert index.shape == (12,) and len(set(index.tolist())) == 12
    groups = labels[index].reshape(4, 3)
    assert np.all(groups == groups[:, :1]) and len(set(groups[:, 0].tolist())) == 4
    assert not set(groups[:, 0].tolist()) & {8, 9}   # too few images to be drawn


def test_bad_input_is_refused_with_clear_errors():
    with pytest.raises(ValueError, match="labels"):
        mining.valid_triplets(np.zeros((2, 2)))
    with pytest.raises(ValueError, match=r"shape \(n, d\)"):
        mining.batch_hard_triplets(LABELS, EMB[:3])
    with pytest.raises(ValueError, match="NaN"):
        mining.semi_hard_triplets(LABELS, np.full((5, 1), np.nan))
    with pytest.raises(ValueError, match="only 2 people"):
        mining.pk_batch(np.array([0, 0, 1, 1, 2]), 3, 2, np.random.default_rng(0))
    with pytest.raises(ValueError, match=">= 2"):
        mining.pk_batch(LABELS, 1, 2, np.random.default_rng(0))
