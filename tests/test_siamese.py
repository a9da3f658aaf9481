"""The small encoder and its time-budgeted triplet training loop."""

from __future__ import annotations

import numpy as np
import pytest

from facelib.metric import siamese


def _toy_faces(seed=0, people=6, per_person=4):
    """Each person is a fixed random 16x12 pattern plus small noise."""
    rng = np.random.default_rng(seed)
    base = rng.uniform(0, 255, size=(people, 16, 12))
    labels = np.repeat(np.arange(people), per_person)
    images = np.clip(base[labels] + rng.normal(0, 10, size=(len(labels), 16, 12)), 0, 255).astype(np.uint8)
    return images, labels


def test_encoder_gives_unit_vectors_and_shares_weights():
    encoder = siamese.small_encoder((16, 12, 1), dim=8, seed=0)
    images, _ = _toy_faces()
    codes = siamese.embed(encoder, images, batch_size=5)
    assert codes.shape == (24, 8) and codes.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(codes, axis=1), 1.0, rtol=1e-5)
    np.testing.assert_allclose(siamese.embed(encoder, images[3:4]), codes[3:4], rtol=1e-5, atol=1e-6)
    same_seed = siamese.small_encoder((16, 12, 1), dim=8, seed=0)
    np.testing.assert_allclose(siamese.embed(same_seed, images), codes, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("strategy", siamese.STRATEGIES)
def test_training_changes_the_encoder_and_records_history(strategy):
    images, labels = _toy_faces()
    encoder = siamese.small_encoder((16, 12, 1), dim=8, seed=1)
    before = siamese.embed(encoder, images)
    calls = []
    history = siamese.train_encoder(encoder, images, labels, strategy, seconds=0.3, people=3,
                                    images_per_person=2, seed=0, evaluate=lambda m: calls.append(1) or 0.5,
                                    eval_every=0.1)
    assert history.steps[0] == 0 and history.steps[-1] >= 2
    assert history.seconds[-1] >= 0.3 and np.all(np.diff(history.seconds) > 0)
    assert len(calls) == len(history.metric) and history.metric[-1] == 0.5
    assert np.isnan(history.loss[0]) and np.all(np.isfinite(history.loss[1:]))
    assert not np.allclose(siamese.embed(encoder, images), before)


def test_bad_arguments():
    images, labels = _toy_faces()
    encoder = siamese.small_encoder((16, 12, 1), dim=8)
    with pytest.raises(ValueError, match="strategy"):
        siamese.train_encoder(encoder, images, labels, "hardest", 1)
    with pytest.raises(ValueError, match="seconds"):
        siamese.train_encoder(encoder, images, labels, "random", 0)
    with pytest.raises(ValueError, match="same length"):
        siamese.train_encoder(encoder, images, labels[:-1], "random", 1)


def _mean_triplet_gap(codes: np.ndarray, labels: np.ndarray) -> float:
    """Mean over every valid triplet (a, p, n) of ||a - p||^2 - ||a - n||^2, in NumPy."""
    d2 = ((codes[:, None, :] - codes[None, :, :]) ** 2).sum(-1)
    same = labels[:, None] == labels[None, :]
    gaps = [d2[a, p] - d2[a, n] for a in range(len(labels)) for p in np.flatnonzero(same[a]) if p != a
            for n in np.flatnonzero(~same[a])]
    return float(np.mean(gaps))


def test_training_pulls_the_same_person_together():
    """Not only "the weights changed": triplet training lowers d(A,P)^2 - d(A,N)^2 (a sign error raises it)."""
    images, labels = _toy_faces(seed=3)
    encoder = siamese.small_encoder((16, 12, 1), dim=8, seed=2)
    before = _mean_triplet_gap(siamese.embed(encoder, images), labels)
    history = siamese.train_encoder(encoder, images, labels, "random", seconds=2.0, people=3, images_per_person=2,
                                    seed=0)
    after = _mean_triplet_gap(siamese.embed(encoder, images), labels)
    assert history.steps[-1] >= 5 and after < before - 0.05, (before, after, history.steps[-1])


def test_max_steps_stops_training_at_a_step_count_whatever_the_time_left():
    images, labels = _toy_faces()
    encoder = siamese.small_encoder((16, 12, 1), dim=8, seed=2)
    history = siamese.train_encoder(encoder, images, labels, "batch_hard", seconds=60, people=3,
                                    images_per_person=2, seed=0, max_steps=4)
    assert history.steps[-1] == 4 and history.seconds[-1] < 60
    with pytest.raises(ValueError, match="max_steps"):
        siamese.train_encoder(encoder, images, labels, "batch_hard", seconds=1, max_steps=0)
