"""Checkers for notebook 02 (Siamese networks and the triplet loss): the triplet loss and batch-hard mining."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from facelib.course.checks._core import call, expect_close, passed


def _reference_triplet_loss(a: np.ndarray, p: np.ndarray, n: np.ndarray, alpha: float) -> float:
    """J = sum_i max(||a_i - p_i||^2 - ||a_i - n_i||^2 + alpha, 0), one triplet at a time."""
    total = 0.0
    for a_i, p_i, n_i in zip(a, p, n, strict=True):
        total += max(float(np.dot(a_i - p_i, a_i - p_i)) - float(np.dot(a_i - n_i, a_i - n_i)) + alpha, 0.0)
    return total


def check_triplet_loss(fn: Callable) -> None:
    """Check ``fn(anchor, positive, negative, alpha)`` = sum_i max(d(A,P)^2 - d(A,N)^2 + alpha, 0)."""
    rng = np.random.default_rng(2)
    a, p, n = (rng.normal(scale=0.5, size=(6, 8)) for _ in range(3))
    hand_a, hand_p, hand_n = np.array([[0.0, 0.0]]), np.array([[1.0, 0.0]]), np.array([[0.0, 2.0]])
    cases = [
        ("an easy triplet (d(A,P)^2 = 1, d(A,N)^2 = 4, alpha = 0.5): zero loss", hand_a, hand_p, hand_n, 0.5,
         "When ||f(A)-f(N)||^2 exceeds ||f(A)-f(P)||^2 + alpha, the loss is max(negative, 0) = 0."),
        ("the same triplet with P and N swapped: 4 - 1 + 0.5 = 3.5", hand_a, hand_n, hand_p, 0.5,
         "Use SQUARED Euclidean distances, ||x - y||^2 = sum_k (x_k - y_k)^2, without a square root."),
        ("6 random triplets of 8-d encodings, alpha = 0.2 (some terms negative)", a, p, n, 0.2,
         "Clip each triplet's term at 0 with max(., 0) BEFORE summing over triplets; sum, do not average; "
         "sum the squares over the last axis only."),
        ("the same 6 triplets, alpha = 1.0", a, p, n, 1.0, "Add alpha inside the max, once per triplet."),
        ("the same 6 triplets, alpha = 0", a, p, n, 0.0, "With alpha = 0 only d(A,P)^2 - d(A,N)^2 remains."),
        ("the trivial encoder f(x) = 0 on 4 triplets: J = 4 * alpha", np.zeros((4, 3)), np.zeros((4, 3)),
         np.zeros((4, 3)), 0.3, "Each triplet contributes max(0 - 0 + alpha, 0) = alpha."),
    ]
    for i, (case, anc, pos, neg, alpha, hint) in enumerate(cases, 1):
        expected = _reference_triplet_loss(anc, pos, neg, alpha)
        got = call(fn, anc.astype(np.float32), pos.astype(np.float32), neg.astype(np.float32), alpha)
        expect_close(got, expected, f"case {i}, {case}", hint)
    passed("triplet_loss", len(cases))


def _reference_batch_hard(d: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """(a, p, n) per anchor with a positive and a negative, one anchor at a time: the farthest other image of
    a's person, the closest image of anyone else (the lowest index on ties)."""
    rows = []
    for a in range(len(labels)):
        positives = [p for p in range(len(labels)) if p != a and labels[p] == labels[a]]
        negatives = [n for n in range(len(labels)) if labels[n] != labels[a]]
        if positives and negatives:
            rows.append((a, max(positives, key=lambda p: (d[a, p], -p)), min(negatives, key=lambda n: (d[a, n], n))))
    return np.array(rows, dtype=np.int64).reshape(-1, 3)


def _clustered_batch(rng: np.random.Generator, labels: np.ndarray, dim: int = 4) -> np.ndarray:
    """Squared distances between encodings that lie near one centre per person (positives mostly closer)."""
    centres = {person: rng.normal(scale=2.0, size=dim) for person in np.unique(labels)}
    codes = np.stack([centres[person] + rng.normal(scale=0.7, size=dim) for person in labels])
    return np.sum((codes[:, None, :] - codes[None, :, :]) ** 2, axis=-1)


def check_batch_hard_mining(fn: Callable) -> None:
    """Check ``fn(distances, labels)``: per usable anchor a, the row (a, argmax of D over a's positives,
    argmin of D over a's negatives)."""
    rng = np.random.default_rng(5)
    grouped = np.repeat(np.arange(4), 3)
    with_single = np.array([0, 0, 0, 1, 1, 2, 3, 3])                  # person 2 has one image
    duplicated = np.array([0, 0, 1, 1, 1, 2, 2])
    d_duplicated = _clustered_batch(rng, duplicated)
    d_duplicated[0, 1] = d_duplicated[1, 0] = 0.0                      # images 0 and 1: the same photo twice
    shuffled = rng.permutation(np.repeat(np.array([17, 3, 8, 42, 5]), 4))
    cases = [
        ("a P x K batch of 4 people x 3 images", grouped, _clustered_batch(rng, grouped),
         "Positives: same label and not the anchor; take the LARGEST distance among them (the hardest positive "
         "is the farthest). Negatives: a DIFFERENT label; take the smallest distance among them."),
        ("a batch in which person 2 has a single image", with_single, _clustered_batch(rng, with_single),
         "An anchor is not its own positive: remove the diagonal from the positive mask (labels equal AND "
         "i != j), and leave out anchors that have no positive (or no negative)."),
        ("a batch holding one photo twice (distance 0 between images 0 and 1)", duplicated, d_duplicated,
         "The anchor itself (distance 0) must never be its positive, even when another positive is also at "
         "distance 0: mask the diagonal out of the positives."),
        ("20 images of 5 people with labels 17, 3, 8, 42, 5 in shuffled order", shuffled,
         _clustered_batch(rng, shuffled),
         "Build the masks by comparing labels (labels[:, None] == labels[None, :]); do not assume that the "
         "images of one person are neighbours or that labels are 0, 1, 2, ..."),
    ]
    for i, (case, labels, d, hint) in enumerate(cases, 1):
        expected = _reference_batch_hard(d, labels)
        got = call(fn, d.copy(), labels.copy())
        expect_close(got, expected, f"case {i}, {case}", hint + " Return an integer array of rows (a, p, n).",
                     atol=0, rtol=0)
    passed("batch_hard_mining", len(cases))
