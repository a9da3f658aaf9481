"""Triplet loss: for given triplets, and over a labelled batch (batch-all, batch-hard, semi-hard).

For an anchor A, a positive P (same person) and a negative N (another person), with encoder f,

    L(A, P, N) = max(||f(A) - f(P)||^2 - ||f(A) - f(N)||^2 + alpha, 0),

and over m triplets J = sum_i L(A_i, P_i, N_i) (Schroff, Kalenichenko & Philbin, *FaceNet*, 2015).
The margin alpha > 0 rules out the trivial solution f(x) = 0 (which would make every term 0
with alpha = 0) and asks negatives to be at least alpha farther than positives.

The batch losses pick the triplets inside a labelled batch of encodings, in the graph, with the
same rules as the NumPy selections of :mod:`facelib.metric.mining`, and return the **mean** over the
triplets they use (so the learning rate does not depend on the batch size). All distances are
squared Euclidean, as in the formula. Every function takes NumPy arrays or tensors (``keras.ops``).

References
----------
F. Schroff, D. Kalenichenko, J. Philbin, "FaceNet: A Unified Embedding for Face Recognition and
Clustering", CVPR 2015. A. Hermans, L. Beyer, B. Leibe, "In Defense of the Triplet Loss for
Person Re-Identification", arXiv:1703.07737, 2017.
"""

from __future__ import annotations

from keras import ops

from facelib.errors import ArgumentError

_BIG = 1e9  # stands in for "no such pair" when a masked min/max must ignore an entry


def _check_alpha(alpha: float) -> None:
    if not alpha >= 0:
        raise ArgumentError(f"alpha (the margin) must be >= 0, got {alpha!r}")


def squared_distances(x, y):
    """Squared Euclidean distance ||x - y||^2 along the last axis."""
    return ops.sum(ops.square(ops.subtract(x, y)), axis=-1)


def pairwise_squared_distances(encodings):
    """Matrix D with D[i, j] = ||e_i - e_j||^2 for a batch of encodings of shape (n, d).

    Computed as ||e_i||^2 - 2 e_i . e_j + ||e_j||^2, clipped at 0 against rounding.
    """
    encodings = ops.convert_to_tensor(encodings)
    sq = ops.sum(ops.square(encodings), axis=-1)
    dots = ops.matmul(encodings, ops.transpose(encodings))
    return ops.maximum(ops.expand_dims(sq, 1) - 2.0 * dots + ops.expand_dims(sq, 0), 0.0)


def triplet_loss(anchor, positive, negative, alpha: float = 0.2):
    """J = sum_i max(||f(A_i) - f(P_i)||^2 - ||f(A_i) - f(N_i)||^2 + alpha, 0).

    Parameters
    ----------
    anchor, positive, negative : arrays of shape (m, d) (or (d,) for one triplet)
        Encodings f(A), f(P), f(N).
    alpha : float
        The margin, >= 0.

    Returns
    -------
    scalar tensor
        The summed loss J.

    Examples
    --------
    >>> import numpy as np
    >>> a, p, n = np.array([[0.0, 0.0]]), np.array([[1.0, 0.0]]), np.array([[0.0, 2.0]])
    >>> float(triplet_loss(a, p, n, alpha=0.5))  # max(1 - 4 + 0.5, 0)
    0.0
    >>> float(triplet_loss(a, n, p, alpha=0.5))  # max(4 - 1 + 0.5, 0)
    3.5
    """
    _check_alpha(alpha)
    pos = squared_distances(anchor, positive)
    neg = squared_distances(anchor, negative)
    return ops.sum(ops.maximum(pos - neg + alpha, 0.0))


def _masks(labels):
    """Boolean (n, n) masks: same person but not the same image; different person."""
    labels = ops.reshape(ops.convert_to_tensor(labels), (-1,))
    same = ops.equal(ops.expand_dims(labels, 1), ops.expand_dims(labels, 0))
    n = ops.shape(labels)[0]
    not_self = ops.logical_not(ops.cast(ops.eye(n), "bool"))
    return ops.logical_and(same, not_self), ops.logical_not(same)


