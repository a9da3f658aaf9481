"""Choosing training triplets (A, P, N): random, batch-hard and semi-hard, in NumPy.

Triplets are rows ``(a, p, n)`` of indices into a labelled batch: ``labels[a] == labels[p]``,
``a != p``, ``labels[n] != labels[a]``. Distances are squared Euclidean,
d(i, j) = ||f(x_i) - f(x_j)||^2. Random triplets are mostly *easy*:
d(A, P) + alpha <= d(A, N) already holds, the loss is 0 and nothing is learned; hard and
semi-hard ones are those the encoder still gets wrong or nearly wrong. The batch losses of
:mod:`facelib.metric.losses` make the same choices inside the graph.

Batches are drawn "P x K": P people, K images each, so that every anchor has positives.
"""

from __future__ import annotations

import numpy as np

from facelib.errors import ArgumentError


def _labels(labels) -> np.ndarray:
    labels = np.asarray(labels)
    if labels.ndim != 1 or labels.size == 0:
        raise ArgumentError(f"labels must be a non-empty 1-D array, got shape {labels.shape}")
    return labels


def _distances(labels: np.ndarray, encodings) -> np.ndarray:
    encodings = np.asarray(encodings, dtype=np.float64)
    if encodings.ndim != 2 or encodings.shape[0] != labels.shape[0]:
        raise ArgumentError(f"encodings must have shape (n, d) with n = len(labels) = {labels.shape[0]}, "
                         f"got {encodings.shape}")
    if not np.all(np.isfinite(encodings)):
        raise ArgumentError("encodings contain NaN or infinite values")
    return np.sum((encodings[:, None, :] - encodings[None, :, :]) ** 2, axis=-1)


def _masks(labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    same = labels[:, None] == labels[None, :]
    return same & ~np.eye(labels.size, dtype=bool), ~same


def valid_triplets(labels) -> np.ndarray:
    """All valid triplets of a batch, shape (k, 3), in lexicographic (a, p, n) order."""
    labels = _labels(labels)
    pos, neg = _masks(labels)
    return np.argwhere(pos[:, :, None] & neg[:, None, :])


def random_triplets(labels, rng: np.random.Generator) -> np.ndarray:
    """One triplet per usable anchor, with a positive and a negative drawn uniformly at random.

    An anchor is usable when the batch holds another image of its person and an image of
    someone else. Returns shape (k, 3).
    """
    labels = _labels(labels)
    pos, neg = _masks(labels)
    anchors = np.flatnonzero(pos.any(axis=1) & neg.any(axis=1))
    # the largest of independent uniform scores, restricted to a mask, is a uniform draw from it
    p = np.argmax(np.where(pos[anchors], rng.random(pos[anchors].shape), -1.0), axis=1)
    n = np.argmax(np.where(neg[anchors], rng.random(neg[anchors].shape), -1.0), axis=1)
    return np.stack([anchors, p, n], axis=1).astype(np.int64)


def batch_hard_triplets(labels, encodings) -> np.ndarray:
    """Per usable anchor: its farthest positive and its closest negative, shape (k, 3).

    p = argmax_{p: same person} d(a, p), n = argmin_{n: other person} d(a, n); ties go to the
    lowest index. The same choice as :func:`batch_hard_from_distances` on the squared distances.
    """
    labels = _labels(labels)
    return batch_hard_from_distances(_distances(labels, encodings), labels)


def batch_hard_from_distances(distances, labels) -> np.ndarray:
    """Batch-hard triplets from a distance matrix, with two boolean masks, shape (k, 3).

    With the masks positive[a, p] = (labels[a] == labels[p]) and a != p, and
    negative[a, n] = labels[a] != labels[n], each anchor a that has a positive and a negative
    gives the row (a, p, n) with p = argmax_{positive[a, p]} D[a, p] (its farthest positive) and
    n = argmin_{negative[a, n]} D[a, n] (its closest negative); ties go to the lowest index and
    rows come in anchor order. Any distance that grows with the Euclidean one (plain or squared)
    gives the same triplets.

    Parameters
    ----------
    distances : array, shape (n, n)
        D[i, j], the distance between the encodings of items i and j.
    labels : array, shape (n,)
        The person of each item.

    Raises
    ------
    ArgumentError
        If ``distances`` is not a finite (n, n) matrix with n = len(labels).
    """
    labels = _labels(labels)
    d = np.asarray(distances, dtype=np.float64)
    if d.shape != (labels.size, labels.size):
        raise ArgumentError(f"distances must have shape (n, n) with n = len(labels) = {labels.size}, "
                            f"got {d.shape}")
    if not np.all(np.isfinite(d)):
        raise ArgumentError("distances contain NaN or infinite values")
    pos, neg = _masks(labels)
    anchors = np.flatnonzero(pos.any(axis=1) & neg.any(axis=1))
    hardest_positive = np.argmax(np.where(pos, d, -np.inf), axis=1)
    hardest_negative = np.argmin(np.where(neg, d, np.inf), axis=1)
    return np.stack([anchors, hardest_positive[anchors], hardest_negative[anchors]], axis=1).astype(np.int64)


def semi_hard_triplets(labels, encodings) -> np.ndarray:
    """Per positive pair (a, p): the closest negative farther than p, shape (k, 3).

    n = argmin {d(a, n) : d(a, n) > d(a, p)}; such an n is *semi-hard* when also
    d(a, n) < d(a, p) + alpha (FaceNet). When no negative is farther than p, the farthest
    negative is taken. Pairs whose anchor has no negative in the batch are left out.
    """
    labels = _labels(labels)
    d = _distances(labels, encodings)
    pos, neg = _masks(labels)
    rows = []
    for a, p in np.argwhere(pos):
        if not neg[a].any():
            continue
        farther = neg[a] & (d[a] > d[a, p])
        n = np.argmin(np.where(farther, d[a], np.inf)) if farther.any() else np.argmax(
            np.where(neg[a], d[a], -np.inf))
        rows.append((a, p, n))
    return np.array(rows, dtype=np.int64).reshape(-1, 3)


def pk_batch(labels, people: int, images_per_person: int, rng: np.random.Generator) -> np.ndarray:
    """Indices of a batch of ``people`` random people with ``images_per_person`` images each.

    Only people with at least ``images_per_person`` images are drawn; images are drawn
    without replacement. Returns shape (people * images_per_person,), grouped by person.
    """
    labels = _labels(labels)
    if people < 2 or images_per_person < 2:
        raise ArgumentError(f"people and images_per_person must be >= 2 (a triplet needs a positive and a "
                         f"negative), got {people} and {images_per_person}")
    names, counts = np.unique(labels, return_counts=True)
    eligible = names[counts >= images_per_person]
    if eligible.size < people:
        raise ArgumentError(f"only {eligible.size} people have >= {images_per_person} images; ask for fewer "
                         f"people (got people={people}) or fewer images_per_person")
    chosen = rng.choice(eligible, size=people, replace=False)
    return np.concatenate([rng.choice(np.flatnonzero(labels == c), size=images_per_person, replace=False)
                           for c in chosen])
