"""Each triplet loss against a plain NumPy loop over triplets, on random and hand-made batches."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from facelib.metric import losses


def _term(e, a, p, n, alpha):
    return max(np.sum((e[a] - e[p]) ** 2) - np.sum((e[a] - e[n]) ** 2) + alpha, 0.0)


def _d(e, i, j):
    return float(np.sum((e[i] - e[j]) ** 2))


def _reference_batch_all(labels, e, alpha):
    terms = [_term(e, a, p, n, alpha) for a, p, n in itertools.product(range(len(labels)), repeat=3)
             if a != p and labels[a] == labels[p] and labels[n] != labels[a]]
    positive = [t for t in terms if t > 0]
    return float(np.mean(positive)) if positive else 0.0


def _reference_batch_hard(labels, e, alpha):
    terms = []
    for a in range(len(labels)):
        pos = [_d(e, a, p) for p in range(len(labels)) if p != a and labels[p] == labels[a]]
        neg = [_d(e, a, n) for n in range(len(labels)) if labels[n] != labels[a]]
        if pos and neg:
            terms.append(max(max(pos) - min(neg) + alpha, 0.0))
    return float(np.mean(terms)) if terms else 0.0


def _reference_semi_hard(labels, e, alpha):
    terms = []
    for a, p in itertools.permutations(range(len(labels)), 2):
        if labels[a] != labels[p]:
            continue
        neg = [_d(e, a, n) for n in range(len(labels)) if labels[n] != labels[a]]
        if not neg:
            continue
        farther = [x for x in neg if x > _d(e, a, p)]
        chosen = min(farther) if farther else max(neg)
        terms.append(max(_d(e, a, p) - chosen + alpha, 0.0))
    return float(np.mean(terms)) if terms else 0.0


REFERENCES = {"batch_all": _reference_batch_all, "batch_hard": _reference_batch_hard,
              "semi_hard": _reference_semi_hard}


def _batch(seed, people=4, per_person=3, dim=5):
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(people), per_person)
    e = rng.normal(size=(people * per_person, dim)) * 0.6 + labels[:, None] * 0.3
    return labels, e.astype(np.float32)


def test_pairwise_squared_distances_match_numpy():
    _, e = _batch(0)
    expected = np.sum((e[:, None, :].astype(np.float64) - e[None, :, :]) ** 2, axis=-1)
    np.testing.assert_allclose(np.asarray(losses.pairwise_squared_distances(e)), expected, atol=1e-5)


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("alpha", [0.0, 0.2, 1.0])
def test_triplet_loss_matches_numpy_on_random_triplets(seed, alpha):
    rng = np.random.default_rng(seed)
    a, p, n = (rng.normal(size=(7, 16)).astype(np.float32) for _ in range(3))
    expected = sum(max(np.sum((a[i] - p[i]) ** 2) - np.sum((a[i] - n[i]) ** 2) + alpha, 0.0) for i in range(7))
    assert float(losses.triplet_loss(a, p, n, alpha)) == pytest.approx(expected, rel=1e-5)


def test_triplet_loss_hand_made_cases_and_alpha():
    a, p, n = np.array([[0.0, 0.0]]), np.array([[1.0, 0.0]]), np.array([[0.0, 2.0]])
    assert float(losses.triplet_loss(a, p, n, alpha=0.5)) == 0.0          # 1 - 4 + 0.5 < 0: easy triplet
    assert float(losses.triplet_loss(a, p, n, alpha=3.5)) == pytest.approx(0.5)  # the margin makes it count
    assert float(losses.triplet_loss(a, n, p, alpha=0.5)) == pytest.approx(3.5)
    assert float(losses.triplet_loss(a, p, p, alpha=0.0)) == 0.0          # N = P, alpha = 0: no signal


def test_trivial_solution_costs_alpha_per_triplet():
    zeros = np.zeros((5, 4), np.float32)
    assert float(losses.triplet_loss(zeros, zeros, zeros, alpha=0.0)) == 0.0
    assert float(losses.triplet_loss(zeros, zeros, zeros, alpha=0.2)) == pytest.approx(5 * 0.2)


@pytest.mark.parametrize("name", sorted(REFERENCES))
@pytest.mark.parametrize("seed", [0, 1, 2, 3])
@pytest.mark.parametrize("alpha", [0.0, 0.2, 2.0])
def test_batch_losses_match_numpy(name, seed, alpha):
    labels, e = _batch(seed)
    expected = REFERENCES[name](labels, e.astype(np.float64), alpha)
    assert float(losses.BATCH_LOSSES[name](labels, e, alpha)) == pytest.approx(expected, rel=1e-4, abs=1e-5)


@pytest.mark.parametrize("name", sorted(REFERENCES))
def test_batch_losses_with_uneven_people_and_a_singleton(name):
    labels = np.array([0, 0, 0, 1, 1, 2, 3, 3])   # person 2 has no positive
    e = np.random.default_rng(5).normal(size=(8, 3)).astype(np.float32)
    expected = REFERENCES[name](labels, e.astype(np.float64), 0.3)
    assert float(losses.BATCH_LOSSES[name](labels, e, 0.3)) == pytest.approx(expected, rel=1e-4, abs=1e-5)


@pytest.mark.parametrize("name", sorted(REFERENCES))
def test_batch_losses_are_zero_when_people_are_far_apart(name):
    labels = np.array([0, 0, 1, 1, 2, 2])
    e = np.repeat(np.eye(3, dtype=np.float32) * 10, 2, axis=0)    # each person one point, 200 apart
    assert float(losses.BATCH_LOSSES[name](labels, e, 0.2)) == 0.0


def test_hand_made_batch_values():
    # 1-D encodings: person 0 at 0 and 1, person 1 at 1.5 and 4.
    labels, e = np.array([0, 0, 1, 1]), np.array([[0.0], [1.0], [1.5], [4.0]], np.float32)
    # batch-hard, alpha 0: anchor 0: 1 - 2.25 -> 0; anchor 1: 1 - 0.25 = 0.75; anchor 2: 6.25 - 0.25 = 6;
    # anchor 3: 6.25 - 9 -> 0. Mean over 4 anchors = 6.75 / 4.
    assert float(losses.batch_hard_triplet_loss(labels, e, 0.0)) == pytest.approx(6.75 / 4)
    # semi-hard, alpha 0: (0,1): negatives 2.25, 16 -> 2.25 > 1, term 0; (1,0): 0.25, 9 -> 9 > 1, term 0;
    # (2,3): 2.25, 0.25, none > 6.25 -> farthest 2.25, term 4; (3,2): 16, 9 > 6.25 -> 9, term 0. Mean 4 / 4.
    assert float(losses.semi_hard_triplet_loss(labels, e, 0.0)) == pytest.approx(1.0)


def test_negative_alpha_is_refused():
    labels, e = _batch(0)
    with pytest.raises(ValueError, match="alpha"):
        losses.triplet_loss(e, e, e, alpha=-0.1)
    with pytest.raises(ValueError, match="alpha"):
        losses.batch_hard_triplet_loss(labels, e, alpha=-1.0)