def _mean_or_zero(values, mask):
    """Mean of ``values`` where ``mask`` holds, 0 when it holds nowhere."""
    mask = ops.cast(mask, values.dtype)
    return ops.sum(values * mask) / ops.maximum(ops.sum(mask), 1.0)


def batch_all_triplet_loss(labels, encodings, alpha: float = 0.2):
    """Mean of L(a, p, n) over the valid triplets of a batch whose loss is positive.

    Valid: labels[a] == labels[p], a != p, labels[n] != labels[a]. Averaging only over the
    non-zero terms (Hermans et al.'s "batch all, != 0") keeps the gradient from fading as
    more triplets become easy. Returns 0 when no triplet has a positive loss.
    """
    _check_alpha(alpha)
    d = pairwise_squared_distances(encodings)
    pos_mask, neg_mask = _masks(labels)
    losses = ops.maximum(ops.expand_dims(d, 2) - ops.expand_dims(d, 1) + alpha, 0.0)  # [a, p, n]
    valid = ops.logical_and(ops.expand_dims(pos_mask, 2), ops.expand_dims(neg_mask, 1))
    return _mean_or_zero(losses, ops.logical_and(valid, losses > 0))


def batch_hard_triplet_loss(labels, encodings, alpha: float = 0.2):
    """Mean over anchors of max(max_p d(a, p) - min_n d(a, n) + alpha, 0).

    For each anchor: its farthest positive and its closest negative (the hardest triplet,
    :func:`facelib.metric.mining.batch_hard_triplets`). Anchors without a positive or without a
    negative in the batch are left out.
    """
    _check_alpha(alpha)
    d = pairwise_squared_distances(encodings)
    pos_mask, neg_mask = _masks(labels)
    pos_f, neg_f = ops.cast(pos_mask, d.dtype), ops.cast(neg_mask, d.dtype)
    hardest_pos = ops.max(d * pos_f - _BIG * (1.0 - pos_f), axis=1)
    hardest_neg = ops.min(d * neg_f + _BIG * (1.0 - neg_f), axis=1)
    usable = ops.logical_and(ops.any(pos_mask, axis=1), ops.any(neg_mask, axis=1))
    return _mean_or_zero(ops.maximum(hardest_pos - hardest_neg + alpha, 0.0), usable)


def semi_hard_triplet_loss(labels, encodings, alpha: float = 0.2):
    """Mean over positive pairs (a, p) of max(d(a, p) - d(a, n) + alpha, 0) with semi-hard n.

    For each pair, n is the closest negative *farther* than the positive, d(a, n) > d(a, p)
    (semi-hard when also d(a, n) < d(a, p) + alpha, FaceNet's rule); when no negative is
    farther, the farthest negative is used (:func:`facelib.metric.mining.semi_hard_triplets`).
    Anchors without a negative in the batch are left out.
    """
    _check_alpha(alpha)
    d = pairwise_squared_distances(encodings)
    pos_mask, neg_mask = _masks(labels)
    d_ap = ops.expand_dims(d, 2)                                  # [a, p, 1]
    d_an = ops.expand_dims(d, 1)                                  # [a, 1, n]
    neg = ops.expand_dims(neg_mask, 1)
    farther = ops.logical_and(neg, d_an > d_ap)                   # [a, p, n]
    farther_f = ops.cast(farther, d.dtype)
    closest_farther = ops.min(d_an * farther_f + _BIG * (1.0 - farther_f), axis=2)
    neg_f = ops.cast(neg_mask, d.dtype)
    farthest = ops.expand_dims(ops.max(d * neg_f - _BIG * (1.0 - neg_f), axis=1), 1)
    chosen = ops.where(ops.any(farther, axis=2), closest_farther, farthest)   # [a, p]
    usable = ops.logical_and(pos_mask, ops.expand_dims(ops.any(neg_mask, axis=1), 1))
    return _mean_or_zero(ops.maximum(d - chosen + alpha, 0.0), usable)


BATCH_LOSSES = {
    "batch_all": batch_all_triplet_loss,
    "batch_hard": batch_hard_triplet_loss,
    "semi_hard": semi_hard_triplet_loss,
}
