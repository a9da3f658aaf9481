"""Checkers for notebook 02 (Siamese networks and the triplet loss): the loss of facelib.metric.losses."""

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
